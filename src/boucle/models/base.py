"""What every boucle model shares: a registry for model files and data checks."""

from __future__ import annotations

import numpy as np

from .. import registry
from ..errors import BoucleError

__all__ = ["register_model", "LayerContainer", "check_arrays"]

#: class decorator: make a model class loadable by :func:`boucle.load` (:mod:`boucle.registry`).
register_model = registry.register("model")


class LayerContainer:
    """What every model made of layers shares: its parameters are its layers' own arrays,
    keyed ``"<layer name>/<param>"`` (layer names hold no ``"/"``; parameter keys may).

    Subclasses provide ``layers`` (a list or a property).
    """

    layers: list

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {f"{l.name}/{k}": v for l in self.layers for k, v in l.params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {f"{l.name}/{k}": v for l in self.layers for k, v in l.grads.items()}

    def trainable_params(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(params, grads)`` of the trainable layers, the same keys: what the optimizer updates."""
        ps, gs = {}, {}
        for l in self.layers:
            if l.trainable:
                for k in l.params:
                    ps[f"{l.name}/{k}"] = l.params[k]
                    gs[f"{l.name}/{k}"] = l.grads[k]
        return ps, gs

    def zero_grads(self) -> None:
        for layer in self.layers:
            layer.zero_grads()

    def count_params(self) -> int:
        return sum(l.count_params() for l in self.layers)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Parameters and buffers (non-trainable state such as moving statistics), copied."""
        return {f"{l.name}/{k}": v for l in self.layers for k, v in l.get_weights().items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        by_name = {l.name: l for l in self.layers}
        for key, value in weights.items():
            lname, _, pname = key.partition("/")
            if lname not in by_name:
                raise BoucleError(f"weights: unknown layer in key {key!r}, expected one of {sorted(by_name)}")
            by_name[lname].set_weights({pname: value})

    def weight_specs(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """``{key: (shape, dtype)}`` of :meth:`get_weights`, without copying (what :func:`boucle.load`
        compares with a file's header after a shapes-only build, :mod:`boucle.allocation`)."""
        return {f"{l.name}/{k}": (v.shape, v.dtype) for l in self.layers for k, v in {**l.params, **l.buffers}.items()}


def _array(value, name: str) -> np.ndarray:
    """``np.asarray(value)``; ragged nested lists are a one-line error, not NumPy's ValueError."""
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise BoucleError(
            f"{name}: expected an array (nested lists of equal lengths), got "
            f"{type(value).__name__} that NumPy cannot convert ({str(e).splitlines()[0][:80]}); "
            "pad variable-length sequences with boucle.data.pad_sequences"
        ) from None
    if a.dtype == object:
        raise BoucleError(
            f"{name}: expected a numeric array, got ragged/object data "
            "(pad variable-length sequences with boucle.data.pad_sequences)"
        )
    return a


def check_arrays(x, y=None, mask=None, name_x: str = "x", name_y: str = "y", *, require_y: bool = False):
    """Validate a dataset: non-empty, matching lengths, finite values, a mask of 0/1 of shape (N, T).

    Returns ``(x, y, mask)`` as arrays (``y``/``mask`` may be ``None``; with ``require_y``, ``y`` may not).
    """
    if require_y and y is None:
        raise BoucleError(f"{name_y}: expected targets (an array with one row per sample of {name_x}), got None")
    x = _array(x, name_x)
    if x.ndim == 0:
        raise BoucleError(f"{name_x}: expected an array with a batch axis, got a scalar")
    if x.shape[0] == 0:
        raise BoucleError(f"{name_x}: expected at least one sample, got an empty array of shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise BoucleError(
            f"{name_x}: expected finite values, got {x[tuple(bad)]} at index {tuple(int(i) for i in bad)}"
        )
    if y is not None:
        y = _array(y, name_y)
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise BoucleError(f"{name_y}: expected {x.shape[0]} samples to match {name_x}, got shape {y.shape}")
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            bad = np.argwhere(~np.isfinite(y))[0]
            raise BoucleError(
                f"{name_y}: expected finite values, got {y[tuple(bad)]} at index {tuple(int(i) for i in bad)}"
            )
    if mask is not None:
        mask = _array(mask, "mask")
        if mask.shape != x.shape[:2]:
            raise BoucleError(f"mask: expected shape {x.shape[:2]} (batch, time), got {mask.shape}")
        if mask.dtype != bool:
            numeric = np.issubdtype(mask.dtype, np.number)
            outside = ~np.isin(mask, (0, 1)) if numeric else None
            if not numeric or outside.any():
                shown = mask[outside][0] if numeric else f"dtype {mask.dtype}"
                raise BoucleError(f"mask: expected 0/1 or bool values (1 = valid step), got {shown}")
    return x, y, mask
