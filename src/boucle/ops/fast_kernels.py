"""What the compiled kernels share (imported only when numba is installed: ``pip install boucle[fast]``).

The kernels (:mod:`boucle.ops.fast_lstm`, :mod:`boucle.ops.fast_gru`,
:mod:`boucle.ops.fast_rnn`) each run the WHOLE sequence of one batch chunk — the
recurrent products of every step and the fused gate arithmetic — in one compiled
call, for the cells of :mod:`boucle.ops.cells` (same equations, same masks and carry
as :mod:`boucle.ops.scan`; the tests hold them equal to that reference).
:mod:`boucle.ops.fast` splits the batch into chunks, one per thread.

Layout inside a kernel: **feature-major** (the transpose of the cells' row vectors).
States and per-step arrays are (H, Bw), Bw the chunk's padded width
(:func:`boucle.ops.fast_gemm.padded_width`; columns past the chunk's Bc rows are
padding that never reaches an output); the step's inputs are the column block
z_t = [h_{t-1} (⊙ rec); x_t; 1] (H + K, Bw), and the products are A z_t with A the
packed transpose of a block of [W; U; b] (:func:`boucle.ops.fast_gemm.gemm`). Each
gate block of a step is one contiguous run of H*Bw numbers, so the gate arithmetic
is flat vectorised loops.

What enters and leaves a kernel is the door's layout, batch-first: ``x`` (Bc, T, D),
``x_mask`` (Bc, D) or (0, 0), initial and final states (Bc, H), ``mask`` (Bc, T) or
(0, 0), ``rec`` (Bc, H) recurrent-dropout mask or (0, 0), outputs and their
gradients (Bc, T, H), ``dx`` (Bc, T, D) — each a contiguous block of rows of the
layer's (B, ...) array.

tanh in float32 is Eigen's rational approximation (|error| < 3e-7, vectorisable);
float64 calls libm's tanh. σ(a) = 1/2 + 1/2 tanh(a/2), as everywhere in boucle.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from .fast_gemm import R, gemm, transpose

_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
_TILE = 16  # transposes between (B, ...) and (..., Bw) by tiles

# Eigen's float32 tanh: tanh(x) ≈ x P(x²) / Q(x²) on [-7.905, 7.905] (±1 outside).
_C = np.float32(7.90531110763549805)
_A = [
    np.float32(v)
    for v in (
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    )
]
_B = [np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)]
A1, A3, A5, A7, A9, A11, A13 = _A
B0, B2, B4, B6 = _B
_HALF32 = np.float32(0.5)


def tanh(x):
    """tanh for the kernels (float32: rational approximation; float64: libm)."""
    return math.tanh(x)


@overload(tanh)
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


@overload(sigmoid)
def _sigmoid_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _HALF32 + _HALF32 * tanh(_HALF32 * x)
    return lambda x: 0.5 + 0.5 * math.tanh(0.5 * x)


@njit(**_JIT)
def order(T, reverse):
    """The forward order of the time steps."""
    return np.arange(T - 1, -1, -1) if reverse else np.arange(T)


# Loops run from 0 over slices: an index that numba cannot prove non-negative gets a
# wrap-around select that stops LLVM from vectorising; slice assignment (a[:] = b) is
# ~10x slower than these explicit loops.
@njit(**_JIT)
def copy(dst, src):
    """dst[:] = src, 1-D."""
    for k in range(dst.shape[0]):
        dst[k] = src[k]


@njit(**_JIT)
def load_t(dst, src):
    """dst (H, Bw) = src (Bc, H) transposed; padding columns zero. An empty src gives zeros."""
    dst[:] = 0.0
    for b in range(src.shape[0]):
        s = src[b]
        for j in range(dst.shape[0]):
            dst[j, b] = s[j]


@njit(**_JIT)
def store_t(dst, src):
    """dst (Bc, H) = src[:, :Bc] transposed."""
    for b in range(dst.shape[0]):
        d = dst[b]
        for j in range(src.shape[0]):
            d[j] = src[j, b]


@njit(**_JIT)
def rec_t(rec, H, Bw, dtype_like):
    """The recurrent-dropout mask as (H, Bw) (padding columns 1), or (0, 0) for none."""
    if rec.shape[0] == 0:
        return np.zeros((0, 0), dtype_like.dtype)
    out = np.ones((H, Bw), dtype_like.dtype)
    for b in range(rec.shape[0]):
        for j in range(H):
            out[j, b] = rec[b, j]
    return out


@njit(**_JIT)
def valid_columns(mask, t, Bw):
    """valid[b] = mask[b, t] for the chunk's rows, True for the padding (which is never read)."""
    v = np.ones(Bw, np.bool_)
    for b in range(mask.shape[0]):
        v[b] = mask[b, t]
    return v


