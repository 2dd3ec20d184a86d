"""The reservoir's state loop compiled with numba (optional: ``pip install "boucle[fast]"``), seed 004.

The same update as :meth:`boucle.reservoir.Reservoir.forward`'s reference loop,

.. math::

    \\tilde x_t = f(P_t + x_{t-1} W), \\qquad x_t = \\tilde x_t \\alpha + x_{t-1} (1 - \\alpha)

with ``P_t = u_t W_in + b (+ drive_t)`` formed beforehand by one GEMM, run for the whole
sequence in one compiled call with no per-step Python call: per step the sparse products
(row ``i`` of ``W^T`` in CSR, ``indices`` and ``data``, for unit ``i``), then the
activation and the leak (the product is :func:`spmv_add`'s, written out; :func:`spmv_add` is
also the product of the spectral radius's Krylov method, :func:`arnoldi`, and of its ARPACK
fallback, :func:`matvec`). The sparse dot product runs on four accumulators (the reference
adds the terms one by one), so the two loops agree to rounding, not bit for bit; the tests
hold them equal in float64 to 1e-12.

``indptr``/``indices`` are given unsigned (a zero-copy view of the CSR's non-negative
int32/int64 indices): numba then skips the negative-index wrap-around on every gather,
which otherwise halves the speed of the loop. float32 reservoirs accumulate in float64
and store float32. The kernel releases the GIL.

Each step is two passes over the units: the sparse products (scalar: gathers), then the
activation and the leak, which the compiler vectorises. libm's ``tanh`` is a scalar call
(~12 ns); :func:`tanh` here is branch-free arithmetic (~1.5 ns a value, vectorised):

.. math::

    \\tanh|x| = -e / (e + 2), \\qquad e = \\mathrm{expm1}(-2|x|) = 2^n (\\mathrm{expm1}(r) + 1) - 1,

with ``-2|x| = n ln 2 + r``, ``|r| <= ln 2 / 2`` (Cody-Waite: ``ln 2`` in two parts),
``expm1(r)`` by its Taylor series to ``r^13`` (truncation < 1e-17), ``2^n`` built from its
exponent bits, ``|x|`` capped at 20 (``tanh(20) = 1`` in float64); sign restored; nan stays
nan. Error <= 4.5e-16 relative to NumPy's ``tanh`` (tests). ``sigmoid(x) = 1/2 + tanh(x/2)/2``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

#: activation name -> kernel code (the names of ``Reservoir.ACTIVATIONS``).
CODES = {"tanh": 0, "sigmoid": 1, "relu": 2, "linear": 3}

_JIT = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")  # numpy: no raise, vectorisable
_LN2_HI = 6.93147180369123816490e-01  # ln 2 = _LN2_HI + _LN2_LO, _LN2_HI with 32 trailing zero bits
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.44269504088896338700e00
_ROUND = 6755399441055744.0  # 1.5 * 2^52: x + _ROUND - _ROUND rounds x to the nearest integer
_C = [1.0 / math.factorial(k) for k in range(14)]
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = _C[2:]


@intrinsic
def _bits_to_float64(typingctx, bits):
    """The float64 whose IEEE-754 bits are the int64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@njit(inline="always", error_model="numpy")
def tanh(x):  # pragma: no cover - compiled
    """tanh of a float64, branch-free (see the module docstring)."""
    ax = abs(x)
    ax = 20.0 if ax > 20.0 else ax  # nan > 20 is false: nan goes on
    y = -2.0 * ax
    n = (y * _LOG2E + _ROUND) - _ROUND
    r = (y - n * _LN2_HI) - n * _LN2_LO
    p = _C13
    p = p * r + _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    em1 = r + r * r * p  # expm1(r)
    scale = _bits_to_float64((np.int64(n) + 1023) << 52)  # 2^n, n in [-58, 0]
    e = scale * em1 + (scale - 1.0)  # expm1(-2|x|)
    t = -e / (e + 2.0)
    return t if x >= 0.0 else -t


