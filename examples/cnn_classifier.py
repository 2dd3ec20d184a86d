"""The seed's convolutional network (seed 003) against an MLP with as many parameters.

    python examples/cnn_classifier.py                       # the built-in glyphs (no download)
    python examples/cnn_classifier.py --download            # Fashion-MNIST, into the cache
    python examples/cnn_classifier.py --max-shift 5 --train 6000 --epochs 8 --plots docs/img

The model is the seed's, as written, with the last layer sized to the classes:
Conv2D(32, 3×3, relu) → MaxPooling2D(2×2) → Dropout(0.2) → Conv2D(64) → … → Conv2D(128)
→ … → Flatten → Dense(128, relu) → Dense(classes, softmax), categorical cross-entropy,
Adam. The MLP (Flatten → Dense(h, relu) → Dense(classes, softmax)) gets h so that both
have the same number of parameters. On glyphs shifted by up to ``max_shift`` pixels the
convolutions' shared weights see the same stroke anywhere; the MLP must learn each
position separately. ``--plots DIR`` draws test images of each class, the first layer's
filters and one test image's activation maps (``plot`` extra).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import boucle
from boucle.data import load_mnist
from boucle.data.tasks import glyphs
from boucle.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D


def build_cnn(classes: int, seed: int = 0) -> boucle.Sequential:
    """The seed's model (slide 41), with ``Dense(classes)`` in place of ``Dense(25)``."""
    model = boucle.Sequential(seed=seed)
    model.add(Conv2D(32, (3, 3), input_shape=(28, 28, 1), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.2))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.2))
    model.add(Conv2D(128, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.2))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dense(classes, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def build_mlp(classes: int, params: int, seed: int = 0) -> boucle.Sequential:
    """Flatten → Dense(h, relu) → Dense(classes, softmax) with h·(785 + classes) + classes ≈ ``params``."""
    h = max(1, round((params - classes) / (28 * 28 + 1 + classes)))
    model = boucle.Sequential(
        [Flatten(input_shape=(28, 28, 1)), Dense(h, activation="relu"), Dense(classes, activation="softmax")], seed=seed
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def load_data(
    download: bool = False,
    n_train: int = 6000,
    n_test: int = 2000,
    seed: int = 0,
    max_shift: float = 4.0,
    cache: str | None = None,
):
    """``(x_train, y_train, x_test, y_test, name)``: glyphs (seeded, shifted) or Fashion-MNIST (first n)."""
    if download:
        x_tr, y_tr = load_mnist("fashion_mnist", "train", cache_dir=cache)
        x_te, y_te = load_mnist("fashion_mnist", "test", cache_dir=cache)
        return x_tr[:n_train], y_tr[:n_train], x_te[:n_test], y_te[:n_test], "Fashion-MNIST"
    x_tr, y_tr = glyphs(n_train, seed=seed, max_shift=max_shift)
    x_te, y_te = glyphs(n_test, seed=seed + 1, max_shift=max_shift)
    return x_tr, y_tr, x_te, y_te, f"glyphs (shift ±{max_shift:g} px)"


def run(
    n_train: int = 6000,
    n_test: int = 2000,
    epochs: int = 8,
    batch_size: int = 64,
    seed: int = 0,
    max_shift: float = 4.0,
    download: bool = False,
    cache: str | None = None,
    plots: str | None = None,
    verbose: int = 0,
) -> dict:
    """Train the seed's CNN and the same-size MLP on the same data; test accuracies and timings."""
    x_tr, y_tr, x_te, y_te, name = load_data(download, n_train, n_test, seed, max_shift, cache)
    classes = int(max(y_tr.max(), y_te.max())) + 1
    onehot = np.eye(classes, dtype=np.float32)
    res: dict = {"data": name, "classes": classes, "train": len(x_tr), "test": len(x_te), "epochs": epochs}
    cnn = build_cnn(classes, seed)
    for tag, model in (("cnn", cnn), ("mlp", build_mlp(classes, cnn.count_params(), seed))):
        t0 = time.perf_counter()
        model.fit(x_tr, onehot[y_tr], batch_size=batch_size, epochs=epochs, verbose=verbose)
        res[tag] = {
            "params": model.count_params(),
            "seconds": time.perf_counter() - t0,
            "test_accuracy": model.evaluate(x_te, onehot[y_te], batch_size=256)["accuracy"],
            "train_accuracy": model.evaluate(x_tr, onehot[y_tr], batch_size=256)["accuracy"],
        }
    if plots:
        from boucle.diagnostics import plot_feature_maps, plot_filters, plot_image_rows

        os.makedirs(plots, exist_ok=True)
        first = [np.flatnonzero(y_te == c)[:3] for c in range(classes)]  # three test images per class
        res["data_png"] = plot_image_rows(
            [x_te[[f[r] for f in first]] for r in range(3)], os.path.join(plots, "cnn_data.png"), title=name
        )
        res["filters_png"] = plot_filters(
            cnn, os.path.join(plots, "cnn_filters.png"), title="first layer: 32 filters (3×3)"
        )
        res["maps_png"] = plot_feature_maps(
            cnn,
            x_te[0],
            os.path.join(plots, "cnn_feature_maps.png"),
            title=f"activation maps of the first layer (class {y_te[0]})",
        )
    res["model"] = cnn
    return res


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--download", action="store_true", help="Fashion-MNIST instead of the built-in glyphs")
    p.add_argument("--cache", help="download cache folder (default $BOUCLE_DATA or ~/.cache/boucle)")
    p.add_argument("--train", type=int, default=6000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-shift", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plots", help="folder for the filter and activation-map PNGs")
    args = p.parse_args(argv)
    res = run(
        args.train,
        args.test,
        args.epochs,
        args.batch_size,
        args.seed,
        args.max_shift,
        args.download,
        args.cache,
        args.plots,
        verbose=2,
    )
    res["model"].summary()
    print(
        f"{res['data']}: {res['train']} train / {res['test']} test images, {res['classes']} classes, "
        f"{res['epochs']} epochs"
    )
    for tag, label in (("cnn", "seed's CNN"), ("mlp", "same-size MLP")):
        r = res[tag]
        print(
            f"  {label:14s} {r['params']:>8,} params  test accuracy {r['test_accuracy']:.4f}  "
            f"(train {r['train_accuracy']:.4f}, {r['seconds']:.0f} s)"
        )
    return res


if __name__ == "__main__":
    main()
