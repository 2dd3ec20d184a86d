"""Convolutional networks: one training step of seed 003's CNN and autoencoder, boucle vs torch 2.13 CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/conv.py [--threads 1|2] [--rounds 5] [--no-mem]

Models (batch 64, 28×28×1 images, float32):

* **cnn** — the seed's model as written: Conv2D(32, 3×3, relu) → MaxPooling2D(2) → Dropout(0.2)
  → Conv2D(64) → … → Conv2D(128) → … → Flatten → Dense(128, relu) → Dense(25, softmax),
  categorical cross-entropy, Adam;
* **ae** — the seed's autoencoder (``examples/conv_autoencoder.py``): Conv2D(8, same) →
  MaxPooling2D(same), twice; Conv2D(8) → UpSampling2D, twice; Conv2D(1, sigmoid);
  binary cross-entropy, Adam.

boucle's step is ``model.train_on_batch`` (forward, loss, backward, Adam). The torch twin is
``boucle.interop.to_torch(model)`` — the same modules and weights, channels-first — trained
with ``torch.optim.Adam`` on the same loss written on probabilities, dropout active in both.
Inference = the forward pass without gradients (``training=False`` / ``torch.no_grad``, eval mode).
Both run in this process, timed block-interleaved with rotating order (``bench/common.py``),
medians. ``--threads 1`` pins NumPy's BLAS and torch to one thread and measures CPU time
(``time.process_time``: robust to other load on a shared machine); ``--threads 2`` measures
wall time with two threads per library.

GEMM efficiency: every convolution matrix product of boucle's step (forward ``X_col W``,
``dW = X_colᵀ dA``, and dx̃ — ``dA Wᵀ`` per kernel offset, or the gather's ``dA_col rot180(W)``
where ``ops.conv.dx_by_gather`` picks it), replayed with the shapes the step uses and timed
alone; effective GFLOP/s (2·N·K·O useful flops per product, N = B·Ho·Wo, K = kh·kw·C)
against a float32 NumPy GEMM of 1024×1024×1024 timed in the same run.
Memory = growth of the peak resident set over one training step of batch 64 (VmHWM reset
through /proc/self/clear_refs, Linux), each side in a fresh subprocess after a warm-up step of
batch 2: activations, caches and gradients of the step.
Targets: ≤ 1.5× torch's time on every row; the convolution GEMMs at ≥ 50 % of the GEMM peak.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402
from common import interleaved, machine  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import boucle  # noqa: E402,F401  (first: loads the BLAS libraries that the thread limits must reach)
from boucle.interop import to_torch  # noqa: E402
from boucle.layers import Conv2D  # noqa: E402
from boucle.ops.conv import dx_by_gather, offset_major_product  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = 64
TARGET = 1.5


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(kind: str):
    """(boucle model, torch twin, x, y as numpy, loss_fn(torch_out, torch_y))."""
    rng = np.random.default_rng(0)
    x = rng.random((B, 28, 28, 1), dtype=np.float32)
    if kind == "cnn":
        model = _example("cnn_classifier").build_cnn(25, seed=0)
        y = np.eye(25, dtype=np.float32)[rng.integers(0, 25, B)]

        def loss_fn(out, yt):
            return -(yt * out.clamp_min(1e-7).log()).sum(1).mean()
    else:
        model = _example("conv_autoencoder").build_autoencoder(8, seed=0)
        y = x

        def loss_fn(out, yt):
            return torch.nn.functional.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), yt)

    net = to_torch(model)
    return model, net, x, y, loss_fn


def step_fns(kind: str, batch: int = B) -> dict:
    model, net, x, y, loss_fn = build(kind)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def train_fns(n: int) -> dict:
        xb, yb = x[:n], y[:n]
        xt = torch.from_numpy(np.moveaxis(xb, -1, 1).copy())
        yt = torch.from_numpy(np.moveaxis(yb, -1, 1).copy() if yb.ndim == 4 else yb)

        def t_train():
            net.train()
            opt.zero_grad()
            loss_fn(net(xt), yt).backward()
            opt.step()

        return {"boucle": lambda: model.train_on_batch(xb, yb), "torch": t_train}

    xt = torch.from_numpy(np.moveaxis(x[:batch], -1, 1).copy())

    def t_infer():
        net.eval()
        with torch.no_grad():
            net(xt)

    return {
        "train": train_fns(batch),
        "rebatch": train_fns,
        "infer": {"boucle": lambda: model.forward(x[:batch], training=False), "torch": t_infer},
        "model": model,
        "x": x[:batch],
    }


def conv_products(model, x) -> list[tuple]:
    """(layer name, [(flops, fn)...]): every convolution matrix product of one training step,
    called through the same functions as boucle's step, on arrays of the step's shapes."""
    rng = np.random.default_rng(0)
    out, shape = [], x.shape[1:]
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            W = layer.params["W"]
            kh, kw, C, O = W.shape
            Ho, Wo = layer.compute_output_shape(shape)[:2]
            N, K = B * Ho * Wo, kh * kw * C
            cols = rng.random((N, K), dtype=np.float32)
            da = rng.random((N, O), dtype=np.float32)
            W2, Wk = W.reshape(K, O), W.reshape(kh * kw, C, O)
            f = 2 * N * K * O
            if dx_by_gather(layer.strides, C, O):  # dx̃ = dA_pad ⋆ rot180(W)
                Hp, Wp = Ho + kh - 1, Wo + kw - 1
                gcols = rng.random((B * Hp * Wp, kh * kw * O), dtype=np.float32)
                Wf = np.ascontiguousarray(W[::-1, ::-1].transpose(0, 1, 3, 2).reshape(kh * kw * O, C))
                dx = (f, lambda c=gcols, w=Wf: c @ w)
            else:
                dx = (f, lambda d=da, w=Wk: offset_major_product(d, w))  # dX_col = dA Wᵀ
            out.append(
                (
                    layer.name,
                    [
                        (f, lambda c=cols, w=W2: c @ w),  # A = X_col W
                        (f, lambda c=cols, d=da: c.T @ d),
                        dx,
                    ],
                )
            )  # dW = X_colᵀ dA
        shape = layer.compute_output_shape(shape)
    return out


def gemm_rates(model, x, clock) -> tuple[float, float, list]:
    """(conv GEMM GFLOP/s over the whole step, peak GFLOP/s, per-layer rows)."""
    rows, total_f, total_t = [], 0.0, 0.0
    for name, products in conv_products(model, x):
        f_layer = sum(f for f, _ in products)
        t_layer = sum(
            interleaved({"g": fn}, rounds=3, per_block=3, warmup_s=0.05, clock=clock)["g"] for _, fn in products
        )
        rows.append((name, f_layer / t_layer / 1e9))
        total_f, total_t = total_f + f_layer, total_t + t_layer
    big = np.ones((1024, 1024), np.float32)
    peak_t = interleaved({"g": lambda: big @ big}, rounds=3, per_block=3, warmup_s=0.1, clock=clock)["g"]
    return total_f / total_t / 1e9, 2 * 1024**3 / peak_t / 1e9, rows


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def memory_probe(kind: str, side: str) -> None:
    """(Subprocess) print the growth of the peak resident set in MiB over one training step of
    batch 64, after a warm-up step of batch 2 (kernels loaded, Adam's state allocated)."""
    fns = step_fns(kind, batch=2)
    fns["train"][side]()
    fn = fns["rebatch"](B)[side]
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kib("VmRSS")
        fn()
        after = _status_kib("VmHWM")
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fn()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) / 1024)


