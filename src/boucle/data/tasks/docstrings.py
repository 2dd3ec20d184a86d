"""A word-level task from the built-in English corpus: which package is a docstring from?

:func:`docstring_topics` labels the docstrings of :func:`boucle.data.english.stdlib_passages`
by their top-level stdlib package among ``packages`` (default :data:`PACKAGES`: eight
packages of different subjects — event loops, e-mail, imports, logging, processes, a GUI,
tests, XML) and splits them at random (seeded) into training and held-out texts. The
answer lies in the words ("message header" is e-mail, "widget" is tkinter), which is
what word embeddings are for; class sizes differ (the majority class is the baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ... import validators
from ...errors import BoucleError
from ..english import Passage, stdlib_passages
from ..vocab import WORDS_ONLY, Tokenizer

__all__ = ["PACKAGES", "DocstringTopics", "docstring_topics"]

PACKAGES = ("asyncio", "email", "importlib", "logging", "multiprocessing", "tkinter", "unittest", "xml")


@dataclass
class DocstringTopics:
    """Training and held-out docstrings (``x_*``: texts) and their package ids (``y_*``)."""

    x_train: list[str]
    y_train: np.ndarray
    x_test: list[str]
    y_test: np.ndarray
    classes: list[str] = field(default_factory=list)

    @property
    def majority(self) -> float:
        """Held-out accuracy of always answering the most frequent training class."""
        return float(np.mean(self.y_test == np.bincount(self.y_train).argmax()))


def docstring_topics(
    packages: Sequence[str] = PACKAGES,
    test_fraction: float = 0.2,
    min_words: int = 3,
    seed: int = 0,
    passages: Sequence[Passage] | None = None,
) -> DocstringTopics:
    """Docstrings of ``packages`` labelled by package, split at random (see the module docstring).

    Args:
        min_words: leave out docstrings with fewer words.
        passages: the corpus (default: :func:`~boucle.data.english.stdlib_passages`).
    """
    packages = list(packages)
    if len(packages) < 2 or len(set(packages)) != len(packages):
        raise BoucleError(f"packages: expected at least 2 distinct package names, got {packages!r}")
    test_fraction = validators.real(
        test_fraction, "test_fraction", low=0.0, high=1.0, high_open=True, want="a float in (0, 1)"
    )
    min_words = validators.positive_int(min_words, "min_words")
    words = Tokenizer("words", True, WORDS_ONLY)
    corpus = stdlib_passages(kinds=("docstring",)) if passages is None else passages
    texts, labels = [], []
    for p in corpus:
        if p.kind == "docstring" and p.package in packages and len(words.tokenize(p.text)) >= min_words:
            texts.append(p.text)
            labels.append(packages.index(p.package))
    counts = np.bincount(labels, minlength=len(packages)) if labels else np.zeros(len(packages), int)
    if (counts == 0).any():
        raise BoucleError(f"packages: no docstring found for {[packages[i] for i in np.flatnonzero(counts == 0)]}")
    order = np.random.default_rng(seed).permutation(len(texts))
    n_test = max(1, int(round(len(texts) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    y = np.array(labels, dtype=np.int64)
    return DocstringTopics([texts[i] for i in train], y[train], [texts[i] for i in test], y[test], packages)
