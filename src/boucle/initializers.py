"""Weight initializers. Each is ``init(shape, rng, dtype) -> ndarray``.

- ``zeros``, ``ones``
- ``normal(stddev)``: N(0, sigma^2) as in seed 003 ("Initialisation des poids au hasard")
- ``glorot_uniform``: U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Keras default kernel)
- ``he_normal``: N(0, 2 / fan_in) truncated at 2 sigma (as Keras)
- ``orthogonal``: QR of a Gaussian matrix (Keras default recurrent kernel)
- ``uniform(limit)``: U(-limit, limit) (PyTorch's RNN default with limit = 1/sqrt(H))

For recurrent kernels of shape ``(D, G*H)`` the gate blocks are initialised as
one matrix, as Keras does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from .errors import BoucleError

__all__ = ["zeros", "ones", "normal", "uniform", "glorot_uniform", "he_normal", "orthogonal", "get"]


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def zeros(shape, rng, dtype):
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng, dtype):
    return np.ones(shape, dtype=dtype)


def normal(stddev: float = 0.05) -> Callable:
    def init(shape, rng, dtype):
        return (rng.standard_normal(shape) * stddev).astype(dtype)

    init.__name__ = f"normal({stddev})"
    return init


def uniform(limit: float = 0.05) -> Callable:
    def init(shape, rng, dtype):
        return rng.uniform(-limit, limit, size=shape).astype(dtype)

    init.__name__ = f"uniform({limit})"
    return init


def glorot_uniform(shape, rng, dtype):
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, rng, dtype):
    fan_in, _ = _fans(shape)
    std = np.sqrt(2.0 / fan_in)
    w = rng.standard_normal(shape)
    bad = np.abs(w) > 2.0
    while bad.any():  # truncated normal, as Keras
        w[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(w) > 2.0
    return (w * std / 0.87962566103423978).astype(dtype)


def orthogonal(shape, rng, dtype, gain: float = 1.0):
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    cols = shape[-1]
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))  # uniform over the orthogonal group
    if rows < cols:
        q = q.T
    return np.ascontiguousarray((gain * q[:rows, :cols]).reshape(shape), dtype=dtype)


_NAMED = {
    "zeros": zeros,
    "ones": ones,
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
    "orthogonal": orthogonal,
    "normal": normal(0.05),
    "uniform": uniform(0.05),
}


def get(init) -> Callable:
    """An initializer from a name or a callable ``(shape, rng, dtype) -> array``."""
    if callable(init):
        return init
    if isinstance(init, str) and init in _NAMED:
        return _NAMED[init]
    if isinstance(init, str):  # the names that normal(s) / uniform(l) report, e.g. "normal(0.01)"
        m = re.fullmatch(r"(normal|uniform)\(([0-9.eE+-]+)\)", init)
        if m:
            return {"normal": normal, "uniform": uniform}[m.group(1)](float(m.group(2)))
    raise BoucleError(f"initializer: expected one of {sorted(_NAMED)} or a callable, got {init!r}")
