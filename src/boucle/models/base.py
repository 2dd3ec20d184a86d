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
        return {k: v.copy() for k, v in self.params.items()}

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
        return {k: (v.shape, v.dtype) for k, v in self.params.items()}


def check_arrays(x, y=None, mask=None, name_x: str = "x", name_y: str = "y"):
    """Validate a dataset: non-empty, matching lengths, finite values, mask shape.

    Returns ``(x, y, mask)`` as arrays (``y``/``mask`` may be ``None``).
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise BoucleError(f"{name_x}: expected an array with a batch axis, got a scalar")
    if x.shape[0] == 0:
        raise BoucleError(f"{name_x}: expected at least one sample, got an empty array of shape {x.shape}")
    if x.dtype == object:
        raise BoucleError(f"{name_x}: expected a numeric array, got ragged/object data "
                          "(pad variable-length sequences with boucle.data.pad_sequences)")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise BoucleError(f"{name_x}: expected finite values, got {x[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise BoucleError(f"{name_y}: expected {x.shape[0]} samples to match {name_x}, "
                              f"got shape {y.shape}")
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            bad = np.argwhere(~np.isfinite(y))[0]
            raise BoucleError(f"{name_y}: expected finite values, got {y[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != x.shape[:2]:
            raise BoucleError(f"mask: expected shape {x.shape[:2]} (batch, time), got {mask.shape}")
    return x, y, mask
