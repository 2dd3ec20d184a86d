"""The reference time loop of boucle: forward and backward (BPTT) for any cell, masks, direction.

Every recurrent computation — simple RNN, LSTM, GRU, both directions of a
bidirectional layer, the encoder and decoder of a seq2seq model — is defined by
:func:`forward` and :func:`backward`; the layers reach them through
:mod:`boucle.ops.recurrent`, which runs this loop or its compiled twin
(:mod:`boucle.ops.fast`, tested equal to it). A cell is a pair of step functions
(see :mod:`boucle.ops.cells`)::

    new_state, cache_t = step(p, xu_t, state)
    dxu_t, dprev_state, factors_t = step_backward(p, dstate, cache_t)

Layout: **time-major**. ``xu`` is indexed by time first: ``xu[t]`` is the input
projection x_t U + b of step t as the cell takes it — (G, B, H) for the cells of
:mod:`boucle.ops.cells`, so ``xu`` is (T, G, B, H), typically a view of the layers'
(T*B, G*H) GEMM result — ``mask`` is (T, B), ``outputs`` (T, B, H). The
gradient ``dxu`` has ``xu``'s shape and memory layout. Layers hold batch-first
(B, T, ·) arrays and transpose at the boundary (:mod:`boucle.ops.recurrent` does).

Masks (seed 002's padding, made exact). With m_t ∈ {0, 1} per sequence,

    s_t = m_t · step(s_{t-1}) + (1 - m_t) · s_{t-1}        (state carried over padding)
    y_t = m_t · h_t                                       (zero output at padded steps)

so the final state is the state at each sequence's last valid step, a
zero-length sequence (all-zero mask row) returns its initial state, and the mask
may be arbitrary (right, left or interior padding). In the backward pass a padded
step passes the state gradient straight to t-1. ``reverse=True`` runs t = T-1 … 0:
with the carry above, each sequence effectively starts at its own last valid step
(the bidirectional-with-padding pitfall), and outputs are written at their
original time index. Without a mask the loop takes a fast path with no blend.

BPTT (seed 002): dE/dW = Σ_t dE_t/dW. The per-step gradient factors are stacked
over time and turned into parameter gradients by the cell's ``param_grads``
after the loop (one GEMM for dW instead of T small ones). The backward pass hands
the cells a copy of ``p`` with an empty ``memo`` dict, where they may keep arrays
derived from the parameters for the duration of that one call (a contiguous W^T).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .. import backend

__all__ = ["forward", "backward", "ScanCache"]


class ScanCache(NamedTuple):
    """What :func:`backward` needs from :func:`forward`."""

    steps: list  # the cells' per-step caches, indexed by t
    mask: Any  # (T, B, 1) bool, or None
    reverse: bool
    states0: list  # (shape, dtype) of each initial state
    layout: tuple  # (shape, dtype, axis order) of xu: dxu is allocated alike


def forward(
    step: Callable, p: dict, xu, state0: Sequence, mask=None, reverse: bool = False
) -> tuple[Any, tuple, tuple]:
    """Run ``step`` over time.

    Args:
        step: ``step(p, xu_t, state) -> (new_state, cache_t)``.
        p: the loop parameters handed to every step (:class:`boucle.ops.cells.LoopParams`).
        xu: (T, ...) input projections, time first (T >= 1); ``xu[t]`` goes to ``step``.
        state0: tuple of initial states, each (B, H).
        mask: None or (T, B) boolean (or 0/1) array; True = valid step.
        reverse: process t = T-1, ..., 0.

    Returns:
        ``outputs`` (T, B, H) (h_t, zero at masked steps), ``final_state`` (tuple),
        ``cache`` (a :class:`ScanCache`) for :func:`backward`.
    """
    xp = backend.xp()
    T = xu.shape[0]
    state = tuple(state0)
    B, H = state[0].shape
    outputs = xp.empty((T, B, H), dtype=state[0].dtype)
    caches: list = [None] * T
    m = None if mask is None else xp.asarray(mask, dtype=bool)[:, :, None]  # (T, B, 1)
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new, caches[t] = step(p, xu[t], state)
        if m is None:
            outputs[t] = new[0]
            state = new
        else:  # s_t = m_t s_new + (1 - m_t) s_{t-1};  y_t = m_t h_t
            state = tuple(xp.where(m[t], n, s) for n, s in zip(new, state))
            xp.multiply(new[0], m[t], out=outputs[t])
    layout = (xu.shape, xu.dtype, _axis_order(xu))
    return outputs, state, ScanCache(caches, m, reverse, [(s.shape, s.dtype) for s in state0], layout)


def backward(
    step_backward: Callable, p: dict, d_outputs, d_final_state: Sequence, cache: ScanCache, param_grads: Callable
) -> tuple[Any, tuple, dict]:
    """Backpropagation through time for :func:`forward`.

    Args:
        step_backward: ``step_backward(p, dstate, cache_t) -> (dxu_t, dprev_state, factors_t)``.
        p: the same loop parameters as in the forward call.
        d_outputs: None or (T, B, H) gradient w.r.t. ``outputs`` (any strides).
        d_final_state: gradients w.r.t. the final state (entries may be None = 0).
        cache: from :func:`forward`.
        param_grads: ``param_grads(p, dxu, factors) -> {name: grad}``, the cell's
            reduction of the stacked (T, B, ...) per-step factors.

    Returns:
        ``dxu`` (shape and memory layout of ``xu``), ``d_state0`` (tuple, each (B, H)),
        ``{param: grad}``.
    """
    xp = backend.xp()
    caches, m, reverse, state_meta, (xu_shape, xu_dtype, order) = cache
    T = len(caches)
    p = dataclasses.replace(p, memo={})  # per-call scratch for the cells (e.g. a contiguous W^T)
    dxu = xp.empty(tuple(xu_shape[k] for k in order), dtype=xu_dtype).transpose(_inverse(order))
    ds = [
        xp.zeros(shape, dtype) if d is None else xp.asarray(d, dtype=dtype)
        for d, (shape, dtype) in zip(d_final_state, state_meta)
    ]
    factors = None
    for t in range(T) if reverse else range(T - 1, -1, -1):  # the forward order, reversed
        if d_outputs is not None:  # y_t = m_t h_t
            dy = d_outputs[t] if m is None else d_outputs[t] * m[t]
            ds[0] = ds[0] + dy
        d_new = ds if m is None else [d * m[t] for d in ds]
        dxu_t, dprev, f_t = step_backward(p, d_new, caches[t])
        if m is None:
            ds = list(dprev)
        else:  # a padded step passes ds straight to t-1
            ds = [xp.where(m[t], dp, d) for dp, d in zip(dprev, ds)]
        if factors is None:
            factors = [xp.empty((T,) + f.shape, dtype=f.dtype) for f in f_t]
        dxu[t] = dxu_t
        for buf, f in zip(factors, f_t):
            buf[t] = f
    return dxu, tuple(ds), param_grads(p, dxu, tuple(factors))


def _axis_order(a) -> tuple:
    """a's axes from the largest stride to the smallest (its memory order)."""
    return tuple(sorted(range(a.ndim), key=lambda k: -a.strides[k]))


def _inverse(order: tuple) -> tuple:
    inv = [0] * len(order)
    for i, k in enumerate(order):
        inv[k] = i
    return tuple(inv)
