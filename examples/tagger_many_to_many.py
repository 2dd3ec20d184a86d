"""Many-to-many with T_x = T_y: tag every character of Python source with its token class,
a unidirectional GRU against a bidirectional one (seed 000: "Bidirectional RNN (BRNN)").

    python examples/tagger_many_to_many.py [--chars 6000] [--epochs 15] [--seed 0]

Data (:mod:`boucle.data.tasks.tagging`): stdlib modules cut into windows of 64 characters;
each character's class (space, name, keyword, string, comment, number, op) comes
from Python's ``tokenize``. The last module is the test set. Model::

    Embedding(V, 24, mask_zero=True) → [Bidirectional](GRU(H, return_sequences=True)) → Dense(7, softmax)

with H chosen so both models have about the same number of parameters. Whether
``i`` begins ``if`` (keyword) or ``int`` (name) is only known from the characters
that follow: the bidirectional tagger reads them, the unidirectional one cannot.
Reported: overall and per-class accuracy on the test module.
"""

from __future__ import annotations

import argparse

import numpy as np

import boucle
from boucle.data.tasks.tagging import TAG_CLASSES, python_tagging_data
from boucle.layers import GRU, Bidirectional, Dense, Embedding


def build(vocab_size: int, units: int, bidirectional: bool, seed: int, lr: float = 1e-2) -> boucle.Sequential:
    rnn = GRU(units, return_sequences=True)
    model = boucle.Sequential(
        [
            Embedding(vocab_size, 24, mask_zero=True),
            Bidirectional(rnn) if bidirectional else rnn,
            Dense(len(TAG_CLASSES), activation="softmax"),
        ],
        seed=seed,
    )
    model.compile(
        optimizer=boucle.optimizers.Adam(lr, clipnorm=1.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def per_class_accuracy(model: boucle.Sequential, x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Accuracy over the valid characters of each true class (NaN for an absent class)."""
    pred = model.predict(x, batch_size=128).argmax(-1)
    out = {}
    for k, name in enumerate(TAG_CLASSES):
        sel = mask & (y == k)
        out[name] = float((pred[sel] == k).mean()) if sel.any() else float("nan")
    return out


def run(
    max_chars: int | None = 6000,
    seq_len: int = 64,
    epochs: int = 15,
    units_bi: int = 24,
    batch_size: int = 32,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    """Train both taggers; returns ``{"uni": {...}, "bi": {...}}`` with accuracy and per-class accuracy."""
    train, test = python_tagging_data(seq_len, max_chars=max_chars)
    V = len(train.vocab)
    # equal size: the GRU's 3H(E + H + 1) parameters, doubled when bidirectional (E = 24 inputs)
    bi_params = 2 * 3 * units_bi * (24 + units_bi + 1) + 2 * units_bi * len(TAG_CLASSES)
    units_uni = min(range(1, 4 * units_bi), key=lambda h: abs(3 * h * (24 + h + 1) + h * len(TAG_CLASSES) - bi_params))
    counts = np.bincount(test.y[test.mask], minlength=len(TAG_CLASSES))
    out = {
        "train_chars": int(train.mask.sum()),
        "test_chars": int(test.mask.sum()),
        "vocab": V,
        "majority": float(counts.max() / counts.sum()),
    }
    for tag, bi, units in (("uni", False, units_uni), ("bi", True, units_bi)):
        model = build(V, units, bi, seed)
        model.fit(train.x, train.y, batch_size=batch_size, epochs=epochs, verbose=verbose)
        res = model.evaluate(test.x, test.y, batch_size=128)
        out[tag] = {
            "units": units,
            "params": model.count_params(),
            "accuracy": res["accuracy"],
            "per_class": per_class_accuracy(model, test.x, test.y, test.mask),
        }
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chars", type=int, default=6000, help="characters read per stdlib module (0 = whole files)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--units", type=int, default=24, help="GRU units per direction of the bidirectional tagger")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    res = run(args.chars or None, epochs=args.epochs, units_bi=args.units, seed=args.seed, verbose=2)
    print(f"{res['train_chars']} training characters, {res['test_chars']} test characters, vocabulary {res['vocab']}")
    print(f"{'class':<10}{'unidirectional':>16}{'bidirectional':>16}")
    for name in TAG_CLASSES:
        print(f"{name:<10}{res['uni']['per_class'][name]:>16.3f}{res['bi']['per_class'][name]:>16.3f}")
    print(f"{'overall':<10}{res['uni']['accuracy']:>16.3f}{res['bi']['accuracy']:>16.3f}")
    print(f"{'params':<10}{res['uni']['params']:>16}{res['bi']['params']:>16}")
    print(f"(always answering the most frequent class: {res['majority']:.3f})")
    return res


if __name__ == "__main__":
    main()
