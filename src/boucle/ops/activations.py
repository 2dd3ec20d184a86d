"""Activation functions g(a) and their derivatives, one table (seed 003).

Every derivative is written in terms of the activation's *output* y = g(a),
as a vector–Jacobian product ``da = backward(dy, y)``: that is what backprop
and BPTT cache (the output), and it is exact for all entries here:

=========  ===========================  ==========================================
name       g(a)                          dE/da given dE/dy and y
=========  ===========================  ==========================================
linear     a                             dy
sigmoid    1 / (1 + e^{-a})              dy * y * (1 - y)
tanh       (e^{2a} - 1) / (e^{2a} + 1)   dy * (1 - y^2)
relu       max(0, a)                     dy * [y > 0]
softmax    e^{a_c} / sum_k e^{a_k}       y * (dy - sum_c dy_c y_c)   (last axis)
=========  ===========================  ==========================================

``sigmoid`` is computed as ``scipy.special.expit`` (no overflow for large |a|);
``softmax``/``log_softmax`` subtract the row maximum first.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.special import expit

from ..errors import BoucleError

__all__ = [
    "linear", "sigmoid", "tanh", "relu", "softmax", "log_softmax",
    "ACTIVATIONS", "get", "forward", "backward",
]


def linear(a):
    return a


def linear_backward(dy, y):
    return dy


def sigmoid(a):
    """sigma(a) = 1 / (1 + exp(-a)), stable for large |a|."""
    return expit(a)


def sigmoid_backward(dy, y):
    return dy * y * (1.0 - y)


def tanh(a):
    return np.tanh(a)


def tanh_backward(dy, y):
    return dy * (1.0 - y * y)


def relu(a):
    """relin(a) = max(0, a)."""
    return np.maximum(a, 0)


def relu_backward(dy, y):
    return dy * (y > 0)


def softmax(a, axis: int = -1):
    """softmax(a)_c = exp(a_c) / sum_k exp(a_k) over the last axis, max-shifted."""
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(dy, y):
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def log_softmax(a, axis: int = -1):
    """log softmax(a) = a - max - log sum exp(a - max)."""
    s = a - a.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "linear": (linear, linear_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
    "softmax": (softmax, softmax_backward),
}


def get(name: str | None) -> tuple[Callable, Callable]:
    """``(forward, backward)`` for an activation name (``None`` means linear)."""
    key = "linear" if name is None else name
    if not isinstance(key, str) or key not in ACTIVATIONS:
        raise BoucleError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[key]


def forward(name: str | None, a):
    return get(name)[0](a)


def backward(name: str | None, dy, y):
    return get(name)[1](dy, y)
