"""The one character vocabulary: characters ↔ ids, with or without the special tokens.

- A **character model** (seed 002: "RNNs Génératifs") predicts the next character among the
  characters of its text: ``Vocabulary.from_text(text)``, ids 0..V-1 in the sorted order
  of the characters, no special token.
- An **encoder–decoder** needs four reserved ids (``specials=True``): ``PAD = 0`` (padding;
  masks are ``ids != PAD``), ``START = 1`` (the decoder's first input), ``END = 2`` (the end
  of a target) and ``UNK = 3`` (a character outside the vocabulary, on request); the
  characters follow, sorted, from id 4.

Unknown characters (:meth:`Vocabulary.encode`): by default an error naming them, their
positions and the text; ``unknown="unk"`` maps them to ``UNK`` (vocabularies with the
special tokens only). Texts longer than ``max_len`` are an error by default;
``too_long="truncate"`` keeps the first ``max_len`` characters with a warning.
Encoding is vectorised over the code points (millions of characters per second).
"""
from __future__ import annotations

import warnings
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import BoucleError
from ..validators import boolean, one_of

__all__ = ["PAD", "START", "END", "UNK", "SPECIAL_TOKENS", "Vocabulary", "token_ids", "describe_chars"]

PAD, START, END, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<start>", "<end>", "<unk>")
_UNK_CHAR = "\ufffd"                         # how decode() shows UNK


def describe_chars(chars: Sequence[str], limit: int = 8) -> str:
    """``characters 'é' (U+00E9), '\\t' (U+0009)`` — for error messages."""
    parts = [f"{c!r} (U+{ord(c):04X})" for c in chars[:limit]]
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return f"character{'s' * (len(chars) != 1)} " + ", ".join(parts) + more


def _short(obj: Any, n: int = 40) -> str:
    s = repr(obj)
    return s if len(s) <= n else s[:n - 3] + "...'"


