r"""The one training engine: every model's ``fit`` runs through :func:`fit`, every step through :func:`train_step`.

Seed 003's mini-batch gradient descent, for any model::

    for each epoch:                       (a pass over the data, or a reporting interval of a stream)
        for each batch:
            J, cache = forward + loss                       model.train_forward(batch)
            if J is not finite: refuse the step             (the divergence policy, below)
            ∂J/∂θ = backward(cache)                         model.train_backward(cache)
            if ‖∂J/∂θ‖ is not finite: refuse the step
            θ ← optimizer(θ, clip(∂J/∂θ))                   model.optimizer.step(...)
            commit: metrics, carried state                  model.train_commit(batch, cache)
        validation, callbacks, history

**The model protocol** — what a model gives the engine (``Sequential``, ``CharModel`` and
``Seq2Seq`` each supply their batches and their loss, nothing of the loop):

- ``optimizer``: the compiled :class:`~boucle.optimizers.Optimizer`;
- ``step``: applied steps over the model's life (the engine increments it);
- ``metrics``: stateful :class:`~boucle.metrics.Metric` objects (reset each epoch, read into the logs);
- ``stop_training``: set by callbacks to stop after the current step;
- ``history``: set by :func:`fit` to the :class:`~boucle.training.callbacks.History` of the run;
- ``trainable_params() -> (params, grads)``: two dicts with the same keys;
- ``zero_grads()``;
- ``train_forward(batch) -> Forward(loss, cache, size, logs)``: training-mode forward and loss;
- ``train_backward(cache)``: accumulate every gradient of the loss into ``grads``;
- ``train_commit(batch, cache)``: after an applied step (update metrics, carry states).

**The divergence policy** (one for every model): a step whose loss or global gradient norm
is NaN or infinite is never applied — the weights stay those of the last good step — and
:class:`~boucle.training.callbacks.TerminateOnNaN` (always installed) stops training with
one message naming the epoch, the batch, the step and the value; ``fit`` returns normally
and ``history.stopped_reason`` holds the message (the command line exits 2 with it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import validators
from ..clipping import global_norm
from ..errors import BoucleError, NonFiniteError
from .callbacks import Callback, CallbackList, History, TerminateOnNaN
from .progress import EpochLine, ProgressBar

__all__ = ["Forward", "StepResult", "train_step", "fit"]


@dataclass
class Forward:
    """What ``model.train_forward(batch)`` returns."""

    loss: float  #: J for this batch (a Python float)
    cache: Any  #: what ``train_backward`` / ``train_commit`` need
    size: int = 1  #: the batch's weight in the epoch means (samples, tokens, characters)
    logs: dict = field(default_factory=dict)  #: per-batch scalars averaged over the epoch (accuracy, bpc)


@dataclass
class StepResult:
    """The outcome of :func:`train_step`."""

    loss: float
    grad_norm: float  #: global gradient norm before clipping (NaN when not computed)
    applied: bool  #: False when the divergence policy refused the step
    size: int
    logs: dict


def train_step(model: Any, batch: Any) -> StepResult:
    """One step of gradient descent on ``batch``, under the divergence policy (see the module doc)."""
    if getattr(model, "optimizer", None) is None:
        raise BoucleError(f"{type(model).__name__}: call compile(...) before training")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # overflow is reported by the policy
        try:
            fwd = model.train_forward(batch)
        except NonFiniteError:  # the predictions overflowed: the loss is undefined
            return StepResult(math.nan, math.nan, False, 0, {})
        loss = float(fwd.loss)
        if not math.isfinite(loss):
            return StepResult(loss, math.nan, False, fwd.size, fwd.logs)
        model.zero_grads()
        model.train_backward(fwd.cache)
        params, grads = model.trainable_params()
        norm = global_norm(grads)
    if not math.isfinite(norm):
        return StepResult(loss, norm, False, fwd.size, fwd.logs)
    model.optimizer.step(params, grads, norm=norm)
    model.step += 1
    model.train_commit(batch, fwd.cache)
    return StepResult(loss, norm, True, fwd.size, fwd.logs)


class _Means:
    """Size-weighted running means of the per-batch scalars of one epoch."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.weight = 0

    def add(self, values: dict, size: int) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * size
        self.weight += size

    def result(self) -> dict[str, float]:
        if not self.weight:  # no step applied in this epoch
            return {"loss": math.nan}
        return {k: s / self.weight for k, s in self.sums.items()}


def _check_limits(epochs, steps, time_budget) -> None:
    if epochs is not None:
        validators.nonneg_int(epochs, "epochs")
    if steps is not None:
        validators.nonneg_int(steps, "steps")
    if time_budget is not None:
        validators.real(time_budget, "time_budget", low=0.0, want="seconds > 0")


