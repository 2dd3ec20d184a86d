"""The spectral radius of a reservoir matrix: max |eigenvalue|, dense or by ARPACK (seed 004).

The reservoir's recurrent matrix is rescaled so that its spectral radius equals the
requested one (:class:`~boucle.reservoir.Reservoir`); this module computes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

from ..backend import make_rng
from ..errors import BoucleError

try:  # scipy's CSR kernel, called directly (no dispatch per product)
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - other scipy layouts go through the public API
    _csr_matvec = None

__all__ = ["spectral_radius", "DENSE_EIG_MAX"]

#: Reservoirs up to this many units get their spectral radius from dense eigenvalues (ARPACK above).
DENSE_EIG_MAX = 64


class _CSROperator(LinearOperator):
    """``x -> W x`` for ARPACK through SciPy's CSR kernel called directly: the same product (bit for bit)
    as ``W @ x``, without the per-call dispatch of ``scipy.sparse`` and ``LinearOperator``."""

    def __init__(self, W: sp.csr_array) -> None:
        super().__init__(np.dtype(np.float64), W.shape)
        self._csr = (W.indptr, W.indices, W.data)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        n = self.shape[0]
        y = np.zeros(n)
        _csr_matvec(n, n, *self._csr, np.ravel(x), y)
        return y

    matvec = _matvec  # ARPACK calls it once per Krylov step on a 1-D float64 vector


def spectral_radius(W: Any, seed: Any = 0) -> float:
    """max |eigenvalue| of a square matrix (dense or scipy.sparse).

    Dense ``scipy.linalg.eigvals`` up to :data:`DENSE_EIG_MAX` rows; above, ARPACK
    (``scipy.sparse.linalg.eigs``, the 4 eigenvalues of largest modulus with a
    wide Krylov space: random reservoirs have many eigenvalues near the largest
    modulus, and ARPACK's default ``ncv`` can stop on a smaller one). ``seed``
    fixes ARPACK's start vector, so the result is reproducible.
    """
    n = W.shape[0]
    if W.ndim != 2 or W.shape[1] != n:
        raise BoucleError(f"W: expected a square matrix, got shape {W.shape}")
    if n <= DENSE_EIG_MAX:
        dense = W.toarray() if sp.issparse(W) else np.asarray(W)
        return float(np.abs(scipy.linalg.eigvals(dense.astype(np.float64))).max())
    W = sp.csr_array(W, dtype=np.float64)
    op = _CSROperator(W) if _csr_matvec is not None else W
    v0 = make_rng(seed).standard_normal(n)
    k, ncv = 4, min(n - 1, 80)
    for _attempt in range(3):
        try:
            vals = eigs(op, k=k, which="LM", ncv=ncv, tol=1e-10, v0=v0, maxiter=50 * n, return_eigenvectors=False)
            return float(np.abs(vals).max())
        except ArpackNoConvergence:
            ncv = min(n - 1, 2 * ncv)
    raise BoucleError(
        f"W: ARPACK did not converge on the spectral radius of a {n}x{n} matrix; "
        "try another seed or a denser connectivity"
    )
