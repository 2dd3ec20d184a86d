"""Recurrent cells: one time step forward, beside its backward (seed 002, seed 000).

Every cell is three pure functions over NumPy-API arrays (row-vector convention,
``x @ U``; B = batch, H = units, G = number of gate blocks):

``step_forward(p, xu_t, state) -> (new_state, cache)``
    ``xu_t`` (G, B, H): the input projection of this step, ``xu_t[k] = x_t U_k + b_k``
    for gate block k, computed by the layer for all timesteps in one GEMM before
    the loop. The step adds the recurrent product ``h_{t-1} W_k`` (the only matrix
    product inside the loop; the course's GRU needs a second one for ``(r ⊙ h) W_g``)
    and applies the gates. ``state`` is a tuple: ``(h,)``,
    or ``(h, c)`` for the LSTM, each (B, H).
``step_backward(p, dstate, cache) -> (dxu_t, dprev_state, factors_t)``
    ``dxu_t`` (G, B, H) = dE/d(xu_t) (the gate pre-activation gradient dA_t, which
    stacked over time gives dU = X^T dXU and db = Σ dXU in one GEMM); ``factors_t``
    is a tuple of per-step arrays (e.g. h_{t-1}) from which dW is formed.
``param_grads(p, dxu, factors) -> {name: gradient}``
    after the loop, from ``dxu`` (T, G, B, H) and the factors stacked (T, B, H):
    dW = Σ_t h_{t-1}^T dA_t, ONE GEMM (H, T*B) x (T*B, G*H) over the stacked rows.
    Gradients come back in the parameter layout (``W``: (H, G*H)).

Gate blocks follow the course's order — LSTM ``i, f, o, g``, GRU ``z, r, g``,
simplified GRU ``z, g`` — and are **gate-major** inside the loop: ``a[k]`` is block k,
a (B, H) view, so ``i, f, o, g = a``. The arrays behind these views keep each row's
blocks side by side, (B, G*H) — the layout of ``h_{t-1} W`` and of ``x U + b`` as the
layers compute it (T*B, G*H) — so the recurrent product stays ONE GEMM
(B, H) x (H, G*H) whose result takes xu_t in place, and an operation over several
blocks is one NumPy call (one tanh covers i, f, o and g: :func:`_gates_`). In the
backward pass ``Σ_k dA_k W_k^T`` is one GEMM too, on a contiguous W^T kept for the
duration of one backward pass (``p["memo"]``, see :func:`boucle.ops.scan.backward`).
:func:`loop_params` hands the cells ``p``: ``W`` (H, G*H), optionally ``b_W``
(G, 1, H) (GRU ``reset_after``), ``p_i, p_f, p_o`` (H,) (peephole LSTM) and
``rec_mask`` (B, H), the recurrent-dropout mask applied to h_{t-1} where it enters
the recurrent product.

sigma(a) is 1/2 + 1/2 tanh(a/2), in place (``activations.sigmoid_``); the derivatives
are those of ``boucle.ops.activations`` (written from the outputs: σ' = y(1 - y),
tanh' = (1 - y)(1 + y)). :mod:`boucle.ops.fast` compiles the same equations for the
common cells (optional, numba); these functions are the reference it is tested against.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

from .. import backend
from ..errors import BoucleError
from . import activations

__all__ = [
    "Cell", "get_cell", "loop_params", "by_gate", "from_gates", "CELL_KINDS", "RNN_ACTIVATIONS",
    "rnn_step_forward", "rnn_step_backward", "lstm_step_forward", "lstm_step_backward",
    "gru_step_forward", "gru_step_backward", "gru_reset_after_step_forward",
    "gru_reset_after_step_backward", "gru_simple_step_forward", "gru_simple_step_backward",
]

#: activations a simple RNN may use (elementwise, derivative from the output).
RNN_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")


def by_gate(M, G: int):
    """(K, G*H) -> (G, K, H) view: block k is M[:, kH:(k+1)H] (no copy)."""
    return M.reshape(M.shape[0], G, -1).transpose(1, 0, 2)


def from_gates(Mg):
    """(G, K, H) -> (K, G*H): the inverse of :func:`by_gate` (a copy)."""
    return Mg.transpose(1, 0, 2).reshape(Mg.shape[1], -1)


_sigmoid_ = activations.sigmoid_


def _gate_buffer(G: int, B: int, H: int, dtype):
    """A new (G, B, H) gate-major view of (B, G*H) row-major memory (see the module doc)."""
    return backend.xp().empty((B, G, H), dtype=dtype).transpose(1, 0, 2)


def _flat(a):
    """(G, B, H) gate-major view of (B, G*H) memory -> the (B, G*H) array (no copy)."""
    return a.transpose(1, 0, 2).reshape(a.shape[1], -1)


def _gates_(a, n_sigmoid: int):
    """In place: σ on the first ``n_sigmoid`` blocks of a (G, B, H), tanh on the others.

    σ(a) = 1/2 + 1/2 tanh(a/2) (as :func:`activations.sigmoid_`), so that ONE tanh call
    covers every block: halve the σ blocks, tanh all, then map them to 1/2 + t/2.
    """
    s = a[:n_sigmoid]
    s *= 0.5
    backend.xp().tanh(a, out=a)
    s *= 0.5
    s += 0.5
    return a


def _gates_backward_(da, a, n_sigmoid: int):
    """In place: da ⊙= σ'(a) = y (1 - y) on the first blocks, ⊙= tanh'(a) = (1 - y)(1 + y) on
    the others, with y the block's output ``a`` (one pass over all blocks: (1 - y)(y + [tanh]))."""
    da *= 1.0 - a
    if n_sigmoid == a.shape[0]:
        da *= a
    else:
        y_or_1py = a.copy()
        y_or_1py[n_sigmoid:] += 1.0
        da *= y_or_1py
    return da


