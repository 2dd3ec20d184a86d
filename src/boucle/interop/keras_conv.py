"""Keras ``Conv1D`` / ``Conv2D`` / ``Conv2DTranspose`` / ``BatchNormalization`` / ``Dense`` weight
arrays <-> boucle layers; :func:`from_keras_weights` / :func:`to_keras_weights` for every kind.

Keras is not needed: the arrays are those of ``keras_layer.get_weights()`` (and what
``set_weights()`` takes), in Keras's order. boucle keeps Keras's channels-last layouts,
so the arrays are copied unchanged:

=======================  ==================================================  ==========================
Keras 3 layer            ``get_weights()``                                   boucle parameters
=======================  ==================================================  ==========================
``Conv1D``               kernel (k, C, filters), bias (filters,)             ``W``, ``b``
``Conv2D``               kernel (kh, kw, C, filters), bias                   ``W``, ``b``
``Conv2DTranspose``      kernel (kh, kw, filters, C), bias                   ``W``, ``b``
``BatchNormalization``   gamma, beta, moving_mean, moving_variance           ``gamma``, ``beta`` + buffers
``Dense``                kernel (D, units), bias                             ``W``, ``b``
=======================  ==================================================  ==========================

A ``BatchNormalization`` with ``scale=False`` (no gamma) or ``center=False`` (no beta) has
fewer arrays; say which with ``scale=``/``center=`` when only three are given. Flattening is
channels-last in both libraries, so a ``Dense`` after ``Flatten`` needs no reordering.
Recurrent kinds (``SimpleRNN``, ``LSTM``, ``GRU``) are handed to :mod:`boucle.interop.keras`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BoucleError
from ..layers.base import Layer
from ..layers.conv import Conv1D, Conv2D, Conv2DTranspose
from ..layers.core import Dense
from ..layers.normalization import BatchNormalization
from ..layers.recurrent import RNN
from ..layers.wrappers import Bidirectional
from . import keras as rnn_keras

__all__ = ["from_keras_weights", "to_keras_weights"]

_CONV = {"conv1d": (Conv1D, 3), "conv2d": (Conv2D, 4), "conv2dtranspose": (Conv2DTranspose, 4)}


def _dtype_kw(a: np.ndarray, kw: dict) -> dict:
    if "dtype" not in kw and a.dtype.name in ("float32", "float64"):
        kw = {**kw, "dtype": a.dtype.name}
    return kw


def from_keras_weights(kind: str, *weights: Any, **layer_kwargs: Any) -> Layer:
    """A built boucle layer holding a Keras layer's ``get_weights()`` arrays.

    Args:
        kind: the Keras class name (any case): ``"Conv1D"``, ``"Conv2D"``, ``"Conv2DTranspose"``,
            ``"BatchNormalization"``, ``"Dense"``, or a recurrent kind (``"SimpleRNN"``, ``"LSTM"``,
            ``"GRU"``: see :func:`boucle.interop.keras.from_keras_weights`).
        *weights: the arrays in Keras's order (see the module docstring).
        **layer_kwargs: passed to the boucle layer (``strides``, ``padding``, ``activation``,
            ``momentum``, ``epsilon``, ``name``, ...); ``dtype`` defaults to the first array's.
    """
    key = str(kind).lower().replace("_", "")
    if key in ("simplernn", "lstm", "gru"):
        return rnn_keras.from_keras_weights(kind, *weights, **layer_kwargs)
    arrays = [np.asarray(w) for w in weights]
    kw = dict(layer_kwargs)
    if key in _CONV:
        cls, ndim = _CONV[key]
        if len(arrays) not in (1, 2) or arrays[0].ndim != ndim:
            raise BoucleError(
                f"weights: {kind} expects [kernel ({ndim}-D), bias], got shapes {[a.shape for a in arrays]}"
            )
        kernel = arrays[0]
        filters, channels = (
            (kernel.shape[-2], kernel.shape[-1]) if key == "conv2dtranspose" else (kernel.shape[-1], kernel.shape[-2])
        )
        if len(arrays) == 2 and arrays[1].shape != (filters,):
            raise BoucleError(f"bias: expected shape ({filters},), got {arrays[1].shape}")
        kw = _dtype_kw(kernel, kw)
        kw["use_bias"] = len(arrays) == 2
        layer = cls(filters, kernel.shape[: ndim - 2], **kw)
        layer.build((*([None] * (ndim - 2)), channels), 0)
        layer.set_weights({"W": kernel, **({"b": arrays[1]} if len(arrays) == 2 else {})})
        return layer
    if key == "batchnormalization":
        n = len(arrays)
        scale, center = kw.pop("scale", None), kw.pop("center", None)
        if n == 3 and scale is None and center is None:
            raise BoucleError("weights: 3 BatchNormalization arrays mean scale=False or center=False; say which")
        scale = (n == 4 or (n == 3 and center is False)) if scale is None else bool(scale)
        center = (n == 4 or (n == 3 and not scale)) if center is None else bool(center)
        if scale + center + 2 != n:
            raise BoucleError(
                f"weights: BatchNormalization with scale={scale}, center={center} has "
                f"{scale + center + 2} arrays [gamma, beta, moving_mean, moving_variance], got {n}"
            )
        kw.update(scale=scale, center=center)
        kw = _dtype_kw(arrays[-1], kw)
        F = arrays[-1].shape[0]
        for a in arrays:
            if a.shape != (F,):
                raise BoucleError(
                    f"weights: BatchNormalization arrays must all have shape ({F},), got {[a.shape for a in arrays]}"
                )
        layer = BatchNormalization(**kw)
        layer.build((F,), 0)
        names = ["gamma"] * scale + ["beta"] * center + ["moving_mean", "moving_variance"]
        layer.set_weights(dict(zip(names, arrays)))
        return layer
    if key == "dense":
        if len(arrays) not in (1, 2) or arrays[0].ndim != 2:
            raise BoucleError(
                f"weights: Dense expects [kernel (D, units), bias], got shapes {[a.shape for a in arrays]}"
            )
        kw = _dtype_kw(arrays[0], kw)
        kw["use_bias"] = len(arrays) == 2
        layer = Dense(arrays[0].shape[1], **kw)
        layer.build((arrays[0].shape[0],), 0)
        layer.set_weights({"W": arrays[0], **({"b": arrays[1]} if len(arrays) == 2 else {})})
        return layer
    raise BoucleError(
        f"kind: expected one of Conv1D, Conv2D, Conv2DTranspose, BatchNormalization, Dense, "
        f"SimpleRNN, LSTM, GRU, got {kind!r}"
    )


def to_keras_weights(layer: Any) -> list[np.ndarray]:
    """The arrays for ``keras_layer.set_weights(...)`` of a built boucle layer's Keras twin
    (recurrent layers: :func:`boucle.interop.keras.to_keras_weights`)."""
    if isinstance(layer, (Conv1D, Conv2D, Conv2DTranspose, Dense)):
        if not layer.built:
            raise BoucleError(f"{layer.name}: layer is not built, call build(input_shape) first")
        return [layer.params["W"].copy()] + ([layer.params["b"].copy()] if layer.use_bias else [])
    if isinstance(layer, BatchNormalization):
        if not layer.built:
            raise BoucleError(f"{layer.name}: layer is not built, call build(input_shape) first")
        names = ["gamma"] * layer.scale + ["beta"] * layer.center
        return [layer.params[n].copy() for n in names] + [
            layer.buffers["moving_mean"].copy(),
            layer.buffers["moving_variance"].copy(),
        ]
    if isinstance(layer, (RNN, Bidirectional)):
        return rnn_keras.to_keras_weights(layer)
    raise BoucleError(
        f"layer: expected Conv1D, Conv2D, Conv2DTranspose, BatchNormalization, Dense, SimpleRNN, LSTM, "
        f"GRU or Bidirectional, got {type(layer).__name__}"
    )
