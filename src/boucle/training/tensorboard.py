"""``TensorBoard``: training written as TensorBoard event files, for every model (the one engine).

What is written, with the model's step count (applied steps over its life) as the x axis,
so that the curves of a resumed run continue those of the first:

- ``batch/<key>`` every ``update_freq`` steps: the batch logs of the engine — ``loss`` and the
  model's per-batch values (running means over the epoch so far, as Keras), the metrics,
  ``grad_norm`` (the global gradient norm before clipping), ``step_time`` (seconds) — and
  ``lr`` (the optimizer's learning rate);
- ``epoch/<key>`` at every epoch end (for a char model: every reporting interval): the epoch
  logs (``loss``, metrics, ``val_*``) and ``lr``;
- every ``histogram_freq`` steps (0 = never): histograms ``weights/<param>`` and
  ``gradients/<param>`` (the gradient of that step, before clipping) of the trainable
  parameters; a step refused by the divergence policy writes none;
- models that generate text (``CharModel``): at every epoch end a sample of
  ``sample_length`` characters at ``sample_temperature`` (seeded by the step) under the
  text tag ``samples`` (tensorboardX files it as ``samples/text_summary``).

The event files are written by tensorboardX (the ``tensorboard`` extra): a small, pure-Python
writer of TensorBoard's own file format (TFRecord frames of ``Event`` protocol buffers),
needing only numpy, protobuf and packaging — TensorBoard itself (its server, grpcio,
werkzeug, ...) is needed only to look at the files: ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .. import validators
from ..errors import BoucleError
from .callbacks import Callback

__all__ = ["TensorBoard"]


def _writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise BoucleError(
            "TensorBoard: the tensorboardX package is not installed; pip install 'boucle[tensorboard]'"
        ) from None
    return SummaryWriter


class TensorBoard(Callback):
    """Write scalars, histograms and samples for TensorBoard (see the module doc).

    Args:
        log_dir: folder of the event files (made if missing).
        update_freq: write the batch scalars every so many steps (1 = every step).
        histogram_freq: write weight and gradient histograms every so many steps (0 = never).
        sample_length: characters of the sample written at each epoch end by a model with
            ``sample`` (0 = none).
        sample_temperature: the samples' temperature.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        update_freq: int = 1,
        histogram_freq: int = 0,
        sample_length: int = 200,
        sample_temperature: float = 0.8,
    ):
        self._writer_cls = _writer_class()
        self.log_dir = os.fspath(log_dir)
        if os.path.exists(self.log_dir) and not os.path.isdir(self.log_dir):
            raise BoucleError(f"TensorBoard: log_dir: {self.log_dir!r} exists and is not a folder")
        self.update_freq = validators.positive_int(update_freq, "update_freq", "TensorBoard")
        self.histogram_freq = validators.nonneg_int(histogram_freq, "histogram_freq", "TensorBoard")
        self.sample_length = validators.nonneg_int(sample_length, "sample_length", "TensorBoard")
        self.sample_temperature = validators.real(
            sample_temperature, "sample_temperature", low=0.0, owner="TensorBoard", want="a finite float > 0"
        )
        self.writer: Any = None

    # -- the writer's life: one per fit -------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.writer = self._writer_cls(self.log_dir, flush_secs=30)

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _lr(self) -> float:
        opt = getattr(self.model, "optimizer", None)
        return math.nan if opt is None else float(opt.current_lr())

    def _scalars(self, prefix: str, logs: dict, step: int) -> None:
        for key, value in logs.items():
            if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}/{key}", float(value), step)
        lr = self._lr()
        if not math.isnan(lr):
            self.writer.add_scalar(f"{prefix}/lr", lr, step)

    # -- hooks ------------------------------------------------------------------------------
    def on_batch_end(self, batch, logs=None):
        logs = dict(logs or {})
        step = int(getattr(self.model, "step", 0))
        if step % self.update_freq == 0:
            scalars = {k: v for k, v in logs.items() if k not in ("size", "step", "time")}
            scalars["step_time"] = logs.get("time", math.nan)
            self._scalars("batch", scalars, step)
        norm = logs.get("grad_norm", math.nan)
        if (
            self.histogram_freq
            and step % self.histogram_freq == 0
            and math.isfinite(norm)
            and step != getattr(self, "_histogram_step", None)
        ):
            self._histogram_step = step
            params, grads = self.model.trainable_params()
            for name, value in params.items():
                self.writer.add_histogram(f"weights/{name}", np.asarray(value, dtype=np.float64), step)
                self.writer.add_histogram(f"gradients/{name}", np.asarray(grads[name], dtype=np.float64), step)

    def on_epoch_end(self, epoch, logs=None):
        step = int(getattr(self.model, "step", 0))
        self._scalars("epoch", dict(logs or {}), step)
        if self.sample_length and callable(getattr(self.model, "sample", None)):
            text = self.model.sample(self.sample_length, temperature=self.sample_temperature, seed=step)
            body = "\n".join("    " + line for line in text.split("\n"))  # a Markdown code block
            self.writer.add_text("samples", f"step {step}, temperature {self.sample_temperature}:\n\n{body}", step)
        self.writer.flush()
