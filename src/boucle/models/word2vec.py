r"""``Word2Vec``: word embeddings learned by skip-gram with negative sampling (seed 004: "représenter
les mots et leur contexte"; Mikolov et al. 2013).

A word is known by the company it keeps: each word w gets a vector v_w (the ``embedding``
table E, V × D) trained so that u_oᵀ v_c is high for words o seen near c and low for noise
words (the ``context`` table C holds the u's). The loss, its gradient and the equations are
in :mod:`boucle.ops.word2vec`; the pairs (subsampling of frequent words, dynamic window,
negatives from count^{3/4}) in :mod:`boucle.data.skipgram`. Training runs through the one
engine (:func:`boucle.training.fit`): the model gives its batches and its loss; callbacks,
the progress bar, the history and the divergence policy are the engine's. E starts at
U(−0.5/D, 0.5/D) and C at zero, as in word2vec's C code.

Afterwards, words are compared by the cosine of their vectors: :meth:`Word2Vec.nearest`,
:meth:`Word2Vec.analogy` (a : b :: c : ? — the word closest to v̂_b − v̂_a + v̂_c, the
three excluded, "3CosAdd"), :meth:`Word2Vec.similarity`; :meth:`Word2Vec.word_vectors`
exports them (word2vec text/binary files, a frozen ``Embedding``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend
from .. import optimizers as optimizers_mod
from ..data.loaders.vectors import WordVectors
from ..data.skipgram import SkipGramData
from ..data.vocab import Vocabulary
from ..errors import BoucleError
from ..layers import Embedding
from ..ops.word2vec import scatter_rows, sgns_backward, sgns_forward
from ..training import Forward, History, fit
from ..validators import positive_int, real
from ..validators import seed as check_seed
from .base import LayerContainer, register_model

__all__ = ["Word2Vec"]


def _word_vocab(vocab: Any) -> Vocabulary:
    if not isinstance(vocab, Vocabulary) or vocab.level != "words":
        raise BoucleError(f"vocab: expected a word Vocabulary (Vocabulary.words(texts)), got {vocab!r}")
    if vocab.counts is None:
        raise BoucleError("vocab: expected a vocabulary with word counts (built by Vocabulary.words), got none")
    if len(vocab.tokens) < 2:
        raise BoucleError(
            f"vocab: expected at least 2 words to tell apart, got {len(vocab.tokens)} "
            f"({vocab.tokens!r}); lower min_count or add text"
        )
    return vocab


@register_model
class Word2Vec(LayerContainer):
    """Skip-gram with negative sampling (see the module docstring).

    Args:
        vocab: a word :class:`~boucle.data.vocab.Vocabulary` with counts (``Vocabulary.words``).
        dim: D, the size of the vectors.
        window: the largest center–context distance (each center draws its own b ≤ window).
        negative: K noise words per pair.
        sample: subsampling threshold t (0: none).
        power: exponent of the noise distribution count^power.
        seed: seeds the model's one Generator (initial vectors, subsampling, pairs, noise).
        dtype: ``"float32"`` (default) or ``"float64"``.

    >>> w2v = Word2Vec(Vocabulary.words(texts, min_count=5), dim=100, seed=0)
    >>> w2v.fit(texts, epochs=5)
    >>> w2v.nearest("file", 5)
    """

    def __init__(
        self,
        vocab: Vocabulary,
        dim: int = 100,
        window: int = 5,
        negative: int = 5,
        sample: float = 1e-3,
        power: float = 0.75,
        seed: int | None = None,
        dtype: Any = None,
        name: str = "word2vec",
    ):
        self.vocab = _word_vocab(vocab)
        self.dim = positive_int(dim, "dim")
        self.window = positive_int(window, "window")
        self.negative = positive_int(negative, "negative")
        self.sample = real(sample, "sample", low=0.0, low_open=False, want="a float >= 0 (0: no subsampling)")
        self.power = real(power, "power", low=0.0, low_open=False, want="a float >= 0")
        self.seed = check_seed(seed)
        self.name = name
        self.dtype = backend.resolve_dtype(dtype)
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed)))
        V, D = len(self.vocab), self.dim
        self.embedding = Embedding(V, D, name="embedding", dtype=self.dtype.name)
        self.context = Embedding(V, D, name="context", embeddings_initializer="zeros", dtype=self.dtype.name)
        self.embedding.build((None,), self.rng)
        self.context.build((None,), self.rng)
        self.embedding.params["E"][...] = self.rng.uniform(-0.5 / D, 0.5 / D, (V, D))
        self.embedding.params["E"][: self.vocab.offset] = 0.0  # special tokens: never trained
        self.built = True
        self.optimizer: optimizers_mod.Optimizer | None = None
        self.metrics: list = []
        self.step = 0
        self.stop_training = False
        self.history = History()
        self.words_trained = 0

    @property
    def layers(self) -> list:
        return [self.embedding, self.context]

    # -- the engine's model protocol (boucle.training.engine) -----------------------------
    def train_forward(self, batch) -> Forward:
        """Batch ``(centers (B,), contexts (B,), negatives (B, K))``: the mean loss J."""
        c, o, neg = batch
        E, C = self.embedding.params["E"], self.context.params["E"]
        loss, cache = sgns_forward(E[c], C[o], C[neg])
        return Forward(loss, (cache, batch), size=len(c))

    def train_backward(self, cache) -> None:
        fcache, (c, o, neg) = cache
        dv, du_pos, du_neg = sgns_backward(fcache)
        scatter_rows(self.embedding.grads["E"], c, dv)
        scatter_rows(
            self.context.grads["E"],
            np.concatenate([o, neg.reshape(-1)]),
            np.concatenate([du_pos, du_neg.reshape(-1, self.dim)]),
        )

    def train_commit(self, batch, cache) -> None:
        self.words_trained += len(batch[0])

    def compile(self, optimizer: Any = "adam") -> None:
        """Choose the optimizer (name, instance or config)."""
        self.optimizer = optimizers_mod.get(optimizer)

    def compile_config(self) -> dict | None:
        return None if self.optimizer is None else {"optimizer": self.optimizer.get_config()}

    def compile_from_config(self, cfg: dict) -> None:
        self.compile(cfg["optimizer"])

    # -- training -------------------------------------------------------------------------
    def encode_corpus(self, texts: Sequence[Any]) -> list[np.ndarray]:
        """Texts (or arrays of ids) → one id array per document, words outside the vocabulary
        (and the special tokens) left out, as word2vec drops rare words before windowing."""
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
            raise BoucleError(f"texts: expected a list of texts or of id arrays, got {type(texts).__name__}")
        docs = []
        for i, t in enumerate(texts):
            ids = (
                self.vocab.tokens_to_ids(self.vocab.tokenizer.tokenize(t), f"texts[{i}]", unknown="skip")
                if isinstance(t, str)
                else np.asarray(t, dtype=np.int64).reshape(-1)
            )
            docs.append(ids[ids >= self.vocab.offset])
        if sum(len(d) for d in docs) < 2:
            raise BoucleError(
                f"texts: expected at least 2 words of the vocabulary, got "
                f"{sum(len(d) for d in docs)} in {len(texts)} text(s)"
            )
        return docs

    def fit(
        self,
        texts: Sequence[Any],
        *,
        epochs: int = 5,
        batch_size: int = 1024,
        optimizer: Any = None,
        time_budget: float | None = None,
        callbacks: list | None = None,
        verbose: int = 1,
    ) -> History:
        """Train on ``texts`` (strings, or arrays of word ids) for ``epochs`` passes.

        Args:
            optimizer: replaces the model's (default when it has none: Adam(2e-3)).
            time_budget: stop at the first step after this many seconds.
            verbose: 0 silent, 1 a progress bar per epoch (loss, pairs per second), 2 a line per epoch.

        Returns:
            the model's :class:`~boucle.training.History` (per epoch ``loss``, the mean J).
        """
        epochs = positive_int(epochs, "epochs")
        data = SkipGramData(
            self.encode_corpus(texts),
            self.vocab.counts,
            window=self.window,
            negative=self.negative,
            sample=self.sample,
            power=self.power,
            batch_size=batch_size,
        )
        if optimizer is not None or self.optimizer is None:
            self.compile(optimizer if optimizer is not None else optimizers_mod.Adam(2e-3))
        start = len(self.history.epoch)
        return fit(
            self,
            lambda epoch: data.epoch(self.rng),
            epochs=start + epochs,
            initial_epoch=start,
            time_budget=time_budget,
            callbacks=callbacks,
            verbose=verbose,
            history=self.history,
        )

    # -- using the vectors ----------------------------------------------------------------
    @property
    def vectors(self) -> np.ndarray:
        """The learned vectors E ``(V, D)`` (a copy)."""
        return self.embedding.params["E"].copy()

    def _unit(self) -> np.ndarray:
        E = self.embedding.params["E"].astype(np.float64)
        n = np.linalg.norm(E, axis=1, keepdims=True)
        return np.divide(E, n, out=np.zeros_like(E), where=n > 0)

    def _id(self, word: Any, name: str) -> int:
        if not isinstance(word, str):
            raise BoucleError(f"{name}: expected a word (str), got {type(word).__name__}")
        i = self.vocab.index.get(word.lower() if self.vocab.tokenizer.lower else word)
        if i is None:
            raise BoucleError(f"{name}: {word!r} is not in the vocabulary of {len(self.vocab.tokens)} words")
        return i

    def _closest(self, target: np.ndarray, exclude: list[int], k: int) -> list[tuple[str, float]]:
        k = positive_int(k, "k")
        unit = self._unit()
        t = target / max(np.linalg.norm(target), 1e-300)
        sims = unit @ t
        sims[: self.vocab.offset] = -np.inf
        sims[exclude] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        return [(self.vocab.itos[i], float(sims[i])) for i in top if np.isfinite(sims[i])]

    def similarity(self, a: str, b: str) -> float:
        """cos(v_a, v_b)."""
        unit = self._unit()
        return float(unit[self._id(a, "a")] @ unit[self._id(b, "b")])

    def nearest(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words of highest cosine similarity to ``word`` (itself excluded), best first."""
        i = self._id(word, "word")
        return self._closest(self._unit()[i], [i], k)

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """a : b :: c : ? — the ``k`` words closest to v̂_b − v̂_a + v̂_c (a, b, c excluded)."""
        ia, ib, ic = self._id(a, "a"), self._id(b, "b"), self._id(c, "c")
        unit = self._unit()
        return self._closest(unit[ib] - unit[ia] + unit[ic], [ia, ib, ic], k)

    def word_vectors(self) -> WordVectors:
        """The learned vectors of the vocabulary's words (special tokens left out)."""
        return WordVectors(list(self.vocab.tokens), self.vectors[self.vocab.offset :])

    # -- files ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {
            "name": self.name,
            "vocab": self.vocab.get_config(),
            "dim": self.dim,
            "window": self.window,
            "negative": self.negative,
            "sample": self.sample,
            "power": self.power,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "training": {
                "step": self.step,
                "rng": self.rng.bit_generator.state,
                "history": self.history.get_config(),
                "words_trained": self.words_trained,
            },
        }

    @classmethod
    def from_config(cls, config: dict) -> Word2Vec:
        if not isinstance(config, dict) or not isinstance(config.get("vocab"), dict):
            raise BoucleError(f"config: expected a Word2Vec config with a 'vocab', got {type(config).__name__}")
        try:
            model = cls(
                Vocabulary.from_config(config["vocab"]),
                dim=config["dim"],
                window=config["window"],
                negative=config["negative"],
                sample=config["sample"],
                power=config["power"],
                seed=config.get("seed"),
                dtype=config.get("dtype"),
                name=config.get("name", "word2vec"),
            )
            tr = config.get("training") or {}
            model.step = int(tr.get("step", 0))
            if tr.get("rng"):
                model.rng.bit_generator.state = tr["rng"]
            model.history = History.from_config(tr.get("history") or {})
            model.words_trained = int(tr.get("words_trained", 0))
        except (KeyError, TypeError, ValueError) as e:
            raise BoucleError(f"config: invalid Word2Vec config ({type(e).__name__}: {e})") from None
        return model

    def __repr__(self) -> str:
        return (
            f"Word2Vec({len(self.vocab.tokens)} words, dim={self.dim}, window={self.window}, "
            f"negative={self.negative}, sample={self.sample:g}; {self.step} steps)"
        )
