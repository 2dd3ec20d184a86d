"""Keras ``SimpleRNN`` / ``LSTM`` / ``GRU`` weight arrays <-> boucle recurrent layers.

Keras is not needed: the converters read and write the plain arrays that a Keras
layer's ``get_weights()`` returns and ``set_weights()`` takes, in that order:
``[kernel, recurrent_kernel, bias]`` (no ``bias`` when ``use_bias=False``).

Layout differences (H = units, G = gates; both use row vectors ``x @ kernel``)
------------------------------------------------------------------------------

================  ===============================  ================================
                  Keras 3 (keras/src/layers/rnn)   boucle (course, seed 002)
================  ===============================  ================================
input weights     ``kernel`` (D, G*H)              ``U`` (D, G*H)
recurrent         ``recurrent_kernel`` (H, G*H)    ``W`` (H, G*H)
bias              ``bias`` (G*H,)                  ``b`` (G*H,)
LSTM gates        i, f, c, o                       i, f, o, g   (c is the course's g)
GRU gates         z, r, h                          z, r, g
GRU update        h' = z h + (1 - z) h~            h' = z g + (1 - z) h
GRU reset_after   ``bias`` (2, 3H): input, recur.  ``b`` (3H,), ``b_W`` (3H,)
================  ===============================  ================================

- **GRU update gate.** Keras's z weighs the *old* state, the course's the new
  candidate: ``z_course = 1 - z_keras = σ(-a)``, so the z block of ``U``, ``W``,
  ``b`` (and ``b_W``) is negated — exact, and its own inverse.
- **GRU reset.** Keras ``reset_after=False`` applies r to h *before* the recurrent
  product, ``h~ = tanh(x K_h + b_h + (r ⊙ h) R_h)``: the course's GRU (seed 002).
  ``reset_after=True`` (Keras's default, cuDNN's form) applies it after,
  ``h~ = tanh(x K_h + b_h + r ⊙ (h R_h + b'_h))``: boucle's ``GRU(reset_after=True)``
  with ``bias[0] -> b`` and ``bias[1] -> b_W``.
- ``SimpleRNN``: ``h' = act(x K + h R + b)``, the same arrays (G = 1).
- Activations other than the defaults (LSTM/GRU: tanh and sigmoid) have no boucle
  twin; ``unit_forget_bias`` only changes Keras's initial bias (the array is copied).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BoucleError
from ..layers.recurrent import GRU, LSTM, RNN, SimpleRNN
from ..layers.wrappers import Bidirectional
from .torch import gates_from_course, gates_to_course

__all__ = ["from_keras_weights", "to_keras_weights"]

#: course gate block j is Keras gate block PERM[kind][j]; FLIP: negate the course z block.
_PERM = {"simplernn": (0,), "lstm": (0, 1, 3, 2), "gru": (0, 1, 2)}
_FLIP = {"simplernn": False, "lstm": False, "gru": True}
_CLASSES = {"simplernn": SimpleRNN, "lstm": LSTM, "gru": GRU}


def _array(a: Any, name: str, shape: tuple) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != shape:
        raise BoucleError(f"{name}: expected shape {shape}, got {a.shape}")
    return a


def from_keras_weights(kind: str, kernel: Any, recurrent_kernel: Any, bias: Any = None, **layer_kwargs: Any) -> RNN:
    """A built boucle layer holding a Keras layer's weights.

    Args:
        kind: ``"SimpleRNN"``, ``"LSTM"`` or ``"GRU"`` (the Keras class name, any case).
        kernel: (D, G*H); recurrent_kernel: (H, G*H); bias: (G*H,), or (2, 3H) for a
            ``GRU(reset_after=True)``, or None when the Keras layer has ``use_bias=False``.
        **layer_kwargs: passed to the boucle layer (``return_sequences``,
            ``activation`` for SimpleRNN, ``name``, ...). ``dtype`` defaults to the
            kernel's (float32/float64). For a GRU, ``reset_after`` follows the bias
            shape, and without a bias defaults to Keras's ``True``.

    Returns:
        ``SimpleRNN``, ``LSTM`` or ``GRU`` built for inputs (B, T, D). Layouts: see
        the module docstring.
    """
    key = str(kind).lower()
    if key not in _CLASSES:
        raise BoucleError(f"kind: expected 'SimpleRNN', 'LSTM' or 'GRU', got {kind!r}")
    G = {"simplernn": 1, "lstm": 4, "gru": 3}[key]
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[1] % G:
        raise BoucleError(f"kernel: expected shape (D, {G}*units), got {kernel.shape}")
    D, H = kernel.shape[0], kernel.shape[1] // G
    recurrent_kernel = _array(recurrent_kernel, "recurrent_kernel", (H, G * H))
    kw = dict(layer_kwargs)
    if "use_bias" in kw and bool(kw["use_bias"]) != (bias is not None):
        raise BoucleError(
            f"use_bias: expected {bias is not None} (bias given: {bias is not None}), got {kw['use_bias']!r}"
        )
    kw["use_bias"] = bias is not None
    if "dtype" not in kw and kernel.dtype.name in ("float32", "float64"):
        kw["dtype"] = kernel.dtype.name
    perm, flip = _PERM[key], _FLIP[key]
    params = {"U": gates_to_course(kernel, perm, flip), "W": gates_to_course(recurrent_kernel, perm, flip)}
    if key == "gru":
        if bias is None:
            kw["reset_after"] = bool(kw.get("reset_after", True))  # Keras's default
        else:
            inferred = np.ndim(bias) == 2
            if "reset_after" in kw and bool(kw["reset_after"]) != inferred:
                raise BoucleError(
                    f"reset_after: the bias shape {np.shape(bias)} means reset_after={inferred}, "
                    f"got {kw['reset_after']!r}"
                )
            kw["reset_after"] = inferred
    if bias is not None:
        if key == "gru" and kw["reset_after"]:
            bias = _array(bias, "bias", (2, G * H))
            params["b"], params["b_W"] = gates_to_course(bias[0], perm, flip), gates_to_course(bias[1], perm, flip)
        else:
            params["b"] = gates_to_course(_array(bias, "bias", (G * H,)), perm, flip)
    layer = _CLASSES[key](H, **kw)
    layer.build((None, D), 0)
    layer.set_weights(params)
    return layer


def _kind_of(layer: RNN) -> str:
    if isinstance(layer, LSTM):
        if layer.peephole:
            raise BoucleError(f"{layer.name}: Keras's LSTM has no peepholes, expected peephole=False, got True")
        return "lstm"
    if isinstance(layer, GRU):
        if layer.variant != "full":
            raise BoucleError(
                f"{layer.name}: Keras has no simplified GRU, expected variant='full', got {layer.variant!r}"
            )
        return "gru"
    if isinstance(layer, SimpleRNN):
        return "simplernn"
    raise BoucleError(f"layer: expected SimpleRNN, LSTM, GRU or Bidirectional, got {type(layer).__name__}")


def to_keras_weights(layer: Any) -> list[np.ndarray]:
    """``[kernel, recurrent_kernel(, bias)]`` for the Keras twin of a built boucle layer
    (``keras_layer.set_weights(...)``); for a ``Bidirectional``, the forward layer's
    list followed by the backward layer's, as Keras's ``Bidirectional`` orders them.

    A ``GRU(reset_after=True)`` gives ``bias`` (2, 3H) = [b, b_W]. Peephole LSTMs,
    the simplified GRU and learned initial states have no Keras twin (an error).
    """
    if isinstance(layer, Bidirectional):
        return to_keras_weights(layer.forward_layer) + to_keras_weights(layer.backward_layer)
    if not isinstance(layer, RNN):
        raise BoucleError(f"layer: expected SimpleRNN, LSTM, GRU or Bidirectional, got {type(layer).__name__}")
    key = _kind_of(layer)
    if not layer.built:
        raise BoucleError(f"{layer.name}: layer is not built, call build(input_shape) first")
    if layer.learn_initial_state:
        raise BoucleError(
            f"{layer.name}: Keras has no learned initial state, expected learn_initial_state=False, got True"
        )
    perm, flip = _PERM[key], _FLIP[key]
    p = layer.params
    out = [gates_from_course(p["U"], perm, flip), gates_from_course(p["W"], perm, flip)]
    if layer.use_bias:
        b = gates_from_course(p["b"], perm, flip)
        out.append(np.stack([b, gates_from_course(p["b_W"], perm, flip)]) if "b_W" in p else b)
    return out
