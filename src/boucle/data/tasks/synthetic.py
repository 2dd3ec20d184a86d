"""Synthetic sequence tasks, each a pure function of its arguments and a seed.

- :func:`adding_problem` — Hochreiter & Schmidhuber (1997), experiment 4, in the
  form of Le et al. (2015): two channels, values and markers; the target is the sum
  of the two marked values. Predicting the mean (1.0) gives MSE 1/6 ≈ 0.167.
- :func:`copy_task` — the copy/memory task (Hochreiter & Schmidhuber 1997;
  Arjovsky et al. 2016): remember ``length`` symbols across a ``delay`` of blanks.
- :func:`reber_string`, :func:`embedded_reber_string`, :func:`embedded_reber` and the
  acceptors :func:`is_reber`, :func:`is_embedded_reber` — Reber's grammar
  (Reber 1967; Hochreiter & Schmidhuber 1997, experiment 1): next-symbol prediction
  where the penultimate symbol depends on the second one (seed 002, "Dépendances à
  long terme").
- :func:`sine_mixture` — a sum of sines, a smooth series to forecast (Mackey–Glass
  lives in :mod:`boucle.data.tasks.timeseries`).
- :func:`melodies` — scales and arpeggios by key, for one-to-many generation
  (seed 000: "Génération de musique", x = ∅ or one vector → a sequence).

Randomness only through the ``numpy.random.Generator`` made from ``seed``
(:func:`boucle.backend.make_rng`): the same seed gives the same arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import validators
from ...backend import floatx, make_rng, resolve_dtype
from ...errors import BoucleError
from ..padding import pad_sequences

__all__ = [
    "adding_problem",
    "ADDING_BASELINE_MSE",
    "copy_task",
    "copy_baseline",
    "REBER_SYMBOLS",
    "reber_string",
    "embedded_reber_string",
    "is_reber",
    "is_embedded_reber",
    "reber_next_symbols",
    "embedded_reber",
    "sine_mixture",
    "MELODY_PATTERNS",
    "melodies",
]

#: MSE of always predicting E[y] = 1 on the adding problem: Var(u1 + u2) = 2 * 1/12.
ADDING_BASELINE_MSE = 1.0 / 6.0


# ----------------------------------------------------------------------------- adding problem


def adding_problem(n: int, T: int, seed: Any = None, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: ``x (n, T, 2)``, ``y (n, 1)``.

    Channel 0 holds values u_t ~ U[0, 1]; channel 1 is 1 at two positions — one in
    the first half ``[0, T/2)``, one in the second half ``[T/2, T)`` — and 0 elsewhere.
    ``y = Σ_t u_t · marker_t``. A model must carry the first marked value across at
    least T/2 steps; the trivial answer y = 1 scores :data:`ADDING_BASELINE_MSE`.
    """
    n, T = validators.integer(n, "n", minimum=1), validators.integer(T, "T", minimum=2)
    rng = make_rng(seed)
    dt = resolve_dtype(dtype)
    half = T // 2
    u = rng.random((n, T))  # (n, T)
    i = rng.integers(0, half, size=n)
    j = rng.integers(half, T, size=n)
    marks = np.zeros((n, T))
    rows = np.arange(n)
    marks[rows, i] = 1.0
    marks[rows, j] = 1.0
    x = np.stack([u, marks], axis=-1).astype(dt)  # (n, T, 2)
    y = (u[rows, i] + u[rows, j]).reshape(n, 1).astype(dt)  # (n, 1)
    return x, y


# ----------------------------------------------------------------------------- copy task


