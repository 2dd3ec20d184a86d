"""The seed's convolutional autoencoder (seed 003): denoising, compression, anomaly detection.

    python examples/conv_autoencoder.py                          # built-in glyphs, all three tasks
    python examples/conv_autoencoder.py --download               # Fashion-MNIST, into the cache
    python examples/conv_autoencoder.py --task denoise --png docs/img/autoencoder.png

Encoder: ``Conv2D(8, (3, 3), activation="relu", padding="same")`` →
``MaxPooling2D((2, 2), padding="same")``, twice (28×28 → 7×7×k, the code); decoder:
``Conv2D(8, (3, 3), relu, same)`` → ``UpSampling2D((2, 2))``, twice, then
``Conv2D(1, (3, 3), sigmoid, same)``. Trained as the seed says, ``fit(X, X)`` — or
``fit(noisy X, X)`` to denoise — with the per-pixel binary cross-entropy and Adam (with
the mean squared error the sigmoid output first settles on the black background and
stays there for many epochs; the cross-entropy's gradient p − x does not vanish).

- **denoise**: Gaussian noise σ = 0.3 (clipped to [0, 1]); PSNR = 10 log10(1 / MSE) of the
  noisy and of the denoised test images against the clean ones.
- **compress**: code channels k ∈ {1, 2, 4, 8} (49 to 392 numbers for 784 pixels) against
  the reconstruction error.
- **anomaly**: train without one class; a test image's reconstruction error (mean squared)
  is its anomaly score; AUROC of that score for the held-out class against the others
  (``--held-out all``: one model per class).
- ``--png``: a grid of originals / noisy / denoised test images (``plot`` extra).
- ``--transpose``: the decoder up-samples with ``Conv2DTranspose(8, 3, strides=2)`` (learned)
  instead of ``UpSampling2D`` + ``Conv2D``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import boucle
from boucle.data import load_mnist
from boucle.data.tasks import glyphs
from boucle.layers import Conv2D, Conv2DTranspose, MaxPooling2D, UpSampling2D


def build_autoencoder(code_channels: int = 8, transpose: bool = False, seed: int = 0, lr: float = 5e-3):
    """The seed's encoder/decoder; the code is 7 × 7 × ``code_channels``."""
    model = boucle.Sequential(seed=seed)
    model.add(Conv2D(8, (3, 3), activation="relu", padding="same", input_shape=(28, 28, 1)))  # encoder
    model.add(MaxPooling2D((2, 2), padding="same"))
    model.add(Conv2D(code_channels, (3, 3), activation="relu", padding="same"))
    model.add(MaxPooling2D((2, 2), padding="same"))  # code (7, 7, k)
    for _ in range(2):  # decoder
        if transpose:
            model.add(Conv2DTranspose(8, (3, 3), strides=2, activation="relu", padding="same"))
        else:
            model.add(Conv2D(8, (3, 3), activation="relu", padding="same"))
            model.add(UpSampling2D((2, 2)))
    model.add(Conv2D(1, (3, 3), activation="sigmoid", padding="same"))
    model.compile(optimizer=boucle.optimizers.Adam(lr), loss="binary_crossentropy")
    return model


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of images in [0, 1]: 10 log10(1 / mean (a − b)²), in dB."""
    return float(10.0 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative) (ties count 1/2),
    from the ranks (Mann–Whitney U / (n₊ n₋))."""
    positive = np.asarray(positive, dtype=bool)
    values, inverse, counts = np.unique(np.asarray(scores), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based ranks, ties averaged
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def add_noise(x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(x + rng.normal(0, sigma, x.shape), 0.0, 1.0).astype(np.float32)


def load_data(download: bool = False, n_train: int = 4000, n_test: int = 1000, seed: int = 0, cache: str | None = None):
    if download:
        x_tr, y_tr = load_mnist("fashion_mnist", "train", cache_dir=cache)
        x_te, y_te = load_mnist("fashion_mnist", "test", cache_dir=cache)
        return x_tr[:n_train], y_tr[:n_train], x_te[:n_test], y_te[:n_test], "Fashion-MNIST"
    x_tr, y_tr = glyphs(n_train, seed=seed)
    x_te, y_te = glyphs(n_test, seed=seed + 1)
    return x_tr, y_tr, x_te, y_te, "glyphs"


def denoise(
    data,
    epochs: int = 10,
    sigma: float = 0.3,
    seed: int = 0,
    transpose: bool = False,
    png: str | None = None,
    verbose: int = 0,
) -> dict:
    x_tr, _, x_te, _ = data
    noisy_tr, noisy_te = add_noise(x_tr, sigma, seed + 10), add_noise(x_te, sigma, seed + 11)
    model = build_autoencoder(8, transpose, seed)
    t0 = time.perf_counter()
    model.fit(noisy_tr, x_tr, batch_size=32, epochs=epochs, verbose=verbose)
    out = model.predict(noisy_te, batch_size=256)
    res = {
        "sigma": sigma,
        "psnr_noisy": psnr(noisy_te, x_te),
        "psnr_denoised": psnr(out, x_te),
        "seconds": time.perf_counter() - t0,
        "params": model.count_params(),
        "model": model,
    }
    res["gain_db"] = res["psnr_denoised"] - res["psnr_noisy"]
    if png:
        from boucle.diagnostics import plot_image_rows

        res["png"] = plot_image_rows(
            [x_te[:10], noisy_te[:10], out[:10]],
            png,
            labels=["original", f"noisy σ={sigma:g}", "denoised"],
            title=f"PSNR {res['psnr_noisy']:.1f} dB → {res['psnr_denoised']:.1f} dB",
        )
    return res


def compress(
    data, channels=(1, 2, 4, 8), epochs: int = 10, seed: int = 0, transpose: bool = False, verbose: int = 0
) -> list[dict]:
    x_tr, _, x_te, _ = data
    rows = []
    for k in channels:
        model = build_autoencoder(k, transpose, seed)
        model.fit(x_tr, x_tr, batch_size=32, epochs=epochs, verbose=verbose)
        out = model.predict(x_te, batch_size=256)
        rows.append(
            {
                "code_channels": k,
                "code_size": 7 * 7 * k,
                "ratio": 784 / (7 * 7 * k),
                "mse": float(np.mean((out - x_te) ** 2)),
                "psnr": psnr(out, x_te),
            }
        )
    return rows


def anomaly(
    data, held_out: int = 0, epochs: int = 10, seed: int = 0, transpose: bool = False, verbose: int = 0
) -> dict:
    x_tr, y_tr, x_te, y_te = data
    model = build_autoencoder(4, transpose, seed)
    model.fit(x_tr[y_tr != held_out], x_tr[y_tr != held_out], batch_size=32, epochs=epochs, verbose=verbose)
    err = np.mean((model.predict(x_te, batch_size=256) - x_te) ** 2, axis=(1, 2, 3))
    pos = y_te == held_out
    return {
        "held_out": held_out,
        "auroc": auroc(err, pos),
        "error_anomalies": float(err[pos].mean()),
        "error_normal": float(err[~pos].mean()),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=("all", "denoise", "compress", "anomaly"), default="all")
    p.add_argument("--download", action="store_true", help="Fashion-MNIST instead of the built-in glyphs")
    p.add_argument("--cache", help="download cache folder")
    p.add_argument("--train", type=int, default=4000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--held-out", default="all", help="the anomaly class, or 'all' (one model per class)")
    p.add_argument("--transpose", action="store_true", help="decode with Conv2DTranspose")
    p.add_argument("--png", help="where to draw originals / noisy / denoised")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    *data, name = load_data(args.download, args.train, args.test, args.seed, args.cache)
    print(f"{name}: {len(data[0])} train / {len(data[2])} test images")
    res: dict = {"data": name}
    if args.task in ("all", "denoise"):
        r = res["denoise"] = denoise(data, args.epochs, seed=args.seed, transpose=args.transpose, png=args.png)
        r["model"].summary()
        print(
            f"denoising (σ = {r['sigma']}): PSNR noisy {r['psnr_noisy']:.2f} dB -> denoised "
            f"{r['psnr_denoised']:.2f} dB (+{r['gain_db']:.2f} dB)"
        )
    if args.task in ("all", "compress"):
        res["compress"] = compress(data, epochs=args.epochs, seed=args.seed, transpose=args.transpose)
        for r in res["compress"]:
            print(
                f"compression: code {r['code_size']:3d} numbers (784/{r['code_size']} = {r['ratio']:.1f}x) "
                f"-> MSE {r['mse']:.5f}, PSNR {r['psnr']:.2f} dB"
            )
    if args.task in ("all", "anomaly"):
        held = range(int(data[1].max()) + 1) if args.held_out == "all" else [int(args.held_out)]
        res["anomaly"] = [anomaly(data, c, args.epochs, seed=args.seed, transpose=args.transpose) for c in held]
        for r in res["anomaly"]:
            print(
                f"anomaly detection (class {r['held_out']} unseen in training): AUROC {r['auroc']:.3f} "
                f"(mean error {r['error_anomalies']:.4f} vs {r['error_normal']:.4f})"
            )
        if len(res["anomaly"]) > 1:
            print(
                f"mean AUROC over the {len(res['anomaly'])} held-out classes: "
                f"{np.mean([r['auroc'] for r in res['anomaly']]):.3f}"
            )
    return res


if __name__ == "__main__":
    main()
