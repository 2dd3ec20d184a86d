"""Recurrent cells: one time step forward, beside its backward (seed 002, seed 000).

Every cell is three pure functions over NumPy-API arrays (row-vector convention,
``x @ U``; B = batch, H = units, G = number of gate blocks):

``step_forward(p, xu_t, state) -> (new_state, cache)``
    ``p``: the :class:`LoopParams`. ``xu_t`` (G, B, H): the input projection of this
    step, ``xu_t[k] = x_t U_k + b_k`` for gate block k, computed for all timesteps in
    one GEMM before the loop (:mod:`boucle.ops.recurrent`). The step adds the
    recurrent product ``h_{t-1} W_k`` (the only matrix product inside the loop; the
    course's GRU needs a second one for ``(r ⊙ h) W_g``) and applies the gates.
    ``state`` is a tuple: ``(h,)``, or ``(h, c)`` for the LSTM, each (B, H); the new
    state is new arrays, and the inputs are never written to. ``cache`` is the
    cell's small named tuple (:class:`LSTMStep`, ...).
``step_backward(p, dstate, cache) -> (dxu_t, dprev_state, factors_t)``
    ``dxu_t`` (G, B, H) = dE/d(xu_t) (the gate pre-activation gradient dA_t, which
    stacked over time gives dU = X^T dXU and db = Σ dXU in one GEMM); ``factors_t``
    is a tuple of per-step arrays (e.g. h_{t-1}) from which dW is formed.
``param_grads(p, dxu, factors) -> {name: gradient}``
    after the loop, from ``dxu`` (T, G, B, H) and the factors stacked (T, B, H):
    dW = Σ_t h_{t-1}^T dA_t, ONE GEMM (H, T*B) x (T*B, G*H) over the stacked rows.
    Gradients come back in the parameter layout (``W``: (H, G*H)).

Gate blocks follow the course's order — LSTM ``i, f, o, g``, GRU ``z, r, g``,
simplified GRU ``z, g`` — and are **gate-major** inside the loop (``i, f, o, g = a``,
each a (B, H) view of (B, G*H) memory): :mod:`boucle.ops.gates` holds that layout and
the block arithmetic the cells share (one tanh for all blocks, the recurrent product
and its backward on a contiguous W^T kept in ``p.memo`` for one backward pass).

Variants are explicit. A :class:`Cell` (frozen) says what the cell is — its kind, G,
its number of states, the simple RNN's activation, whether the LSTM has peepholes,
whether the GRU ``reset_after`` has its recurrent bias ``b_W`` — and carries its
three functions. :func:`loop_params` turns a layer's parameters into the
:class:`LoopParams` the step functions read: ``W`` (H, G*H), ``b_W`` (G, 1, H) or
None, ``peepholes`` = (p_i, p_f, p_o) (H,) each or None, and ``rec_mask`` (B, H) or
None, the recurrent-dropout mask applied to h_{t-1} where it enters the recurrent
product; it checks them against the :class:`Cell`.

sigma(a) is 1/2 + 1/2 tanh(a/2), in place (``activations.sigmoid_``); the derivatives
are those of ``boucle.ops.activations`` (written from the outputs: σ' = y(1 - y),
tanh' = (1 - y)(1 + y)). :mod:`boucle.ops.fast` compiles the same equations for the
common cells (optional, numba); these functions are the reference it is tested against.
The recurrent layers reach both through one door, :mod:`boucle.ops.recurrent`.

Adding a cell: see ``docs/design-recurrent.md`` (reference equation here → finite
differences → PyTorch parity → compiled-loop parity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, NamedTuple

from .. import backend
from ..errors import BoucleError
from . import activations
from .gates import (
    by_gate,
    dW_single,
    from_gates,
    gate_buffer,
    gates_,
    gates_backward_,
    gemm_rows,
    preactivation,
    rec_backward,
    recurrent_input,
    recurrent_input_backward,
)

__all__ = [
    "Cell",
    "LoopParams",
    "get_cell",
    "loop_params",
    "by_gate",
    "from_gates",
    "CELL_KINDS",
    "RNN_ACTIVATIONS",
    "RNNStep",
    "LSTMStep",
    "GRUStep",
    "GRUResetAfterStep",
    "GRUSimpleStep",
    "rnn_step_forward",
    "rnn_step_backward",
    "lstm_step_forward",
    "lstm_step_backward",
    "gru_step_forward",
    "gru_step_backward",
    "gru_reset_after_step_forward",
    "gru_reset_after_step_backward",
    "gru_simple_step_forward",
    "gru_simple_step_backward",
]

#: activations a simple RNN may use (elementwise, derivative from the output).
RNN_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")


_sigmoid_ = activations.sigmoid_


# --------------------------------------------------------------------- per-step caches
# What each step_forward keeps for its step_backward (all (B, H), or (G', B, H) gate-major).
class RNNStep(NamedTuple):
    hin: Any  # h_{t-1} as it entered h W (⊙ rec_mask)
    h: Any  # h_t = g(a)


class LSTMStep(NamedTuple):
    hin: Any  # h_{t-1} (⊙ rec_mask)
    c_prev: Any  # c_{t-1}
    a: Any  # (4, B, H): i, f, o, g after their activations
    tc: Any  # tanh(c_t)
    c: Any  # c_t


class GRUStep(NamedTuple):
    h_prev: Any  # h_{t-1}
    hin: Any  # h_{t-1} (⊙ rec_mask)
    zr: Any  # (2, B, H): z, r after σ
    rh: Any  # r ⊙ hin
    g: Any  # the candidate g_t


class GRUResetAfterStep(NamedTuple):
    h_prev: Any
    hin: Any
    zr: Any  # (2, B, H): z, r after σ
    sg: Any  # s_g = hin W_g + b_W_g
    g: Any


class GRUSimpleStep(NamedTuple):
    h_prev: Any
    hin: Any
    a: Any  # (2, B, H): z, g after their activations


# --------------------------------------------------------------------- simple RNN
def rnn_step_forward(p, xu_t, state, activation: str = "tanh"):
    """Elman step (seed 002; relu as in seed 000): h_t = g(x_t U + h_{t-1} W + b).

    xu_t: (1, B, H); state = (h_{t-1},).
    """
    (h_prev,) = state
    hin = recurrent_input(p, h_prev)
    a = hin @ p.W  # (B, H)
    a += xu_t[0]
    if activation == "tanh":
        h = backend.xp().tanh(a, out=a)
    else:
        h = activations.forward(activation, a)
    return (h,), RNNStep(hin, h)


def rnn_step_backward(p, dstate, cache, activation: str = "tanh"):
    """da = g'(a) ⊙ dh;  dh_{t-1} = da W^T;  dW = Σ_t h_{t-1}^T da (after the loop)."""
    (dh,) = dstate
    hin, h = cache
    da = activations.backward(activation, dh, h)  # (B, H)
    dh_prev = recurrent_input_backward(p, rec_backward(p, da[None]))
    return da[None], (dh_prev,), (hin,)


