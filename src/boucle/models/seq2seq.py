r"""``Seq2Seq``: encoder–decoder for many-to-many with T_x ≠ T_y (seed 000; seed 004 "SEQ2SEQ").

Seed 004: "applique le principe encoder/decoder aux LSTM" — an LSTM encoder reads
the source, an LSTM decoder initialised with its final state writes the target
(Sutskever, Vinyals & Le 2014; Cho et al. 2014). With x the source ids, y the
target ids, y_0 = START and y_{T_y+1} = END::

    encoder   e_s = Embed_src(x_s);   (o_s, s_s) = RNN_enc(e_s, s_{s-1}),  s = 1..T_x   (stacked, masked)
    bridge    s_0^dec = s_{T_x}  (per layer; bidirectional: see ``merge``)
    decoder   (h_t, s_t) = RNN_dec(Embed_tgt(y_{t-1}), s_{t-1}),  t = 1..T_y + 1        (teacher forcing)
    attention c_t = Σ_s α_ts o_s  (boucle.ops.attention),  h̃_t = tanh([c_t, h_t] W_c + b_c)
    output    P(y_t | y_<t, x) = softmax(h̃_t V + b_V)   (h_t instead of h̃_t without attention)
    loss      J = mean over the valid target steps of −log P(y_t | y_<t, x)  (target padding masked)

Both recurrent stacks are ordinary boucle layers (LSTM / GRU / SimpleRNN, or
Bidirectional for the encoder), so every recurrence runs in the ONE time loop
:func:`boucle.ops.scan.forward` — the decoder with ``initial_state=`` — and BPTT
carries the decoder's initial-state gradient back into the encoder. The source
mask is ``x != PAD`` on the encoder and in the attention softmax; the target mask
covers y_1..y_T and END. Attention is Luong et al. 2015's global attention on the
decoder outputs (score ``dot``, ``general`` or Bahdanau's ``additive``), without
input feeding, so that the decoder stays one scan.

Bidirectional encoder (Schuster & Paliwal 1997, seed 000's BRNN): the outputs are
[o→_s, o←_s] (2H); the final states of layer l are merged into decoder layer l's
initial state by ``merge="concat"`` — h_0 = tanh([h→, h←] V_h + b_h), c_0 = [c→, c←] V_c + b_c
(LSTM; a ``Dense`` bridge per layer and state) — or ``merge="sum"`` — h_0 = h→ + h←, c_0 = c→ + c←.

Scheduled sampling (Bengio et al. 2015), in its two-pass form (Mihaylova & Martins
2019) so that the decoder stays one scan: a first teacher-forced pass predicts
ŷ_t = argmax P(y_t | y_<t, x); each decoder input y_{t-1} (t ≥ 2) is replaced by
ŷ_{t-1} with probability p, and the gradient step is taken on the second pass.

The sequence autoencoder (seed 003's autoencoder, for sequences; Dai & Le 2015)
is ``Seq2Seq.autoencoder(vocab)`` and ``fit(x)``: the target is the source.

The encoder is :class:`~boucle.models.encoders.SequenceEncoder`; the decoder
(:mod:`boucle.models.decoder`), the loss, scheduled sampling and the engine's protocol
(:mod:`boucle.models.encoder_decoder`) and decoding (greedy, beam search:
:mod:`boucle.models.decoding`) are shared with every encoder–decoder (the image captioner's
too). This module says what a Seq2Seq's inputs are, how its pairs are batched, and its file format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..data.padding import bucket_batches, trim_padding
from ..data.vocab import PAD, token_ids
from ..errors import BoucleError
from ..ops import attention as attn_ops
from ..training import History, fit
from ..validators import positive_int, probability
from .base import register_model
from .decoder import Decoder
from .encoder_decoder import EncoderDecoder, check_choice, check_vocab
from .encoders import CELLS, SequenceEncoder

__all__ = ["Seq2Seq", "CELLS"]


@register_model
class Seq2Seq(EncoderDecoder):
    """Encoder–decoder with optional attention (see the module docstring for the equations).

    The encoder is a :class:`~boucle.models.encoders.SequenceEncoder`; the decoder, the loss,
    training and decoding are those of every encoder–decoder
    (:class:`~boucle.models.encoder_decoder.EncoderDecoder`).

    Args:
        source_vocab, target_vocab: :class:`~boucle.data.vocab.Vocabulary` with the special tokens (texts can
            then be passed directly, and decoded) or vocabulary sizes (ids, PAD = 0,
            START = 1, END = 2). ``target_vocab=None``: the source vocabulary.
        units: H of every recurrent layer (encoder and decoder).
        embed_dim: size of both embeddings.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``; num_layers: depth of both stacks
            (decoder layer l starts from encoder layer l's final state).
        bidirectional, merge: bidirectional encoder, its states merged by ``"concat"`` or ``"sum"``.
        attention: None, ``"dot"``, ``"general"`` or ``"additive"``; attention_units: A (additive).
        max_source_len, max_target_len: the longest source accepted and the decoding
            limit (set from the training data by :meth:`fit` when None).
        seed: seeds the model's one Generator (weights, shuffling, scheduled sampling).
        dtype: ``"float32"`` (default) or ``"float64"``.
    """

    def __init__(
        self,
        source_vocab: Any,
        target_vocab: Any = None,
        *,
        units: int = 128,
        embed_dim: int = 32,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        merge: str = "concat",
        attention: str | None = None,
        attention_units: int | None = None,
        max_source_len: int | None = None,
        max_target_len: int | None = None,
        name: str = "seq2seq",
        seed: int | None = None,
        dtype: Any = None,
    ):
        self.source_vocab, self.source_size = check_vocab(source_vocab, "source_vocab")
        self.target_vocab, self.target_size = check_vocab(
            source_vocab if target_vocab is None else target_vocab, "target_vocab"
        )
        self.units = positive_int(units, "units")
        self.embed_dim = positive_int(embed_dim, "embed_dim")
        self.cell = check_choice(cell, tuple(CELLS), "cell")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.bidirectional = bool(bidirectional)
        self.merge = check_choice(merge, ("concat", "sum"), "merge")
        self.attention = check_choice(attention, (None,) + attn_ops.SCORES, "attention")
        self.attention_units = None if attention_units is None else positive_int(attention_units, "attention_units")
        self.max_source_len = None if max_source_len is None else positive_int(max_source_len, "max_source_len")
        self.max_target_len = None if max_target_len is None else positive_int(max_target_len, "max_target_len")
        self.name, self.seed = name, seed
        self._dtype_arg = None if dtype is None else backend.resolve_dtype(dtype).name
        kw = {} if self._dtype_arg is None else {"dtype": self._dtype_arg}
        encoder = SequenceEncoder(
            self.source_size, self.units, self.embed_dim, self.cell, self.num_layers, self.bidirectional, self.merge, kw
        )
        decoder = Decoder(
            self.target_size,
            self.units,
            self.embed_dim,
            self.cell,
            self.num_layers,
            self.attention,
            self.attention_units,
            kw,
        )
        self._assemble(encoder, decoder, seed)

    # -- the sequence encoder's layers, by their roles (names as in the model files) -------------
    @property
    def enc_embedding(self):
        return self.encoder.embedding

    @property
    def enc_layers(self) -> list:
        return self.encoder.rnns

    @property
    def bridges(self) -> list:
        return self.encoder.bridges

    @property
    def dec_embedding(self):
        return self.decoder.embedding

    @property
    def dec_layers(self) -> list:
        return self.decoder.rnns

    @property
    def combine(self):
        return self.decoder.combine

    # -- configuration -------------------------------------------------------------------
    def get_config(self) -> dict:
        def voc(v, n):
            return n if v is None else v.get_config()

        cfg = {
            "name": self.name,
            "seed": self.seed,
            "source_vocab": voc(self.source_vocab, self.source_size),
            "target_vocab": voc(self.target_vocab, self.target_size),
            "units": self.units,
            "embed_dim": self.embed_dim,
            "cell": self.cell,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "merge": self.merge,
            "attention": self.attention,
            "attention_units": self.attention_units,
            "max_source_len": self.max_source_len,
            "max_target_len": self.max_target_len,
        }
        if self._dtype_arg is not None:
            cfg["dtype"] = self._dtype_arg
        return cfg

    @classmethod
    def autoencoder(cls, vocab: Any, **kwargs) -> Seq2Seq:
        """A sequence autoencoder: the same vocabulary on both sides; ``fit(x)`` reconstructs x."""
        return cls(vocab, vocab, **kwargs)

    # -- data ----------------------------------------------------------------------------
    def source_ids(
        self, x: Any, *, unknown: str = "error", too_long: str = "error", name: str = "x", limit: bool = True
    ) -> np.ndarray:
        """Source texts (with a character vocabulary) or padded ids → (N, T_x) int64 ids, checked (and, with
        ``limit``, no longer than ``max_source_len``: the inference policy; training data is not limited)."""
        return token_ids(
            x, self.source_vocab, self.source_size, name, unknown, too_long, self.max_source_len if limit else None
        )

    def target_ids(self, y: Any, name: str = "y") -> np.ndarray:
        return token_ids(y, self.target_vocab, self.target_size, name)

    def inputs(self, x: Any, name: str = "x") -> np.ndarray:
        """Source texts or ids, checked for decoding (:meth:`source_ids`)."""
        return self.source_ids(x, name=name)

    def _pairs(self, x, y, name_x: str = "x", name_y: str = "y") -> tuple[np.ndarray, np.ndarray]:
        xi = self.source_ids(x, name=name_x, limit=False)
        yi = (
            xi
            if y is None and self.target_vocab == self.source_vocab and self.target_size == self.source_size
            else (None if y is None else self.target_ids(y, name=name_y))
        )
        if yi is None:
            raise BoucleError(
                f"{name_y}: expected targets (only a same-vocabulary autoencoder may omit them), got None"
            )
        if len(yi) != len(xi):
            raise BoucleError(f"{name_y}: expected {len(xi)} targets to match {name_x}, got {len(yi)}")
        return xi, yi

    def fit(
        self,
        x: Any,
        y: Any = None,
        *,
        batch_size: int = 64,
        epochs: int = 1,
        verbose: int = 1,
        callbacks: list | None = None,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        scheduled_sampling: float | Callable[[int], float] = 0.0,
        time_budget: float | None = None,
    ) -> History:
        """Train with teacher forcing on (source, target) pairs, in length-bucketed mini-batches.

        Args:
            x, y: lists of strings (with character vocabularies) or right-padded (N, T) ids; ``y=None``
                for an autoencoder (target = source).
            validation_data: ``(x_val, y_val)``: ``val_loss``, ``val_accuracy`` (per token,
                teacher forced) and ``val_exact_match`` (greedy decoding) each epoch.
            scheduled_sampling: p in [0, 1], or ``callable(epoch) -> p``.
            time_budget: stop training after this many seconds (the epoch in progress ends there,
                with its validation).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.

        Returns:
            the :class:`~boucle.training.History` of the run (training goes through the
            one engine, :func:`boucle.training.fit`: callbacks, divergence policy).
        """
        if self.optimizer is None:
            raise BoucleError("model: call compile(optimizer) before fit")
        xi, yi = self._pairs(x, y)
        batch_size = positive_int(batch_size, "batch_size")
        epochs = positive_int(epochs, "epochs")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise BoucleError("validation_data: expected (x_val, y_val)")
            validation_data = self._pairs(*validation_data, name_x="x_val", name_y="y_val")
        self.max_source_len = max(self.max_source_len or 0, int((xi != PAD).sum(1).max()))
        self.max_target_len = max(self.max_target_len or 0, int((yi != PAD).sum(1).max()))
        lengths = (xi != PAD).sum(axis=1)

        def epoch_batches(epoch: int) -> list:
            p = scheduled_sampling(epoch) if callable(scheduled_sampling) else scheduled_sampling
            p = probability(p, f"scheduled_sampling at epoch {epoch}")
            order = bucket_batches(lengths, batch_size, self.rng, shuffle=shuffle, bucket_width=2)
            return [(trim_padding(xi[idx]), yi[idx], p) for idx in order]

        def validate() -> dict:
            return self.evaluate(*validation_data)

        return fit(
            self,
            epoch_batches,
            epochs=epochs,
            time_budget=time_budget,
            callbacks=callbacks,
            verbose=verbose,
            validate=None if validation_data is None else validate,
        )

    def evaluate(
        self,
        x: Any,
        y: Any = None,
        *,
        batch_size: int = 256,
        exact_match: bool = True,
        beam_width: int = 1,
        length_penalty: float = 1.0,
    ) -> dict[str, float]:
        """``loss`` and per-token ``accuracy`` (teacher forced) and, with ``exact_match``, the
        fraction of sequences decoded exactly (greedy, or beam search when ``beam_width`` > 1)."""
        from .decoding import _check, decode_ids

        xi, yi = self._pairs(x, y)
        batch_size = positive_int(batch_size, "batch_size")
        longest = max(self.max_target_len or 0, int((yi != PAD).sum(1).max()))
        K, max_len, alpha = _check(beam_width, longest, length_penalty, self)
        loss = correct = tokens = hits = 0.0
        for s in range(0, len(xi), batch_size):
            xb, yb = xi[s : s + batch_size], yi[s : s + batch_size]
            dec_in, target, mask = self.teacher_forcing(yb)
            logits, _, _ = self.forward(xb, dec_in, mask)
            n = mask.sum()
            loss += self.loss(target, logits, mask) * n
            correct += ((logits.argmax(-1) == target) & mask).sum()
            tokens += n
            if exact_match:
                out = decode_ids(self, xb, K, max_len, alpha)
                hits += sum(list(o) == list(r[r != PAD]) for o, r in zip(out, yb))
        logs = {"loss": float(loss / tokens), "accuracy": float(correct / tokens)}
        if exact_match:
            logs["exact_match"] = float(hits / len(xi))
        return logs

    def translate(self, texts: Any, **kwargs) -> str | list[str]:
        """Decode source texts to target texts (see :func:`boucle.models.decoding.translate`)."""
        from .decoding import translate

        return translate(self, texts, **kwargs)

    def _summary_title(self) -> str:
        return (
            f'Seq2Seq "{self.name}": {self.cell} x{self.num_layers}, units {self.units}, '
            f"{'bidirectional ' + self.merge if self.bidirectional else 'unidirectional'} encoder, "
            f"attention {self.attention}"
        )
