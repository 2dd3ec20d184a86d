"""Liquid state machine beside echo state network at equal neuron count, and the liquid's simulation speed.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/lsm.py --jv-dir /tmp/jv

Tasks (the ESN's, docs/reservoir.md):

1. Mackey-Glass one-step forecast (reservoirpy's README split: 2000 steps, 1599 train /
   400 test pairs, warm-up 100); NRMSE normalised by the standard deviation.
2. Mackey-Glass 10-step-ahead forecast (reservoirpy's tutorial: 2510 steps rescaled to
   [-1, 1], 2000 train pairs, no warm-up); NRMSE (std).
3. JapaneseVowels (UEA, 270 train / 370 test utterances of 12 LPC coefficients, 9
   speakers), accuracy with the last-state readout and with per-step votes
   (transduction). The .ts files come from the sktime wheel (see --jv-dir).
4. Memory capacity (Jaeger 2001): i.i.d. U[-0.8, 0.8] input, delays 1..300.

ESN: the published settings (reservoirpy's README / tutorials) at the given size.
LSM: Maass et al.'s liquid (boucle defaults) with the input centred by the training
mean, input_connectivity 1, background currents U[12, 15] nA; input gain, hold time,
readout filter and ridge chosen by a small grid on a validation split of the training
data (last 400 training pairs; 20 % of the training utterances), then trained on the
whole training set; ``--seeds`` seeds (liquid and reservoir draws). JapaneseVowels
features are standardised with the training set's mean and std for both models.

Timing: microseconds per simulated step of a 1000-neuron liquid (one sequence, and 64
sequences together), interleaved with the ESN's reservoir step at 1000 units.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402

from boucle.data.tasks.timeseries import mackey_glass, to_forecasting  # noqa: E402
from boucle.reservoir import (  # noqa: E402
    ESN,
    LSM,
    ESNClassifier,
    LIFReservoir,
    LSMClassifier,
    Reservoir,
    Ridge,
    memory_capacity,
    nrmse,
)

LIQUID = dict(input_connectivity=1.0, background=(12.0, 15.0))


def fmt(v: list[float], d: int = 4) -> str:
    return f"{np.mean(v):.{d}f} ± {np.std(v):.{d}f}" if len(v) > 1 else f"{v[0]:.{d}f}"


# ----------------------------------------------------------------- forecasting
def mg_one_step():
    x, y = to_forecasting(mackey_glass(2000, seed=0), 1)
    return x[:1599], y[:1599], x[1599:], y[1599:], 100, dict(spectral_radius=1.25, leak_rate=0.3, ridge=1e-5)


def mg_ten_step():
    s = mackey_glass(2510, seed=0)
    s = 2 * (s - s.min()) / (s.max() - s.min()) - 1
    x, y = to_forecasting(s, 10)
    return (
        x[:2000],
        y[:2000],
        x[2000:],
        y[2000:],
        0,
        dict(spectral_radius=1.25, leak_rate=0.3, ridge=1e-8, input_connectivity=0.2),
    )


def lsm_forecast(units, cfg, xtr, ytr, xte, warmup, seed):
    m = xtr.mean()
    lsm = LSM(units, seed=seed, **LIQUID, **cfg).fit(xtr - m, ytr, warmup=warmup)
    return lsm.predict(xte - m, initial_state="last")


def forecasting(name, data, units, seeds):
    xtr, ytr, xte, yte, warmup, esn_cfg = data
    grid = [
        dict(input_scaling=g, input_duration=20.0, tau_readout=tr, ridge=r)
        for g, tr, r in itertools.product((40.0, 80.0), (10.0, 30.0), (1.0, 10.0, 100.0))
    ]
    val = [nrmse(ytr[-400:], lsm_forecast(units, c, xtr[:-400], ytr[:-400], xtr[-400:], warmup, 0)) for c in grid]
    best = grid[int(np.argmin(val))]
    esn = [
        nrmse(yte, ESN(units, seed=s, **esn_cfg).fit(xtr, ytr, warmup=warmup).predict(xte, initial_state="last"))
        for s in range(seeds)
    ]
    lsm = [nrmse(yte, lsm_forecast(units, best, xtr, ytr, xte, warmup, s)) for s in range(seeds)]
    base = nrmse(yte, Ridge(1e-8).fit(xtr, ytr).predict(xte))
    print(
        f"| {name} NRMSE (std) | {units} | {fmt(esn)} | {fmt(lsm)} | linear readout of u_t alone: {base:.4f}; "
        f"LSM {best} |",
        flush=True,
    )


# ----------------------------------------------------------------- classification
def japanese_vowels(folder, units, seeds):
    from boucle.data.loaders import load_ts

    tr = load_ts(os.path.join(folder, "JapaneseVowels_TRAIN.ts"))
    te = load_ts(os.path.join(folder, "JapaneseVowels_TEST.ts"))
    allx = np.concatenate(tr.x)
    mu, sd = allx.mean(0), allx.std(0)
    Xtr, Xte = [(x - mu) / sd for x in tr.x], [(x - mu) / sd for x in te.x]
    perm = np.random.default_rng(0).permutation(len(Xtr))
    fit_i, val_i = perm[: int(0.8 * len(Xtr))], perm[int(0.8 * len(Xtr)) :]
    ytr = np.asarray(tr.y)
    for mode in ("last", "transduction"):
        warmup = 2 if mode == "transduction" else 0
        grid = [
            dict(input_scaling=g, input_duration=d, ridge=r)
            for g, d, r in itertools.product((10.0, 20.0), (10.0, 20.0), (1e-2, 1.0))
        ]
        val = []
        for c in grid:
            clf = LSMClassifier(units, mode=mode, seed=0, **LIQUID, **c)
            clf.fit([Xtr[i] for i in fit_i], ytr[fit_i], warmup=warmup)
            val.append(clf.score([Xtr[i] for i in val_i], ytr[val_i]))
        best = grid[int(np.argmax(val))]
        esn = [
            ESNClassifier(
                units,
                mode=mode,
                spectral_radius=0.9,
                leak_rate=0.1,
                ridge=1e-6,
                input_to_readout=mode == "transduction",
                seed=s,
            )
            .fit(Xtr, ytr, warmup=warmup)
            .score(Xte, te.y)
            for s in range(seeds)
        ]
        lsm = [
            LSMClassifier(units, mode=mode, seed=s, **LIQUID, **best).fit(Xtr, ytr, warmup=warmup).score(Xte, te.y)
            for s in range(seeds)
        ]
        print(f"| JapaneseVowels accuracy, {mode} | {units} | {fmt(esn, 3)} | {fmt(lsm, 3)} | LSM {best} |", flush=True)


# ----------------------------------------------------------------- memory
def memory(units, seeds):
    k = 300
    esn = [
        memory_capacity(ESN(units, spectral_radius=0.9, input_scaling=0.1, seed=s), k_max=k, seed=100 + s)
        for s in range(seeds)
    ]
    grid = [dict(input_scaling=g, input_duration=d) for g, d in itertools.product((20.0, 40.0), (5.0, 20.0))]
    val = [memory_capacity(LSM(units, seed=0, **LIQUID, **c), k_max=k, ridge=1.0, seed=99) for c in grid]
    best = grid[int(np.argmax(val))]
    lsm = [
        memory_capacity(LSM(units, seed=s, **LIQUID, **best), k_max=k, ridge=1.0, seed=100 + s) for s in range(seeds)
    ]
    print(
        f"| memory capacity (delays 1..{k}) | {units} | {fmt(esn, 1)} | {fmt(lsm, 1)} | LSM {best}, readout ridge 1 |",
        flush=True,
    )


# ----------------------------------------------------------------- speed
def timing(reps: int = 7) -> None:
    H, T = 1000, 200
    liq = LIFReservoir(H, seed=0, input_dim=1, **LIQUID)
    res = Reservoir(H, seed=0, input_dim=1)
    rng = np.random.default_rng(0)
    u1 = rng.uniform(-1, 1, (T, 1))
    u64 = rng.uniform(-1, 1, (64, T // 10, 1))
    t = {"lif1": [], "lif64": [], "esn1": []}
    for _ in range(reps):  # interleaved
        t0 = time.perf_counter()
        liq.run(u1)
        t["lif1"].append((time.perf_counter() - t0) / (T * liq.steps_per_input))
        t0 = time.perf_counter()
        liq.run(u64)
        t["lif64"].append((time.perf_counter() - t0) / (T // 10 * liq.steps_per_input))
        t0 = time.perf_counter()
        res.run(np.repeat(u1, 10, axis=0))
        t["esn1"].append((time.perf_counter() - t0) / (10 * T))
    m = {k: statistics.median(v) * 1e6 for k, v in t.items()}
    print(
        f"\n1000 neurons, dt = {liq.dt} ms ({liq.steps_per_input} steps per input step), medians of {reps}: "
        f"LIF liquid {m['lif1']:.1f} µs per simulated step (one sequence); {m['lif64']:.0f} µs per step for "
        f"64 sequences together ({m['lif64'] / 64:.1f} µs per sequence-step); tanh reservoir "
        f"{m['esn1']:.1f} µs per step."
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--units", default="500")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--jv-dir", help="folder with JapaneseVowels_TRAIN.ts / _TEST.ts (skipped without)")
    p.add_argument("--only", default="mg1,mg10,jv,mc,time")
    args = p.parse_args()
    warnings.simplefilter("ignore")  # spectral radius 1.25 warns (EchoStateWarning), as intended
    only = set(args.only.split(","))
    print(machine())
    print("\n| task | neurons | ESN | LSM | notes |\n|---|---|---|---|---|")
    for units in (int(u) for u in args.units.split(",")):
        if "mg1" in only:
            forecasting("MG one-step", mg_one_step(), units, args.seeds)
        if "mg10" in only:
            forecasting("MG 10-step", mg_ten_step(), units, args.seeds)
        if "jv" in only and args.jv_dir:
            japanese_vowels(args.jv_dir, units, args.seeds)
        if "mc" in only:
            memory(units, args.seeds)
    if "time" in only:
        timing()


if __name__ == "__main__":
    main()