class Vocabulary:
    """Characters ↔ ids (see the module docstring).

    Args:
        chars: the characters (any iterable of single characters; duplicates are merged).
        specials: reserve ids 0..3 for ``PAD, START, END, UNK`` (encoder–decoders).

    Attributes: ``chars`` (sorted), ``index`` (character -> id), ``offset`` (the id of the
    first character: 4 with the special tokens, else 0).
    """

    def __init__(self, chars: Iterable[str], specials: bool = False):
        if isinstance(chars, str):
            chars = list(chars)
        chars = list(chars)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise BoucleError(f"chars: expected single characters, got {bad[:3]!r}")
        chars = sorted(set(chars))
        if not chars:
            raise BoucleError("chars: expected at least one character, got none")
        self.specials = bool(specials)
        self.offset = len(SPECIAL_TOKENS) if self.specials else 0
        self.chars: list[str] = chars
        self.index: dict[str, int] = {c: i + self.offset for i, c in enumerate(chars)}
        self._codes = np.array([ord(c) for c in chars], dtype=np.int64)        # sorted code points

    @classmethod
    def from_text(cls, text: str, specials: bool = False) -> "Vocabulary":
        """The characters of ``text``."""
        if not isinstance(text, str) or not text:
            raise BoucleError(f"text: expected a non-empty text to build a vocabulary from, got {_short(text)}")
        return cls(set(text), specials)

    @classmethod
    def from_texts(cls, texts: Iterable[str], specials: bool = True) -> "Vocabulary":
        """Every character occurring in ``texts`` (with the special tokens by default: seq2seq)."""
        return cls(set().union(*(set(t) for t in texts)), specials)

    def __len__(self) -> int:
        return self.offset + len(self.chars)

    @property
    def size(self) -> int:
        return len(self)

    def __contains__(self, ch: str) -> bool:
        return ch in self.index

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Vocabulary) and other.chars == self.chars and other.specials == self.specials

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        extra = f" + {len(SPECIAL_TOKENS)} special tokens" if self.specials else ""
        return f"Vocabulary({len(self.chars)} characters{extra})"

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that are not in the vocabulary, in order of appearance."""
        return [c for c in dict.fromkeys(text) if c not in self.index]

    # -- text -> ids -----------------------------------------------------------------
    def encode(self, text: str, name: str = "text", *, unknown: str = "error", max_len: int | None = None,
               too_long: str = "error") -> np.ndarray:
        """Ids of the characters of ``text`` (no START/END), int64 ``(len(text),)``.

        Args:
            name: the argument name used in error messages.
            unknown: ``"error"`` (default: a BoucleError naming the characters) or ``"unk"``
                (needs the special tokens).
            max_len: the longest text allowed (None = any); a vocabulary with special tokens
                also refuses an empty text (a sequence to translate).
            too_long: ``"error"`` (default) or ``"truncate"`` (keep ``max_len`` characters, warn).
        """
        one_of(unknown, ("error", "unk"), "unknown")
        one_of(too_long, ("error", "truncate"), "too_long")
        if unknown == "unk" and not self.specials:
            raise BoucleError("unknown: 'unk' needs a vocabulary with the special tokens (specials=True), "
                              "got one without")
        if not isinstance(text, str):
            raise BoucleError(f"{name}: expected a str, got {type(text).__name__}")
        if self.specials and not text:
            raise BoucleError(f"{name}: expected a non-empty string, got ''")
        if max_len is not None and len(text) > max_len:
            if too_long == "error":
                raise BoucleError(f"{name}: expected at most {max_len} characters (max_len), got "
                                  f"{len(text)} in {_short(text)}; pass too_long='truncate' (CLI: --truncate) "
                                  f"to keep the first {max_len}")
            warnings.warn(f"{name}: {len(text)} characters truncated to max_len={max_len}", stacklevel=2)
            text = text[:max_len]
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        pos = np.minimum(np.searchsorted(self._codes, cps), len(self._codes) - 1)
        bad = self._codes[pos] != cps
        ids = pos + self.offset
        if bad.any():
            if unknown == "unk":
                ids[bad] = UNK
            else:
                chars = self.unknown(text)
                where = np.flatnonzero(bad)[:10].tolist()
                hint = "; pass unknown='unk' (CLI: --unknown unk) to map them to <unk>" if self.specials else ""
                raise BoucleError(f"{name}: {describe_chars(chars)} not in the model's vocabulary of "
                                  f"{len(self.chars)} characters: unknown {chars[:8]!r} at position(s) {where} "
                                  f"of {_short(text)}{hint}")
        return ids

    def encode_batch(self, texts: Sequence[str], *, unknown: str = "error", max_len: int | None = None,
                     too_long: str = "error", name: str = "texts") -> np.ndarray:
        """``(N, T)`` int64 ids, right-padded with ``PAD`` to the longest text (special tokens needed)."""
        if not self.specials:
            raise BoucleError("encode_batch: padding needs a vocabulary with the special tokens (specials=True)")
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or len(texts) == 0:
            raise BoucleError(f"{name}: expected a non-empty list of strings, got {_short(texts)}")
        rows = [self.encode(t, f"{name}[{i}]", unknown=unknown, max_len=max_len, too_long=too_long)
                for i, t in enumerate(texts)]
        out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out

    # -- ids -> text -----------------------------------------------------------------
    def decode(self, ids: Any) -> str:
        """The text of ``ids``. With the special tokens: stops at the first ``END``, skips
        ``PAD``/``START``, shows ``UNK`` as U+FFFD."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = ids[(ids < 0) | (ids >= len(self))][0]
            raise BoucleError(f"ids: expected token ids in [0, {len(self)}), got {bad}")
        if self.specials:
            ends = np.flatnonzero(ids == END)
            ids = ids[:ends[0]] if len(ends) else ids
            ids = ids[(ids != PAD) & (ids != START)]
        out = np.where(ids == UNK, ord(_UNK_CHAR), 0) if self.specials else np.zeros_like(ids)
        known = ids >= self.offset
        out[known] = self._codes[ids[known] - self.offset]
        return out.astype(np.uint32).tobytes().decode("utf-32-le")

    # -- files -----------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"chars": "".join(self.chars), "specials": self.specials}

    @classmethod
    def from_config(cls, config: dict, default_specials: bool = False) -> "Vocabulary":
        """Rebuild from :meth:`get_config`; files written before ``"specials"`` was stored
        take ``default_specials`` (False for char models, True for encoder–decoders)."""
        if not isinstance(config, dict) or not isinstance(config.get("chars"), str):
            raise BoucleError(f"vocabulary config: expected {{'chars': str}}, got {_short(config, 80)}")
        specials = boolean(config.get("specials", default_specials), "specials", "vocabulary config")
        return cls(config["chars"], specials)


def token_ids(x: Any, vocab: Vocabulary | None, size: int, name: str = "x", unknown: str = "error",
              too_long: str = "error", max_len: int | None = None) -> np.ndarray:
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
        raise BoucleError(f"{name}: expected sequences of at most {max_len} tokens (max_source_len), "
                          f"got {(a != PAD).sum(axis=1).max()}")
    return a.astype(np.int64, copy=False)