# --------------------------------------------------------------------- LSTM
def lstm_step_forward(p, xu_t, state):
    """LSTM step, seed 002 (peephole option: Gers & Schmidhuber 2000)::

        i_t = σ(x_t U_i + h_{t-1} W_i + b_i [+ p_i ⊙ c_{t-1}])
        f_t = σ(x_t U_f + h_{t-1} W_f + b_f [+ p_f ⊙ c_{t-1}])
        g_t = tanh(x_t U_g + h_{t-1} W_g + b_g)
        c_t = i_t ⊙ g_t + f_t ⊙ c_{t-1}
        o_t = σ(x_t U_o + h_{t-1} W_o + b_o [+ p_o ⊙ c_t])
        h_t = o_t ⊙ tanh(c_t)

    xu_t: (4, B, H), blocks i, f, o, g; state = (h, c). The peephole weights
    ``p.peepholes`` = (p_i, p_f, p_o) (H,) each, or None (``Cell.peephole``).
    """
    xp = backend.xp()
    h_prev, c_prev = state
    hin = recurrent_input(p, h_prev)
    a = preactivation(xu_t, hin, p.W)  # (4, B, H): x_t U_k + b_k + h_{t-1} W_k
    i, f, o, g = a
    if p.peepholes is not None:  # peepholes: i, f see c_{t-1}; o sees c_t
        p_i, p_f, p_o = p.peepholes
        i += p_i * c_prev
        f += p_f * c_prev
        _sigmoid_(a[:2])
        xp.tanh(g, out=g)
        c = i * g
        c += f * c_prev
        o += p_o * c
        _sigmoid_(o)
    else:
        gates_(a, 3)  # i, f, o = σ(.), g = tanh(.): one tanh call
        c = i * g
        c += f * c_prev
    tc = xp.tanh(c)
    h = o * tc
    return (h, c), LSTMStep(hin, c_prev, a, tc, c)


