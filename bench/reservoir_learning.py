"""Learning reservoirs and external recurrence: intrinsic plasticity, output feedback, cold starts.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/reservoir_learning.py

1. Intrinsic plasticity (Schrauwen et al. 2008) at equal size: Mackey-Glass one-step
   NRMSE (reservoirpy's README task and settings, 100 units) and memory capacity
   (100 units, spectral radius 0.9, input scaling 0.1, delays 1..200), without IP and
   after IP toward N(0, sigma^2) (learning rate 5e-4, 10 epochs, on the training
   inputs / on an independent input draw), over ``--seeds`` seeds.
2. Free-running Mackey-Glass: the signal is tanh(x - 1) (Jaeger & Haas 2004); 30 test
   start points, each after 500 teacher-forced steps; horizon = steps until the
   one-step error exceeds 0.1 std of the signal (median over the starts, capped at
   1500); NRMSE84 = rms error 84 steps ahead / std, over the starts (J&H's measure,
   100 starts there). Ridge (and feedback scaling) picked on 30 validation starts.
   Rows: reservoirpy's 100-unit setting closed through the input (no feedback) and
   as a feedback generator; J&H's setting (1000 units, 1 % connectivity, spectral
   radius 0.8, constant input 0.02, feedback weights U[-0.56, 0.56], teacher noise
   1e-10, 1000 washout + 2000 training steps) with feedback, and the same reservoir
   closed through the input instead (the feedback weights become the input weights,
   the constant input a bias): the same loop, wired the other way.
3. The porting pitfall: reservoirpy's README task, ``predict(x_test)`` from zeros vs
   ``predict(x_test, initial_state="last")`` (what reservoirpy's ``run`` computes).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402

from boucle.data.tasks.timeseries import mackey_glass, to_forecasting  # noqa: E402
from boucle.reservoir import ESN, IntrinsicPlasticity, forecast_horizon, memory_capacity, nrmse, rmse  # noqa: E402

MG_README = dict(spectral_radius=1.25, leak_rate=0.3)


def ms(v, d=4):
    return f"{np.mean(v):.{d}f} ± {np.std(v):.{d}f}"


# ----------------------------------------------------------------- 1. intrinsic plasticity
def plasticity(seeds: int) -> None:
    x, y = to_forecasting(mackey_glass(2000, seed=0), 1)
    xtr, ytr, xte, yte = x[:1599], y[:1599], x[1599:], y[1599:]
    print("\n### Intrinsic plasticity, 100 units (mean ± std over seeds)\n")
    print(
        "| measure | no IP | IP sigma 0.1 | IP sigma 0.2 | IP sigma 0.4 | KL to N(0, 0.2²) before → after (sigma 0.2) |"
    )
    print("|---|---|---|---|---|---|")
    rows = {"nrmse": {}, "mc": {}}
    kl = []
    for s in range(seeds):
        for sigma in (None, 0.1, 0.2, 0.4):
            esn = ESN(100, ridge=1e-5, seed=s, **MG_README)
            if sigma is not None:
                ip = IntrinsicPlasticity(sigma=sigma, learning_rate=5e-4, epochs=10, warmup=100).fit(esn, xtr)
                if sigma == 0.2:
                    kl.append((ip.kl_[0][0], ip.kl_[0][-1]))
            esn.fit(xtr, ytr, warmup=100)
            rows["nrmse"].setdefault(sigma, []).append(nrmse(yte, esn.predict(xte, initial_state="last")))
            mc_esn = ESN(100, spectral_radius=0.9, input_scaling=0.1, seed=s)
            if sigma is not None:
                u = np.random.default_rng(1000 + s).uniform(-0.8, 0.8, (2000, 1))
                IntrinsicPlasticity(sigma=sigma, learning_rate=5e-4, epochs=10, warmup=100).fit(mc_esn, u)
            rows["mc"].setdefault(sigma, []).append(memory_capacity(mc_esn, k_max=200, seed=s))
    k0, k1 = np.mean(kl, axis=0)
    for name, label, d in (("nrmse", "MG one-step NRMSE (std)", 4), ("mc", "memory capacity", 1)):
        r = rows[name]
        print(
            f"| {label} | "
            + " | ".join(ms(r[k], d) for k in (None, 0.1, 0.2, 0.4))
            + (f" | {k0:.3f} → {k1:.3f} (first → tenth epoch) |" if name == "nrmse" else " | |")
        )


# ----------------------------------------------------------------- 2. free-running horizon
def _segments(s, first, n=30, W=500, K=1500, gap=160):
    st = first + np.arange(n) * gap
    return np.stack([s[i - W : i] for i in st]), np.stack([s[i : i + K] for i in st])


def _score(gen, fut, std):
    hz = [forecast_horizon(fut[i], gen[i], 0.1, scale=std) for i in range(len(gen))]
    e84 = float(np.sqrt(np.mean((gen[:, 83, 0] - fut[:, 83, 0]) ** 2)) / std)
    return float(np.median(hz)), e84


def _run(kind, make, s, seg, c=0.02):
    """Horizon and NRMSE84 of one model on the segments ``seg = (warm, future)``."""
    warm, fut = seg
    std = float(s.std())
    esn = make()
    N, W, _ = warm.shape
    if kind == "feedback":  # generator: constant input, the output re-enters through W_fb
        esn.fit(np.full((3000, 1), c), s[:3000], warmup=1000)
        esn.predict(np.full((N, W, 1), c), initial_state=None, teacher=warm)
        gen = esn.predict(np.full((N, fut.shape[1], 1), c), initial_state="last")
    else:  # one-step forecaster closed through its input (generate)
        esn.fit(s[:2999], s[1:3000], warmup=1000)
        gen = esn.generate(fut.shape[1], warmup_inputs=warm)  # gen[:, 0] predicts s[start]
    return _score(gen, fut, std)


def horizon() -> None:
    s = np.tanh(mackey_glass(16500, seed=0, discard=500) - 1.0)
    val, test = _segments(s, 3500), _segments(s, 10000)  # starts 3500..8140 and 10000..14640
    rng_fb = np.random.default_rng(1)
    jh_fb = rng_fb.uniform(-0.56, 0.56, (1, 1000))

    def rp(ridge, fb=0.0):
        return lambda: ESN(
            100,
            ridge=ridge,
            feedback_scaling=fb,
            feedback_connectivity=1.0,
            feedback_noise=1e-10 if fb else 0.0,
            bias_scaling=0.0,
            seed=0,
            **MG_README,
        )

    def jh(ridge, fb=True):
        def make():
            esn = ESN(
                1000,
                spectral_radius=0.8,
                connectivity=0.01,
                input_connectivity=1.0,
                input_scaling=1.0,
                feedback_scaling=0.56 if fb else 0.0,
                feedback_connectivity=1.0,
                feedback_noise=1e-10 if fb else 0.0,
                ridge=ridge,
                seed=0,
            )
            if fb:
                esn.W_fb = jh_fb.copy()  # J&H: uniform feedback weights (boucle draws +-scaling)
            else:  # the same reservoir, its loop closed through the input: the generator's weights moved over
                res = esn.reservoir
                res.build(1)
                res.b = (0.02 * res.W_in[0]).astype(res.dtype)  # the generator's constant input 0.02, as a bias
                res.W_in = jh_fb.copy()  # the generator's feedback weights, now input weights
            return esn

        return make

    rows = [
        (
            "100 units, reservoirpy MG setting, closed through the input (no feedback)",
            "input",
            [(f"ridge {r:g}", rp(r)) for r in (1e-9, 1e-7, 1e-5)],
        ),
        (
            "100 units, same reservoir, output feedback (generator, constant input)",
            "feedback",
            [(f"ridge {r:g}, W_fb ±{fb}", rp(r, fb)) for r in (1e-9, 1e-7, 1e-5) for fb in (0.1, 0.56, 1.0)],
        ),
        (
            "1000 units, Jaeger & Haas 2004 setting, output feedback (the anchor)",
            "feedback",
            [(f"ridge {r:g}", jh(r)) for r in (1e-11, 1e-10, 1e-9)],
        ),
        (
            "1000 units, the same reservoir and weights, closed through the input (no feedback)",
            "input",
            [(f"ridge {r:g}", jh(r, fb=False)) for r in (1e-11, 1e-10, 1e-9)],
        ),
    ]
    print("\n### Free-running Mackey-Glass, tanh(x - 1) (test: 30 starts)\n")
    print("| model | chosen on validation | horizon (steps, median) | NRMSE84 | log10 NRMSE84 |")
    print("|---|---|---|---|---|")
    for label, kind, grid in rows:
        scores = [_run(kind, make, s, val) for _, make in grid]
        i = int(np.argmax([h - e for h, e in scores]))
        h, e = _run(kind, grid[i][1], s, test)
        print(f"| {label} | {grid[i][0]} | {h:.0f} | {e:.2e} | {np.log10(e):.1f} |", flush=True)
    print("| Jaeger & Haas 2004, reported (their MG data, 100 starts) | | | 6.3e-05 | -4.2 |")


# ----------------------------------------------------------------- 3. cold start
def cold_start(seeds: int) -> None:
    ratios = []
    for sd in range(seeds):
        x, y = to_forecasting(mackey_glass(2000, seed=sd), 1)
        xtr, ytr, xte, yte = x[:1599], y[:1599], x[1599:], y[1599:]
        esn = ESN(100, ridge=1e-5, seed=sd, **MG_README).fit(xtr, ytr, warmup=100)
        warm = rmse(yte, esn.predict(xte, initial_state="last"))
        cold = rmse(yte, esn.predict(xte, initial_state=None))
        ratios.append(cold / warm)
    print(
        f"\n### Cold start (reservoirpy's README task, {seeds} seeds)\n\nRMSE from zeros / RMSE continuing "
        f"the training run: median {np.median(ratios):.1f}x, range {min(ratios):.1f}x-{max(ratios):.1f}x"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--only", default="ip,horizon,cold")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    only = set(args.only.split(","))
    print(machine())
    if "cold" in only:
        cold_start(30)
    if "ip" in only:
        plasticity(args.seeds)
    if "horizon" in only:
        horizon()


if __name__ == "__main__":
    main()
