"""The compiled time loop: the cells' equations compiled with numba (optional).

The reference is :mod:`boucle.ops.scan` driving the step functions of
:mod:`boucle.ops.cells` — one NumPy call per equation, ~10-30 calls per step, whose
Python and call overhead dominates at small sizes (B*H below ~10^4). When numba is
installed (``pip install "boucle[fast]"``), the whole sequence runs through one
compiled kernel per direction instead (:mod:`boucle.ops.fast_kernels`): the same
equations, masks, carry and BPTT, with the recurrent GEMM still in BLAS and each
step's gate arithmetic fused into one pass.

Only :mod:`boucle.ops.recurrent` calls this module; it chooses between this loop and
the reference and holds the one return contract. The contract here is the kernels'
own: :func:`forward` takes the inputs [x_t, 1] and [U; b] (not the projections), so
that for the LSTM x_t U + b and h_{t-1} W are ONE GEMM per step, and :func:`backward`
returns dA as GEMM rows and [dU; db] (``"Ub"``) with dW — [dW; dU; db] = Σ_t z_t^T dA_t
in one GEMM after the loop. Tests hold every output and gradient equal to the
reference loop.

Covered (:func:`covers`): LSTM (no peepholes) and GRU ``reset_after=True``; any mask,
``reverse``, recurrent dropout, float32 and float64. Everything else (peepholes, the
course's GRU, the simplified GRU, SimpleRNN — whose NumPy step is 4 calls, as fast as
a kernel — CuPy) runs the reference loop. ``BOUCLE_NO_NUMBA=1`` in the environment,
or ``fast.ENABLED = False``, keeps the automatic choice on the reference loop. The
first call of each kernel compiles it (a few seconds), cached on disk next to the
module afterwards.
"""
from __future__ import annotations

import ctypes
import glob
import os
from contextlib import contextmanager
from typing import Any, NamedTuple, Sequence

import numpy as np

from .. import backend

try:                                           # optional dependency: boucle[fast]
    from . import fast_kernels as _k
    import scipy.linalg.cython_blas  # noqa: F401  the BLAS numba's np.dot calls: loaded now, so
    #                                  that thread-pool limits set after ``import boucle`` reach it
except ImportError:                            # numba missing (or too old / too new for NumPy)
    _k = None

__all__ = ["AVAILABLE", "ENABLED", "KINDS", "covers", "forward", "backward", "CompiledCache"]

#: numba could be imported.
AVAILABLE: bool = _k is not None
#: the automatic engine choice (:func:`boucle.ops.recurrent.engine_for`) may pick the compiled loop.
ENABLED: bool = AVAILABLE and os.environ.get("BOUCLE_NO_NUMBA", "0") in ("", "0")
#: cell kinds with a compiled kernel.
KINDS = ("lstm", "gru_reset_after")

_NO_MASK = np.zeros((0, 0), dtype=bool)


def _blas_threads_setter():
    """``openblas_set_num_threads_local`` of SciPy's OpenBLAS — the BLAS that numba's np.dot
    calls — or None (SciPy built on another BLAS, or an OpenBLAS without it)."""
    try:
        import scipy
        libs = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
        for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas*.so*"))):
            fn = getattr(ctypes.CDLL(path), "openblas_set_num_threads_local", None)
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
                return fn
    except (ImportError, OSError):
        pass
    return None


_SET_BLAS_THREADS = _blas_threads_setter() if AVAILABLE else None


@contextmanager
def _one_blas_thread():
    """The kernels' per-step GEMMs on one thread (this thread only, restored after).

    They are small (B columns), so more threads gain little; and SciPy's OpenBLAS pool,
    left spinning between calls, competes with NumPy's for the cores (measured: an LSTM
    step at 2 threads 2-3x slower in wall time than at 1)."""
    if _SET_BLAS_THREADS is None:
        yield
        return
    previous = _SET_BLAS_THREADS(1)
    try:
        yield
    finally:
        _SET_BLAS_THREADS(previous)


class LSTMSaved(NamedTuple):
    gates: Any            # (T, 4H, B): i, f, o, g after their activations
    cs: Any               # (T, H, B): the carried c after each step
    c0: Any               # (H, B)


class GRUSaved(NamedTuple):
    gates: Any            # (T, 3H, B): z, r, g after their activations
    hps: Any              # (T, H, B): h_{t-1}
    sgs: Any              # (T, H, B): s_g = h_{t-1} W_g + b_W_g
    has_b_W: bool


class CompiledCache(NamedTuple):
    """What :func:`backward` needs from :func:`forward` (feature-major arrays, see fast_kernels)."""
    kind: str
    W: Any                # (H, G*H), in the loop's dtype
    mask: Any             # (T, B) bool, or (0, 0) for none
    rec: Any              # (H, B) recurrent-dropout mask, or (0, 0)
    reverse: bool
    Z: Any                # (H+K, T*B): z_t = [h_{t-1} (⊙ rec); x_t; 1] for every step
    saved: LSTMSaved | GRUSaved
    shape: tuple          # (T, G, B, H)


def covers(cell: Any, dtype: Any) -> bool:
    """Whether a compiled kernel runs ``cell`` (a :class:`boucle.ops.cells.Cell`) in ``dtype``:
    numba importable, the NumPy backend, float32/float64, LSTM without peepholes or
    GRU ``reset_after`` (:data:`ENABLED` is not consulted: it steers the automatic choice)."""
    if not (AVAILABLE and backend.xp() is np and np.dtype(dtype) in (np.float32, np.float64)):
        return False
    return cell.kind in KINDS and not cell.peephole


