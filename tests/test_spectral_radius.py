"""The spectral radius (boucle.reservoir._spectral) against dense eigenvalues, through both products.

Sparse random reservoirs (their eigenvalues crowd the edge of a disk: many near-ties at the largest
modulus), dominant complex-conjugate pairs, a real eigenvalue within 1e-4 of a pair, a negative
dominant eigenvalue: ARPACK's answer is within 1e-8 (relative) of ``numpy.linalg.eigvals``, with the
compiled CSR product and with SciPy's, and the same seed gives the same float twice.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from boucle.errors import BoucleError
from boucle.reservoir import Reservoir, _spectral, spectral_radius
from boucle.reservoir.reservoir import DENSE_EIG_MAX

RTOL = 1e-8


def dense_radius(W) -> float:
    dense = W.toarray() if sp.issparse(W) else W
    return float(np.abs(np.linalg.eigvals(dense)).max())


def sparse_reservoir(n: int, density: float, seed: int) -> sp.csr_array:
    rng = np.random.default_rng(seed)
    W = sp.random(n, n, density=density, random_state=rng, format="csr", data_rvs=rng.standard_normal)
    return sp.csr_array(W)


def with_eigenvalues(top: list[complex], n: int, rest_radius: float, seed: int) -> np.ndarray:
    """A real ``n x n`` matrix ``X D X^-1`` whose eigenvalues are ``top`` (conjugates added) and
    ``n - len`` others drawn in the disk of radius ``rest_radius`` (real blocks for complex ones)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for lam in top:
        if abs(lam.imag) > 0:
            blocks.append(np.array([[lam.real, lam.imag], [-lam.imag, lam.real]]))  # lam and its conjugate
        else:
            blocks.append(np.array([[lam.real]]))
    size = sum(b.shape[0] for b in blocks)
    while size < n:
        r, phi = rest_radius * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        if n - size >= 2 and rng.uniform() < 0.5:
            a, b = r * np.cos(phi), r * np.sin(phi)
            blocks.append(np.array([[a, b], [-b, a]]))
        else:
            blocks.append(np.array([[r * np.cos(phi)]]))
        size += blocks[-1].shape[0]
    D = np.zeros((n, n))
    i = 0
    for b in blocks:
        k = b.shape[0]
        D[i : i + k, i : i + k] = b
        i += k
    X = rng.standard_normal((n, n)) / np.sqrt(n) + np.eye(n)  # well conditioned
    return X @ D @ np.linalg.inv(X)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize(
    "n, density, seed",
    [(DENSE_EIG_MAX + 1, 0.1, 0), (100, 0.1, 1), (150, 0.02, 2), (200, 0.1, 3), (300, 0.05, 4), (400, 0.1, 5)]
    + [(250, 0.5, s) for s in (6, 7)]
    + [(120, 0.1, s) for s in range(8, 14)],
)
def test_sparse_reservoirs_match_dense_eigenvalues(n, density, seed, compiled):
    W = sparse_reservoir(n, density, seed)
    got = spectral_radius(W, seed=seed, compiled=compiled)
    assert abs(got - dense_radius(W)) <= RTOL * dense_radius(W)
    assert spectral_radius(W, seed=seed, compiled=compiled) == got  # the same seed, the same float


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize(
    "top",
    [
        [1.0 * np.exp(0.7j)],  # a dominant complex-conjugate pair
        [0.5 + 0.9j, 1.0 + 0.03j],  # two pairs, the dominant one close to the real axis
        [1.0, (1 - 1e-4) * np.exp(2.0j)],  # a real eigenvalue 1e-4 above a pair
        [(1 - 1e-4) * np.exp(1.0j), 1.0 * np.exp(1.2j)],  # two pairs 1e-4 apart in modulus
        [-1.0, 1 - 1e-4],  # a negative dominant eigenvalue, a near-tie of opposite sign
    ],
    ids=["pair", "two-pairs", "real-above-pair", "pair-near-pair", "negative"],
)
@pytest.mark.parametrize("n", [90, 250])
def test_dominant_pairs_and_near_ties_match_dense_eigenvalues(top, n, compiled):
    A = with_eigenvalues(top, n, rest_radius=0.95, seed=n)
    want = dense_radius(A)
    assert abs(want - max(abs(t) for t in top)) < 1e-9  # the construction holds
    got = spectral_radius(sp.csr_array(A), seed=3, compiled=compiled)
    assert abs(got - want) <= RTOL * want


def test_compiled_product_without_numba_is_refused(monkeypatch):
    monkeypatch.setattr(_spectral, "_fast", None)
    with pytest.raises(BoucleError, match="compiled: True needs numba"):
        spectral_radius(sparse_reservoir(100, 0.1, 0), compiled=True)
    assert spectral_radius(sparse_reservoir(100, 0.1, 0)) > 0  # the default falls back to SciPy's product


@pytest.mark.slow
def test_a_5000_unit_reservoir_is_rescaled_by_its_largest_pair():
    """Seed 2 at 5000 units: the two eigenvalue pairs of largest modulus are 0.2 % apart, and a Krylov
    space of 60 vectors converges on the second; the rescaled radius is the target all the same."""
    res = Reservoir(5000, spectral_radius=0.9, connectivity=0.1, seed=2, input_dim=1)
    assert abs(dense_radius(res.W) - 0.9) <= RTOL * 0.9
