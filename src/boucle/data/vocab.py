"""The one vocabulary: tokens ↔ ids — characters or words — with or without the special tokens.

A :class:`Vocabulary` is a list of tokens and the :class:`Tokenizer` that cuts a text into them:

- A **character model** (seed 002: "RNNs Génératifs") predicts the next character among the
  characters of its text: ``Vocabulary.from_text(text)``, ids 0..V-1 in the sorted order
  of the characters, no special token.
- An **encoder–decoder** needs four reserved ids (``specials=True``): ``PAD = 0`` (padding;
  masks are ``ids != PAD``), ``START = 1`` (the decoder's first input), ``END = 2`` (the end
  of a target) and ``UNK = 3`` (a token outside the vocabulary, on request); the
  tokens follow from id 4.
- A **word vocabulary** (``Vocabulary.words(texts, ...)``, seed 004: "représenter les mots et leur
  contexte") cuts texts with a regular expression — words, and punctuation marks as tokens of
  their own (:data:`WORD_PATTERN`) — optionally lower-cased; words seen fewer than ``min_count``
  times are left out, the ``max_size`` most frequent kept; ids follow the frequency order
  (ties alphabetical), after the same four special tokens (by default). Its counts travel with
  it (word2vec's subsampling and negative sampling need them). The same special tokens and
  :meth:`Vocabulary.encode_batch` serve word-level encoder–decoders (a caption decoder:
  ``Seq2Seq``'s ``START``/``END``/``PAD`` conventions, :func:`boucle.data.padding.teacher_forcing`).

Unknown tokens (:meth:`Vocabulary.encode`): ``unknown="error"`` names them, their positions
and the text (the default of character vocabularies); ``"unk"`` maps them to ``UNK`` (the
default of word vocabularies with the special tokens); ``"skip"`` drops them. Texts longer
than ``max_len`` tokens are an error by default; ``too_long="truncate"`` keeps the first
``max_len`` with a warning. Character encoding is vectorised over the code points (millions
of characters per second).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BoucleError
from ..validators import boolean, integer, one_of, positive_int

__all__ = [
    "PAD",
    "START",
    "END",
    "UNK",
    "SPECIAL_TOKENS",
    "WORD_PATTERN",
    "WORDS_ONLY",
    "Tokenizer",
    "Vocabulary",
    "token_ids",
    "describe_chars",
]

PAD, START, END, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<start>", "<end>", "<unk>")
_UNK_CHAR = "\ufffd"  # how decode() shows UNK in a character text
#: a word (letters, digits, underscores; inner apostrophes: "don't") or one punctuation mark.
WORD_PATTERN = r"\w+(?:'\w+)*|[^\w\s]"
#: words only (punctuation dropped).
WORDS_ONLY = r"\w+(?:'\w+)*"
_LEVELS = ("chars", "words")


def describe_chars(chars: Sequence[str], limit: int = 8) -> str:
    """``characters 'é' (U+00E9), '\\t' (U+0009)`` — for error messages."""
    parts = [f"{c!r} (U+{ord(c):04X})" for c in chars[:limit]]
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return f"character{'s' * (len(chars) != 1)} " + ", ".join(parts) + more


def _short(obj: Any, n: int = 40) -> str:
    s = repr(obj)
    return s if len(s) <= n else s[: n - 3] + "...'"


@dataclass(frozen=True)
class Tokenizer:
    """Text → tokens: ``level="chars"`` (every character) or ``"words"`` (the matches of ``pattern``,
    default :data:`WORD_PATTERN`, left to right); ``lower`` lower-cases the text first.
    :meth:`join` puts tokens back together (words with one space)."""

    level: str = "chars"
    lower: bool = False
    pattern: str | None = None

    def __post_init__(self):
        one_of(self.level, _LEVELS, "level")
        boolean(self.lower, "lower", "Tokenizer")
        if self.level == "chars" and self.pattern is not None:
            raise BoucleError(f"pattern: expected None for a character tokenizer, got {self.pattern!r}")
        if self.level == "words":
            if self.pattern is None:
                object.__setattr__(self, "pattern", WORD_PATTERN)
            if not isinstance(self.pattern, str):
                raise BoucleError(f"pattern: expected a regular expression (str), got {type(self.pattern).__name__}")
            try:
                rx = re.compile(self.pattern)
            except re.error as e:
                raise BoucleError(f"pattern: expected a valid regular expression, got {self.pattern!r} ({e})") from None
            if rx.fullmatch(""):
                raise BoucleError(
                    f"pattern: expected a pattern that cannot match the empty string, got {self.pattern!r}"
                )
            object.__setattr__(self, "_rx", rx)

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``, in order."""
        if self.lower:
            text = text.lower()
        return list(text) if self.level == "chars" else self._rx.findall(text)

    def join(self, tokens: Iterable[str]) -> str:
        return ("" if self.level == "chars" else " ").join(tokens)

    def get_config(self) -> dict:
        return {"level": self.level, "lower": self.lower, "pattern": self.pattern}

    @classmethod
    def from_config(cls, config: Any) -> Tokenizer:
        if not isinstance(config, dict) or set(config) - {"level", "lower", "pattern"}:
            raise BoucleError(
                f"tokenizer config: expected keys among ['level', 'lower', 'pattern'], got {_short(config, 80)}"
            )
        return cls(**config)


