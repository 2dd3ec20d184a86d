"""Many-to-one on real-world-shaped data: an LSTM/GRU classifier of variable-length
multivariate sequences read from UEA/UCR ``.ts`` files (e.g. JapaneseVowels:
12 LPC channels, 7–29 frames, 9 speakers), padded and masked.

    python examples/uea_classifier.py --train JapaneseVowels_TRAIN.ts --test JapaneseVowels_TEST.ts
    python examples/uea_classifier.py --uea JapaneseVowels          # download into the cache
    python examples/uea_classifier.py                               # a generated .ts fixture

Pipeline: ``load_ts`` → per-channel normalisation fitted on the training cases →
``pad_sequences`` (zeros at the end + mask) → ``cell(units) → Dense(classes, softmax)``;
the mask makes the recurrent layer return each sequence's state at its own last
frame. Without files, :func:`make_fixture` writes a small ``.ts`` problem: 3 classes
of noisy 3-channel oscillations (lengths 8–30) that differ in frequency and in
which channel leads.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

import boucle
from boucle.data import pad_sequences
from boucle.data.loaders import load_ts, load_uea, write_ts
from boucle.data.windows import Normalizer
from boucle.layers import GRU, LSTM, Dense


def make_fixture(path: str, n: int = 120, seed: int = 0, channels: int = 3, classes: int = 3) -> str:
    """Write ``n`` labelled cases ``(T_i in [8, 30], channels)`` as a ``.ts`` file; returns the path."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n):
        c = i % classes
        T = int(rng.integers(8, 31))
        t = np.arange(T)[:, None]
        freq = 0.15 + 0.12 * c
        phase = rng.uniform(0, 2 * np.pi) + np.arange(channels) * (0.6 if c % 2 else -0.6)
        x = np.sin(freq * t + phase) + 0.3 * rng.standard_normal((T, channels))
        xs.append(x)
        ys.append(f"c{c}")
    write_ts(path, xs, ys, problem_name="Oscillations", class_labels=[f"c{c}" for c in range(classes)])
    return path


def run(
    train_path: str | None = None,
    test_path: str | None = None,
    cell: str = "gru",
    units: int = 32,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 5e-3,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    """Train on ``train_path`` and evaluate on ``test_path`` (default: generated fixtures)."""
    with tempfile.TemporaryDirectory() as tmp:
        if train_path is None:
            train_path = make_fixture(os.path.join(tmp, "fixture_TRAIN.ts"), 120, seed)
            test_path = make_fixture(os.path.join(tmp, "fixture_TEST.ts"), 90, seed + 1)
        train, test = load_ts(train_path), load_ts(test_path)
    return fit_and_evaluate(train, test, cell, units, epochs, batch_size, lr, seed, verbose)


def fit_and_evaluate(
    train,
    test,
    cell: str = "gru",
    units: int = 32,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 5e-3,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    classes = train.class_labels or sorted(set(train.y.tolist()))
    norm = Normalizer().fit(np.concatenate(train.x))  # statistics of the training frames
    x_tr, m_tr = pad_sequences([norm.transform(a) for a in train.x], dtype=np.float32)
    x_te, m_te = pad_sequences([norm.transform(a) for a in test.x], maxlen=None, dtype=np.float32)
    y_tr = np.eye(len(classes), dtype=np.float32)[train.label_ids(classes)]
    y_te = np.eye(len(classes), dtype=np.float32)[test.label_ids(classes)]
    rnn = {"lstm": LSTM, "gru": GRU}[cell]
    model = boucle.Sequential(
        [rnn(units, input_shape=(None, train.n_channels)), Dense(len(classes), activation="softmax")], seed=seed
    )
    model.compile(
        optimizer=boucle.optimizers.Adam(lr, clipnorm=1.0), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(x_tr, y_tr, mask=m_tr, batch_size=batch_size, epochs=epochs, verbose=verbose)
    res = model.evaluate(x_te, y_te, mask=m_te)
    return {
        "test_accuracy": res["accuracy"],
        "test_loss": res["loss"],
        "train_accuracy": model.evaluate(x_tr, y_tr, mask=m_tr)["accuracy"],
        "classes": len(classes),
        "chance": float(np.bincount(test.label_ids(classes)).max() / len(test.x)),
        "lengths": (int(train.lengths.min()), int(train.lengths.max())),
        "channels": train.n_channels,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", help="a .ts training file")
    p.add_argument("--test", help="a .ts test file")
    p.add_argument("--uea", help="a UEA problem name to download (e.g. JapaneseVowels)")
    p.add_argument("--cache", help="download cache folder (default $BOUCLE_DATA or ~/.cache/boucle)")
    p.add_argument("--cell", choices=("lstm", "gru"), default="gru")
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.uea:
        res = fit_and_evaluate(
            load_uea(args.uea, "train", args.cache),
            load_uea(args.uea, "test", args.cache),
            args.cell,
            args.units,
            args.epochs,
            seed=args.seed,
            verbose=2,
        )
    else:
        if (args.train is None) != (args.test is None):
            p.error("give both --train and --test, or neither")
        res = run(args.train, args.test, args.cell, args.units, args.epochs, seed=args.seed, verbose=2)
    print(
        f"{args.cell.upper()}({args.units}): test accuracy {res['test_accuracy']:.3f} over {res['classes']} classes "
        f"(majority class {res['chance']:.3f}); {res['channels']} channels, lengths {res['lengths']}"
    )
    return res


if __name__ == "__main__":
    main()