@njit(**_JIT)
def input_buffer(H, x, bias, Bw, dtype_like):
    """z (H + K, Bw): zeros, the constant row 1 when ``bias`` (K = D + bias)."""
    D = x.shape[2]
    z = np.zeros((H + D + (1 if bias else 0), Bw), dtype_like.dtype)
    if bias:
        z[H + D, :] = 1.0
    return z


@njit(**_JIT)
def step_input(z, h, rec, x, xmT, t):
    """z = [h ⊙ rec (or h); x_t ⊙ x_mask (or x_t); 1]: the h rows and the chunk's x columns
    (the padding columns and the constant row stay as :func:`input_buffer` set them);
    xmT: the input-dropout mask as (D, Bw) (:func:`rec_t`), or (0, 0)."""
    H, Bw = h.shape
    n = H * Bw
    zf, hf = z.reshape(z.size)[:n], h.reshape(n)
    if rec.shape[0] > 0:
        rf = rec.reshape(n)
        for k in range(n):
            zf[k] = hf[k] * rf[k]
    else:
        copy(zf, hf)
    Bc, T, D = x.shape
    transpose(z, H * Bw, Bw, x, t * D, T * D, Bc, D)  # z[H + d, b] = x[b, t, d]
    if xmT.shape[0] > 0:
        m = D * Bw
        xf, mf = z.reshape(z.size)[n : n + m], xmT.reshape(m)
        for k in range(m):
            xf[k] *= mf[k]


@njit(**_JIT)
def store_step(dst, a, t):
    """dst[:, t*Bw:(t+1)*Bw] = a (R', Bw): one step's column block of a (R', T*Bw (+pad)) array."""
    Bw = a.shape[1]
    for r in range(a.shape[0]):
        copy(dst[r, t * Bw : (t + 1) * Bw], a[r])


@njit(**_JIT)
def blend(dst, new, valid, masked):
    """dst = new at the valid columns (all without a mask), dst kept elsewhere (the carry)."""
    if not masked:
        copy(dst.reshape(dst.size), new.reshape(new.size))
        return
    for j in range(dst.shape[0]):
        dj, nj = dst[j], new[j]
        for b in range(dst.shape[1]):
            if valid[b]:
                dj[b] = nj[b]


@njit(**_JIT)
def zero_padded(a, valid, masked):
    """a[:, b] = 0 at the columns that are not valid at this step."""
    if not masked:
        return
    z = a.dtype.type(0.0)
    for r in range(a.shape[0]):
        ar = a[r]
        for b in range(a.shape[1]):
            if not valid[b]:
                ar[b] = z


@njit(**_JIT)
def write_output(out, h, valid, masked, t):
    """out[b, t, :] = h[:, b] (0 at the padded steps), b < Bc."""
    Bc, T, H = out.shape
    transpose(out, t * H, T * H, h, 0, h.shape[1], H, Bc)
    if masked:
        for b in range(Bc):
            if not valid[b]:
                o = out[b, t]
                for j in range(H):
                    o[j] = 0.0


@njit(**_JIT)
def output_gradient(gh, dh, d_out, t):
    """gh = dh + d_out[:, t, :]^T (the state's gradient plus the output's); dh alone without d_out."""
    n = gh.size
    ghf, dhf = gh.reshape(n), dh.reshape(n)
    if d_out.shape[0] > 0:
        Bc, T, H = d_out.shape
        Bw = gh.shape[1]
        if Bc < Bw:  # the padding columns: dh alone
            for j in range(H):
                for b in range(Bc, Bw):
                    gh[j, b] = 0.0
        transpose(gh, 0, Bw, d_out, t * H, T * H, Bc, H)
        for k in range(n):
            ghf[k] += dhf[k]
    else:
        copy(ghf, dhf)


