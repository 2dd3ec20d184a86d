"""Echo state networks: boucle.reservoir vs reservoirpy 0.4.2, same data, same settings, one process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /tmp/benchvenv/bin/python bench/reservoir.py
        [--workers N | --scheduler tcp://HOST:PORT]      # the accuracy seeds on workers, same numbers

reservoirpy is a *bench* dependency only (``pip install reservoirpy==0.4.2`` in a
separate virtualenv with boucle installed ``--no-deps``); boucle never imports it.
Without numba in that virtualenv boucle runs its reference state loop; ``pip install
numba`` there (boucle's ``fast`` extra) for the compiled one.

1. Mackey-Glass one-step forecast (reservoirpy's README): 2000 steps, 20 % test
   (1599 train / 400 test pairs), 100 units, spectral radius 1.25, leak 0.3,
   ridge 1e-5, warm-up 100, input scaling 1, connectivities 0.1 / 0.1, no bias;
   the test run continues the training state. RMSE and R^2.
2. 10- and 100-step-ahead forecasts (reservoirpy's tutorial 1): 2510 steps rescaled
   to [-1, 1], 2000 train pairs, 100 units, sr 1.25, leak 0.3, input connectivity
   0.2, ridge 1e-8, no warm-up; NRMSE normalised by max - min.
3. Fit + predict time (task 1, model construction included: both libraries
   draw the reservoir and rescale its spectral radius inside) for 100, 1000 and
   5000 units, timed interleaved, medians: wall time with the BLAS threads as they
   are, or with ``--cpu`` the process's CPU time on one BLAS thread (steadier on a
   shared machine). boucle runs its compiled state loop when numba is importable
   (the line "boucle state loop" says which), else the reference loop.

Accuracy is averaged over ``--seeds`` seeds (the same seed drives the data and both
reservoirs; the two libraries draw different matrices from it, from the same
distributions). Data: boucle's Mackey-Glass (RK4, dt = 0.1) for both libraries,
and again reservoirpy's own generator to compare with its published numbers.
Timings on a shared machine are noisy: quote the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
import reservoirpy
from reservoirpy.datasets import mackey_glass as rp_mackey_glass
from reservoirpy.nodes import Reservoir as RpReservoir
from reservoirpy.nodes import Ridge as RpRidge

sys.path.insert(0, os.path.dirname(__file__))
import boucle  # noqa: E402
from boucle.backend import blas_threads  # noqa: E402
from boucle.data.tasks.timeseries import mackey_glass, to_forecasting  # noqa: E402
from boucle.reservoir import ESN, nrmse, rmse, rsquare  # noqa: E402
from boucle.reservoir import reservoir as reservoir_module  # noqa: E402
from boucle.search.backends import SerialBackend, make_backend, map_ordered  # noqa: E402


def machine_line() -> str:
    """bench/common.py's machine line; without torch in the bench environment, the same minus torch."""
    try:
        from common import machine

        return machine()
    except ImportError:
        pass
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    kernel = "?"
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
        if info:
            kernel = f"{info[0].get('architecture')} ({info[0].get('num_threads')} threads)"
    except ImportError:
        pass
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    import scipy

    return (
        f"{cpu}, {os.cpu_count()} cores; numpy {np.__version__} (OpenBLAS kernel {kernel}); scipy "
        f"{scipy.__version__}; python {platform.python_version()}"
        + (f"; WARNING OpenBLAS overrides set: {env}" if env else "")
    )


# ----------------------------------------------------------------- tasks
def one_step_data(seed: int, source: str):
    X = mackey_glass(2000, seed=seed) if source == "boucle" else rp_mackey_glass(2000, seed=seed)
    x, y = to_forecasting(X, 1)
    n_test = round(x.shape[0] * 0.2)
    return x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]


def horizon_data(seed: int, source: str, h: int):
    X = mackey_glass(2510, seed=seed) if source == "boucle" else rp_mackey_glass(2510, seed=seed)
    X = 2 * (X - X.min()) / (X.max() - X.min()) - 1
    x, y = to_forecasting(X, h)
    return x[:2000], y[:2000], x[2000:], y[2000:]


def boucle_one_step(d, units: int, seed: int):
    xtr, ytr, xte, _ = d
    esn = ESN(
        units,
        spectral_radius=1.25,
        leak_rate=0.3,
        ridge=1e-5,
        input_scaling=1.0,
        connectivity=0.1,
        input_connectivity=0.1,
        seed=seed,
    )
    esn.fit(xtr, ytr, warmup=100)
    return esn.predict(xte, initial_state="last")


