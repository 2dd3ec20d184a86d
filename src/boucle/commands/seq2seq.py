"""The seq2seq commands of ``boucle``: ``translate`` and ``train-seq2seq``.

    boucle translate MODEL "text" ["text" ...] [--beam K] [--max-len N] [--length-penalty A]
                     [--unknown error|unk] [--truncate]
    boucle train-seq2seq --task dates|addition --out MODEL [--attention general] [--epochs N] ...

``add_commands(subparsers)`` registers both on the ``boucle`` parser (each sets
``func``, which returns the exit status). Bad input (a missing or corrupt model file, a model that is not a
Seq2Seq, unknown characters, an empty text, a text longer than the model's
``max_source_len``, ``--beam`` ≤ 0, ...) prints one line ``boucle <command>: error:
...`` on stderr and returns 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import callbacks, optimizers
from ..data.tasks.translation import addition_dataset, dates_dataset
from ..errors import TrainingDiverged
from ..io import save
from ..locks import OutputLock
from ..models.decoding import translate
from ..models.seq2seq import Seq2Seq
from .files import check_memory, check_output, load_model_of
from .options import add_decoding_options, layer_count, nonneg_float, number, positive_float, positive_int, text

__all__ = ["add_commands"]

_pairs = number(int, lambda v: 1 <= v <= 10_000_000, "an int in [1, 10000000]")


def _translate(args: argparse.Namespace) -> int:
    model = load_model_of(args.model, Seq2Seq, "a Seq2Seq model file")
    texts = args.text[0] if len(args.text) == 1 else list(args.text)
    out = translate(
        model,
        texts,
        beam_width=args.beam,
        max_len=args.max_len,
        length_penalty=args.length_penalty,
        unknown=args.unknown,
        too_long="truncate" if args.truncate else "error",
    )
    for line in [out] if isinstance(out, str) else out:
        print(line)
    return 0


def _train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_output(out, "--out", folder=False, force=args.force)  # before minutes of training
    with OutputLock(out, "--out") as lock:
        check_output(out, "--out", folder=False, force=args.force)  # again, under the lock
        if lock.note:
            print(f"boucle train-seq2seq: {lock.note}", file=sys.stderr)
        return _train_locked(args, out)


def _train_locked(args: argparse.Namespace, out: Path) -> int:
    n_train = args.n_train if args.n_train is not None else (30000 if args.task == "dates" else 50000)
    if args.task == "dates":
        data = dates_dataset(n_train, args.n_test, seed=args.seed)
    else:
        data = addition_dataset(n_train, args.n_test, seed=args.seed)

    def build() -> Seq2Seq:
        return Seq2Seq(
            data.source_vocab,
            data.target_vocab,
            units=args.units,
            embed_dim=args.embed,
            cell=args.cell,
            num_layers=args.layers,
            bidirectional=args.bidirectional,
            attention=None if args.attention == "none" else args.attention,
            seed=args.seed,
        )

    longest = 2 * max(len(t) for t in data.x_train[:1000]) + 2  # source + target steps, roughly
    check_memory(
        "--units/--embed/--layers",
        build,
        copies=4,
        activation_bytes=args.batch_size * longest * args.layers * args.units * 40 * 4,
    )
    model = build()
    model.compile(optimizers.Adam(args.lr, clipnorm=args.clip or None))
    start = time.perf_counter()
    n_val = min(1000, len(data.x_test))
    epochs = args.epochs if args.epochs is not None else (5 if args.task == "dates" else 20)
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=args.batch_size,
        epochs=epochs,
        verbose=args.verbose,
        validation_data=(data.x_test[:n_val], data.y_test[:n_val]),
        time_budget=args.time_budget,
        callbacks=[
            callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2),
            callbacks.EarlyStopping(monitor="val_exact_match", mode="max", patience=4, restore_best_weights=True),
        ],
    )
    seconds = time.perf_counter() - start
    save(model, out)
    if model.history.stopped_reason:  # the divergence policy stopped the run: exit 2 with its message
        raise TrainingDiverged(f"{model.history.stopped_reason}; {out} holds the weights of step {model.step}")
    acc = model.evaluate(data.x_test, data.y_test)["exact_match"]
    print(
        f"{args.task}: exact match {acc:.4f} on {len(data.x_test)} held-out examples (greedy), "
        f"trained in {seconds:.0f} s; model saved to {out}"
    )
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``translate`` and ``train-seq2seq`` on a ``boucle`` subparsers object."""
    t = subparsers.add_parser(
        "translate",
        help="decode text with a trained seq2seq model",
        description="Decode each TEXT with a Seq2Seq model file (greedy, or beam search with --beam K > 1) "
        "and print one output per line.",
    )
    t.add_argument(
        "model",
        metavar="MODEL",
        help="a .safetensors file written by boucle.save / train-seq2seq, or a folder holding model.safetensors",
    )
    t.add_argument("text", metavar="TEXT", nargs="+", type=text, help='source text(s), e.g. "21 août 2017"')
    add_decoding_options(t, "tokens", "the longest training target")
    t.add_argument(
        "--unknown",
        choices=["error", "unk"],
        default="error",
        help="characters outside the vocabulary: an error naming them (default) or <unk>",
    )
    t.add_argument(
        "--truncate",
        action="store_true",
        help="truncate texts longer than the model's max_source_len (with a warning) instead of failing",
    )
    t.set_defaults(func=_translate)

    s = subparsers.add_parser(
        "train-seq2seq",
        help="train an encoder-decoder on a generated task (dates, addition)",
        description="Train a Seq2Seq model on a generated task and save it: dates (French/English dates -> ISO) "
        'or addition ("123+45" -> "168"). Prints the held-out exact-match accuracy.',
    )
    s.add_argument("--task", choices=["dates", "addition"], required=True)
    s.add_argument("--out", required=True, help="model file to write (.safetensors); its folder must exist")
    s.add_argument("--force", action="store_true", help="replace the file already at --out (never replaced otherwise)")
    s.add_argument("--attention", choices=["none", "dot", "general", "additive"], default="general")
    s.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    s.add_argument("--units", type=positive_int, default=128, metavar="N")
    s.add_argument("--embed", type=positive_int, default=32, metavar="N")
    s.add_argument("--layers", type=layer_count, default=1, metavar="N")
    s.add_argument("--bidirectional", action="store_true")
    s.add_argument("--epochs", type=positive_int, default=None, metavar="N", help="default: dates 5, addition 20")
    s.add_argument("--batch-size", type=positive_int, default=64, metavar="N")
    s.add_argument("--lr", type=positive_float, default=3e-3)
    s.add_argument(
        "--clip",
        type=nonneg_float,
        default=5.0,
        help="global gradient-norm clipping threshold, 0 = no clipping (default 5)",
    )
    s.add_argument(
        "--n-train", type=_pairs, default=None, metavar="N", help="training pairs (dates 30000, addition 50000)"
    )
    s.add_argument("--n-test", type=_pairs, default=2000, metavar="N")
    s.add_argument(
        "--time-budget",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="stop after the epoch that ends past SECONDS",
    )
    s.add_argument("--seed", type=number(int, lambda v: v >= 0, "an int >= 0"), default=0, metavar="N")
    s.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1)
    s.set_defaults(func=_train)
