"""The reservoir's state loop compiled with numba (optional: ``pip install "boucle[fast]"``), seed 004.

The same update as :meth:`boucle.reservoir.Reservoir.forward`'s reference loop,

.. math::

    \\tilde x_t = f(P_t + x_{t-1} W), \\qquad x_t = \\tilde x_t \\alpha + x_{t-1} (1 - \\alpha)

with ``P_t = u_t W_in + b (+ drive_t)`` formed beforehand by one GEMM, run for the whole
sequence in one compiled call: per unit ``i`` the sparse product (row ``i`` of ``W^T`` in
CSR: ``indices``, ``data``), the activation and the leak in one pass, with no per-step
Python call. The sparse dot product runs on four accumulators (the reference adds the
terms one by one), so the two loops agree to rounding, not bit for bit; the tests hold
them equal in float64 to 1e-12.

``indptr``/``indices`` are given unsigned (a zero-copy view of the CSR's non-negative
int32/int64 indices): numba then skips the negative-index wrap-around on every gather,
which otherwise halves the speed of the loop. float32 reservoirs accumulate in float64
and store float32. The kernel releases the GIL.
"""

from __future__ import annotations

import math

from numba import njit

#: activation name -> kernel code (the names of ``Reservoir.ACTIVATIONS``).
CODES = {"tanh": 0, "sigmoid": 1, "relu": 2, "linear": 3}


@njit(cache=True, nogil=True, boundscheck=False)
def echo_forward(indptr, indices, data, Z, s0, alpha, act):  # pragma: no cover - compiled
    """States of ``N`` sequences in place: ``Z (N, T, H)`` holds ``P`` on entry, ``x_t`` on return.

    ``indptr (H + 1,)``, ``indices (nnz,)`` unsigned and ``data (nnz,)``: ``W^T`` in CSR;
    ``s0 (N, H)`` the states before the first step; ``act`` a code of :data:`CODES`.
    """
    N, T, H = Z.shape
    c = 1.0 - alpha
    leaky = alpha != 1.0
    for n in range(N):
        prev = s0[n]
        for t in range(T):
            z = Z[n, t]
            for i in range(H):
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
                v = z[i] + ((a0 + a1) + (a2 + a3))
                if act == 0:
                    v = math.tanh(v)
                elif act == 1:
                    v = 1.0 / (1.0 + math.exp(-v))
                elif act == 2:
                    if v <= 0.0:  # nan stays nan, as np.maximum(nan, 0)
                        v = 0.0
                if leaky:
                    v = v * alpha + prev[i] * c
                z[i] = v
            prev = z