def rp_one_step(d, units: int, seed: int):
    xtr, ytr, xte, _ = d
    esn = reservoirpy.ESN(units=units, sr=1.25, lr=0.3, ridge=1e-5, seed=seed)
    esn.fit(xtr, ytr, warmup=100)
    return esn.run(xte)


def boucle_horizon(d, seed: int):
    xtr, ytr, xte, _ = d
    esn = ESN(
        100,
        spectral_radius=1.25,
        leak_rate=0.3,
        input_scaling=1.0,
        connectivity=0.1,
        input_connectivity=0.2,
        ridge=1e-8,
        seed=seed,
    )
    esn.fit(xtr, ytr)
    return esn.predict(xte, initial_state="last")


def rp_horizon(d, seed: int):
    xtr, ytr, xte, _ = d
    res = RpReservoir(100, input_scaling=1.0, sr=1.25, lr=0.3, rc_connectivity=0.1, input_connectivity=0.2, seed=seed)
    esn = res >> RpRidge(ridge=1e-8)
    esn.fit(xtr, ytr)
    return esn.run(xte)


def stats(v: list[float], digits: int = 5) -> str:
    return f"{np.median(v):.{digits}f} / {np.mean(v):.{digits}f} ± {np.std(v):.{digits}f}"


def seed_accuracy(s: int, source: str) -> dict:
    """Every accuracy figure of seed ``s`` on ``source``'s Mackey-Glass (one BLAS thread: the same
    numbers in this process or on any worker)."""
    warnings.simplefilter("ignore")
    with blas_threads(1):
        d = one_step_data(s, source)
        pb, pr = boucle_one_step(d, 100, s), rp_one_step(d, 100, s)
        out = {"b_rmse": rmse(d[3], pb), "r_rmse": rmse(d[3], pr), "b_r2": rsquare(d[3], pb), "r_r2": rsquare(d[3], pr)}
        for h in (10, 100):
            d = horizon_data(s, source, h)
            out[f"b_{h}"] = nrmse(d[3], boucle_horizon(d, s), norm="minmax")
            out[f"r_{h}"] = nrmse(d[3], rp_horizon(d, s), norm="minmax")
    return out


def accuracy(seeds: int, backend=None) -> None:
    """The accuracy table; the seeds run on ``backend`` (boucle.search: serial, processes or Dask)."""
    print(f"\n### Accuracy ({seeds} seeds: median / mean ± std; lower is better except R²)\n")
    print("| task | data | metric | boucle | reservoirpy 0.4.2 | ratio of medians | boucle ≤ reservoirpy on |")
    print("|---|---|---|---|---|---|---|")
    for source in ("boucle", "reservoirpy"):
        per_seed = map_ordered(backend or SerialBackend(), seed_accuracy, [(s, source) for s in range(seeds)])
        r = {k: [p[k] for p in per_seed] for k in per_seed[0]}
        wins = sum(b <= q for b, q in zip(r["b_rmse"], r["r_rmse"]))
        print(
            f"| MG one-step, 100 units | {source} MG | RMSE | {stats(r['b_rmse'])} | {stats(r['r_rmse'])} | "
            f"{np.median(r['b_rmse']) / np.median(r['r_rmse']):.2f} | {wins}/{seeds} seeds |"
        )
        print(f"| MG one-step, 100 units | {source} MG | R² | {stats(r['b_r2'], 6)} | {stats(r['r_r2'], 6)} | | |")
        for h in (10, 100):
            b, q = r[f"b_{h}"], r[f"r_{h}"]
            wins = sum(x <= y for x, y in zip(b, q))
            print(
                f"| MG {h}-step ahead | {source} MG | NRMSE (min-max) | {stats(b)} | {stats(q)} | "
                f"{np.median(b) / np.median(q):.2f} | {wins}/{seeds} seeds |"
            )


