"""Bidirectional wrapper (seed 000: BRNN, y_t = g(V [h→_t, h←_t] + b)).

Two copies of a recurrent layer read the sequence in both directions through the
same time loop (:func:`boucle.ops.recurrent.forward`, ``reverse=True`` for the backward
copy). With a mask the backward direction starts at each sequence's own last valid
step, and both directions' outputs are aligned in time, so a right-padded batch
gives exactly what each sequence gives alone (the pitfall of keras #7244 and
pytorch #517 does not arise).
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..errors import BoucleError
from .base import Layer, register
from .recurrent import RNN

__all__ = ["Bidirectional"]

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@register
class Bidirectional(Layer):
    """Runs ``layer`` forward and a copy of it backward, and merges the two outputs.

    Args:
        layer: a :class:`~boucle.layers.recurrent.RNN` (SimpleRNN, LSTM, GRU); only
            its config is used: the wrapper builds ``forward_<name>`` and
            ``backward_<name>`` (``go_backwards`` flipped) from it.
        merge_mode: ``"concat"`` (default, last axis 2H), ``"sum"``, ``"mul"``,
            ``"ave"`` or ``None`` (a list ``[y_forward, y_backward]``).

    Params are exposed flat — ``"forward/U"``, ``"backward/W"``, ... — as the same
    array objects as the inner layers' (in-place updates reach them). With the inner
    layer's ``return_state`` the output is ``[y, h_fwd(, c_fwd), h_bwd(, c_bwd)]``;
    ``initial_state`` is the forward states followed by the backward states.
    """

    def __init__(self, layer: RNN, merge_mode: str | None = "concat", **kwargs):
        if not isinstance(layer, RNN):
            raise BoucleError(
                f"Bidirectional: layer must be a recurrent layer (SimpleRNN, LSTM, GRU), got {type(layer).__name__}"
            )
        if merge_mode not in MERGE_MODES:
            raise BoucleError(f"Bidirectional: merge_mode must be one of {list(MERGE_MODES)}, got {merge_mode!r}")
        if kwargs.get("dtype") is None and layer._dtype_arg is not None:
            kwargs["dtype"] = layer._dtype_arg
        if kwargs.get("input_shape") is None and layer.input_shape is not None:
            kwargs["input_shape"] = layer.input_shape
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        cfg = layer.get_config()
        base = cfg["name"].removeprefix("forward_").removeprefix("backward_")
        self.layer_class = type(layer).__name__
        self.layer_config = {k: v for k, v in cfg.items() if k != "input_shape"}
        self.forward_layer = type(layer).from_config({**self.layer_config, "name": f"forward_{base}"})
        self.backward_layer = type(layer).from_config(
            {**self.layer_config, "name": f"backward_{base}", "go_backwards": not cfg["go_backwards"]}
        )
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.stochastic = self.forward_layer.stochastic

    @property
    def layers(self) -> tuple[RNN, RNN]:
        return self.forward_layer, self.backward_layer

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "merge_mode": self.merge_mode,
            "layer": {"class_name": self.layer_class, "config": dict(self.layer_config)},
        }

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        config = dict(config)
        spec = config.pop("layer", None)
        registry.check_keys(cls, config, cls.__name__)
        return cls(
            registry.deserialize("layer", spec, what="Bidirectional: layer must be a registered layer"), **config
        )

    def _build(self, input_shape):
        for prefix, layer in (("forward", self.forward_layer), ("backward", self.backward_layer)):
            if self._dtype_arg is not None:
                layer._dtype_arg = self._dtype_arg
            layer.build(input_shape, self.rng)
            for k in layer.params:
                self.params[f"{prefix}/{k}"] = layer.params[k]
                self.grads[f"{prefix}/{k}"] = layer.grads[k]

    def compute_output_shape(self, input_shape):
        out = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            out, states = out[0], out[1:]
        if self.merge_mode == "concat":
            out = (*out[:-1], 2 * out[-1])
        elif self.merge_mode is None:
            out = [out, out]
        if not self.return_state:
            return out
        return (out if self.merge_mode is None else [out]) + states + states

    def compute_mask(self, x, mask):
        return self.forward_layer.compute_mask(x, mask)

    def reset_states(self) -> None:
        for layer in self.layers:
            layer.reset_states()

    # -- computation ---------------------------------------------------------
    def forward(self, x, mask=None, training: bool = False, initial_state=None):
        if not self.built:
            raise BoucleError(f"{self.name}: layer is not built, call build(input_shape) first")
        n = self.forward_layer.cell.n_states
        init = [None, None]
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != 2 * n:
                raise BoucleError(
                    f"{self.name}: initial_state must be a list of {2 * n} arrays "
                    f"(forward states then backward states), got {len(states)}"
                )
            init = [states[:n] if n > 1 else states[0], states[n:] if n > 1 else states[1]]
        ys, caches = [], []
        for layer, s0 in zip(self.layers, init):
            y, c = layer.forward(x, mask=mask, training=training, initial_state=s0)
            ys.append(y if self.return_state else [y])
            caches.append(c)
        yf, yb = ys[0][0], ys[1][0]
        if self.merge_mode == "concat":
            out = np.concatenate([yf, yb], axis=-1)
        elif self.merge_mode == "sum":
            out = yf + yb
        elif self.merge_mode == "mul":
            out = yf * yb
        elif self.merge_mode == "ave":
            out = (yf + yb) * 0.5
        else:
            out = [yf, yb]
        if self.return_state:
            out = (out if self.merge_mode is None else [out]) + ys[0][1:] + ys[1][1:]
        return out, (caches, yf, yb, initial_state is not None)

    def backward(self, dy, cache):
        caches, yf, yb, has_init = cache
        n = self.forward_layer.cell.n_states
        k = 2 if self.merge_mode is None else 1  # merged outputs before the states
        dys = list(dy) if (self.return_state or self.merge_mode is None) else [dy]
        if len(dys) != k + (2 * n if self.return_state else 0):
            raise BoucleError(
                f"{self.name}: dy must be a list of {k + 2 * n * self.return_state} arrays, got {len(dys)}"
            )
        dout, dstates = dys[:k], dys[k:]
        H = yf.shape[-1]
        if self.merge_mode is None:
            df, db = dout
        elif dout[0] is None:
            df = db = None
        elif self.merge_mode == "concat":
            df, db = dout[0][..., :H], dout[0][..., H:]
        elif self.merge_mode == "sum":
            df = db = dout[0]
        elif self.merge_mode == "mul":
            df, db = dout[0] * yb, dout[0] * yf
        else:
            df = db = dout[0] * 0.5
        dx, dinit = None, []
        for layer, c, d, ds in zip(self.layers, caches, (df, db), (dstates[:n], dstates[n:])):
            back = layer.backward([d, *ds] if self.return_state else d, c)
            if has_init:
                back, d0 = back
                dinit += list(d0) if n > 1 else [d0]
            dx = back if dx is None else dx + back
        return (dx, dinit) if has_init else dx

    def __call__(self, x, mask=None, training: bool = False, initial_state=None):
        if not self.built:
            self.build(np.shape(x)[1:])
        return self.forward(x, mask=mask, training=training, initial_state=initial_state)[0]
