"""Compiled simple-RNN kernels (tanh, relu, sigmoid, linear): one batch chunk, the whole sequence.

Same equations as ``cells.rnn_step_forward`` / ``rnn_step_backward`` (seed 002; relu as
in seed 000), in the feature-major layout of :mod:`boucle.ops.fast_kernels`:
a_t = [W; U; b]^T z_t, ONE micro-kernel product per step, z_t = [h_{t-1} (⊙ rec); x_t; 1];
backward, [dh_{t-1}; dx_t] = [W; U] dA_t in one product and [dW; dU; db]^T += dA Z^T
every few steps.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .fast_gemm import R, block_width, gemm, pack_columns, packed
from .fast_kernels import (
    accumulate_dW,
    blend,
    group_steps,
    input_buffer,
    load_t,
    order,
    output_gradient,
    rec_t,
    row_sums,
    scatter_dx,
    scratch_for,
    sigmoid,
    state_gradient,
    step_input,
    store_rows,
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
            a[k] = max(a[k], z)  # max(nan, 0) is nan: divergence stays visible
    elif act == 2:
        for k in range(a.shape[0]):
            a[k] = sigmoid(a[k])


@njit(**_JIT)
def rnn_forward(act, x, xm, bias, Ap, h0, mask, rec, reverse, Bw, Hp, out, hT, Z, hs):
    """h_t = g(x_t U + b + h_{t-1} W) over one chunk (``act``: 0 tanh, 1 relu, 2 sigmoid, 3 linear).

    Writes out (Bc, T, H), hT (Bc, H); caches (empty without backward): Z (T*Bw, Kp)
    every z_t as rows (:func:`boucle.ops.fast_kernels.store_rows`), hs (T, H, Bw) every
    h_t = g(a_t) (before the mask's carry).
    """
    Bc, T, D = x.shape
    H = h0.shape[1]
    n = H * Bw
    keep, masked = Z.shape[0] > 0, mask.shape[0] > 0
    dt = out.dtype
    z = input_buffer(H, x, bias, Bw, out)
    recT, xmT = rec_t(rec, H, Bw, out), rec_t(xm, D, Bw, out)
    h = np.empty((H, Bw), dt)
    load_t(h, h0)
    scratch = scratch_for(out)
    own = np.empty((0 if keep else H, Bw), dt)
    valid = np.ones(Bw, np.bool_)
    for t in order(T, reverse):
        step_input(z, h, recT, x, xmT, t)
        a = hs[t] if keep else own
        if keep:
            store_rows(Z, z, H, Hp, H + x.shape[2], t)
        gemm(Ap, H, Ap.shape[1], z, 0, Bw, Bw, a, 0, Bw, False, scratch)
        _activate(a.reshape(n), act)
        if masked:
            valid = valid_columns(mask, t, Bw)
        write_output(out, a, valid, masked, t)
        if masked:
            blend(h, a, valid, True)
        elif keep:  # no carry: h_t is the state (kept in hs)
            h = a
        else:
            h, own = own, h
    store_t(hT, h)


@njit(**_JIT)
def rnn_backward(act, d_out, dhT, WUp, mask, rec, reverse, hs, Z, xm, dWt, db, dx, dh0):
    """BPTT of :func:`rnn_forward`: dA = g'(a) ⊙ dh (from the output: tanh' = (1 - h)(1 + h),
    relu' = [h > 0], σ' = h (1 - h)); [dh_{t-1} ⊙ rec; dx_t] = [W; U] dA_t.

    WUp: [W; U] (H+D, H) packed. Accumulates dWt (H, Kp) += Σ_t dA_t z_t^T, db (H,) += Σ dA; fills
    dx (Bc, T, D), dh0 (Bc, H).
    """
    T, H, Bw = hs.shape
    D = dx.shape[2]
    n = H * Bw
    masked = mask.shape[0] > 0
    dt = hs.dtype
    one = dt.type(1.0)
    recT = rec_t(rec, H, Bw, hs)
    dh = np.empty((H, Bw), dt)
    load_t(dh, dhT)
    da, hx, gh = np.empty((H, Bw), dt), np.empty((H + D, Bw), dt), np.empty((H, Bw), dt)
    P = group_steps(T, Bw)
    dAp = np.empty(((H + R - 1) // R, P * Bw, R), dt)
    done = 0
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
        gemm(WUp, H + D, H, da, 0, Bw, Bw, hx, 0, Bw, False, scratch)  # [W; U] dA^T
        scatter_dx(dx, hx, H, xm, t)
        if masked or recT.shape[0] > 0:
            state_gradient(dh, hx[:H], hx[:H], recT, valid, masked, False)
        else:  # dh_{t-1} is W dA^T itself (read before the next product)
            dh = hx[:H]
        row_sums(db, da, 0, H)
        pack_columns(dAp, da, 0, H, t % P)  # dW^T += dA Z^T every P steps
        done += 1
        if done == min(P, T - (t // P) * P):
            accumulate_dW(dAp, H, done, Bw, Z, (t // P) * P, 0, Z.shape[1], dWt, scratch)
            done = 0
    store_t(dh0, dh)


# ------------------------------------------------------------------ the calls (boucle.ops.fast)
def prepare_forward(cell, p, U, b, dt):
    H = p.W.shape[0]
    M = np.concatenate([p.W, U] + ([b[None]] if b is not None else [])).astype(dt, copy=False)  # (H+K, H)
    return ACTIVATIONS[cell.activation], packed(M, 0, M.shape[0], 0, H, True), b is not None


def forward_chunk(cell, weights, x, xm, s0, mask, rec, reverse, Bw, out, final, keep):
    """Run one chunk; returns its training caches (Z, hs, Bw)."""
    act, Ap, bias = weights
    Bc, T, D = x.shape
    H, dt = out.shape[2], out.dtype
    Hp = block_width(H, dt)
    if keep:
        saved = (np.empty((T * Bw, Hp + block_width(D, dt)), dt), np.empty((T, H, Bw), dt), Bw)
    else:
        saved = (np.empty((0, 0), dt), np.empty((0, 0, 0), dt), Bw)
    rnn_forward(act, x, xm, bias, Ap, s0[0], mask, rec, reverse, Bw, Hp, out, final[0], saved[0], saved[1])
    return saved


def prepare_backward(cell, p, U, dt):
    """[W; U] (H+D, H) packed, the activation's code."""
    H = p.W.shape[0]
    WU = np.concatenate([p.W, U]).astype(dt, copy=False)
    return ACTIVATIONS[cell.activation], packed(WU, 0, WU.shape[0], 0, H, False)


def backward_chunk(cell, weights, saved, d_out, d_fin, mask, rec, reverse, xm, dx, ds0):
    """BPTT of one chunk: its partial ``{"WUb_t": [dW; dU; db]^T (H, Kp)}``."""
    act, WUp = weights
    Z, hs, Bw = saved
    dWt, db = np.zeros((hs.shape[1], Z.shape[1]), hs.dtype), np.zeros(hs.shape[1], hs.dtype)
    rnn_backward(act, d_out, d_fin[0], WUp, mask, rec, reverse, hs, Z, xm, dWt, db, dx, ds0[0])
    return {"WU_t": dWt, "b": db}


def param_grads(cell, total, H, D, has_bias):
    dWt = total["WU_t"]
    Hp = block_width(H, dWt.dtype)
    grads = {"W": np.ascontiguousarray(dWt[:, :H].T), "U": np.ascontiguousarray(dWt[:, Hp : Hp + D].T)}
    if has_bias:
        grads["b"] = total["b"]
    return grads
