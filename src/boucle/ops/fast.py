"""The compiled time loop: the cells' equations compiled with numba (optional), on every core.

The reference is :mod:`boucle.ops.scan` driving the step functions of
:mod:`boucle.ops.cells` — one NumPy call per equation, ~10-30 calls per step, plus
one BLAS call per recurrent product. When numba is installed
(``pip install "boucle[fast]"``), the whole sequence runs through compiled kernels
instead: the same equations, masks, carry and BPTT, with

* the recurrent products in a register-blocked micro-kernel on weights packed once
  per call (:mod:`boucle.ops.fast_gemm`), the input projection x_t U + b in the same
  product (z_t = [h_{t-1}; x_t; 1]);
* each step's gate arithmetic fused into one pass (:mod:`boucle.ops.fast_lstm`,
  :mod:`boucle.ops.fast_gru`, :mod:`boucle.ops.fast_rnn`);
* the batch split into chunks, one per thread, each chunk's whole sequence (forward,
  then BPTT and its share of dW and dx) run by one thread with no synchronisation
  between steps; the partial dW of the chunks are summed at the end.

Threads: :func:`threads` — the count set by :func:`boucle.ops.recurrent.use_threads`
when inside one, else the thread count of NumPy's BLAS (``threadpoolctl``,
``boucle --threads N``, ``OPENBLAS_NUM_THREADS``), at most the cores this process may
run on. A chunk is never narrower than one mid-size
vector (8 rows in float32), so small batches stay on one thread.

Only :mod:`boucle.ops.recurrent` calls this module; it chooses between this loop and
the reference and holds the one return contract: :func:`forward` returns outputs
(B, T, H), final states (B, H) and a :class:`CompiledCache`; :func:`backward`
returns dx (B, T, D), d_state0 and the gradients of every parameter in the layers'
layout. Tests hold every output and gradient equal to the reference loop.

Covered (:func:`covers`): every cell of :mod:`boucle.ops.cells` — SimpleRNN (tanh,
relu, sigmoid, linear), LSTM with or without peepholes, the course's GRU, GRU
``reset_after``, the simplified GRU — with any mask, ``reverse``, input and
recurrent dropout, float32 and float64 on NumPy. ``BOUCLE_NO_NUMBA=1`` in the
environment, or ``fast.ENABLED = False``, keeps the automatic choice on the
reference loop. The first call of each cell family in each dtype compiles its kernels
(~15-20 s for the LSTM in float32 on a 2-core machine), cached on disk next to the
module afterwards (~1 s to load them in a new process).
"""

from __future__ import annotations

import contextvars
import ctypes
import glob
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from .. import backend

try:  # optional dependency: boucle[fast]
    # SciPy's BLAS (numba's np.dot calls it) loaded now, so that thread-pool limits set after
    # ``import boucle`` reach it.
    import scipy.linalg.cython_blas  # noqa: F401

    from . import fast_gemm as _g
    from . import fast_gru as _gru
    from . import fast_lstm as _lstm
    from . import fast_rnn as _rnn
except ImportError:  # numba missing (or too old / too new for NumPy)
    _g = None

__all__ = [
    "AVAILABLE",
    "ENABLED",
    "KINDS",
    "THREADS",
    "threads",
    "chunks",
    "covers",
    "forward",
    "backward",
    "CompiledCache",
]

#: numba could be imported.
AVAILABLE: bool = _g is not None
#: the automatic engine choice (:func:`boucle.ops.recurrent.engine_for`) may pick the compiled loop.
ENABLED: bool = AVAILABLE and os.environ.get("BOUCLE_NO_NUMBA", "0") in ("", "0")
#: cell kinds with a compiled kernel.
KINDS = ("rnn", "lstm", "gru", "gru_reset_after", "gru_simple")
#: threads of the compiled loop (a ContextVar: set through :func:`boucle.ops.recurrent.use_threads`);
#: None = the thread count of NumPy's BLAS (see :func:`threads`).
THREADS: contextvars.ContextVar[int | None] = contextvars.ContextVar("boucle_loop_threads", default=None)

_FAMILY = {} if _g is None else {"rnn": _rnn, "lstm": _lstm, "gru": _gru, "gru_reset_after": _gru, "gru_simple": _gru}
try:
    _CORES = len(os.sched_getaffinity(0))
except AttributeError:  # not on Linux
    _CORES = os.cpu_count() or 1


