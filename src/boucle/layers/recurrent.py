"""Recurrent layers: SimpleRNN, LSTM, GRU (seed 002; seed 000; peepholes: seed 004).

All three share :class:`RNN`, which keeps what belongs to a layer — input checks,
dropout masks, the initial states (argument, stateful carry, learned h0, zeros), the
shape of what it returns — and hands the computation to the one door of the time
loop, :func:`boucle.ops.recurrent.forward` / :func:`boucle.ops.recurrent.backward`:
the input projection ``[x, 1] [U; b]`` for all timesteps, the loop over the cell's
equations (:mod:`boucle.ops.cells`; the reference scan or its compiled twin, tested
equal), and BPTT back to ``dx``, the initial states and every parameter.

Parameters (fixed layout, the course's notation, row vectors ``x @ U``):
``U (D, G*H)``, ``W (H, G*H)``, ``b (G*H,)`` with gate blocks along the last axis
in the course's order — LSTM ``i, f, o, g`` (G=4), GRU ``z, r, g`` (G=3),
simplified GRU ``z, g`` (G=2), SimpleRNN G=1; GRU ``reset_after`` adds the
recurrent bias ``b_W (G*H,)``; LSTM ``peephole`` adds ``p_i, p_f, p_o (H,)``;
``learn_initial_state`` adds ``h0 (H,)`` (and ``c0`` for the LSTM).

Differences from Keras, on purpose: ``go_backwards=True`` returns its outputs at
their original time index (aligned with the input, not reversed), and with a mask
the reversed pass starts at each sequence's own last valid step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import validators
from ..errors import BoucleError
from ..ops import cells
from ..ops import recurrent as time_loop
from ..ops.dropout import dropout_mask
from .base import Layer, check_input, register
from .core import _init_name

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU"]


class RNNCache(NamedTuple):
    """The cache of :meth:`RNN.forward`, for :meth:`RNN.backward`."""

    loop: time_loop.RecurrentCache  # the time loop's (engine, inputs, per-step caches)
    source: str  # where the initial states came from: argument | stateful | learned | zeros
    structure: bool | None  # initial_state given as a list (True) or one array (False); else None


class RNN(Layer):
    """Shared base of the recurrent layers (not used directly: pick a subclass).

    Call: ``forward(x, mask=None, training=False, initial_state=None) -> (y, cache)``
    with ``x: (B, T, D)``, ``mask: (B, T)`` (True = valid step) and ``initial_state``
    an array (B, H) — a list ``[h, c]`` for the LSTM. Output ``(B, T, H)`` with
    ``return_sequences`` (zero at masked steps), else ``(B, H)`` = the state at each
    sequence's last valid step; with ``return_state`` a list ``[output, h(, c)]``.
    ``backward(dy, cache)`` returns ``dx``, or ``(dx, dstates)`` when an
    ``initial_state`` was passed (``dstates`` shaped like it).

    ``stateful=True``: the final states are kept in :attr:`states` and used as the
    next call's initial state until :meth:`reset_states` — detached, so no gradient
    crosses batches (truncated BPTT). ``dropout`` (on x) and ``recurrent_dropout``
    (on h_{t-1} where it enters h W) use one mask per sequence, the same at every
    step (Gal & Ghahramani 2016, as Keras), drawn from the layer's generator, only
    when ``training=True``.
    """

    cell_kind = "rnn"

    def __init__(
        self,
        units: int,
        *,
        use_bias: bool = True,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        learn_initial_state: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.units = validators.positive_int(units, "units", cls)
        self.use_bias = bool(use_bias)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.learn_initial_state = bool(learn_initial_state)
        self.dropout = validators.rate(dropout, "dropout", cls)
        self.recurrent_dropout = validators.rate(recurrent_dropout, "recurrent_dropout", cls)
        self.stochastic = self.dropout > 0 or self.recurrent_dropout > 0
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        #: the final states of the last call when ``stateful`` (None = start from zeros / h0).
        self.states: list | None = None

    # -- configuration ---------------------------------------------------
    @property
    def cell(self) -> cells.Cell:
        """The cell variant (:class:`boucle.ops.cells.Cell`)."""
        return cells.get_cell(self.cell_kind)

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("h", "c")[: self.cell.n_states]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "learn_initial_state": self.learn_initial_state,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "kernel_initializer": _init_name(self.kernel_initializer),
            "recurrent_initializer": _init_name(self.recurrent_initializer),
            "bias_initializer": _init_name(self.bias_initializer),
        }

    # -- building ----------------------------------------------------------
    def _build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise BoucleError(f"{self.name}: input_shape must be (T, D) with D known, got {input_shape}")
        D, H, G = int(input_shape[-1]), self.units, self.cell.gates
        self.add_param("U", (D, G * H), self.kernel_initializer)
        self.add_param("W", (H, G * H), self.recurrent_initializer)
        if self.use_bias:
            self.add_param("b", (G * H,), self.bias_initializer)
        self._build_extra(H)
        if self.learn_initial_state:
            for s in self.state_names:
                self.add_param(f"{s}0", (H,), "zeros")

    def _build_extra(self, H: int) -> None:
        """Cell-specific parameters (recurrent bias, peepholes, forget bias)."""

    def compute_output_shape(self, input_shape):
        T, H = input_shape[0], self.units
        out = (T, H) if self.return_sequences else (H,)
        return [out] + [(H,)] * self.cell.n_states if self.return_state else out

    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    def reset_states(self) -> None:
        """Forget the carried states of a ``stateful`` layer (next call starts from zeros / h0)."""
        self.states = None

    # -- computation ---------------------------------------------------------
    def _check_mask(self, mask, B: int, T: int):
        if mask is None:
            return None
        m = np.asarray(mask)
        if m.shape != (B, T):
            raise BoucleError(f"{self.name}: mask must have shape (B, T) = {(B, T)}, got {m.shape}")
        return m.astype(bool)

    def _initial_states(self, initial_state, B: int):
        """(states, source) with source 'argument' | 'stateful' | 'learned' | 'zeros'."""
        n, H = self.cell.n_states, self.units
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != n or (n > 1 and not isinstance(initial_state, (list, tuple))):
                raise BoucleError(
                    f"{self.name}: initial_state must be a list of {n} arrays "
                    f"{list(self.state_names)}, got {len(states)}"
                )
            out = []
            for name, s in zip(self.state_names, states):
                s = np.asarray(s, dtype=self.dtype)
                if s.shape != (B, H):
                    raise BoucleError(
                        f"{self.name}: initial_state {name} must have shape (B, H) = {(B, H)}, got {s.shape}"
                    )
                out.append(s)
            return tuple(out), "argument"
        if self.stateful and self.states is not None:
            if self.states[0].shape[0] != B:
                raise BoucleError(
                    f"{self.name}: stateful layer carries states for batch size "
                    f"{self.states[0].shape[0]}, got x with batch size {B} "
                    f"(call reset_states() first)"
                )
            return tuple(self.states), "stateful"
        if self.learn_initial_state:
            return tuple(np.broadcast_to(self.params[f"{s}0"], (B, H)).copy() for s in self.state_names), "learned"
        return tuple(np.zeros((B, H), dtype=self.dtype) for _ in range(n)), "zeros"

    def forward(self, x, mask=None, training: bool = False, initial_state=None):
        if not self.built:
            raise BoucleError(f"{self.name}: layer is not built, call build(input_shape) first")
        x = check_input(x, "x", (3,), self.params["U"].shape[0], self.name, self.dtype)
        B, T, D = x.shape
        if T == 0:
            raise BoucleError(f"{self.name}: x must have at least one time step, got shape {x.shape}")
        mask = self._check_mask(mask, B, T)
        states0, source = self._initial_states(initial_state, B)
        x_mask = rec_mask = None
        if training and self.dropout > 0:
            x_mask = dropout_mask((B, D), self.dropout, self.rng, self.dtype)  # (B, D)
        if training and self.recurrent_dropout > 0:
            rec_mask = dropout_mask((B, self.units), self.recurrent_dropout, self.rng, self.dtype)
        outputs, final, lcache = time_loop.forward(
            self.cell,
            self.params,
            x,
            states0,
            mask,
            self.go_backwards,
            x_mask=x_mask,
            rec_mask=rec_mask,
            training=training,
        )  # (B, T, H)
        if self.stateful:
            self.states = [s.copy() for s in final]
        y = np.ascontiguousarray(outputs) if self.return_sequences else final[0]
        if self.return_state:
            y = [y, *final]
        structure = None if source != "argument" else isinstance(initial_state, (list, tuple))
        return y, RNNCache(lcache, source, structure)

    def backward(self, dy, cache: RNNCache):
        n = self.cell.n_states
        if self.return_state:
            if not isinstance(dy, (list, tuple)) or len(dy) != 1 + n:
                raise BoucleError(
                    f"{self.name}: dy must be a list of {1 + n} arrays (return_state), got {type(dy).__name__}"
                )
            d_out, d_final = dy[0], list(dy[1:])
        else:
            d_out, d_final = dy, [None] * n
        d_outputs = None
        if d_out is not None:
            if self.return_sequences:
                d_outputs = np.asarray(d_out, dtype=self.dtype)  # (B, T, H)
            else:  # the output is the final h
                d_final[0] = d_out if d_final[0] is None else d_final[0] + d_out
        dx, ds0, grads = time_loop.backward(d_outputs, d_final, cache.loop)
        for k, g in grads.items():
            self.grads[k] += g
        if cache.source == "learned":
            for s, d in zip(self.state_names, ds0):
                self.grads[f"{s}0"] += d.sum(axis=0)
        if cache.source == "argument":
            return dx, (list(ds0) if cache.structure else ds0[0])
        return dx

    def __call__(self, x, mask=None, training: bool = False, initial_state=None):
        if not self.built:
            self.build(np.shape(x)[1:])
        return self.forward(x, mask=mask, training=training, initial_state=initial_state)[0]


@register
class SimpleRNN(RNN):
    """Elman RNN (seed 002; ReLU as in seed 000): h_t = g(x_t U + h_{t-1} W + b), G = 1.

    ``activation`` is one of ``tanh`` (default), ``relu``, ``sigmoid``, ``linear``.
    """

    def __init__(self, units: int, activation: str = "tanh", **kwargs):
        cells.get_cell("rnn", activation)  # validates the name
        self.activation = activation
        super().__init__(units, **kwargs)

    @property
    def cell(self) -> cells.Cell:
        return cells.get_cell("rnn", self.activation)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self.activation}


@register
class LSTM(RNN):
    """Long short-term memory (seed 002), gate blocks ``i, f, o, g`` (G = 4)::

        [i f o] = σ(x U + h_{t-1} W + b)[:3H],  g = tanh(...)[3H:]
        c_t = i ⊙ g + f ⊙ c_{t-1},  h_t = o ⊙ tanh(c_t)

    ``peephole=True`` (seed 004; Gers & Schmidhuber 2000): i and f also see c_{t-1},
    o sees c_t, through diagonal weights ``p_i, p_f, p_o (H,)`` (initialised with
    ``kernel_initializer``). ``unit_forget_bias=True``: the forget block of b starts at 1.
    """

    cell_kind = "lstm"

    def __init__(self, units: int, peephole: bool = False, unit_forget_bias: bool = True, **kwargs):
        self.peephole = bool(peephole)
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, **kwargs)

    @property
    def cell(self) -> cells.Cell:
        return cells.get_cell("lstm", peephole=self.peephole)

    def get_config(self) -> dict:
        return {**super().get_config(), "peephole": self.peephole, "unit_forget_bias": self.unit_forget_bias}

    def _build_extra(self, H: int) -> None:
        if self.use_bias and self.unit_forget_bias:
            self.params["b"][H : 2 * H] = 1.0
        if self.peephole:
            for k in ("p_i", "p_f", "p_o"):
                self.add_param(k, (H,), self.kernel_initializer)


@register
class GRU(RNN):
    """Gated recurrent unit, gate blocks ``z, r, g`` (G = 3).

    ``variant="full"`` (default), seed 002 / Cho et al. 2014, reset before the product::

        z, r = σ(x U_{zr} + h_{t-1} W_{zr} + b_{zr})
        g = tanh(x U_g + (r ⊙ h_{t-1}) W_g + b_g),  h_t = z ⊙ g + (1 - z) ⊙ h_{t-1}

    ``reset_after=True``: the cuDNN / PyTorch form ``g = tanh(x U_g + b_g + r ⊙ (h W_g + b_W_g))``
    with a second, recurrent bias ``b_W (3H,)`` entering every gate (PyTorch's ``b_hh``).
    ``variant="simplified"`` (seeds 000/001): update gate only, blocks ``z, g`` (G = 2),
    ``g = tanh(x U_g + h_{t-1} W_g + b_g)``.
    """

    def __init__(self, units: int, reset_after: bool = False, variant: str = "full", **kwargs):
        if variant not in ("full", "simplified"):
            raise BoucleError(f"GRU: variant must be 'full' or 'simplified', got {variant!r}")
        if variant == "simplified" and reset_after:
            raise BoucleError("GRU: reset_after must be False with variant='simplified' (no reset gate), got True")
        self.reset_after = bool(reset_after)
        self.variant = variant
        super().__init__(units, **kwargs)

    @property
    def cell_kind(self) -> str:  # type: ignore[override]
        if self.variant == "simplified":
            return "gru_simple"
        return "gru_reset_after" if self.reset_after else "gru"

    @property
    def cell(self) -> cells.Cell:
        return cells.get_cell(self.cell_kind, recurrent_bias=self.reset_after and self.use_bias)

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after, "variant": self.variant}

    def _build_extra(self, H: int) -> None:
        if self.reset_after and self.use_bias:
            self.add_param("b_W", (3 * H,), self.bias_initializer)