def _recurrent_input(p, h):
    """h_{t-1} as it enters the recurrent product: h ⊙ m with recurrent dropout, else h."""
    m = p.get("rec_mask")
    return h if m is None else h * m


def _recurrent_input_backward(p, dhin):
    m = p.get("rec_mask")
    if m is not None:
        dhin *= m
    return dhin


def _preactivation(xu_t, hin, W):
    """a_k = xu_t[k] + hin W_k for each gate block k, gate-major (G', B, H).

    One GEMM (B, H) x (H, G'*H) whose (B, G'*H) result, read gate-major, takes xu_t in place.
    """
    B, H = hin.shape
    a = (hin @ W).reshape(B, -1, H).transpose(1, 0, 2)   # (G', B, H) view of (B, G'*H)
    a += xu_t
    return a


def _transposed(p, key: str, cols: slice = slice(None)):
    """W[:, cols]^T as a C-contiguous array, memoised in ``p["memo"]`` when present.

    ``dA W^T`` is ~1.2-2x faster with a contiguous W^T; :func:`boucle.ops.scan.backward`
    gives each call its own ``memo``, so the copy is made once per backward pass and
    never outlives it (no stale copy after an optimizer step).
    """
    xp = backend.xp()
    memo = p.get("memo")
    if memo is None:
        return p[key][:, cols].T
    name = (key, cols.start, cols.stop)
    if name not in memo:
        memo[name] = xp.ascontiguousarray(p[key][:, cols].T)
    return memo[name]


def _rec_backward(p, da, cols: slice = slice(None)):
    """d hin = Σ_k dA_k W_k^T for dA (G', B, H) gate-major and W[:, cols] (H, G'*H): one GEMM."""
    G, B, H = da.shape
    return da.transpose(1, 0, 2).reshape(B, G * H) @ _transposed(p, "W", cols)


def _rows(a):
    """(T, G, B, H) gradient -> (T*B, G*H): each step's gate blocks side by side, as GEMM rows.

    No copy when ``a`` is laid out (T, B, G*H) in memory, as the recurrent layers do it."""
    T, G, B, H = a.shape
    return a.transpose(0, 2, 1, 3).reshape(T * B, G * H)


def _dW_single(p, dxu, factors):
    """dW = Σ_t hin_t^T dA_t: ONE GEMM (H, T*B) x (T*B, G*H); factors = (hin (T, B, H),)."""
    (hin,) = factors
    return {"W": hin.reshape(-1, hin.shape[-1]).T @ _rows(dxu)}


