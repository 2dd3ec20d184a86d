"""One training epoch of a 784-256-10 MLP (batch 128, Adam) in boucle vs torch 2.13 CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mlp.py [--samples N]

Same data, same architecture (ReLU hidden layer, softmax + cross-entropy),
float32, timed interleaved in one process. Target: boucle <= 1.3x torch.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import interleaved, machine  # noqa: E402

import boucle  # noqa: E402
from boucle.layers import Dense  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--samples", type=int, default=12800)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.samples, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.samples)

    model = boucle.Sequential(
        [Dense(256, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")], seed=0
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def boucle_epoch():
        model.fit(x, y, batch_size=128, epochs=1, verbose=0, shuffle=True)

    def torch_epoch():
        perm = torch.randperm(len(xt))
        for s in range(0, len(xt), 128):
            idx = perm[s : s + 128]
            opt.zero_grad()
            loss = lossf(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    med = interleaved({"boucle": boucle_epoch, "torch": torch_epoch}, rounds=args.rounds, per_block=2)
    print(machine())
    print(f"MLP 784-256-10, batch 128, Adam, {args.samples} samples/epoch, float32")
    print("| boucle epoch | torch epoch | ratio boucle/torch |")
    print("|---|---|---|")
    print(f"| {med['boucle'] * 1e3:.1f} ms | {med['torch'] * 1e3:.1f} ms | {med['boucle'] / med['torch']:.2f}x |")


if __name__ == "__main__":
    main()
