"""Compiled LSTM kernels (with or without peepholes): one batch chunk, the whole sequence.

Same equations as :func:`boucle.ops.cells.lstm_step_forward` / ``lstm_step_backward``
(seed 002; peepholes Gers & Schmidhuber 2000), in the feature-major layout of
:mod:`boucle.ops.fast_kernels`. Blocks i, f, o, g of the pre-activation
a_t = [W; U; b]^T z_t (4H, Bw) come from ONE micro-kernel product per step, z_t =
[h_{t-1} (⊙ rec); x_t; 1]; the gate arithmetic of a step is one fused pass. Backward,
each step's [W; U] dA_t gives dh_{t-1} and dx_t in one product, and the weight
gradient [dW; dU; db]^T += dA Z^T is accumulated every few steps (no dA kept).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .fast_gemm import R, block_width, gemm, pack_columns, packed
from .fast_kernels import (
    accumulate_dW,
    blend,
    copy,
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


@njit(**_JIT)
def lstm_forward(x, xm, bias, Ap, peep, h0, c0, mask, rec, reverse, Bw, Hp, out, hT, cT, Z, gates, cs, cinit):
    """The LSTM over one chunk::

        [i f o] = σ(x_t U + b + h_{t-1} W [+ p ⊙ c])[:3H],  g = tanh(...)[3H:]
        c_t = i ⊙ g + f ⊙ c_{t-1},  h_t = o ⊙ tanh(c_t)
        (peepholes: i, f see p_i ⊙ c_{t-1}, p_f ⊙ c_{t-1}; o sees p_o ⊙ c_t)

    Ap: [W; U; b]^T packed (:func:`boucle.ops.fast_gemm.pack`); peep (3, H) = p_i, p_f,
    p_o or (0, H). Writes out (Bc, T, H) and the final states hT, cT (Bc, H). Training
    caches (all empty for a forward without backward): Z (T*Bw, Kp) every z_t as rows
    (:func:`boucle.ops.fast_kernels.store_rows`, the h part padded to Hp), gates
    (T, 4H, Bw) i, f, o, g after their activations, cs (T, H, Bw) the carried c after each
    step, cinit (H, Bw) the initial c.
    """
    Bc, T, D = x.shape
    H = h0.shape[1]
    GH, n = 4 * H, H * Bw
    keep, masked, peephole = Z.shape[0] > 0, mask.shape[0] > 0, peep.shape[0] > 0
    z = input_buffer(H, x, bias, Bw, out)
    recT, xmT = rec_t(rec, H, Bw, out), rec_t(xm, D, Bw, out)
    h, c = np.empty((H, Bw), out.dtype), np.empty((H, Bw), out.dtype)
    load_t(h, h0)
    load_t(c, c0)
    if keep:
        copy(cinit.reshape(n), c.reshape(n))
    scratch = scratch_for(out)
    own = np.empty((0 if keep else GH, Bw), out.dtype)
    cn, hn = np.empty((H, Bw), out.dtype), np.empty((H, Bw), out.dtype)
    valid = np.ones(Bw, np.bool_)
    for t in order(T, reverse):
        step_input(z, h, recT, x, xmT, t)
        a = gates[t] if keep else own
        if keep:
            store_rows(Z, z, H, Hp, H + x.shape[2], t)
        gemm(Ap, GH, Ap.shape[1], z, 0, Bw, Bw, a, 0, Bw, False, scratch)  # (x_t U + b + h_{t-1} W)^T
        af = a.reshape(GH * Bw)
        i, f, o, g = af[:n], af[n : 2 * n], af[2 * n : 3 * n], af[3 * n :]
        cf, cnf, hnf = c.reshape(n), cn.reshape(n), hn.reshape(n)
        if peephole:
            for j in range(H):
                pi, pf, po = peep[0, j], peep[1, j], peep[2, j]
                for b in range(Bw):
                    k = j * Bw + b
                    cp = cf[k]
                    ik, fk, gk = sigmoid(i[k] + pi * cp), sigmoid(f[k] + pf * cp), tanh(g[k])
                    ck = ik * gk + fk * cp  # c_t = i ⊙ g + f ⊙ c_{t-1}
                    ok = sigmoid(o[k] + po * ck)
                    i[k], f[k], o[k], g[k] = ik, fk, ok, gk
                    cnf[k] = ck
                    hnf[k] = ok * tanh(ck)  # h_t = o ⊙ tanh(c_t)
        elif keep:
            for k in range(n):
                ik, fk, ok, gk = sigmoid(i[k]), sigmoid(f[k]), sigmoid(o[k]), tanh(g[k])
                ck = ik * gk + fk * cf[k]
                i[k], f[k], o[k], g[k] = ik, fk, ok, gk
                cnf[k] = ck
                hnf[k] = ok * tanh(ck)
        else:  # inference: the gates are not kept
            for k in range(n):
                ck = sigmoid(i[k]) * tanh(g[k]) + sigmoid(f[k]) * cf[k]
                cnf[k] = ck
                hnf[k] = sigmoid(o[k]) * tanh(ck)
        write_output(out, hn, valid_columns(mask, t, Bw) if masked else valid, masked, t)
        if masked:
            valid = valid_columns(mask, t, Bw)
            blend(c, cn, valid, True)
            blend(h, hn, valid, True)
        else:  # no carry: the new states are the states
            c, cn = cn, c
            h, hn = hn, h
        if keep:
            copy(cs[t].reshape(n), c.reshape(n))
    store_t(hT, h)
    store_t(cT, c)


@njit(**_JIT)
def lstm_backward(
    d_out, dhT, dcT, WUp, peep, mask, rec, reverse, gates, cs, cinit, Z, xm, dWt, db, dx, dh0, dc0, dpeep
):
    """BPTT of :func:`lstm_forward` (as ``cells.lstm_step_backward``)::

        do = dh ⊙ tanh c_t;  dc = dc_next + dh ⊙ o ⊙ (1 - tanh² c_t) [+ dA_o ⊙ p_o]
        di = dc ⊙ g;  df = dc ⊙ c_{t-1};  dg = dc ⊙ i;  dc_{t-1} = dc ⊙ f [+ dA_i ⊙ p_i + dA_f ⊙ p_f]
        dA = [di σ', df σ', do σ', dg tanh'];  [dh_{t-1}; dx_t] = [W; U] dA_t^T

    WUp: [W; U] (H+D, 4H) packed. Accumulates into dWt (4H, Kp) += Σ_t dA_t z_t^T (the
    transpose of [dW; dU], columns as Z's), db (4H,) += Σ dA and dpeep (3, H); fills
    dx (Bc, T, D), dh0, dc0 (Bc, H).
    """
    T, GH, Bw = gates.shape
    H = GH // 4
    D = dx.shape[2]
    n = H * Bw
    masked, peephole = mask.shape[0] > 0, peep.shape[0] > 0
    dt = gates.dtype
    one = dt.type(1.0)
    recT = rec_t(rec, H, Bw, gates)
    dh, dc = np.empty((H, Bw), dt), np.empty((H, Bw), dt)
    load_t(dh, dhT)
    load_t(dc, dcT)
    da, hx = np.empty((GH, Bw), dt), np.empty((H + D, Bw), dt)  # hx = [dh_{t-1} ⊙ rec; dx_t]
    gh, dcn = np.empty((H, Bw), dt), np.empty((H, Bw), dt)
    P = group_steps(T, Bw)
    dAp = np.empty(((GH + R - 1) // R, P * Bw, R), dt)
    done = 0
    scratch = scratch_for(gates)
    daf, dcf, dcnf, ghf = da.reshape(GH * Bw), dc.reshape(n), dcn.reshape(n), gh.reshape(n)
    di, df, do, dg = daf[:n], daf[n : 2 * n], daf[2 * n : 3 * n], daf[3 * n :]
    valid = np.ones(Bw, np.bool_)
    ordr = order(T, reverse)
    for s in range(T - 1, -1, -1):
        t = ordr[s]
        cp = (cs[ordr[s - 1]] if s > 0 else cinit).reshape(n)  # c_{t-1}
        af, ct = gates[t].reshape(GH * Bw), cs[t].reshape(n)
        i, f, o, g = af[:n], af[n : 2 * n], af[2 * n : 3 * n], af[3 * n :]
        output_gradient(gh, dh, d_out, t)  # dE/dh_t
        if peephole:
            for j in range(H):
                pi, pf, po = peep[0, j], peep[1, j], peep[2, j]
                for b in range(Bw):
                    k = j * Bw + b
                    tc, ok, ik, fk, gk = tanh(ct[k]), o[k], i[k], f[k], g[k]
                    dok = ghf[k] * tc * (one - ok) * ok
                    dck = ghf[k] * ok * ((one - tc) * (one + tc)) + dcf[k] + dok * po
                    dik = dck * gk * (one - ik) * ik
                    dfk = dck * cp[k] * (one - fk) * fk
                    di[k], df[k], do[k] = dik, dfk, dok
                    dg[k] = dck * ik * ((one - gk) * (one + gk))
                    dcnf[k] = dck * fk + dik * pi + dfk * pf
        else:
            for k in range(n):
                tc, ok, ik, fk, gk = tanh(ct[k]), o[k], i[k], f[k], g[k]
                do[k] = ghf[k] * tc * (one - ok) * ok  # dA_o = dh ⊙ tanh(c_t) ⊙ σ'
                dck = ghf[k] * ok * ((one - tc) * (one + tc)) + dcf[k]
                di[k] = dck * gk * (one - ik) * ik  # dA_i = dc ⊙ g ⊙ σ'
                df[k] = dck * cp[k] * (one - fk) * fk  # dA_f = dc ⊙ c_{t-1} ⊙ σ'
                dg[k] = dck * ik * ((one - gk) * (one + gk))  # dA_g = dc ⊙ i ⊙ tanh'
                dcnf[k] = dck * fk  # dc_{t-1} = dc ⊙ f
        if masked:
            valid = valid_columns(mask, t, Bw)
        blend(dc, dcn, valid, masked)
        zero_padded(da, valid, masked)
        if peephole:  # dp_i = Σ dA_i c_{t-1}, ...
            for j in range(H):
                si, sf, so = dt.type(0.0), dt.type(0.0), dt.type(0.0)
                for b in range(Bw):
                    k = j * Bw + b
                    si += di[k] * cp[k]
                    sf += df[k] * cp[k]
                    so += do[k] * ct[k]
                dpeep[0, j] += si
                dpeep[1, j] += sf
                dpeep[2, j] += so
        gemm(WUp, H + D, GH, da, 0, Bw, Bw, hx, 0, Bw, False, scratch)  # [W; U] dA^T
        scatter_dx(dx, hx, H, xm, t)
        if masked or recT.shape[0] > 0:
            state_gradient(dh, hx[:H], hx[:H], recT, valid, masked, False)
        else:  # dh_{t-1} is W dA^T itself (read before the next product)
            dh = hx[:H]
        row_sums(db, da, 0, GH)
        pack_columns(dAp, da, 0, GH, t % P)  # dW^T += dA Z^T every P steps
        done += 1
        if done == min(P, T - (t // P) * P):
            accumulate_dW(dAp, GH, done, Bw, Z, (t // P) * P, 0, Z.shape[1], dWt, scratch)
            done = 0
    store_t(dh0, dh)
    store_t(dc0, dc)


# ------------------------------------------------------------------ the calls (boucle.ops.fast)
def prepare_forward(cell, p, U, b, dt):
    """The forward weights: [W; U; b]^T packed, the peepholes (3, H) or (0, H), whether b exists."""
    H = p.W.shape[0]
    M = np.concatenate([p.W, U] + ([b[None]] if b is not None else [])).astype(dt, copy=False)  # (H+K, 4H)
    peep = np.stack(p.peepholes).astype(dt) if cell.peephole else np.zeros((0, H), dt)
    return packed(M, 0, M.shape[0], 0, 4 * H, True), peep, b is not None


def forward_chunk(cell, weights, x, xm, s0, mask, rec, reverse, Bw, out, final, keep):
    """Run one chunk; returns its training caches (Z, gates, cs, cinit, Bw, Hp)."""
    Ap, peep, bias = weights
    Bc, T, D = x.shape
    H, dt = out.shape[2], out.dtype
    Hp = block_width(H, dt)
    if keep:
        Kp = Hp + block_width(D, dt)
        saved = (
            np.empty((T * Bw, Kp), dt),
            np.empty((T, 4 * H, Bw), dt),
            np.empty((T, H, Bw), dt),
            np.empty((H, Bw), dt),
            Bw,
            Hp,
        )
    else:
        saved = (np.empty((0, 0), dt), np.empty((0, 0, 0), dt), np.empty((0, 0, 0), dt), np.empty((0, 0), dt), Bw, Hp)
    lstm_forward(x, xm, bias, Ap, peep, s0[0], s0[1], mask, rec, reverse, Bw, Hp, out, final[0], final[1], *saved[:4])
    return saved


def prepare_backward(cell, p, U, dt):
    """[W; U] (H+D, 4H) packed, the peepholes."""
    H = p.W.shape[0]
    WU = np.concatenate([p.W, U]).astype(dt, copy=False)
    peep = np.stack(p.peepholes).astype(dt) if cell.peephole else np.zeros((0, H), dt)
    return packed(WU, 0, WU.shape[0], 0, 4 * H, False), peep


def backward_chunk(cell, weights, saved, d_out, d_fin, mask, rec, reverse, xm, dx, ds0):
    """BPTT of one chunk: its partial ``{"WUb_t": [dW; dU; db]^T (4H, Kp), "peep": (3, H)}``."""
    WUp, peep = weights
    Z, gates, cs, cinit, Bw, Hp = saved
    GH, dt = gates.shape[1], gates.dtype
    dWt, db, dpeep = np.zeros((GH, Z.shape[1]), dt), np.zeros(GH, dt), np.zeros(peep.shape, dt)
    lstm_backward(
        d_out,
        d_fin[0],
        d_fin[1],
        WUp,
        peep,
        mask,
        rec,
        reverse,
        gates,
        cs,
        cinit,
        Z,
        xm,
        dWt,
        db,
        dx,
        ds0[0],
        ds0[1],
        dpeep,
    )
    return {"WU_t": dWt, "b": db, "peep": dpeep}


def param_grads(cell, total, H, D, has_bias):
    """The summed partials in the layers' layout."""
    dWt = total["WU_t"]
    Hp = block_width(H, dWt.dtype)
    grads = {"W": np.ascontiguousarray(dWt[:, :H].T), "U": np.ascontiguousarray(dWt[:, Hp : Hp + D].T)}
    if has_bias:
        grads["b"] = total["b"]
    if cell.peephole:
        grads["p_i"], grads["p_f"], grads["p_o"] = total["peep"]
    return grads
