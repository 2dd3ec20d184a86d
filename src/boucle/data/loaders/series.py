"""Dated series in CSV files: seed 004's ``[jour, mois, année, valeur]`` rows → a dated series
(:func:`load_csv_series`) → sliding windows for forecasting (:func:`csv_windows`).

Every malformed input raises a one-line :class:`BoucleError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BoucleError
from ..text import read_text
from ..windows import sliding_windows

__all__ = ["CSVSeries", "load_csv_series", "csv_windows"]


@dataclass
class CSVSeries:
    """A dated series: ``dates (N,)`` datetime64[D] in increasing order, ``values (N, V)`` float64."""

    dates: np.ndarray
    values: np.ndarray
    columns: list[str]

    def with_date_features(self) -> np.ndarray:
        """Seed 004's rows ``[jour, mois, année, valeur...]`` as floats: ``(N, 3 + V)``."""
        y = self.dates.astype("datetime64[Y]")
        m = self.dates.astype("datetime64[M]")
        day = (self.dates - m).astype(np.int64) + 1
        month = (m - y).astype(np.int64) + 1
        year = y.astype(np.int64) + 1970
        return np.column_stack([day, month, year, self.values]).astype(np.float64)


def load_csv_series(
    path: str | os.PathLike,
    date_columns: Sequence[str] = ("day", "month", "year"),
    value_columns: Sequence[str] | None = None,
    delimiter: str = ",",
) -> CSVSeries:
    """Read a CSV of dated values (seed 004: ``02,10,2015,1500`` = day, month, year, value).

    ``date_columns`` names the date fields: ``("day", "month", "year")`` (any order) or
    one ISO ``YYYY-MM-DD`` column such as ``("date",)``. With a header row the columns
    are found by name (``value_columns`` default: every other column); without one,
    the date fields come first in ``date_columns`` order, the values after them.
    Rows are sorted by date; a repeated date, a wrong field count, a missing or
    non-numeric value, or an impossible date is an error naming the line.
    """
    path = Path(path)
    text = read_text(path)
    dcols = [c.lower() for c in date_columns]
    if sorted(dcols) not in (["day", "month", "year"],) and len(dcols) != 1:
        raise BoucleError(
            f"date_columns: expected ('day', 'month', 'year') in any order or one ISO date "
            f"column, got {tuple(date_columns)}"
        )
    rows = [
        (i, r)
        for i, r in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1)
        if r and any(f.strip() for f in r)
    ]
    if not rows:
        raise BoucleError(f"{path}: expected rows of dates and values, found none")
    first = [f.strip() for f in rows[0][1]]
    has_header = any(f and not _is_number(f) and not _is_iso(f) for f in first)
    if has_header:
        names = [f.lower() for f in first]
        missing = [c for c in dcols if c not in names]
        if missing:
            raise BoucleError(
                f"{path}:{rows[0][0]}: expected date columns {list(dcols)} in the header, missing {missing}"
            )
        date_idx = [names.index(c) for c in dcols]
        vnames = [c.lower() for c in value_columns] if value_columns else [n for n in names if n not in dcols]
        bad = [c for c in vnames if c not in names]
        if bad or not vnames:
            raise BoucleError(
                f"{path}:{rows[0][0]}: expected value columns {vnames or '(some)'} in the header "
                f"{first}, missing {bad or 'all'}"
            )
        value_idx = [names.index(c) for c in vnames]
        rows = rows[1:]
        width = len(first)
    else:
        width = len(first)
        date_idx = list(range(len(dcols)))
        value_idx = list(range(len(dcols), width))
        vnames = [f"value{k}" for k in range(len(value_idx))] if len(value_idx) > 1 else ["value"]
        if not value_idx:
            raise BoucleError(
                f"{path}:{rows[0][0]}: expected {len(dcols)} date fields and at least one value, got {width} fields"
            )
    if not rows:
        raise BoucleError(f"{path}: expected data rows after the header, found none")
    dates, values, lines = [], [], []
    for lineno, r in rows:
        if len(r) != width:
            raise BoucleError(f"{path}:{lineno}: expected {width} fields, got {len(r)}")
        f = [v.strip() for v in r]
        dates.append(_parse_date([f[i] for i in date_idx], dcols, path, lineno))
        vals = []
        for i in value_idx:
            if not _is_number(f[i]):
                raise BoucleError(f"{path}:{lineno}: expected a number in column {i + 1}, got {f[i]!r}")
            vals.append(float(f[i]))
        values.append(vals)
        lines.append(lineno)
    d = np.array(dates, dtype="datetime64[D]")
    order = np.argsort(d, kind="stable")
    d = d[order]
    dup = np.nonzero(d[1:] == d[:-1])[0]
    if dup.size:
        raise BoucleError(f"{path}:{lines[order[dup[0] + 1]]}: date {d[dup[0]]} appears twice")
    v = np.asarray(values, dtype=np.float64)[order]
    if not np.isfinite(v).all():
        k = int(np.argwhere(~np.isfinite(v))[0, 0])
        raise BoucleError(f"{path}:{lines[order[k]]}: expected finite values, got {v[k].tolist()}")
    return CSVSeries(d, v, vnames)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return s.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")
    except ValueError:
        return False


def _is_iso(s: str) -> bool:
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", s) is not None


def _parse_date(fields: list[str], dcols: list[str], path: Path, lineno: int) -> np.datetime64:
    if len(dcols) == 1:
        s = fields[0]
        if not _is_iso(s):
            raise BoucleError(f"{path}:{lineno}: expected a YYYY-MM-DD date, got {s!r}")
        try:
            return np.datetime64(s, "D")
        except ValueError:
            raise BoucleError(f"{path}:{lineno}: not a valid date: {s!r}") from None
    parts = dict(zip(dcols, fields))
    try:
        day, month, year = (int(parts[k]) for k in ("day", "month", "year"))
    except ValueError:
        raise BoucleError(f"{path}:{lineno}: expected integer day, month, year, got {fields}") from None
    try:
        return np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D")
    except ValueError:
        raise BoucleError(f"{path}:{lineno}: not a valid date: day {day}, month {month}, year {year}") from None


def csv_windows(
    path: str | os.PathLike,
    window: int,
    horizon: int = 1,
    stride: int = 1,
    date_features: bool = False,
    **csv_kwargs: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sliding windows over a CSV series (:func:`load_csv_series`, then
    :func:`boucle.data.windows.sliding_windows`).

    ``date_features=True`` feeds seed 004's full rows ``[jour, mois, année, valeur]``
    as inputs; the targets are always the value columns. Returns ``x (M, window, F)``,
    ``y (M, horizon, V)`` and the date of each window's first target ``(M,)``.
    """
    s = load_csv_series(path, **csv_kwargs)
    data = s.with_date_features() if date_features else s.values
    V = s.values.shape[1]
    targets = list(range(data.shape[1] - V, data.shape[1]))
    x, y = sliding_windows(data, window, horizon, stride, targets)
    first = np.arange(0, len(data) - window - horizon + 1, stride) + window
    return x, y, s.dates[first]
