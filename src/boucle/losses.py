r"""Loss objects: configuration around the pure functions of :mod:`boucle.ops.losses`.

Seed 003: the cost of the network on the data is the mean per-example loss

    J(W) = 1/N \sum_{i=1}^N L(h^{(L+1)}(x^{(i)}), y^{(i)}),

with the binary cross entropy L = -[y log h + (1 - y) log(1 - h)] for binary
classification and the squared error (y - h)^2 for regression; seeds 000/002
sum over time, E = \sum_t E_t.

Every loss takes ``y_pred`` of shape ``(B, F)`` or ``(B, T, F)``, an optional
mask of shape ``(B,)`` or ``(B, T)`` (1 = valid, 0 = padding), and reduces the
per-element losses with ``time_reduction``:

- ``"mean"`` (default): mean over all valid (sample[, step]) elements -- Keras's
  semantics, so the gradient scale and the learning rate that works do not
  depend on the sequence length;
- ``"sum"``: sum over the valid steps of each sequence (the seeds' E = \sum_t E_t),
  then mean over the samples with at least one valid step.

Usage::

    loss = get("categorical_crossentropy")            # or CategoricalCrossentropy(from_logits=True)
    value, dy = loss.forward_backward(y_true, y_pred, mask)   # dy = dJ/dy_pred, shape of y_pred
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BoucleError
from .ops import losses as ops
from .registry import lookup, register

__all__ = [
    "Loss",
    "MeanSquaredError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "get",
    "ALIASES",
]


class Loss:
    """Base class: ``loss(y_true, y_pred, mask) -> float`` and
    ``loss.forward_backward(y_true, y_pred, mask) -> (float, dJ/dy_pred)``."""

    name: str = "loss"
    from_logits: bool = False
    _has_logits: bool = True

    def __init__(self, from_logits: bool = False, *, time_reduction: str = "mean") -> None:
        if not isinstance(from_logits, (bool, np.bool_)):
            raise BoucleError(f"from_logits: expected True or False, got {from_logits!r}")
        if from_logits and not self._has_logits:
            raise BoucleError(f"from_logits: expected False for {self.name}, got True")
        if time_reduction not in ops.TIME_REDUCTIONS:
            raise BoucleError(f"time_reduction: expected one of {ops.TIME_REDUCTIONS}, got {time_reduction!r}")
        self.from_logits = bool(from_logits)
        self.time_reduction = time_reduction

    def __call__(self, y_true: Any, y_pred: Any, mask: Any = None) -> float:
        """J for the batch (see the module docstring for shapes and reduction)."""
        return ops.loss_and_grad(
            self.name,
            y_true,
            y_pred,
            mask,
            from_logits=self.from_logits,
            time_reduction=self.time_reduction,
            grad=False,
        )[0]

    def forward_backward(self, y_true: Any, y_pred: Any, mask: Any = None) -> tuple[float, np.ndarray]:
        """``(J, dJ/dy_pred)``; the gradient has the shape and dtype of ``y_pred`` and is
        exactly zero at masked positions."""
        return ops.loss_and_grad(
            self.name, y_true, y_pred, mask, from_logits=self.from_logits, time_reduction=self.time_reduction, grad=True
        )

    def get_config(self) -> dict:
        cfg: dict[str, Any] = {"name": self.name}
        if self._has_logits:
            cfg["from_logits"] = self.from_logits
        cfg["time_reduction"] = self.time_reduction
        return cfg

    @classmethod
    def from_config(cls, cfg: dict) -> Loss:
        """Rebuild from :meth:`get_config`; ``Loss.from_config`` picks the class from ``cfg["name"]``."""
        if not isinstance(cfg, dict):
            raise BoucleError(f"config: expected a dict, got {type(cfg).__name__}")
        cfg = dict(cfg)
        name = cfg.pop("name", None)
        name = ALIASES.get(name, name) if isinstance(name, str) else name
        target = cls
        if cls is Loss:
            if name not in ALIASES.values():
                raise BoucleError(f"config['name']: expected one of {sorted(ALIASES)}, got {name!r}")
            target = lookup("loss", name)
        elif name is not None and name != cls.name:
            raise BoucleError(f"config['name']: expected {cls.name!r}, got {name!r}")
        allowed = {"from_logits", "time_reduction"} if target._has_logits else {"time_reduction"}
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise BoucleError(f"config: expected keys among {sorted(allowed | {'name'})}, got unknown {unknown}")
        return target(**cfg)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


@register("loss", "mean_squared_error")
class MeanSquaredError(Loss):
    """l = 1/F \\sum_f (y_f - h_f)^2 per element (mean over the last axis, as Keras)."""

    name = "mean_squared_error"
    _has_logits = False

    def __init__(self, *, time_reduction: str = "mean") -> None:
        super().__init__(False, time_reduction=time_reduction)


@register("loss", "binary_crossentropy")
class BinaryCrossentropy(Loss):
    """l = -1/F \\sum_f [y_f log h_f + (1 - y_f) log(1 - h_f)] per element (seed 003).

    ``from_logits=False``: h clipped to [1e-7, 1 - 1e-7] (Keras's epsilon).
    ``from_logits=True``: h = sigma(a), computed stably as max(a,0) - a y + log(1 + e^{-|a|}).
    """

    name = "binary_crossentropy"


@register("loss", "categorical_crossentropy")
class CategoricalCrossentropy(Loss):
    """l = -\\sum_c y_c log h_c per element; ``y_true`` one-hot (or probabilities) like ``y_pred``.

    ``from_logits=True``: log h = log_softmax(a), gradient softmax(a) - y.
    """

    name = "categorical_crossentropy"


@register("loss", "sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(Loss):
    """l = -log h_k per element, ``y_true`` integer labels k of shape ``y_pred.shape[:-1]``."""

    name = "sparse_categorical_crossentropy"


ALIASES: dict[str, str] = {
    "mse": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "bce": "binary_crossentropy",
    "binary_crossentropy": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
}


def get(identifier: Any) -> Loss:
    """A :class:`Loss` from a name (see :data:`ALIASES`), an instance (returned as is),
    a Loss class (instantiated with defaults) or a config dict (:meth:`Loss.from_config`)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss) and identifier is not Loss:
        return identifier()
    if isinstance(identifier, dict):
        return Loss.from_config(identifier)
    if isinstance(identifier, str) and identifier in ALIASES:
        return lookup("loss", ALIASES[identifier])()
    raise BoucleError(f"loss: expected one of {sorted(ALIASES)} or a Loss instance, got {identifier!r}")
