"""Optional accelerated time loop: the cells' equations compiled with numba.

The reference is :mod:`boucle.ops.scan` driving the step functions of
:mod:`boucle.ops.cells` — one NumPy call per equation, ~10-30 calls per step, whose
Python and call overhead dominates at small sizes (B*H below ~10^4). When numba is
installed (``pip install "boucle[fast]"``), the recurrent layers run the whole
sequence through one compiled kernel per direction instead
(:mod:`boucle.ops.fast_kernels`): the same equations, masks, carry and BPTT, with
the recurrent GEMM still in BLAS and each step's gate arithmetic fused into one
pass. :func:`forward` and :func:`backward` have the contract of :func:`scan.forward`
and :func:`scan.backward` — or take the inputs [x, 1] and [U; b] instead of the
projections, so that x_t U + b and h_{t-1} W are one GEMM per step and [dW; dU; db]
one GEMM after the loop (what the layers do); tests hold them equal to it.

Covered: LSTM (no peepholes) and GRU ``reset_after=True``; any mask, ``reverse``,
recurrent dropout, float32 and float64. Everything else (peepholes, the course's
GRU, the simplified GRU, SimpleRNN — whose NumPy step is 4 calls, as fast as a
kernel — CuPy) takes the reference path. ``BOUCLE_NO_NUMBA=1`` in the environment, or
``fast.ENABLED = False``, turns the accelerated path off. The first call of each
kernel compiles it (a few seconds), cached on disk next to the module afterwards.
"""
from __future__ import annotations

import ctypes
import glob
import os
from contextlib import contextmanager
from typing import Any, Sequence

import numpy as np

from .. import backend

try:                                           # optional dependency: boucle[fast]
    from . import fast_kernels as _k
    import scipy.linalg.cython_blas  # noqa: F401  the BLAS numba's np.dot calls: loaded now, so
    #                                  that thread-pool limits set after ``import boucle`` reach it
except ImportError:                            # numba missing (or too old / too new for NumPy)
    _k = None

__all__ = ["AVAILABLE", "ENABLED", "KINDS", "supports", "forward", "backward"]

#: numba could be imported.
AVAILABLE: bool = _k is not None
#: the recurrent layers use the accelerated path where :func:`supports` says so.
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


def supports(kind: str, p: dict, dtype: Any) -> bool:
    """Whether :func:`forward` covers this cell (``p`` from ``cells.loop_params``) and dtype."""
    if not (ENABLED and backend.xp() is np and np.dtype(dtype) in (np.float32, np.float64)):
        return False
    if kind == "lstm":
        return "p_i" not in p
    return kind == "gru_reset_after"


def _c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def forward(kind: str, p: dict, xu, state0: Sequence, mask=None, reverse: bool = False,
            x1=None, Ub=None) -> tuple[Any, tuple, tuple]:
    """:func:`boucle.ops.scan.forward` for ``kind`` in :data:`KINDS`, one compiled call.

    ``xu`` (T, G, B, H): the input projections, any layout (copied to the kernels'
    layout). Or ``xu=None`` with ``x1`` (T, B, K), the inputs [x_t, 1], and ``Ub``
    (K, G*H) = [U; b]: the kernels then form x_t U + b themselves (LSTM: in the same
    GEMM as h_{t-1} W) and :func:`backward` also returns ``grads["Ub"]`` =
    [dU; db]. Returns ``outputs`` (T, B, H) (a view of (T, H, B) memory),
    ``final_state`` (each (B, H)) and ``cache``.
    """
    state0 = [np.asarray(s) for s in state0]
    B, H = state0[0].shape
    dt = np.result_type(state0[0].dtype, np.float32) if xu is None else xu.dtype
    T = x1.shape[0] if xu is None else xu.shape[0]
    G = p["W"].shape[1] // H
    W = _c(p["W"], dt)
    m = _NO_MASK if mask is None else _c(mask, bool)                          # (T, B)
    rec = p.get("rec_mask")
    rec = np.zeros((0, 0), dt) if rec is None else _c(np.asarray(rec).T, dt)   # (H, B)
    s0 = [_c(s.T, dt) for s in state0]                                        # (H, B) each
    K = 0 if x1 is None else x1.shape[-1]
    Z = np.empty((H + K, T * B), dt)                  # z_t = [h_{t-1}; x_t; 1] for every step
    if kind == "lstm":
        if xu is None:                                # WUT z_t = (x_t U + b + h_{t-1} W)^T
            xs = _c(x1.transpose(0, 2, 1), dt)                                   # (T, K, B)
            WUT = _c(np.concatenate([W, _c(Ub, dt)]).T, dt)                     # (G*H, H+K)
        else:                                         # W^T h_{t-1}^T + xu_t^T
            xs = _c(xu.transpose(0, 1, 3, 2), dt).reshape(T, G * H, B)         # (T, G*H, B)
            WUT = _c(W.T, dt)                                                   # (G*H, H)
        out, gates, cs = np.empty((T, H, B), dt), np.empty((T, G * H, B), dt), np.empty((T, H, B), dt)
        with _one_blas_thread():
            h, c = _k.lstm_forward(xs, WUT, s0[0], s0[1], m, rec, reverse, Z, out, gates, cs)
        final, saved = (h, c), (gates, cs, s0[1])
    else:
        if xu is None:
            x1T = _c(x1.transpose(2, 0, 1), dt).reshape(K, T * B)              # (K, T*B)
            Z[H:] = x1T
            xuT = _c(Ub, dt).T @ x1T                                            # (G*H, T*B)
        else:
            xuT = _c(xu.transpose(1, 3, 0, 2), dt).reshape(G * H, T * B)
        bW = p.get("b_W")
        bW = np.zeros(0, dt) if bW is None else _c(bW, dt).reshape(-1)
        out, gates = np.empty((T, H, B), dt), np.empty((T, G * H, B), dt)
        hps, sgs = np.empty((T, H, B), dt), np.empty((T, H, B), dt)
        with _one_blas_thread():
            h = _k.gru_reset_after_forward(xuT, W, bW, s0[0], m, rec, reverse, Z[:H], out, gates, hps, sgs)
        final, saved = (h,), (gates, hps, sgs, bW.shape[0] > 0)
    final = tuple(np.ascontiguousarray(s.T) for s in final)                  # (B, H) each
    strides = None if xu is None else xu.strides
    cache = (kind, W, m, rec, reverse, Z, saved, (T, G, B, H), strides)
    return out.transpose(0, 2, 1), final, cache


