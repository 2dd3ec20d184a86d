"""Shared benchmark helpers: machine description and block-interleaved timing.

Run benchmarks with the OpenBLAS overrides unset, e.g.
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mlp.py``: where set,
they slow NumPy's GEMM by up to ~40 %. Timings on shared machines are noisy:
quote the ratios.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np


def machine() -> str:
    """One line naming the CPU, core count, versions and the BLAS kernel in use."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    kernel = "?"
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
        if info:  # NumPy's OpenBLAS first; SciPy's too where loaded (numba's np.dot calls it)
            kernel = " / ".join(f"{i.get('architecture')} ({i.get('num_threads')} threads)" for i in info)
    except ImportError:
        kernel = "unknown (pip install threadpoolctl to report it)"
    import torch

    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return (
        f"{cpu}, {os.cpu_count()} cores; numpy {np.__version__} (OpenBLAS kernel {kernel}); "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads); python {platform.python_version()}"
        + (f"; WARNING OpenBLAS overrides set: {env}" if env else "")
    )


def interleaved(
    fns: dict[str, Callable[[], object]],
    rounds: int = 5,
    per_block: int = 3,
    warmup_s: float = 0.3,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per call of each function, timed in blocks with rotating order.

    Each side is warmed for ``warmup_s`` at the start of every block (thread pools
    of NumPy and torch slow each other when calls alternate one by one).
    ``clock``: ``time.perf_counter`` (wall time, default) or ``time.process_time``
    (CPU time of the process, all threads: robust to other load on a shared machine
    when both sides run single-threaded).
    """
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            t_end = time.perf_counter() + warmup_s
            while time.perf_counter() < t_end:
                fns[n]()
            for _ in range(per_block):
                t0 = clock()
                fns[n]()
                times[n].append(clock() - t0)
    return {n: statistics.median(v) for n, v in times.items()}
