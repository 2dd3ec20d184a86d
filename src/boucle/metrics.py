r"""Stateful metrics that aggregate exactly over batches (Keras-like).

A metric is ``reset()``, then ``update(y_true, y_pred, mask)`` once per batch, then
``result()``. Built-in metrics keep a running sum of per-element values and a count
of valid elements (an element is a sample, or a (sample, step) pair for sequence
outputs ``(B, T, F)``; masked elements are not counted), so the result over
unequal batches equals the value on the whole set.

=====================================  =================================================
name                                   per-element value, result
=====================================  =================================================
``binary_accuracy``                    1/F \sum_f [(p_f > threshold) = (y_f > 0.5)], mean
``categorical_accuracy``               [argmax p = argmax y], mean
``sparse_categorical_accuracy``        [argmax p = y] (integer labels), mean
``accuracy``/``acc``                   one of the three, chosen from the loss (as Keras)
``mse`` / ``mae``                      1/F \sum_f (p_f - y_f)^2 / 1/F \sum_f |p_f - y_f|, mean
``perplexity``                         cross entropy CE in nats; exp(mean CE)
``bpc``/``bits_per_character``         cross entropy in nats; mean CE / ln 2 (bits)
=====================================  =================================================

Seed 003 shows custom metrics, ``def mean_pred(y_true, y_pred): return mean(y_pred)``:
any callable ``f(y_true, y_pred) -> float`` becomes a metric named after the function,
averaged over batches weighted by the batch size (if ``f`` takes a ``mask`` argument,
the mask is passed on). An empty metric's result is 0.0.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import losses as _losses
from . import validators
from .errors import BoucleError
from .ops import losses as ops

__all__ = [
    "Metric",
    "MeanMetric",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "Accuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Perplexity",
    "BitsPerCharacter",
    "MeanFunction",
    "get",
    "NAMES",
]

_LN2 = math.log(2.0)


class Metric:
    """Base class: ``reset()``, ``update(y_true, y_pred, mask=None)``, ``result() -> float``."""

    name: str = "metric"

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise BoucleError(f"name: expected a non-empty string, got {name!r}")
            self.name = name
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, y_true: Any, y_pred: Any, mask: Any = None) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class MeanMetric(Metric):
    """Mean of a per-element value over all valid elements seen since ``reset()``.

    Subclasses implement ``_values(y_true, y_pred) -> (...)`` on a validated float ``y_pred``.
    """

    _min_ndim = 1

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def update(self, y_true: Any, y_pred: Any, mask: Any = None) -> None:
        yp = ops.check_pred(y_pred, min_ndim=self._min_ndim)
        v = self._values(y_true, yp)  # (E) = y_pred.shape[:-1]
        m = ops.check_mask(mask, yp)
        if m is None:
            self.total += float(v.sum(dtype=np.float64))
            self.count += v.size
            return
        w = m.reshape(m.shape + (1,) * (v.ndim - m.ndim))  # broadcasts over (E)
        self.total += float((v * w).sum(dtype=np.float64))
        self.count += float(m.sum(dtype=np.float64)) * (v.size // max(m.size, 1))

    def _mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def result(self) -> float:
        return self._mean()


# -- accuracies ---------------------------------------------------------------------
class BinaryAccuracy(MeanMetric):
    """Fraction of outputs on the right side of ``threshold`` (0.5 for probabilities,
    0.0 for logits); labels count as positive when > 0.5."""

    name = "binary_accuracy"

    def __init__(self, threshold: float = 0.5, name: str | None = None) -> None:
        self.threshold = validators.real(threshold, "threshold")
        super().__init__(name)

    def _values(self, y_true, y_pred):
        yt = ops.check_true(y_true, y_pred)
        hit = ((y_pred > self.threshold) == (yt > 0.5)).astype(np.float64)
        return hit.mean(axis=-1) if y_pred.ndim >= 2 else hit


class CategoricalAccuracy(MeanMetric):
    """[argmax_c y_pred = argmax_c y_true] per element (one-hot targets)."""

    name = "categorical_accuracy"
    _min_ndim = 2

    def _values(self, y_true, y_pred):
        yt = ops.check_true(y_true, y_pred)
        return (y_pred.argmax(axis=-1) == yt.argmax(axis=-1)).astype(np.float64)


class SparseCategoricalAccuracy(MeanMetric):
    """[argmax_c y_pred = y_true] per element (integer labels of shape ``y_pred.shape[:-1]``)."""

    name = "sparse_categorical_accuracy"
    _min_ndim = 2

    def _values(self, y_true, y_pred):
        labels = ops.check_labels(y_true, y_pred)
        return (y_pred.argmax(axis=-1) == labels).astype(np.float64)


def _infer_kind(y_true, y_pred) -> str:
    """ "binary" for one output unit, "sparse" for labels without the class axis, else "categorical"."""
    shape = np.shape(y_true)
    if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
        return "binary"
    if shape == y_pred.shape[:-1] or shape == y_pred.shape[:-1] + (1,):
        return "sparse"
    return "categorical"


class Accuracy(MeanMetric):
    """Accuracy whose kind (binary / sparse / categorical) is read from the shapes of each batch,
    as Keras does when the loss does not decide it."""

    name = "accuracy"

    def __init__(self, threshold: float = 0.5, name: str | None = None) -> None:
        self._binary = BinaryAccuracy(threshold)
        self._kinds = {
            "binary": self._binary,
            "sparse": SparseCategoricalAccuracy(),
            "categorical": CategoricalAccuracy(),
        }
        super().__init__(name)

    def _values(self, y_true, y_pred):
        return self._kinds[_infer_kind(y_true, y_pred)]._values(y_true, y_pred)


# -- regression ---------------------------------------------------------------------
class MeanSquaredError(MeanMetric):
    """1/F \\sum_f (y_pred - y_true)^2 per element, averaged."""

    name = "mse"

    def _values(self, y_true, y_pred):
        return ops.mean_squared_error(ops.check_true(y_true, y_pred), y_pred, grad=False)[0]


class MeanAbsoluteError(MeanMetric):
    """1/F \\sum_f |y_pred - y_true| per element, averaged."""

    name = "mae"

    def _values(self, y_true, y_pred):
        d = np.abs(y_pred - ops.check_true(y_true, y_pred))
        return d.mean(axis=-1) if y_pred.ndim >= 2 else d


# -- cross-entropy based ------------------------------------------------------------
class _CrossEntropyMean(MeanMetric):
    """Mean cross entropy in nats per valid element; ``kind`` is "categorical" (one-hot
    targets), "sparse" (integer labels), "binary" or ``None`` (read from the shapes)."""

    _KINDS = ("categorical", "sparse", "binary")

    def __init__(self, from_logits: bool = False, kind: str | None = None, name: str | None = None) -> None:
        if not isinstance(from_logits, (bool, np.bool_)):
            raise BoucleError(f"from_logits: expected True or False, got {from_logits!r}")
        if kind is not None and kind not in self._KINDS:
            raise BoucleError(f"kind: expected one of {self._KINDS} or None, got {kind!r}")
        self.from_logits = bool(from_logits)
        self.kind = kind
        super().__init__(name)

    def _values(self, y_true, y_pred):
        kind = self.kind or _infer_kind(y_true, y_pred)
        if kind == "sparse":
            yt = ops.check_labels(y_true, y_pred)
            return ops.sparse_categorical_crossentropy(yt, y_pred, self.from_logits, grad=False)[0]
        yt = ops.check_true(y_true, y_pred)
        if kind == "binary":
            return ops.binary_crossentropy(yt, y_pred, self.from_logits, grad=False)[0]
        if y_pred.ndim < 2:
            raise BoucleError(f"y_pred: expected an array of shape (B, C) or (B, T, C), got shape {y_pred.shape}")
        return ops.categorical_crossentropy(yt, y_pred, self.from_logits, grad=False)[0]


class Perplexity(_CrossEntropyMean):
    """exp(mean cross entropy in nats) over all valid elements (tokens)."""

    name = "perplexity"

    def result(self) -> float:
        if not self.count:
            return 0.0
        mean = self._mean()
        return math.exp(mean) if mean < 709.0 else math.inf


class BitsPerCharacter(_CrossEntropyMean):
    """Mean cross entropy in bits, CE / ln 2, over all valid elements (characters)."""

    name = "bpc"

    def result(self) -> float:
        return self._mean() / _LN2


# -- custom functions ---------------------------------------------------------------
class MeanFunction(Metric):
    """A callable ``f(y_true, y_pred[, mask]) -> float`` averaged over batches, weighted by batch size."""

    def __init__(self, fn: Callable, name: str | None = None) -> None:
        if not callable(fn):
            raise BoucleError(f"fn: expected a callable f(y_true, y_pred), got {type(fn).__name__}")
        self.fn = fn
        try:
            self._takes_mask = "mask" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            self._takes_mask = False
        if name is None:
            label = getattr(fn, "name", None)
            name = label if isinstance(label, str) and label else getattr(fn, "__name__", type(fn).__name__)
        super().__init__(name)

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, y_true: Any, y_pred: Any, mask: Any = None) -> None:
        value = self.fn(y_true, y_pred, mask=mask) if self._takes_mask else self.fn(y_true, y_pred)
        value = float(np.mean(np.asarray(value, dtype=np.float64)))
        shape = np.shape(y_pred)
        size = shape[0] if shape else 1
        self.total += value * size
        self.count += size

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


# -- lookup -------------------------------------------------------------------------
_SIMPLE: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
}
_CROSS_ENTROPY: dict[str, type[_CrossEntropyMean]] = {
    "perplexity": Perplexity,
    "bpc": BitsPerCharacter,
    "bits_per_character": BitsPerCharacter,
}
NAMES: tuple[str, ...] = tuple(sorted({"accuracy", "acc", *_SIMPLE, *_CROSS_ENTROPY}))

_LOSS_KIND = {
    _losses.BinaryCrossentropy: "binary",
    _losses.CategoricalCrossentropy: "categorical",
    _losses.SparseCategoricalCrossentropy: "sparse",
}


def _loss_kind(loss: Any) -> str | None:
    for cls, kind in _LOSS_KIND.items():
        if isinstance(loss, cls):
            return kind
    return None


def get(identifier: Any, loss: Any = None) -> Metric:
    """A :class:`Metric` from a name (:data:`NAMES`), an instance (returned as is), a Metric
    class, or any callable ``f(y_true, y_pred) -> float``.

    ``loss`` (a :class:`boucle.losses.Loss` or its name) chooses what "accuracy" means
    (binary / categorical / sparse, as Keras), the binary threshold (0.0 for logits) and
    how perplexity/bpc read ``y_pred`` (``from_logits``, sparse or one-hot targets).
    The metric is named by ``identifier`` (e.g. "acc", "bpc").
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(loss, (str, dict)):
        loss = _losses.get(loss)
    from_logits = bool(getattr(loss, "from_logits", False))
    kind = _loss_kind(loss)
    threshold = 0.0 if from_logits else 0.5
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            if kind == "binary":
                return BinaryAccuracy(threshold, name=identifier)
            if kind == "categorical":
                return CategoricalAccuracy(name=identifier)
            if kind == "sparse":
                return SparseCategoricalAccuracy(name=identifier)
            return Accuracy(threshold, name=identifier)
        if identifier == "binary_accuracy":
            return BinaryAccuracy(threshold, name=identifier)
        if identifier in _SIMPLE:
            return _SIMPLE[identifier](name=identifier)
        if identifier in _CROSS_ENTROPY:
            if loss is not None and kind is None:
                raise BoucleError(
                    f"metric: {identifier!r} needs a cross-entropy loss, got loss "
                    f"{getattr(loss, 'name', type(loss).__name__)!r}"
                )
            return _CROSS_ENTROPY[identifier](from_logits, kind, name=identifier)
    elif callable(identifier):
        return MeanFunction(identifier)
    raise BoucleError(
        f"metric: expected one of {list(NAMES)}, a Metric or a callable f(y_true, y_pred), got {identifier!r}"
    )
