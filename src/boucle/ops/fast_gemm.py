"""The compiled loop's matrix products: a register-blocked GEMM micro-kernel for numba.

Inside the time loop every step multiplies the same weights by a thin matrix: the
step's inputs z_t (K, Bw), K = H (+ D + 1), Bw = the batch chunk, ~4-64 columns.
A BLAS call repacks the weights at every step and runs its kernel on a shape it was
not tuned for (OpenBLAS: 78-92 GFLOP/s on the shapes of an LSTM step here, against
~97 for large products). This module packs the weights ONCE per sequence and runs a
micro-kernel written in LLVM IR (a numba ``intrinsic``):

    C[0:R, 0:L] (+)= Σ_k A[0:R, k] B[k, 0:L]

R rows of A (24 with AVX-512 or on AArch64, whose 32 vector registers hold 24
accumulators; 12 elsewhere) times one vector of L lanes of B per k — R fused
multiply-adds of a broadcast A value with the B vector, the accumulators held in
registers for all of K, stored once. Measured 113-116 GFLOP/s in float32 on the
LSTM step shapes (AVX-512, one core), near the core's peak.

Layouts: A is packed (nb, K, R) by :func:`pack` (``A[ib*R + r, k]`` at
``[ib, k, r]``, rows past M zero); B is any row-major matrix addressed by an element
offset and a row stride ``ldb``; C likewise. The column count N of a product is a
sum of lane widths (:func:`padded_width`): full vectors, then one narrower vector for
the rest — a chunk of Bc batch rows is computed Bw = padded_width(Bc) wide (at most
one vector of padding; at B = 1 a 4-lane float32 vector: as fast as a
matrix-vector product, which is bound by reading A).
"""

from __future__ import annotations

import llvmlite.binding as _ll
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["R", "LANES32", "LANES64", "lanes", "padded_width", "block_width", "pack", "pack_columns", "packed", "gemm"]

_FEATURES = _ll.get_host_cpu_features()
_AVX512 = bool(_FEATURES.get("avx512f", False))
_WIDE = bool(_FEATURES.get("avx2", False) or _FEATURES.get("avx", False))
_AARCH64 = "aarch64" in _ll.get_default_triple() or "arm64" in _ll.get_default_triple()

