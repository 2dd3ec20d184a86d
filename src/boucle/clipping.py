"""Gradient clipping (seeds 002 and 003): by global norm, exactly as the course writes it, and by value.

Every optimizer applies these when built with ``clipnorm=`` / ``clipvalue=``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import backend
from .errors import BoucleError
from .validators import real

__all__ = ["clip_by_global_norm", "clip_by_value", "global_norm"]


def _check_grads(grads: Any, who: str) -> dict:
    if not isinstance(grads, dict):
        raise BoucleError(f"{who}: grads: expected a dict name -> array, got {type(grads).__name__}")
    for k, g in grads.items():
        if not hasattr(g, "dtype") or not hasattr(g, "shape") or g.dtype.kind != "f":
            got = getattr(g, "dtype", type(g).__name__)
            raise BoucleError(f"{who}: grads[{k!r}]: expected a float array, got {got}")
    return grads


def _sum_squares(grads: dict) -> float:
    xp = backend.xp()
    total = []
    for g in grads.values():
        s = float(xp.vdot(g, g))
        if math.isinf(s) and g.dtype != xp.float64:  # float32 squares overflow past ~1.8e19: redo in float64
            g64 = g.astype(xp.float64)
            s = float(xp.vdot(g64, g64))
        total.append(s)
    return math.fsum(total)


def global_norm(grads: dict) -> float:
    """||g|| over all tensors together: ``sqrt(sum_k sum(g_k ** 2))``."""
    return math.sqrt(_sum_squares(_check_grads(grads, "global_norm")))


def _clip_norm(grads: dict, threshold: float, norm: float) -> dict:
    # seeds 002/003: if ||g|| >= seuil then g <- seuil * g / ||g||
    if norm >= threshold:
        scale = threshold / norm  # a Python float: float32 gradients stay float32
        return {k: g * scale for k, g in grads.items()}
    return dict(grads)


def clip_by_global_norm(grads: dict[str, np.ndarray], threshold: float) -> tuple[dict[str, np.ndarray], float]:
    """Gradient clipping of seeds 002/003, over all tensors together.

    .. math:: \\text{if } \\|g\\| \\geq \\text{seuil}: \\quad g \\leftarrow \\frac{\\text{seuil}}{\\|g\\|} g

    with ``||g||`` the Euclidean norm of every tensor of ``grads`` concatenated
    (no epsilon, unlike ``torch.nn.utils.clip_grad_norm_``'s ``max_norm / (norm + 1e-6)``).
    Returns a new dict (new arrays when clipped, the same arrays otherwise; the
    input arrays are never modified) and the norm before clipping. A NaN norm
    leaves the gradients as they are.
    """
    threshold = real(threshold, "threshold", owner="clip_by_global_norm", low=0.0, want="a finite float > 0")
    grads = _check_grads(grads, "clip_by_global_norm")
    norm = math.sqrt(_sum_squares(grads))
    return _clip_norm(grads, threshold, norm), norm


def clip_by_value(grads: dict[str, np.ndarray], limit: float) -> dict[str, np.ndarray]:
    """Elementwise ``g <- min(max(g, -limit), limit)``; new arrays, the input is untouched."""
    limit = real(limit, "limit", owner="clip_by_value", low=0.0, want="a finite float > 0")
    grads = _check_grads(grads, "clip_by_value")
    xp = backend.xp()
    return {k: xp.clip(g, -limit, limit) for k, g in grads.items()}
