r"""``ImageCaptioner``: image → phrase (seed 002: "Génération de légende (Image → Phrase)").

A convolutional encoder and the recurrent decoder every encoder–decoder shares
(:mod:`boucle.models.encoder_decoder`)::

    F = CNN(x)                      (B, H′, W′, K); memory slot p = (i, j): m_p = [F_p, row_i, col_j]
    s_0 = g(z V + b), z = vec(F)    "Show and tell" (Vinyals et al. 2015): the image sets the initial state
    (h_t, s_t) = LSTM(E[y_{t−1}], s_{t−1});  P(y_t | y_<t, x) = softmax(h_t V + b_V)
    with attention: α_tp = softmax_p score(h_t, m_p), c_t = Σ_p α_tp m_p, h̃_t = tanh([c_t, h_t] W_c + b_c),
    P = softmax(h̃_t V + b_V)       "Show, attend and tell" (Xu et al. 2015), soft attention over H′·W′ slots

(the encoder's equations: :class:`~boucle.models.encoders.ImageEncoder`). Captions are
words of a :class:`~boucle.data.vocab.Vocabulary` (``Vocabulary.words``: lower-casing,
punctuation, ``<unk>``, minimum count) with ``<start>``/``<end>``/``<pad>`` handled as in
``Seq2Seq`` (:func:`~boucle.data.padding.teacher_forcing`). An image may have several
captions: each epoch pairs every image with one of them, drawn from the model's generator,
in batches of similar caption lengths. Training goes through the one engine; greedy and
beam search (with the length penalty) are :mod:`boucle.models.decoding`'s;
:meth:`ImageCaptioner.attention_maps` returns each word's attention over the image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import backend
from ..data.padding import bucket_batches
from ..errors import BoucleError
from ..ops import attention as attn_ops
from ..text_metrics import bleu_scores, exact_match
from ..training import History, fit
from ..validators import boolean, one_of, positive_int, probability, rate, real
from .base import register_model
from .decoder import Decoder
from .decoding import Guided, _check, decode_ids, greedy_decode
from .encoder_decoder import EncoderDecoder, check_choice, check_vocab
from .encoders import CELLS, ImageEncoder

__all__ = ["ImageCaptioner", "CaptionAttention"]

#: the most convolutional blocks (each halves the feature map).
MAX_BLOCKS = 8


class CaptionAttention(NamedTuple):
    """One image's greedy caption and where each word looked."""

    caption: str
    words: list[str]  #: the caption's tokens, then "<end>"
    alpha: np.ndarray  #: (len(words), H′, W′): word t's attention over the feature map (rows sum to 1)


