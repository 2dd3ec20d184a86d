r"""The decoder every encoder–decoder shares: a recurrent language model of the target, started
from the encoder's states and, with attention, reading the encoder's memory at every step.

With y_0 = START, the memory m_s (s = 1..S, mask μ_s) and the initial states s_0 from the
encoder (:mod:`boucle.models.encoders`)::

    e_t = E_tgt[y_{t−1}];   (h_t, s_t) = RNN_dec(e_t, s_{t−1}),  t = 1..T        (stacked; teacher forcing)
    attention  α_ts = softmax_s score(h_t, m_s)  (μ_s = 0 → α_ts = 0);   c_t = Σ_s α_ts m_s
               h̃_t = tanh([c_t, h_t] W_c + b_c)              (Luong et al. 2015, no input feeding)
    output     P(y_t | y_<t, x) = softmax(h̃_t V + b_V)        (h_t in place of h̃_t without attention)

The recurrent layers are ordinary boucle layers (``initial_state=``), so the decoder runs in
the one time loop, and ``backward`` returns the gradients of the memory and of the initial
states for the encoder. :meth:`Decoder.step` is the same computation with T = 1, for
greedy and beam search (:mod:`boucle.models.decoding`).

**Input feeding** (``input_feeding=True``, with attention; Luong et al. 2015 §3.3): the first
layer also reads the previous attentional vector, e_t = [E_tgt[y_{t−1}], h̃_{t−1}] (h̃_0 = 0), so
the decoder knows where it looked before (as Xu et al. 2015 feed the context to the LSTM).
The attention then sits inside the recurrence: the decoder steps through time, each step
one T = 1 call of the same layers (the time loop with one step), and BPTT runs back through
the steps, h̃_t's gradient reaching step t + 1's input. h̃_t travels as one more entry of the
decoder's state list (``[h̃]`` after the layers' states), which decoding carries like the others.
"""

from __future__ import annotations

import numpy as np

from ..errors import BoucleError
from ..layers.attention import Attention
from ..layers.base import Layer
from ..layers.core import Dense, Embedding
from ..ops.activations import log_softmax
from .encoders import CELLS

__all__ = ["Decoder"]