def memory(kind: str, side: str, threads: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--mem-probe", kind, side, "--threads", str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="1: CPU time, one thread per library (default); N > 1: wall time, N threads",
    )
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--kinds", default="cnn,ae")
    p.add_argument("--no-mem", action="store_true")
    p.add_argument("--mem-probe", nargs=2, metavar=("KIND", "SIDE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    if args.mem_probe:
        memory_probe(*args.mem_probe)
        return
    clock = time.process_time if args.threads == 1 else time.perf_counter
    timing = (
        "CPU time (process_time), 1 thread per library" if args.threads == 1 else f"wall time, {args.threads} threads"
    )
    print(machine())
    print(
        f"batch {B}, 28x28x1, float32; "
        f"{timing}; "
        f"medians of {args.rounds} interleaved rounds; ratio = boucle / torch (lower is better)\n"
    )
    print(
        "| model | boucle train | torch train | ratio | target | boucle infer | torch infer | ratio | "
        "conv GEMMs GFLOP/s | % of GEMM peak | mem boucle | mem torch |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    details = []
    for kind in args.kinds.split(","):
        fns = step_fns(kind)
        tr = interleaved(fns["train"], rounds=args.rounds, per_block=3, clock=clock)
        inf = interleaved(fns["infer"], rounds=args.rounds, per_block=3, clock=clock)
        rate, peak, rows = gemm_rates(fns["model"], fns["x"], clock)
        details.append((kind, peak, rows))
        mem = (
            ("-", "-")
            if args.no_mem
            else tuple(f"{memory(kind, s, args.threads):.0f} MiB" for s in ("boucle", "torch"))
        )
        r_tr, r_inf = tr["boucle"] / tr["torch"], inf["boucle"] / inf["torch"]
        ok = "met" if r_tr <= TARGET and r_inf <= TARGET else "MISSED"
        print(
            f"| {kind} | {tr['boucle'] * 1e3:.1f} ms | {tr['torch'] * 1e3:.1f} ms | {r_tr:.2f}x | <= {TARGET}x {ok} "
            f"| {inf['boucle'] * 1e3:.1f} ms | {inf['torch'] * 1e3:.1f} ms | {r_inf:.2f}x "
            f"| {rate:.0f} | {100 * rate / peak:.0f} % of {peak:.0f} | {mem[0]} | {mem[1]} |",
            flush=True,
        )
    print("\nconvolution GEMMs per layer (forward + both backward products), GFLOP/s:")
    for kind, peak, rows in details:
        print(f"  {kind}: " + ", ".join(f"{n} {g:.0f} ({100 * g / peak:.0f} %)" for n, g in rows))


if __name__ == "__main__":
    main()
