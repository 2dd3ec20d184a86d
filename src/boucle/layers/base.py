"""The layer contract.

A layer holds ``config`` (plain JSON-able values, :meth:`Layer.get_config`),
``params`` and ``grads`` (``dict[str, ndarray]``, same keys and shapes). It has

- ``build(input_shape, rng)``: create parameters for inputs of shape
  ``(batch, *input_shape)``; ``rng`` is the model's one ``numpy.random.Generator``,
  kept by layers that need randomness at training time (dropout);
- ``forward(x, mask=None, training=False) -> (y, cache)``;
- ``backward(dy, cache) -> dx``: *accumulates* (``+=``) parameter gradients into
  ``grads``, as a weight reused at every timestep needs (micrograd's rule);
- ``compute_output_shape(input_shape)`` and ``compute_mask(x, mask)``: the shape
  and the (batch, time) mask of the output, so masks from ``Embedding(mask_zero=True)``
  or ``Masking`` flow through a ``Sequential`` into the loss.

Non-trainable state (BatchNormalization's moving mean and variance) lives in
``buffers`` (``dict[str, ndarray]``, made by :meth:`Layer.add_buffer`): saved and
restored with the weights (``get_weights``/``set_weights``, hence model files),
counted by ``count_params`` but not by ``count_trainable_params``, never in
``params``/``grads`` (so never handed to an optimizer). A layer updates its buffers
in ``forward`` only when ``training=True``.

Forward reads its weights from ``self.params`` at every call (never a cached
alias), so tools such as the gradient check can swap them. There are no hidden
step counters and no caches that outlive the call that made them: all that
backward needs travels in ``cache``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import allocation, backend, registry
from ..errors import BoucleError

__all__ = ["Layer", "register", "check_input"]

#: class decorator: make a layer findable by its class name in model files (:mod:`boucle.registry`).
register = registry.register("layer")

_COUNTERS: dict[str, int] = {}


def _auto_name(cls_name: str) -> str:
    base = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls_name)  # Keras's rule: SimpleRNN -> simple_rnn,
    base = re.sub(r"([a-z])([A-Z])", r"\1_\2", base).lower()  # Conv2D -> conv2d, MaxPooling2D -> max_pooling2d
    _COUNTERS[base] = _COUNTERS.get(base, 0) + 1
    n = _COUNTERS[base]
    return base if n == 1 else f"{base}_{n}"


def check_input(x: Any, name: str, ndim: tuple[int, ...], last: int | None, layer: str, dtype=None) -> np.ndarray:
    """Validate rank and last-axis size of a layer input and convert it to ``dtype``."""
    x = np.asarray(x)
    if x.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise BoucleError(f"{layer}: {name} must be {want}, got shape {x.shape}")
    if last is not None and x.shape[-1] != last:
        raise BoucleError(f"{layer}: {name} last axis must have size {last}, got shape {x.shape}")
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)
    return x


class Layer:
    """Base class: see the module docstring for the contract."""

    #: True for layers whose forward uses ``rng`` when ``training=True``.
    stochastic = False

    def __init__(
        self,
        *,
        name: str | None = None,
        dtype: Any = None,
        input_shape: tuple | None = None,
        input_dim: int | None = None,
        trainable: bool = True,
    ):
        allocation.count_layer(type(self).__name__)  # bounded while a model file is read
        self.name = name or _auto_name(type(self).__name__)
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise BoucleError(f"name: expected a non-empty string without '/', got {name!r}")
        self._dtype_arg = None if dtype is None else backend.resolve_dtype(dtype).name
        if input_dim is not None:
            input_shape = (input_dim,)
        self.input_shape = None if input_shape is None else tuple(None if d is None else int(d) for d in input_shape)
        self.trainable = bool(trainable)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.built = False
        self.built_input_shape: tuple | None = None
        self.rng: np.random.Generator | None = None
        self.dtype = backend.resolve_dtype(self._dtype_arg)

    # -- configuration -------------------------------------------------
    def get_config(self) -> dict:
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self._dtype_arg is not None:
            cfg["dtype"] = self._dtype_arg
        if self.input_shape is not None:
            cfg["input_shape"] = list(self.input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        registry.check_keys(cls, config, cls.__name__)  # an unknown keyword: one line, not a TypeError
        return cls(**config)

    # -- building -------------------------------------------------------
    def build(self, input_shape: tuple, rng: Any = None) -> None:
        """Create parameters for inputs of shape ``(batch, *input_shape)``."""
        self.rng = backend.make_rng(rng)
        self.dtype = backend.resolve_dtype(self._dtype_arg)
        self.built_input_shape = tuple(input_shape)
        self._build(self.built_input_shape)
        self.built = True

    def _build(self, input_shape: tuple) -> None:
        """Subclasses create their parameters here with :meth:`add_param`."""

    def add_param(self, name: str, shape: tuple, initializer: Any) -> np.ndarray:
        """A parameter drawn by ``initializer`` (while a model file is read: charged to the file's
        budget, not drawn; see :mod:`boucle.allocation`), with its zero gradient slot."""
        value = allocation.param(shape, initializer, self.rng, self.dtype)
        self.params[name] = value
        self.grads[name] = allocation.grad_zeros(value)
        return value

    def add_buffer(self, name: str, shape: tuple, initializer: Any) -> np.ndarray:
        """Non-trainable state saved with the weights (no gradient, no optimizer)."""
        value = allocation.param(shape, initializer, self.rng, self.dtype)  # bounded while a file is read
        self.buffers[name] = value
        return value

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def compute_mask(self, x, mask):
        """The output's (batch, time) mask; by default the input mask passes through."""
        return mask

    # -- computation ----------------------------------------------------
    def forward(self, x, mask=None, training: bool = False):
        raise NotImplementedError

    def backward(self, dy, cache):
        raise NotImplementedError

    def __call__(self, x, mask=None, training: bool = False):
        """Inference convenience: build on first use, return the output only."""
        if not self.built:
            self.build(np.shape(x)[1:])
        return self.forward(x, mask=mask, training=training)[0]

    def zero_grads(self) -> None:
        for g in self.grads.values():
            g[...] = 0

    # -- weights --------------------------------------------------------
    def count_params(self) -> int:
        """Every weight, parameters and buffers (as Keras counts non-trainable weights)."""
        return int(sum(p.size for p in self.params.values()) + sum(b.size for b in self.buffers.values()))

    def count_trainable_params(self) -> int:
        return int(sum(p.size for p in self.params.values())) if self.trainable else 0

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in {**self.params, **self.buffers}.items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        every = {**self.params, **self.buffers}
        for k, v in weights.items():
            if k not in every:
                raise BoucleError(f"{self.name}: unknown weight {k!r}, expected one of {sorted(every)}")
            v = np.asarray(v)
            if v.shape != every[k].shape:
                raise BoucleError(f"{self.name}: weight {k!r} must have shape {every[k].shape}, got {v.shape}")
            every[k][...] = v

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
