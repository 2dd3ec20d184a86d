"""Words and their context (seed 004): word2vec learned by boucle, pretrained GloVe, and what each is worth.

1. Skip-gram with negative sampling on the built-in English corpus (the standard library's
   docstrings and comments): nearest neighbours, analogies, a PCA picture of chosen words.
2. One task — which stdlib package is a docstring from (8 packages) — learned by a word-level
   LSTM classifier and a word-level LSTM language model, with three embeddings of the same
   size: random (learned with the task), boucle's skip-gram vectors (frozen) and GloVe 6B 50d
   (frozen). Held-out accuracy and perplexity are printed, whatever they are.

    python examples/word_embeddings.py [--epochs 5] [--dim 50] [--vectors glove.6B.50d.txt] [--out runs/words]

Without ``--vectors`` the GloVe set is fetched (``boucle.data.loaders.fetch_vectors``: cached in
``$BOUCLE_DATA/vectors``, SHA-256 checked; offline it says where to place the file).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import boucle
from boucle.data.english import stdlib_passages
from boucle.data.loaders import fetch_vectors, load_vectors
from boucle.data.tasks.docstrings import docstring_topics
from boucle.data.vocab import WORDS_ONLY, Vocabulary
from boucle.diagnostics import plot_words
from boucle.models import Word2Vec, language_model_data, perplexity, word_classifier, word_language_model

PROBES = ("file", "directory", "thread", "socket", "error", "windows", "start", "unicode", "integer", "email")
ANALOGIES = (
    ("read", "reader", "write"),
    ("file", "files", "directory"),
    ("start", "stop", "begin"),
    ("true", "false", "yes"),
    ("encode", "encoder", "decode"),
    ("open", "opened", "close"),
    ("client", "server", "send"),
    ("linux", "unix", "windows"),
    ("get", "gets", "set"),
    ("import", "imported", "load"),
    ("lower", "upper", "lowercase"),
    ("read", "write", "input"),
    ("child", "parent", "children"),
    ("minimum", "min", "maximum"),
    ("seconds", "second", "minutes"),
    ("add", "remove", "insert"),
)
ANSWERS = (
    "writer",
    "directories",
    "end",
    "no",
    "decoder",
    "closed",
    "receive",
    "posix",
    "sets",
    "loaded",
    "uppercase",
    "output",
    "parents",
    "max",
    "minute",
    "delete",
)
PICTURE = (
    "file",
    "files",
    "directory",
    "path",
    "read",
    "write",
    "open",
    "close",
    "thread",
    "process",
    "lock",
    "socket",
    "server",
    "client",
    "error",
    "exception",
    "warning",
    "string",
    "bytes",
    "integer",
    "list",
    "dict",
    "tuple",
    "windows",
    "linux",
    "unix",
    "start",
    "stop",
    "begin",
    "end",
)


def train_word2vec(
    texts: Sequence[str], epochs: int = 5, dim: int = 50, min_count: int = 5, seed: int = 0, verbose: int = 1
) -> tuple[Word2Vec, float]:
    """Skip-gram on ``texts``: the model and its training time in seconds."""
    vocab = Vocabulary.words(texts, pattern=WORDS_ONLY, min_count=min_count)
    model = Word2Vec(vocab, dim=dim, window=5, negative=5, sample=1e-3, seed=seed)
    t0 = time.perf_counter()
    model.fit(texts, epochs=epochs, batch_size=1024, optimizer=boucle.optimizers.Adam(2e-3), verbose=verbose)
    return model, time.perf_counter() - t0


def analogy_hits(model: Word2Vec, analogies=ANALOGIES, answers=ANSWERS) -> list[tuple[tuple, str, bool]]:
    """Each analogy a : b :: c : ?, the model's best answer and whether it is the expected one."""
    out = []
    for q, want in zip(analogies, answers):
        if all(w in model.vocab for w in (*q, want)):
            got = model.analogy(*q)[0][0]
            out.append((q, got, got == want))
    return out