def lstm_step_backward(p, dstate, cache):
    """Backward of :func:`lstm_step_forward`, each line undoing one forward line::

    do = dh ⊙ tanh(c_t)                                  (h = o ⊙ tanh c)
    dc = dc_next + dh ⊙ o ⊙ (1 - tanh² c_t) [+ dA_o ⊙ p_o]
    di = dc ⊙ g;  df = dc ⊙ c_{t-1};  dg = dc ⊙ i          (c = i ⊙ g + f ⊙ c_{t-1})
    dc_{t-1} = dc ⊙ f [+ dA_i ⊙ p_i + dA_f ⊙ p_f]
    dA = [di σ', df σ', do σ', dg tanh'];  dh_{t-1} = Σ_k dA_k W_k^T
    """
    xp = backend.xp()
    dh, dc_next = dstate
    hin, c_prev, a, tc, c = cache
    i, f, o, g = a
    da = gate_buffer(4, *dh.shape, dh.dtype)  # (4, B, H): dA_i, dA_f, dA_o, dA_g
    peephole = p.peepholes is not None
    if peephole:
        p_i, p_f, p_o = p.peepholes
    xp.multiply(dh, tc, out=da[2])  # do
    dc = dh * o
    dc *= 1.0 - tc * tc  # tanh'(c) = 1 - tanh² c
    dc += dc_next
    if peephole:
        gates_backward_(da[2:3], o[None], 1)
        dc += da[2] * p_o
    xp.multiply(dc, g, out=da[0])  # di
    xp.multiply(dc, c_prev, out=da[1])  # df
    xp.multiply(dc, i, out=da[3])  # dg
    dc_prev = dc * f
    if peephole:
        gates_backward_(da[:2], a[:2], 2)
        gates_backward_(da[3:], a[3:], 0)
        dc_prev += da[0] * p_i
        dc_prev += da[1] * p_f
    else:
        gates_backward_(da, a, 3)  # σ' on i, f, o and tanh' on g, in one pass
    dh_prev = recurrent_input_backward(p, rec_backward(p, da))
    return da, (dh_prev, dc_prev), ((hin, c_prev, c) if peephole else (hin,))


def lstm_param_grads(p, dxu, factors):
    """dW = Σ_t h_{t-1}^T dA_t;  dp_i = Σ dA_i ⊙ c_{t-1}, dp_f = Σ dA_f ⊙ c_{t-1}, dp_o = Σ dA_o ⊙ c_t."""
    grads = dW_single(p, dxu, factors[:1])
    if p.peepholes is not None:
        _, c_prev, c = factors
        grads["p_i"] = (dxu[:, 0] * c_prev).sum(axis=(0, 1))
        grads["p_f"] = (dxu[:, 1] * c_prev).sum(axis=(0, 1))
        grads["p_o"] = (dxu[:, 2] * c).sum(axis=(0, 1))
    return grads


# --------------------------------------------------------------------- GRU (course form)
def gru_step_forward(p, xu_t, state):
    """GRU step, seed 002 (Cho et al. 2014: reset applied BEFORE the recurrent product)::

        z_t = σ(x_t U_z + h_{t-1} W_z + b_z)
        r_t = σ(x_t U_r + h_{t-1} W_r + b_r)
        g_t = tanh(x_t U_g + (r_t ⊙ h_{t-1}) W_g + b_g)
        h_t = z_t ⊙ g_t + (1 - z_t) ⊙ h_{t-1}

    xu_t: (3, B, H), blocks z, r, g; state = (h,).
    """
    xp = backend.xp()
    (h_prev,) = state
    W = p.W
    H = h_prev.shape[-1]
    hin = recurrent_input(p, h_prev)
    zr = preactivation(xu_t[:2], hin, W[:, : 2 * H])  # (2, B, H)
    _sigmoid_(zr)
    z, r = zr
    rh = r * hin
    g = rh @ W[:, 2 * H :]  # (B, H)
    g += xu_t[2]
    xp.tanh(g, out=g)
    h = g - h_prev  # h = z ⊙ g + (1 - z) ⊙ h_{t-1}
    h *= z
    h += h_prev
    return (h,), GRUStep(h_prev, hin, zr, rh, g)


