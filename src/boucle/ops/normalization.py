"""Batch normalization (Ioffe & Szegedy 2015), forward beside backward.

Over the features of the last axis (channels for ``(B, H, W, C)`` images, units for
``(B, D)``), with the statistics taken over every other axis (M values per feature):

    training:   μ = 1/M Σ x,   σ² = 1/M Σ (x − μ)²                                      (1)
                x̂ = (x − μ) / √(σ² + ε),   y = γ x̂ + β                                   (2)
                moving_mean ← m·moving_mean + (1 − m)·μ                                   (3)
                moving_var  ← m·moving_var  + (1 − m)·σ²   (× M/(M − 1) if unbiased)
    inference:  x̂ = (x − moving_mean) / √(moving_var + ε),   y = γ x̂ + β               (4)

Keras's ``momentum`` m = 0.99 weighs the old value (PyTorch's 0.1 is 1 − m) and its
moving variance uses the biased σ²; PyTorch's running variance uses the unbiased
M/(M − 1) σ² (both normalise with the biased σ²). Backward passes, with g = dy:

    dβ = Σ g,   dγ = Σ g x̂
    training:   dx = γ/√(σ² + ε) · (g − dβ/M − x̂ dγ/M)       (μ and σ² depend on x)       (2')
    inference:  dx = γ/√(moving_var + ε) · g                                              (4')
"""

from __future__ import annotations

import numpy as np

__all__ = ["batch_norm_train_forward", "batch_norm_infer_forward", "batch_norm_backward", "moving_update"]


def _axes(x: np.ndarray) -> tuple:
    return tuple(range(x.ndim - 1))


def batch_norm_train_forward(x: np.ndarray, gamma, beta, epsilon: float):
    """Equations (1)–(2). Returns ``y``, the batch ``μ`` and ``σ²`` (biased), and the cache."""
    axes = _axes(x)
    mu = x.mean(axis=axes)  # μ
    xc = x - mu
    var = np.mean(xc * xc, axis=axes)  # σ² (biased)
    inv = 1.0 / np.sqrt(var + x.dtype.type(epsilon))  # 1/√(σ² + ε)
    xhat = xc * inv  # x̂
    y = xhat * gamma if gamma is not None else xhat.copy()  # γ x̂
    if beta is not None:
        y += beta  # + β
    return y, mu, var, (xhat, inv, True)


def batch_norm_infer_forward(x: np.ndarray, gamma, beta, moving_mean, moving_var, epsilon: float):
    """Equation (4): normalise with the moving statistics."""
    inv = 1.0 / np.sqrt(moving_var + x.dtype.type(epsilon))
    xhat = (x - moving_mean) * inv
    y = xhat * gamma if gamma is not None else xhat.copy()
    if beta is not None:
        y += beta
    return y, (xhat, inv, False)


def batch_norm_backward(dy: np.ndarray, cache: tuple, gamma):
    """Equations (2') / (4'). Returns ``(dx, dγ, dβ)``."""
    xhat, inv, training = cache
    axes = _axes(dy)
    dbeta = dy.sum(axis=axes)  # dβ = Σ g
    dgamma = (dy * xhat).sum(axis=axes)  # dγ = Σ g x̂
    scale = inv if gamma is None else gamma * inv  # γ/√(σ² + ε)
    if not training:
        return dy * scale, dgamma, dbeta  # (4')
    M = dy.size // dy.shape[-1]
    dx = dy - dbeta / M  # g − dβ/M
    dx -= xhat * (dgamma / M)  #   − x̂ dγ/M
    dx *= scale  # × γ/√(σ² + ε)   (2')
    return dx, dgamma, dbeta


def moving_update(moving: np.ndarray, batch_value: np.ndarray, momentum: float) -> None:
    """Equation (3), in place: moving ← m·moving + (1 − m)·batch_value."""
    moving *= moving.dtype.type(momentum)
    moving += moving.dtype.type(1.0 - momentum) * batch_value.astype(moving.dtype, copy=False)
