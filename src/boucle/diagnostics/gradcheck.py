"""Finite-difference gradient checks, in float64.

For a layer (or anything with the layer contract: ``params``, ``grads``,
``forward``, ``backward``) the check builds the scalar

    L = sum_k < R_k , y_k >          (R_k fixed random projections of each output)

so that dL/dy_k = R_k, runs the analytic backward pass once, and compares every
gradient (input, initial states, every parameter) with central differences

    dL/dθ_i ≈ (L(θ + ε e_i) − L(θ − ε e_i)) / 2ε.

The reported error of a tensor is ``max_i |a_i − n_i| / max(max_i |a_i|, max_i |n_i|)``:
the worst deviation relative to the gradient's scale (robust where single
entries are ~0). Values below ~1e-7 mean the backward pass is right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["check_gradients", "check_loss_gradients", "numerical_gradient", "relative_error", "float64_clone"]


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    scale = max(np.abs(a).max(initial=0.0), np.abs(n).max(initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.abs(a - n).max() / scale)


def _indices(size: int, max_checks: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_checks, replace=False))


def numerical_gradient(
    f: Callable[[], float], x: np.ndarray, eps: float = 1e-6, index: np.ndarray | None = None
) -> np.ndarray:
    """Central differences of the scalar ``f()`` w.r.t. the array ``x`` (perturbed in place).

    Only flat positions in ``index`` are computed (others stay 0).
    """
    grad = np.zeros(x.size, dtype=np.float64)
    flat = x.reshape(-1)  # a view: x must be contiguous
    assert np.shares_memory(flat, x), "numerical_gradient needs a contiguous array"
    for i in range(x.size) if index is None else index:
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad.reshape(x.shape)


def _as_list(y) -> list:
    return list(y) if isinstance(y, (list, tuple)) else [y]


def float64_clone(target: Any) -> Any:
    """A float64 copy of a built layer or model, via its config and weights."""
    cfg = dict(target.get_config())
    cfg["dtype"] = "float64"
    clone = type(target).from_config(cfg)
    clone.build(target.built_input_shape, 0)
    clone.set_weights({k: np.asarray(v, dtype=np.float64) for k, v in target.get_weights().items()})
    return clone


def check_gradients(
    target: Any,
    inputs: np.ndarray,
    mask: np.ndarray | None = None,
    initial_state: Any = None,
    eps: float = 1e-6,
    seed: int = 0,
    max_checks: int | None = 200,
    training: bool = False,
) -> dict[str, float]:
    """Worst relative error per gradient of a layer or model, by finite differences in float64.

    Args:
        target: a built layer or model (``get_config``/``from_config``/``build``/
            ``get_weights``/``set_weights``, ``params``, ``grads``, ``forward``,
            ``backward``). A float64 clone is checked; ``target`` is not modified.
        inputs: ``x`` as the layer takes it (e.g. ``(B, T, D)``). Integer inputs
            (token ids) are not differentiated.
        mask: optional ``(B, T)`` mask passed to ``forward``.
        initial_state: optional initial state(s) passed to ``forward``; their
            gradients are checked too (keys ``"initial_state[k]"``).
        max_checks: at most this many entries per tensor are perturbed (randomly chosen).
        training: passed to ``forward``; only meaningful for deterministic layers.

    Returns:
        ``{"input": err, "initial_state[0]": err, "<param>": err, ...}``.
    """
    rng = np.random.default_rng(seed)
    net = float64_clone(target)
    x = np.asarray(inputs)
    diff_x = np.issubdtype(x.dtype, np.floating)
    x = np.ascontiguousarray(x, dtype=np.float64).copy() if diff_x else x.copy()
    states = None
    if initial_state is not None:
        states = [np.ascontiguousarray(s, dtype=np.float64).copy() for s in _as_list(initial_state)]

    def run():
        kwargs = {"mask": mask, "training": training}
        if states is not None:
            kwargs["initial_state"] = states if isinstance(initial_state, (list, tuple)) else states[0]
        return net.forward(x, **kwargs)

    y, cache = run()
    projections = [rng.standard_normal(np.shape(yy)) for yy in _as_list(y)]

    def loss() -> float:
        out, _ = run()
        return float(sum(np.sum(r * yy) for r, yy in zip(projections, _as_list(out))))

    net.zero_grads()
    back = net.backward(projections if isinstance(y, (list, tuple)) else projections[0], cache)
    if states is not None:
        dx, dstates = back
        dstates = _as_list(dstates)
    else:
        dx, dstates = back, []
    analytic = {k: g.copy() for k, g in net.grads.items()}

    errors: dict[str, float] = {}
    if diff_x:
        idx = _indices(x.size, max_checks, rng)
        num = numerical_gradient(loss, x, eps, idx).reshape(-1)[idx]
        errors["input"] = relative_error(np.asarray(dx).reshape(-1)[idx], num)
    for j, s in enumerate(states or []):
        idx = _indices(s.size, max_checks, rng)
        num = numerical_gradient(loss, s, eps, idx).reshape(-1)[idx]
        errors[f"initial_state[{j}]"] = relative_error(np.asarray(dstates[j]).reshape(-1)[idx], num)
    for k, p in net.params.items():
        idx = _indices(p.size, max_checks, rng)
        num = numerical_gradient(loss, p, eps, idx).reshape(-1)[idx]
        errors[k] = relative_error(analytic[k].reshape(-1)[idx], num)
    return errors


def check_loss_gradients(
    loss: Any,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    mask: np.ndarray | None = None,
    eps: float = 1e-6,
    seed: int = 0,
    max_checks: int | None = 200,
) -> float:
    """Worst relative error of ``loss.forward_backward(y_true, y_pred, mask)``'s gradient w.r.t. ``y_pred``."""
    rng = np.random.default_rng(seed)
    yp = np.ascontiguousarray(y_pred, dtype=np.float64).copy()
    _, analytic = loss.forward_backward(y_true, yp, mask=mask)
    idx = _indices(yp.size, max_checks, rng)
    num = numerical_gradient(lambda: float(loss.forward_backward(y_true, yp, mask=mask)[0]), yp, eps, idx)
    return relative_error(np.asarray(analytic).reshape(-1)[idx], num.reshape(-1)[idx])