def backward(d_outputs, d_final_state: Sequence, cache: tuple) -> tuple[Any, tuple, dict]:
    """:func:`boucle.ops.scan.backward` for a :func:`forward` cache: ``(dxu, d_state0, grads)``.

    ``dxu`` (T, G, B, H) has the memory layout of ``xu`` (given ``x1``: a view of
    (G*H, T*B) memory); ``grads`` = ``{"W": ...}`` (+ ``"b_W"``; + ``"Ub"`` given ``x1``),
    [dW; dU; db] = Σ_t z_t^T dA_t in one GEMM (H+K, T*B) x (T*B, G*H).
    """
    kind, W, m, rec, reverse, Z, saved, (T, G, B, H), strides = cache
    dt = W.dtype
    d_out = (np.zeros((0, 0, 0), dt) if d_outputs is None
             else _c(np.asarray(d_outputs).transpose(0, 2, 1), dt))          # (T, H, B)
    dT = [np.zeros((H, B), dt) if d is None else _c(np.asarray(d).T, dt) for d in d_final_state]
    dxuT = np.empty((G * H, T * B), dt)               # from NumPy: huge pages, few page faults
    with _one_blas_thread():
        if kind == "lstm":
            gates, cs, c0 = saved
            ds0 = _k.lstm_backward(d_out, dT[0], dT[1], W, m, rec, reverse, gates, cs, c0, dxuT)
            dW_rowsT = dxuT
        else:
            gates, hps, sgs, has_bW = saved
            dW_rowsT = np.empty((G * H, T * B), dt)
            ds0 = (_k.gru_reset_after_backward(d_out, dT[0], W, m, rec, reverse, gates, hps, sgs,
                                               dxuT, dW_rowsT),)
    H_K = Z.shape[0]
    if dW_rowsT is dxuT:                              # [dW; dUb] = [h_{t-1}; x_t; 1]^T dA: one GEMM
        dZ = Z @ dxuT.T                                                          # (H+K, G*H)
        grads = {"W": dZ[:H]}
        if H_K > H:
            grads["Ub"] = dZ[H:]
    else:                                             # GRU: W's g block sees r ⊙ dA_g, U's sees dA_g
        grads = {"W": Z[:H] @ dW_rowsT.T}
        if H_K > H:
            grads["Ub"] = Z[H:] @ dxuT.T
    if kind == "gru_reset_after" and saved[-1]:
        grads["b_W"] = dW_rowsT.sum(axis=1)
    dxu = dxuT.reshape(G, H, T, B).transpose(2, 0, 3, 1)                      # (T, G, B, H) view
    if strides is not None and dxu.strides != strides:                          # keep xu's layout
        dxu = _relayout(dxu, strides)
    return dxu, tuple(np.ascontiguousarray(d.T) for d in ds0), grads


def _relayout(a, strides):
    """A copy of ``a`` with the memory order given by ``strides`` (largest stride first)."""
    order = sorted(range(a.ndim), key=lambda k: -strides[k])
    inv = np.argsort(order)
    return np.ascontiguousarray(a.transpose(order)).transpose(inv)
