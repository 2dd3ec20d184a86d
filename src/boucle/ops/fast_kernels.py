"""numba kernels of the accelerated time loop (imported by :mod:`boucle.ops.fast` only
when numba is installed: ``pip install boucle[fast]``).

Each kernel runs the WHOLE sequence — recurrent GEMM and fused gate arithmetic
of every step — in one compiled call, for the cells of :mod:`boucle.ops.cells`
(same equations, same masks and carry as :mod:`boucle.ops.scan`; the tests hold
them equal to that reference).

Layout: **feature-major** (the transpose of the cells' row vectors). States and
per-step arrays are (H, B); the products are W^T h^T (forward) and W dA^T
(backward), which OpenBLAS runs 1.1-1.5x faster than h W and dA W^T when B is
small; each gate block of a step is one contiguous run of H*B numbers, so the gate
arithmetic is flat vectorised loops. The gate pre-activations of step t are

* LSTM: ``WUT @ z_t`` with ``z_t = [h_{t-1}; x_t; 1]`` (H+K, B) and
  ``WUT = [W; U; b]^T`` — the input projection and the recurrent product in ONE GEMM
  per step (``xs`` = [x, 1] as (T, K, B)); or, given the projections themselves,
  ``W^T h^T + xs[t]`` (``xs`` = xu as (T, G*H, B), ``WUT = W^T``). ``Z`` (H+K, T*B)
  receives every z_t (the factors of [dW; dU; db] = Z dA, one GEMM after the loop);
* GRU reset_after (whose g block needs h W_g apart from x U_g): ``W^T h^T`` plus the
  step's columns of xuT = (X U + b)^T (G*H, T*B).

The input gradient dxuT = dA^T is (G*H, T*B), step t in columns [t*B, (t+1)*B).
mask: (T, B) bool, or an empty (0, 0) array for "no mask"; rec: recurrent-dropout
mask (H, B), or (0, 0).

tanh in float32 is Eigen's rational approximation (|error| < 3e-7, vectorisable);
float64 calls libm's tanh. σ(a) = 1/2 + 1/2 tanh(a/2), as everywhere in boucle.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

_JIT = dict(cache=True, nogil=True, error_model="numpy")

# Eigen's float32 tanh: tanh(x) ≈ x P(x²) / Q(x²) on [-7.905, 7.905] (±1 outside).
_C = np.float32(7.90531110763549805)
_A = [np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                              5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                              -2.76076847742355e-16)]
_B = [np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                              1.19825839466702e-06)]
A1, A3, A5, A7, A9, A11, A13 = _A
B0, B2, B4, B6 = _B
_HALF32 = np.float32(0.5)


def tanh(x):
    """tanh for the kernels (float32: rational approximation; float64: libm)."""
    return math.tanh(x)


@overload(tanh, inline="always")
def _tanh_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        def impl(x):
            y = min(max(x, -_C), _C)
            y2 = y * y
            p = y2 * A13 + A11
            p = y2 * p + A9
            p = y2 * p + A7
            p = y2 * p + A5
            p = y2 * p + A3
            p = y2 * p + A1
            q = y2 * B6 + B4
            q = y2 * q + B2
            q = y2 * q + B0
            return y * p / q
        return impl
    return lambda x: math.tanh(x)


def sigmoid(x):
    """σ(x) = 1/2 + 1/2 tanh(x/2)."""
    return 0.5 + 0.5 * math.tanh(0.5 * x)


@overload(sigmoid, inline="always")
def _sigmoid_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _HALF32 + _HALF32 * tanh(_HALF32 * x)
    return lambda x: 0.5 + 0.5 * math.tanh(0.5 * x)


@njit(**_JIT)
def _order(T, reverse):
    """The forward order of the time steps."""
    return np.arange(T - 1, -1, -1) if reverse else np.arange(T)


# Loops run from 0 over slices: an index that numba cannot prove non-negative gets a
# wrap-around select that stops LLVM from vectorising; slice assignment (a[:] = b) is
# ~10x slower than these explicit loops.
@njit(**_JIT)
def _copy(dst, src):
    """dst[:] = src, 1-D."""
    for k in range(dst.shape[0]):
        dst[k] = src[k]


@njit(**_JIT)
def _store_slab(dstT, a, t):
    """dstT[:, t*B:(t+1)*B] = a, a (R, B)."""
    B = a.shape[1]
    for r in range(a.shape[0]):
        _copy(dstT[r, t * B:(t + 1) * B], a[r])


@njit(**_JIT)
def _blend(dst, new, mask, t):
    """dst = new at the valid columns of step t (all without a mask), dst kept elsewhere (carry)."""
    if mask.shape[0] == 0:
        _copy(dst.reshape(dst.size), new.reshape(new.size))
        return
    m = mask[t]
    for j in range(dst.shape[0]):
        dj, nj = dst[j], new[j]
        for b in range(dst.shape[1]):
            if m[b]:
                dj[b] = nj[b]


@njit(**_JIT)
def _zero_padded(a, mask, t):
    """a[:, b] = 0 at the padded columns b of step t."""
    if mask.shape[0] == 0:
        return
    m = mask[t]
    z = a.dtype.type(0.0)
    for r in range(a.shape[0]):
        ar = a[r]
        for b in range(a.shape[1]):
            if not m[b]:
                ar[b] = z


@njit(**_JIT)
def _step_input(z, h, rec, xs, t, H):
    """z = [h ⊙ rec (or h); xs[t]] when z has more than H rows (then a = WUT z is complete),
    else z = h ⊙ rec (or h) and xs[t] is added to a after the product (see :func:`_add_input`)."""
    _recurrent_input(z[:H], h, rec)
    if z.shape[0] > H:
        n = (z.shape[0] - H) * z.shape[1]
        _copy(z[H:].reshape(n), xs[t].reshape(n))


@njit(**_JIT)
def _add_input(a, z, xs, t, H):
    """a += xs[t] (the step's input projection) when z holds h alone."""
    if z.shape[0] == H:
        n = a.size
        af, xf = a.reshape(n), xs[t].reshape(n)
        for k in range(n):
            af[k] += xf[k]


@njit(**_JIT)
def _recurrent_input(hin, h, rec):
    """hin = h ⊙ rec (recurrent dropout) or h, flat."""
    n = h.size
    hf, inf = h.reshape(n), hin.reshape(n)
    if rec.shape[0] > 0:
        rf = rec.reshape(n)
        for k in range(n):
            inf[k] = hf[k] * rf[k]
    else:
        _copy(inf, hf)


@njit(**_JIT)
def _output_gradient(gh, dh, d_out, t):
    """gh = dh + d_out[t] (the state's gradient plus the output's), flat; dh alone without d_out."""
    n = gh.shape[0]
    dhf = dh.reshape(n)
    if d_out.shape[0] > 0:
        of = d_out[t].reshape(n)
        for k in range(n):
            gh[k] = dhf[k] + of[k]
    else:
        _copy(gh, dhf)


@njit(**_JIT)
def _state_gradient(dh, direct, dhin, rec, mask, t):
    """dh_{t-1} = direct + dhin ⊙ rec (rec: recurrent dropout) at the valid columns; carried elsewhere."""
    new = np.empty_like(dh)
    n = dh.size
    nf, df, inf = new.reshape(n), direct.reshape(n), dhin.reshape(n)
    if rec.shape[0] > 0:
        rf = rec.reshape(n)
        for k in range(n):
            nf[k] = df[k] + inf[k] * rf[k]
    else:
        for k in range(n):
            nf[k] = df[k] + inf[k]
    _blend(dh, new, mask, t)


# ------------------------------------------------------------------ LSTM
@njit(**_JIT)
def lstm_forward(xs, WUT, h0, c0, mask, rec, reverse, Z, out, gates, cs):
    """Seed 002's LSTM over the sequence (blocks i, f, o, g)::

        [i f o] = σ(x_t U + b + h_{t-1} W)[:3H],  g = tanh(...)[3H:]
        c_t = i ⊙ g + f ⊙ c_{t-1},  h_t = o ⊙ tanh(c_t)

    Fills the outputs out (T, H, B), the caches gates (T, 4H, B) = [i, f, o, g] and cs
    (T, H, B) (the carried c after each step) and Z with z_t (see the module doc);
    returns h_T, c_T. (Large arrays come from the caller: NumPy backs them with huge pages.)
    """
    GH = WUT.shape[0]
    H, B = h0.shape
    T, n = xs.shape[0], H * B
    dt = xs.dtype
    z = np.empty((Z.shape[0], B), dt)
    cn, hn, tch = np.empty((H, B), dt), np.empty((H, B), dt), np.empty((H, B), dt)
    h, c = h0.copy(), c0.copy()
    cnf, hnf, cf = cn.reshape(n), hn.reshape(n), c.reshape(n)
    for t in _order(T, reverse):
        a = gates[t]
        _step_input(z, h, rec, xs, t, H)
        _store_slab(Z, z, t)
        np.dot(WUT, z, a)                              # (x_t U + b + h_{t-1} W)^T, (4H, B)
        _add_input(a, z, xs, t, H)
        af = a.reshape(GH * B)
        for k in range(3 * n):                         # i, f, o = σ(.)
            af[k] = sigmoid(af[k])
        i, f, o, g = af[:n], af[n:2 * n], af[2 * n:3 * n], af[3 * n:]
        for k in range(n):                             # g = tanh(.)
            g[k] = tanh(g[k])
        for k in range(n):                             # c_t = i ⊙ g + f ⊙ c_{t-1}
            cnf[k] = i[k] * g[k] + f[k] * cf[k]
        tc = tch.reshape(n)
        for k in range(n):
            tc[k] = tanh(cnf[k])
        for k in range(n):                             # h_t = o ⊙ tanh(c_t)
            hnf[k] = o[k] * tc[k]
        _blend(c, cn, mask, t)
        _blend(h, hn, mask, t)
        _copy(out[t].reshape(n), hnf)
        _zero_padded(out[t], mask, t)
        _copy(cs[t].reshape(n), cf)
    return h, c


@njit(**_JIT)
def lstm_backward(d_out, dhT, dcT, W, mask, rec, reverse, gates, cs, c0, dxuT):
    """BPTT of :func:`lstm_forward` (as ``cells.lstm_step_backward``)::

        do = dh ⊙ tanh c_t;  dc = dc_next + dh ⊙ o ⊙ (1 - tanh² c_t)
        di = dc ⊙ g;  df = dc ⊙ c_{t-1};  dg = dc ⊙ i;  dc_{t-1} = dc ⊙ f
        dA = [di σ', df σ', do σ', dg tanh'];  dh_{t-1} = (dA W^T)^T = W dA^T

    Fills dxuT (4H, T*B); returns dh_0, dc_0 (H, B).
    """
    T, GH, B = gates.shape
    H = GH // 4
    n = H * B
    dt = gates.dtype
    one = dt.type(1.0)
    da = np.empty((GH, B), dt)
    dhin, dcn = np.empty((H, B), dt), np.empty((H, B), dt)
    direct = np.zeros((H, B), dt)
    gh, tc = np.empty(n, dt), np.empty(n, dt)
    dh, dc = dhT.copy(), dcT.copy()
    daf, dcnf, dcf = da.reshape(GH * B), dcn.reshape(n), dc.reshape(n)
    di, df, do, dg = daf[:n], daf[n:2 * n], daf[2 * n:3 * n], daf[3 * n:]
    order = _order(T, reverse)
    for s in range(T - 1, -1, -1):
        t = order[s]
        cp = (cs[order[s - 1]] if s > 0 else c0).reshape(n)     # c_{t-1}
        af, ct = gates[t].reshape(GH * B), cs[t].reshape(n)
        i, f, o, g = af[:n], af[n:2 * n], af[2 * n:3 * n], af[3 * n:]
        for k in range(n):                             # tanh(c_t), recomputed (cheaper than a cache)
            tc[k] = tanh(ct[k])
        _output_gradient(gh, dh, d_out, t)             # dE/dh_t
        for k in range(n):                             # dA_o = dh ⊙ tanh(c_t) ⊙ σ'
            do[k] = gh[k] * tc[k] * (one - o[k]) * o[k]
        for k in range(n):                             # dc = dc_next + dh ⊙ o ⊙ tanh'(c_t)
            dcnf[k] = gh[k] * o[k] * ((one - tc[k]) * (one + tc[k])) + dcf[k]
        for k in range(n):                             # dA_i = dc ⊙ g ⊙ σ'
            di[k] = dcnf[k] * g[k] * (one - i[k]) * i[k]
        for k in range(n):                             # dA_f = dc ⊙ c_{t-1} ⊙ σ'
            df[k] = dcnf[k] * cp[k] * (one - f[k]) * f[k]
        for k in range(n):                             # dA_g = dc ⊙ i ⊙ tanh'
            dg[k] = dcnf[k] * i[k] * ((one - g[k]) * (one + g[k]))
        for k in range(n):                             # dc_{t-1} = dc ⊙ f
            dcnf[k] *= f[k]
        _blend(dc, dcn, mask, t)
        _zero_padded(da, mask, t)
        np.dot(W, da, dhin)                            # (dA W^T)^T, (H, B)
        _store_slab(dxuT, da, t)
        _state_gradient(dh, direct, dhin, rec, mask, t)
    return dh, dc


# ------------------------------------------------------------------ GRU, reset after (cuDNN / PyTorch form)
@njit(**_JIT)
def gru_reset_after_forward(xuT, W, bW, h0, mask, rec, reverse, hinsT, out, gates, hps, sgs):
    """s = h_{t-1} W + b_W;  z, r = σ(x U_{z,r} + b_{z,r} + s_{z,r});  g = tanh(x U_g + b_g + r ⊙ s_g);
    h_t = z ⊙ g + (1 - z) ⊙ h_{t-1}.  bW: (3H,) or (0,) for none.

    Fills the outputs out (T, H, B), the caches gates (T, 3H, B) = [z, r, g], hps (h_{t-1})
    and sgs (s_g), (T, H, B), and hinsT (H, T*B) with h_{t-1} (⊙ rec); returns h_T.
    """
    GH, TB = xuT.shape
    H, B = h0.shape
    T, n = TB // B, H * B
    dt = xuT.dtype
    WT = np.ascontiguousarray(W.T)
    hin, hn = np.empty((H, B), dt), np.empty((H, B), dt)
    bias = bW if bW.shape[0] > 0 else np.zeros(GH, dt)
    h = h0.copy()
    hf, hnf = h.reshape(n), hn.reshape(n)
    for t in _order(T, reverse):
        _recurrent_input(hin, h, rec)
        _store_slab(hinsT, hin, t)
        _copy(hps[t].reshape(n), hf)
        a = gates[t]
        np.dot(WT, hin, a)                             # s^T = (h_{t-1} W)^T, (3H, B)
        for rw in range(2 * H):                        # z, r = σ(x U + b + s + b_W)
            ar, xr = a[rw], xuT[rw, t * B:(t + 1) * B]
            for b in range(B):
                ar[b] = sigmoid((ar[b] + bias[rw]) + xr[b])
        for j in range(H):                             # s_g = h W_g + b_W_g;  g = tanh(x U_g + b_g + r ⊙ s_g)
            sj, rj, gj = sgs[t, j], a[H + j], a[2 * H + j]
            xj, bj = xuT[2 * H + j, t * B:(t + 1) * B], bias[2 * H + j]
            for b in range(B):
                sj[b] = gj[b] + bj
                gj[b] = tanh(rj[b] * sj[b] + xj[b])
        af = a.reshape(GH * B)
        z, g = af[:n], af[2 * n:]
        for k in range(n):                             # h_t = z ⊙ g + (1 - z) ⊙ h_{t-1}
            hnf[k] = (g[k] - hf[k]) * z[k] + hf[k]
        _blend(h, hn, mask, t)
        _copy(out[t].reshape(n), hnf)
        _zero_padded(out[t], mask, t)
    return h


@njit(**_JIT)
def gru_reset_after_backward(d_out, dhT, W, mask, rec, reverse, gates, hps, sgs, dxuT, dsT):
    """BPTT of :func:`gru_reset_after_forward` (as ``cells.gru_reset_after_step_backward``)::

        dA_g = dh ⊙ z ⊙ tanh'(g);  dA_z = dh ⊙ (g - h_{t-1}) ⊙ σ'(z);  dA_r = dA_g ⊙ s_g ⊙ σ'(r)
        ds = [dA_z, dA_r, r ⊙ dA_g];  dh_{t-1} = dh ⊙ (1 - z) + W ds^T

    Fills dxuT = dA^T (3H, T*B) and dsT (3H, T*B) (dW = Σ hin^T ds, db_W = Σ ds); returns dh_0.
    """
    T, GH, B = gates.shape
    H = GH // 3
    n = H * B
    dt = gates.dtype
    one = dt.type(1.0)
    da, ds = np.empty((GH, B), dt), np.empty((GH, B), dt)
    dhin, direct = np.empty((H, B), dt), np.empty((H, B), dt)
    gh = np.empty(n, dt)
    dh = dhT.copy()
    daf, dsf, ddf = da.reshape(GH * B), ds.reshape(GH * B), direct.reshape(n)
    dz, dr, dg, dsg = daf[:n], daf[n:2 * n], daf[2 * n:], dsf[2 * n:]
    for t in _order(T, reverse)[::-1]:
        af, hp, sg = gates[t].reshape(GH * B), hps[t].reshape(n), sgs[t].reshape(n)
        z, r, g = af[:n], af[n:2 * n], af[2 * n:]
        _output_gradient(gh, dh, d_out, t)             # dE/dh_t
        for k in range(n):                             # dh ⊙ (1 - z), the direct path to h_{t-1}
            ddf[k] = gh[k] - gh[k] * z[k]
        for k in range(n):                             # dA_g = dh ⊙ z ⊙ tanh'(g)
            dg[k] = gh[k] * z[k] * ((one - g[k]) * (one + g[k]))
        for k in range(n):                             # dA_z = dh ⊙ (g - h_{t-1}) ⊙ σ'(z)
            dz[k] = gh[k] * (g[k] - hp[k]) * (one - z[k]) * z[k]
        for k in range(n):                             # dA_r = dA_g ⊙ s_g ⊙ σ'(r)
            dr[k] = dg[k] * sg[k] * (one - r[k]) * r[k]
        _copy(dsf[:2 * n], daf[:2 * n])
        for k in range(n):                             # ds_g = r ⊙ dA_g
            dsg[k] = r[k] * dg[k]
        _zero_padded(da, mask, t)
        _zero_padded(ds, mask, t)
        np.dot(W, ds, dhin)                            # (ds W^T)^T
        _store_slab(dxuT, da, t)
        _store_slab(dsT, ds, t)
        _state_gradient(dh, direct, dhin, rec, mask, t)
    return dh
