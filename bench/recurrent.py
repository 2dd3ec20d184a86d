"""Recurrent layers: one training step of boucle's LSTM / GRU / SimpleRNN vs torch 2.13 CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/recurrent.py [--quick] [--threads N]

Train step = forward + full backward (every parameter and input gradient) of one
layer, float32, T=100, D=64, loss = Σ y ⊙ R (so dE/dy = R), for
B ∈ {32, 128} and H ∈ {64, 128, 256, 512}:

* boucle ``LSTM`` / ``GRU(reset_after=True)`` / ``SimpleRNN`` (tanh), return_sequences;
* torch ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (batch_first), and
* a hand-written torch cell loop with autograd (``x W_ih^T`` for all steps, then
  ``h W_hh^T`` and the gates per step — the same arrangement as boucle).

All three run in this process, timed block-interleaved with rotating order
(``bench/common.py``), medians. ``--threads 1`` (default) pins NumPy, SciPy and
torch to one thread each and measures **CPU time** (``time.process_time``), which is
robust to other load on a shared machine; ``--threads 2`` measures **wall time**
with two threads per library. GFLOP/s counts the GEMMs only: forward
2·T·B·(D+H)·G·H, backward twice that. "% peak" compares that rate with a float32
NumPy GEMM of the same size class, (B·T, H) x (H, G·H), timed in the same run.
Inference = forward only (boucle ``training=False``, torch under ``no_grad``).
Memory = growth of the peak resident set over one training step (VmHWM reset through
/proc/self/clear_refs, Linux), each side in a fresh subprocess after a small warm-up
step (``--no-mem`` skips it): it counts NumPy, numba and torch allocations alike.

The boucle column is the engine ``boucle.ops.recurrent`` picks (``--engine auto``, the
default): for LSTM and GRU the compiled loop (numba kernels of ``boucle.ops.fast``)
where numba is installed (``BOUCLE_NO_NUMBA=1`` for the plain NumPy scan), SimpleRNN
always the scan; ``--engine scan`` / ``--engine compiled`` force one (``--kinds lstm,gru``
with ``compiled``). Targets (issue 3): LSTM <= 1.0x nn.LSTM, GRU <= 0.8x nn.GRU,
SimpleRNN <= 0.6x nn.RNN, >= 50 % of the GEMM peak at H >= 256.
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
import boucle  # noqa: E402  (first: loads the BLAS libraries that the thread limits must reach)
from boucle.layers import GRU, LSTM, SimpleRNN  # noqa: E402
from boucle.ops import recurrent  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from common import interleaved, machine  # noqa: E402

T, D = 100, 64
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
TARGET = {"lstm": 1.0, "gru": 0.8, "rnn": 0.6}
TORCH_NAME = {"lstm": "nn.LSTM", "gru": "nn.GRU", "rnn": "nn.RNN"}


def make_boucle(kind: str, H: int):
    layer = {"lstm": lambda: LSTM(H, return_sequences=True),
             "gru": lambda: GRU(H, reset_after=True, return_sequences=True),
             "rnn": lambda: SimpleRNN(H, return_sequences=True)}[kind]()
    layer.build((T, D), 0)
    return layer


def make_torch(kind: str, H: int):
    torch.manual_seed(0)
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](D, H, batch_first=True)


class TorchLoop(torch.nn.Module):
    """The cell written out in torch, one autograd step per time step (torch's gate order)."""

    def __init__(self, kind: str, H: int):
        super().__init__()
        torch.manual_seed(0)
        G = GATES[kind]
        self.kind, self.H = kind, H
        self.ih = torch.nn.Linear(D, G * H)
        self.hh = torch.nn.Linear(H, G * H, bias=(kind == "gru"))

    def forward(self, x):
        B, H = x.shape[0], self.H
        xw = self.ih(x)                                   # (B, T, G*H) in one GEMM
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


def step_fns(kind: str, B: int, H: int) -> dict:
    """Train-step and inference closures for boucle, the torch module and the torch loop."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    R = rng.standard_normal((B, T, H)).astype(np.float32)
    layer, mod, loop = make_boucle(kind, H), make_torch(kind, H), TorchLoop(kind, H)
    xt, Rt = torch.from_numpy(x), torch.from_numpy(R)

    def b_train():
        y, cache = layer.forward(x, training=True)
        layer.backward(R, cache)

    def t_train(m):
        def run():
            m.zero_grad(set_to_none=False)
            y = m(xt)
            (y[0] if isinstance(y, tuple) else y).mul(Rt).sum().backward()
        return run

    def t_infer():
        with torch.no_grad():
            mod(xt)

    return {"train": {"boucle": b_train, "torch": t_train(mod), "loop": t_train(loop)},
            "infer": {"boucle": lambda: layer.forward(x, training=False), "torch": t_infer}}


def flops(kind: str, B: int, H: int) -> float:
    """GEMM FLOPs of one train step: forward 2·T·B·(D+H)·G·H, backward twice that."""
    return 3 * 2 * T * B * (D + H) * GATES[kind] * H


def gemm_peak(kind: str, B: int, H: int, clock) -> float:
    """GFLOP/s of a float32 NumPy GEMM (B·T, H) x (H, G·H), median of several runs."""
    G = GATES[kind]
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
    small()                                           # loads kernels / allocator pools
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
    out = subprocess.run([sys.executable, __file__, "--mem-probe", kind, str(B), str(H), side,
                          "--threads", str(threads), "--engine", engine], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="reduced grid: B=32, H in {64, 256}")
    p.add_argument("--threads", type=int, default=1,
                   help="1: CPU time, one thread per library (default); N > 1: wall time, N threads")
    p.add_argument("--kinds", default="lstm,gru,rnn")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-mem", action="store_true")
    p.add_argument("--engine", choices=recurrent.ENGINES, default="auto",
                   help="the recurrent engine of boucle.ops.recurrent (default: its automatic choice)")
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
    grid = [(32, 64), (32, 256)] if args.quick else [(B, H) for B in (32, 128) for H in (64, 128, 256, 512)]
    print(machine())
    engines = ", ".join(f"{k} {recurrent.engine_for(make_boucle(k, 8).cell, np.float32)}" for k in args.kinds.split(","))
    print(f"boucle engine (boucle.ops.recurrent, --engine {args.engine}): {engines}; "
          f"allocator tuned: {boucle.backend.ALLOCATOR_TUNED}; "
          f"{'CPU time (process_time), 1 thread per library' if args.threads == 1 else f'wall time, {args.threads} threads'}")
    print(f"T={T}, D={D}, float32; train = forward + backward, loss = sum(y * R); medians of "
          f"{args.rounds} interleaved rounds; ratio = boucle / torch (lower is better)\n")
    print("| cell | B | H | boucle train | torch train | ratio | target | torch loop | ratio | "
          "boucle GFLOP/s | % GEMM peak | boucle infer | torch infer | ratio | mem boucle | mem torch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in args.kinds.split(","):
        for B, H in grid:
            fns = step_fns(kind, B, H)
            slow = flops(kind, B, H) > 2e10
            per_block = 2 if slow else 3
            tr = interleaved(fns["train"], rounds=args.rounds, per_block=per_block, clock=clock)
            inf = interleaved(fns["infer"], rounds=args.rounds, per_block=per_block, clock=clock)
            peak = gemm_peak(kind, B, H, clock)
            rate = flops(kind, B, H) / tr["boucle"] / 1e9
            ratio = tr["boucle"] / tr["torch"]
            ok = "met" if ratio <= TARGET[kind] else "MISSED"
            mem = ("-", "-") if args.no_mem else tuple(
                f"{memory(kind, B, H, s, args.threads, args.engine):.0f} MiB" for s in ("boucle", "torch"))
            print(f"| {TORCH_NAME[kind].removeprefix('nn.')}{'(reset_after)' if kind == 'gru' else ''} "
                  f"| {B} | {H} | {tr['boucle'] * 1e3:.1f} ms | {tr['torch'] * 1e3:.1f} ms | {ratio:.2f}x "
                  f"| <= {TARGET[kind]}x {ok} | {tr['loop'] * 1e3:.1f} ms | {tr['boucle'] / tr['loop']:.2f}x "
                  f"| {rate:.0f} | {100 * rate / peak:.0f} % of {peak:.0f} "
                  f"| {inf['boucle'] * 1e3:.1f} ms | {inf['torch'] * 1e3:.1f} ms | {inf['boucle'] / inf['torch']:.2f}x "
                  f"| {mem[0]} | {mem[1]} |", flush=True)


if __name__ == "__main__":
    main()
