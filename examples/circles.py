"""Seed 003's lesson in one run: one neuron cannot separate two concentric
classes; one hidden layer can ("Capacité et frontière de décision d'un seul neurone").

    python examples/circles.py [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse

import numpy as np

import boucle
from boucle.layers import Dense


def circles(n: int, rng: np.random.Generator):
    """Two classes: points inside radius 1 (class 0) and in the ring 1.5..2.5 (class 1)."""
    r = np.concatenate([rng.uniform(0, 1, n // 2), rng.uniform(1.5, 2.5, n - n // 2)])
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1).astype(np.float32)
    y = (np.arange(n) >= n // 2).astype(np.float32)[:, None]
    order = rng.permutation(n)
    return x[order], y[order]


def train(hidden: int | None, x, y, epochs: int, seed: int, verbose: int):
    layers = ([Dense(hidden, activation="tanh", input_shape=(2,))] if hidden else []) + [
        Dense(1, activation="sigmoid", input_shape=None if hidden else (2,))
    ]
    model = boucle.Sequential(layers, seed=seed)
    model.compile(optimizer=boucle.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.2, verbose=verbose)
    return model


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x, y = circles(1000, rng)
    print("== a single neuron (logistic regression) ==")
    single = train(None, x, y, args.epochs, args.seed, verbose=2)
    print("== one hidden layer of 8 tanh units ==")
    mlp = train(8, x, y, args.epochs, args.seed, verbose=1)
    mlp.summary()
    a1 = single.evaluate(x, y)["accuracy"]
    a2 = mlp.evaluate(x, y)["accuracy"]
    print(f"accuracy: single neuron {a1:.3f}, one hidden layer {a2:.3f}")


if __name__ == "__main__":
    main()