def compare(
    w2v: Word2Vec,
    vectors_path: str | None,
    *,
    epochs: int = 8,
    lm_epochs: int = 3,
    seed: int = 0,
    passages=None,
    verbose: int = 0,
) -> dict[str, Any]:
    """Held-out accuracy (classifier) and perplexity (language model) with random, boucle-learned
    and GloVe embeddings of the same size (the last two frozen)."""
    task = docstring_topics(seed=seed, passages=passages)
    vocab = Vocabulary.words(task.x_train, pattern=WORDS_ONLY, min_count=2)
    x_tr = _encode(vocab, task.x_train)
    x_te = _encode(vocab, task.x_test)
    lm_tr, lm_te = language_model_data(vocab, task.x_train), language_model_data(vocab, task.x_test)
    learned = w2v.word_vectors().align(vocab, seed=seed)
    embeddings: dict[str, tuple[Any, bool, Any]] = {
        "random": (None, True, None),
        "boucle skip-gram": (learned.matrix, False, learned),
    }
    if vectors_path is not None:
        glove = load_vectors(vectors_path, words=vocab.tokens).align(vocab, seed=seed)
        if glove.matrix.shape[1] != w2v.dim:
            raise SystemExit(f"--vectors: expected {w2v.dim}-d vectors (--dim), got {glove.matrix.shape[1]}")
        embeddings["GloVe 6B (pretrained)"] = (glove.matrix, False, glove)
    results: dict[str, Any] = {
        "vocab": len(vocab),
        "train": len(task.x_train),
        "test": len(task.x_test),
        "classes": task.classes,
        "majority": task.majority,
        "rows": {},
    }
    for name, (matrix, trainable, align) in embeddings.items():
        t0 = time.perf_counter()
        clf = word_classifier(
            vocab, len(task.classes), embedding=matrix, trainable=trainable, dim=w2v.dim, units=64, seed=seed
        )
        clf.fit(x_tr, task.y_train, batch_size=32, epochs=epochs, verbose=verbose)
        acc = clf.evaluate(x_te, task.y_test, batch_size=256)["accuracy"]
        lm = word_language_model(vocab, embedding=matrix, trainable=trainable, dim=w2v.dim, units=128, seed=seed)
        lm.fit(*lm_tr, batch_size=32, epochs=lm_epochs, verbose=verbose)
        ppl = perplexity(lm, *lm_te)["perplexity"]
        results["rows"][name] = {
            "accuracy": acc,
            "perplexity": ppl,
            "seconds": time.perf_counter() - t0,
            "oov": None if align is None else align.n_oov,
            "coverage": None if align is None else align.coverage,
        }
    return results


def _encode(vocab: Vocabulary, texts: Sequence[str], max_len: int = 60) -> np.ndarray:
    rows = [vocab.tokens_to_ids(vocab.tokenizer.tokenize(t)[:max_len] or ["<unk>"]) for t in texts]
    out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5, help="skip-gram epochs")
    p.add_argument("--dim", type=int, default=50, help="vector size (GloVe 6B 50d: 50)")
    p.add_argument("--vectors", help="a GloVe/word2vec file of --dim vectors (default: fetch glove.6B.50d)")
    p.add_argument("--no-pretrained", action="store_true", help="compare random and learned only")
    p.add_argument("--task-epochs", type=int, default=8)
    p.add_argument("--lm-epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/words")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    passages = stdlib_passages()
    texts = [q.text for q in passages]
    print(
        f"corpus: {len(passages):,} docstrings and comments of the standard library "
        f"({time.perf_counter() - t0:.1f} s to extract)"
    )
    w2v, seconds = train_word2vec(texts, args.epochs, args.dim, seed=args.seed)
    print(
        f"skip-gram: {len(w2v.vocab.tokens):,} words, {w2v.words_trained:,} pairs in {seconds:.0f} s "
        f"(final loss {w2v.history.history['loss'][-1]:.3f})"
    )
    boucle.save(w2v, os.path.join(args.out, "word2vec.safetensors"))
    for w in PROBES:
        print(f"  {w:>10}: " + ", ".join(f"{n} {s:.2f}" for n, s in w2v.nearest(w, 6)))
    hits = analogy_hits(w2v)
    for (a, b, c), got, ok in hits:
        print(f"  {a} : {b} :: {c} : {got}  {'✓' if ok else '✗'}")
    print(f"analogies: {sum(ok for *_, ok in hits)} of {len(hits)}")
    shown = [w for w in PICTURE if w in w2v.vocab]
    png = plot_words(
        shown,
        np.stack([w2v.vectors[w2v.vocab.index[w]] for w in shown]),
        os.path.join(args.out, "words_pca.png"),
        "boucle skip-gram vectors (stdlib docstrings and comments)",
    )
    print(f"PCA picture: {png}")
    vectors = None if args.no_pretrained else (args.vectors or str(fetch_vectors("glove.6B.50d")))
    res = compare(w2v, vectors, epochs=args.task_epochs, lm_epochs=args.lm_epochs, seed=args.seed, passages=passages)
    print(
        f"task: {len(res['classes'])} packages, {res['train']} training / {res['test']} held-out docstrings, "
        f"vocabulary {res['vocab']}, majority class {res['majority']:.3f}"
    )
    print(f"{'embedding':<24}{'accuracy':>10}{'perplexity':>12}{'OOV words':>11}{'seconds':>9}")
    for name, r in res["rows"].items():
        oov = "" if r["oov"] is None else f"{r['oov']}"
        print(f"{name:<24}{r['accuracy']:>10.3f}{r['perplexity']:>12.1f}{oov:>11}{r['seconds']:>9.0f}")
    return {"word2vec": w2v, "seconds": seconds, "hits": hits, "compare": res}


if __name__ == "__main__":
    main()