class Vocabulary:
    """Tokens ↔ ids (see the module docstring).

    Args:
        tokens: characters (any iterable of single characters, duplicates merged, sorted) for a
            character tokenizer; for a word tokenizer, the distinct words in id order.
        specials: reserve ids 0..3 for ``PAD, START, END, UNK``.
        tokenizer: how texts become tokens (default: characters).
        counts: optional occurrence counts, one per id (specials included), e.g. from
            :meth:`words`.

    Attributes: ``tokens`` (``chars`` for a character vocabulary), ``index`` (token -> id),
    ``offset`` (the id of the first token: 4 with the special tokens, else 0), ``itos``
    (the token of every id, specials by their names), ``counts`` (or None).
    """

    def __init__(
        self,
        tokens: Iterable[str],
        specials: bool = False,
        *,
        tokenizer: Tokenizer | None = None,
        counts: Sequence[int] | None = None,
    ):
        self.tokenizer = Tokenizer() if tokenizer is None else tokenizer
        if not isinstance(self.tokenizer, Tokenizer):
            raise BoucleError(f"tokenizer: expected a Tokenizer, got {type(tokenizer).__name__}")
        self.specials = bool(specials)
        self.offset = len(SPECIAL_TOKENS) if self.specials else 0
        if self.tokenizer.level == "chars":
            tokens = list(tokens) if not isinstance(tokens, str) else list(tokens)
            bad = [c for c in tokens if not isinstance(c, str) or len(c) != 1]
            if bad:
                raise BoucleError(f"chars: expected single characters, got {bad[:3]!r}")
            tokens = sorted(set(tokens))
            if not tokens:
                raise BoucleError("chars: expected at least one character, got none")
            self._codes = np.array([ord(c) for c in tokens], dtype=np.int64)  # sorted code points
        else:
            tokens = self._check_words(tokens)
        self.tokens: list[str] = tokens
        self.index: dict[str, int] = {c: i + self.offset for i, c in enumerate(tokens)}
        self.counts = None if counts is None else self._check_counts(counts)

    def _check_words(self, tokens: Any) -> list[str]:
        if isinstance(tokens, str):
            raise BoucleError(f"tokens: expected a list of words, got the string {_short(tokens)}")
        tokens = list(tokens)
        bad = [t for t in tokens if not isinstance(t, str) or not t]
        if bad:
            raise BoucleError(f"tokens: expected non-empty strings, got {bad[:3]!r}")
        if not tokens:
            raise BoucleError("tokens: expected at least one word, got none")
        seen: set[str] = set()
        for t in tokens:
            if t in seen:
                raise BoucleError(f"tokens: expected distinct words, got {t!r} twice")
            seen.add(t)
        taken = sorted(seen & set(SPECIAL_TOKENS)) if self.specials else []
        if taken:
            raise BoucleError(
                f"tokens: {taken[0]!r} is a special token name, expected words other than {list(SPECIAL_TOKENS)}"
            )
        return tokens

    def _check_counts(self, counts: Any) -> np.ndarray:
        c = np.asarray(counts)
        if c.shape != (len(self),) or (c.size and (not np.issubdtype(c.dtype, np.integer) or c.min() < 0)):
            raise BoucleError(
                f"counts: expected {len(self)} non-negative ints (one per id), got {c.dtype} shape {c.shape}"
            )
        return c.astype(np.int64)

    # -- builders --------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, specials: bool = False) -> Vocabulary:
        """The characters of ``text``."""
        if not isinstance(text, str) or not text:
            raise BoucleError(f"text: expected a non-empty text to build a vocabulary from, got {_short(text)}")
        return cls(set(text), specials)

    @classmethod
    def from_texts(cls, texts: Iterable[str], specials: bool = True) -> Vocabulary:
        """Every character occurring in ``texts`` (with the special tokens by default: seq2seq)."""
        return cls(set().union(*(set(t) for t in texts)), specials)

    @classmethod
    def words(
        cls,
        texts: str | Iterable[str],
        *,
        lower: bool = True,
        pattern: str | None = None,
        min_count: int = 1,
        max_size: int | None = None,
        specials: bool = True,
    ) -> Vocabulary:
        """A word vocabulary of ``texts`` (one text or an iterable of texts).

        Args:
            lower: lower-case the texts first.
            pattern: the regular expression of one token (default :data:`WORD_PATTERN`, words and
                punctuation marks; :data:`WORDS_ONLY` drops the punctuation).
            min_count: leave out words seen fewer times (they become ``UNK``).
            max_size: the most ids in all, the special tokens included (the ``input_dim`` of an
                embedding): the most frequent words are kept.
            specials: reserve ``PAD, START, END, UNK`` (ids 0..3).

        Ids follow the frequency order (ties alphabetical); ``counts`` holds each word's count
        and, at ``UNK``, the count of the tokens left out.
        """
        tok = Tokenizer("words", lower, pattern)
        min_count = positive_int(min_count, "min_count")
        offset = len(SPECIAL_TOKENS) if specials else 0
        if max_size is not None:
            max_size = integer(max_size, "max_size", minimum=offset + 1)
        if isinstance(texts, str):
            texts = [texts]
        counter: Counter = Counter()
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise BoucleError(f"texts[{i}]: expected a str, got {type(t).__name__}")
            counter.update(tok.tokenize(t))
        if not counter:
            raise BoucleError("texts: expected at least one word, got none (an empty corpus)")
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [kv for kv in ranked if kv[1] >= min_count]
        if max_size is not None:
            kept = kept[: max_size - offset]
        if not kept:
            raise BoucleError(
                f"min_count: expected a count that keeps some word, got {min_count} "
                f"(the most frequent word, {ranked[0][0]!r}, occurs {ranked[0][1]} times)"
            )
        total = sum(counter.values())
        counts = [0] * offset + [c for _, c in kept]
        if specials:
            counts[UNK] = total - sum(counts)
        return cls([w for w, _ in kept], specials, tokenizer=tok, counts=counts)

    # -- description -----------------------------------------------------------------
    @property
    def chars(self) -> list[str]:
        """The characters of a character vocabulary (its tokens)."""
        return self.tokens

    @property
    def level(self) -> str:
        return self.tokenizer.level

    @property
    def itos(self) -> list[str]:
        """The token of every id: the special tokens' names, then the tokens."""
        return (list(SPECIAL_TOKENS) if self.specials else []) + self.tokens

    def __len__(self) -> int:
        return self.offset + len(self.tokens)

    @property
    def size(self) -> int:
        return len(self)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, Vocabulary)
            and other.tokens == self.tokens
            and other.specials == self.specials
            and other.tokenizer == self.tokenizer
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        extra = f" + {len(SPECIAL_TOKENS)} special tokens" if self.specials else ""
        what = "characters" if self.level == "chars" else "words"
        return f"Vocabulary({len(self.tokens)} {what}{extra})"

    def _default_unknown(self) -> str:
        return "unk" if self.level == "words" and self.specials else "error"

    def unknown(self, text: str) -> list[str]:
        """The distinct tokens of ``text`` that are not in the vocabulary, in order of appearance."""
        return [c for c in dict.fromkeys(self.tokenizer.tokenize(text)) if c not in self.index]

    # -- text -> ids -----------------------------------------------------------------
    def encode(
        self,
        text: str,
        name: str = "text",
        *,
        unknown: str | None = None,
        max_len: int | None = None,
        too_long: str = "error",
    ) -> np.ndarray:
        """Ids of the tokens of ``text`` (no START/END), int64 ``(n_tokens,)``.

        Args:
            name: the argument name used in error messages.
            unknown: ``"error"`` (a BoucleError naming the unknown tokens), ``"unk"`` (needs the
                special tokens) or ``"skip"`` (drop them); default ``"unk"`` for a word vocabulary
                with the special tokens, else ``"error"``.
            max_len: the most tokens allowed (None = any); a vocabulary with special tokens
                also refuses a text without tokens (a sequence to translate).
            too_long: ``"error"`` (default) or ``"truncate"`` (keep ``max_len`` tokens, warn).
        """
        unknown = self._default_unknown() if unknown is None else unknown
        one_of(unknown, ("error", "unk", "skip"), "unknown")
        one_of(too_long, ("error", "truncate"), "too_long")
        if unknown == "unk" and not self.specials:
            raise BoucleError(
                "unknown: 'unk' needs a vocabulary with the special tokens (specials=True), got one without"
            )
        if not isinstance(text, str):
            raise BoucleError(f"{name}: expected a str, got {type(text).__name__}")
        if self.level == "words":
            return self._encode_words(text, name, unknown, max_len, too_long)
        if self.specials and not text:
            raise BoucleError(f"{name}: expected a non-empty string, got ''")
        if max_len is not None and len(text) > max_len:
            text = self._truncate(text, len(text), name, max_len, too_long, "characters")
        if self.tokenizer.lower:
            text = text.lower()
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        pos = np.minimum(np.searchsorted(self._codes, cps), len(self._codes) - 1)
        bad = self._codes[pos] != cps
        ids = pos + self.offset
        if bad.any():
            if unknown == "unk":
                ids[bad] = UNK
            elif unknown == "skip":
                ids = ids[~bad]
            else:
                chars = self.unknown(text)
                where = np.flatnonzero(bad)[:10].tolist()
                hint = "; pass unknown='unk' (CLI: --unknown unk) to map them to <unk>" if self.specials else ""
                raise BoucleError(
                    f"{name}: {describe_chars(chars)} not in the model's vocabulary of "
                    f"{len(self.chars)} characters: unknown {chars[:8]!r} at position(s) {where} "
                    f"of {_short(text)}{hint}"
                )
        return ids

    @staticmethod
    def _truncate(seq, n: int, name: str, max_len: int, too_long: str, what: str):
        if too_long == "error":
            raise BoucleError(
                f"{name}: expected at most {max_len} {what} (max_len), got "
                f"{n} in {_short(seq if isinstance(seq, str) else ' '.join(seq))}; pass "
                f"too_long='truncate' (CLI: --truncate) to keep the first {max_len}"
            )
        warnings.warn(f"{name}: {n} {what} truncated to max_len={max_len}", stacklevel=3)
        return seq[:max_len]

    def _encode_words(self, text: str, name: str, unknown: str, max_len, too_long: str) -> np.ndarray:
        tokens = self.tokenizer.tokenize(text)
        if self.specials and not tokens:
            raise BoucleError(f"{name}: expected a text with at least one token, got {_short(text)}")
        if max_len is not None and len(tokens) > max_len:
            tokens = self._truncate(tokens, len(tokens), name, max_len, too_long, "tokens")
        return self.tokens_to_ids(tokens, name, unknown=unknown, _text=text)

    def tokens_to_ids(
        self, tokens: Sequence[str], name: str = "tokens", *, unknown: str | None = None, _text: str | None = None
    ) -> np.ndarray:
        """Ids of ``tokens`` (special tokens by their names too), int64; ``unknown`` as in :meth:`encode`."""
        unknown = self._default_unknown() if unknown is None else unknown
        one_of(unknown, ("error", "unk", "skip"), "unknown")
        index = self.index if not self.specials else {**dict(zip(SPECIAL_TOKENS, range(self.offset))), **self.index}
        ids = np.fromiter((index.get(t, -1) for t in tokens), dtype=np.int64, count=len(tokens))
        bad = ids < 0
        if bad.any():
            if unknown == "unk":
                ids[bad] = UNK
            elif unknown == "skip":
                ids = ids[~bad]
            else:
                words = list(dict.fromkeys(t for t, b in zip(tokens, bad) if b))
                where = np.flatnonzero(bad)[:10].tolist()
                source = f" of {_short(_text)}" if _text is not None else ""
                hint = "; pass unknown='unk' to map them to <unk>" if self.specials else ""
                raise BoucleError(
                    f"{name}: tokens {words[:8]!r} not in the vocabulary of {len(self.tokens)} "
                    f"{self.level}, at position(s) {where}{source}{hint}"
                )
        return ids

    def ids_to_tokens(self, ids: Any) -> list[str]:
        """The token of each id (the special tokens by their names)."""
        ids = self._check_ids(ids)
        itos = self.itos
        return [itos[i] for i in ids.tolist()]

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        unknown: str | None = None,
        max_len: int | None = None,
        too_long: str = "error",
        name: str = "texts",
    ) -> np.ndarray:
        """``(N, T)`` int64 ids, right-padded with ``PAD`` to the longest text (special tokens needed)."""
        if not self.specials:
            raise BoucleError("encode_batch: padding needs a vocabulary with the special tokens (specials=True)")
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or len(texts) == 0:
            raise BoucleError(f"{name}: expected a non-empty list of strings, got {_short(texts)}")
        rows = [
            self.encode(t, f"{name}[{i}]", unknown=unknown, max_len=max_len, too_long=too_long)
            for i, t in enumerate(texts)
        ]
        out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    # -- ids -> text -----------------------------------------------------------------
    def _check_ids(self, ids: Any) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = ids[(ids < 0) | (ids >= len(self))][0]
            raise BoucleError(f"ids: expected token ids in [0, {len(self)}), got {bad}")
        return ids

    def decode(self, ids: Any) -> str:
        """The text of ``ids``. With the special tokens: stops at the first ``END``, skips
        ``PAD``/``START``, shows ``UNK`` as U+FFFD (characters) or ``<unk>`` (words).
        Words are joined by one space."""
        ids = self._check_ids(ids)
        if self.specials:
            ends = np.flatnonzero(ids == END)
            ids = ids[: ends[0]] if len(ends) else ids
            ids = ids[(ids != PAD) & (ids != START)]
        if self.level == "words":
            return self.tokenizer.join(self.ids_to_tokens(ids))
        out = np.where(ids == UNK, ord(_UNK_CHAR), 0) if self.specials else np.zeros_like(ids)
        known = ids >= self.offset
        out[known] = self._codes[ids[known] - self.offset]
        return out.astype(np.uint32).tobytes().decode("utf-32-le")

    # -- files -----------------------------------------------------------------------
    def get_config(self) -> dict:
        """Characters: ``{"chars", "specials"}`` (``"lower"`` when set); words: ``{"tokens",
        "specials", "tokenizer", "counts"}``."""
        if self.level == "chars":
            cfg: dict = {"chars": "".join(self.chars), "specials": self.specials}
            if self.tokenizer.lower:
                cfg["lower"] = True
            return cfg
        cfg = {"tokens": list(self.tokens), "specials": self.specials, "tokenizer": self.tokenizer.get_config()}
        if self.counts is not None:
            cfg["counts"] = self.counts.tolist()
        return cfg

    @classmethod
    def from_config(cls, config: dict, default_specials: bool = False) -> Vocabulary:
        """Rebuild from :meth:`get_config`; files written before ``"specials"`` was stored
        take ``default_specials`` (False for char models, True for encoder–decoders)."""
        if isinstance(config, dict) and isinstance(config.get("tokens"), list):
            specials = boolean(config.get("specials", default_specials), "specials", "vocabulary config")
            return cls(
                config["tokens"],
                specials,
                tokenizer=Tokenizer.from_config(config.get("tokenizer", {"level": "words"})),
                counts=config.get("counts"),
            )
        if not isinstance(config, dict) or not isinstance(config.get("chars"), str):
            raise BoucleError(
                f"vocabulary config: expected {{'chars': str}} or {{'tokens': [...]}}, got {_short(config, 80)}"
            )
        specials = boolean(config.get("specials", default_specials), "specials", "vocabulary config")
        lower = boolean(config.get("lower", False), "lower", "vocabulary config")
        return cls(config["chars"], specials, tokenizer=Tokenizer("chars", lower))


