"""Compiled simple-RNN kernels (tanh, relu, sigmoid, linear): one batch chunk, the whole sequence.

Same equations as ``cells.rnn_step_forward`` / ``rnn_step_backward`` (seed 002; relu as
in seed 000), in the feature-major layout of :mod:`boucle.ops.fast_kernels`:
a_t = [W; U; b]^T z_t, ONE micro-kernel product per step, z_t = [h_{t-1} (⊙ rec); x_t; 1].
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .fast_gemm import gemm, packed, padded_width
from .fast_kernels import (
    blend,
    dot_nt,
    input_buffer,
    input_gradient,
    load_t,
    order,
    output_gradient,
    rec_t,
    scratch_for,
    sigmoid,
    state_gradient,
    step_input,
    store_step,
    store_t,
    tanh,
    valid_columns,
    write_output,
    zero_padded,
)

_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
#: activation codes of the kernels
ACTIVATIONS = {"tanh": 0, "relu": 1, "sigmoid": 2, "linear": 3}


@njit(**_JIT)
def _activate(a, act):
    """In place, flat: a = g(a)."""
    if act == 0:
        for k in range(a.shape[0]):
            a[k] = tanh(a[k])
    elif act == 1:
        z = a.dtype.type(0.0)
        for k in range(a.shape[0]):
            a[k] = max(a[k], z)                     # max(nan, 0) is nan: divergence stays visible
    elif act == 2:
        for k in range(a.shape[0]):
            a[k] = sigmoid(a[k])


@njit(**_JIT)
def rnn_forward(act, x, xm, bias, Ap, h0, mask, rec, reverse, Bw, out, hT, Z, hs):
    """h_t = g(x_t U + b + h_{t-1} W) over one chunk (``act``: 0 tanh, 1 relu, 2 sigmoid, 3 linear).

    Writes out (Bc, T, H), hT (Bc, H); caches (empty without backward): Z (H+K, N)
    every z_t, hs (T, H, Bw) every h_t = g(a_t) (before the mask's carry).
    """
    Bc, T, D = x.shape
    H = h0.shape[1]
    n = H * Bw
    keep, masked = Z.shape[0] > 0, mask.shape[0] > 0
    dt = out.dtype
    z = input_buffer(H, x, bias, Bw, out)
    recT = rec_t(rec, H, Bw, out)
    h = np.empty((H, Bw), dt)
    load_t(h, h0)
    if keep:
        Z[:, T * Bw:] = 0.0
    scratch = scratch_for(out)
    own = np.empty((0 if keep else H, Bw), dt)
    valid = np.ones(Bw, np.bool_)
    for t in order(T, reverse):
        step_input(z, h, recT, x, xm, t)
        a = hs[t] if keep else own
        if keep:
            store_step(Z, z, t)
        gemm(Ap, H, z, 0, Bw, Bw, a, 0, Bw, False, scratch)
        _activate(a.reshape(n), act)
        if masked:
            valid = valid_columns(mask, t, Bw)
        blend(h, a, valid, masked)
        write_output(out, a, valid, masked, t)
    store_t(hT, h)


@njit(**_JIT)
def rnn_backward(act, d_out, dhT, Wp, mask, rec, reverse, hs, Up, xm, dA, dx, dh0):
    """BPTT of :func:`rnn_forward`: dA = g'(a) ⊙ dh (from the output: tanh' = (1 - h)(1 + h),
    relu' = [h > 0], σ' = h (1 - h)); dh_{t-1} = (W dA^T) ⊙ rec.

    Fills dA (H, N) (step t in columns t*Bw...; past T*Bw zero), dx (Bc, T, D), dh0 (Bc, H).
    """
    T, H, Bw = hs.shape
    n = H * Bw
    masked = mask.shape[0] > 0
    dt = hs.dtype
    one = dt.type(1.0)
    recT = rec_t(rec, H, Bw, hs)
    dh = np.empty((H, Bw), dt)
    load_t(dh, dhT)
    da, dhin, gh = np.empty((H, Bw), dt), np.empty((H, Bw), dt), np.empty((H, Bw), dt)
    dA[:, T * Bw:] = 0.0
    scratch = scratch_for(hs)
    daf, ghf = da.reshape(n), gh.reshape(n)
    valid = np.ones(Bw, np.bool_)
    for t in order(T, reverse)[::-1]:
        y = hs[t].reshape(n)
        output_gradient(gh, dh, d_out, t)
        if act == 0:
            for k in range(n):
                daf[k] = ghf[k] * ((one - y[k]) * (one + y[k]))
        elif act == 1:
            for k in range(n):
                daf[k] = ghf[k] if y[k] > 0 else dt.type(0.0)
        elif act == 2:
            for k in range(n):
                daf[k] = ghf[k] * y[k] * (one - y[k])
        else:
            for k in range(n):
                daf[k] = ghf[k]
        if masked:
            valid = valid_columns(mask, t, Bw)
        zero_padded(da, valid, masked)
        store_step(dA, da, t)
        gemm(Wp, H, da, 0, Bw, Bw, dhin, 0, Bw, False, scratch)
        state_gradient(dh, dhin, dhin, recT, valid, masked, False)
    store_t(dh0, dh)
    input_gradient(Up, dA, Bw, dx, xm, scratch)


# ------------------------------------------------------------------ the calls (boucle.ops.fast)
def prepare_forward(cell, p, U, b, dt):
    H = p.W.shape[0]
    M = np.concatenate([p.W, U] + ([b[None]] if b is not None else [])).astype(dt, copy=False)   # (H+K, H)
    return ACTIVATIONS[cell.activation], packed(M, 0, M.shape[0], 0, H, True), b is not None


def forward_chunk(cell, weights, x, xm, s0, mask, rec, reverse, Bw, out, final, keep):
    """Run one chunk; returns its training caches (Z, hs, Bw)."""
    act, Ap, bias = weights
    Bc, T, D = x.shape
    H, dt = out.shape[2], out.dtype
    if keep:
        saved = (np.empty((H + D + bias, padded_width(T * Bw, dt)), dt), np.empty((T, H, Bw), dt), Bw)
    else:
        saved = (np.empty((0, 0), dt), np.empty((0, 0, 0), dt), Bw)
    rnn_forward(act, x, xm, bias, Ap, s0[0], mask, rec, reverse, Bw, out, final[0], saved[0], saved[1])
    return saved


def prepare_backward(cell, p, U, dt):
    H = p.W.shape[0]
    W, U = np.asarray(p.W, dt), np.asarray(U, dt)
    return ACTIVATIONS[cell.activation], packed(W, 0, H, 0, H, False), packed(U, 0, U.shape[0], 0, H, False)


def backward_chunk(cell, weights, saved, d_out, d_fin, mask, rec, reverse, xm, dx, ds0):
    """BPTT of one chunk: its partial ``{"WUb": [dW; dU; db]}``."""
    act, Wp, Up = weights
    Z, hs, Bw = saved
    dA = np.empty((hs.shape[1], Z.shape[1]), hs.dtype)
    rnn_backward(act, d_out, d_fin[0], Wp, mask, rec, reverse, hs, Up, xm, dA, dx, ds0[0])
    return {"WUb": dot_nt(Z, dA)}                                           # [dW; dU; db] = Σ z_t dA_t^T


def param_grads(cell, total, H, D, has_bias):
    dWUb = total["WUb"]
    grads = {"W": dWUb[:H], "U": dWUb[H:H + D]}
    if has_bias:
        grads["b"] = dWUb[H + D]
    return grads