# --------------------------------------------------------------------- simple RNN
def rnn_step_forward(p, xu_t, state, activation: str = "tanh"):
    """Elman step (seed 002; relu as in seed 000): h_t = g(x_t U + h_{t-1} W + b).

    xu_t: (1, B, H); state = (h_{t-1},).
    """
    (h_prev,) = state
    hin = _recurrent_input(p, h_prev)
    a = hin @ p["W"]                                  # (B, H)
    a += xu_t[0]
    if activation == "tanh":
        h = backend.xp().tanh(a, out=a)
    else:
        h = activations.forward(activation, a)
    return (h,), (hin, h)


def rnn_step_backward(p, dstate, cache, activation: str = "tanh"):
    """da = g'(a) ⊙ dh;  dh_{t-1} = da W^T;  dW = Σ_t h_{t-1}^T da (after the loop)."""
    (dh,) = dstate
    hin, h = cache
    da = activations.backward(activation, dh, h)      # (B, H)
    dh_prev = _recurrent_input_backward(p, _rec_backward(p, da[None]))
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
    ``p_i, p_f, p_o`` (H,) are used when present in ``p``.
    """
    xp = backend.xp()
    h_prev, c_prev = state
    hin = _recurrent_input(p, h_prev)
    a = _preactivation(xu_t, hin, p["W"])             # (4, B, H): x_t U_k + b_k + h_{t-1} W_k
    i, f, o, g = a
    if "p_i" in p:                                    # peepholes: i, f see c_{t-1}; o sees c_t
        i += p["p_i"] * c_prev
        f += p["p_f"] * c_prev
        _sigmoid_(a[:2])
        xp.tanh(g, out=g)
        c = i * g
        c += f * c_prev
        o += p["p_o"] * c
        _sigmoid_(o)
    else:
        _gates_(a, 3)                                 # i, f, o = σ(.), g = tanh(.): one tanh call
        c = i * g
        c += f * c_prev
    tc = xp.tanh(c)
    h = o * tc
    return (h, c), (hin, c_prev, a, tc, c)


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
    da = _gate_buffer(4, *dh.shape, dh.dtype)         # (4, B, H): dA_i, dA_f, dA_o, dA_g
    peephole = "p_i" in p
    xp.multiply(dh, tc, out=da[2])                    # do
    dc = dh * o
    dc *= 1.0 - tc * tc                               # tanh'(c) = 1 - tanh² c
    dc += dc_next
    if peephole:
        _gates_backward_(da[2:3], o[None], 1)
        dc += da[2] * p["p_o"]
    xp.multiply(dc, g, out=da[0])                     # di
    xp.multiply(dc, c_prev, out=da[1])                # df
    xp.multiply(dc, i, out=da[3])                     # dg
    dc_prev = dc * f
    if peephole:
        _gates_backward_(da[:2], a[:2], 2)
        _gates_backward_(da[3:], a[3:], 0)
        dc_prev += da[0] * p["p_i"]
        dc_prev += da[1] * p["p_f"]
    else:
        _gates_backward_(da, a, 3)                    # σ' on i, f, o and tanh' on g, in one pass
    dh_prev = _recurrent_input_backward(p, _rec_backward(p, da))
    return da, (dh_prev, dc_prev), ((hin, c_prev, c) if peephole else (hin,))


def lstm_param_grads(p, dxu, factors):
    """dW = Σ_t h_{t-1}^T dA_t;  dp_i = Σ dA_i ⊙ c_{t-1}, dp_f = Σ dA_f ⊙ c_{t-1}, dp_o = Σ dA_o ⊙ c_t."""
    grads = _dW_single(p, dxu, factors[:1])
    if "p_i" in p:
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
    W = p["W"]
    H = h_prev.shape[-1]
    hin = _recurrent_input(p, h_prev)
    zr = _preactivation(xu_t[:2], hin, W[:, :2 * H])  # (2, B, H)
    _sigmoid_(zr)
    z, r = zr
    rh = r * hin
    g = rh @ W[:, 2 * H:]                             # (B, H)
    g += xu_t[2]
    xp.tanh(g, out=g)
    h = g - h_prev                                    # h = z ⊙ g + (1 - z) ⊙ h_{t-1}
    h *= z
    h += h_prev
    return (h,), (h_prev, hin, zr, rh, g)


def gru_step_backward(p, dstate, cache):
    """dz = dh ⊙ (g - h_{t-1});  dg = dh ⊙ z;  d(r⊙h) = dA_g W_g^T;  dr = d(r⊙h) ⊙ h_{t-1};
    dh_{t-1} = dh ⊙ (1 - z) + d(r⊙h) ⊙ r + Σ_{k=z,r} dA_k W_k^T."""
    xp = backend.xp()
    (dh,) = dstate
    h_prev, hin, zr, rh, g = cache
    H = dh.shape[-1]
    z, r = zr
    da = _gate_buffer(3, *dh.shape, dh.dtype)         # (3, B, H): dA_z, dA_r, dA_g
    xp.multiply(dh, z, out=da[2])                     # dg = dh ⊙ z
    dh_prev = dh - da[2]                              # dh ⊙ (1 - z)
    _gates_backward_(da[2:], g[None], 0)
    drh = _rec_backward(p, da[2:], slice(2 * H, None))  # (B, H) = dA_g W_g^T
    xp.subtract(g, h_prev, out=da[0])
    da[0] *= dh                                       # dz
    xp.multiply(drh, hin, out=da[1])                  # dr
    _gates_backward_(da[:2], zr, 2)
    dhin = drh * r
    dhin += _rec_backward(p, da[:2], slice(0, 2 * H))
    dh_prev += _recurrent_input_backward(p, dhin)
    return da, (dh_prev,), (hin, rh)


def gru_param_grads(p, dxu, factors):
    """dW_{z,r} = Σ h_{t-1}^T dA_{z,r};  dW_g = Σ (r ⊙ h_{t-1})^T dA_g."""
    xp = backend.xp()
    hin, rh = factors
    H = hin.shape[-1]
    rows = _rows(dxu)                                 # (T*B, 3H)
    dW = xp.empty((H, 3 * H), dtype=dxu.dtype)
    xp.matmul(hin.reshape(-1, H).T, rows[:, :2 * H], out=dW[:, :2 * H])
    xp.matmul(rh.reshape(-1, H).T, rows[:, 2 * H:], out=dW[:, 2 * H:])
    return {"W": dW}


# --------------------------------------------------------------------- GRU reset_after
def gru_reset_after_step_forward(p, xu_t, state):
    """GRU step with the reset applied AFTER the recurrent product (cuDNN / PyTorch form)::

        s_t = h_{t-1} W + b_W                          (all three blocks)
        z_t = σ(x_t U_z + b_z + s_z);  r_t = σ(x_t U_r + b_r + s_r)
        g_t = tanh(x_t U_g + b_g + r_t ⊙ s_g)
        h_t = z_t ⊙ g_t + (1 - z_t) ⊙ h_{t-1}

    Two biases, exactly PyTorch's arithmetic (b = b_ih, b_W = b_hh after reordering).
    """
    xp = backend.xp()
    (h_prev,) = state
    hin = _recurrent_input(p, h_prev)
    B, H = h_prev.shape
    s = (hin @ p["W"]).reshape(B, 3, H).transpose(1, 0, 2)   # s_k = h_{t-1} W_k (+ b_W_k), gate-major
    if p.get("b_W") is not None:
        s += p["b_W"]
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
    return (h,), (h_prev, hin, zr, sg, g)


def gru_reset_after_step_backward(p, dstate, cache):
    """dA_g = tanh'(g) ⊙ dh ⊙ z;  dr = dA_g ⊙ s_g;  ds = [dA_z, dA_r, r ⊙ dA_g];  dh_{t-1} += Σ ds_k W_k^T.

    factors_t = (h_{t-1}, r ⊙ dA_g): the g block of W sees r ⊙ dA_g, not dA_g.
    """
    xp = backend.xp()
    (dh,) = dstate
    h_prev, hin, zr, sg, g = cache
    z, r = zr
    da = _gate_buffer(3, *dh.shape, dh.dtype)         # dE/d(xu_t): z, r, g blocks
    xp.multiply(dh, z, out=da[2])                     # dg = dh ⊙ z
    dh_prev = dh - da[2]                              # dh ⊙ (1 - z)
    _gates_backward_(da[2:], g[None], 0)
    xp.subtract(g, h_prev, out=da[0])
    da[0] *= dh                                       # dz
    xp.multiply(da[2], sg, out=da[1])                 # dr
    _gates_backward_(da[:2], zr, 2)
    ds = da.copy()                                    # dE/ds: z, r blocks as da, g block r ⊙ dA_g
    ds[2] *= r
    dh_prev += _recurrent_input_backward(p, _rec_backward(p, ds))
    return da, (dh_prev,), (hin, ds[2])


def gru_reset_after_param_grads(p, dxu, factors):
    """dW = Σ h_{t-1}^T [dA_z, dA_r, r ⊙ dA_g];  db_W = Σ [dA_z, dA_r, r ⊙ dA_g]."""
    xp = backend.xp()
    hin, dsg = factors
    H = hin.shape[-1]
    rows = _rows(dxu)                                 # (T*B, 3H)
    hin2 = hin.reshape(-1, H)
    dsg2 = dsg.reshape(-1, H)
    dW = xp.empty((H, 3 * H), dtype=dxu.dtype)
    xp.matmul(hin2.T, rows[:, :2 * H], out=dW[:, :2 * H])
    xp.matmul(hin2.T, dsg2, out=dW[:, 2 * H:])
    grads = {"W": dW}
    if p.get("b_W") is not None:
        grads["b_W"] = xp.concatenate([rows[:, :2 * H].sum(axis=0), dsg2.sum(axis=0)])
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
    hin = _recurrent_input(p, h_prev)
    a = _preactivation(xu_t, hin, p["W"])             # (2, B, H)
    z, g = _gates_(a, 1)
    h = g - h_prev
    h *= z
    h += h_prev
    return (h,), (h_prev, hin, a)


def gru_simple_step_backward(p, dstate, cache):
    """dz = dh ⊙ (g - h_{t-1});  dg = dh ⊙ z;  dh_{t-1} = dh ⊙ (1 - z) + Σ_k dA_k W_k^T."""
    xp = backend.xp()
    (dh,) = dstate
    h_prev, hin, a = cache
    z, g = a
    da = _gate_buffer(2, *dh.shape, dh.dtype)
    xp.subtract(g, h_prev, out=da[0])
    da[0] *= dh                                       # dz
    xp.multiply(dh, z, out=da[1])                     # dg
    dh_prev = dh - da[1]                              # dh ⊙ (1 - z)
    _gates_backward_(da, a, 1)
    dh_prev += _recurrent_input_backward(p, _rec_backward(p, da))
    return da, (dh_prev,), (hin,)


# --------------------------------------------------------------------- registry
class Cell(NamedTuple):
    """A cell kind: its gate count G, its state count and its three functions."""
    kind: str
    gates: int
    n_states: int
    step_forward: Callable
    step_backward: Callable
    param_grads: Callable


CELL_KINDS = ("rnn", "lstm", "gru", "gru_reset_after", "gru_simple")


def get_cell(kind: str, activation: str = "tanh") -> Cell:
    """The :class:`Cell` for ``kind`` in :data:`CELL_KINDS` (``activation``: simple RNN only)."""
    if kind == "rnn":
        if activation not in RNN_ACTIVATIONS:
            raise BoucleError(f"activation: expected one of {list(RNN_ACTIVATIONS)}, got {activation!r}")
        return Cell("rnn", 1, 1, partial(rnn_step_forward, activation=activation),
                    partial(rnn_step_backward, activation=activation), _dW_single)
    table = {
        "lstm": (4, 2, lstm_step_forward, lstm_step_backward, lstm_param_grads),
        "gru": (3, 1, gru_step_forward, gru_step_backward, gru_param_grads),
        "gru_reset_after": (3, 1, gru_reset_after_step_forward, gru_reset_after_step_backward,
                            gru_reset_after_param_grads),
        "gru_simple": (2, 1, gru_simple_step_forward, gru_simple_step_backward, _dW_single),
    }
    if kind not in table:
        raise BoucleError(f"cell kind: expected one of {list(CELL_KINDS)}, got {kind!r}")
    return Cell(kind, *table[kind])


def loop_params(cell: Cell, params: dict, rec_mask=None) -> dict:
    """The loop parameters ``p`` for the cells, from (views of) a layer's ``params``:
    ``W`` (H, G*H) and the peepholes as they are, ``b_W`` (G*H,) -> (G, 1, H)."""
    G = cell.gates
    p = {"W": params["W"]}
    if params.get("b_W") is not None:
        p["b_W"] = params["b_W"].reshape(G, 1, -1)
    for k in ("p_i", "p_f", "p_o"):
        if k in params:
            p[k] = params[k]
    if rec_mask is not None:
        p["rec_mask"] = rec_mask
    return p
