"""Affine maps and embeddings (seed 003: a(x) = b + W x, here in the row form x W + b).

All functions accept inputs with any number of leading axes: ``x: (..., D)``
is flattened to ``(N, D)`` so that a Dense layer applied to a sequence
``(B, T, D)`` is one GEMM over all timesteps.
"""

from __future__ import annotations

import numpy as np


def dense_forward(x, W, b=None):
    """a = x W + b.  x: (..., D), W: (D, K), b: (K,) -> (..., K)."""
    a = x.reshape(-1, x.shape[-1]) @ W  # (N, K)
    if b is not None:
        a += b
    return a.reshape(*x.shape[:-1], W.shape[1])


def dense_backward(da, x, W, need_dx: bool = True):
    """Gradients of a = x W + b: dx = da W^T, dW = x^T da, db = sum_n da.

    Returns ``(dx or None, dW, db)``.
    """
    da2 = da.reshape(-1, da.shape[-1])  # (N, K)
    x2 = x.reshape(-1, x.shape[-1])  # (N, D)
    dW = x2.T @ da2  # (D, K)
    db = da2.sum(axis=0)  # (K,)
    dx = (da2 @ W.T).reshape(x.shape) if need_dx else None
    return dx, dW, db


def embedding_forward(ids, E):
    """e = E[ids]: ids (...) integers, E (V, D) -> (..., D)."""
    return E[ids]


def embedding_backward(de, ids, num_embeddings: int):
    """dE[v] = sum of de over the positions where ids == v."""
    dE = np.zeros((num_embeddings, de.shape[-1]), dtype=de.dtype)
    np.add.at(dE, ids.reshape(-1), de.reshape(-1, de.shape[-1]))
    return dE
