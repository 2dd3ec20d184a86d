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
Decoding (greedy, beam search) is in :mod:`boucle.models.decoding`.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from .. import backend
from .. import optimizers as optimizers_mod
from ..data.padding import bucket_batches
from ..data.padding import teacher_forcing, trim_padding
from ..data.vocab import END, PAD, Vocabulary, token_ids
from ..errors import BoucleError
from ..layers.attention import Attention
from ..layers.base import Layer
from ..layers.core import Dense, Embedding
from ..layers.recurrent import GRU, LSTM, SimpleRNN
from ..layers.wrappers import Bidirectional
from ..losses import SparseCategoricalCrossentropy
from ..ops import attention as attn_ops
from ..ops.activations import log_softmax
from ..training import Forward, History, fit
from ..validators import positive_int, probability
from .base import LayerContainer, register_model

__all__ = ["Seq2Seq", "CELLS"]

#: cell name -> recurrent layer class.
CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}


def _vocab(v: Any, name: str) -> tuple[Vocabulary | None, int]:
    if isinstance(v, dict):
        v = Vocabulary.from_config(v, default_specials=True)
    if isinstance(v, Vocabulary):
        if not v.specials:
            raise BoucleError(f"{name}: expected a Vocabulary with the special tokens PAD, START, END, UNK "
                              f"(Vocabulary(chars, specials=True)), got {v!r}")
        return v, len(v)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > END + 1:
        return None, int(v)
    raise BoucleError(f"{name}: expected a Vocabulary or a vocabulary size > {END + 1}, got {v!r}")


def _choice(value: Any, allowed: tuple, name: str) -> Any:
    if value not in allowed:
        raise BoucleError(f"{name}: expected one of {list(allowed)}, got {value!r}")
    return value


