"""Search spaces: the hyper-parameters of a search and how each is drawn.

A space maps names to distributions, written as in reservoirpy's ``hyper`` module
(JSON lists; the same in TOML)::

    {"spectral_radius": ["loguniform", 1e-2, 10],     # log x ~ U(log a, log b)
     "leak_rate":       ["uniform", 0.1, 1.0],        # x ~ U(a, b)
     "units":           ["int", 50, 200],             # an int in [a, b], both included
     "cell":            ["choice", "lstm", "gru"],    # one of the values, equally likely
     "batch_size":      [16, 32],                     # a plain list: a choice
     "ridge":           1e-6}                         # a constant

Random search draws every name, in sorted order, from one ``numpy.random.Generator``;
grid search enumerates the product of choices (and constants) in the space's order,
the last name varying fastest; a continuous distribution has no grid.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BoucleError

__all__ = ["Uniform", "LogUniform", "IntUniform", "Choice", "Constant", "Space", "parse_space"]

_SCALAR = (bool, int, float, str)


@dataclass(frozen=True)
class Uniform:
    """x ~ U(low, high)."""

    low: float
    high: float
    log = False

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def spec(self) -> list:
        return ["uniform", self.low, self.high]


@dataclass(frozen=True)
class LogUniform:
    """log x ~ U(log low, log high) (0 < low < high)."""

    low: float
    high: float
    log = True

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def spec(self) -> list:
        return ["loguniform", self.low, self.high]


@dataclass(frozen=True)
class IntUniform:
    """An int in [low, high], both included, equally likely."""

    low: int
    high: int
    log = False

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))

    def spec(self) -> list:
        return ["int", self.low, self.high]

    def values(self) -> list:
        return list(range(self.low, self.high + 1))


@dataclass(frozen=True)
class Choice:
    """One of ``options``, equally likely."""

    options: tuple
    log = False

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def spec(self) -> list:
        return ["choice", *self.options]

    def values(self) -> list:
        return list(self.options)


@dataclass(frozen=True)
class Constant:
    """The same value in every trial."""

    value: Any
    log = False

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def spec(self) -> Any:
        return self.value

    def values(self) -> list:
        return [self.value]


def _number(v: Any, name: str, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BoucleError(f"space.{name}: expected {what}, got {v!r}")
    return v


def _parse_one(name: str, value: Any):
    if isinstance(value, _SCALAR):
        return Constant(value)
    if isinstance(value, dict) and "values" in value and len(value) == 1:
        value = ["choice", *value["values"]] if isinstance(value["values"], list) else value
    if not isinstance(value, list) or not value:
        raise BoucleError(
            f"space.{name}: expected a value, a list of choices or [kind, ...] with kind in "
            f"uniform, loguniform, int, choice; got {value!r}"
        )
    kind = value[0]
    if kind in ("uniform", "loguniform", "int"):
        if len(value) != 3:
            raise BoucleError(f"space.{name}: expected [{kind!r}, low, high], got {value!r}")
        want = "an int" if kind == "int" else ("a number > 0" if kind == "loguniform" else "a finite number")
        low, high = (_number(v, name, want) for v in value[1:])
        if kind == "int":
            if not all(isinstance(v, int) for v in (low, high)):
                raise BoucleError(f"space.{name}: expected int bounds for 'int', got {value!r}")
            if low > high:
                raise BoucleError(f"space.{name}: expected low <= high, got {value!r}")
            return IntUniform(int(low), int(high))
        if not low < high:
            raise BoucleError(f"space.{name}: expected low < high, got {value!r}")
        if kind == "loguniform":
            if low <= 0:
                raise BoucleError(f"space.{name}: expected 0 < low for 'loguniform', got {value!r}")
            return LogUniform(float(low), float(high))
        return Uniform(float(low), float(high))
    options = value[1:] if kind == "choice" else value
    if not options:
        raise BoucleError(f"space.{name}: expected at least one choice, got {value!r}")
    for o in options:
        if not isinstance(o, _SCALAR):
            raise BoucleError(f"space.{name}: expected choices that are numbers, strings or booleans, got {o!r}")
    return Choice(tuple(options))


class Space:
    """Named distributions (see the module doc); ``Space.parse({...})`` reads the JSON form."""

    def __init__(self, dims: dict[str, Any]):
        if not dims:
            raise BoucleError("space: expected at least one hyper-parameter, got an empty space")
        self.dims = dict(dims)

    @classmethod
    def parse(cls, spec: Any) -> Space:
        if not isinstance(spec, dict):
            raise BoucleError(f"space: expected a table of hyper-parameters, got {type(spec).__name__}")
        for name in spec:
            if not isinstance(name, str) or not name.isidentifier():
                raise BoucleError(f"space: expected hyper-parameter names that are identifiers, got {name!r}")
        return cls({name: _parse_one(name, v) for name, v in spec.items()})

    def spec(self) -> dict:
        """The JSON form (what :meth:`parse` reads)."""
        return {k: d.spec() for k, d in self.dims.items()}

    @property
    def searched(self) -> list[str]:
        """Names that vary (all but the constants)."""
        return [k for k, d in self.dims.items() if not isinstance(d, Constant)]

    def sample(self, rng: np.random.Generator) -> dict:
        """One configuration: every name drawn, in sorted order, from ``rng``."""
        drawn = {k: self.dims[k].sample(rng) for k in sorted(self.dims)}
        return {k: drawn[k] for k in self.dims}

    def grid(self) -> list[dict]:
        """Every combination of the choices (the last name varies fastest)."""
        for k, d in self.dims.items():
            if not hasattr(d, "values"):
                raise BoucleError(
                    f"space.{k}: a grid needs a list of values, got {d.spec()!r} "
                    f'(use method = "random" or list the values)'
                )
        names = list(self.dims)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.dims[k].values() for k in names))]

    def is_log(self, name: str) -> bool:
        return bool(getattr(self.dims[name], "log", False))


def parse_space(spec: Any) -> Space:
    """:meth:`Space.parse`."""
    return Space.parse(spec)