def _positive_ints(value: Any, name: str, lengths: range, want: str) -> tuple[int, ...]:
    """A list or tuple of positive ints whose length is in ``lengths``; else one line naming ``name``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or len(value) not in lengths:
        raise BoucleError(f"{name}: expected {want}, got {value!r}")
    return tuple(positive_int(v, f"{name}[{i}]") for i, v in enumerate(value))


@register_model
class ImageCaptioner(EncoderDecoder):
    """A convolutional encoder + the shared recurrent decoder (see the module docstring).

    Args:
        vocab: the caption :class:`~boucle.data.vocab.Vocabulary` (with the special tokens) or its config.
        image_shape: (H, W, C) of the images.
        filters: one block Conv2D(f, ``kernel_size``, relu, same) → MaxPooling2D(pool) per entry.
        pools: each block's pooling size (default 2 for every block; 1: no pooling — a block that
            widens what each memory slot sees without shrinking the map).
        units, embed_dim, cell, num_layers: the decoder (as ``Seq2Seq``'s).
        attention: None (show and tell) or ``"dot"``, ``"general"``, ``"additive"`` (show, attend and tell).
        input_feeding: feed the previous attentional vector to the decoder (:mod:`boucle.models.decoder`).
        coords: give each memory slot its row and column; init_state: ``"flatten"`` or ``"mean"``
            (:class:`~boucle.models.encoders.ImageEncoder`).
        max_target_len: the decoding limit (set by :meth:`fit` from the longest caption when None).
    """

    def __init__(
        self,
        vocab: Any,
        image_shape: Any,
        *,
        filters: Any = (16, 32, 64),
        pools: Any = None,
        kernel_size: int = 3,
        units: int = 128,
        embed_dim: int = 32,
        cell: str = "lstm",
        num_layers: int = 1,
        attention: str | None = None,
        attention_units: int | None = None,
        input_feeding: bool = False,
        coords: bool = True,
        init_state: str = "flatten",
        max_target_len: int | None = None,
        name: str = "captioner",
        seed: int | None = None,
        dtype: Any = None,
    ):
        self.vocab, self.vocab_size = check_vocab(vocab, "vocab")
        if self.vocab is None:
            raise BoucleError(
                f"vocab: expected a Vocabulary with the special tokens (captions are text), got {vocab!r}"
            )
        self.image_shape = _positive_ints(image_shape, "image_shape", range(3, 4), "(height, width, channels)")
        self.filters = _positive_ints(
            filters, "filters", range(1, MAX_BLOCKS + 1), f"1 to {MAX_BLOCKS} filter counts (one per block)"
        )
        n = len(self.filters)
        self.pools = _positive_ints(
            (2,) * n if pools is None else pools,
            "pools",
            range(n, n + 1),
            f"{n} pooling sizes (one per block of filters)",
        )
        self.kernel_size = positive_int(kernel_size, "kernel_size")
        self.units = positive_int(units, "units")
        self.embed_dim = positive_int(embed_dim, "embed_dim")
        self.cell = check_choice(cell, tuple(CELLS), "cell")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.attention = check_choice(attention, (None,) + attn_ops.SCORES, "attention")
        self.attention_units = positive_int(attention_units, "attention_units", optional=True)
        self.input_feeding = boolean(input_feeding, "input_feeding")
        self.coords = boolean(coords, "coords")
        self.init_state = check_choice(init_state, ("flatten", "mean"), "init_state")
        self.max_target_len = positive_int(max_target_len, "max_target_len", optional=True)
        self.name, self.seed = name, seed
        self._dtype_arg = None if dtype is None else backend.resolve_dtype(dtype).name
        kw = {} if self._dtype_arg is None else {"dtype": self._dtype_arg}
        encoder = ImageEncoder(
            self.image_shape, self.filters, self.kernel_size, self.coords, self.init_state, kw, pools=self.pools
        )
        decoder = Decoder(
            self.vocab_size,
            self.units,
            self.embed_dim,
            self.cell,
            self.num_layers,
            self.attention,
            self.attention_units,
            kw,
            input_feeding=self.input_feeding,
        )
        self._assemble(encoder, decoder, seed)

    # -- configuration -------------------------------------------------------------------------
    def get_config(self) -> dict:
        cfg = {
            "name": self.name,
            "seed": self.seed,
            "vocab": self.vocab.get_config(),
            "image_shape": list(self.image_shape),
            "filters": list(self.filters),
            "pools": list(self.pools),
            "kernel_size": self.kernel_size,
            "units": self.units,
            "embed_dim": self.embed_dim,
            "cell": self.cell,
            "num_layers": self.num_layers,
            "attention": self.attention,
            "attention_units": self.attention_units,
            "input_feeding": self.input_feeding,
            "coords": self.coords,
            "init_state": self.init_state,
            "max_target_len": self.max_target_len,
        }
        if self._dtype_arg is not None:
            cfg["dtype"] = self._dtype_arg
        return cfg

    def _summary_title(self) -> str:
        fh, fw, k = self.encoder.feature_shape
        return (
            f'ImageCaptioner "{self.name}": images {"x".join(map(str, self.image_shape))} -> {fh}x{fw} slots '
            f"of {k} features; {self.cell} x{self.num_layers}, units {self.units}, attention {self.attention}"
        )

    # -- data ----------------------------------------------------------------------------------
    def images(self, x: Any, name: str = "images") -> np.ndarray:
        """Images (N, H, W, C) — float in [0, 1] or uint8 (divided by 255) — checked against ``image_shape``."""
        a = np.asarray(x)
        H, W, C = self.image_shape
        if a.ndim != 4 or a.shape[0] == 0:
            raise BoucleError(f"{name}: expected images of shape (N, {H}, {W}, {C}), got shape {a.shape}")
        if a.shape[1:3] != (H, W):
            raise BoucleError(
                f"{name}: expected images of {H}x{W} pixels (the model's image_shape), got {a.shape[1]}x{a.shape[2]}"
            )
        if a.shape[3] != C:
            raise BoucleError(f"{name}: expected {C} channel{'s' * (C != 1)} per pixel, got {a.shape[3]}")
        if a.dtype == np.uint8:
            return a.astype(self.dtype) / self.dtype.type(255.0)
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise BoucleError(f"{name}: expected real-valued images, got dtype {a.dtype}")
        a = a.astype(self.dtype, copy=False)
        if not np.isfinite(a).all():
            raise BoucleError(f"{name}: expected finite pixel values, got NaN or Inf")
        return a

    inputs = images

    def caption_ids(self, captions: Any, n: int, name: str = "captions") -> list[list[np.ndarray]]:
        """Captions of ``n`` images — one string each, or a non-empty list of strings each — as lists of id
        arrays (words outside the vocabulary become ``<unk>``)."""
        if isinstance(captions, str) or not isinstance(captions, (list, tuple)):
            raise BoucleError(f"{name}: expected a list with the captions of each image, got {type(captions).__name__}")
        if len(captions) != n:
            raise BoucleError(f"{name}: expected the captions of {n} images, got {len(captions)}")
        out = []
        for i, caps in enumerate(captions):
            caps = [caps] if isinstance(caps, str) else caps
            if not isinstance(caps, (list, tuple)) or not caps:
                raise BoucleError(f"{name}[{i}]: expected a caption or a non-empty list of captions, got {caps!r:.60}")
            out.append([self.vocab.encode(c, f"{name}[{i}]", unknown="unk") for c in caps])
        return out

    def references(self, captions: Any, n: int, name: str = "captions") -> list[list[list[str]]]:
        """Each image's captions as token lists (the vocabulary's tokenizer: lower-cased words and marks)."""
        self.caption_ids(captions, n, name)  # the same checks
        tok = self.vocab.tokenizer
        return [[tok.tokenize(c) for c in ([caps] if isinstance(caps, str) else caps)] for caps in captions]

    @staticmethod
    def _pad(rows: list[np.ndarray]) -> np.ndarray:
        y = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
        for i, r in enumerate(rows):
            y[i, : len(r)] = r
        return y

    # -- training -------------------------------------------------------------------------------
    def fit(
        self,
        images: Any,
        captions: Any,
        *,
        batch_size: int = 32,
        epochs: int = 1,
        verbose: int = 1,
        callbacks: list | None = None,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        scheduled_sampling: float | Callable[[int], float] = 0.0,
        word_dropout: float | Callable[[int], float] = 0.0,
        word_noise: str = "unk",
        image_dropout: float = 0.0,
        time_budget: float | None = None,
    ) -> History:
        """Train on images and their captions (one string per image, or a list of them).

        Each epoch pairs every image with one of its captions (drawn from the model's generator);
        batches hold captions of similar lengths. ``validation_data=(images, captions)`` adds
        ``val_loss``, ``val_accuracy`` and ``val_exact_match`` (greedy) to the epoch logs.
        ``word_dropout`` (a rate in [0, 1), or ``callable(epoch) -> rate``): the probability that a
        decoder input word (after START) is replaced — by ``<unk>`` (``word_noise="unk"``, Bowman et
        al. 2016) or by a word drawn from the training captions' word frequencies (``"unigram"``,
        Xie et al. 2017) — so that the next word is read from the image more than from the words
        before it. ``image_dropout`` (a rate in [0, 1)): the probability that a training image is
        replaced by the null image (all zeros), so that the decoder also learns its captions'
        language model P(y_t | y_<t, ∅) — what decoding with ``guidance=`` subtracts
        (:mod:`boucle.models.decoding`). The other arguments are ``Seq2Seq.fit``'s; training goes
        through :func:`boucle.training.fit`.
        """
        if self.optimizer is None:
            raise BoucleError("model: call compile(optimizer) before fit")
        x = self.images(images)
        ids = self.caption_ids(captions, len(x))
        batch_size = positive_int(batch_size, "batch_size")
        epochs = positive_int(epochs, "epochs")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise BoucleError("validation_data: expected (images, captions)")
            x_val = self.images(validation_data[0], "validation images")
            self.caption_ids(validation_data[1], len(x_val), "validation captions")
        one_of(word_noise, ("unk", "unigram"), "word_noise")
        image_dropout = rate(image_dropout, "image_dropout")
        unigram = None
        if word_noise == "unigram":  # the training captions' word frequencies
            counts = np.bincount(np.concatenate([r for caps in ids for r in caps]), minlength=self.vocab_size)
            unigram = counts / counts.sum()
        longest = max(len(r) for caps in ids for r in caps)
        self.max_target_len = max(self.max_target_len or 0, longest)

        def epoch_batches(epoch: int) -> list:
            p = scheduled_sampling(epoch) if callable(scheduled_sampling) else scheduled_sampling
            p = probability(p, f"scheduled_sampling at epoch {epoch}")
            q = word_dropout(epoch) if callable(word_dropout) else word_dropout
            q = rate(q, f"word_dropout at epoch {epoch}")
            pick = [caps[int(self.rng.integers(len(caps)))] if len(caps) > 1 else caps[0] for caps in ids]
            lengths = np.array([len(r) for r in pick])
            order = bucket_batches(lengths, batch_size, self.rng, shuffle=shuffle, bucket_width=2)
            return [
                (self._null_some(x[idx], image_dropout), self._pad([pick[i] for i in idx]), p, q, unigram)
                for idx in order
            ]

        def validate() -> dict:
            return self.evaluate(validation_data[0], validation_data[1], bleu=False)

        return fit(
            self,
            epoch_batches,
            epochs=epochs,
            time_budget=time_budget,
            callbacks=callbacks,
            verbose=verbose,
            validate=None if validation_data is None else validate,
        )

    def _null_some(self, xb: np.ndarray, rate_: float) -> np.ndarray:
        """The batch ``xb`` (a copy) with each image replaced, with probability ``rate_``, by the null image."""
        if rate_ > 0:
            xb[self.rng.random(len(xb)) < rate_] = 0.0
        return xb

    def _decoder_for(self, guidance: Any) -> Any:
        """This model, or it guided against the null image (:class:`~boucle.models.decoding.Guided`)."""
        w = real(guidance, "guidance", low=0.0, low_open=False, want="a finite float >= 0")
        return self if w == 0 else Guided(self, w, np.zeros((1, *self.image_shape), dtype=self.dtype))

    # -- evaluation and decoding -------------------------------------------------------------------
    def evaluate(
        self,
        images: Any,
        captions: Any,
        *,
        batch_size: int = 128,
        beam_width: int = 1,
        max_len: int | None = None,
        length_penalty: float = 1.0,
        guidance: float = 0.0,
        bleu: bool = True,
    ) -> dict[str, float]:
        """``loss`` and per-token ``accuracy`` (teacher forced, over every (image, caption) pair),
        ``exact_match`` (the decoded caption equals one of the image's captions, token for token) and,
        with ``bleu``, corpus ``bleu_1``..``bleu_4`` of the decoded captions against all of them;
        ``guidance``: as in :meth:`caption`."""
        x = self.images(images)
        ids = self.caption_ids(captions, len(x))
        refs = self.references(captions, len(x))
        batch_size = positive_int(batch_size, "batch_size")
        longest = max(self.max_target_len or 0, max(len(r) for caps in ids for r in caps))
        K, max_len, alpha = _check(beam_width, max_len if max_len is not None else longest, length_penalty, self)
        decoder = self._decoder_for(guidance)
        loss = correct = tokens = 0.0
        for s in range(0, len(x), batch_size):
            rows = [(i, r) for i in range(s, min(s + batch_size, len(x))) for r in ids[i]]
            xb = x[[i for i, _ in rows]]
            l, c, n = self.teacher_forced_sums(xb, self._pad([r for _, r in rows]))
            loss, correct, tokens = loss + l, correct + c, tokens + n
        hyps = [self.vocab.ids_to_tokens(o) for o in decode_ids(decoder, x, K, max_len, alpha, batch_size)]
        logs = {"loss": loss / tokens, "accuracy": correct / tokens, "exact_match": exact_match(hyps, refs)}
        if bleu:
            logs.update(bleu_scores(hyps, refs))
        return logs

    def caption(
        self,
        images: Any,
        *,
        beam_width: int = 1,
        max_len: int | None = None,
        length_penalty: float = 1.0,
        guidance: float = 0.0,
        batch_size: int = 128,
    ) -> str | list[str]:
        """The caption of each image (greedy, or beam search with ``beam_width`` > 1): a string for one
        image (H, W, C), else a list. ``guidance`` w > 0: each step's log-probabilities are
        (1 + w) log P(· | image) − w log P(· | null image), renormalised (for a model trained with
        ``fit(image_dropout=)``; :mod:`boucle.models.decoding`)."""
        single = np.ndim(images) == 3
        x = self.images(np.asarray(images)[None] if single else images)
        K, max_len, alpha = _check(beam_width, max_len, length_penalty, self)
        decoder = self._decoder_for(guidance)
        batch_size = positive_int(batch_size, "batch_size")
        out = [self.vocab.decode(o) for o in decode_ids(decoder, x, K, max_len, alpha, batch_size)]
        return out[0] if single else out

    def attention_maps(self, images: Any, *, max_len: int | None = None) -> list[CaptionAttention]:
        """Greedy captions and, for each word (and ``<end>``), its attention weights over the
        H′ × W′ feature map (each map sums to 1). Needs a model built with ``attention=``."""
        if self.attn is None:
            raise BoucleError("model: attention_maps needs a model built with attention=, got attention=None")
        x = self.images(np.asarray(images)[None] if np.ndim(images) == 3 else images)
        _, max_len, _ = _check(1, max_len, 0.0, self)
        Hf, Wf, _ = self.encoder.feature_shape
        out = []
        for s in range(0, len(x), 128):
            ids, _, att = greedy_decode(self, x[s : s + 128], max_len)
            for row, a in zip(ids, att):
                words = self.vocab.ids_to_tokens(row) + (["<end>"] if len(row) < len(a) else [])  # no END: cut
                out.append(CaptionAttention(self.vocab.decode(row), words, a[: len(words)].reshape(len(words), Hf, Wf)))
        return out
