"""What a run shows while it trains: a tqdm progress bar (``verbose=1``) or one line per epoch (``verbose=2``).

Both are callbacks, chosen by :func:`boucle.training.fit`; a model may hand ``fit`` its
own configured :class:`ProgressBar` (``CharModel`` shows one bar for the whole run, in
steps, with characters per second).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from .callbacks import Callback

__all__ = ["ProgressBar", "EpochLine", "shown"]

#: batch-log keys that are bookkeeping, not values to show.
_HIDDEN = ("grad_norm", "size", "step", "time")


def shown(logs: dict, keys: Sequence[str] | None = None) -> dict[str, str]:
    """``{name: formatted value}`` of the logs worth showing (all but bookkeeping, or ``keys``)."""
    items = (
        ((k, logs[k]) for k in keys if k in logs)
        if keys is not None
        else ((k, v) for k, v in logs.items() if k not in _HIDDEN)
    )
    return {k: f"{v:.4g}" for k, v in items if isinstance(v, (int, float))}


class ProgressBar(Callback):
    """A tqdm bar: one per epoch (``per_epoch=True``, Keras's layout: ``Epoch 3/10``), or one
    for the whole run counting steps from ``initial`` to ``total``.

    Args:
        epochs: the epoch count shown in each bar's title (None: unknown).
        keys: which logs to show (default: every value but the bookkeeping).
        rate: name of a throughput shown as ``size`` per second of step time (e.g. ``"chars_s"``).
        file: the stream (default stdout).
    """

    def __init__(
        self,
        epochs: int | None = None,
        *,
        per_epoch: bool = True,
        total: int | None = None,
        initial: int = 0,
        desc: str = "train",
        unit: str | None = None,
        keys: Sequence[str] | None = None,
        rate: str | None = None,
        file: Any = None,
    ):
        self.epochs, self.per_epoch, self.total, self.initial = epochs, per_epoch, total, initial
        self.desc, self.unit = desc, unit or ("batch" if per_epoch else "step")
        self.keys, self.rate, self.file = keys, rate, file
        self._bar = None
        self._speed: float | None = None

    def _open(self, desc: str, total: int | None, initial: int = 0) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=self.unit,
            leave=True,
            file=self.file or sys.stdout,
            dynamic_ncols=True,
            mininterval=0.1,
        )
        self._speed = None

    def _close(self, logs: dict | None) -> None:
        if self._bar is not None:
            if logs:
                self._bar.set_postfix(self._postfix(logs), refresh=False)
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        """Close the open bar (the engine calls it when training ends by an exception)."""
        self._close(None)

    def _postfix(self, logs: dict) -> dict[str, str]:
        out = shown(logs, self.keys)
        if self.rate and self._speed is not None:
            out[self.rate] = f"{self._speed:,.0f}"
        return out

    def on_train_begin(self, logs=None):
        if not self.per_epoch:
            self._open(self.desc, self.total, self.initial)

    def on_epoch_begin(self, epoch, logs=None):
        if self.per_epoch:
            title = f"Epoch {epoch + 1}" + (f"/{self.epochs}" if self.epochs is not None else "")
            self._open(title, (logs or {}).get("batches"))

    def on_batch_end(self, batch, logs=None):
        if self._bar is None:
            return
        logs = logs or {}
        if self.rate and logs.get("time"):
            speed = logs.get("size", 0) / logs["time"]
            self._speed = speed if self._speed is None else 0.9 * self._speed + 0.1 * speed
        self._bar.update(1)
        if self._bar.n == self._bar.total or self._bar.n % 8 == 1:
            self._bar.set_postfix(self._postfix(logs), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.per_epoch:
            self._close(logs)

    def on_train_end(self, logs=None):
        self._close(None if self.per_epoch else logs)


class EpochLine(Callback):
    """One line per epoch: ``Epoch 3/10 - loss: 0.1234 - val_loss: 0.2345 - 12s``."""

    def __init__(self, epochs: int | None = None, print_fn=None):
        self.epochs = epochs
        self.print_fn = print_fn or (lambda line: print(line, flush=True))

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        title = f"Epoch {epoch + 1}" + (f"/{self.epochs}" if self.epochs is not None else "")
        parts = [f"{k}: {v}" for k, v in shown(logs or {}).items()]
        self.print_fn(" - ".join([title, *parts, f"{time.perf_counter() - self._start:.0f}s"]))