def copy_task(
    n: int, length: int = 10, delay: int = 20, n_symbols: int = 8, seed: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """The copy/memory task as token ids: ``x, y`` both ``(n, length + delay + length)`` int64.

    Vocabulary: 0 = blank, 1..n_symbols = data symbols, n_symbols + 1 = "recall" marker.
    ``x = [s_1..s_L, 0 × (delay - 1), recall, 0 × L]``, ``y = [0 × (L + delay), s_1..s_L]``:
    at the last L steps the model must output the L symbols it saw ``delay + L`` steps
    earlier. Use ``n_symbols + 2`` input classes and ``n_symbols + 1`` output classes.
    The memoryless baseline is :func:`copy_baseline`.
    """
    n, length = validators.integer(n, "n", minimum=1), validators.integer(length, "length", minimum=1)
    delay, n_symbols = (
        validators.integer(delay, "delay", minimum=1),
        validators.integer(n_symbols, "n_symbols", minimum=1),
    )
    rng = make_rng(seed)
    T = length + delay + length
    s = rng.integers(1, n_symbols + 1, size=(n, length))
    x = np.zeros((n, T), dtype=np.int64)
    y = np.zeros((n, T), dtype=np.int64)
    x[:, :length] = s
    x[:, length + delay - 1] = n_symbols + 1
    y[:, -length:] = s
    return x, y


def copy_baseline(length: int = 10, delay: int = 20, n_symbols: int = 8) -> float:
    """Cross-entropy (nats per step) of the best memoryless strategy on :func:`copy_task`:
    blanks for ``length + delay`` steps, then a uniform guess: ``L log(K) / (2L + delay)``."""
    length, delay, n_symbols = (
        validators.integer(length, "length", minimum=1),
        validators.integer(delay, "delay", minimum=1),
        validators.integer(n_symbols, "n_symbols", minimum=1),
    )
    return length * math.log(n_symbols) / (2 * length + delay)


# ----------------------------------------------------------------------------- Reber grammar

#: The 7 symbols of Reber's grammar; one-hot column k is REBER_SYMBOLS[k].
REBER_SYMBOLS = "BTSXPVE"

# Reber's finite-state grammar (Reber 1967, as drawn in Hochreiter & Schmidhuber 1997):
# state -> {symbol: next state}; each outgoing edge is taken with probability 1/2.
_REBER: dict[int, dict[str, int]] = {
    0: {"B": 1},
    1: {"T": 2, "P": 3},
    2: {"S": 2, "X": 4},
    3: {"T": 3, "V": 5},
    4: {"X": 3, "S": 6},
    5: {"P": 4, "V": 6},
    6: {"E": 7},
}
_ACCEPT = 7


def reber_string(seed: Any = None, max_length: int | None = None) -> str:
    """One string of Reber's grammar, e.g. ``"BTSSXXTVVE"`` (edges chosen with p = 1/2).

    ``max_length``: redraw until the string is at most this long (None: no limit).
    """
    rng = make_rng(seed)
    while True:
        state, out = 0, []
        while state != _ACCEPT:
            edges = _REBER[state]
            sym = list(edges)[int(rng.integers(len(edges)))] if len(edges) > 1 else next(iter(edges))
            out.append(sym)
            state = edges[sym]
        if max_length is None or len(out) <= max_length:
            return "".join(out)


def embedded_reber_string(seed: Any = None, max_length: int | None = None) -> str:
    """``"B" + c + reber + c + "E"`` with c ∈ {T, P} (each with p = 1/2): the symbol
    before the final E must repeat the second symbol, across the whole inner string."""
    rng = make_rng(seed)
    inner_max = None if max_length is None else max_length - 4
    if inner_max is not None and inner_max < 5:
        raise BoucleError(f"max_length: expected at least 9 for embedded Reber strings, got {max_length}")
    c = "TP"[int(rng.integers(2))]
    return "B" + c + reber_string(rng, inner_max) + c + "E"


def _reber_run(s: str, start: int = 0) -> int | None:
    """Run the Reber automaton over ``s``; the final state, or None if an edge is missing."""
    state = start
    for ch in s:
        nxt = _REBER.get(state, {}).get(ch)
        if nxt is None:
            return None
        state = nxt
    return state


def is_reber(s: str) -> bool:
    """The acceptor: True iff ``s`` is a complete string of Reber's grammar."""
    return isinstance(s, str) and _reber_run(s) == _ACCEPT


def is_embedded_reber(s: str) -> bool:
    """True iff ``s = "B" + c + r + c + "E"`` with c ∈ {T, P} and ``is_reber(r)``."""
    return (
        isinstance(s, str)
        and len(s) >= 9
        and s[0] == "B"
        and s[-1] == "E"
        and s[1] in "TP"
        and s[-2] == s[1]
        and is_reber(s[2:-2])
    )


def reber_next_symbols(prefix: str, embedded: bool = True) -> str:
    """The symbols that may follow ``prefix`` in a (embedded) Reber string ("" after the end).

    Raises if ``prefix`` is not a prefix of any string of the grammar.
    """
    if not embedded:
        state = _reber_run(prefix)
        if state is None:
            raise BoucleError(f"prefix: expected a prefix of a Reber string, got {prefix!r}")
        return "".join(_REBER.get(state, {}))
    n = len(prefix)
    if n == 0:
        return "B"
    if prefix[0] != "B":
        raise BoucleError(f"prefix: expected a prefix of an embedded Reber string, got {prefix!r}")
    if n == 1:
        return "TP"
    c = prefix[1]
    if c not in "TP":
        raise BoucleError(f"prefix: expected a prefix of an embedded Reber string, got {prefix!r}")
    inner = prefix[2:]
    end = inner.find("E")
    if end < 0:  # inside the inner string
        state = _reber_run(inner)
        if state is None:
            raise BoucleError(f"prefix: expected a prefix of an embedded Reber string, got {prefix!r}")
        return "".join(_REBER[state])
    if _reber_run(inner[: end + 1]) != _ACCEPT:
        raise BoucleError(f"prefix: expected a prefix of an embedded Reber string, got {prefix!r}")
    tail = inner[end + 1 :]
    if tail == "":
        return c
    if tail == c:
        return "E"
    if tail == c + "E":
        return ""
    raise BoucleError(f"prefix: expected a prefix of an embedded Reber string, got {prefix!r}")


def embedded_reber(
    n: int, seed: Any = None, max_length: int | None = None, dtype: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Next-symbol prediction on embedded Reber strings (Hochreiter & Schmidhuber 1997, exp. 1).

    Returns ``x (n, T, 7)`` one-hot of s[:-1], ``y (n, T, 7)`` multi-hot of the symbols
    that may come next (the prediction target: a binary cross-entropy per symbol),
    ``mask (n, T)`` bool (strings have different lengths, right padding) and the
    strings. A model "knows" the grammar when, thresholding at 0.5, it predicts the
    exact set at every step — in particular the penultimate symbol, which only the
    second symbol determines.
    """
    n = validators.integer(n, "n", minimum=1)
    rng = make_rng(seed)
    dt = resolve_dtype(dtype)
    eye = np.eye(len(REBER_SYMBOLS), dtype=dt)
    index = {ch: k for k, ch in enumerate(REBER_SYMBOLS)}
    strings, xs, ys = [], [], []
    for _ in range(n):
        s = embedded_reber_string(rng, max_length)
        strings.append(s)
        xs.append(eye[[index[ch] for ch in s[:-1]]])  # (T_i, 7)
        ys.append(
            np.stack([eye[[index[ch] for ch in reber_next_symbols(s[: t + 1])]].sum(axis=0) for t in range(len(s) - 1)])
        )  # (T_i, 7)
    x, mask = pad_sequences(xs, dtype=dt)
    y, _ = pad_sequences(ys, dtype=dt)
    return x, y, mask, strings


# ----------------------------------------------------------------------------- sine mixtures


def sine_mixture(
    n_steps: int, components: int = 3, period_range: Sequence[float] = (8.0, 64.0), noise: float = 0.0, seed: Any = None
) -> np.ndarray:
    """``(n_steps, 1)`` float64: ``Σ_k a_k sin(2π t / P_k + φ_k) + noise · N(0, 1)``.

    Periods P_k ~ U[period_range], phases φ_k ~ U[0, 2π), amplitudes a_k ~ U[0.5, 1].
    """
    n_steps, components = (
        validators.integer(n_steps, "n_steps", minimum=1),
        validators.integer(components, "components", minimum=1),
    )
    lo, hi = (float(v) for v in period_range)
    if not 0 < lo <= hi:
        raise BoucleError(f"period_range: expected 0 < low <= high, got {tuple(period_range)}")
    if not noise >= 0:
        raise BoucleError(f"noise: expected a number >= 0, got {noise!r}")
    rng = make_rng(seed)
    P = rng.uniform(lo, hi, components)
    phi = rng.uniform(0, 2 * np.pi, components)
    a = rng.uniform(0.5, 1.0, components)
    t = np.arange(n_steps)[:, None]  # (T, 1)
    s = (a * np.sin(2 * np.pi * t / P + phi)).sum(axis=1)
    if noise:
        s = s + noise * rng.standard_normal(n_steps)
    return s.reshape(-1, 1)


# ----------------------------------------------------------------------------- melodies

#: Interval patterns (semitones above the root), 8 notes each.
MELODY_PATTERNS: dict[str, tuple[int, ...]] = {
    "major_scale": (0, 2, 4, 5, 7, 9, 11, 12),
    "minor_scale": (0, 2, 3, 5, 7, 8, 10, 12),
    "major_arpeggio": (0, 4, 7, 12, 16, 12, 7, 4),
    "minor_arpeggio": (0, 3, 7, 12, 15, 12, 7, 3),
}


def melodies(
    n: int, seed: Any = None, patterns: Sequence[str] | None = None, descending: bool = True, dtype: Any = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Conditioned melodies for one-to-many generation.

    Each example draws a key (root pitch class 0..11), a pattern from
    :data:`MELODY_PATTERNS` and, with ``descending``, a direction. The condition is
    one vector ``c = [onehot(key, 12), onehot(pattern), onehot(direction, 2)]``; the
    target is the note sequence ``y_t = key + interval_t`` (ascending) or the same notes
    reversed (descending), as pitch ids in ``[0, 28)`` (two octaves and a bit above C).

    Returns ``c (n, C)`` float, ``y (n, 8)`` int64 and ``info`` (``n_notes``,
    ``patterns``, ``keys (n,)``, ``pattern_ids (n,)``, ``directions (n,)``).
    """
    n = validators.integer(n, "n", minimum=1)
    names = list(MELODY_PATTERNS) if patterns is None else list(patterns)
    for p in names:
        if p not in MELODY_PATTERNS:
            raise BoucleError(f"patterns: expected names from {sorted(MELODY_PATTERNS)}, got {p!r}")
    if not names:
        raise BoucleError("patterns: expected at least one pattern name, got an empty list")
    rng = make_rng(seed)
    dt = resolve_dtype(dtype) if dtype is not None else floatx()
    keys = rng.integers(0, 12, n)
    pid = rng.integers(0, len(names), n)
    dirs = rng.integers(0, 2, n) if descending else np.zeros(n, dtype=np.int64)
    table = np.array([MELODY_PATTERNS[p] for p in names])  # (P, 8)
    y = keys[:, None] + table[pid]  # (n, 8)
    y = np.where(dirs[:, None] == 1, y[:, ::-1], y).astype(np.int64)
    c = np.zeros((n, 12 + len(names) + 2), dtype=dt)
    rows = np.arange(n)
    c[rows, keys] = 1
    c[rows, 12 + pid] = 1
    c[rows, 12 + len(names) + dirs] = 1
    n_notes = 12 + int(table.max()) + 1
    return c, y, {"n_notes": n_notes, "patterns": names, "keys": keys, "pattern_ids": pid, "directions": dirs}