@njit(**_JIT)
def activate(z, prev, act, alpha, leaky):  # pragma: no cover - compiled
    """In place over one step's units: ``z = f(z)``, then with a leak ``z = z alpha + prev (1 - alpha)``."""
    H = z.shape[0]
    c = 1.0 - alpha
    if act == 0:
        for i in range(H):
            z[i] = tanh(np.float64(z[i]))
    elif act == 1:
        for i in range(H):
            z[i] = 0.5 + 0.5 * tanh(0.5 * np.float64(z[i]))
    elif act == 2:
        for i in range(H):
            v = z[i]
            z[i] = 0.0 if v <= 0.0 else v  # nan stays nan, as np.maximum(nan, 0)
    if leaky:
        for i in range(H):
            z[i] = np.float64(z[i]) * alpha + np.float64(prev[i]) * c


@njit(inline="always", boundscheck=False, error_model="numpy")
def spmv_add(indptr, indices, data, x, y):  # pragma: no cover - compiled
    """``y[i] += sum_j data[j] x[indices[j]]`` over row ``i``'s entries ``j`` (CSR), on four accumulators."""
    for i in range(y.shape[0]):
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        j = np.int64(indptr[i])  # signed: uint64 + int would be a float
        end = np.int64(indptr[i + 1])
        while j + 4 <= end:
            a0 += data[j] * x[indices[j]]
            a1 += data[j + 1] * x[indices[j + 1]]
            a2 += data[j + 2] * x[indices[j + 2]]
            a3 += data[j + 3] * x[indices[j + 3]]
            j += 4
        while j < end:
            a0 += data[j] * x[indices[j]]
            j += 1
        y[i] = y[i] + ((a0 + a1) + (a2 + a3))


@njit(**_JIT)
def matvec(indptr, indices, data, x):  # pragma: no cover - compiled
    """``A x`` for ``A`` in CSR (``indptr``/``indices`` unsigned, as for :func:`echo_forward`): ARPACK's product."""
    y = np.zeros(indptr.shape[0] - 1)
    spmv_add(indptr, indices, data, x, y)
    return y


@njit(**_JIT)
def arnoldi(indptr, indices, data, V, S, start):  # pragma: no cover - compiled
    """:func:`boucle.reservoir._krylov.arnoldi` compiled, ``A`` in CSR (``indptr``/``indices`` unsigned):
    the Arnoldi steps ``j = start .. m - 1`` in place; False at a breakdown."""
    m = S.shape[1]
    n = V.shape[1]
    for j in range(start, m):
        w = np.zeros(n)
        spmv_add(indptr, indices, data, V[j], w)
        norm0 = math.sqrt(np.dot(w, w))
        Vj = V[: j + 1]
        h = np.dot(Vj, w)
        w -= np.dot(h, Vj)
        beta = math.sqrt(np.dot(w, w))
        if beta < 0.717 * norm0:
            h2 = np.dot(Vj, w)
            w -= np.dot(h2, Vj)
            h += h2
            beta = math.sqrt(np.dot(w, w))
        if not beta > 1e-12 * norm0:
            return False
        S[: j + 1, j] = h
        S[j + 1, j] = beta
        V[j + 1] = w / beta
    return True


@njit(**_JIT)
def echo_forward(indptr, indices, data, Z, s0, alpha, act):  # pragma: no cover - compiled
    """States of ``N`` sequences in place: ``Z (N, T, H)`` holds ``P`` on entry, ``x_t`` on return.

    ``indptr (H + 1,)``, ``indices (nnz,)`` unsigned and ``data (nnz,)``: ``W^T`` in CSR;
    ``s0 (N, H)`` the states before the first step; ``act`` a code of :data:`CODES`.
    """
    N, T, H = Z.shape
    leaky = alpha != 1.0
    for n in range(N):
        prev = s0[n]
        for t in range(T):
            z = Z[n, t]
            for i in range(H):  # spmv_add written out (calling it ran the loop 1-2 % slower)
                a0 = 0.0
                a1 = 0.0
                a2 = 0.0
                a3 = 0.0
                j = indptr[i]
                end = indptr[i + 1]
                while j + 4 <= end:
                    a0 += data[j] * prev[indices[j]]
                    a1 += data[j + 1] * prev[indices[j + 1]]
                    a2 += data[j + 2] * prev[indices[j + 2]]
                    a3 += data[j + 3] * prev[indices[j + 3]]
                    j += 4
                while j < end:
                    a0 += data[j] * prev[indices[j]]
                    j += 1
                z[i] = z[i] + ((a0 + a1) + (a2 + a3))
            activate(z, prev, act, alpha, leaky)
            prev = z
