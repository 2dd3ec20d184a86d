r"""Losses of the course as pure functions: per-element value and its gradient w.r.t. ``y_pred``.

Seed 003 measures the cost over the data set as the mean of a per-example loss,

    J(W) = 1/N \sum_{i=1}^N L(h^{(L+1)}(x^{(i)}), y^{(i)}),

with, for binary classification, the binary cross entropy

    L(h, y) = -[ y \log h + (1 - y) \log(1 - h) ],

and, for regression, the squared error L(h, y) = (y - h)^2 (the slide prints a
leading minus sign on the mean squared error: a typo, J is non-negative and is
minimised). Seeds 000/002 sum the per-step errors of a sequence,
E = \sum_t E_t (E_t "the mean squared error, the cross entropy, ...").

Layout. ``y_pred`` is ``(B, F)`` or ``(B, T, F)`` (more middle axes work too);
the last axis holds the features (classes). An *element* is one position of
``y_pred.shape[:-1]`` -- a sample, or a (sample, step) pair -- and has one loss:

    mse   l = 1/F \sum_f (p_f - y_f)^2                      (mean over features, as Keras)
    bce   l = -1/F \sum_f [y_f \log p_f + (1-y_f) \log(1-p_f)]   (mean over features)
    cce   l = -\sum_c y_c \log p_c                           (sum over classes)
    scce  l = -\log p_k,  k the integer label

A 1-D ``y_pred`` ``(B,)`` (mse/bce only) is one feature per sample.

Numerical stability. From probabilities, bce clips p to [eps, 1 - eps] and cce/scce
to [eps, 1] with eps = 1e-7 (Keras's ``backend.epsilon()``); the clipped function
is flat outside that range, so its gradient there is 0. Unlike Keras, cce does not
first renormalise p to sum to one. From logits a, bce uses the stable form
max(a, 0) - a y + log(1 + e^{-|a|}) with gradient sigma(a) - y, and cce/scce use
log_softmax with gradient softmax(a) (\sum_c y_c) - y (= softmax(a) - y for
one-hot or probability targets): finite for |a| = 1000, without warnings.

Reduction (:func:`reduce`) over the elements, with an optional mask of shape
``y_pred.shape[:1]`` (samples) or ``y_pred.shape[:2]`` (steps), 1 = valid, 0 = padding:

- ``"mean"`` (default): mean over the valid elements, J = \sum_e m_e l_e / \sum_e m_e.
  These are Keras's semantics; the gradient scale, hence the learning rate that
  works, does not depend on the sequence length.
- ``"sum"``: sum over the valid steps of each sequence, then mean over the samples
  that have at least one valid step: J = 1/S \sum_b \sum_t m_{bt} l_{bt} -- the
  seeds' E = \sum_t E_t averaged over the batch. Axes after the time axis are averaged.

Masked elements get exactly zero gradient; an all-masked batch gives J = 0 and a zero gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import backend
from ..errors import BoucleError, NonFiniteError
from .activations import log_softmax, sigmoid

__all__ = [
    "EPSILON",
    "TIME_REDUCTIONS",
    "LOSSES",
    "element_shape",
    "mean_squared_error",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "check_pred",
    "check_true",
    "check_labels",
    "check_mask",
    "reduce",
    "loss_and_grad",
]

EPSILON = 1e-7
TIME_REDUCTIONS = ("mean", "sum")
_FLOATS = (np.dtype("float32"), np.dtype("float64"))


def element_shape(shape: tuple) -> tuple:
    """Shape of the per-element loss: ``shape[:-1]`` (``shape`` itself for a 1-D ``y_pred``)."""
    return tuple(shape[:-1]) if len(shape) >= 2 else tuple(shape)


def _n_features(y_pred) -> int:
    return y_pred.shape[-1] if y_pred.ndim >= 2 else 1


def _feature_mean(x, ndim: int):
    return x.mean(axis=-1) if ndim >= 2 else x


# -- per-element losses ------------------------------------------------------------
def mean_squared_error(y_true, y_pred, grad: bool = True):
    """l = 1/F \\sum_f (p_f - y_f)^2, dl/dp = 2 (p - y) / F.  y_true, y_pred: (..., F) -> l: (...)."""
    d = y_pred - y_true  # (..., F)
    loss = _feature_mean(d * d, y_pred.ndim)  # (...)
    return loss, (d * (2.0 / _n_features(y_pred)) if grad else None)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, grad: bool = True):
    """l = -1/F \\sum_f [y log p + (1-y) log(1-p)] (seed 003), p = clip(y_pred) or sigma(y_pred).

    From logits a: l = 1/F \\sum_f max(a,0) - a y + log(1 + e^{-|a|}), dl/da = (sigma(a) - y) / F.
    From probabilities: p clipped to [eps, 1-eps], dl/dp = ((1-y)/(1-p) - y/p) / F inside, 0 outside.
    """
    xp = backend.xp()
    scale = 1.0 / _n_features(y_pred)
    if from_logits:
        a = y_pred
        elem = xp.maximum(a, 0) - a * y_true + xp.log1p(xp.exp(-xp.abs(a)))
        g = (sigmoid(a) - y_true) * scale if grad else None
    else:
        p = xp.clip(y_pred, EPSILON, 1.0 - EPSILON)
        elem = -(y_true * xp.log(p) + (1.0 - y_true) * xp.log(1.0 - p))
        g = None
        if grad:
            inside = (y_pred >= EPSILON) & (y_pred <= 1.0 - EPSILON)
            g = ((1.0 - y_true) / (1.0 - p) - y_true / p) * scale * inside
    return _feature_mean(elem, y_pred.ndim), g


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, grad: bool = True):
    """l = -\\sum_c y_c log p_c over the last (class) axis; y_true one-hot or probabilities.

    From logits a: log p = log_softmax(a), dl/da = softmax(a) \\sum_c y_c - y.
    From probabilities: p clipped to [eps, 1], dl/dp = -y / p inside, 0 outside.
    """
    xp = backend.xp()
    if from_logits:
        logp = log_softmax(y_pred)  # (..., C)
        loss = -(y_true * logp).sum(axis=-1)
        g = xp.exp(logp) * y_true.sum(axis=-1, keepdims=True) - y_true if grad else None
    else:
        p = xp.clip(y_pred, EPSILON, 1.0)
        loss = -(y_true * xp.log(p)).sum(axis=-1)
        g = -(y_true / p) * ((y_pred >= EPSILON) & (y_pred <= 1.0)) if grad else None
    return loss, g


def sparse_categorical_crossentropy(labels, y_pred, from_logits: bool = False, grad: bool = True):
    """l = -log p_k with k = labels (integers, shape ``y_pred.shape[:-1]``).

    From logits: dl/da = softmax(a) - onehot(k). From probabilities: p_k clipped to
    [eps, 1], dl/dp_k = -1 / p_k inside (0 outside), 0 for the other classes.
    """
    xp = backend.xp()
    k = labels[..., None]  # (..., 1)
    if from_logits:
        logp = log_softmax(y_pred)  # (..., C)
        loss = -xp.take_along_axis(logp, k, axis=-1)[..., 0]
        g = None
        if grad:
            g = xp.exp(logp)
            xp.put_along_axis(g, k, xp.take_along_axis(g, k, axis=-1) - 1.0, axis=-1)
        return loss, g
    picked = xp.take_along_axis(y_pred, k, axis=-1)  # (..., 1)
    p = xp.clip(picked, EPSILON, 1.0)
    loss = -xp.log(p)[..., 0]
    g = None
    if grad:
        inside = ((picked >= EPSILON) & (picked <= 1.0)).astype(y_pred.dtype)
        g = xp.zeros_like(y_pred)
        xp.put_along_axis(g, k, -inside / p, axis=-1)
    return loss, g


LOSSES: dict[str, Callable] = {
    "mean_squared_error": mean_squared_error,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}


# -- validation (cheap: it runs on every batch) ---------------------------------------
def _check_finite(a, name: str) -> None:
    # a sum is cheaper than isfinite(a).all(); only a non-finite sum needs the exact check
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(a.sum())
    if not math.isfinite(total) and not bool(backend.xp().isfinite(a).all()):
        bad = int((~backend.xp().isfinite(a)).sum())
        raise NonFiniteError(f"{name}: expected finite values, got {bad} NaN/Inf entries of {a.size}")


def check_pred(y_pred, min_ndim: int = 1, name: str = "y_pred"):
    """``y_pred`` as a float array (float32/float64 kept, other numbers cast to floatx), finite."""
    xp = backend.xp()
    yp = xp.asarray(y_pred)
    if yp.dtype.kind not in "biuf":
        raise BoucleError(f"{name}: expected a numeric array, got dtype {yp.dtype}")
    if yp.dtype not in _FLOATS:
        yp = yp.astype(backend.floatx())
    if yp.ndim < min_ndim:
        want = "(B, C) or (B, T, C)" if min_ndim >= 2 else "(B, ...)"
        raise BoucleError(f"{name}: expected an array of shape {want}, got shape {yp.shape}")
    _check_finite(yp, name)
    return yp


def check_true(y_true, y_pred, name: str = "y_true"):
    """Dense targets with the shape of ``y_pred`` (``y_pred.shape[:-1]`` is accepted when
    ``y_pred.shape[-1] == 1``), cast to ``y_pred.dtype``, finite."""
    xp = backend.xp()
    yt = xp.asarray(y_true)
    if yt.dtype.kind not in "biuf":
        raise BoucleError(f"{name}: expected a numeric array, got dtype {yt.dtype}")
    if yt.shape != y_pred.shape:
        if y_pred.ndim >= 2 and y_pred.shape[-1] == 1 and yt.shape == y_pred.shape[:-1]:
            yt = yt[..., None]
        else:
            raise BoucleError(
                f"{name}: expected shape {tuple(y_pred.shape)} (the shape of y_pred), got {tuple(yt.shape)}"
            )
    yt = yt.astype(y_pred.dtype, copy=False)
    _check_finite(yt, name)
    return yt


def check_labels(y_true, y_pred, name: str = "y_true"):
    """Integer class labels of shape ``y_pred.shape[:-1]`` (or with a trailing axis of 1),
    each in [0, C), C = ``y_pred.shape[-1]``; integral floats are accepted. Returns int64."""
    xp = backend.xp()
    lab = xp.asarray(y_true)
    want = tuple(y_pred.shape[:-1])
    if lab.shape != want:
        if lab.shape == want + (1,):
            lab = lab[..., 0]
        else:
            raise BoucleError(
                f"{name}: expected integer labels of shape {want} (y_pred.shape[:-1]), got shape {tuple(lab.shape)}"
            )
    if lab.dtype.kind == "f":
        _check_finite(lab, name)
        if lab.size and not bool((lab == xp.floor(lab)).all()):
            raise BoucleError(
                f"{name}: expected integer class labels, got non-integer values "
                f"(e.g. {float(lab[lab != xp.floor(lab)].flat[0])!r})"
            )
    elif lab.dtype.kind not in "iu":
        raise BoucleError(f"{name}: expected integer class labels, got dtype {lab.dtype}")
    n_classes = y_pred.shape[-1]
    if lab.size:
        lo, hi = lab.min(), lab.max()
        if lo < 0 or hi >= n_classes:
            raise BoucleError(
                f"{name}: expected class labels in [0, {n_classes}) (y_pred.shape[-1] = "
                f"{n_classes}), got values in [{lo:g}, {hi:g}]"
            )
    return lab.astype(np.int64, copy=False)


def check_mask(mask, y_pred, name: str = "mask"):
    """``None``, or a 0/1 (bool or numeric) mask of shape ``y_pred.shape[:1]`` or
    ``y_pred.shape[:2]`` (within the element shape), returned as ``y_pred.dtype``."""
    if mask is None:
        return None
    xp = backend.xp()
    m = xp.asarray(mask)
    elem = element_shape(y_pred.shape)
    allowed = [elem[:k] for k in (1, 2) if k <= len(elem)]
    if m.shape not in allowed:
        want = " or ".join(str(s) for s in allowed)
        raise BoucleError(f"{name}: expected shape {want} (y_pred.shape[:1] or [:2]), got {tuple(m.shape)}")
    if m.dtype.kind not in "biuf":
        raise BoucleError(f"{name}: expected a bool or 0/1 numeric array, got dtype {m.dtype}")
    if m.dtype.kind != "b" and m.size and not bool(((m == 0) | (m == 1)).all()):
        raise BoucleError(
            f"{name}: expected values 0 (padding) or 1 (valid), got values in [{float(m.min()):g}, {float(m.max()):g}]"
        )
    return m.astype(y_pred.dtype)


# -- reduction ---------------------------------------------------------------------
def reduce(loss, mask=None, time_reduction: str = "mean"):
    """Reduce per-element losses ``loss`` (shape E = (B, ...)) to J; see the module docstring.

    Args:
        loss: per-element losses, shape ``(B,)`` or ``(B, T, ...)``.
        mask: ``None`` or a validated 0/1 float mask of shape ``E[:1]`` or ``E[:2]``.
        time_reduction: ``"mean"`` or ``"sum"``.

    Returns:
        ``(J, scale)`` with ``scale = dJ/dl``: a Python float (no mask) or an array of shape E.
    """
    xp = backend.xp()
    if time_reduction not in TIME_REDUCTIONS:
        raise BoucleError(f"time_reduction: expected one of {TIME_REDUCTIONS}, got {time_reduction!r}")
    shape = loss.shape
    rest = int(np.prod(shape[2:], dtype=np.int64))  # axes after the time axis: averaged
    if mask is None:
        denom = loss.size if time_reduction == "mean" else shape[0] * rest
        if denom == 0:
            return 0.0, 0.0
        return float(loss.sum(dtype=np.float64)) / denom, 1.0 / denom
    if time_reduction == "mean":
        count = float(mask.sum(dtype=np.float64)) * (loss.size // max(mask.size, 1))
    else:
        valid = mask if mask.ndim == 1 else mask.any(axis=1)
        count = float(valid.sum(dtype=np.float64)) * rest
    w = xp.broadcast_to(mask.reshape(mask.shape + (1,) * (loss.ndim - mask.ndim)), shape)
    if count == 0.0:
        return 0.0, xp.zeros(shape, dtype=loss.dtype)
    scale = w * (1.0 / count)  # (E)
    return float((loss * w).sum(dtype=np.float64)) / count, scale


def loss_and_grad(
    name: str, y_true, y_pred, mask=None, *, from_logits: bool = False, time_reduction: str = "mean", grad: bool = True
):
    """Validate, compute and reduce the loss ``name`` (a key of :data:`LOSSES`).

    Args:
        y_true: same shape as ``y_pred``; integer labels of shape ``y_pred.shape[:-1]`` for
            ``sparse_categorical_crossentropy``.
        y_pred: ``(B, F)`` or ``(B, T, F)`` (``(B,)`` allowed for mse/bce).
        mask: ``None``, ``(B,)`` or ``(B, T)``; 1 = valid, 0 = padding.

    Returns:
        ``(J, dJ/dy_pred)`` -- the gradient has the shape and dtype of ``y_pred``
        (``None`` when ``grad`` is false).
    """
    if name not in LOSSES:
        raise BoucleError(f"loss: expected one of {sorted(LOSSES)}, got {name!r}")
    categorical = name in ("categorical_crossentropy", "sparse_categorical_crossentropy")
    yp = check_pred(y_pred, min_ndim=2 if categorical else 1)
    if name == "sparse_categorical_crossentropy":
        yt = check_labels(y_true, yp)
    else:
        yt = check_true(y_true, yp)
    m = check_mask(mask, yp)
    if name == "mean_squared_error":
        loss, g = mean_squared_error(yt, yp, grad=grad)
    else:
        loss, g = LOSSES[name](yt, yp, from_logits=from_logits, grad=grad)
    value, scale = reduce(loss, m, time_reduction)
    if not grad:
        return value, None
    if isinstance(scale, float):
        return value, (g * scale).astype(yp.dtype, copy=False)
    if yp.ndim >= 2:
        scale = scale[..., None]
    return value, (g * scale).astype(yp.dtype, copy=False)