def _c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def forward(cell: Any, p: Any, x1, Ub, state0: Sequence, mask=None,
            reverse: bool = False) -> tuple[Any, tuple, CompiledCache]:
    """The time loop of ``cell`` (see :func:`covers`) over the inputs, one compiled call.

    Args:
        cell: a :class:`boucle.ops.cells.Cell` that :func:`covers`.
        p: its :class:`boucle.ops.cells.LoopParams` (``W``, ``b_W``, ``rec_mask``).
        x1: (T, B, K) the inputs [x_t, 1] time-major (K = D + 1; K = D without bias),
            best a view of (T, K, B) memory: the LSTM kernel reads that layout.
        Ub: (K, G*H) = [U; b].
        state0: initial states, each (B, H); mask: None or (T, B) bool; reverse: t = T-1 … 0.

    Returns:
        ``outputs`` (T, B, H) (a view of (T, H, B) memory), ``final_state`` (each (B, H)),
        a :class:`CompiledCache`.
    """
    state0 = [np.asarray(s) for s in state0]
    B, H = state0[0].shape
    dt = np.result_type(state0[0].dtype, np.float32)
    T, K = x1.shape[0], x1.shape[-1]
    G = cell.gates
    W = _c(p.W, dt)
    m = _NO_MASK if mask is None else _c(mask, bool)                          # (T, B)
    rec = np.zeros((0, 0), dt) if p.rec_mask is None else _c(np.asarray(p.rec_mask).T, dt)   # (H, B)
    s0 = [_c(s.T, dt) for s in state0]                                        # (H, B) each
    Z = np.empty((H + K, T * B), dt)                  # z_t = [h_{t-1}; x_t; 1] for every step
    if cell.kind == "lstm":                           # WUT z_t = (x_t U + b + h_{t-1} W)^T
        xs = _c(x1.transpose(0, 2, 1), dt)                                       # (T, K, B)
        WUT = _c(np.concatenate([W, _c(Ub, dt)]).T, dt)                         # (G*H, H+K)
        out, gates, cs = np.empty((T, H, B), dt), np.empty((T, G * H, B), dt), np.empty((T, H, B), dt)
        with _one_blas_thread():
            h, c = _k.lstm_forward(xs, WUT, s0[0], s0[1], m, rec, reverse, Z, out, gates, cs)
        final, saved = (h, c), LSTMSaved(gates, cs, s0[1])
    else:
        x1T = _c(x1.transpose(2, 0, 1), dt).reshape(K, T * B)                  # (K, T*B)
        Z[H:] = x1T
        xuT = _c(Ub, dt).T @ x1T                                                # (G*H, T*B)
        bW = np.zeros(0, dt) if p.b_W is None else _c(p.b_W, dt).reshape(-1)
        out, gates = np.empty((T, H, B), dt), np.empty((T, G * H, B), dt)
        hps, sgs = np.empty((T, H, B), dt), np.empty((T, H, B), dt)
        with _one_blas_thread():
            h = _k.gru_reset_after_forward(xuT, W, bW, s0[0], m, rec, reverse, Z[:H], out, gates, hps, sgs)
        final, saved = (h,), GRUSaved(gates, hps, sgs, bW.shape[0] > 0)
    final = tuple(np.ascontiguousarray(s.T) for s in final)                  # (B, H) each
    cache = CompiledCache(cell.kind, W, m, rec, reverse, Z, saved, (T, G, B, H))
    return out.transpose(0, 2, 1), final, cache


def backward(d_outputs, d_final_state: Sequence, cache: CompiledCache) -> tuple[Any, tuple, dict]:
    """BPTT for a :func:`forward` cache: ``(dA, d_state0, grads)``.

    ``d_outputs``: None or (T, B, H), any strides; ``d_final_state``: entries may be None.
    ``dA`` (T*B, G*H) = dE/d(x_t U + b) as GEMM rows (a view of (G*H, T*B) memory);
    ``grads`` = ``{"W", "Ub"}`` (+ ``"b_W"``), [dW; dU; db] = Σ_t z_t^T dA_t in one GEMM
    (H+K, T*B) x (T*B, G*H) (the GRU's W_g sees r ⊙ dA_g instead: two GEMMs).
    """
    kind, W, m, rec, reverse, Z, saved, (T, G, B, H) = cache
    dt = W.dtype
    d_out = (np.zeros((0, 0, 0), dt) if d_outputs is None
             else _c(np.asarray(d_outputs).transpose(0, 2, 1), dt))          # (T, H, B)
    dT = [np.zeros((H, B), dt) if d is None else _c(np.asarray(d).T, dt) for d in d_final_state]
    dxuT = np.empty((G * H, T * B), dt)               # from NumPy: huge pages, few page faults
    with _one_blas_thread():
        if kind == "lstm":
            ds0 = _k.lstm_backward(d_out, dT[0], dT[1], W, m, rec, reverse, saved.gates, saved.cs,
                                   saved.c0, dxuT)
        else:
            dsT = np.empty((G * H, T * B), dt)
            ds0 = (_k.gru_reset_after_backward(d_out, dT[0], W, m, rec, reverse, saved.gates, saved.hps,
                                               saved.sgs, dxuT, dsT),)
    if kind == "lstm":                                # [dW; dUb] = [h_{t-1}; x_t; 1]^T dA: one GEMM
        dZ = Z @ dxuT.T                                                          # (H+K, G*H)
        grads = {"W": dZ[:H], "Ub": dZ[H:]}
    else:                                             # GRU: W's g block sees r ⊙ dA_g, U's sees dA_g
        grads = {"W": Z[:H] @ dsT.T, "Ub": Z[H:] @ dxuT.T}
        if saved.has_b_W:
            grads["b_W"] = dsT.sum(axis=1)
    return dxuT.T, tuple(np.ascontiguousarray(d.T) for d in ds0), grads
