"""Word-level models: a many-to-one classifier and a language model, as ``Sequential`` stacks.

Both read padded word ids (``Vocabulary.encode_batch``: ``PAD = 0``) through an
``Embedding(mask_zero=True)``, so the mask of valid words flows through the recurrent
layer and into the loss (seed 002: padding and masking). The embedding is either learned
with the task (``embedding=None``: random start) or starts from given vectors — a
:class:`~boucle.models.word2vec.Word2Vec`'s, or pretrained ones aligned with
``WordVectors.align`` — trainable or frozen (``trainable=False``). The vocabulary is
saved with the model (``Sequential(vocab=...)``). Training is ``Sequential.fit``: the one
engine, nothing of its own.

- :func:`word_classifier`: e_t = E[x_t] → LSTM → the state at the last valid word →
  softmax over the classes (many-to-one, seed 002).
- :func:`word_language_model`: the sentence-level LM p(w_t | w_<t): inputs
  [START, w_1..w_n], targets [w_1..w_n, END] (:func:`language_model_data`, the same
  teacher forcing as ``Seq2Seq``'s decoder), logits at every step, cross entropy over the
  valid steps; :func:`perplexity` = exp(mean cross entropy per predicted word).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import optimizers as optimizers_mod
from ..data.padding import teacher_forcing
from ..data.vocab import Vocabulary
from ..errors import BoucleError
from ..layers import GRU, LSTM, Dense, Embedding, SimpleRNN
from ..losses import SparseCategoricalCrossentropy
from ..validators import positive_int
from .sequential import Sequential

__all__ = ["word_classifier", "word_language_model", "language_model_data", "perplexity"]

_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}


def _embedding(vocab: Vocabulary, embedding: Any, dim: int, trainable: bool) -> Embedding:
    if not isinstance(vocab, Vocabulary) or not vocab.specials:
        raise BoucleError(f"vocab: expected a Vocabulary with the special tokens (PAD = 0 pads), got {vocab!r}")
    if embedding is None:
        return Embedding(len(vocab), positive_int(dim, "dim"), mask_zero=True, trainable=trainable, name="embedding")
    w = np.asarray(embedding)
    if w.ndim != 2 or w.shape[0] != len(vocab):
        raise BoucleError(
            f"embedding: expected a ({len(vocab)}, D) matrix (one row per id of the vocabulary), got shape {w.shape}"
        )
    return Embedding.from_pretrained(w, trainable=trainable, mask_zero=True, name="embedding")


def _recurrent(cell: str, units: int, **kwargs: Any):
    """The recurrent layer of a word model: ``cell`` (a key of ``_CELLS``) with ``units`` units."""
    if cell not in _CELLS:
        raise BoucleError(f"cell: expected one of {list(_CELLS)}, got {cell!r}")
    return _CELLS[cell](positive_int(units, "units"), **kwargs)


def word_classifier(
    vocab: Vocabulary,
    n_classes: int,
    *,
    embedding: Any = None,
    trainable: bool = True,
    dim: int = 50,
    units: int = 64,
    cell: str = "lstm",
    optimizer: Any = None,
    seed: int | None = None,
) -> Sequential:
    """A compiled many-to-one classifier of padded word ids (see the module docstring)."""
    rnn = _recurrent(cell, units)  # checked before the embedding is built, as before
    model = Sequential(
        [
            _embedding(vocab, embedding, dim, trainable),
            rnn,
            Dense(positive_int(n_classes, "n_classes"), activation="softmax"),
        ],
        name="word_classifier",
        seed=seed,
        vocab=vocab,
    )
    model.build((None,))  # any number of words
    model.compile(optimizer or optimizers_mod.Adam(3e-3, clipnorm=5.0), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def word_language_model(
    vocab: Vocabulary,
    *,
    embedding: Any = None,
    trainable: bool = True,
    dim: int = 50,
    units: int = 128,
    cell: str = "lstm",
    optimizer: Any = None,
    seed: int | None = None,
) -> Sequential:
    """A compiled sentence-level language model: embedding → RNN (every step) → logits over the vocabulary."""
    rnn = _recurrent(cell, units, return_sequences=True)
    model = Sequential(
        [
            _embedding(vocab, embedding, dim, trainable),
            rnn,
            Dense(len(vocab)),
        ],
        name="word_lm",
        seed=seed,
        vocab=vocab,
    )
    model.build((None,))
    model.compile(optimizer or optimizers_mod.Adam(3e-3, clipnorm=5.0), SparseCategoricalCrossentropy(from_logits=True))
    return model


def language_model_data(vocab: Vocabulary, texts: Sequence[str], max_len: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Texts → ``(x, y)`` (N, T) ids: x = [START, w_1..w_n], y = [w_1..w_n, END], PAD after;
    each text cut to its first ``max_len`` words (unknown words → UNK; texts without words left out)."""
    max_len = positive_int(max_len, "max_len")
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise BoucleError(f"texts: expected a list of texts, got {type(texts).__name__}")
    rows = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise BoucleError(f"texts[{i}]: expected a str, got {type(t).__name__}")
        tokens = vocab.tokenizer.tokenize(t)[:max_len]
        if tokens:
            rows.append(vocab.tokens_to_ids(tokens, f"texts[{i}]", unknown="unk"))
    if not rows:
        raise BoucleError("texts: expected at least one text with a word, got none")
    y = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        y[i, : len(r)] = r
    x, target, _ = teacher_forcing(y)
    return x, target


def perplexity(model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = 64) -> dict[str, float]:
    """exp of the mean cross entropy per predicted word (every valid step: ``x != PAD``), and that
    mean (``loss``, nats) and the word count (``words``) — weighted by words, not by sentences."""
    batch_size = positive_int(batch_size, "batch_size")
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim != 2:
        raise BoucleError(f"y: expected the shape of x {x.shape}, got {y.shape}")
    total, words = 0.0, 0
    for s in range(0, len(x), batch_size):
        xb, yb = x[s : s + batch_size], y[s : s + batch_size]
        logits, cache = model.forward(xb)
        mask = cache[-1]
        n = int(mask.sum())
        if n:
            total += model.loss(yb, logits, mask=mask) * n
            words += n
    if not words:
        raise BoucleError("x: expected at least one word to predict, got only padding")
    loss = total / words
    return {"perplexity": math.exp(min(loss, 700.0)), "loss": loss, "words": words}
