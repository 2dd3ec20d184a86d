"""The eigenvalues of largest modulus of a large sparse matrix by the Krylov–Schur method (seed 004).

Stewart, "A Krylov–Schur algorithm for large eigenproblems", SIAM J. Matrix Anal. Appl. 23 (2001).
The Arnoldi process builds an orthonormal basis ``V (m + 1, n)`` (rows) of the Krylov space of
``A`` from ``v0`` with

.. math::

    A V_m^T = V_m^T S_m + v_{m+1}^T b^T, \\qquad S_m\\ (m, m),\\ b\\ (m,)

(classical Gram–Schmidt, a second pass when the first cancels more than 30 % of the vector:
Daniel, Gragg, Kaufman and Stewart 1976). At each restart, the real Schur form ``S_m = Z T Z^T``
(LAPACK ``gees``) is reordered (``trsen``) so that the ``k`` Ritz values of largest modulus come
first; they have converged when ``||b^T Z[:, :k]|| <= tol |theta_k|`` (the residual of their
invariant subspace). Otherwise the ``p`` of largest modulus are kept — ``V_p <- Z[:, :p]^T V_m``,
``S_p <- T[:p, :p]``, ``b <- Z[:, :p]^T b`` — and the Arnoldi process continues from ``p`` to
``m``: a thick restart with no implicit shifts, so the small dense problems stay in LAPACK and
a conjugate pair is kept or dropped whole.

Returns None when it cannot answer (an invariant subspace found — Arnoldi breakdown —, a
reordering refused, no convergence within ``max_restarts``, non-finite values): the caller then
asks ARPACK.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.linalg.lapack import dgees, dtrsen

__all__ = ["largest_moduli", "arnoldi"]


def _no_sort(re: float, im: float) -> int:
    return 0


def _top(wr: np.ndarray, wi: np.ndarray, count: int) -> np.ndarray:
    """LAPACK select mask of the ``count`` eigenvalues ``wr + i wi`` of largest modulus, a conjugate
    pair (two adjacent entries, ``wi != 0``, of a real Schur form) completed when one of it is chosen."""
    sel = np.zeros(wr.shape[0], dtype=np.int32)
    sel[np.argsort(-np.hypot(wr, wi), kind="stable")[:count]] = 1
    i = 0
    while i < wr.shape[0]:
        if wi[i] != 0.0 and i + 1 < wr.shape[0]:
            sel[i] = sel[i + 1] = sel[i] | sel[i + 1]
            i += 2
        else:
            i += 1
    return sel


def arnoldi(matvec: Callable[[np.ndarray], np.ndarray], V: np.ndarray, S: np.ndarray, start: int) -> bool:
    """The Arnoldi steps ``j = start .. m - 1`` in place: ``v_{j+1}`` and column ``j`` of ``S (m + 1, m)``
    from ``A v_j`` orthogonalised against the rows ``V[:j + 1]`` of ``V (m + 1, n)``; False at a
    breakdown (an invariant subspace, or nan). The compiled twin: :func:`boucle.reservoir._fast.arnoldi`."""
    m = S.shape[1]
    for j in range(start, m):
        w = matvec(V[j])
        Vj = V[: j + 1]
        norm0 = math.sqrt(w @ w)
        h = Vj @ w
        w -= h @ Vj
        beta = math.sqrt(w @ w)
        if beta < 0.717 * norm0:  # cancellation: orthogonalise again (DGKS)
            h2 = Vj @ w
            w -= h2 @ Vj
            h += h2
            beta = math.sqrt(w @ w)
        if not beta > 1e-12 * norm0:
            return False
        S[: j + 1, j] = h
        S[j + 1, j] = beta
        V[j + 1] = w / beta
    return True


def largest_moduli(
    expand: Callable[[np.ndarray, np.ndarray, int], bool],
    v0: np.ndarray,
    k: int = 4,
    m: int = 60,
    p: int = 20,
    tol: float = 1e-9,
    max_restarts: int = 60,
) -> np.ndarray | None:
    """Moduli of the ``k`` (or ``k + 1``, a pair completed) eigenvalues of largest modulus of an
    ``n x n`` matrix ``A``, from the start vector ``v0 (n,)``; ``k < p < m < n``. ``expand(V, S,
    start)``: the Arnoldi steps of ``A`` (:func:`arnoldi` with ``A``'s product, or its compiled
    twin). None when it cannot answer (see the module docstring)."""
    n = v0.shape[0]
    V = np.zeros((m + 1, n))
    S = np.zeros((m + 1, m))  # S[:m, :m] = S_m; S[m, :m] = b
    V[0] = v0 / math.sqrt(v0 @ v0)
    start = 0
    for _restart in range(max_restarts):
        if not expand(V, S, start):  # an invariant subspace (or nan): not this method's case
            return None
        b = S[m].copy()
        T, _, wr, wi, Z, _, info = dgees(_no_sort, S[:m], overwrite_a=False)
        if info != 0:
            return None
        T, Z, wr, wi, kk, _, _, info = dtrsen(_top(wr, wi, k), T, Z, job="N")
        if info != 0:
            return None
        moduli = np.hypot(wr[:kk], wi[:kk])
        if not np.isfinite(moduli).all():
            return None
        if np.linalg.norm(b @ Z[:, :kk]) <= tol * moduli.min():
            return moduli
        T, Z, wr, wi, pp, _, _, info = dtrsen(_top(wr, wi, p), T, Z, job="N")  # the k first stay first
        if info != 0 or pp >= m:
            return None
        V[:pp] = Z[:, :pp].T @ V[:m]
        V[pp] = V[m]
        bz = b @ Z[:, :pp]
        S[:] = 0.0
        S[:pp, :pp] = T[:pp, :pp]
        S[pp, :pp] = bz
        start = pp
    return None