def _openblas_function(directory: str, names: Sequence[str]):
    """The first of ``names`` exported by an OpenBLAS under ``directory``, or None."""
    for path in sorted(glob.glob(os.path.join(directory, "*openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                return fn
    return None


def _site(module) -> str:
    return os.path.dirname(os.path.dirname(module.__file__))


_NUMPY_THREADS = _openblas_function(
    os.path.join(_site(np), "numpy.libs"),
    ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads"),
)


def _scipy_local_threads():
    """``openblas_set_num_threads_local`` of SciPy's OpenBLAS — the BLAS that numba's np.dot
    calls — or None (SciPy built on another BLAS, or an OpenBLAS without it)."""
    try:
        import scipy
    except ImportError:
        return None
    fn = _openblas_function(os.path.join(_site(scipy), "scipy.libs"), ("openblas_set_num_threads_local",))
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


_SET_LOCAL_THREADS = _scipy_local_threads() if AVAILABLE else None


def threads() -> int:
    """How many threads the compiled loop may use now: :data:`THREADS`, else the thread
    count of NumPy's BLAS (all cores when it cannot be read), at most the cores available."""
    n = THREADS.get()
    if n is None:
        n = int(_NUMPY_THREADS()) if _NUMPY_THREADS is not None else _CORES
    return max(1, min(int(n), _CORES))


def chunks(B: int, n: int, dtype) -> list:
    """The batch split for ``n`` threads: ``[(b0, b1, Bw), ...]``, rows b0:b1 computed Bw wide.

    At most ``B // (mid-size vector)`` chunks (8 rows in float32 with AVX-512), each a
    multiple of the narrowest vector but the last, as equal as that allows."""
    widths = _g.lanes(dtype)
    unit, mid = widths[-1], widths[min(1, len(widths) - 1)]
    n = max(1, min(n, B // mid))
    per = -(-B // n)
    per = -(-per // unit) * unit
    return [(b0, min(b0 + per, B), _g.padded_width(min(b0 + per, B) - b0, dtype)) for b0 in range(0, B, per)]


@contextmanager
def _one_blas_thread():
    """numba's np.dot calls (SciPy's OpenBLAS) on one thread in this thread (restored after)."""
    if _SET_LOCAL_THREADS is None:
        yield
        return
    previous = _SET_LOCAL_THREADS(1)
    try:
        yield
    finally:
        _SET_LOCAL_THREADS(previous)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _worker_init():
    if _SET_LOCAL_THREADS is not None:
        _SET_LOCAL_THREADS(1)


def _run(fn, n: int) -> None:
    """fn(0), ..., fn(n-1): chunk 0 in this thread, the others on the pool's threads."""
    global _POOL
    if n > 1:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(
                    max(1, _CORES - 1), thread_name_prefix="boucle-loop", initializer=_worker_init
                )
        futures = [_POOL.submit(fn, i) for i in range(1, n)]
    with _one_blas_thread():
        try:
            fn(0)
        finally:
            errors = [f.exception() for f in futures] if n > 1 else []
    for e in errors:
        if e is not None:
            raise e


def covers(cell: Any, dtype: Any) -> bool:
    """Whether a compiled kernel runs ``cell`` (a :class:`boucle.ops.cells.Cell`) in ``dtype``:
    numba importable, the NumPy backend, float32/float64 (:data:`ENABLED` is not consulted:
    it steers the automatic choice)."""
    if not (AVAILABLE and backend.xp() is np and np.dtype(dtype) in (np.float32, np.float64)):
        return False
    return cell.kind in KINDS


class CompiledCache(NamedTuple):
    """What :func:`backward` needs from :func:`forward` (the chunks' caches, see the kernels)."""

    cell: Any
    p: Any  # the cell's LoopParams (W, b_W, peepholes, rec_mask)
    U: Any  # (D, G*H)
    b: Any  # (G*H,) or None
    dtype: Any
    mask: Any  # (B, T) bool, or (0, 0)
    rec: Any  # (B, H) recurrent-dropout mask, or (0, 0)
    x_mask: Any  # (B, D) input-dropout mask, or (0, 0)
    reverse: bool
    parts: list  # [(b0, b1, Bw)]
    saved: list  # per chunk, the kernel's caches
    shape: tuple  # (B, T, D, H)
    inputs: Any  # (x, state0) of a forward pass run without caches (keep=False), else None


def _rows(a, b0, b1):
    """Rows b0:b1 of a batch-first array; an empty placeholder stays as it is."""
    return a if a.shape[0] == 0 else a[b0:b1]


def forward(
    cell: Any, p: Any, x, U, b, state0: Sequence, mask=None, reverse: bool = False, x_mask=None, keep: bool = True
) -> tuple[Any, tuple, CompiledCache]:
    """The time loop of ``cell`` over ``x``, compiled, the batch split over :func:`threads`.

    Args:
        cell: a :class:`boucle.ops.cells.Cell` that :func:`covers`; p: its LoopParams.
        x: (B, T, D); U: (D, G*H); b: (G*H,) or None; state0: initial states, each (B, H);
        mask: None or (B, T) bool; reverse: t = T-1 … 0; x_mask: None or (B, D).
        keep: keep the per-step caches of BPTT; without them (inference: no stores beyond
            the outputs), :func:`backward` runs this forward pass again, keeping them.

    Returns:
        ``outputs`` (B, T, H) C-contiguous, ``final_states`` (each (B, H)), a :class:`CompiledCache`.
    """
    state0 = [np.asarray(s) for s in state0]
    B, H = state0[0].shape
    dt = np.result_type(state0[0].dtype, np.float32)
    T, D = x.shape[1], x.shape[2]
    x = np.ascontiguousarray(x, dt)
    m = np.zeros((0, 0), bool) if mask is None else np.ascontiguousarray(mask, bool)  # (B, T)
    rec = np.zeros((0, 0), dt) if p.rec_mask is None else np.ascontiguousarray(p.rec_mask, dt)  # (B, H)
    xm = np.zeros((0, 0), dt) if x_mask is None else np.ascontiguousarray(x_mask, dt)  # (B, D)
    s0 = [np.ascontiguousarray(s, dt) for s in state0]
    parts = chunks(B, threads(), dt)
    cache = CompiledCache(
        cell, p, U, b, dt, m, rec, xm, reverse, parts, [None] * len(parts), (B, T, D, H), None if keep else (x, s0)
    )
    out, final = _forward(cache, x, s0, keep)
    return out, final, cache


def _forward(cache: CompiledCache, x, s0, keep: bool) -> tuple:
    """Run the chunks of ``cache`` (filling ``cache.saved`` when ``keep``): outputs, final states."""
    cell, p, U, b, dt, m, rec, xm, reverse, parts, saved, (B, T, D, H), _ = cache
    fam = _FAMILY[cell.kind]
    weights = fam.prepare_forward(cell, p, U, b, dt)
    out = np.empty((B, T, H), dt)
    final = tuple(np.empty((B, H), dt) for _ in s0)

    def run(ci):
        b0, b1, Bw = parts[ci]
        kept = fam.forward_chunk(
            cell,
            weights,
            x[b0:b1],
            _rows(xm, b0, b1),
            [s[b0:b1] for s in s0],
            _rows(m, b0, b1),
            _rows(rec, b0, b1),
            reverse,
            Bw,
            out[b0:b1],
            [f[b0:b1] for f in final],
            keep,
        )
        if keep:
            saved[ci] = kept

    _run(run, len(parts))
    return out, final


def backward(d_outputs, d_final_state: Sequence, cache: CompiledCache) -> tuple[Any, tuple, dict]:
    """BPTT for a :func:`forward` cache: ``(dx, d_state0, grads)``.

    ``d_outputs``: None or (B, T, H), any strides; ``d_final_state``: entries may be None.
    ``dx`` (B, T, D) C-contiguous, ``d_state0`` (each (B, H)), ``grads`` in the layers'
    layout (``U``, ``W``, ``b`` and the cell's own parameters)."""
    cell, p, U, b, dt, m, rec, xm, reverse, parts, saved, (B, T, D, H), inputs = cache
    if inputs is not None:  # a forward pass without caches: run it again, keeping them
        saved = list(saved)
        cache = cache._replace(saved=saved, inputs=None)
        _forward(cache, inputs[0], inputs[1], True)
    fam = _FAMILY[cell.kind]
    d_out = np.zeros((0, 0, 0), dt) if d_outputs is None else np.ascontiguousarray(d_outputs, dt)
    d_fin = [np.zeros((0, H), dt) if d is None else np.ascontiguousarray(d, dt) for d in d_final_state]
    weights = fam.prepare_backward(cell, p, U, dt)
    dx = np.empty((B, T, D), dt)
    ds0 = tuple(np.empty((B, H), dt) for _ in d_fin)
    partial: list = [None] * len(parts)

    def run(ci):
        b0, b1, Bw = parts[ci]
        partial[ci] = fam.backward_chunk(
            cell,
            weights,
            saved[ci],
            _rows(d_out, b0, b1),
            [_rows(d, b0, b1) for d in d_fin],
            _rows(m, b0, b1),
            _rows(rec, b0, b1),
            reverse,
            _rows(xm, b0, b1),
            dx[b0:b1],
            [d[b0:b1] for d in ds0],
        )

    _run(run, len(parts))
    total = partial[0]
    for more in partial[1:]:
        for k in total:
            total[k] += more[k]
    return dx, ds0, fam.param_grads(cell, total, H, D, b is not None)
