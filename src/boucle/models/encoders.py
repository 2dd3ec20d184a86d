r"""Encoders of an encoder–decoder: any network that turns an input into a **memory** and the
decoder's **initial states** (seed 004's "encoder/decoder"; seed 002's "Image → Phrase").

The interface (:class:`Encoder`) is what the shared decoder (:mod:`boucle.models.decoder`),
training (:mod:`boucle.models.encoder_decoder`) and decoding (:mod:`boucle.models.decoding`)
code sees::

    forward(x, training) -> (Encoded(memory (B, S, H_e), mask (B, S) or None, states), cache)
    backward(d_memory (B, S, H_e) or None, d_states, cache)        accumulates every gradient
    layers, shapes(units, state_names, num_layers)                  what to build, in order
    memory_size                                                     H_e (after shapes())
    prepare(x)                                                      a batch as the encoder wants it

``states[l]`` is the list of decoder layer l's initial states (h, or h and c), each (B, H).
The memory is what attention reads (S slots; ``mask`` False on padding); without
attention only the states reach the loss.

Two implementations:

- :class:`SequenceEncoder` — token ids → embedding → stacked (bidirectional) RNNs; the
  memory is the top layer's outputs o_s, the states are each layer's final states
  (Sutskever et al. 2014), merged for a bidirectional encoder (see ``Seq2Seq``).
- :class:`ImageEncoder` — an image → a convolutional stack → a feature map F (B, H′, W′, K);
  each of the H′·W′ positions is one memory slot (Xu et al. 2015, "Show, attend and
  tell"), and the image's features set the decoder's initial state (Vinyals et al. 2015,
  "Show and tell")::

      F = CNN(x)                                  conv 3×3 (same, relu) → max-pool 2, per block
                                                  (pool 1: no pooling — the block widens each
                                                  position's view without shrinking the map)
      m_p = [F_p, r_p, c_p],  p = i·W′ + j        memory slot of position (i, j); r, c ∈ [−1, 1]
                                                  its row and column (``coords=True``), so that
                                                  the context Σ_p α_p m_p says where it looked
      z = vec(F) (``init_state="flatten"``, the image's global descriptor) or
          z = 1/P Σ_p F_p (``"mean"``, Xu et al.'s average annotation)
      h_0^l = tanh(z V_h^l + b_h^l),  c_0^l = z V_c^l + b_c^l     (LSTM; one Dense per layer and state)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..data.padding import trim_padding
from ..data.vocab import PAD
from ..errors import BoucleError
from ..layers.base import Layer
from ..layers.conv import Conv2D
from ..layers.core import Dense, Embedding
from ..layers.pooling import MaxPooling2D
from ..layers.recurrent import GRU, LSTM, SimpleRNN
from ..layers.wrappers import Bidirectional

__all__ = ["Encoded", "Encoder", "SequenceEncoder", "ImageEncoder", "CELLS"]

#: cell name -> recurrent layer class.
CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}


class Encoded(NamedTuple):
    """What an encoder hands the decoder."""

    memory: np.ndarray  #: (B, S, H_e): what attention reads
    mask: np.ndarray | None  #: (B, S), True = a slot to attend (None: every slot)
    states: list  #: per decoder layer, its initial states, each (B, H)


class Encoder:
    """The encoder interface (see the module docstring)."""

    layers: list[Layer]
    memory_size: int

    def shapes(self, units: int, state_names: tuple[str, ...], num_layers: int) -> list[tuple[Layer, tuple]]:
        """The layers to build for a decoder of ``num_layers`` layers of ``units`` with states
        ``state_names``, each with its input shape, in build order (the model's one generator
        draws them in this order)."""
        raise NotImplementedError

    def forward(self, x, training: bool = False) -> tuple[Encoded, Any]:
        raise NotImplementedError

    def backward(self, d_memory, d_states: list, cache) -> None:
        raise NotImplementedError

    def prepare(self, x):
        """A batch of inputs as :meth:`forward` wants it (sequences: trailing padding removed)."""
        return x


def _bridge_forward(bridges: list[list[Dense]], z) -> tuple[list, list]:
    """s_0^l = g(z V^l_s + b^l_s) for every layer l and state s."""
    rows = [[b.forward(z) for b in row] for row in bridges]
    return [[y for y, _ in row] for row in rows], [[c for _, c in row] for row in rows]


def _bridges(units: int, state_names: tuple[str, ...], num_layers: int, kw: dict) -> list[list[Dense]]:
    """One Dense per decoder layer and state: tanh for h (it is an output of the cell), linear for c."""
    return [
        [
            Dense(units, activation="tanh" if k == 0 else None, name=f"bridge_{s}_{l}", **kw)
            for k, s in enumerate(state_names)
        ]
        for l in range(num_layers)
    ]


class SequenceEncoder(Encoder):
    """Token ids (B, T_x) → embedding → ``num_layers`` RNNs (bidirectional on request).

    The decoder must have as many layers, and the same units, as this encoder; layer l's
    final states start decoder layer l. Bidirectional: ``merge="sum"`` adds the two
    directions' states, ``"concat"`` maps [s→, s←] through a Dense bridge per layer and state.
    """

    def __init__(
        self,
        vocab_size: int,
        units: int,
        embed_dim: int,
        cell: str,
        num_layers: int,
        bidirectional: bool,
        merge: str,
        kw: dict,
    ):
        self.vocab_size, self.units, self.embed_dim = vocab_size, units, embed_dim
        self.cell, self.num_layers, self.bidirectional, self.merge, self.kw = cell, num_layers, bidirectional, merge, kw
        self.memory_size = 2 * units if bidirectional else units
        self.layers: list[Layer] = []
        self.rnns: list[Layer] = []
        self.bridges: list[list[Dense]] = []

    def shapes(self, units, state_names, num_layers):
        if units != self.units or num_layers != self.num_layers:
            raise BoucleError(
                f"decoder: expected {self.num_layers} layers of {self.units} units as the "
                f"sequence encoder, got {num_layers} of {units}"
            )
        H, E, kw = self.units, self.embed_dim, self.kw
        self.embedding = Embedding(self.vocab_size, E, mask_zero=True, name="enc_embedding", **kw)
        self.rnns = []
        for l in range(self.num_layers):
            rnn = CELLS[self.cell](H, return_sequences=True, return_state=True, name=f"enc_rnn_{l}", **kw)
            self.rnns.append(Bidirectional(rnn, name=f"enc_birnn_{l}", **kw) if self.bidirectional else rnn)
        self.n_states = len(state_names)
        if self.bidirectional and self.merge == "concat":
            self.bridges = _bridges(H, state_names, self.num_layers, kw)
        shapes = [(self.embedding, (None,))]
        shapes += [(rnn, (None, E if l == 0 else self.memory_size)) for l, rnn in enumerate(self.rnns)]
        shapes += [(b, (2 * H,)) for row in self.bridges for b in row]
        self.layers = [layer for layer, _ in shapes]
        return shapes

    def prepare(self, x):
        return trim_padding(x)

    def forward(self, x, training: bool = False):
        src_mask = x != PAD
        h, ce = self.embedding.forward(x)
        caches, finals = [ce], []
        for rnn in self.rnns:
            out, c = rnn.forward(h, mask=src_mask, training=training)
            h = out[0]
            caches.append(c)
            finals.append(out[1:])
        n, init, bcaches = self.n_states, [], []
        for l, f in enumerate(finals):
            if not self.bidirectional:
                init.append(list(f))
            elif self.merge == "sum":  # s_0 = s→ + s←
                init.append([a + b for a, b in zip(f[:n], f[n:])])
            else:  # s_0 = g([s→, s←] V + b)
                row = [
                    bridge.forward(np.concatenate([a, b], axis=-1))
                    for bridge, a, b in zip(self.bridges[l], f[:n], f[n:])
                ]
                init.append([y for y, _ in row])
                bcaches.append([c for _, c in row])
        return Encoded(h, src_mask, init), (caches, bcaches)

    def backward(self, d_memory, d_states, cache) -> None:
        """BPTT from the memory's and the initial states' gradients down to the embedding."""
        caches, bcaches = cache
        dmem = d_memory
        for l in range(self.num_layers - 1, -1, -1):
            ds = list(d_states[l])
            if self.bidirectional and self.merge == "sum":
                ds = ds + ds
            elif self.bidirectional:
                parts = [b.backward(d, c) for b, d, c in zip(self.bridges[l], ds, bcaches[l])]
                H = self.units
                ds = [p[:, :H] for p in parts] + [p[:, H:] for p in parts]
            dmem = self.rnns[l].backward([dmem] + ds, caches[1 + l])
        self.embedding.backward(dmem, caches[0])


class ImageEncoder(Encoder):
    """Images (B, H, W, C) → convolutional blocks → memory slots and initial states (module docstring).

    Args:
        image_shape: (H, W, C) of every image the model reads.
        filters: the filters of each block Conv2D(f, ``kernel_size``, relu, same) → MaxPooling2D(pool).
        pools: each block's pooling size (1: no pooling layer).
        coords: append each slot's row and column in [−1, 1] to its features.
        init_state: ``"flatten"`` (z = vec(F)) or ``"mean"`` (z = the mean of the slots' features).
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        filters: tuple[int, ...],
        kernel_size: int,
        coords: bool,
        init_state: str,
        kw: dict,
        pools: tuple[int, ...] | None = None,
    ):
        self.image_shape, self.filters, self.kernel_size = tuple(image_shape), tuple(filters), kernel_size
        self.pools = (2,) * len(self.filters) if pools is None else tuple(pools)
        self.coords, self.init_state, self.kw = coords, init_state, kw
        self.layers: list[Layer] = []

    def shapes(self, units, state_names, num_layers):
        kw, shape = self.kw, self.image_shape
        self.convs: list[Layer] = []
        shapes = []
        for i, (f, k) in enumerate(zip(self.filters, self.pools)):
            conv = Conv2D(f, self.kernel_size, padding="same", activation="relu", name=f"conv_{i}", **kw)
            shapes += [(conv, shape)]
            shape = conv.compute_output_shape(shape)
            self.convs.append(conv)
            if k > 1:
                pool = MaxPooling2D(k, padding="same", name=f"pool_{i}", **kw)
                shapes += [(pool, shape)]
                shape = pool.compute_output_shape(shape)
                self.convs.append(pool)
        self.feature_shape = tuple(shape)  # (H', W', K)
        Hf, Wf, K = self.feature_shape
        self.memory_size = K + 2 * self.coords
        z = Hf * Wf * K if self.init_state == "flatten" else K
        self.bridges = _bridges(units, state_names, num_layers, kw)
        shapes += [(b, (z,)) for row in self.bridges for b in row]
        self.layers = [layer for layer, _ in shapes]
        return shapes

    @property
    def positions(self) -> int:
        """S = H′·W′, the memory slots."""
        return self.feature_shape[0] * self.feature_shape[1]

    def coordinates(self, dtype) -> np.ndarray:
        """(S, 2): slot p = i·W′ + j at (row, column) = (−1 + 2i/(H′−1), −1 + 2j/(W′−1)) (0 for a size-1 axis)."""
        Hf, Wf, _ = self.feature_shape
        r = np.linspace(-1.0, 1.0, Hf) if Hf > 1 else np.zeros(1)
        c = np.linspace(-1.0, 1.0, Wf) if Wf > 1 else np.zeros(1)
        rr, cc = np.meshgrid(r, c, indexing="ij")
        return np.stack([rr.ravel(), cc.ravel()], axis=1).astype(dtype)

    def forward(self, x, training: bool = False):
        h, caches = x, []
        for layer in self.convs:
            h, c = layer.forward(h, training=training)
            caches.append(c)
        B, (Hf, Wf, K) = len(h), self.feature_shape
        slots = h.reshape(B, Hf * Wf, K)  # (B, S, K), p = i·W' + j
        memory = slots
        if self.coords:
            xy = np.broadcast_to(self.coordinates(h.dtype), (B, Hf * Wf, 2))
            memory = np.concatenate([slots, xy], axis=-1)  # (B, S, K + 2)
        z = h.reshape(B, -1) if self.init_state == "flatten" else slots.mean(axis=1)
        states, bcaches = _bridge_forward(self.bridges, z)
        return Encoded(memory, None, states), (caches, bcaches, h.shape)

    def backward(self, d_memory, d_states, cache) -> None:
        caches, bcaches, fshape = cache
        B, (Hf, Wf, K) = fshape[0], self.feature_shape
        dz = 0.0
        for row, drow, crow in zip(self.bridges, d_states, bcaches):
            for bridge, d, c in zip(row, drow, crow):
                dz = dz + bridge.backward(d, c)
        if self.init_state == "flatten":
            dF = dz.reshape(fshape)
        else:  # z = 1/S Σ_p F_p
            dF = np.broadcast_to((dz / (Hf * Wf))[:, None, :], (B, Hf * Wf, K)).reshape(fshape)
        if d_memory is not None:
            dF = dF + d_memory[..., :K].reshape(fshape)  # the coordinates are constants
        for k in range(len(self.convs) - 1, 0, -1):
            dF = self.convs[k].backward(dF, caches[k])
        self.convs[0].backward(dF, caches[0], need_dx=False)  # the image needs no gradient
