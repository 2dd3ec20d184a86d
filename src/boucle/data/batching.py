"""Mini-batches of arrays: the index sets of an epoch, and the batches themselves.

:class:`ArrayBatches` is what ``Sequential.fit`` hands the training engine for one epoch:
consecutive slices of ``batch_size`` samples of several aligned arrays (``x``, ``y``,
``mask``), in a given order (a permutation drawn from the model's generator) or in
order. It knows its length (the progress bar's total) and slices lazily, one batch at a
time. Length bucketing for padded sequences is :func:`boucle.data.padding.bucket_batches`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["minibatches", "ArrayBatches"]


def minibatches(n: int, batch_size: int, order: np.ndarray | None = None) -> Iterator[np.ndarray | slice]:
    """Indices of consecutive mini-batches over ``n`` samples (in ``order`` when given).

    Unshuffled batches are slices (views, no copy); shuffled ones index arrays.
    """
    for start in range(0, n, batch_size):
        if order is None:
            yield slice(start, min(start + batch_size, n))
        else:
            yield order[start : start + batch_size]


class ArrayBatches:
    """The batches of one epoch over aligned arrays (``None`` entries pass through as ``None``)."""

    def __init__(self, arrays: Sequence[np.ndarray | None], batch_size: int, order: np.ndarray | None = None):
        self.arrays = list(arrays)
        self.n = len(next(a for a in self.arrays if a is not None))
        self.batch_size, self.order = int(batch_size), order

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[tuple]:
        for idx in minibatches(self.n, self.batch_size, self.order):
            yield tuple(None if a is None else a[idx] for a in self.arrays)