def parity(seeds: int = 5) -> None:
    """reservoirpy's drawn matrices loaded into boucle: the two computations agree."""
    worst = 0.0
    for s in range(seeds):
        for h, (xtr, ytr, xte, _) in ((1, one_step_data(s, "reservoirpy")), (10, horizon_data(s, "reservoirpy", 10))):
            ridge, warm = (1e-5, 100) if h == 1 else (1e-8, 0)
            rp_res = RpReservoir(100, sr=1.25, lr=0.3, input_connectivity=0.1 if h == 1 else 0.2, seed=s)
            rp = rp_res >> RpRidge(ridge=ridge)
            rp.fit(xtr, ytr, warmup=warm)
            p_rp = rp.run(xte)
            esn = ESN(100, spectral_radius=1.25, leak_rate=0.3, ridge=ridge, seed=s, input_dim=1)
            W = rp_res.W.T.tocsr()  # reservoirpy: x_t = f(W x + Win u); boucle: x @ W, u @ W_in
            W.sort_indices()
            esn.reservoir.set_weights(
                {
                    "reservoir/W_in": rp_res.Win.toarray().T.copy(),
                    "reservoir/b": np.zeros(100),
                    "reservoir/W/data": W.data,
                    "reservoir/W/indices": W.indices.astype(np.int32),
                    "reservoir/W/indptr": W.indptr.astype(np.int32),
                }
            )
            esn.fit(xtr, ytr, warmup=warm)
            worst = max(worst, float(np.abs(esn.predict(xte, initial_state="last") - p_rp).max()))
    print(
        f"\nParity: reservoirpy's matrices loaded into boucle ({seeds} seeds, one-step and 10-step tasks): "
        f"max |prediction difference| = {worst:.1e}"
    )


def timing(sizes: list[int], reps: dict[int, tuple[int, int]], cpu: bool = False) -> None:
    clock = time.process_time if cpu else time.perf_counter
    what = "CPU time, one BLAS thread" if cpu else "wall time"
    print(f"\n### Fit + predict {what} (MG one-step task, construction included; medians)\n")
    print("| units | boucle | reservoirpy 0.4.2 | ratio boucle/reservoirpy | runs (boucle, reservoirpy) |")
    print("|---|---|---|---|---|")
    d = one_step_data(0, "boucle")
    for units in sizes:
        nb, nr = reps.get(units, (5, 5))
        tb, tr = [], []
        for i in range(max(nb, nr)):  # interleaved, alternating who goes first
            order = [("b", boucle_one_step), ("r", rp_one_step)]
            if i % 2:
                order.reverse()
            for who, fn in order:
                if (who == "b" and i >= nb) or (who == "r" and i >= nr):
                    continue
                t0 = clock()
                fn(d, units, i)
                (tb if who == "b" else tr).append(clock() - t0)
        mb, mr = statistics.median(tb), statistics.median(tr)
        print(f"| {units} | {mb:.3f} s | {mr:.3f} s | {mb / mr:.3f}x | {nb}, {nr} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--sizes", default="100,1000,5000")
    p.add_argument("--reps-small", type=int, default=21, help="timed runs per library at 100 units")
    p.add_argument("--reps-large", type=int, default=2, help="timed reservoirpy runs at 5000 units (~3 min each)")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--cpu", action="store_true", help="time the process's CPU time on one BLAS thread")
    p.add_argument(
        "--backend",
        choices=["serial", "processes", "dask"],
        default=None,
        help="where the accuracy seeds run (default serial; processes with --workers)",
    )
    p.add_argument("--workers", type=int, default=None, help="local workers (processes, or a Dask LocalCluster)")
    p.add_argument("--scheduler", default=None, help="a running Dask scheduler, tcp://HOST:PORT")
    args = p.parse_args()
    warnings.simplefilter("ignore")  # spectral radius 1.25 warns (EchoStateWarning), as intended
    print(machine_line())
    print(f"boucle {boucle.__version__}, reservoirpy {reservoirpy.__version__}")
    fast = getattr(reservoir_module, "FAST_ENABLED", False)  # absent before the compiled loop existed
    print(f"boucle state loop: {'compiled (numba)' if fast else 'reference (NumPy/SciPy)'}")
    if not args.skip_accuracy:
        parity()
        name = args.backend or (
            "processes" if args.workers and not args.scheduler else (None if args.scheduler else "serial")
        )
        with make_backend(name, args.workers, args.scheduler) as backend:
            accuracy(args.seeds, backend)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    reps = {100: (args.reps_small, args.reps_small), 1000: (7, 7), 5000: (3, args.reps_large)}
    if args.cpu:
        with blas_threads(1):
            timing(sizes, reps, cpu=True)
    else:
        timing(sizes, reps)


if __name__ == "__main__":
    main()
