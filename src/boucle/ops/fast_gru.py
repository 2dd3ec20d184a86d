"""Compiled GRU kernels — the course's GRU, GRU ``reset_after``, the simplified GRU — one batch
chunk, the whole sequence.

Same equations as ``cells.gru_step_*``, ``cells.gru_reset_after_step_*`` and
``cells.gru_simple_step_*``, in the feature-major layout of :mod:`boucle.ops.fast_kernels`;
z_t = [h_{t-1} (⊙ rec); x_t; 1]. Each step's products touch only the blocks they need:

* course form (``gru``): [W; U; b]^T_{z,r} z_t (2H rows), [U; b]^T_g [x_t; 1], then
  W_g^T (r ⊙ h_{t-1}) added once r is known;
* ``reset_after``: [W; U; b + b_W]^T_{z,r} z_t, s_g = W_g^T h_{t-1} + b_W_g, [U; b]^T_g [x_t; 1];
* simplified (``gru_simple``): [W; U; b]^T z_t (blocks z, g).

The three share one pair of kernels (``form`` 0, 1, 2: course, reset_after, simplified).
Backward, dh_{t-1} and dx_t come from per-step products with W and U, and the weight
gradients are accumulated every few steps as dW^T += dA Z^T (no dA kept).
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
    store_step,
    store_t,
    tanh,
    valid_columns,
    write_output,
    zero_padded,
)

_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
COURSE, RESET_AFTER, SIMPLE = 0, 1, 2
_FORMS = {"gru": COURSE, "gru_reset_after": RESET_AFTER, "gru_simple": SIMPLE}


@njit(**_JIT)
def gru_forward(form, x, xm, bias, A1, A2, A3, bW, h0, mask, rec, reverse, Bw, Hp, out, hT, Z, gates, hps, aux):
    """The GRU over one chunk (``form``: 0 course, 1 reset_after, 2 simplified)::

        course:       z, r = σ(x U + b + h W)_{z,r};  g = tanh(x U_g + b_g + (r ⊙ h) W_g)
        reset_after:  s = h W + b_W;  z, r = σ(x U + b + s)_{z,r};  g = tanh(x U_g + b_g + r ⊙ s_g)
        simplified:   z = σ(x U_z + h W_z + b_z);  g = tanh(x U_g + h W_g + b_g)
        h_t = z ⊙ g + (1 - z) ⊙ h_{t-1}

    (h = h_{t-1} ⊙ rec in the products.) A1: [W; U; b(+b_W)]^T of the first blocks
    (z, r; simplified: z, g) packed; A2: [U; b]^T_g; A3: W_g^T (course, reset_after);
    bW: b_W_g (H,) (reset_after, zeros without b_W). Writes out (Bc, T, H), hT (Bc, H);
    caches (empty without backward): Z (T*Bw, Kp) every z_t as rows
    (:func:`boucle.ops.fast_kernels.store_rows`), gates (T, G*H, Bw) after their
    activations, hps (T, H, Bw) h_{t-1}, aux: every r ⊙ h as rows (T*Bw, Hp) (course) or
    every s_g (H, T*Bw) (reset_after, step t in columns t*Bw...).
    """
    Bc, T, D = x.shape
    H = h0.shape[1]
    G = 2 if form == SIMPLE else 3
    GH, n = G * H, H * Bw
    keep, masked = Z.shape[0] > 0, mask.shape[0] > 0
    dt = out.dtype
    z = input_buffer(H, x, bias, Bw, out)
    recT, xmT = rec_t(rec, H, Bw, out), rec_t(xm, D, Bw, out)
    h, hn = np.empty((H, Bw), dt), np.empty((H, Bw), dt)
    load_t(h, h0)
    scratch = scratch_for(out)
    own_a = np.empty((0 if keep else GH, Bw), dt)
    s = np.empty((H, Bw), dt)  # r ⊙ h (course), s_g (reset_after)
    sf = s.reshape(n)
    hf, hnf, zf = h.reshape(n), hn.reshape(n), z.reshape(z.size)
    valid = np.ones(Bw, np.bool_)
    for t in order(T, reverse):
        step_input(z, h, recT, x, xmT, t)
        a = gates[t] if keep else own_a
        if keep:
            store_rows(Z, z, H, Hp, H + D, t)
            copy(hps[t].reshape(n), hf)
        af = a.reshape(GH * Bw)
        if form == SIMPLE:
            gemm(A1, 2 * H, A1.shape[1], z, 0, Bw, Bw, a, 0, Bw, False, scratch)
            zz, g = af[:n], af[n:]
            for k in range(n):
                zk, gk = sigmoid(zz[k]), tanh(g[k])
                zz[k], g[k] = zk, gk
                hnf[k] = (gk - hf[k]) * zk + hf[k]  # h_t = z ⊙ g + (1 - z) ⊙ h_{t-1}
        else:
            gemm(A1, 2 * H, A1.shape[1], z, 0, Bw, Bw, a, 0, Bw, False, scratch)  # z, r blocks
            gemm(A2, H, A2.shape[1], z, H * Bw, Bw, Bw, a, 2 * H * Bw, Bw, False, scratch)  # x U_g + b_g
            zz, r, g = af[:n], af[n : 2 * n], af[2 * n :]
            for k in range(2 * n):
                af[k] = sigmoid(af[k])
            if form == COURSE:
                for k in range(n):  # r ⊙ h (⊙ rec), into W_g^T (r ⊙ h)
                    sf[k] = r[k] * zf[k]
                gemm(A3, H, H, s, 0, Bw, Bw, a, 2 * H * Bw, Bw, True, scratch)
                for k in range(n):
                    gk = tanh(g[k])
                    g[k] = gk
                    hnf[k] = (gk - hf[k]) * zz[k] + hf[k]
            else:
                gemm(A3, H, H, z, 0, Bw, Bw, s, 0, Bw, False, scratch)  # h W_g
                for j in range(H):
                    bj = bW[j]
                    for b in range(Bw):
                        k = j * Bw + b
                        sk = sf[k] + bj  # s_g = h W_g + b_W_g
                        sf[k] = sk
                        gk = tanh(g[k] + r[k] * sk)
                        g[k] = gk
                        hnf[k] = (gk - hf[k]) * zz[k] + hf[k]
            if keep and form == COURSE:
                store_rows(aux, s, H, Hp, H, t)
            elif keep:
                store_step(aux, s, t)
        if masked:
            valid = valid_columns(mask, t, Bw)
        write_output(out, hn, valid, masked, t)
        if masked:
            blend(h, hn, valid, True)
        else:  # no carry: the new state is the state
            h, hn = hn, h
        hf, hnf = h.reshape(n), hn.reshape(n)
    store_t(hT, h)


@njit(**_JIT)
def gru_backward(
    form, d_out, dhT, W1p, W2p, Up, mask, rec, reverse, gates, hps, aux, Z, xm, C1, C2, C3, db, dbW, dx, dh0
):
    """BPTT of :func:`gru_forward` (as the cells' step_backward)::

        dA_g = dh ⊙ z ⊙ tanh'(g);  dA_z = dh ⊙ (g - h_{t-1}) ⊙ σ'(z);  direct = dh ⊙ (1 - z)
        course:      d(r⊙h) = W_g dA_g;  dA_r = d(r⊙h) ⊙ h ⊙ σ'(r);  dh = W_{zr} dA_{zr} + d(r⊙h) ⊙ r
        reset_after: dA_r = dA_g ⊙ s_g ⊙ σ'(r);  ds_g = r ⊙ dA_g;  dh = W_{zr} dA_{zr} + W_g ds_g
        simplified:  [dh; dx_t] = [W; U] dA
        dh_{t-1} = direct + dh ⊙ rec;  dx_t = U dA_t

    W1p: W_{z,r} (simplified: [W; U]) packed; W2p: W_g; Up: U (course, reset_after).
    Accumulates the transposed weight gradients (columns as Z's rows): C1 (blocks z, r;
    simplified z, g) += Σ dA z^T; C2 (H, Kxp) += Σ dA_g x^T; C3 (H, Hp) += Σ dA_g (r⊙h)^T
    (course) or Σ ds_g h^T (reset_after); db (G*H,) += Σ dA; dbW (H,) += Σ ds_g (reset_after).
    Fills dx (Bc, T, D) and dh0 (Bc, H).
    """
    T, GH, Bw = gates.shape
    G = 2 if form == SIMPLE else 3
    H = GH // G
    D = dx.shape[2]
    n = H * Bw
    masked = mask.shape[0] > 0
    dt = gates.dtype
    one = dt.type(1.0)
    Hp = C1.shape[1] - C2.shape[1] if form != SIMPLE else 0
    recT = rec_t(rec, H, Bw, gates)
    dh = np.empty((H, Bw), dt)
    load_t(dh, dhT)
    da, hx, direct = np.empty((GH, Bw), dt), np.empty((H + D, Bw), dt), np.empty((H, Bw), dt)
    gh, dsg = np.empty((H, Bw), dt), np.empty((H, Bw), dt)
    P = group_steps(T, Bw)
    M1 = GH if form == SIMPLE else 2 * H
    dAp1 = np.empty(((M1 + R - 1) // R, P * Bw, R), dt)
    dAp2 = np.empty(((H + R - 1) // R if form != SIMPLE else 0, P * Bw, R), dt)
    dAp3 = np.empty(((H + R - 1) // R if form == RESET_AFTER else 0, P * Bw, R), dt)
    done = 0
    scratch = scratch_for(gates)
    daf, ghf, df_, dsgf = da.reshape(GH * Bw), gh.reshape(n), direct.reshape(n), dsg.reshape(n)
    dhin, dhinf = hx[:H], hx[:H].reshape(n)
    valid = np.ones(Bw, np.bool_)
    for t in order(T, reverse)[::-1]:
        af, hp = gates[t].reshape(GH * Bw), hps[t].reshape(n)
        output_gradient(gh, dh, d_out, t)  # dE/dh_t
        if masked:
            valid = valid_columns(mask, t, Bw)
        if form == SIMPLE:
            zz, g, dz, dg = af[:n], af[n:], daf[:n], daf[n:]
        else:
            zz, g, dz, dg = af[:n], af[2 * n :], daf[:n], daf[2 * n :]
        for k in range(n):
            zk, gk, ghk = zz[k], g[k], ghf[k]
            df_[k] = ghk - ghk * zk  # dh ⊙ (1 - z)
            dg[k] = ghk * zk * ((one - gk) * (one + gk))  # dA_g
            dz[k] = ghk * (gk - hp[k]) * (one - zk) * zk  # dA_z
        if form == SIMPLE:
            zero_padded(da, valid, masked)
            gemm(W1p, H + D, GH, da, 0, Bw, Bw, hx, 0, Bw, False, scratch)  # [W; U] dA^T
        elif form == COURSE:
            r, dr = af[n : 2 * n], daf[n : 2 * n]
            zero_padded(da, valid, masked)
            gemm(W2p, H, H, da, 2 * H * Bw, Bw, Bw, dsg, 0, Bw, False, scratch)  # d(r ⊙ h) = W_g dA_g
            for j in range(H):
                for b in range(Bw):
                    k = j * Bw + b
                    rk = r[k]
                    dr[k] = dsgf[k] * Z[t * Bw + b, j] * (one - rk) * rk  # dA_r (Z: h_{t-1} ⊙ rec)
                    dsgf[k] = dsgf[k] * rk  # d(r ⊙ h) ⊙ r
            gemm(W1p, H, 2 * H, da, 0, Bw, Bw, hx, 0, Bw, False, scratch)  # W_{zr} dA_{zr}
            for k in range(n):
                dhinf[k] += dsgf[k]
            gemm(Up, D, GH, da, 0, Bw, Bw, hx, H * Bw, Bw, False, scratch)  # dx_t = U dA
        else:
            r, dr = af[n : 2 * n], daf[n : 2 * n]
            for j in range(H):
                sj = aux[j, t * Bw : (t + 1) * Bw]  # s_g
                for b in range(Bw):
                    k = j * Bw + b
                    rk = r[k]
                    dr[k] = dg[k] * sj[b] * (one - rk) * rk  # dA_r = dA_g ⊙ s_g ⊙ σ'(r)
                    dsgf[k] = rk * dg[k]  # ds_g = r ⊙ dA_g
            zero_padded(da, valid, masked)
            zero_padded(dsg, valid, masked)
            gemm(W1p, H, 2 * H, da, 0, Bw, Bw, hx, 0, Bw, False, scratch)  # W_{zr} dA_{zr}
            gemm(W2p, H, H, dsg, 0, Bw, Bw, hx, 0, Bw, True, scratch)  # + W_g ds_g
            gemm(Up, D, GH, da, 0, Bw, Bw, hx, H * Bw, Bw, False, scratch)  # dx_t = U dA
            row_sums(dbW, dsg, 0, H)
        scatter_dx(dx, hx, H, xm, t)
        if masked or recT.shape[0] > 0:
            state_gradient(dh, direct, dhin, recT, valid, masked, True)
        else:  # dh_{t-1} = direct + dhin, in place (read before the next product)
            for k in range(n):
                dhinf[k] += df_[k]
            dh = dhin
        row_sums(db, da, 0, GH)
        slot = t % P  # dW^T += dA Z^T every P steps
        pack_columns(dAp1, da, 0, M1, slot)
        if form != SIMPLE:
            pack_columns(dAp2, da, 2 * H, 3 * H, slot)
        if form == RESET_AFTER:
            pack_columns(dAp3, dsg, 0, H, slot)
        done += 1
        if done == min(P, T - (t // P) * P):
            t0 = (t // P) * P
            accumulate_dW(dAp1, M1, done, Bw, Z, t0, 0, Z.shape[1], C1, scratch)
            if form != SIMPLE:
                accumulate_dW(dAp2, H, done, Bw, Z, t0, Hp, Z.shape[1] - Hp, C2, scratch)
            if form == COURSE:
                accumulate_dW(dAp2, H, done, Bw, aux, t0, 0, Hp, C3, scratch)
            elif form == RESET_AFTER:
                accumulate_dW(dAp3, H, done, Bw, Z, t0, 0, Hp, C3, scratch)
            done = 0
    store_t(dh0, dh)


# ------------------------------------------------------------------ the calls (boucle.ops.fast)
def _stack(p, U, b, dt, with_bW):
    """[W; U; b] (H+K, G*H), b + b_W on the z, r blocks when ``with_bW`` (the constant row
    exists when b or b_W does)."""
    rows = [p.W, U]
    H = p.W.shape[0]
    bW = p.b_W if with_bW else None
    if b is not None or bW is not None:
        bb = np.zeros(p.W.shape[1], dt) if b is None else np.array(b, dtype=dt)
        if bW is not None:
            bb[: 2 * H] += bW.reshape(-1)[: 2 * H]
        rows.append(bb[None])
    return np.concatenate(rows).astype(dt, copy=False)


def prepare_forward(cell, p, U, b, dt):
    form = _FORMS[cell.kind]
    H = p.W.shape[0]
    M = _stack(p, U, b, dt, form == RESET_AFTER)
    K1 = M.shape[0]
    if form == SIMPLE:
        A1, A2, A3 = packed(M, 0, K1, 0, 2 * H, True), np.zeros((0, 0, 0), dt), np.zeros((0, 0, 0), dt)
    else:
        A1 = packed(M, 0, K1, 0, 2 * H, True)
        A2 = packed(M, H, K1, 2 * H, 3 * H, True)
        A3 = packed(M, 0, H, 2 * H, 3 * H, True)
    bW = np.zeros(H, dt)
    if form == RESET_AFTER and p.b_W is not None:
        bW[:] = p.b_W.reshape(-1)[2 * H :]
    return form, A1, A2, A3, bW, M.shape[0] > H + U.shape[0]


def forward_chunk(cell, weights, x, xm, s0, mask, rec, reverse, Bw, out, final, keep):
    """Run one chunk; returns its training caches (Z, gates, hps, aux, Bw)."""
    form, A1, A2, A3, bW, bias = weights
    Bc, T, D = x.shape
    H, dt = out.shape[2], out.dtype
    G = 2 if form == SIMPLE else 3
    Hp = block_width(H, dt)
    if keep:
        Kp = Hp + block_width(D, dt)
        aux = {COURSE: (T * Bw, Hp), RESET_AFTER: (H, T * Bw), SIMPLE: (0, 0)}[form]
        saved = (
            np.empty((T * Bw, Kp), dt),
            np.empty((T, G * H, Bw), dt),
            np.empty((T, H, Bw), dt),
            np.empty(aux, dt),
            Bw,
        )
    else:
        saved = (np.empty((0, 0), dt), np.empty((0, 0, 0), dt), np.empty((0, 0, 0), dt), np.empty((0, 0), dt), Bw)
    gru_forward(form, x, xm, bias, A1, A2, A3, bW, s0[0], mask, rec, reverse, Bw, Hp, out, final[0], *saved[:4])
    return saved


def prepare_backward(cell, p, U, dt):
    form = _FORMS[cell.kind]
    H = p.W.shape[0]
    W, U = np.asarray(p.W, dt), np.asarray(U, dt)
    GH = W.shape[1]
    none = np.zeros((0, 0, 0), dt)
    if form == SIMPLE:
        WU = np.concatenate([W, U])
        return form, packed(WU, 0, WU.shape[0], 0, GH, False), none, none
    return (
        form,
        packed(W, 0, H, 0, 2 * H, False),
        packed(W, 0, H, 2 * H, 3 * H, False),
        packed(U, 0, U.shape[0], 0, GH, False),
    )


def backward_chunk(cell, weights, saved, d_out, d_fin, mask, rec, reverse, xm, dx, ds0):
    """BPTT of one chunk: its partial transposed weight gradients (see :func:`gru_backward`)."""
    form, W1p, W2p, Up = weights
    Z, gates, hps, aux, Bw = saved
    T, GH, _ = gates.shape
    dt, H = gates.dtype, hps.shape[1]
    Hp, Kp = block_width(H, dt), Z.shape[1]
    M1 = GH if form == SIMPLE else 2 * H
    C1 = np.zeros((M1, Kp), dt)
    C2 = np.zeros((0, 0) if form == SIMPLE else (H, Kp - Hp), dt)
    C3 = np.zeros((0, 0) if form == SIMPLE else (H, Hp), dt)
    db, dbW = np.zeros(GH, dt), np.zeros(H if form == RESET_AFTER else 0, dt)
    gru_backward(
        form, d_out, d_fin[0], W1p, W2p, Up, mask, rec, reverse, gates, hps, aux, Z, xm, C1, C2, C3, db, dbW, dx, ds0[0]
    )
    return {"C1": C1, "C2": C2, "C3": C3, "b": db, "dbW": dbW}


def param_grads(cell, total, H, D, has_bias):
    """The summed partials in the layers' layout (W, U, b; b_W for reset_after)."""
    C1 = total["C1"]
    Hp = block_width(H, C1.dtype)
    if cell.kind == "gru_simple":
        grads = {"W": np.ascontiguousarray(C1[:, :H].T), "U": np.ascontiguousarray(C1[:, Hp : Hp + D].T)}
        if has_bias:
            grads["b"] = total["b"]
        return grads
    C2, C3 = total["C2"], total["C3"]
    grads = {
        "W": np.concatenate([C1[:, :H].T, C3[:, :H].T], axis=1),
        "U": np.concatenate([C1[:, Hp : Hp + D].T, C2[:, :D].T], axis=1),
    }
    if has_bias:
        grads["b"] = total["b"]
    if cell.kind == "gru_reset_after" and cell.recurrent_bias:
        grads["b_W"] = np.concatenate([total["b"][: 2 * H], total["dbW"]])
    return grads