def gru_step_backward(p, dstate, cache):
    """dz = dh ⊙ (g - h_{t-1});  dg = dh ⊙ z;  d(r⊙h) = dA_g W_g^T;  dr = d(r⊙h) ⊙ h_{t-1};
    dh_{t-1} = dh ⊙ (1 - z) + d(r⊙h) ⊙ r + Σ_{k=z,r} dA_k W_k^T."""
    xp = backend.xp()
    (dh,) = dstate
    h_prev, hin, zr, rh, g = cache
    H = dh.shape[-1]
    z, r = zr
    da = gate_buffer(3, *dh.shape, dh.dtype)  # (3, B, H): dA_z, dA_r, dA_g
    xp.multiply(dh, z, out=da[2])  # dg = dh ⊙ z
    dh_prev = dh - da[2]  # dh ⊙ (1 - z)
    gates_backward_(da[2:], g[None], 0)
    drh = rec_backward(p, da[2:], slice(2 * H, None))  # (B, H) = dA_g W_g^T
    xp.subtract(g, h_prev, out=da[0])
    da[0] *= dh  # dz
    xp.multiply(drh, hin, out=da[1])  # dr
    gates_backward_(da[:2], zr, 2)
    dhin = drh * r
    dhin += rec_backward(p, da[:2], slice(0, 2 * H))
    dh_prev += recurrent_input_backward(p, dhin)
    return da, (dh_prev,), (hin, rh)


def gru_param_grads(p, dxu, factors):
    """dW_{z,r} = Σ h_{t-1}^T dA_{z,r};  dW_g = Σ (r ⊙ h_{t-1})^T dA_g."""
    xp = backend.xp()
    hin, rh = factors
    H = hin.shape[-1]
    rows = gemm_rows(dxu)  # (T*B, 3H)
    dW = xp.empty((H, 3 * H), dtype=dxu.dtype)
    xp.matmul(hin.reshape(-1, H).T, rows[:, : 2 * H], out=dW[:, : 2 * H])
    xp.matmul(rh.reshape(-1, H).T, rows[:, 2 * H :], out=dW[:, 2 * H :])
    return {"W": dW}


# --------------------------------------------------------------------- GRU reset_after
def gru_reset_after_step_forward(p, xu_t, state):
    """GRU step with the reset applied AFTER the recurrent product (cuDNN / PyTorch form)::

        s_t = h_{t-1} W + b_W                          (all three blocks)
        z_t = σ(x_t U_z + b_z + s_z);  r_t = σ(x_t U_r + b_r + s_r)
        g_t = tanh(x_t U_g + b_g + r_t ⊙ s_g)
        h_t = z_t ⊙ g_t + (1 - z_t) ⊙ h_{t-1}

    Two biases, exactly PyTorch's arithmetic (b = b_ih, b_W = b_hh after reordering);
    ``p.b_W`` (3, 1, H) is None without bias (``Cell.recurrent_bias``).
    """
    xp = backend.xp()
    (h_prev,) = state
    hin = recurrent_input(p, h_prev)
    B, H = h_prev.shape
    s = (hin @ p.W).reshape(B, 3, H).transpose(1, 0, 2)  # s_k = h_{t-1} W_k (+ b_W_k), gate-major
    if p.b_W is not None:
        s += p.b_W
    zr = s[:2] + xu_t[:2]
    _sigmoid_(zr)
    z, r = zr
    sg = s[2]
    g = r * sg
    g += xu_t[2]
    xp.tanh(g, out=g)
    h = g - h_prev
    h *= z
    h += h_prev
    return (h,), GRUResetAfterStep(h_prev, hin, zr, sg, g)


def gru_reset_after_step_backward(p, dstate, cache):
    """dA_g = tanh'(g) ⊙ dh ⊙ z;  dr = dA_g ⊙ s_g;  ds = [dA_z, dA_r, r ⊙ dA_g];  dh_{t-1} += Σ ds_k W_k^T.

    factors_t = (h_{t-1}, r ⊙ dA_g): the g block of W sees r ⊙ dA_g, not dA_g.
    """
    xp = backend.xp()
    (dh,) = dstate
    h_prev, hin, zr, sg, g = cache
    z, r = zr
    da = gate_buffer(3, *dh.shape, dh.dtype)  # dE/d(xu_t): z, r, g blocks
    xp.multiply(dh, z, out=da[2])  # dg = dh ⊙ z
    dh_prev = dh - da[2]  # dh ⊙ (1 - z)
    gates_backward_(da[2:], g[None], 0)
    xp.subtract(g, h_prev, out=da[0])
    da[0] *= dh  # dz
    xp.multiply(da[2], sg, out=da[1])  # dr
    gates_backward_(da[:2], zr, 2)
    ds = da.copy()  # dE/ds: z, r blocks as da, g block r ⊙ dA_g
    ds[2] *= r
    dh_prev += recurrent_input_backward(p, rec_backward(p, ds))
    return da, (dh_prev,), (hin, ds[2])


