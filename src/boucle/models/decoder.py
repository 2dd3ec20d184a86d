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
"""
from __future__ import annotations

import numpy as np

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

    def __init__(self, vocab_size: int, units: int, embed_dim: int, cell: str, num_layers: int,
                 attention: str | None, attention_units: int | None, kw: dict):
        self.vocab_size, self.units, self.embed_dim, self.num_layers = vocab_size, units, embed_dim, num_layers
        self.rnns = [CELLS[cell](units, return_sequences=True, return_state=True, name=f"dec_rnn_{l}", **kw)
                     for l in range(num_layers)]
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
        shapes += [(rnn, (None, E if l == 0 else H)) for l, rnn in enumerate(self.rnns)]
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

    def backward(self, dlogits, cache) -> tuple[np.ndarray | None, list]:
        """Accumulate the decoder's gradients; return (dE/d memory or None, dE/d initial states per layer)."""
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
