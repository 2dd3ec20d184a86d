"""Inverted dropout (seed 003, "Régularisation", stratégie 1).

During training each unit is kept with probability 1 - rate and scaled by
1 / (1 - rate), so that nothing changes at inference time.
"""

from __future__ import annotations

import numpy as np


def dropout_mask(shape, rate: float, rng: np.random.Generator, dtype):
    """m = [u >= rate] / (1 - rate), u ~ U(0, 1)."""
    keep = rng.random(shape) >= rate
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - rate))
