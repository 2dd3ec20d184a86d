"""Recurrent layers: one training step and one inference pass of boucle's recurrent layers vs torch 2.13 CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/recurrent.py [--quick] [--threads N]
    env OPENBLAS_CORETYPE=Haswell python bench/recurrent.py ...   # the OpenBLAS kernel of CPUs without AVX-512

Train step = forward + full backward (every parameter gradient AND the input gradient,
on both sides: the torch input requires a gradient, as boucle always computes dX) of
one layer, float32, T=100, D=64, loss = Σ y ⊙ R (so dE/dy = R); inference = forward
only (boucle ``training=False``, torch under ``no_grad``). For B ∈ {32, 128} and
H ∈ {64, 128, 256, 512}, each boucle variant (return_sequences) against the torch
module of the same size (batch_first):

=================  ==============================  ==========  ======
``--kinds``        boucle                          torch       target
=================  ==============================  ==========  ======
lstm               ``LSTM``                        nn.LSTM     1.0x
lstm_peephole      ``LSTM(peephole=True)``         nn.LSTM     1.0x
gru                ``GRU`` (course form, default)  nn.GRU      0.8x
gru_reset_after    ``GRU(reset_after=True)``       nn.GRU      0.8x
gru_simple         ``GRU(variant="simplified")``   nn.GRU      0.8x
rnn                ``SimpleRNN`` (tanh)            nn.RNN      0.6x
rnn_relu           ``SimpleRNN("relu")``           nn.RNN relu 0.6x
=================  ==============================  ==========  ======

(the same target for training and inference). Both run in this process, timed
block-interleaved with rotating order (``bench/common.py``), medians.
``--threads 1`` (default) pins NumPy, SciPy, boucle's loop and torch to one thread
each and measures **CPU time** (``time.process_time``), which is robust to other load
on a shared machine; ``--threads 2`` measures **wall time** with two threads per
library, and boucle at one thread too (same process, interleaved): the column
"2t / 1t" is boucle's own scaling (target <= 0.6 at H >= 256 or B = 128).
``--torch-loop`` adds a hand-written torch cell loop with autograd (x W_ih^T for all
steps, then h W_hh^T and the gates per step: the arrangement of boucle's reference scan).
GFLOP/s counts the GEMMs only: forward 2·T·B·(D+H)·G·H, backward twice that; "% peak"
compares that rate with a float32 NumPy GEMM (B·T, H) x (H, G·H) timed in the same run.
Memory = growth of the peak resident set over one training step (VmHWM reset through
/proc/self/clear_refs, Linux), each side in a fresh subprocess after a small warm-up
step (``--no-mem`` skips it).

The boucle column is the engine ``boucle.ops.recurrent`` picks (``--engine auto``, the
default: the compiled loop of ``boucle.ops.fast`` where numba is installed, every cell;
``BOUCLE_NO_NUMBA=1`` or ``--engine scan`` for the plain NumPy scan).
"""

from __future__ import annotations

import argparse
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

import boucle  # noqa: E402  (first: loads the BLAS libraries that the thread limits must reach)
from boucle.layers import GRU, LSTM, SimpleRNN  # noqa: E402
from boucle.ops import fast, recurrent  # noqa: E402

T, D = 100, 64
#: kind -> (boucle layer of H units, torch module name, torch kwargs, gate blocks G, target ratio)
KINDS = {
    "lstm": (lambda H: LSTM(H, return_sequences=True), "LSTM", {}, 4, 1.0),
    "lstm_peephole": (lambda H: LSTM(H, peephole=True, return_sequences=True), "LSTM", {}, 4, 1.0),
    "gru": (lambda H: GRU(H, return_sequences=True), "GRU", {}, 3, 0.8),
    "gru_reset_after": (lambda H: GRU(H, reset_after=True, return_sequences=True), "GRU", {}, 3, 0.8),
    "gru_simple": (lambda H: GRU(H, variant="simplified", return_sequences=True), "GRU", {}, 2, 0.8),
    "rnn": (lambda H: SimpleRNN(H, return_sequences=True), "RNN", {}, 1, 0.6),
    "rnn_relu": (
        lambda H: SimpleRNN(H, activation="relu", return_sequences=True),
        "RNN",
        {"nonlinearity": "relu"},
        1,
        0.6,
    ),
}
LOOP_KIND = {
    "lstm": "lstm",
    "lstm_peephole": "lstm",
    "gru": "gru",
    "gru_reset_after": "gru",
    "gru_simple": "gru",
    "rnn": "rnn",
    "rnn_relu": "rnn",
}
LOOP_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def make_boucle(kind: str, H: int):
    layer = KINDS[kind][0](H)
    layer.build((T, D), 0)
    return layer


