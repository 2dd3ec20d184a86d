"""`boucle train`'s thread choice: training throughput of its default model with the
recurrent loop on 1 thread vs on every core (NumPy's BLAS on 1 thread either way, as the
command runs it), and with NumPy's BLAS on every core too.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/train_threads.py [--steps 10] [--rounds 6]

The default model of ``boucle train`` (``commands.charlm.DEFAULTS``: LSTM(256), embedding
32, batch 64, sequence 64, Adam) on the built-in corpus; blocks of ``--steps`` training
steps, the settings interleaved with rotating order, wall time (medians of the blocks).
The machine is shared: quote the ratios, with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402

from boucle.backend import blas_threads  # noqa: E402
from boucle.commands.charlm import DEFAULTS  # noqa: E402
from boucle.data.text import TextStream, load_corpus, split_ids  # noqa: E402
from boucle.data.vocab import Vocabulary  # noqa: E402
from boucle.models.charlm import CharModel  # noqa: E402
from boucle.ops.recurrent import use_threads  # noqa: E402
from boucle.optimizers import Adam  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    d = DEFAULTS
    cores = os.cpu_count() or 1
    text = load_corpus().text[:2_000_000]
    vocab = Vocabulary.from_text(text)
    train_ids, _ = split_ids(vocab.encode(text), d["val_fraction"])
    model = CharModel(vocab, cell=d["cell"], layers=d["layers"], hidden=d["hidden"], embed=d["embed"], seed=0)
    model.init_output_bias(train_ids)
    model.compile(Adam(d["lr"], clipnorm=d["clip"]))
    stream, rng = TextStream(train_ids, d["batch_size"], d["seq_len"]), np.random.default_rng(0)
    settings = {
        "loop 1, BLAS 1": (1, 1),
        f"loop {cores}, BLAS 1": (cores, 1),
        f"loop {cores}, BLAS {cores}": (cores, cores),
    }
    times: dict[str, list[float]] = {k: [] for k in settings}
    names = list(settings)
    for _, (loop, blas) in settings.items():  # warm-up (compiles, allocator)
        with blas_threads(blas), use_threads(loop):
            for _ in range(2):
                model.train_step(*stream.next_batch(rng)[:2])
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            loop, blas = settings[name]
            batches = [stream.next_batch(rng) for _ in range(args.steps)]
            with blas_threads(blas), use_threads(loop):
                t0 = time.perf_counter()
                for x, y, _ in batches:
                    model.train_step(x, y)
                times[name].append((time.perf_counter() - t0) / args.steps)
    print(machine())
    print(
        f"boucle train's default model ({d['layers']} x {d['cell'].upper()}({d['hidden']}), batch {d['batch_size']}, "
        f"seq {d['seq_len']}); blocks of {args.steps} steps x {args.rounds} rounds; load average "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}\n"
    )
    base = statistics.median(times[names[0]])
    print("| threads | ms / step (median) | min | throughput vs loop 1 |")
    print("|---|---|---|---|")
    for name in names:
        med = statistics.median(times[name])
        print(f"| {name} | {med * 1e3:.1f} | {min(times[name]) * 1e3:.1f} | {base / med:.2f}x |")


if __name__ == "__main__":
    main()
