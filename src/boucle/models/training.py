"""Small pieces every training loop uses: mini-batch index iteration and the progress bar."""
from __future__ import annotations

import sys
from typing import Iterator

import numpy as np

__all__ = ["batches", "ProgressBar"]


def batches(n: int, batch_size: int, order: np.ndarray | None = None) -> Iterator[np.ndarray | slice]:
    """Indices of consecutive mini-batches over ``n`` samples (in ``order`` when given).

    Unshuffled batches are slices (views, no copy); shuffled ones index arrays.
    """
    for start in range(0, n, batch_size):
        if order is None:
            yield slice(start, min(start + batch_size, n))
        else:
            yield order[start:start + batch_size]


class ProgressBar:
    """A tqdm bar showing the running logs; a no-op when disabled."""

    def __init__(self, total: int, desc: str, enabled: bool, unit: str = "batch"):
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=True, file=sys.stdout,
                             dynamic_ncols=True, mininterval=0.1)

    def update(self, logs: dict, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)
            if self._bar.n == self._bar.total or self._bar.n % 8 == 1:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)

    def close(self, logs: dict | None = None) -> None:
        if self._bar is not None:
            if logs:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            self._bar.close()