def make_torch(kind: str, H: int):
    torch.manual_seed(0)
    _, name, kw, _, _ = KINDS[kind]
    return getattr(torch.nn, name)(D, H, batch_first=True, **kw)


class TorchLoop(torch.nn.Module):
    """The cell written out in torch, one autograd step per time step (torch's gate order)."""

    def __init__(self, kind: str, H: int):
        super().__init__()
        torch.manual_seed(0)
        kind = LOOP_KIND[kind]
        G = LOOP_GATES[kind]
        self.kind, self.H = kind, H
        self.ih = torch.nn.Linear(D, G * H)
        self.hh = torch.nn.Linear(H, G * H, bias=(kind == "gru"))

    def forward(self, x):
        B, H = x.shape[0], self.H
        xw = self.ih(x)  # (B, T, G*H) in one GEMM
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        outs = []
        for t in range(x.shape[1]):
            hw = self.hh(h)
            if self.kind == "lstm":
                i, f, g, o = (xw[:, t] + hw).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            elif self.kind == "gru":
                xr, xz, xn = xw[:, t].chunk(3, 1)
                hr, hz, hn = hw.chunk(3, 1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                n = torch.tanh(xn + r * hn)
                h = n + z * (h - n)
            else:
                h = torch.tanh(xw[:, t] + hw)
            outs.append(h)
        return torch.stack(outs, 1)


def step_fns(kind: str, B: int, H: int, torch_loop: bool = False, one_thread: bool = False) -> dict:
    """Train-step and inference closures for boucle, the torch module (and the torch loop);
    ``one_thread``: also boucle with its loop on one thread ("boucle 1t")."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    R = rng.standard_normal((B, T, H)).astype(np.float32)
    layer, mod = make_boucle(kind, H), make_torch(kind, H)
    xt, Rt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(R)

    def b_train():
        y, cache = layer.forward(x, training=True)
        layer.backward(R, cache)

    def b_infer():
        layer.forward(x, training=False)

    def t_train(m):
        def run():
            m.zero_grad(set_to_none=False)
            xt.grad = None
            y = m(xt)
            (y[0] if isinstance(y, tuple) else y).mul(Rt).sum().backward()

        return run

    def t_infer():
        with torch.no_grad():
            mod(xt)

    def single(fn):
        def run():
            with recurrent.use_threads(1):
                fn()

        return run

    train = {"boucle": b_train, "torch": t_train(mod)}
    infer = {"boucle": b_infer, "torch": t_infer}
    if torch_loop:
        train["loop"] = t_train(TorchLoop(kind, H))
    if one_thread:
        train["boucle 1t"], infer["boucle 1t"] = single(b_train), single(b_infer)
    return {"train": train, "infer": infer}


def flops(kind: str, B: int, H: int) -> float:
    """GEMM FLOPs of one train step: forward 2·T·B·(D+H)·G·H, backward twice that."""
    return 3 * 2 * T * B * (D + H) * KINDS[kind][3] * H


def gemm_peak(kind: str, B: int, H: int, clock) -> float:
    """GFLOP/s of a float32 NumPy GEMM (B·T, H) x (H, G·H), median of several runs."""
    G = KINDS[kind][3]
    a = np.ones((B * T, H), np.float32)
    w = np.ones((H, G * H), np.float32)
    out = np.empty((B * T, G * H), np.float32)
    reps = max(1, int(2e8 / (2 * B * T * H * G * H)))

    def run():
        for _ in range(reps):
            np.matmul(a, w, out=out)

    t = interleaved({"gemm": run}, rounds=3, per_block=3, warmup_s=0.1, clock=clock)["gemm"]
    return 2 * B * T * H * G * H * reps / t / 1e9


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def memory_probe(kind: str, B: int, H: int, side: str) -> None:
    """(Subprocess) print the growth of the peak resident set in MiB over one train step.

    Linux: the peak (VmHWM) is reset to the current RSS through /proc/self/clear_refs
    just before the step; elsewhere ru_maxrss is used (then the peak of the imports
    may hide a smaller step).
    """
    small = step_fns(kind, 2, 8)["train"][side]
    small()  # loads kernels / allocator pools
    fn = step_fns(kind, B, H)["train"][side]
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


def memory(kind: str, B: int, H: int, side: str, threads: int, engine: str) -> float:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--mem-probe",
            kind,
            str(B),
            str(H),
            side,
            "--threads",
            str(threads),
            "--engine",
            engine,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="reduced grid: B=32, H in {64, 256}")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="1: CPU time, one thread per library (default); N > 1: wall time, N threads",
    )
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    p.add_argument("--grid", default=None, help="B:H pairs, e.g. 32:256,128:128 (default: the full grid)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-mem", action="store_true")
    p.add_argument("--torch-loop", action="store_true", help="also time a hand-written torch cell loop")
    p.add_argument(
        "--engine",
        choices=recurrent.ENGINES,
        default="auto",
        help="the recurrent engine of boucle.ops.recurrent (default: its automatic choice)",
    )
    p.add_argument("--mem-probe", nargs=4, metavar=("KIND", "B", "H", "SIDE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    with recurrent.use_engine(args.engine):
        run_bench(args)


def run_bench(args) -> None:
    if args.mem_probe:
        kind, B, H, side = args.mem_probe
        memory_probe(kind, int(B), int(H), side)
        return
    clock = time.process_time if args.threads == 1 else time.perf_counter
    if args.grid:
        grid = [tuple(int(v) for v in pair.split(":")) for pair in args.grid.split(",")]
    else:
        grid = [(32, 64), (32, 256)] if args.quick else [(B, H) for B in (32, 128) for H in (64, 128, 256, 512)]
    kinds = args.kinds.split(",")
    scaling = args.threads > 1
    print(machine())
    engines = ", ".join(f"{k} {recurrent.engine_for(make_boucle(k, 8).cell, np.float32)}" for k in kinds)
    clock_name = (
        "CPU time (process_time), 1 thread per library" if args.threads == 1 else f"wall time, {args.threads} threads"
    )
    print(
        f"boucle engine (boucle.ops.recurrent, --engine {args.engine}): {engines}; loop threads: "
        f"{fast.threads() if fast.AVAILABLE else '-'}; allocator tuned: {boucle.backend.ALLOCATOR_TUNED}; "
        f"{clock_name}; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    print(
        f"T={T}, D={D}, float32; train = forward + backward incl. dX on both sides, loss = sum(y * R); medians of "
        f"{args.rounds} interleaved rounds; ratio = boucle / torch (lower is better)\n"
    )
    head = ["cell", "B", "H", "boucle train", "torch train", "ratio", "boucle infer", "torch infer", "ratio", "target"]
    head += ["boucle 1t train", "2t / 1t train", "2t / 1t infer"] if scaling else []
    head += ["torch loop", "ratio"] if args.torch_loop else []
    head += ["GFLOP/s", "% GEMM peak", "mem boucle", "mem torch"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for kind in kinds:
        target = KINDS[kind][4]
        for B, H in grid:
            fns = step_fns(kind, B, H, args.torch_loop, scaling)
            per_block = 2 if flops(kind, B, H) > 2e10 else 3
            tr = interleaved(fns["train"], rounds=args.rounds, per_block=per_block, clock=clock)
            inf = interleaved(fns["infer"], rounds=args.rounds, per_block=per_block, clock=clock)
            peak = gemm_peak(kind, B, H, clock)
            rate = flops(kind, B, H) / tr["boucle"] / 1e9
            r_tr, r_inf = tr["boucle"] / tr["torch"], inf["boucle"] / inf["torch"]
            ok = "met" if max(r_tr, r_inf) <= target else "MISSED"
            row = [
                kind,
                B,
                H,
                f"{tr['boucle'] * 1e3:.1f} ms",
                f"{tr['torch'] * 1e3:.1f} ms",
                f"{r_tr:.2f}x",
                f"{inf['boucle'] * 1e3:.1f} ms",
                f"{inf['torch'] * 1e3:.1f} ms",
                f"{r_inf:.2f}x",
                f"<= {target}x {ok}",
            ]
            if scaling:
                row += [
                    f"{tr['boucle 1t'] * 1e3:.1f} ms",
                    f"{tr['boucle'] / tr['boucle 1t']:.2f}",
                    f"{inf['boucle'] / inf['boucle 1t']:.2f}",
                ]
            if args.torch_loop:
                row += [f"{tr['loop'] * 1e3:.1f} ms", f"{tr['boucle'] / tr['loop']:.2f}x"]
            mem = (
                ("-", "-")
                if args.no_mem
                else tuple(f"{memory(kind, B, H, s, args.threads, args.engine):.0f} MiB" for s in ("boucle", "torch"))
            )
            row += [f"{rate:.0f}", f"{100 * rate / peak:.0f} % of {peak:.0f}", *mem]
            print("| " + " | ".join(str(v) for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