class Decoder:
    """Embedding → ``num_layers`` RNNs → [attention → combine] → output logits (module docstring).

    Layer names: ``dec_embedding``, ``dec_rnn_<l>``, ``attention``, ``attn_combine``, ``output``.
    """

    def __init__(
        self,
        vocab_size: int,
        units: int,
        embed_dim: int,
        cell: str,
        num_layers: int,
        attention: str | None,
        attention_units: int | None,
        kw: dict,
        input_feeding: bool = False,
    ):
        self.vocab_size, self.units, self.embed_dim, self.num_layers = vocab_size, units, embed_dim, num_layers
        if input_feeding and attention is None:
            raise BoucleError(
                "input_feeding: feeds the attentional vector back, so needs attention=, got attention=None"
            )
        self.input_feeding = bool(input_feeding)
        self.rnns = [
            CELLS[cell](units, return_sequences=True, return_state=True, name=f"dec_rnn_{l}", **kw)
            for l in range(num_layers)
        ]
        self.state_names = self.rnns[0].state_names
        self.n_states = len(self.state_names)
        self.embedding = Embedding(vocab_size, embed_dim, name="dec_embedding", **kw)
        self.attn = self.combine = None
        if attention is not None:
            self.attn = Attention(attention, attention_units, name="attention", **kw)
            self.combine = Dense(units, activation="tanh", name="attn_combine", **kw)
        self.output = Dense(vocab_size, name="output", **kw)
        self.layers: list[Layer] = []

    def shapes(self, memory_size: int) -> list[tuple[Layer, tuple]]:
        """The layers with their input shapes, in build order, for a memory of ``memory_size`` features."""
        H, E = self.units, self.embed_dim
        shapes = [(self.embedding, (None,))]
        E_in = E + H if self.input_feeding else E
        shapes += [(rnn, (None, E_in if l == 0 else H)) for l, rnn in enumerate(self.rnns)]
        if self.attn is not None:
            shapes += [(self.attn, (H, memory_size)), (self.combine, (None, memory_size + H))]
        shapes += [(self.output, (None, H))]
        self.memory_size = memory_size
        self.layers = [layer for layer, _ in shapes]
        return shapes

    def forward(self, dec_in, states: list, memory, mem_mask, tgt_mask=None, training: bool = False):
        """Teacher-forced decoder inputs (B, T) from ``states`` (T = 1: one step).

        Returns ``(logits (B, T, V), alpha (B, T, S) or None, new states, cache)``.
        """
        if self.input_feeding:
            return self._forward_fed(dec_in, states, memory, mem_mask, tgt_mask, training)
        h, cd = self.embedding.forward(dec_in)
        caches, new = [cd], []
        for rnn, s0 in zip(self.rnns, states):
            out, c = rnn.forward(h, mask=tgt_mask, training=training, initial_state=s0)
            h = out[0]
            caches.append(c)
            new.append(list(out[1:]))
        alpha = None
        if self.attn is not None:
            (ctx, alpha), ca = self.attn.forward(h, memory, mem_mask)
            h, cc = self.combine.forward(np.concatenate([ctx, h], axis=-1))
            caches += [ca, cc]
        logits, co = self.output.forward(h)
        return logits, alpha, new, caches + [co]

    def _forward_fed(self, dec_in, states, memory, mem_mask, tgt_mask, training):
        """Input feeding: one step at a time, h̃_{t−1} appended to the first layer's input."""
        e, cd = self.embedding.forward(dec_in)  # (B, T, E)
        B, T = dec_in.shape
        layer_states = [list(s) for s in states[: self.num_layers]]
        fed = states[self.num_layers][0] if len(states) > self.num_layers else np.zeros((B, self.units), e.dtype)
        steps, outs, alphas = [], [], []
        for t in range(T):
            h = np.concatenate([e[:, t : t + 1], fed[:, None]], axis=-1)  # (B, 1, E + H)
            m = None if tgt_mask is None else tgt_mask[:, t : t + 1]
            caches = []
            for l, rnn in enumerate(self.rnns):
                out, c = rnn.forward(h, mask=m, training=training, initial_state=layer_states[l])
                h, layer_states[l] = out[0], list(out[1:])
                caches.append(c)
            (ctx, alpha), ca = self.attn.forward(h, memory, mem_mask)
            ht, cc = self.combine.forward(np.concatenate([ctx, h], axis=-1))  # (B, 1, H)
            fed = ht[:, 0]
            steps.append((caches, ca, cc))
            outs.append(ht)
            alphas.append(alpha)
        logits, co = self.output.forward(np.concatenate(outs, axis=1))  # one GEMM over (B, T, H)
        return logits, np.concatenate(alphas, axis=1), layer_states + [[fed]], ("fed", cd, steps, co)

    def _backward_fed(self, dlogits, cache) -> tuple[np.ndarray, list]:
        _, cd, steps, co = cache
        dht_all = self.output.backward(dlogits, co)  # (B, T, H)
        He, n, E = self.memory_size, self.n_states, self.embed_dim
        d_states: list = [[None] * n for _ in self.rnns]
        d_fed = None
        de = np.zeros(dht_all.shape[:2] + (E,), dtype=dht_all.dtype)
        dmem = 0.0
        for t in range(len(steps) - 1, -1, -1):  # BPTT through the steps
            caches, ca, cc = steps[t]
            dht = dht_all[:, t : t + 1] if d_fed is None else dht_all[:, t : t + 1] + d_fed[:, None]
            dcat = self.combine.backward(dht, cc)
            dq, dm = self.attn.backward(dcat[..., :He], ca)
            dmem = dmem + dm
            dh = dcat[..., He:] + dq
            for l in range(self.num_layers - 1, -1, -1):
                dh, ds = self.rnns[l].backward([dh] + d_states[l], caches[l])
                d_states[l] = list(ds)
            de[:, t] = dh[:, 0, :E]
            d_fed = dh[:, 0, E:]  # into h̃_{t-1}
        self.embedding.backward(de, cd)
        return dmem, d_states

    def backward(self, dlogits, cache) -> tuple[np.ndarray | None, list]:
        """Accumulate the decoder's gradients; return (dE/d memory or None, dE/d initial states per layer)."""
        if isinstance(cache, tuple):  # input feeding's cache
            return self._backward_fed(dlogits, cache)
        dh = self.output.backward(dlogits, cache[-1])
        dmem = None
        if self.attn is not None:
            He = self.memory_size
            dcat = self.combine.backward(dh, cache[-2])
            dq, dmem = self.attn.backward(dcat[..., :He], cache[-3])
            dh = dcat[..., He:] + dq
        n, dinit = self.n_states, [None] * self.num_layers
        for l in range(self.num_layers - 1, -1, -1):
            dh, dinit[l] = self.rnns[l].backward([dh] + [None] * n, cache[1 + l])
        self.embedding.backward(dh, cache[0])
        return dmem, dinit

    def step(self, tokens, states: list, memory, mem_mask):
        """One decoding step for (N,) previous tokens: ``(log P (N, V), new states, alpha (N, S) or None)``."""
        logits, alpha, new, _ = self.forward(np.asarray(tokens, dtype=np.int64)[:, None], states, memory, mem_mask)
        return log_softmax(logits[:, 0]), new, None if alpha is None else alpha[:, 0]