@register_model
class Seq2Seq(LayerContainer):
    """Encoder–decoder with optional attention (see the module docstring for the equations).

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

    def __init__(self, source_vocab: Any, target_vocab: Any = None, *, units: int = 128, embed_dim: int = 32,
                 cell: str = "lstm", num_layers: int = 1, bidirectional: bool = False, merge: str = "concat",
                 attention: str | None = None, attention_units: int | None = None,
                 max_source_len: int | None = None, max_target_len: int | None = None,
                 name: str = "seq2seq", seed: int | None = None, dtype: Any = None):
        self.source_vocab, self.source_size = _vocab(source_vocab, "source_vocab")
        self.target_vocab, self.target_size = _vocab(source_vocab if target_vocab is None else target_vocab,
                                                     "target_vocab")
        self.units = positive_int(units, "units")
        self.embed_dim = positive_int(embed_dim, "embed_dim")
        self.cell = _choice(cell, tuple(CELLS), "cell")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.bidirectional = bool(bidirectional)
        self.merge = _choice(merge, ("concat", "sum"), "merge")
        self.attention = _choice(attention, (None,) + attn_ops.SCORES, "attention")
        self.attention_units = None if attention_units is None else positive_int(attention_units,
                                                                                       "attention_units")
        self.max_source_len = None if max_source_len is None else positive_int(max_source_len, "max_source_len")
        self.max_target_len = None if max_target_len is None else positive_int(max_target_len, "max_target_len")
        self.name, self.seed = name, seed
        self._dtype_arg = None if dtype is None else backend.resolve_dtype(dtype).name
        self.rng = backend.make_rng(seed)
        self.optimizer = None
        self.loss = SparseCategoricalCrossentropy(from_logits=True)
        self.metrics: list = []
        self.stop_training = False
        self.history: History | None = None
        self.step = 0                      #: optimizer steps applied over the model's life
        self._build()

    # -- structure ----------------------------------------------------------------------
    def _build(self) -> None:
        H, E, Rnn = self.units, self.embed_dim, CELLS[self.cell]
        kw = {} if self._dtype_arg is None else {"dtype": self._dtype_arg}
        He = 2 * H if self.bidirectional else H
        self.enc_embedding = Embedding(self.source_size, E, mask_zero=True, name="enc_embedding", **kw)
        self.enc_layers, self.bridges, self.dec_layers = [], [], []
        for l in range(self.num_layers):
            rnn = Rnn(H, return_sequences=True, return_state=True, name=f"enc_rnn_{l}", **kw)
            self.enc_layers.append(Bidirectional(rnn, name=f"enc_birnn_{l}", **kw) if self.bidirectional else rnn)
            self.dec_layers.append(Rnn(H, return_sequences=True, return_state=True, name=f"dec_rnn_{l}", **kw))
        self.n_states = self.dec_layers[0].cell.n_states
        if self.bidirectional and self.merge == "concat":
            self.bridges = [[Dense(H, activation="tanh" if k == 0 else None, name=f"bridge_{s}_{l}", **kw)
                             for k, s in enumerate(self.dec_layers[0].state_names)] for l in range(self.num_layers)]
        self.dec_embedding = Embedding(self.target_size, E, name="dec_embedding", **kw)
        self.attn = self.combine = None
        if self.attention is not None:
            self.attn = Attention(self.attention, self.attention_units, name="attention", **kw)
            self.combine = Dense(H, activation="tanh", name="attn_combine", **kw)
        self.output = Dense(self.target_size, name="output", **kw)
        shapes = [(self.enc_embedding, (None,))]
        shapes += [(layer, (None, E if l == 0 else He)) for l, layer in enumerate(self.enc_layers)]
        shapes += [(b, (2 * H,)) for row in self.bridges for b in row]
        shapes += [(self.dec_embedding, (None,))]
        shapes += [(layer, (None, E if l == 0 else H)) for l, layer in enumerate(self.dec_layers)]
        if self.attn is not None:
            shapes += [(self.attn, (H, He)), (self.combine, (None, He + H))]
        shapes += [(self.output, (None, H))]
        for layer, shape in shapes:
            layer.build(shape, self.rng)
        self.layers: list[Layer] = [layer for layer, _ in shapes]
        self.built = True

    @property
    def dtype(self) -> np.dtype:
        return self.output.dtype

    # -- configuration -------------------------------------------------------------------
    def get_config(self) -> dict:
        def voc(v, n):
            return n if v is None else v.get_config()
        cfg = {"name": self.name, "seed": self.seed, "source_vocab": voc(self.source_vocab, self.source_size),
               "target_vocab": voc(self.target_vocab, self.target_size), "units": self.units,
               "embed_dim": self.embed_dim, "cell": self.cell, "num_layers": self.num_layers,
               "bidirectional": self.bidirectional, "merge": self.merge, "attention": self.attention,
               "attention_units": self.attention_units, "max_source_len": self.max_source_len,
               "max_target_len": self.max_target_len}
        if self._dtype_arg is not None:
            cfg["dtype"] = self._dtype_arg
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Seq2Seq":
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise BoucleError(f"config: expected keys among {sorted(known)}, got unknown {unknown}")
        return cls(**dict(config))

    @classmethod
    def autoencoder(cls, vocab: Any, **kwargs) -> "Seq2Seq":
        """A sequence autoencoder: the same vocabulary on both sides; ``fit(x)`` reconstructs x."""
        return cls(vocab, vocab, **kwargs)

    def compile(self, optimizer: Any = "adam") -> None:
        """Choose the optimizer (name, instance or config); the loss is the masked cross-entropy."""
        self.optimizer = optimizers_mod.get(optimizer)

    def compile_config(self) -> dict | None:
        return None if self.optimizer is None else {"optimizer": self.optimizer.get_config()}

    def compile_from_config(self, cfg: dict) -> None:
        self.compile(cfg["optimizer"])

    # -- data ----------------------------------------------------------------------------
    def source_ids(self, x: Any, *, unknown: str = "error", too_long: str = "error", name: str = "x",
                   limit: bool = True) -> np.ndarray:
        """Source texts (with a character vocabulary) or padded ids → (N, T_x) int64 ids, checked (and, with
        ``limit``, no longer than ``max_source_len``: the inference policy; training data is not limited)."""
        return token_ids(x, self.source_vocab, self.source_size, name, unknown, too_long,
                         self.max_source_len if limit else None)

    def target_ids(self, y: Any, name: str = "y") -> np.ndarray:
        return token_ids(y, self.target_vocab, self.target_size, name)

    #: right-padded targets -> (decoder inputs, targets, mask); see :func:`boucle.data.padding.teacher_forcing`.
    teacher_forcing = staticmethod(teacher_forcing)

    # -- computation ---------------------------------------------------------------------
    def encode(self, x, training: bool = False) -> tuple[np.ndarray, np.ndarray, list, tuple]:
        """Run the encoder: ``(memory (B, T_x, H_e), src_mask (B, T_x), decoder initial states, cache)``."""
        src_mask = x != PAD
        h, ce = self.enc_embedding.forward(x)
        caches, states = [ce], []
        for layer in self.enc_layers:
            out, c = layer.forward(h, mask=src_mask, training=training)
            h = out[0]
            caches.append(c)
            states.append(out[1:])
        n, init, bcaches = self.n_states, [], []
        for l, f in enumerate(states):
            if not self.bidirectional:
                init.append(list(f))
            elif self.merge == "sum":                          # s_0 = s→ + s←
                init.append([a + b for a, b in zip(f[:n], f[n:])])
            else:                                              # s_0 = g([s→, s←] V + b)
                row = [bridge.forward(np.concatenate([a, b], axis=-1)) for bridge, a, b in
                       zip(self.bridges[l], f[:n], f[n:])]
                init.append([y for y, _ in row])
                bcaches.append([c for _, c in row])
        return h, src_mask, init, (caches, bcaches)

    def run_decoder(self, dec_in, states: list, memory, src_mask, tgt_mask=None, training: bool = False):
        """Run the decoder from ``states`` (teacher forcing; T = 1 for step-by-step decoding).

        Returns ``(logits (B, T, V), alpha (B, T, T_x) or None, new states, cache)``.
        """
        h, cd = self.dec_embedding.forward(dec_in)
        caches, new = [cd], []
        for layer, s0 in zip(self.dec_layers, states):
            out, c = layer.forward(h, mask=tgt_mask, training=training, initial_state=s0)
            h = out[0]
            caches.append(c)
            new.append(list(out[1:]))
        alpha = None
        if self.attn is not None:
            (ctx, alpha), ca = self.attn.forward(h, memory, src_mask)
            h, cc = self.combine.forward(np.concatenate([ctx, h], axis=-1))
            caches += [ca, cc]
        logits, co = self.output.forward(h)
        return logits, alpha, new, caches + [co]

    def forward(self, x, dec_in, tgt_mask=None, training: bool = False):
        """Teacher-forced pass: ``(logits, alpha, cache)`` for :meth:`backward`."""
        memory, src_mask, init, enc_cache = self.encode(x, training)
        logits, alpha, _, dec_cache = self.run_decoder(dec_in, init, memory, src_mask, tgt_mask, training)
        return logits, alpha, (enc_cache, dec_cache, memory.shape[-1])

    def backward(self, dlogits, cache) -> None:
        """BPTT through decoder, bridge and encoder; accumulates into every layer's ``grads``."""
        (enc_caches, bcaches), dec_caches, He = cache
        dh = self.output.backward(dlogits, dec_caches[-1])
        dmem = None
        if self.attn is not None:
            dcat = self.combine.backward(dh, dec_caches[-2])
            dq, dmem = self.attn.backward(dcat[..., :He], dec_caches[-3])
            dh = dcat[..., He:] + dq
        n, dinit = self.n_states, [None] * self.num_layers
        for l in range(self.num_layers - 1, -1, -1):
            dh, dinit[l] = self.dec_layers[l].backward([dh] + [None] * n, dec_caches[1 + l])
        self.dec_embedding.backward(dh, dec_caches[0])
        for l in range(self.num_layers - 1, -1, -1):
            ds = list(dinit[l])
            if self.bidirectional and self.merge == "sum":
                ds = ds + ds
            elif self.bidirectional:
                parts = [b.backward(d, c) for b, d, c in zip(self.bridges[l], ds, bcaches[l])]
                H = self.units
                ds = [p[:, :H] for p in parts] + [p[:, H:] for p in parts]
            dmem = self.enc_layers[l].backward([dmem] + ds, enc_caches[1 + l])
        self.enc_embedding.backward(dmem, enc_caches[0])

    def decode_step(self, tokens, states: list, memory, src_mask):
        """One decoding step for (N,) previous tokens: ``(log P (N, V), new states, alpha (N, T_x) or None)``."""
        logits, alpha, new, _ = self.run_decoder(np.asarray(tokens, dtype=np.int64)[:, None], states, memory, src_mask)
        return log_softmax(logits[:, 0]), new, None if alpha is None else alpha[:, 0]

    # -- the engine's model protocol (boucle.training.engine) ------------------------------
    def train_forward(self, batch) -> Forward:
        """Teacher-forced loss of a batch ``(x, y, p)``; with p > 0 two-pass scheduled sampling."""
        x, y, p_sample = batch
        dec_in, target, tgt_mask = self.teacher_forcing(y)
        if p_sample > 0:                      # two-pass scheduled sampling
            logits, _, _ = self.forward(x, dec_in, tgt_mask)
            pred = logits.argmax(axis=-1)
            swap = (self.rng.random(dec_in.shape) < p_sample) & tgt_mask
            swap[:, 0] = False
            dec_in = np.where(swap, np.roll(pred, 1, axis=1), dec_in)
        logits, _, cache = self.forward(x, dec_in, tgt_mask, training=True)
        loss, dlogits = self.loss.forward_backward(target, logits, tgt_mask)
        acc = float(((logits.argmax(-1) == target) & tgt_mask).sum() / tgt_mask.sum())
        return Forward(loss, (cache, dlogits), size=len(x), logs={"accuracy": acc})

    def train_backward(self, cache) -> None:
        fcache, dlogits = cache
        self.backward(dlogits, fcache)

    def train_commit(self, batch, cache) -> None:
        """Nothing to carry: every batch starts from the encoder."""

    def _pairs(self, x, y, name_x: str = "x", name_y: str = "y") -> tuple[np.ndarray, np.ndarray]:
        xi = self.source_ids(x, name=name_x, limit=False)
        yi = xi if y is None and self.target_vocab == self.source_vocab and self.target_size == self.source_size \
            else (None if y is None else self.target_ids(y, name=name_y))
        if yi is None:
            raise BoucleError(f"{name_y}: expected targets (only a same-vocabulary autoencoder may omit them), "
                              "got None")
        if len(yi) != len(xi):
            raise BoucleError(f"{name_y}: expected {len(xi)} targets to match {name_x}, got {len(yi)}")
        return xi, yi

    def fit(self, x: Any, y: Any = None, *, batch_size: int = 64, epochs: int = 1, verbose: int = 1,
            callbacks: list | None = None, validation_data: tuple | None = None, shuffle: bool = True,
            scheduled_sampling: float | Callable[[int], float] = 0.0, time_budget: float | None = None) -> History:
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

        return fit(self, epoch_batches, epochs=epochs, time_budget=time_budget, callbacks=callbacks,
                   verbose=verbose, validate=None if validation_data is None else validate)

    def evaluate(self, x: Any, y: Any = None, *, batch_size: int = 256, exact_match: bool = True,
                 beam_width: int = 1, length_penalty: float = 1.0) -> dict[str, float]:
        """``loss`` and per-token ``accuracy`` (teacher forced) and, with ``exact_match``, the
        fraction of sequences decoded exactly (greedy, or beam search when ``beam_width`` > 1)."""
        from .decoding import _check, decode_ids
        xi, yi = self._pairs(x, y)
        batch_size = positive_int(batch_size, "batch_size")
        longest = max(self.max_target_len or 0, int((yi != PAD).sum(1).max()))
        K, max_len, alpha = _check(beam_width, longest, length_penalty, self)
        loss = correct = tokens = hits = 0.0
        for s in range(0, len(xi), batch_size):
            xb, yb = xi[s:s + batch_size], yi[s:s + batch_size]
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

    def summary(self, print_fn=print) -> str:
        lines = [f'Seq2Seq "{self.name}": {self.cell} x{self.num_layers}, units {self.units}, '
                 f'{"bidirectional " + self.merge if self.bidirectional else "unidirectional"} encoder, '
                 f'attention {self.attention}'] + [f"  {l.name:<16} {l.count_params():>10,}" for l in self.layers]
        lines.append(f"  {'total':<16} {self.count_params():>10,}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text
