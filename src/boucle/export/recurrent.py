r"""Recurrent layers as ONNX ``RNN`` / ``LSTM`` / ``GRU`` nodes (opset 14 semantics).

ONNX's recurrent operators use column vectors and their own gate orders
(``X (T, B, D)``, ``W (dirs, G·H, D)``, ``R (dirs, G·H, H)``, ``B (dirs, 2·G·H)`` = input
then recurrent biases, ``sequence_lens (B,)``, ``initial_h``/``initial_c (dirs, B, H)``).
boucle's course layout is row vectors ``x U + h W + b`` with ``U (D, G·H)``. Per gate
block k of H columns: ``W_onnx[k] = U[:, k]ᵀ``, ``R_onnx[k] = W[:, k]ᵀ``, in ONNX's order:

=================  ======================  ==============================================
layer              boucle blocks           ONNX node
=================  ======================  ==============================================
SimpleRNN          (one)                   ``RNN``, activation Tanh / Relu / Sigmoid /
                                           Affine(1, 0) for linear
LSTM               i, f, o, g              ``LSTM`` blocks i, o, f, c; peepholes
                                           ``P = [p_i, p_o, p_f]`` (ONNX's LSTM has them,
                                           o seeing c_t as in the course)
GRU (course)       z, r, g                 ``GRU``, ``linear_before_reset=0``: reset
                                           before the product, b_g in ``Wb_h``
GRU reset_after    z, r, g + b_W           ``GRU``, ``linear_before_reset=1``, b_W = ``Rb``
GRU simplified     z, g                    ``GRU`` with r ≡ 1 (``W_r = R_r = 0``,
                                           ``Wb_r = 100``: σ(100) = 1 in float32)
=================  ======================  ==============================================

ONNX's GRU writes ``H_t = (1 − z) ⊙ h̃ + z ⊙ H_{t−1}``, the course ``h_t = z ⊙ g + (1 − z)
⊙ h_{t−1}``: z_onnx = 1 − z_course = σ(−a), so the z block of W, R and both biases is
negated (exact). A mask becomes ``sequence_lens`` (the number of valid steps of each
row): ONNX's operators read the first ``len`` steps, write zeros after them, return the
state of the last valid step, and start a reverse pass at each row's own last valid
step — boucle's semantics for right-padded rows (the valid steps a prefix).
"""

from __future__ import annotations

import numpy as np

from ..errors import BoucleError
from ..layers.recurrent import GRU, LSTM, RNN, SimpleRNN
from .graph import Graph

__all__ = ["onnx_weights", "run_rnn", "convert_rnn", "RNN_ACTIVATION"]

