"""Searches on one machine and beyond: speed-up, scheduler overhead, and the best ESN a search finds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src \\
        python bench/search.py scaling [--trials 40 --reps 3 --units 500]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src python bench/search.py overhead [--trials 200]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src python bench/search.py best [--trials 200 --workers 2]

- ``scaling``: a ``--trials``-trial random search of the ``esn-mackey-glass`` recipe (``--units``,
  default 500 as in reservoirpy's tutorial search; one-step; the tutorial's space), run in turn —
  interleaved, ``--reps`` times — in this process (serial), on 1 and 2 local processes and on a Dask
  LocalCluster of 1 and 2 workers. Workers are started and warmed (imports, data) before the clock starts; their
  start-up is reported apart. Every run's records are checked identical to the serial run's.
  "Trials running at once" is the trials' summed wall time over the search's: 2.0 means both
  workers were busy all along; "median trial" shows how much slower each trial ran.
- ``overhead``: ``--trials`` trials that do nothing, on each backend with one worker: the
  wall time per trial is what the coordinator, the backend and the results file cost.
- ``best``: a ``--trials``-trial search per task (one-step in reservoirpy's README layout, 10-
  and 100-step ahead in its tutorial-1 layout), 3 seeds per configuration; then the best
  configuration and reservoirpy's published hyper-parameters on the same ``--eval-seeds``
  fresh reservoirs, test NRMSE (min-max) / RMSE, medians.

Quote the machine's load (``uptime``) with the numbers: other processes take cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
from boucle.search import identical, make_backend, parse_spec, run_search  # noqa: E402
from boucle.search.recipes import esn_mackey_glass  # noqa: E402
from boucle.search.trial import trial_seed  # noqa: E402

ESN_SPACE = {
    "spectral_radius": ["loguniform", 1e-2, 10],
    "leak_rate": ["loguniform", 1e-3, 1],
    "input_scaling": ["loguniform", 0.1, 10],
    "ridge": ["loguniform", 1e-8, 10],
    "units": 100,
}


def noop(config, seed):
    """A trial that does nothing (the overhead measurement)."""
    return {"loss": float(config["x"])}


def warm(backend) -> float:
    """Start every worker and import what a trial needs; returns the seconds it took."""
    t0 = time.perf_counter()
    futures = [backend.submit(esn_mackey_glass, {"units": 100}, 0) for _ in range(2 * backend.workers)]
    while futures:
        done, futures = backend.wait(futures)
    return time.perf_counter() - t0


def _timed(spec, backend, out) -> tuple[float, list]:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    res = run_search(spec, backend, out=out, progress=False, report=False)
    return time.perf_counter() - t0, res.records


def scaling(trials: int, reps: int, units: int) -> None:
    spec = parse_spec(
        {
            "recipe": "esn-mackey-glass",
            "method": "random",
            "trials": trials,
            "seed": 42,
            "space": {**ESN_SPACE, "units": units},
        }
    )
    tmp = tempfile.mkdtemp(prefix="bench-search-")
    setups = [
        ("serial", "serial", None),
        ("processes x1", "processes", 1),
        ("processes x2", "processes", 2),
        ("dask LocalCluster x1", "dask", 1),
        ("dask LocalCluster x2", "dask", 2),
    ]
    backends, startup = {}, {}
    for name, kind, n in setups:
        t0 = time.perf_counter()
        backends[name] = make_backend(kind, n)
        startup[name] = time.perf_counter() - t0 + warm(backends[name])
    times: dict[str, list[float]] = {name: [] for name, _, _ in setups}
    busy: dict[str, list[float]] = {name: [] for name, _, _ in setups}  # summed trial seconds / wall
    per_trial: dict[str, list[float]] = {name: [] for name, _, _ in setups}
    reference = None
    try:
        for rep in range(reps):
            order = setups if rep % 2 == 0 else setups[::-1]
            for name, _, _ in order:
                t, records = _timed(spec, backends[name], os.path.join(tmp, name.replace(" ", "_")))
                times[name].append(t)
                busy[name].append(sum(r["seconds"] for r in records) / t)
                per_trial[name].append(statistics.median(r["seconds"] for r in records))
                if reference is None:
                    reference = records
                assert identical(records, reference), f"{name}: records differ from the first run's"
                print(f"  rep {rep + 1} {name}: {t:.2f} s", flush=True)
    finally:
        for b in backends.values():
            b.close()
        shutil.rmtree(tmp, ignore_errors=True)
    trial_cpu = statistics.median(r["seconds"] for r in reference)
    print(
        f"\n{trials}-trial ESN search, {units} units (median trial {trial_cpu * 1000:.0f} ms); medians of {reps}; "
        "all runs bit-identical to the first\n"
    )
    print(
        "| backend | start-up + warm-up | search | speed-up vs serial | vs 1 worker of the same backend "
        "| median trial | trials running at once |"
    )
    print("|---|---|---|---|---|---|---|")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, kind, n in setups:
        one = {"processes": "processes x1", "dask": "dask LocalCluster x1"}.get(kind)
        vs_one = f"{med[one] / med[name]:.2f}x" if one and n != 1 else ""
        print(
            f"| {name} | {startup[name]:.1f} s | {med[name]:.2f} s ({', '.join(f'{t:.1f}' for t in times[name])}) "
            f"| {med['serial'] / med[name]:.2f}x | {vs_one} | {statistics.median(per_trial[name]) * 1000:.0f} ms "
            f"| {statistics.median(busy[name]):.2f} |"
        )


def overhead(trials: int) -> None:
    spec = parse_spec(
        {
            "objective": f"{os.path.abspath(__file__)}:noop",
            "method": "random",
            "trials": trials,
            "seed": 0,
            "metric": "loss",
            "space": {"x": ["uniform", 0, 1]},
        }
    )
    tmp = tempfile.mkdtemp(prefix="bench-overhead-")
    print(f"\n{trials} trials that do nothing, one worker: wall time per trial (median of 3)\n")
    print("| backend | per trial |")
    print("|---|---|")
    try:
        for name, kind in (("serial", "serial"), ("processes x1", "processes"), ("dask LocalCluster x1", "dask")):
            with make_backend(kind, 1) as backend:
                warm(backend)
                ts = [_timed(spec, backend, os.path.join(tmp, kind))[0] for _ in range(3)]
            print(f"| {name} | {statistics.median(ts) / trials * 1000:.2f} ms |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TASKS = {  # name: (fixed config, reservoirpy's published hyper-parameters, its published figure)
    "one-step (README layout)": (
        {"horizon": 1, "layout": "readme"},
        {"spectral_radius": 1.25, "leak_rate": 0.3, "input_scaling": 1.0, "ridge": 1e-5},
        ("test_rmse", 0.0020),
    ),
    "10-step (tutorial layout)": (
        {"horizon": 10, "layout": "tutorial"},
        {"spectral_radius": 1.25, "leak_rate": 0.3, "input_scaling": 1.0, "ridge": 1e-8},
        ("test_nrmse", 0.0069),
    ),
    "100-step (tutorial layout)": (
        {"horizon": 100, "layout": "tutorial"},
        {"spectral_radius": 1.25, "leak_rate": 0.3, "input_scaling": 1.0, "ridge": 1e-8},
        ("test_nrmse", 0.054),
    ),
}


def best(trials: int, workers: int | None, eval_seeds: int, out: str) -> None:
    print(
        f"\nbest of a {trials}-trial random search (3 seeds per configuration, ranked by validation NRMSE) "
        f"vs reservoirpy's hyper-parameters, 100 units, on {eval_seeds} fresh reservoirs (medians)\n"
    )
    print(
        "| task | metric | search's best | reservoirpy's hyper-parameters (boucle) | reservoirpy published | "
        "best configuration | search time |"
    )
    print("|---|---|---|---|---|---|---|")
    with make_backend("processes", workers) as backend:
        for task, (fixed, published, (metric, figure)) in TASKS.items():
            spec = parse_spec(
                {
                    "recipe": "esn-mackey-glass",
                    "method": "random",
                    "trials": trials,
                    "seeds": 3,
                    "seed": 2024,
                    "space": {**ESN_SPACE, **fixed},
                    "name": task.split()[0],
                }
            )
            folder = os.path.join(out, task.split()[0])
            shutil.rmtree(folder, ignore_errors=True)
            t0 = time.perf_counter()
            res = run_search(spec, backend, out=folder, progress=False)
            seconds = time.perf_counter() - t0
            seeds = [trial_seed(99, r) for r in range(eval_seeds)]  # reservoirs the search never saw
            cfg = {k: v for k, v in res.best["config"].items()}
            found = [esn_mackey_glass(cfg, s)[metric] for s in seeds]
            ref = [esn_mackey_glass({**fixed, **published, "units": 100}, s)[metric] for s in seeds]
            shown = ", ".join(f"{k} {cfg[k]:.3g}" for k in ("spectral_radius", "leak_rate", "input_scaling", "ridge"))
            print(
                f"| {task} | {metric} | {np.median(found):.4g} | {np.median(ref):.4g} | {figure} | {shown} | "
                f"{seconds:.0f} s |",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["scaling", "overhead", "best"])
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--eval-seeds", type=int, default=10)
    p.add_argument(
        "--units",
        type=int,
        default=500,
        help="reservoir size of the scaling search (reservoirpy's tutorial searches N = 500)",
    )
    p.add_argument("--out", default="runs/bench-search")
    args = p.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} (1 min) at start")
    if args.what == "scaling":
        scaling(args.trials or 40, args.reps, args.units)
    elif args.what == "overhead":
        overhead(args.trials or 200)
    else:
        best(args.trials or 200, args.workers, args.eval_seeds, args.out)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")


if __name__ == "__main__":
    main()
