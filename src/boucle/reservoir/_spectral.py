"""The spectral radius of a reservoir matrix: max |eigenvalue|, dense, by Krylov–Schur or ARPACK (seed 004).

The reservoir's recurrent matrix is rescaled so that its spectral radius equals the
requested one (:class:`~boucle.reservoir.Reservoir`); this module computes it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

from ..backend import make_rng
from ..errors import BoucleError
from ._krylov import arnoldi, largest_moduli

try:  # scipy's CSR kernel, called directly (no dispatch per product)
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - other scipy layouts go through the public API
    _csr_matvec = None

try:  # optional dependency: boucle[fast] (the compiled CSR product of the state loop)
    from . import _fast
except ImportError:  # numba missing
    _fast = None

__all__ = ["spectral_radius", "DENSE_EIG_MAX"]

#: Reservoirs up to this many units get their spectral radius from dense eigenvalues (ARPACK above).
DENSE_EIG_MAX = 64
#: The relative residual at which the eigenvalues of largest modulus count as converged.
TOL = 1e-8


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


class _CompiledOperator(LinearOperator):
    """``x -> W x`` for ARPACK through the compiled CSR kernel of the state loop (:mod:`._fast`)."""

    def __init__(self, W: sp.csr_array) -> None:
        super().__init__(np.dtype(np.float64), W.shape)
        unsigned = {4: np.uint32, 8: np.uint64}
        self._csr = (
            W.indptr.view(unsigned[W.indptr.dtype.itemsize]),
            W.indices.view(unsigned[W.indices.dtype.itemsize]),
            W.data,
        )

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return _fast.matvec(*self._csr, np.ravel(x))

    matvec = _matvec


def krylov_size(n: int) -> int:
    """The Krylov space of the spectral radius for ``n`` units: wider for larger reservoirs, whose
    eigenvalues crowd the edge of their disk more (at 5000 units a space of 60 can converge on a
    pair 0.2 % inside the largest; 80 finds it, as ARPACK's 80 does)."""
    return 40 if n <= 500 else 60 if n <= 1500 else 80


def _use_compiled() -> bool:
    """The compiled product is used when numba imports and ``BOUCLE_NO_NUMBA`` is unset (as the state loop)."""
    return _fast is not None and os.environ.get("BOUCLE_NO_NUMBA", "0") in ("", "0")


def spectral_radius(W: Any, seed: Any = 0, compiled: bool | None = None) -> float:
    """max |eigenvalue| of a square matrix (dense or scipy.sparse).

    Dense ``scipy.linalg.eigvals`` up to :data:`DENSE_EIG_MAX` rows. Above, the 4
    eigenvalues of largest modulus by the Krylov–Schur method
    (:func:`boucle.reservoir._krylov.largest_moduli`: Krylov spaces of 40 to 80 vectors,
    :func:`krylov_size`, a third kept at each restart), converged to a relative residual
    of :data:`TOL` (tests: within 1e-8, relative, of dense eigenvalues); ARPACK
    (``scipy.sparse.linalg.eigs``, ``ncv`` 80) answers where that method cannot (an
    invariant subspace found, no convergence). Random reservoirs have many eigenvalues
    near the largest modulus: wide Krylov spaces and several wanted values keep the
    answer on the largest. ``seed`` fixes the start vector, so the result is
    reproducible. ``compiled``: the products ``W x`` through the compiled CSR kernel of
    the state loop (:mod:`boucle.reservoir._fast`; the default when numba is installed
    and ``BOUCLE_NO_NUMBA`` unset) or through SciPy's; the two add the terms in
    different orders, so the result may differ in its last bits between the two.
    """
    n = W.shape[0]
    if W.ndim != 2 or W.shape[1] != n:
        raise BoucleError(f"W: expected a square matrix, got shape {W.shape}")
    if n <= DENSE_EIG_MAX:
        dense = W.toarray() if sp.issparse(W) else np.asarray(W)
        return float(np.abs(scipy.linalg.eigvals(dense.astype(np.float64))).max())
    W = sp.csr_array(W, dtype=np.float64)
    if compiled is None:
        compiled = _use_compiled()
    if compiled and _fast is None:
        raise BoucleError("compiled: True needs numba (pip install 'boucle[fast]'), which is not installed")
    if compiled:
        op = _CompiledOperator(W)
        ip, ix, data = op._csr

        def expand(V: np.ndarray, S: np.ndarray, start: int) -> bool:
            return _fast.arnoldi(ip, ix, data, V, S, start)
    else:
        op = _CSROperator(W) if _csr_matvec is not None else W
        product = op.matvec if _csr_matvec is not None else W.__matmul__

        def expand(V: np.ndarray, S: np.ndarray, start: int) -> bool:
            return arnoldi(product, V, S, start)

    v0 = make_rng(seed).standard_normal(n)
    m = min(n - 1, krylov_size(n))
    moduli = largest_moduli(expand, v0, k=4, m=m, p=m // 3, tol=TOL)
    if moduli is not None:
        return float(moduli.max())
    return _arpack(op, v0)


def _arpack(op: Any, v0: np.ndarray) -> float:
    """The spectral radius by ARPACK (4 eigenvalues of largest modulus, ``ncv`` 80, doubled twice if needed)."""
    n = v0.shape[0]
    k, ncv = 4, min(n - 1, 80)
    for _attempt in range(3):
        try:
            vals = eigs(op, k=k, which="LM", ncv=ncv, tol=TOL, v0=v0, maxiter=50 * n, return_eigenvectors=False)
            return float(np.abs(vals).max())
        except ArpackNoConvergence:
            ncv = min(n - 1, 2 * ncv)
    raise BoucleError(
        f"W: ARPACK did not converge on the spectral radius of a {n}x{n} matrix; "
        "try another seed or a denser connectivity"
    )
