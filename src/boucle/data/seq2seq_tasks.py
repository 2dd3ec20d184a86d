"""Sequence-to-sequence tasks generated from a seed (no download), and the character vocabulary.

- :func:`dates_dataset`: human-written French and English dates ("21 août 2017",
  "lundi 21 août 2017", "le 1er mars 1999", "21/08/2017", "Aug 21, 2017", "Monday,
  August 21st, 2017", ...) → ISO ``2017-08-21``. The calendar dates of the range
  are split once: the test set's dates never occur in training, in any format.
- :func:`addition_dataset`: "123+45" → "168" (the Keras example's task: each
  operand has 1 to ``digits`` digits); test questions never occur in training.

:class:`CharVocab` maps characters to ids with four reserved tokens,
``PAD = 0`` (padding; masks are ``ids != PAD``), ``START = 1`` (first decoder
input), ``END = 2`` (end of a target) and ``UNK = 3``.

Unknown-character policy (:meth:`CharVocab.encode`): by default a character that
is not in the vocabulary is an error that names it and its position;
``unknown="unk"`` maps it to ``UNK`` instead. Texts longer than ``max_len`` are an
error by default; ``too_long="truncate"`` keeps the first ``max_len`` characters
with a warning. An empty text is always an error.
"""
from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .. import backend
from ..errors import BoucleError

__all__ = ["PAD", "START", "END", "UNK", "SPECIAL_TOKENS", "CharVocab", "TextPairs", "token_ids",
           "teacher_forcing", "trim_padding",
           "dates_dataset", "format_date", "DATE_FORMATS", "addition_dataset"]

PAD, START, END, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<start>", "<end>", "<unk>")
_UNK_CHAR = "\ufffd"                         # how decode() shows UNK