@njit(**_JIT)
def state_gradient(dh, direct, dhin, rec, valid, masked, has_direct):
    """dh_{t-1} = direct + dhin ⊙ rec at the valid columns; carried elsewhere."""
    n = dh.size
    new = np.empty_like(dh) if masked else dh
    nf, inf = new.reshape(n), dhin.reshape(n)
    df = direct.reshape(n)
    if rec.shape[0] > 0:
        rf = rec.reshape(n)
        if has_direct:
            for k in range(n):
                nf[k] = df[k] + inf[k] * rf[k]
        else:
            for k in range(n):
                nf[k] = inf[k] * rf[k]
    elif has_direct:
        for k in range(n):
            nf[k] = df[k] + inf[k]
    else:
        copy(nf, inf)
    if masked:
        blend(dh, new, valid, True)


@njit(**_JIT)
def store_rows(dst, a, H, Hp, K, t):
    """dst[t*Bw + b, :] = [a[:H, b], 0 ... (to Hp), a[H:K, b], 0 ...]: rows 0:K of one step's
    (H (+ ...), Bw) block stored transposed, as the rows (t, b) of a (T*Bw, Kp) array whose
    columns are the h part padded to Hp, then the x part (the B operand of dW^T = dA Z^T)."""
    Bw = a.shape[1]
    ld = dst.shape[1]
    transpose(dst, t * Bw * ld, ld, a, 0, Bw, H, Bw)
    if K > H:
        transpose(dst, t * Bw * ld + Hp, ld, a, H * Bw, Bw, K - H, Bw)
    z = dst.dtype.type(0.0)
    for b in range(Bw):
        row = dst[t * Bw + b]
        for j in range(H, Hp):
            row[j] = z
        for j in range(Hp + K - H, ld):
            row[j] = z


@njit(**_JIT)
def row_sums(acc, a, r0, r1):
    """acc[j] += Σ_b a[r0 + j, b] for j < r1 - r0 (the bias gradients: Σ over the batch)."""
    for j in range(r1 - r0):
        row = a[r0 + j]
        s = a.dtype.type(0.0)
        for b in range(a.shape[1]):
            s += row[b]
        acc[j] += s


@njit(**_JIT)
def group_steps(T, Bw):
    """Steps per weight-gradient product: dW^T += dA Z^T over ~64 columns at once."""
    return max(1, min(T, 64 // Bw))


@njit(**_JIT)
def accumulate_dW(dAp, M, steps, Bw, rows, t0, col0, ncols, C, scratch):
    """C[:M, :ncols] += A (M × steps*Bw) rows[t0*Bw ..., col0:col0+ncols]: the weight gradient
    of a group of ``steps`` consecutive steps from t0, A packed by
    :func:`boucle.ops.fast_gemm.pack_columns` (step t0 + s in columns s*Bw ...)."""
    ld = rows.shape[1]
    gemm(dAp, M, steps * Bw, rows, t0 * Bw * ld + col0, ld, ncols, C, 0, C.shape[1], True, scratch)


@njit(**_JIT)
def scatter_dx(dx, g, row0, xm, t):
    """dx[b, t, :] = g[row0:row0+D, b] (⊙ x_mask[b]) for the chunk's rows b < Bc."""
    Bc, T, D = dx.shape
    transpose(dx, t * D, T * D, g, row0 * g.shape[1], g.shape[1], D, Bc)
    if xm.shape[0] > 0:
        for b in range(Bc):
            o, m = dx[b, t], xm[b]
            for d in range(D):
                o[d] *= m[d]


@njit(**_JIT)
def scratch_for(dtype_like):
    """The micro-kernel's scratch (rows past a multiple of R)."""
    return np.empty(R * 16, dtype_like.dtype)
