"""Sequence-to-sequence tasks generated from a seed (no download).

- :func:`dates_dataset`: human-written French and English dates ("21 août 2017",
  "lundi 21 août 2017", "le 1er mars 1999", "21/08/2017", "Aug 21, 2017", "Monday,
  August 21st, 2017", ...) → ISO ``2017-08-21``. The calendar dates of the range
  are split once: the test set's dates never occur in training, in any format.
- :func:`addition_dataset`: "123+45" → "168" (the Keras example's task: each
  operand has 1 to ``digits`` digits); test questions never occur in training.

Both come with their character vocabularies (:class:`boucle.data.vocab.Vocabulary`
with the special tokens PAD, START, END, UNK).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ... import backend, validators
from ...errors import BoucleError
from ..vocab import Vocabulary

__all__ = ["TextPairs", "dates_dataset", "format_date", "DATE_FORMATS", "addition_dataset"]


@dataclass
class TextPairs:
    """A generated task: training and held-out (source, target) strings and their vocabularies."""

    x_train: list[str]
    y_train: list[str]
    x_test: list[str]
    y_test: list[str]
    source_vocab: Vocabulary = field(repr=False)
    target_vocab: Vocabulary = field(repr=False)


# ----------------------------------------------------------------------------- dates
_MOIS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_MOIS_ABR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
_JOURS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _jour(d: int) -> str:
    return "1er" if d == 1 else str(d)


def _ordinal(d: int) -> str:
    suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


#: name -> format(date) (French first, then English; numeric dates are day first).
DATE_FORMATS = {
    "fr_long": lambda t: f"{_jour(t.day)} {_MOIS[t.month - 1]} {t.year}",  # 21 août 2017
    "fr_weekday": lambda t: f"{_JOURS[t.weekday()]} {_jour(t.day)} {_MOIS[t.month - 1]} {t.year}",
    "fr_le": lambda t: f"le {_jour(t.day)} {_MOIS[t.month - 1]} {t.year}",  # le 3 mars 1999
    "fr_le_weekday": lambda t: f"le {_JOURS[t.weekday()]} {_jour(t.day)} {_MOIS[t.month - 1]} {t.year}",
    "fr_abbr": lambda t: f"{t.day} {_MOIS_ABR[t.month - 1]} {t.year}",  # 21 sept. 2017
    "num_slash": lambda t: f"{t.day:02d}/{t.month:02d}/{t.year}",  # 21/08/2017
    "num_slash_short": lambda t: f"{t.day}/{t.month}/{t.year}",  # 3/8/2017
    "num_dot": lambda t: f"{t.day:02d}.{t.month:02d}.{t.year}",  # 21.08.2017
    "num_dash": lambda t: f"{t.day:02d}-{t.month:02d}-{t.year}",  # 21-08-2017
    "en_abbr": lambda t: f"{_MONTHS[t.month - 1][:3]} {t.day}, {t.year}",  # Aug 21, 2017
    "en_long": lambda t: f"{_MONTHS[t.month - 1]} {t.day}, {t.year}",  # August 21, 2017
    "en_weekday": lambda t: f"{_DAYS[t.weekday()]}, {_MONTHS[t.month - 1]} {t.day}, {t.year}",
    "en_ordinal": lambda t: f"{_MONTHS[t.month - 1]} {_ordinal(t.day)}, {t.year}",  # August 21st, 2017
    "en_of": lambda t: f"{_ordinal(t.day)} of {_MONTHS[t.month - 1]} {t.year}",  # 21st of August 2017
    "en_day_first": lambda t: f"{t.day} {_MONTHS[t.month - 1]} {t.year}",  # 21 August 2017
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


def dates_dataset(
    n_train: int = 20000,
    n_test: int = 2000,
    seed: int = 0,
    years: tuple[int, int] = (1950, 2049),
    test_fraction: float = 0.1,
    formats: Sequence[str] | None = None,
) -> TextPairs:
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
    n_train, n_test = validators.positive_int(n_train, "n_train"), validators.positive_int(n_test, "n_test")
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
    return TextPairs(
        x_train, y_train, x_test, y_test, Vocabulary(chars, specials=True), Vocabulary("0123456789-", specials=True)
    )


# ----------------------------------------------------------------------------- addition
def addition_dataset(
    n_train: int = 50000, n_test: int = 5000, digits: int = 3, seed: int = 0, reverse: bool = False
) -> TextPairs:
    """Questions "a+b" → answers str(a + b), as the Keras addition example.

    Each operand has a number of digits drawn uniformly in 1..``digits`` and then
    uniform digits (so "7+512" and "980+65" both occur). Questions are unique and
    the ``n_test`` test questions never occur in training. ``reverse=True`` reverses
    the question string (Sutskever et al. 2014's trick, which the Keras example uses).
    """
    rng = backend.make_rng(seed)
    digits = validators.integer(digits, "digits", minimum=1, maximum=9)
    n_train, n_test = validators.positive_int(n_train, "n_train"), validators.positive_int(n_test, "n_test")
    n_possible = sum(9 * 10 ** (k - 1) + (k == 1) for k in range(1, digits + 1)) ** 2
    total = n_train + n_test
    if total > 0.8 * n_possible:
        raise BoucleError(
            f"n_train + n_test: expected at most {int(0.8 * n_possible)} unique questions "
            f"for {digits} digits, got {total}"
        )
    seen: dict[tuple[int, int], None] = {}
    while len(seen) < total:
        m = 2 * (total - len(seen)) + 16
        la, lb = rng.integers(1, digits + 1, size=(2, m))
        a = rng.integers(0, 10**la)
        b = rng.integers(0, 10**lb)
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
    return TextPairs(
        qs[:n_train],
        ans[:n_train],
        qs[n_train:],
        ans[n_train:],
        Vocabulary("0123456789+", specials=True),
        Vocabulary("0123456789", specials=True),
    )