def fit(
    model: Any,
    data: Callable[[int], Iterable],
    *,
    epochs: int | None = None,
    steps: int | None = None,
    time_budget: float | None = None,
    initial_epoch: int = 0,
    validate: Callable[[], dict] | None = None,
    callbacks: Iterable[Callback] | None = None,
    verbose: int = 1,
    progress: Callback | None = None,
    history: History | None = None,
) -> History:
    """Train ``model`` (see the protocol in the module doc) on ``data``.

    Args:
        data: ``data(epoch) -> iterable of batches``, called once per epoch; an epoch whose
            iterable is empty ends training (a finite stream ran out).
        epochs: stop before epoch index ``epochs`` (Keras: with ``initial_epoch``, the total).
        steps: stop once ``model.step`` (applied steps over the model's life) reaches it.
        time_budget: stop at the first step boundary after this many seconds of this call.
        validate: ``validate() -> {name: value}`` at every epoch end, logged as ``val_<name>``.
        callbacks: Keras-style callbacks; a :class:`TerminateOnNaN` is added when absent.
        verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
        progress: replaces the default progress display of ``verbose``.
        history: continue this :class:`History` (a model's lifetime record) instead of a new one.

    Returns:
        the :class:`History` (also set as ``model.history``). A stop — by a callback, a limit
        or the divergence policy — ends the current epoch normally (validation, ``on_epoch_end``),
        except that an epoch ended by a refused step skips its validation: the weights of the
        last good step are the ones whose outputs overflowed.
    """
    _check_limits(epochs, steps, time_budget)
    history = history if history is not None else History()
    history.stopped_reason = None
    user = list(callbacks or [])
    for c in user:
        if not isinstance(c, Callback):
            raise BoucleError(f"callbacks: expected boucle Callback instances, got {type(c).__name__}")
    extra: list[Callback] = []
    if not any(isinstance(c, TerminateOnNaN) for c in user):
        extra.append(TerminateOnNaN())
    if progress is not None:
        extra.append(progress)
    elif verbose == 1:
        extra.append(ProgressBar(epochs))
    elif verbose == 2:
        extra.append(EpochLine(epochs))
    cbs = CallbackList([history, *user, *extra])
    model.history = history
    model.stop_training = False
    cbs.set_model(model)
    start = time.perf_counter()

    def limit_reached() -> bool:
        return bool(
            model.stop_training
            or (steps is not None and model.step >= steps)
            or (time_budget is not None and time.perf_counter() - start >= time_budget)
        )

    cbs.on_train_begin({})
    try:
        logs = _run_epochs(model, data, cbs, epochs, initial_epoch, validate, limit_reached)
    except BaseException:  # an exception (Ctrl-C) still closes the bar
        for c in extra:
            if isinstance(c, ProgressBar):
                c.close()
        raise
    cbs.on_train_end(logs)
    return history


def _run_epochs(model, data, cbs: CallbackList, epochs, initial_epoch: int, validate, limit_reached) -> dict:
    """The epochs of :func:`fit`; returns the last epoch's logs."""
    metrics = list(getattr(model, "metrics", ()))
    logs: dict = {}
    epoch = initial_epoch
    while (epochs is None or epoch < epochs) and not limit_reached():
        source = data(epoch)
        batches = iter(source)
        batch = next(batches, None)
        if batch is None:  # the data ran out: training is over
            break
        cbs.on_epoch_begin(epoch, {"batches": len(source)} if hasattr(source, "__len__") else {})
        for m in metrics:
            m.reset()
        means, b, refused = _Means(), 0, False
        while batch is not None:
            cbs.on_batch_begin(b, {})
            t0 = time.perf_counter()
            r = train_step(model, batch)
            if r.applied:  # running epoch means of the applied steps
                means.add({"loss": r.loss, **r.logs}, r.size)
                logs = {**means.result(), **{m.name: m.result() for m in metrics}}
            else:  # the refused step's own values
                logs, refused = {"loss": r.loss}, True
            logs.update(grad_norm=r.grad_norm, size=r.size, step=model.step, time=time.perf_counter() - t0)
            cbs.on_batch_end(b, logs)
            if limit_reached():
                break
            batch, b = next(batches, None), b + 1
        logs = {**means.result(), **{m.name: m.result() for m in metrics}}
        if validate is not None and not refused:  # (after a refused step the outputs overflow)
            logs.update({f"val_{k}": v for k, v in validate().items()})
        cbs.on_epoch_end(epoch, logs)
        epoch += 1
    return logs
