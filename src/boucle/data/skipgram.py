r"""Training pairs for skip-gram with negative sampling (word2vec, Mikolov et al. 2013), one epoch at a time.

From documents of word ids (e.g. the passages of :mod:`boucle.data.english`, encoded):

1. **subsampling of frequent words**: each occurrence of w is kept with probability
   p_keep(w) = min(1, (√(f_w / t) + 1) · t / f_w), f_w = count(w) / N — the form of
   word2vec's C code (and gensim), close to the paper's 1 − √(t / f_w); t = ``sample``
   (≈ 1e-3; 0 keeps everything). "the" loses most of its occurrences, rare words none.
2. **dynamic window**: each kept center c draws b ~ U{1..window} and pairs with the kept
   words at distance ≤ b on both sides, within its document (closer words count more
   often, as in word2vec).
3. **negative sampling**: each pair gets K noise words drawn from
   P_n(w) ∝ count(w)^{3/4} (``power``), with replacement (a noise word may equal the
   context word, as rarely as P_n says).

Pairs are shuffled and cut into batches ``(centers (B,), contexts (B,), negatives (B, K))``,
all drawn from the Generator handed to :meth:`SkipGramData.epoch`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .. import validators
from ..errors import BoucleError

__all__ = ["keep_probabilities", "noise_distribution", "SkipGramData", "SkipGramEpoch"]


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """p_keep(w) = min(1, (√(f_w/t) + 1) t / f_w) per id (1 for ids never counted); ``sample=0``: all 1."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample == 0:
        return np.ones_like(counts)
    f = counts / counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (np.sqrt(f / sample) + 1.0) * sample / f
    return np.where(counts > 0, np.minimum(p, 1.0), 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """P_n(w) ∝ count(w)^power (0 for ids never counted, e.g. the special tokens)."""
    w = np.asarray(counts, dtype=np.float64) ** power
    w[np.asarray(counts) <= 0] = 0.0
    return w / w.sum()


class SkipGramEpoch:
    """The batches of one epoch (iterable once; ``len`` = number of batches)."""

    def __init__(
        self,
        centers: np.ndarray,
        contexts: np.ndarray,
        cdf: np.ndarray,
        negative: int,
        batch_size: int,
        rng: np.random.Generator,
    ):
        self.centers, self.contexts, self.cdf = centers, contexts, cdf
        self.negative, self.batch_size, self.rng = negative, batch_size, rng

    def __len__(self) -> int:
        return -(-len(self.centers) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        B, K = self.batch_size, self.negative
        for s in range(0, len(self.centers), B):
            c, o = self.centers[s : s + B], self.contexts[s : s + B]
            neg = np.searchsorted(self.cdf, self.rng.random((len(c), K)), side="right")
            yield c, o, np.minimum(neg, len(self.cdf) - 1)


class SkipGramData:
    """Documents of word ids → shuffled skip-gram batches, one epoch per :meth:`epoch` call.

    Args:
        docs: sequences of word ids (each a document; no pair crosses two documents).
        counts: the count of every id (``Vocabulary.counts``); ids with count 0 are never
            noise words.
        window: the largest distance between a center and its context.
        negative: K noise words per pair.
        sample: the subsampling threshold t (0 = no subsampling).
        power: the exponent of the noise distribution.
        batch_size: pairs per batch.
    """

    def __init__(
        self,
        docs: Sequence[np.ndarray],
        counts: np.ndarray,
        *,
        window: int = 5,
        negative: int = 5,
        sample: float = 1e-3,
        power: float = 0.75,
        batch_size: int = 1024,
    ):
        self.window = validators.positive_int(window, "window")
        self.negative = validators.positive_int(negative, "negative")
        self.sample = validators.real(
            sample, "sample", low=0.0, low_open=False, want="a float >= 0 (0: no subsampling)"
        )
        self.batch_size = validators.positive_int(batch_size, "batch_size")
        counts = np.asarray(counts)
        docs = [np.asarray(d, dtype=np.int64).reshape(-1) for d in docs]
        if not docs or sum(len(d) for d in docs) < 2:
            raise BoucleError(f"corpus: expected at least 2 words to pair, got {sum(len(d) for d in docs)}")
        self.ids = np.concatenate(docs)
        if self.ids.min() < 0 or self.ids.max() >= len(counts):
            raise BoucleError(
                f"corpus: expected word ids in [0, {len(counts)}), got [{self.ids.min()}, {self.ids.max()}]"
            )
        self.doc = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
        self.keep = keep_probabilities(counts, self.sample)
        noise = noise_distribution(
            counts, validators.real(power, "power", low=0.0, low_open=False, want="a float >= 0")
        )
        self.cdf = np.cumsum(noise)
        self.cdf[-1] = 1.0 + 1e-12  # guard the last bucket against rounding

    @property
    def words(self) -> int:
        """Word occurrences in the corpus (before subsampling)."""
        return len(self.ids)

    def pairs(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One epoch's (centers, contexts), subsampled, windowed and shuffled."""
        kept = rng.random(len(self.ids)) < self.keep[self.ids]
        ids, doc = self.ids[kept], self.doc[kept]
        b = rng.integers(1, self.window + 1, size=len(ids))  # each center's reduced window
        cs, os = [], []
        for d in range(1, self.window + 1):
            same = doc[d:] == doc[:-d]  # (i, i + d) in one document
            right = same & (d <= b[:-d])  # center i, context i + d
            left = same & (d <= b[d:])  # center i + d, context i
            i = np.flatnonzero(right)
            cs.append(ids[i])
            os.append(ids[i + d])
            j = np.flatnonzero(left)
            cs.append(ids[j + d])
            os.append(ids[j])
        centers, contexts = np.concatenate(cs), np.concatenate(os)
        order = rng.permutation(len(centers))
        return centers[order], contexts[order]

    def epoch(self, rng: np.random.Generator) -> SkipGramEpoch:
        """The batches of one epoch (pairs drawn now, noise words drawn batch by batch)."""
        centers, contexts = self.pairs(rng)
        return SkipGramEpoch(centers, contexts, self.cdf, self.negative, self.batch_size, rng)
