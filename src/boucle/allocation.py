"""Where a model's arrays come from: drawn by initializers, or charged to a model file's budget.

Normally a layer's parameter is drawn by its initializer (:func:`param`) and other
arrays a model keeps (a character model's carried states) are zeros (:func:`zeros`).
While a model file is read (:func:`boucle.load`), the model is rebuilt from the
file's JSON config inside :func:`bounded`, and the config is not trusted: it may
declare ``layers=1000000`` or ``hidden=10**6`` on a file holding a few kilobytes.
Inside :func:`bounded`

- no initializer runs (no random draws, no QR of a large matrix);
- each parameter and state is *charged* to a budget taken from the file's header
  before anything is allocated: the number of tensors and the bytes the file
  holds. The first one past the budget stops the build with a
  :class:`~boucle.errors.ModelFileError` ("the config declares more parameters
  than the file holds"), so the work done is bounded by the file, not by the config;
- each layer object made is counted too (a model of 10^6 layers stops at the
  first layer past the budget, before the next is made);
- with ``placeholders=True`` the arrays are zero-cost stand-ins (one element,
  zero strides: they have the declared shape and dtype and take no memory), so
  the declared names, shapes and dtypes can be compared with the file's before
  anything is allocated; with ``placeholders=False`` they are zeros, to be
  filled from the file.

Code that allocates an array sized by a config (a layer's ``add_param`` does it
for every layer) goes through :func:`param` or :func:`zeros` — that is the hook a
model must call to be loadable within the file's budget.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import initializers
from .errors import ModelFileError

__all__ = [
    "Budget",
    "bounded",
    "active",
    "param",
    "zeros",
    "grad_zeros",
    "count_layer",
    "placeholder",
    "is_placeholder",
]


class Budget:
    """What a model file may make: ``tensors`` arrays of ``nbytes`` bytes in all, ``layers`` layer objects.

    ``what`` starts the error messages (e.g. ``"path: 'm.safetensors'"``). A limit None means no
    limit: :func:`bounded` without a file counts what a config would allocate (``used_elements``,
    ``used_bytes``) without allocating it.
    """

    def __init__(
        self, tensors: int | None, nbytes: int | None, layers: int | None, *, what: str, placeholders: bool = True
    ):
        self.tensors, self.nbytes, self.layers = tensors, nbytes, layers
        self.what, self.placeholders = what, placeholders
        self.used_tensors = self.used_bytes = self.used_layers = 0
        self.used_elements = 0

    def charge(self, shape: tuple, dtype: Any, kind: str) -> tuple[tuple[int, ...], np.dtype]:
        """Count one array of ``shape`` and ``dtype``; raise past the budget. Returns the checked shape/dtype."""
        dtype = np.dtype(dtype)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ModelFileError(f"{self.what}: the config declares a {kind} of invalid shape {tuple(shape)}")
        shape = tuple(int(d) for d in shape)
        size = math.prod(shape)
        self.used_tensors += 1
        self.used_bytes += size * dtype.itemsize
        self.used_elements += size
        if size * dtype.itemsize >= 2**62:
            raise ModelFileError(
                f"{self.what}: the config declares a {kind} of shape {shape}, "
                f"{size * dtype.itemsize:.2e} bytes: larger than any memory"
            )
        if (self.tensors is not None and self.used_tensors > self.tensors) or (
            self.nbytes is not None and self.used_bytes > self.nbytes
        ):
            limits = ", ".join(
                f"{v:,} {u}" for v, u in ((self.tensors, "tensors"), (self.nbytes, "bytes")) if v is not None
            )
            raise ModelFileError(
                f"{self.what}: the config declares more parameters than the file holds "
                f"(the build may make {limits}; a {kind} of shape {shape} reaches "
                f"{self.used_tensors:,} tensors, {self.used_bytes:,} bytes)"
            )
        return shape, dtype

    def make(self, shape: tuple, dtype: np.dtype) -> np.ndarray:
        return placeholder(shape, dtype) if self.placeholders else np.zeros(shape, dtype)


_ACTIVE: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("boucle_build_budget", default=None)


@contextlib.contextmanager
def bounded(
    tensors: int | None = None,
    nbytes: int | None = None,
    layers: int | None = None,
    *,
    what: str = "config",
    placeholders: bool = True,
) -> Iterator[Budget]:
    """Build models inside this block without drawing weights, within a budget (see the module docstring)."""
    budget = Budget(tensors, nbytes, layers, what=what, placeholders=placeholders)
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def active() -> Budget | None:
    """The budget of the build in progress, or None (normal construction)."""
    return _ACTIVE.get()


def placeholder(shape: tuple, dtype: Any) -> np.ndarray:
    """A writable zero-cost array of ``shape``: one element seen through zero strides."""
    return np.lib.stride_tricks.as_strided(
        np.zeros(1, dtype), shape=tuple(shape), strides=(0,) * len(shape), writeable=True
    )


def is_placeholder(a: np.ndarray) -> bool:
    """True for an array made by :func:`placeholder` (with more than one element)."""
    return a.size > 1 and all(s == 0 for s in a.strides)


def param(shape: tuple, initializer: Any, rng: np.random.Generator | None, dtype: Any) -> np.ndarray:
    """A new parameter: ``initializer(shape, rng, dtype)``, or within a budget a placeholder/zeros, charged."""
    init = initializers.get(initializer)  # an unknown initializer name fails in both cases
    budget = _ACTIVE.get()
    if budget is None:
        return np.ascontiguousarray(init(tuple(shape), rng, dtype), dtype=dtype)
    return budget.make(*budget.charge(tuple(shape), dtype, "parameter"))


def zeros(shape: tuple, dtype: Any, kind: str = "state") -> np.ndarray:
    """``np.zeros(shape, dtype)`` for arrays a model keeps beside its parameters (saved in its files),
    charged within a budget like :func:`param`."""
    budget = _ACTIVE.get()
    if budget is None:
        return np.zeros(shape, dtype)
    return budget.make(*budget.charge(tuple(shape), dtype, kind))


def grad_zeros(value: np.ndarray) -> np.ndarray:
    """The gradient slot of a parameter: zeros of its shape (a placeholder while only shapes are built)."""
    budget = _ACTIVE.get()
    if budget is not None and budget.placeholders:
        return placeholder(value.shape, value.dtype)
    return np.zeros(value.shape, value.dtype)


def count_layer(name: str) -> None:
    """Count one layer object made within a budget (layer constructors call it)."""
    budget = _ACTIVE.get()
    if budget is None:
        return
    budget.used_layers += 1
    if budget.layers is not None and budget.used_layers > budget.layers:
        raise ModelFileError(
            f"{budget.what}: the config declares more layers than the file holds "
            f"(over {budget.layers:,}; reached at a {name})"
        )