class CharVocab:
    """Characters ↔ ids; ids 0..3 are ``PAD, START, END, UNK``, then the characters in sorted order."""

    def __init__(self, chars: Iterable[str]):
        chars = sorted(set(chars))
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise BoucleError(f"chars: expected single characters, got {bad[:3]!r}")
        self.chars: list[str] = chars
        self.index: dict[str, int] = {c: i + len(SPECIAL_TOKENS) for i, c in enumerate(chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "CharVocab":
        """The vocabulary of every character occurring in ``texts``."""
        return cls(set().union(*(set(t) for t in texts)))

    def __len__(self) -> int:
        return len(SPECIAL_TOKENS) + len(self.chars)

    @property
    def size(self) -> int:
        return len(self)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, CharVocab) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"CharVocab({len(self.chars)} characters + {len(SPECIAL_TOKENS)} special tokens)"

    def get_config(self) -> dict:
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_config(cls, config: dict) -> "CharVocab":
        if not isinstance(config, dict) or not isinstance(config.get("chars"), str):
            raise BoucleError(f"vocabulary config: expected {{'chars': str}}, got {config!r}")
        return cls(config["chars"])

    def encode(self, text: str, *, unknown: str = "error", max_len: int | None = None,
               too_long: str = "error", name: str = "text") -> np.ndarray:
        """Ids of the characters of ``text`` (no START/END), int64 ``(len(text),)``.

        Args:
            unknown: ``"error"`` (default: a BoucleError naming the characters) or ``"unk"``.
            max_len: the longest text allowed (None = any).
            too_long: ``"error"`` (default) or ``"truncate"`` (keep ``max_len`` characters, warn).
            name: the argument name used in error messages.
        """
        if unknown not in ("error", "unk"):
            raise BoucleError(f"unknown: expected 'error' or 'unk', got {unknown!r}")
        if too_long not in ("error", "truncate"):
            raise BoucleError(f"too_long: expected 'error' or 'truncate', got {too_long!r}")
        if not isinstance(text, str):
            raise BoucleError(f"{name}: expected a string, got {type(text).__name__}")
        if not text:
            raise BoucleError(f"{name}: expected a non-empty string, got ''")
        if max_len is not None and len(text) > max_len:
            if too_long == "error":
                raise BoucleError(f"{name}: expected at most {max_len} characters (max_len), got "
                                  f"{len(text)} in {_short(text)}; pass too_long='truncate' (CLI: --truncate) "
                                  f"to keep the first {max_len}")
            warnings.warn(f"{name}: {len(text)} characters truncated to max_len={max_len}", stacklevel=2)
            text = text[:max_len]
        ids = [self.index.get(c, UNK) for c in text]
        if unknown == "error" and UNK in ids:
            pos = [i for i, k in enumerate(ids) if k == UNK]
            chars = sorted({text[i] for i in pos})
            raise BoucleError(f"{name}: expected characters of the vocabulary, got unknown {chars!r} at "
                              f"position(s) {pos[:10]} of {_short(text)}; pass unknown='unk' (CLI: --unknown unk) "
                              f"to map them to <unk>")
        return np.asarray(ids, dtype=np.int64)

    def encode_batch(self, texts: Sequence[str], *, unknown: str = "error", max_len: int | None = None,
                     too_long: str = "error", name: str = "texts") -> np.ndarray:
        """``(N, T)`` int64 ids, right-padded with ``PAD`` to the longest text."""
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or len(texts) == 0:
            raise BoucleError(f"{name}: expected a non-empty list of strings, got {_short(texts)}")
        rows = [self.encode(t, unknown=unknown, max_len=max_len, too_long=too_long, name=f"{name}[{i}]")
                for i, t in enumerate(texts)]
        out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``: stops at the first ``END``, skips ``PAD``/``START``, shows ``UNK`` as U+FFFD."""
        out = []
        for k in ids:
            k = int(k)
            if k == END:
                break
            if k in (PAD, START):
                continue
            if k == UNK:
                out.append(_UNK_CHAR)
            elif 0 <= k - len(SPECIAL_TOKENS) < len(self.chars):
                out.append(self.chars[k - len(SPECIAL_TOKENS)])
            else:
                raise BoucleError(f"ids: expected token ids in [0, {len(self)}), got {k}")
        return "".join(out)


def token_ids(x: Any, vocab: CharVocab | None, size: int, name: str = "x", unknown: str = "error",
              too_long: str = "error", max_len: int | None = None) -> np.ndarray:
    """Texts (encoded with ``vocab``) or right-padded (N, T) ids → checked (N, T) int64 ids.

    Ids must lie in [0, ``size``); with ``max_len`` no sequence may hold more tokens
    (texts follow ``too_long``, see :meth:`CharVocab.encode`).
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


def trim_padding(x: np.ndarray) -> np.ndarray:
    """x (N, T) without its trailing all-PAD columns (at least one column kept)."""
    cols = np.flatnonzero((x != PAD).any(axis=0))
    return x[:, :int(cols[-1]) + 1 if len(cols) else 1]


def teacher_forcing(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-padded targets (N, T) → decoder inputs [START, y_1..y_L], targets [y_1..y_L, END]
    and their (N, T') boolean mask, T' = longest L + 1. Teacher forcing: seed 002's generative
    RNN gives "la sortie au temps t comme entrée au temps t+1"; in training that output is the true one."""
    valid = y != PAD
    lengths = valid.sum(axis=1)
    if (valid != (np.arange(y.shape[1]) < lengths[:, None])).any():
        raise BoucleError("y: expected right-padded target ids (PAD = 0 only after the last token)")
    T = int(lengths.max()) + 1
    dec_in = np.zeros((len(y), T), dtype=np.int64)
    dec_in[:, 0] = START
    dec_in[:, 1:] = y[:, :T - 1]
    target = np.zeros((len(y), T), dtype=np.int64)
    target[:, :T - 1] = y[:, :T - 1]
    target[np.arange(len(y)), lengths] = END
    return dec_in, target, np.arange(T) <= lengths[:, None]


def _short(obj: Any, n: int = 40) -> str:
    s = repr(obj)
    return s if len(s) <= n else s[:n - 3] + "...'"


@dataclass
class TextPairs:
    """A generated task: training and held-out (source, target) strings and their vocabularies."""
    x_train: list[str]
    y_train: list[str]
    x_test: list[str]
    y_test: list[str]
    source_vocab: CharVocab = field(repr=False)
    target_vocab: CharVocab = field(repr=False)


# ----------------------------------------------------------------------------- dates
_MOIS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
         "octobre", "novembre", "décembre")
_MOIS_ABR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
             "nov.", "déc.")
_JOURS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _jour(d: int) -> str:
    return "1er" if d == 1 else str(d)


def _ordinal(d: int) -> str:
    suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


#: name -> format(date) (French first, then English; numeric dates are day first).
DATE_FORMATS = {
    "fr_long": lambda t: f"{_jour(t.day)} {_MOIS[t.month - 1]} {t.year}",            # 21 août 2017
    "fr_weekday": lambda t: f"{_JOURS[t.weekday()]} {_jour(t.day)} {_MOIS[t.month - 1]} {t.year}",
    "fr_le": lambda t: f"le {_jour(t.day)} {_MOIS[t.month - 1]} {t.year}",          # le 3 mars 1999
    "fr_le_weekday": lambda t: f"le {_JOURS[t.weekday()]} {_jour(t.day)} {_MOIS[t.month - 1]} {t.year}",
    "fr_abbr": lambda t: f"{t.day} {_MOIS_ABR[t.month - 1]} {t.year}",               # 21 sept. 2017
    "num_slash": lambda t: f"{t.day:02d}/{t.month:02d}/{t.year}",                    # 21/08/2017
    "num_slash_short": lambda t: f"{t.day}/{t.month}/{t.year}",                      # 3/8/2017
    "num_dot": lambda t: f"{t.day:02d}.{t.month:02d}.{t.year}",                      # 21.08.2017
    "num_dash": lambda t: f"{t.day:02d}-{t.month:02d}-{t.year}",                     # 21-08-2017
    "en_abbr": lambda t: f"{_MONTHS[t.month - 1][:3]} {t.day}, {t.year}",            # Aug 21, 2017
    "en_long": lambda t: f"{_MONTHS[t.month - 1]} {t.day}, {t.year}",                # August 21, 2017
    "en_weekday": lambda t: f"{_DAYS[t.weekday()]}, {_MONTHS[t.month - 1]} {t.day}, {t.year}",
    "en_ordinal": lambda t: f"{_MONTHS[t.month - 1]} {_ordinal(t.day)}, {t.year}",   # August 21st, 2017
    "en_of": lambda t: f"{_ordinal(t.day)} of {_MONTHS[t.month - 1]} {t.year}",      # 21st of August 2017
    "en_day_first": lambda t: f"{t.day} {_MONTHS[t.month - 1]} {t.year}",            # 21 August 2017
    "en_short_weekday": lambda t: f"{_DAYS[t.weekday()][:3]} {t.day} {_MONTHS[t.month - 1][:3]} {t.year}",
}


def format_date(date: datetime.date, fmt: str, case: str = "as_is") -> str:
    """``date`` written in format ``fmt`` (a key of :data:`DATE_FORMATS`), then cased:
    ``"as_is"``, ``"lower"``, ``"upper"`` or ``"capitalize"`` (first letter only)."""
    if fmt not in DATE_FORMATS:
        raise BoucleError(f"fmt: expected one of {sorted(DATE_FORMATS)}, got {fmt!r}")
    s = DATE_FORMATS[fmt](date)
    if case == "lower":
        return s.lower()
    if case == "upper":
        return s.upper()
    if case == "capitalize":
        return s[:1].upper() + s[1:]
    if case != "as_is":
        raise BoucleError(f"case: expected one of ['as_is', 'lower', 'upper', 'capitalize'], got {case!r}")
    return s


_CASES = ("as_is", "lower", "upper", "capitalize")
_CASE_P = (0.7, 0.1, 0.1, 0.1)


def dates_dataset(n_train: int = 20000, n_test: int = 2000, seed: int = 0, years: tuple[int, int] = (1950, 2049),
                  test_fraction: float = 0.1, formats: Sequence[str] | None = None) -> TextPairs:
    """Human-written dates → ISO dates, from one seed.

    The calendar dates of ``years`` (inclusive) are shuffled once; a fraction
    ``test_fraction`` of them is held out. ``n_train`` training pairs are drawn from
    the other dates, ``n_test`` test pairs from the held-out ones — so no test date
    occurs in training, in any format. Each pair picks a format of
    :data:`DATE_FORMATS` (uniformly, or among ``formats``) and a casing (as written
    70 %, lower/upper/capitalised 10 % each). The source vocabulary holds every
    character the formats can produce; the target vocabulary ``0123456789-``.
    """
    rng = backend.make_rng(seed)
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise BoucleError(f"{name}: expected a positive int, got {v!r}")
    if not 0.0 < test_fraction < 1.0:
        raise BoucleError(f"test_fraction: expected a float in (0, 1), got {test_fraction!r}")
    y0, y1 = years
    if not 1 <= y0 <= y1 <= 9999:
        raise BoucleError(f"years: expected (first, last) with 1 <= first <= last <= 9999, got {years!r}")
    fmts = list(DATE_FORMATS) if formats is None else list(formats)
    for f in fmts:
        if f not in DATE_FORMATS:
            raise BoucleError(f"formats: expected names among {sorted(DATE_FORMATS)}, got {f!r}")
    first = datetime.date(y0, 1, 1).toordinal()
    days = np.arange(first, datetime.date(y1, 12, 31).toordinal() + 1)
    days = days[rng.permutation(len(days))]
    n_held = max(1, int(round(len(days) * test_fraction)))
    held, kept = days[:n_held], days[n_held:]

    def draw(pool, n):
        xs, ys = [], []
        for o, f, c in zip(rng.choice(pool, n), rng.integers(len(fmts), size=n), rng.choice(4, n, p=_CASE_P)):
            d = datetime.date.fromordinal(int(o))
            xs.append(format_date(d, fmts[f], _CASES[c]))
            ys.append(d.isoformat())
        return xs, ys

    x_train, y_train = draw(kept, n_train)
    x_test, y_test = draw(held, n_test)
    probe = [datetime.date(2001, m, d) for m in range(1, 13) for d in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 28)]
    chars = {ch for d in probe for f in DATE_FORMATS for c in _CASES for ch in format_date(d, f, c)}
    chars |= set("0123456789")
    return TextPairs(x_train, y_train, x_test, y_test, CharVocab(chars), CharVocab("0123456789-"))


# ----------------------------------------------------------------------------- addition
def addition_dataset(n_train: int = 50000, n_test: int = 5000, digits: int = 3, seed: int = 0,
                     reverse: bool = False) -> TextPairs:
    """Questions "a+b" → answers str(a + b), as the Keras addition example.

    Each operand has a number of digits drawn uniformly in 1..``digits`` and then
    uniform digits (so "7+512" and "980+65" both occur). Questions are unique and
    the ``n_test`` test questions never occur in training. ``reverse=True`` reverses
    the question string (Sutskever et al. 2014's trick, which the Keras example uses).
    """
    rng = backend.make_rng(seed)
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or not 1 <= digits <= 9:
        raise BoucleError(f"digits: expected an int in [1, 9], got {digits!r}")
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise BoucleError(f"{name}: expected a positive int, got {v!r}")
    n_possible = sum(9 * 10 ** (k - 1) + (k == 1) for k in range(1, digits + 1)) ** 2
    total = n_train + n_test
    if total > 0.8 * n_possible:
        raise BoucleError(f"n_train + n_test: expected at most {int(0.8 * n_possible)} unique questions "
                          f"for {digits} digits, got {total}")
    seen: dict[tuple[int, int], None] = {}
    while len(seen) < total:
        m = 2 * (total - len(seen)) + 16
        la, lb = rng.integers(1, digits + 1, size=(2, m))
        a = rng.integers(0, 10 ** la)
        b = rng.integers(0, 10 ** lb)
        for pair in zip(a.tolist(), b.tolist()):
            seen.setdefault(pair)
            if len(seen) == total:
                break
    pairs = list(seen)
    order = rng.permutation(total)
    qs = [f"{pairs[i][0]}+{pairs[i][1]}" for i in order]
    ans = [str(pairs[i][0] + pairs[i][1]) for i in order]
    if reverse:
        qs = [q[::-1] for q in qs]
    return TextPairs(qs[:n_train], ans[:n_train], qs[n_train:], ans[n_train:],
                     CharVocab("0123456789+"), CharVocab("0123456789"))