#: simple RNN activation -> (ONNX activation, alpha, beta) (Affine(1, 0) is the identity).
RNN_ACTIVATION = {
    "tanh": ("Tanh", None, None),
    "relu": ("Relu", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "linear": ("Affine", 1.0, 0.0),
}
#: σ(_ONE) rounds to exactly 1 in float32: the reset gate of the simplified GRU.
_ONE = 100.0


def _blocks(M: np.ndarray, order: list[int], H: int, negate: tuple[int, ...] = ()) -> np.ndarray:
    """(rows, G·H) course blocks -> (G'·H, rows) in ``order`` (a block index, or None for zeros)."""
    out = []
    for k in order:
        if k is None:
            out.append(np.zeros((M.shape[0], H), dtype=np.float64))
            continue
        blk = np.asarray(M[:, k * H : (k + 1) * H], dtype=np.float64)
        out.append(-blk if k in negate else blk)
    return np.concatenate(out, axis=1).T


def onnx_weights(layer: RNN) -> tuple[str, dict, dict]:
    """``(op, tensors, attributes)`` of one direction of ``layer``: tensors ``W (1, G·H, D)``,
    ``R (1, G·H, H)``, ``B (1, 2·G·H)`` and ``P (1, 3H)`` (peephole LSTM), in float32."""
    p, H = layer.params, layer.units
    kind = layer.cell.kind
    b = np.asarray(p["b"], dtype=np.float64)[None] if "b" in p else np.zeros((1, layer.cell.gates * H))
    b_W = np.asarray(p["b_W"], dtype=np.float64)[None] if "b_W" in p else None
    attrs: dict = {"hidden_size": H}
    if kind == "rnn":
        op, order, neg = "RNN", [0], ()
        act, alpha, beta = RNN_ACTIVATION[layer.cell.activation]
        attrs["activations"] = [act]
        if alpha is not None:
            attrs["activation_alpha"], attrs["activation_beta"] = [alpha], [beta]
    elif kind == "lstm":
        op, order, neg = "LSTM", [0, 2, 1, 3], ()
    elif kind in ("gru", "gru_reset_after"):
        op, order, neg = "GRU", [0, 1, 2], (0,)
        attrs["linear_before_reset"] = int(kind == "gru_reset_after")
    elif kind == "gru_simple":
        op, order, neg = "GRU", [0, None, 1], (0,)
        attrs["linear_before_reset"] = 0
    else:  # pragma: no cover - every kind is above
        raise BoucleError(f"export_onnx: {layer.name}: cell kind {kind!r} has no ONNX operator")
    W = _blocks(p["U"], order, H, neg)  # (G'H, D)
    R = _blocks(p["W"], order, H, neg)  # (G'H, H)
    Wb = _blocks(b, order, H, neg)[:, 0]
    Rb = np.zeros_like(Wb) if b_W is None else _blocks(b_W, order, H, neg)[:, 0]
    if kind == "gru_simple":
        Wb[H : 2 * H] = _ONE  # r = σ(100) = 1: h̃ = tanh(x U_g + h W_g + b_g)
    t = {"W": W[None], "R": R[None], "B": np.concatenate([Wb, Rb])[None]}
    if getattr(layer, "peephole", False):
        t["P"] = np.concatenate([p["p_i"], p["p_o"], p["p_f"]]).astype(np.float64)[None]
    return op, {k: v.astype(np.float32) for k, v in t.items()}, attrs


def _check(layer: RNN) -> None:
    if layer.stateful:
        raise BoucleError(
            f"export_onnx: {layer.name}: stateful=True is not exported (the graph starts every "
            "call from zeros); export a copy built with stateful=False"
        )


def run_rnn(
    g: Graph, layer: RNN, x_tm: str, lens: str | None, batch: str, initial: list[str] | None = None
) -> tuple[str, list[str]]:
    """One recurrent node over time-major ``x_tm (T, B, D)``.

    Returns ``(Y (T, B, H), [h_T (B, H)(, c_T)])``. ``initial``: (B, H) state tensors (default:
    zeros, or the layer's learned ``h0``/``c0``).
    """
    _check(layer)
    op, t, attrs = onnx_weights(layer)
    n = layer.cell.n_states
    attrs["direction"] = "reverse" if layer.go_backwards else "forward"
    names = {k: g.const(v, f"{layer.name}_{k}") for k, v in t.items()}
    init = [""] * n
    if initial is not None:
        init = [g.unsqueeze(s, [0]) for s in initial]
    elif layer.learn_initial_state:
        shape = g.node("Concat", [g.const(np.array([1])), batch, g.const(np.array([layer.units]))], axis=0)
        init = [
            g.node("Expand", [g.const(layer.params[f"{s}0"][None, None], f"{layer.name}_{s}0"), shape])
            for s in layer.state_names
        ]
    inputs = [x_tm, names["W"], names["R"], names["B"], lens or "", *init]
    if "P" in names:
        inputs += [names["P"]]
    while inputs and inputs[-1] == "":
        inputs.pop()
    outs = g.node(op, inputs, n_out=1 + n, name=layer.name, **attrs)
    Y = g.squeeze(outs[0], [1])  # (T, 1, B, H) -> (T, B, H)
    final = [g.squeeze(s, [0]) for s in outs[1:]]  # (1, B, H) -> (B, H)
    if lens and init[0]:  # a zero-length row keeps its initial state (ONNX's runtimes give zeros)
        some = g.unsqueeze(g.node("Greater", [lens, g.const(np.array(0), dtype=np.int32)]), [1])
        final = [g.node("Where", [some, f, g.squeeze(s0, [0])]) for f, s0 in zip(final, init)]
    return Y, final


def convert_rnn(g: Graph, layer: RNN, x: str, lens: str | None, batch: str, initial=None):
    """A recurrent layer on batch-first ``x (B, T, D)``: its output as boucle returns it
    (``(B, T, H)`` with ``return_sequences``, else ``(B, H)``; a list with ``return_state``)."""
    if not isinstance(layer, (SimpleRNN, LSTM, GRU)):
        raise BoucleError(f"export_onnx: {layer.name}: {type(layer).__name__} is not exported")
    Y, final = run_rnn(g, layer, g.transpose(x, [1, 0, 2]), lens, batch, initial)
    out = g.transpose(Y, [1, 0, 2]) if layer.return_sequences else final[0]
    return [out, *final] if layer.return_state else out