#: rows of A per micro-kernel call (accumulators held in vector registers).
R: int = 24 if (_AVX512 or _AARCH64) else 12
#: vector widths (lanes) in float32 / float64, widest first.
LANES32: tuple = (16, 8, 4) if _AVX512 else (8, 4) if _WIDE else (4,)
LANES64: tuple = tuple(w // 2 for w in LANES32)

_JIT = dict(cache=True, nogil=True, error_model="numpy")


def lanes(dtype) -> tuple:
    """The vector widths of ``dtype`` (float32 or float64), widest first."""
    return LANES32 if np.dtype(dtype) == np.float32 else LANES64


def padded_width(n: int, dtype) -> int:
    """The width a chunk of ``n`` columns is computed at: full vectors, then the narrowest
    vector that holds the rest (0 for n = 0)."""
    widths = lanes(dtype)
    if n <= 1:
        return n  # one column: a matrix-vector product (no vector padding)
    full, rest = divmod(n, widths[0])
    if rest == 0:
        return n
    return full * widths[0] + min(w for w in widths if w >= rest)


def block_width(n: int, dtype) -> int:
    """:func:`padded_width` for a block of columns placed side by side with others in one
    product (at least one narrowest vector, so that every block starts on a vector)."""
    return max(padded_width(n, dtype), lanes(dtype)[-1])


def _microkernel(cls: int, accumulate: bool, rows: int = 0):
    """The intrinsic ``mk(A, a_off, B, b_off, ldb, C, c_off, ldc, K)`` of width class ``cls``
    (0 = widest): LANES32[cls] lanes in float32, LANES64[cls] in float64; the first ``rows``
    rows of a packed block (default all R)."""
    rows = rows or R

    @intrinsic
    def mk(typingctx, A, a_off, B, b_off, ldb, C, c_off, ldc, K):
        if not (
            isinstance(A, types.Array)
            and isinstance(B, types.Array)
            and isinstance(C, types.Array)
            and A.dtype == B.dtype == C.dtype
            and A.dtype in (types.float32, types.float64)
        ):
            return None
        sig = types.void(A, types.intp, B, types.intp, types.intp, C, types.intp, types.intp, types.intp)
        bits = A.dtype.bitwidth
        L = (_W32 if bits == 32 else _W64)[cls]

        def codegen(context, builder, signature, args):
            a_arr, a_off_, b_arr, b_off_, ldb_, c_arr, c_off_, ldc_, K_ = args
            fty = ir.FloatType() if bits == 32 else ir.DoubleType()
            vty = ir.VectorType(fty, L)
            i64 = ir.IntType(64)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty, vty, vty]), f"llvm.fma.v{L}f{bits}"
            )
            base = [
                context.make_array(ty)(context, builder, v).data
                for ty, v in ((signature.args[0], a_arr), (signature.args[2], b_arr), (signature.args[5], c_arr))
            ]
            a = builder.gep(base[0], [a_off_])
            b = builder.gep(base[1], [b_off_])
            c = builder.gep(base[2], [c_off_])
            zero = ir.Constant(vty, [ir.Constant(fty, 0.0)] * L)
            acc = [cgutils.alloca_once(builder, vty) for _ in range(rows)]
            for slot in acc:
                builder.store(zero, slot)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), L), [0] * L)
            with cgutils.for_range(builder, K_) as loop:
                k = loop.index
                bv = builder.load(builder.bitcast(builder.gep(b, [builder.mul(k, ldb_)]), vty.as_pointer()), align=4)
                ap = builder.gep(a, [builder.mul(k, ir.Constant(i64, R))])
                for r in range(rows):
                    s = builder.load(builder.gep(ap, [ir.Constant(i64, r)]))
                    sv = builder.insert_element(ir.Constant(vty, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
                    sv = builder.shuffle_vector(sv, ir.Constant(vty, ir.Undefined), splat)
                    builder.store(builder.call(fma, [sv, bv, builder.load(acc[r])]), acc[r])
            for r in range(rows):
                p = builder.bitcast(builder.gep(c, [builder.mul(ir.Constant(i64, r), ldc_)]), vty.as_pointer())
                v = builder.load(acc[r])
                if accumulate:
                    v = builder.fadd(builder.load(p, align=4), v)
                builder.store(v, p, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return mk


# Three width classes (widest, middle, narrowest; repeated where the machine has fewer).
_W32 = LANES32 + (LANES32[-1],) * (3 - len(LANES32))
_W64 = tuple(w // 2 for w in _W32)
_mk0_set, _mk0_acc = _microkernel(0, False), _microkernel(0, True)
_mk1_set, _mk1_acc = _microkernel(1, False), _microkernel(1, True)
_mk2_set, _mk2_acc = _microkernel(2, False), _microkernel(2, True)
# the last, partial row block: R/3 or 2R/3 rows (into the scratch)
_mk0_r1, _mk1_r1, _mk2_r1 = (_microkernel(c, False, R // 3) for c in range(3))
_mk0_r2, _mk1_r2, _mk2_r2 = (_microkernel(c, False, 2 * R // 3) for c in range(3))


@njit(**_JIT)
def pack(M, r0, r1, c0, c1, transpose, out):
    """Pack A for :func:`gemm` into ``out`` (nb, K, R): A = M[r0:r1, c0:c1] (``transpose``
    False) or its transpose (True; then A's rows are M's columns c0:c1). Rows past A's
    last are zero."""
    nb = out.shape[0]
    z = out.dtype.type(0.0)
    if transpose:
        rows, K = c1 - c0, r1 - r0
    else:
        rows, K = r1 - r0, c1 - c0
    for ib in range(nb):
        n = min(R, rows - ib * R)
        if transpose:  # runs of n along M's rows
            for k in range(K):
                src, dst = M[r0 + k], out[ib, k]
                for r in range(n):
                    dst[r] = src[c0 + ib * R + r]
                for r in range(n, R):
                    dst[r] = z
        else:
            for r in range(n):  # runs along M's columns
                src = M[r0 + ib * R + r]
                for k in range(K):
                    out[ib, k, r] = src[c0 + k]
            for r in range(n, R):
                for k in range(K):
                    out[ib, k, r] = z


@njit(**_JIT)
def pack_columns(out, a, r0, r1, slot):
    """out[ib, slot*Bw + b, r] = a[r0 + ib*R + r, b] (zero past r1): one step's (rows, Bw)
    block as the columns k = slot*Bw ... of a packed A (:func:`gemm`'s K axis)."""
    Bw = a.shape[1]
    K = out.shape[1]
    z = out.dtype.type(0.0)
    for ib in range(out.shape[0]):
        n = max(0, min(R, r1 - r0 - ib * R))
        transpose(out, (ib * K + slot * Bw) * R, R, a, (r0 + ib * R) * Bw, Bw, n, Bw)
        for b in range(Bw):
            dst = out[ib, slot * Bw + b]
            for r in range(n, R):
                dst[r] = z


def _tile_transpose(cls: int):
    """The intrinsic ``tt(S, s_off, lds, D, d_off, ldd)``: D[d_off + c*ldd + r] = S[s_off + r*lds + c]
    for r, c < L (L = the lanes of width class ``cls``): L vector loads, log2(L) rounds of
    shuffles (each swapping the off-diagonal blocks of every 2s x 2s block), L stores."""

    @intrinsic
    def tt(typingctx, S, s_off, lds, D, d_off, ldd):
        if not (
            isinstance(S, types.Array)
            and isinstance(D, types.Array)
            and S.dtype == D.dtype
            and S.dtype in (types.float32, types.float64)
        ):
            return None
        sig = types.void(S, types.intp, types.intp, D, types.intp, types.intp)
        bits = S.dtype.bitwidth
        L = (_W32 if bits == 32 else _W64)[cls]

        def codegen(context, builder, signature, args):
            s_arr, s_off_, lds_, d_arr, d_off_, ldd_ = args
            fty = ir.FloatType() if bits == 32 else ir.DoubleType()
            vty = ir.VectorType(fty, L)
            i64 = ir.IntType(64)
            src = builder.gep(context.make_array(signature.args[0])(context, builder, s_arr).data, [s_off_])
            dst = builder.gep(context.make_array(signature.args[3])(context, builder, d_arr).data, [d_off_])

            def row(base, ld, i):
                return builder.bitcast(builder.gep(base, [builder.mul(ld, ir.Constant(i64, i))]), vty.as_pointer())

            v = [builder.load(row(src, lds_, i), align=4) for i in range(L)]
            s = L // 2
            while s >= 1:
                w = list(v)
                for i in range(L):
                    if i & s:
                        continue
                    lo = [k if (k & s) == 0 else L + k - s for k in range(L)]
                    hi = [k + s if (k & s) == 0 else L + k for k in range(L)]
                    mask = ir.VectorType(ir.IntType(32), L)
                    w[i] = builder.shuffle_vector(v[i], v[i + s], ir.Constant(mask, lo))
                    w[i + s] = builder.shuffle_vector(v[i], v[i + s], ir.Constant(mask, hi))
                v, s = w, s // 2
            for c in range(L):
                builder.store(v[c], row(dst, ldd_, c), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return tt


_tt_set, _tt1_set = _tile_transpose(0), _tile_transpose(1)


@njit(inline="always")
def transpose(dst, d_off, ldd, src, s_off, lds, rows, cols):
    """dst[d_off + c*ldd + r] = src[s_off + r*lds + c] for r < rows, c < cols: a (rows, cols)
    block of ``src`` written transposed into ``dst`` (offsets and row strides in elements of
    contiguous arrays of any shape; see :func:`_transpose`)."""
    _transpose(dst.reshape(dst.size), d_off, ldd, src.reshape(src.size), s_off, lds, rows, cols)


@njit(**_JIT)
def _transpose(dst, d_off, ldd, src, s_off, lds, rows, cols):
    """dst[d_off + c*ldd + r] = src[s_off + r*lds + c] for r < rows, c < cols: a (rows, cols)
    block of ``src`` written transposed into ``dst`` (offsets and row strides in elements of
    contiguous arrays, flat here), by vector tiles where they fit, element by element at the edges."""
    L = _W32[0] >> (1 if src.itemsize == 8 else 0)
    L1 = _W32[1] >> (1 if src.itemsize == 8 else 0)
    sf, df = src, dst
    rf = rows - rows % L
    cf = cols - cols % L
    for r0 in range(0, rf, L):
        for c0 in range(0, cf, L):
            _tt_set(src, s_off + r0 * lds + c0, lds, dst, d_off + c0 * ldd + r0, ldd)
    r1 = rows - (rows - rf) % L1  # one band of half tiles each way
    c1 = cols - (cols - cf) % L1
    for r0 in range(rf, r1, L1):
        for c0 in range(0, c1, L1):
            _tt1_set(src, s_off + r0 * lds + c0, lds, dst, d_off + c0 * ldd + r0, ldd)
    for r0 in range(0, rf, L1):
        for c0 in range(cf, c1, L1):
            _tt1_set(src, s_off + r0 * lds + c0, lds, dst, d_off + c0 * ldd + r0, ldd)
    for r in range(rows):  # the edges
        for c in range(c1 if r < r1 else 0, cols):
            df[d_off + c * ldd + r] = sf[s_off + r * lds + c]


@njit(inline="always")
def _call_part(cls, rows, Ap, a_off, B, b_off, ldb, C, c_off, ldc, K):
    """The micro-kernel on the first R/3, 2R/3 or R rows of a block (C set, not accumulated)."""
    if rows <= R // 3:
        if cls == 0:
            _mk0_r1(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
        elif cls == 1:
            _mk1_r1(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
        else:
            _mk2_r1(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
    elif rows <= 2 * R // 3:
        if cls == 0:
            _mk0_r2(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
        elif cls == 1:
            _mk1_r2(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
        else:
            _mk2_r2(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
    elif cls == 0:
        _mk0_set(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
    elif cls == 1:
        _mk1_set(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
    else:
        _mk2_set(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)


@njit(inline="always")
def _call(cls, acc, Ap, a_off, B, b_off, ldb, C, c_off, ldc, K):
    if cls == 0:
        if acc:
            _mk0_acc(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
        else:
            _mk0_set(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
    elif cls == 1:
        if acc:
            _mk1_acc(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
        else:
            _mk1_set(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
    elif acc:
        _mk2_acc(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)
    else:
        _mk2_set(Ap, a_off, B, b_off, ldb, C, c_off, ldc, K)


@intrinsic
def _mv(typingctx, A, a_off, B, b_off, ldb, acc, K):
    """acc[0:R] = Σ_k A[a_off + k*R : +R] * B[b_off + k*ldb]: one packed block times a vector
    (three vectors of R/3 lanes over the rows, two partial sums over k)."""
    if not (
        isinstance(A, types.Array)
        and isinstance(B, types.Array)
        and isinstance(acc, types.Array)
        and A.dtype == B.dtype == acc.dtype
        and A.dtype in (types.float32, types.float64)
    ):
        return None
    sig = types.void(A, types.intp, B, types.intp, types.intp, acc, types.intp)
    bits = A.dtype.bitwidth
    P = R // 3

    def codegen(context, builder, signature, args):
        a_arr, a_off_, b_arr, b_off_, ldb_, o_arr, K_ = args
        fty = ir.FloatType() if bits == 32 else ir.DoubleType()
        vty = ir.VectorType(fty, P)
        i64 = ir.IntType(64)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty, vty, vty]), f"llvm.fma.v{P}f{bits}"
        )
        a, b, o = [
            context.make_array(ty)(context, builder, v).data
            for ty, v in ((signature.args[0], a_arr), (signature.args[2], b_arr), (signature.args[5], o_arr))
        ]
        a, b = builder.gep(a, [a_off_]), builder.gep(b, [b_off_])
        zero = ir.Constant(vty, [ir.Constant(fty, 0.0)] * P)
        acc = [[cgutils.alloca_once(builder, vty) for _ in range(3)] for _ in range(2)]
        for pair in acc:
            for slot in pair:
                builder.store(zero, slot)
        splat = ir.Constant(ir.VectorType(ir.IntType(32), P), [0] * P)

        def step(k, slots):
            s = builder.load(builder.gep(b, [builder.mul(k, ldb_)]))
            sv = builder.insert_element(ir.Constant(vty, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
            sv = builder.shuffle_vector(sv, ir.Constant(vty, ir.Undefined), splat)
            row = builder.gep(a, [builder.mul(k, ir.Constant(i64, R))])
            for q, slot in enumerate(slots):
                av = builder.load(
                    builder.bitcast(builder.gep(row, [ir.Constant(i64, q * P)]), vty.as_pointer()), align=4
                )
                builder.store(builder.call(fma, [sv, av, builder.load(slot)]), slot)

        two = ir.Constant(i64, 2)
        pairs = builder.udiv(K_, two)
        with cgutils.for_range(builder, pairs) as loop:
            k2 = builder.mul(loop.index, two)
            step(k2, acc[0])
            step(builder.add(k2, ir.Constant(i64, 1)), acc[1])
        with cgutils.for_range(builder, builder.sub(K_, builder.mul(pairs, two))) as loop:
            step(builder.add(builder.mul(pairs, two), loop.index), acc[0])
        for q in range(3):
            total = builder.fadd(builder.load(acc[0][q]), builder.load(acc[1][q]))
            builder.store(total, builder.bitcast(builder.gep(o, [ir.Constant(i64, q * P)]), vty.as_pointer()), align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(**_JIT)
def _gemv(Ap, M, K, B, b_off, ldb, C, c_off, ldc, accumulate, scratch):
    """:func:`gemm` for one column (N = 1)."""
    nb, stride = Ap.shape[0], Ap.shape[1] * R
    cf = C
    for ib in range(nb):
        _mv(Ap, ib * stride, B, b_off, ldb, scratch, K)
        for r in range(min(R, M - ib * R)):
            o = c_off + (ib * R + r) * ldc
            cf[o] = cf[o] + scratch[r] if accumulate else scratch[r]


#: elements of B one K-block may span (kept in the L2 cache across A's row blocks)
_B_BLOCK = 1 << 17


@njit(inline="always")
def gemm(Ap, M, K, B, b_off, ldb, N, C, c_off, ldc, accumulate, scratch):
    """C[i, j] = (C[i, j] +) Σ_{k<K} A[i, k] B[k, j] for i < M, j < N (see :func:`_gemm`; B and C
    contiguous arrays of any shape, addressed flat)."""
    _gemm(Ap, M, K, B.reshape(B.size), b_off, ldb, N, C.reshape(C.size), c_off, ldc, accumulate, scratch)


@njit(**_JIT)
def _gemm(Ap, M, K, B, b_off, ldb, N, C, c_off, ldc, accumulate, scratch):
    """C[i, j] = (C[i, j] +) Σ_{k<K} A[i, k] B[k, j] for i < M, j < N.

    Ap: A packed by :func:`pack` (nb, K' >= K, R); B and C addressed from element offsets
    ``b_off``, ``c_off`` with row strides ``ldb``, ``ldc`` (contiguous arrays of the
    dtype); N a :func:`padded_width`; scratch: R * (widest lanes) elements of the dtype
    (the last rows when M is not a multiple of R). Loops: K in blocks whose rows of B fit
    the L2 cache, A's row blocks, then the vectors of B's columns (each packed A block
    read once per K block, from the L1 cache across the columns)."""
    if N == 1:
        _gemv(Ap, M, K, B, b_off, ldb, C, c_off, ldc, accumulate, scratch)
        return
    nb, stride = Ap.shape[0], Ap.shape[1] * R
    shift = 1 if Ap.itemsize == 8 else 0
    w0, w1, w2 = _W32[0] >> shift, _W32[1] >> shift, _W32[2] >> shift
    kb = max(64, _B_BLOCK // max(N, 1))
    flat = C
    for k0 in range(0, K, kb):
        kc = min(kb, K - k0)
        acc = accumulate or k0 > 0
        for ib in range(nb):
            rows = min(R, M - ib * R)
            a_off = ib * stride + k0 * R
            j = 0
            while j < N:
                rest = N - j
                cls = 0 if rest >= w0 else (1 if rest >= w1 else 2)
                L = w0 if cls == 0 else (w1 if cls == 1 else w2)
                bo = b_off + k0 * ldb + j
                if rows == R:
                    _call(cls, acc, Ap, a_off, B, bo, ldb, C, c_off + ib * R * ldc + j, ldc, kc)
                else:
                    _call_part(cls, rows, Ap, a_off, B, bo, ldb, scratch, 0, L, kc)
                    for r in range(rows):
                        o = c_off + (ib * R + r) * ldc + j
                        if acc:
                            for q in range(L):
                                flat[o + q] += scratch[r * L + q]
                        else:
                            for q in range(L):
                                flat[o + q] = scratch[r * L + q]
                j += L


def packed(M, r0, r1, c0, c1, transpose, dtype=None):
    """A new packed array of ``M[r0:r1, c0:c1]`` (or its transpose) for :func:`gemm`."""
    dtype = M.dtype if dtype is None else dtype
    rows, K = (c1 - c0, r1 - r0) if transpose else (r1 - r0, c1 - c0)
    out = np.empty(((rows + R - 1) // R, K, R), dtype)
    pack(np.ascontiguousarray(M, dtype=dtype), r0, r1, c0, c1, transpose, out)
    return out
