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

``sigmoid`` is computed as 1/2 + 1/2 tanh(a/2): the same function, no overflow
for large |a|, and NumPy's vectorised tanh is ~10x faster than
``scipy.special.expit`` on float32 (``sigmoid_`` is the in-place form the cells use);
``softmax``/``log_softmax`` subtract the row maximum first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import BoucleError

__all__ = [
    "linear",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "relu",
    "softmax",
    "log_softmax",
    "ACTIVATIONS",
    "get",
    "forward",
    "backward",
]


def linear(a):
    return a


def linear_backward(dy, y):
    return dy


def sigmoid(a):
    """sigma(a) = 1 / (1 + exp(-a)) = 1/2 + 1/2 tanh(a/2), stable for large |a|."""
    return sigmoid_(np.array(a, dtype=np.result_type(a, np.float32), copy=True))


def sigmoid_(a):
    """In place: a <- sigma(a) = 1/2 + 1/2 tanh(a/2) (a must be a float array)."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


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