def token_ids(
    x: Any,
    vocab: Vocabulary | None,
    size: int,
    name: str = "x",
    unknown: str = "error",
    too_long: str = "error",
    max_len: int | None = None,
) -> np.ndarray:
    """Texts (encoded with ``vocab``) or right-padded (N, T) ids → checked (N, T) int64 ids.

    Ids must lie in [0, ``size``); with ``max_len`` no sequence may hold more tokens
    (texts follow ``too_long``, see :meth:`Vocabulary.encode`).
    """
    if isinstance(x, (list, tuple)) and x and all(isinstance(t, str) for t in x):
        if vocab is None:
            raise BoucleError(f"{name}: expected token ids (the model has no character vocabulary), got strings")
        return vocab.encode_batch(list(x), unknown=unknown, max_len=max_len, too_long=too_long, name=name)
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise BoucleError(f"{name}: expected a non-empty list of strings or (N, T) token ids, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise BoucleError(f"{name}: expected integer token ids, got dtype {a.dtype}")
    if a.min() < 0 or a.max() >= size:
        raise BoucleError(f"{name}: expected token ids in [0, {size}), got values in [{a.min()}, {a.max()}]")
    if max_len is not None and ((a != PAD).sum(axis=1) > max_len).any():
        raise BoucleError(
            f"{name}: expected sequences of at most {max_len} tokens (max_source_len), "
            f"got {(a != PAD).sum(axis=1).max()}"
        )
    return a.astype(np.int64, copy=False)
