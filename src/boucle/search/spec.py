"""Search spec files (TOML or JSON): what to search, how, and where to run it.

::

    recipe = "esn-mackey-glass"        # or objective = "package.module:function" / "file.py:function"
                                       # (a file path from the spec's folder)
    method = "random"                  # grid | random | halving
    trials = 200                       # configurations (random, halving); a grid has its own size
    seeds = 1                          # trial seeds per configuration (scores are their mean)
    seed = 42                          # the root seed of every configuration and trial seed
    metric = "val_nrmse"               # what the objective returns and the search ranks
    direction = "minimize"             # or "maximize"
    timeout = 600                      # seconds per trial (optional)
    backend = "processes"              # serial | processes | dask (optional; the command line wins)
    workers = 2                        # (optional; default one per core)
    scheduler = "tcp://10.0.0.5:8786"  # (optional; implies dask)
    out = "runs/esn-search"            # the search's folder, from the current folder (optional)
    keep_models = false                # keep each trial's model file (recipes that save one)

    [space]
    spectral_radius = ["loguniform", 1e-2, 10]
    units = 100                        # a constant

    [halving]                          # method = "halving" only
    eta = 3
    min_budget = 1                     # epochs
    max_budget = 9

TOML needs Python >= 3.11 (``tomllib``) or the ``tomli`` package (a dependency of
boucle on Python 3.10); JSON works everywhere. Every bad entry gives one line naming
it, the expected and the actual value.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .. import validators
from ..errors import BoucleError
from .methods import METHODS, Halving
from .objectives import ObjectiveRef, objective_ref
from .recipes import RECIPES
from .space import Space

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["SearchSpec", "load_spec", "parse_spec"]

_KEYS = {
    "recipe",
    "objective",
    "method",
    "trials",
    "seeds",
    "seed",
    "metric",
    "direction",
    "timeout",
    "backend",
    "workers",
    "scheduler",
    "out",
    "keep_models",
    "space",
    "halving",
    "connect_timeout",
    "name",
}


@dataclass
class SearchSpec:
    """A checked spec (see the module doc)."""

    objective: ObjectiveRef
    space: Space
    method: str = "random"
    trials: int | None = None
    seeds: int = 1
    seed: int = 0
    metric: str = "loss"
    direction: str = "minimize"
    timeout: float | None = None
    backend: str | None = None
    workers: int | None = None
    scheduler: str | None = None
    connect_timeout: float = 10.0
    out: str | None = None
    keep_models: bool = False
    halving: dict = field(default_factory=dict)
    name: str = "search"
    raw: dict = field(default_factory=dict)

    def identity(self) -> dict:
        """What defines the results (compared on ``--resume``): not where or how fast it runs."""
        return {
            "objective": self.objective.describe(),
            "method": self.method,
            "space": self.space.spec(),
            "trials": self.trials,
            "seeds": self.seeds,
            "seed": self.seed,
            "metric": self.metric,
            "direction": self.direction,
            "halving": self.halving,
        }


def load_spec(path: str | os.PathLike) -> SearchSpec:
    """Read and check a ``.toml`` or ``.json`` spec file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BoucleError(f"SPEC: cannot read {path!r} ({e.strerror})") from None
    try:
        if path.endswith(".json"):
            raw = json.loads(data.decode("utf-8"))
        else:
            raw = tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        kind = "JSON" if path.endswith(".json") else "TOML"
        raise BoucleError(f"SPEC: {path!r} is not valid {kind} ({' '.join(str(e).split())})") from None
    name = os.path.splitext(os.path.basename(path))[0]
    return parse_spec(raw, base=os.path.dirname(os.path.abspath(path)), name=name)


def parse_spec(raw: Any, base: str | os.PathLike = ".", name: str = "search") -> SearchSpec:
    """A :class:`SearchSpec` from the file's table (``base``: the folder relative paths start from)."""
    if not isinstance(raw, dict):
        raise BoucleError(f"spec: expected a table of settings, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise BoucleError(f"spec: unknown setting {unknown[0]!r}, expected one of {sorted(_KEYS)}")
    ref = objective_ref(raw.get("recipe"), raw.get("objective"), base)
    recipe = RECIPES.get(ref.name) if ref.kind == "recipe" else None
    defaults = recipe.defaults if recipe is not None else {}
    space_raw = raw.get("space", defaults.get("space") if recipe is not None else None)
    if space_raw is None:
        raise BoucleError("space: expected a [space] table of hyper-parameters, got none")
    space = Space.parse(space_raw)
    method = validators.one_of(raw.get("method", "random"), METHODS, "method")
    metric = raw.get("metric", defaults.get("metric", "loss"))
    if not isinstance(metric, str) or not metric:
        raise BoucleError(f"metric: expected a metric name, got {metric!r}")
    direction = validators.one_of(
        raw.get("direction", defaults.get("direction", "minimize")), ("minimize", "maximize"), "direction"
    )
    trials = raw.get("trials")
    if method == "grid":
        if trials is not None:
            raise BoucleError(
                f"trials: a grid runs every combination of the space ({len(space.grid())}); omit trials, got {trials!r}"
            )
        space.grid()
    else:
        if trials is None:
            raise BoucleError(f"trials: expected the number of configurations for method {method!r}, got none")
        trials = validators.positive_int(trials, "trials")
    halving = raw.get("halving", {})
    if not isinstance(halving, dict) or (halving and method != "halving"):
        raise BoucleError(f'halving: expected a table, and only with method = "halving", got {halving!r}')
    unknown = sorted(set(halving) - {"eta", "min_budget", "max_budget"})
    if unknown:
        raise BoucleError(f"halving: unknown setting {unknown[0]!r}, expected eta, min_budget, max_budget")
    if method == "halving" and recipe is not None and not recipe.budgeted:
        raise BoucleError(
            f"method: 'halving' needs a recipe that trains in epochs "
            f"({sorted(k for k, r in RECIPES.items() if r.budgeted)}), got {ref.name!r}"
        )
    timeout = raw.get("timeout")
    if timeout is not None:
        timeout = validators.real(timeout, "timeout", low=0.0, want="seconds > 0")
    backend = raw.get("backend")
    if backend is not None:
        validators.one_of(backend, ("serial", "processes", "dask"), "backend")
    workers = raw.get("workers")
    if workers is not None:
        workers = validators.positive_int(workers, "workers")
    scheduler = raw.get("scheduler")
    if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
        raise BoucleError(f"scheduler: expected an address such as tcp://HOST:PORT, got {scheduler!r}")
    out = raw.get("out")
    if out is not None:
        if not isinstance(out, str) or not out:
            raise BoucleError(f"out: expected a folder name, got {out!r}")
    spec = SearchSpec(
        objective=ref,
        space=space,
        method=method,
        trials=trials,
        seeds=validators.positive_int(raw.get("seeds", 1), "seeds"),
        seed=validators.nonneg_int(raw.get("seed", 0), "seed"),
        metric=metric,
        direction=direction,
        timeout=timeout,
        backend=backend,
        workers=workers,
        scheduler=scheduler,
        connect_timeout=validators.real(raw.get("connect_timeout", 10.0), "connect_timeout", low=0.0),
        out=out,
        keep_models=validators.boolean(raw.get("keep_models", False), "keep_models"),
        halving=dict(halving),
        name=str(raw.get("name", name)),
        raw=dict(raw),
    )
    if method == "halving":
        Halving(space, trials, spec.seeds, spec.seed, **halving)  # checks eta and the budgets
    return spec