def gru_reset_after_param_grads(p, dxu, factors):
    """dW = Σ h_{t-1}^T [dA_z, dA_r, r ⊙ dA_g];  db_W = Σ [dA_z, dA_r, r ⊙ dA_g]."""
    xp = backend.xp()
    hin, dsg = factors
    H = hin.shape[-1]
    rows = gemm_rows(dxu)  # (T*B, 3H)
    hin2 = hin.reshape(-1, H)
    dsg2 = dsg.reshape(-1, H)
    dW = xp.empty((H, 3 * H), dtype=dxu.dtype)
    xp.matmul(hin2.T, rows[:, : 2 * H], out=dW[:, : 2 * H])
    xp.matmul(hin2.T, dsg2, out=dW[:, 2 * H :])
    grads = {"W": dW}
    if p.b_W is not None:
        grads["b_W"] = xp.concatenate([rows[:, : 2 * H].sum(axis=0), dsg2.sum(axis=0)])
    return grads


# --------------------------------------------------------------------- simplified GRU
def gru_simple_step_forward(p, xu_t, state):
    """Simplified GRU (seeds 000/001: update gate only, no reset gate)::

        z_t = σ(x_t U_z + h_{t-1} W_z + b_z)
        g_t = tanh(x_t U_g + h_{t-1} W_g + b_g)
        h_t = z_t ⊙ g_t + (1 - z_t) ⊙ h_{t-1}

    xu_t: (2, B, H), blocks z, g; state = (h,).
    """
    (h_prev,) = state
    hin = recurrent_input(p, h_prev)
    a = preactivation(xu_t, hin, p.W)  # (2, B, H)
    z, g = gates_(a, 1)
    h = g - h_prev
    h *= z
    h += h_prev
    return (h,), GRUSimpleStep(h_prev, hin, a)


def gru_simple_step_backward(p, dstate, cache):
    """dz = dh ⊙ (g - h_{t-1});  dg = dh ⊙ z;  dh_{t-1} = dh ⊙ (1 - z) + Σ_k dA_k W_k^T."""
    xp = backend.xp()
    (dh,) = dstate
    h_prev, hin, a = cache
    z, g = a
    da = gate_buffer(2, *dh.shape, dh.dtype)
    xp.subtract(g, h_prev, out=da[0])
    da[0] *= dh  # dz
    xp.multiply(dh, z, out=da[1])  # dg
    dh_prev = dh - da[1]  # dh ⊙ (1 - z)
    gates_backward_(da, a, 1)
    dh_prev += recurrent_input_backward(p, rec_backward(p, da))
    return da, (dh_prev,), (hin,)


# --------------------------------------------------------------------- what a cell is
CELL_KINDS = ("rnn", "lstm", "gru", "gru_reset_after", "gru_simple")

#: kind -> (G, number of states, step_forward, step_backward, param_grads)
_TABLE = {
    "rnn": (1, 1, rnn_step_forward, rnn_step_backward, dW_single),
    "lstm": (4, 2, lstm_step_forward, lstm_step_backward, lstm_param_grads),
    "gru": (3, 1, gru_step_forward, gru_step_backward, gru_param_grads),
    "gru_reset_after": (3, 1, gru_reset_after_step_forward, gru_reset_after_step_backward, gru_reset_after_param_grads),
    "gru_simple": (2, 1, gru_simple_step_forward, gru_simple_step_backward, dW_single),
}


