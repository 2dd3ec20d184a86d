"""The one door to the recurrent time loop: forward and backward of a whole layer's sequence.

The recurrent layers call :func:`forward` and :func:`backward` and nothing else of
``ops``. Behind the door, for a cell (:class:`boucle.ops.cells.Cell`) with parameters
in the layers' layout (``U (D, G*H)``, ``W (H, G*H)``, ``b (G*H,)``, ``b_W``,
``p_i, p_f, p_o``), input x (B, T, D), initial states (B, H) and a mask (B, T),
the time loop runs on one of two engines that compute the same equations:

* ``"scan"`` — the reference, :func:`boucle.ops.scan.forward` driving the cell's step
  functions (:mod:`boucle.ops.cells`, the documented equations). The input projection
  [x, 1] [U; b] = x U + b (the bias is the weight of a constant input; x ⊙ x_mask with
  input dropout) is ONE GEMM (T*B, K) x (K, G*H) before the loop (K = D + 1; D without
  bias), handed to the loop as the gate-major view (T, G, B, H) of its (T, B, G*H)
  result; after BPTT, [dU; db] = [x, 1]^T dA and dx = dA U^T over the T*B stacked rows
  (one GEMM each), dx ⊙ x_mask;
* ``"compiled"`` — :mod:`boucle.ops.fast` (numba): x as it is, x_t U + b formed inside
  each step's product with h_{t-1} W, the batch split over threads
  (:func:`use_threads`); it returns dx and every parameter gradient itself.

Engine choice (:func:`engine_for`): ``"auto"`` (default) takes the compiled loop where
numba is installed, :data:`boucle.ops.fast.ENABLED` is true (``BOUCLE_NO_NUMBA=1``
makes it false) and :func:`boucle.ops.fast.covers` the cell and dtype (every cell in
float32/float64 on NumPy), else the reference scan (the fall-back: CuPy, no numba).
:func:`use_engine` forces ``"scan"`` or ``"compiled"`` within a ``with`` block (tests,
benchmarks); a forced ``"compiled"`` that cannot run raises a
:class:`~boucle.errors.BoucleError` rather than falling back.

``training=False`` (the layers pass their own flag) tells the door that no backward
pass is expected: the compiled loop then keeps no per-step caches (inference), and a
:func:`backward` call on such a cache runs the forward pass again first.

One return contract whichever engine ran: ``outputs`` (B, T, H) (zero at masked steps;
a strided view of time-major memory for the scan, C-contiguous for the compiled loop),
``final_states`` (each (B, H): the state at each row's last valid step), and a
:class:`RecurrentCache`; :func:`backward` returns ``dx`` (B, T, D) C-contiguous,
``d_state0`` (each (B, H)) and the parameter gradients in the layers' layout. Masks,
reverse (outputs at their original time index, each row starting at its own last
valid step) and zero-length rows are the loop's (:mod:`boucle.ops.scan`). A batch of
B = 0 rows returns empty outputs, its (empty) initial states, and zero gradients.

:func:`step` is one step forward without a cache (generation, :mod:`boucle.models.sampling`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from .. import backend
from ..errors import BoucleError
from . import fast, scan
from .cells import Cell, LoopParams, loop_params

__all__ = [
    "forward",
    "backward",
    "step",
    "loop_params",
    "engine_for",
    "use_engine",
    "use_threads",
    "ENGINES",
    "RecurrentCache",
]

#: the values of :func:`use_engine`.
ENGINES = ("auto", "scan", "compiled")

_ENGINE: contextvars.ContextVar[str] = contextvars.ContextVar("boucle_recurrent_engine", default="auto")
_LAYER_PARAMS = ("U", "W", "b", "b_W", "p_i", "p_f", "p_o")


@contextmanager
def use_engine(engine: str) -> Iterator[None]:
    """Within the block, run every recurrent layer on ``engine``: ``"scan"`` (the reference),
    ``"compiled"`` (numba; an error where it does not cover the cell) or ``"auto"``."""
    if engine not in ENGINES:
        raise BoucleError(f"engine: expected one of {list(ENGINES)}, got {engine!r}")
    token = _ENGINE.set(engine)
    try:
        yield
    finally:
        _ENGINE.reset(token)


@contextmanager
def use_threads(n: int | None) -> Iterator[None]:
    """Within the block, the compiled loop splits each batch over at most ``n`` threads (at
    most the cores available; ``None``: as many as NumPy's BLAS uses, the default)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise BoucleError(f"threads: expected a positive int or None, got {n!r}")
    token = fast.THREADS.set(None if n is None else int(n))
    try:
        yield
    finally:
        fast.THREADS.reset(token)


def engine_for(cell: Cell, dtype: Any) -> str:
    """``"scan"`` or ``"compiled"``: the engine :func:`forward` uses for ``cell`` in ``dtype`` now."""
    forced = _ENGINE.get()
    if forced == "scan":
        return "scan"
    covered = fast.covers(cell, dtype)
    if forced == "compiled" and not covered:
        why = (
            "numba is not installed (pip install 'boucle[fast]')"
            if not fast.AVAILABLE
            else "it runs float32/float64 on the NumPy backend"
        )
        raise BoucleError(f"engine: 'compiled' cannot run {cell} in {np.dtype(dtype).name}: {why}")
    return "compiled" if covered and (forced == "compiled" or fast.ENABLED) else "scan"


class RecurrentCache(NamedTuple):
    """What :func:`backward` needs from :func:`forward` (valid for that one backward call)."""

    engine: str  # "scan" | "compiled"
    cell: Cell
    p: LoopParams
    x1: Any  # (T, B, K) [x ⊙ x_mask, 1], time-major ("scan"; None for "compiled")
    U: Any  # (D, G*H), for dx = dA U^T
    has_bias: bool
    x_mask: Any  # (B, D) input-dropout mask, or None
    loop: Any  # scan.ScanCache | fast.CompiledCache; None for an empty batch
    zeros: Any  # empty batch: {name: shape-and-dtype template} of the gradients; else None


def forward(
    cell: Cell,
    params: Mapping[str, Any],
    x,
    state0: Sequence,
    mask=None,
    reverse: bool = False,
    x_mask=None,
    rec_mask=None,
    training: bool = True,
) -> tuple[Any, tuple, RecurrentCache]:
    """Run ``cell`` over the sequence ``x``.

    Args:
        cell: the variant (:func:`boucle.ops.cells.get_cell`).
        params: the layer's parameters: ``U`` (D, G*H), ``W`` (H, G*H), ``b`` (G*H,) or
            absent, and what ``cell`` declares (``b_W`` (G*H,), ``p_i, p_f, p_o`` (H,)).
        x: (B, T, D), T >= 1, float; ``state0``: tuple of initial states, each (B, H).
        mask: None or (B, T) bool, True = valid step; ``reverse``: t = T-1 … 0.
        x_mask: None or (B, D), the input-dropout mask (x ⊙ x_mask at every step).
        rec_mask: None or (B, H), the recurrent-dropout mask on h_{t-1} in h_{t-1} W.
        training: False when no backward pass is expected (inference): the compiled loop
            then keeps no per-step caches, and a :func:`backward` call on its cache runs
            the forward pass again first (same result, one more forward pass).

    Returns:
        ``outputs`` (B, T, H), ``final_states`` (tuple, each (B, H)), a :class:`RecurrentCache`.
    """
    xp = backend.xp()
    B, T, D = x.shape
    U, b = params["U"], params.get("b")
    G, H = cell.gates, params["W"].shape[0]
    p = loop_params(cell, params, rec_mask)
    engine = engine_for(cell, x.dtype)
    K = D + (b is not None)
    if B == 0:  # nothing to run: empty outputs, states as given
        zeros = {k: params[k] for k in _LAYER_PARAMS if params.get(k) is not None}
        cache = RecurrentCache(engine, cell, p, xp.empty((T, 0, K), x.dtype), U, b is not None, x_mask, None, zeros)
        return xp.zeros((0, T, H), x.dtype), tuple(s.copy() for s in state0), cache
    if engine == "compiled":  # the compiled loop takes x as it is (it forms x_t U + b inside its products)
        outputs, final, loop = fast.forward(cell, p, x, U, b, state0, mask, reverse, x_mask, keep=training)
        return outputs, final, RecurrentCache(engine, cell, p, None, U, b is not None, x_mask, loop, None)
    # x1 = [x, 1], time-major: x1 [U; b] = x U + b, ONE GEMM for all steps, the gate-major
    # view (T, G, B, H) of its result.
    x1 = xp.empty((T, B, K), dtype=x.dtype)  # (T, B, K)
    if x_mask is None:
        x1[..., :D] = x.transpose(1, 0, 2)
    else:
        xp.multiply(x.transpose(1, 0, 2), x_mask, out=x1[..., :D])
    Ub = U
    if b is not None:
        x1[..., D] = 1.0
        Ub = xp.concatenate([U, b[None]], axis=0)  # (K, G*H)
    mask_t = None if mask is None else mask.T  # (T, B)
    xu = (x1.reshape(T * B, K) @ Ub).reshape(T, B, G, H).transpose(0, 2, 1, 3)
    outputs, final, loop = scan.forward(cell.step_forward, p, xu, state0, mask_t, reverse)
    cache = RecurrentCache(engine, cell, p, x1, U, b is not None, x_mask, loop, None)
    return outputs.transpose(1, 0, 2), final, cache  # (B, T, H) view


def backward(d_outputs, d_final: Sequence, cache: RecurrentCache) -> tuple[Any, tuple, dict]:
    """BPTT for :func:`forward`: ``(dx, d_state0, grads)``.

    Args:
        d_outputs: None or (B, T, H), dE/d outputs (any strides).
        d_final: dE/d final_states, one entry per state, each (B, H) or None (= 0).
        cache: from :func:`forward`.

    Returns:
        ``dx`` (B, T, D) C-contiguous, ``d_state0`` (tuple, each (B, H)), ``grads``
        ``{name: array}`` for ``U``, ``W``, ``b`` and the cell's own parameters, shaped like them.
    """
    xp = backend.xp()
    engine, cell, p, x1, U, has_bias, x_mask, loop, zeros = cache
    if loop is None:  # empty batch
        T, _, K = x1.shape
        ds0 = tuple(xp.zeros((0, p.W.shape[0]), x1.dtype) for _ in range(cell.n_states))
        return xp.zeros((0, T, U.shape[0]), x1.dtype), ds0, {k: xp.zeros_like(v) for k, v in zeros.items()}
    if engine == "compiled":
        return fast.backward(d_outputs, d_final, loop)
    T, B, K = x1.shape
    D = U.shape[0]
    d_out_t = None if d_outputs is None else xp.asarray(d_outputs).transpose(1, 0, 2)  # (T, B, H)
    dxu, ds0, grads = scan.backward(cell.step_backward, p, d_out_t, d_final, loop, cell.param_grads)
    rows = dxu.transpose(0, 2, 1, 3).reshape(T * B, -1)  # (T*B, G*H), a view
    dUb = x1.reshape(T * B, K).T @ rows  # [dU; db] = [x, 1]^T dA
    grads["U"] = dUb[:D]
    if has_bias:
        grads["b"] = dUb[D]
    dx = (rows @ U.T).reshape(T, B, D).transpose(1, 0, 2)  # (B, T, D) = dA U^T
    dx = xp.ascontiguousarray(dx if x_mask is None else dx * x_mask[:, None, :])
    return dx, tuple(ds0), grads


def step(cell: Cell, p: LoopParams, xu, state: Sequence) -> tuple:
    """One step forward of ``cell`` (no cache, no mask): ``xu`` (B, G*H) = x_t U + b, ``state``
    a tuple of (B, H) -> the new state tuple. ``p`` from :func:`loop_params`."""
    B, H = state[0].shape
    new, _ = cell.step_forward(p, xu.reshape(B, cell.gates, H).transpose(1, 0, 2), tuple(state))
    return new
