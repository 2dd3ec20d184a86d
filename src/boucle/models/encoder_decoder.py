r"""What every encoder–decoder shares: an :class:`~boucle.models.encoders.Encoder`, the one
:class:`~boucle.models.decoder.Decoder`, the loss, and the engine's model protocol.

    (memory, mask, s_0) = Encoder(x)                     any input: token ids, images
    logits = Decoder([START, y_1..y_L], s_0, memory)     teacher forcing
    J = mean over the valid target steps of −log P(y_t | y_<t, x)   (y_{L+1} = END; padding masked)

BPTT runs from the logits through the decoder into the memory and the initial states,
then through the encoder. Scheduled sampling (Bengio et al. 2015) takes its two-pass form
(Mihaylova & Martins 2019) so that the decoder stays one scan: a teacher-forced pass
predicts ŷ_t; each decoder input y_{t−1} (t ≥ 2) is replaced by ŷ_{t−1} with probability p,
and the gradient step is taken on the second pass. Training batches are ``(x, y, p)``
(inputs, right-padded target ids, the sampling probability) and go through the one engine
(:func:`boucle.training.fit`); decoding is :mod:`boucle.models.decoding`.

Subclasses (``Seq2Seq``, ``ImageCaptioner``) build ``self.encoder`` and ``self.decoder``
with :meth:`EncoderDecoder._assemble`, and say what their inputs are (:meth:`inputs`),
how they are batched (``fit``) and how they are saved (``get_config``).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .. import backend
from .. import optimizers as optimizers_mod
from ..data.padding import teacher_forcing
from ..data.vocab import END, UNK, Vocabulary
from ..errors import BoucleError
from ..layers.base import Layer
from ..losses import SparseCategoricalCrossentropy
from ..training import Forward, History
from .base import LayerContainer
from .decoder import Decoder
from .encoders import Encoder

__all__ = ["EncoderDecoder", "check_vocab", "check_choice"]


def check_vocab(v: Any, name: str) -> tuple[Vocabulary | None, int]:
    """A vocabulary with the special tokens (or its config), or a vocabulary size → (vocab or None, size)."""
    if isinstance(v, dict):
        v = Vocabulary.from_config(v, default_specials=True)
    if isinstance(v, Vocabulary):
        if not v.specials:
            raise BoucleError(
                f"{name}: expected a Vocabulary with the special tokens PAD, START, END, UNK "
                f"(Vocabulary(chars, specials=True)), got {v!r}"
            )
        return v, len(v)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > END + 1:
        return None, int(v)
    raise BoucleError(f"{name}: expected a Vocabulary or a vocabulary size > {END + 1}, got {v!r}")


def check_choice(value: Any, allowed: tuple, name: str) -> Any:
    if value not in allowed:
        raise BoucleError(f"{name}: expected one of {list(allowed)}, got {value!r}")
    return value


class EncoderDecoder(LayerContainer):
    """An encoder, the shared decoder, the masked cross-entropy, and the engine's protocol."""

    encoder: Encoder
    decoder: Decoder
    max_target_len: int | None

    def _assemble(self, encoder: Encoder, decoder: Decoder, seed: Any) -> None:
        """Build the encoder's layers, then the decoder's, from one seeded generator (in that order)."""
        self.rng = backend.make_rng(seed)
        self.optimizer = None
        self.loss = SparseCategoricalCrossentropy(from_logits=True)
        self.metrics: list = []
        self.stop_training = False
        self.history: History | None = None
        self.step = 0  #: optimizer steps applied over the model's life
        self.encoder, self.decoder = encoder, decoder
        shapes = encoder.shapes(decoder.units, decoder.state_names, decoder.num_layers)
        shapes += decoder.shapes(encoder.memory_size)
        for layer, shape in shapes:
            layer.build(shape, self.rng)
        self.layers: list[Layer] = [layer for layer, _ in shapes]
        self.built = True

    # -- the decoder's layers, by their roles ---------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self.decoder.output.dtype

    @property
    def output(self) -> Layer:
        return self.decoder.output

    @property
    def attn(self) -> Layer | None:
        return self.decoder.attn

    @property
    def n_states(self) -> int:
        return self.decoder.n_states

    @classmethod
    def from_config(cls, config: dict) -> EncoderDecoder:
        """Rebuild from ``get_config()``: the keys are the constructor's arguments, any other is refused."""
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise BoucleError(f"config: expected keys among {sorted(known)}, got unknown {unknown}")
        return cls(**dict(config))

    # -- compiling ------------------------------------------------------------------------------
    def compile(self, optimizer: Any = "adam") -> None:
        """Choose the optimizer (name, instance or config); the loss is the masked cross-entropy."""
        self.optimizer = optimizers_mod.get(optimizer)

    def compile_config(self) -> dict | None:
        return None if self.optimizer is None else {"optimizer": self.optimizer.get_config()}

    def compile_from_config(self, cfg: dict) -> None:
        self.compile(cfg["optimizer"])

    #: right-padded targets -> (decoder inputs, targets, mask); see :func:`boucle.data.padding.teacher_forcing`.
    teacher_forcing = staticmethod(teacher_forcing)

    # -- inputs ---------------------------------------------------------------------------------
    def inputs(self, x: Any, name: str = "x") -> np.ndarray:
        """Checked encoder inputs for decoding (token ids, images, ...)."""
        raise NotImplementedError

    def prepare(self, x):
        """A batch of checked inputs as the encoder wants it."""
        return self.encoder.prepare(x)

    # -- computation ----------------------------------------------------------------------------
    def encode(self, x, training: bool = False) -> tuple[np.ndarray, np.ndarray | None, list, Any]:
        """Run the encoder: ``(memory (B, S, H_e), mask (B, S) or None, decoder initial states, cache)``."""
        enc, cache = self.encoder.forward(x, training)
        return enc.memory, enc.mask, enc.states, cache

    def run_decoder(self, dec_in, states: list, memory, mem_mask, tgt_mask=None, training: bool = False):
        """The decoder from ``states``: ``(logits (B, T, V), alpha (B, T, S) or None, new states, cache)``."""
        return self.decoder.forward(dec_in, states, memory, mem_mask, tgt_mask, training)

    def forward(self, x, dec_in, tgt_mask=None, training: bool = False):
        """Teacher-forced pass: ``(logits, alpha, cache)`` for :meth:`backward`."""
        memory, mem_mask, init, enc_cache = self.encode(x, training)
        logits, alpha, _, dec_cache = self.run_decoder(dec_in, init, memory, mem_mask, tgt_mask, training)
        return logits, alpha, (enc_cache, dec_cache)

    def backward(self, dlogits, cache) -> None:
        """BPTT through the decoder, then the encoder; accumulates into every layer's ``grads``."""
        enc_cache, dec_cache = cache
        d_memory, d_states = self.decoder.backward(dlogits, dec_cache)
        self.encoder.backward(d_memory, d_states, enc_cache)

    def decode_step(self, tokens, states: list, memory, mem_mask):
        """One decoding step for (N,) previous tokens: ``(log P (N, V), new states, alpha (N, S) or None)``."""
        return self.decoder.step(tokens, states, memory, mem_mask)

    # -- the engine's model protocol (boucle.training.engine) ----------------------------------
    def train_forward(self, batch) -> Forward:
        """Teacher-forced loss of a batch ``(x, y, p)`` or ``(x, y, p, q, unigram)``: with p > 0 two-pass
        scheduled sampling; with q > 0 input-word noising (Xie et al. 2017): each decoder input y_{t−1},
        t ≥ 2, is replaced with probability q by UNK (``unigram`` None: "blank noising", Bowman et al.
        2016's word dropout) or by a word drawn from the probabilities ``unigram`` (V,) ("unigram noising")."""
        x, y, p_sample = batch[:3]
        q_drop, unigram = (batch[3], batch[4]) if len(batch) > 3 else (0.0, None)
        dec_in, target, tgt_mask = self.teacher_forcing(y)
        if p_sample > 0:  # two-pass scheduled sampling
            logits, _, _ = self.forward(x, dec_in, tgt_mask)
            pred = logits.argmax(axis=-1)
            swap = (self.rng.random(dec_in.shape) < p_sample) & tgt_mask
            swap[:, 0] = False
            dec_in = np.where(swap, np.roll(pred, 1, axis=1), dec_in)
        if q_drop > 0:  # input-word noising: lean on the encoder, not on the words
            drop = (self.rng.random(dec_in.shape) < q_drop) & tgt_mask
            drop[:, 0] = False
            noise = UNK if unigram is None else self.rng.choice(len(unigram), size=dec_in.shape, p=unigram)
            dec_in = np.where(drop, noise, dec_in)
        logits, _, cache = self.forward(x, dec_in, tgt_mask, training=True)
        loss, dlogits = self.loss.forward_backward(target, logits, tgt_mask)
        acc = float(((logits.argmax(-1) == target) & tgt_mask).sum() / tgt_mask.sum())
        return Forward(loss, (cache, dlogits), size=len(x), logs={"accuracy": acc})

    def train_backward(self, cache) -> None:
        fcache, dlogits = cache
        self.backward(dlogits, fcache)

    def train_commit(self, batch, cache) -> None:
        """Nothing to carry: every batch starts from the encoder."""

    def teacher_forced_sums(self, x, y) -> tuple[float, float, float]:
        """(summed loss, correct tokens, tokens) of targets ``y`` (B, T) given inputs ``x``, teacher forced."""
        dec_in, target, mask = self.teacher_forcing(y)
        logits, _, _ = self.forward(x, dec_in, mask)
        n = float(mask.sum())
        return (float(self.loss(target, logits, mask)) * n, float(((logits.argmax(-1) == target) & mask).sum()), n)

    def summary(self, print_fn=print) -> str:
        lines = [self._summary_title()] + [f"  {l.name:<16} {l.count_params():>10,}" for l in self.layers]
        lines.append(f"  {'total':<16} {self.count_params():>10,}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def _summary_title(self) -> str:
        return type(self).__name__