@dataclass(frozen=True)
class Cell:
    """One recurrent cell variant, explicitly: what it is and its three functions.

    Fields given: ``kind`` in :data:`CELL_KINDS`; ``activation`` g of the simple RNN
    (:data:`RNN_ACTIVATIONS`; ``"tanh"`` for the others, whose gates are fixed);
    ``peephole`` (LSTM only: p_i, p_f, p_o); ``recurrent_bias`` (GRU ``reset_after``
    only: b_W (G*H,); None = the kind's default, True for ``gru_reset_after``, else
    False). Derived: ``gates`` G (the blocks of U, W, b: LSTM 4, GRU 3, simplified
    GRU 2, simple RNN 1), ``n_states`` (2 for the LSTM: h, c; else 1: h) and the
    functions ``step_forward``, ``step_backward``, ``param_grads`` (module doc).
    Hashable and immutable: :func:`get_cell` shares one instance per variant.
    """

    kind: str
    activation: str = "tanh"
    peephole: bool = False
    recurrent_bias: bool | None = None
    gates: int = field(init=False)
    n_states: int = field(init=False)
    step_forward: Callable = field(init=False, repr=False, compare=False)
    step_backward: Callable = field(init=False, repr=False, compare=False)
    param_grads: Callable = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.kind not in _TABLE:
            raise BoucleError(f"cell kind: expected one of {list(CELL_KINDS)}, got {self.kind!r}")
        if self.kind == "rnn" and self.activation not in RNN_ACTIVATIONS:
            raise BoucleError(f"activation: expected one of {list(RNN_ACTIVATIONS)}, got {self.activation!r}")
        if self.kind != "rnn" and self.activation != "tanh":
            raise BoucleError(
                f"activation: only the simple RNN ('rnn') takes one, expected 'tanh' for "
                f"{self.kind!r}, got {self.activation!r}"
            )
        if self.peephole and self.kind != "lstm":
            raise BoucleError(f"peephole: only the LSTM has peepholes, expected False for {self.kind!r}, got True")
        rb = (self.kind == "gru_reset_after") if self.recurrent_bias is None else bool(self.recurrent_bias)
        if rb and self.kind != "gru_reset_after":
            raise BoucleError(
                f"recurrent_bias: only 'gru_reset_after' has b_W, expected False for {self.kind!r}, got True"
            )
        G, n, fwd, bwd, grads = _TABLE[self.kind]
        if self.kind == "rnn":
            fwd, bwd = partial(fwd, activation=self.activation), partial(bwd, activation=self.activation)
        for name, value in (
            ("peephole", bool(self.peephole)),
            ("recurrent_bias", rb),
            ("gates", G),
            ("n_states", n),
            ("step_forward", fwd),
            ("step_backward", bwd),
            ("param_grads", grads),
        ):
            object.__setattr__(self, name, value)

    @property
    def loop_param_names(self) -> tuple[str, ...]:
        """The layer parameters read inside the loop: ``W`` (+ ``b_W``) (+ ``p_i, p_f, p_o``)."""
        return ("W",) + ("b_W",) * self.recurrent_bias + ("p_i", "p_f", "p_o") * self.peephole


@cache
def get_cell(
    kind: str, activation: str = "tanh", *, peephole: bool = False, recurrent_bias: bool | None = None
) -> Cell:
    """The (shared) :class:`Cell` for ``kind`` in :data:`CELL_KINDS` and its options."""
    return Cell(kind, activation, peephole, recurrent_bias)


@dataclass(frozen=True, slots=True)
class LoopParams:
    """What the step functions read (built by :func:`loop_params`), named.

    ``W`` (H, G*H); ``b_W`` (G, 1, H) gate-major or None; ``peepholes`` = (p_i, p_f,
    p_o), (H,) each, or None; ``rec_mask`` (B, H) recurrent-dropout mask or None;
    ``memo``: a dict the cells may fill with arrays derived from W for the duration
    of one backward pass (:func:`boucle.ops.scan.backward` gives each call its own),
    or None.
    """

    W: Any
    b_W: Any = None
    peepholes: tuple | None = None
    rec_mask: Any = None
    memo: dict | None = None


def loop_params(cell: Cell, params: dict, rec_mask: Any = None) -> LoopParams:
    """The :class:`LoopParams` of ``cell`` from (views of) a layer's ``params``.

    ``params`` must hold exactly the loop parameters the cell declares
    (:attr:`Cell.loop_param_names`); ``b_W`` (G*H,) is viewed as (G, 1, H).
    """
    for name in ("W", "b_W", "p_i", "p_f", "p_o"):
        want, got = name in cell.loop_param_names, params.get(name) is not None
        if want != got:
            raise BoucleError(
                f"params: expected {'' if want else 'no '}{name!r} for {cell}, got {'none' if want else 'one'}"
            )
    b_W = params["b_W"].reshape(cell.gates, 1, -1) if cell.recurrent_bias else None
    peepholes = (params["p_i"], params["p_f"], params["p_o"]) if cell.peephole else None
    return LoopParams(params["W"], b_W, peepholes, rec_mask)
