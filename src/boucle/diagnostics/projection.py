"""Word vectors seen in two dimensions: PCA and a labelled scatter plot (PNG).

:func:`pca` projects vectors on their first principal axes: center X (N, D) by its mean,
X_c = U S Vᵀ (SVD), coordinates X_c V_k (the k directions of largest variance), each axis'
sign fixed so that its largest-magnitude loading is positive (deterministic). The plot
(:func:`plot_words`, needs matplotlib: the ``plot`` extra) writes each word at its point.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import BoucleError
from .gradflow import _figure, _save

__all__ = ["pca", "plot_words"]


def pca(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``(coordinates (N, k), explained variance ratio (k,))`` of the rows of ``x (N, D)``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2 or not np.isfinite(x).all():
        raise BoucleError(f"x: expected a finite (N, D) array with N >= 2, got shape {x.shape}")
    if not (isinstance(k, int) and 1 <= k <= min(x.shape)):
        raise BoucleError(f"k: expected an int in [1, {min(x.shape)}], got {k!r}")
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    v = vt[:k].T  # (D, k)
    v *= np.sign(v[np.abs(v).argmax(axis=0), np.arange(k)])  # deterministic signs
    total = float((s**2).sum())
    return xc @ v, (s[:k] ** 2) / total if total else np.zeros(k)


def plot_words(words: Sequence[str], vectors: np.ndarray, path: str | os.PathLike, title: str | None = None) -> str:
    """A PNG of ``words`` at their 2-D PCA coordinates (of their own ``vectors``, one row each)."""
    words = list(words)
    vectors = np.asarray(vectors)
    if len(words) != len(vectors):
        raise BoucleError(f"vectors: expected one row per word ({len(words)}), got {len(vectors)}")
    xy, ratio = pca(vectors, 2)
    fig = _figure((7.5, 6.0))
    ax = fig.subplots(1, 1)
    ax.scatter(xy[:, 0], xy[:, 1], s=12, color="tab:blue")
    for w, (px, py) in zip(words, xy):
        ax.annotate(w, (px, py), xytext=(3, 3), textcoords="offset points", fontsize=9)
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of the variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%})")
    ax.set_title(title or "word vectors, first two principal components")
    fig.tight_layout()
    return _save(fig, path)
