"""Search methods: which trials to run, rung after rung.

- **grid**: every combination of the space's choices;
- **random**: ``trials`` configurations, configuration ``i`` drawn from its own generator
  (:func:`~boucle.search.trial.config_rng`), so a longer search extends a shorter one;
- **halving** — successive halving (Jamieson & Talwalkar 2016; the synchronous form of
  ASHA, Li et al. 2020): ``trials`` random configurations train for ``min_budget`` epochs;
  the best ``1/eta`` of them (at least one) train again for ``eta`` times the budget, and so
  on up to ``max_budget``. A rung's ranking reads the engine's per-epoch logs — the metric
  reported by :class:`~boucle.search.trial.EpochReport` at the rung's last epoch — so the
  poor configurations stop after a fraction of the epochs. A promoted configuration
  retrains from scratch with its larger budget (no checkpoint travels between workers;
  its first epochs repeat bit-identically), which costs at most ``1/(eta - 1)`` more epochs
  than continuing would. Rungs are synchronous, so the promotions — and the results —
  do not depend on which worker finishes first.

Every configuration runs under each of the spec's ``seeds`` trial seeds
(:func:`~boucle.search.trial.trial_seed`); its score is the mean metric over them,
and a configuration with a failed seed has no score.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import BoucleError
from .space import Space
from .trial import config_rng, trial_seed

__all__ = ["Method", "Grid", "Random", "Halving", "config_scores", "rank", "make_method", "METHODS"]

METHODS = ("grid", "random", "halving")


def _value(rec: dict, metric: str) -> float | None:
    """The trial's metric: the last per-epoch value reported when there is a curve, else the returned one."""
    if rec.get("status") != "ok":
        return None
    curve = rec.get("curve")
    budget = rec.get("budget")
    if curve and budget is not None and len(curve) >= budget:
        v = curve[budget - 1]
    else:
        v = rec["metrics"].get(metric)
    return v if v is not None and math.isfinite(v) else None


def config_scores(records: list[dict], metric: str) -> dict[int, float | None]:
    """``{config index: mean metric over its seeds, or None when a seed failed}``."""
    values: dict[int, list] = {}
    for r in records:
        values.setdefault(r["config_index"], []).append(_value(r, metric))
    return {i: (None if any(v is None for v in vs) else sum(vs) / len(vs)) for i, vs in values.items()}


def rank(scores: dict[int, float | None], direction: str) -> list[int]:
    """Config indices, best first (failed ones last, in index order)."""
    sign = 1.0 if direction == "minimize" else -1.0
    return sorted(scores, key=lambda i: (scores[i] is None, sign * (scores[i] or 0.0), i))


class Method:
    """Rung 0's trials (:meth:`first`), then each next rung's from the finished ones (:meth:`next`)."""

    def __init__(self, space: Space, seeds: int, root: int):
        self.space, self.seeds, self.root = space, seeds, root
        self._seeds = [trial_seed(root, r) for r in range(seeds)]

    def _trials(
        self, configs: list[tuple[int, dict]], rung: int | None = None, budget: int | None = None
    ) -> list[dict]:
        out = []
        for i, cfg in configs:
            for r, seed in enumerate(self._seeds):
                key = (f"r{rung}-" if rung is not None else "") + f"c{i:04d}-s{r}"
                out.append(
                    {
                        "key": key,
                        "config_index": i,
                        "repeat": r,
                        "rung": rung,
                        "budget": budget,
                        "config": cfg,
                        "seed": seed,
                    }
                )
        return out

    def first(self) -> list[dict]:
        raise NotImplementedError

    def next(self, rung: int, records: list[dict], metric: str, direction: str) -> list[dict]:
        return []

    def sizes(self) -> list[int]:
        """Trials per rung."""
        return [len(self.first())]


class Grid(Method):
    def first(self) -> list[dict]:
        return self._trials(list(enumerate(self.space.grid())))


class Random(Method):
    def __init__(self, space: Space, trials: int, seeds: int, root: int):
        super().__init__(space, seeds, root)
        self.n = trials

    def configs(self, n: int) -> list[tuple[int, dict]]:
        return [(i, self.space.sample(config_rng(self.root, i))) for i in range(n)]

    def first(self) -> list[dict]:
        return self._trials(self.configs(self.n))

    def sizes(self) -> list[int]:
        return [self.n * self.seeds]


class Halving(Random):
    def __init__(
        self, space: Space, trials: int, seeds: int, root: int, eta: int = 3, min_budget: int = 1, max_budget: int = 9
    ):
        super().__init__(space, trials, seeds, root)
        if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
            raise BoucleError(f"halving.eta: expected an int >= 2, got {eta!r}")
        for name, v in (("min_budget", min_budget), ("max_budget", max_budget)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise BoucleError(f"halving.{name}: expected an int >= 1 (epochs), got {v!r}")
        if max_budget < min_budget:
            raise BoucleError(f"halving.max_budget: expected >= min_budget ({min_budget}), got {max_budget}")
        self.eta = eta
        self.budgets = [min_budget]
        while self.budgets[-1] * eta <= max_budget:
            self.budgets.append(self.budgets[-1] * eta)
        self.counts = [trials]
        for _ in self.budgets[1:]:
            self.counts.append(max(1, self.counts[-1] // eta))

    def first(self) -> list[dict]:
        return self._trials(self.configs(self.n), rung=0, budget=self.budgets[0])

    def next(self, rung: int, records: list[dict], metric: str, direction: str) -> list[dict]:
        if rung + 1 >= len(self.budgets):
            return []
        scores = config_scores([r for r in records if r.get("rung") == rung], metric)
        keep = [i for i in rank(scores, direction) if scores[i] is not None][: self.counts[rung + 1]]
        configs = {i: c for i, c in self.configs(self.n)}
        return self._trials([(i, configs[i]) for i in sorted(keep)], rung=rung + 1, budget=self.budgets[rung + 1])

    def sizes(self) -> list[int]:
        return [c * self.seeds for c in self.counts]


def make_method(
    method: str, space: Space, trials: int | None, seeds: int, root: int, halving: dict[str, Any] | None = None
) -> Method:
    if method == "grid":
        return Grid(space, seeds, root)
    if method == "random":
        return Random(space, trials, seeds, root)
    if method == "halving":
        return Halving(space, trials, seeds, root, **(halving or {}))
    raise BoucleError(f"method: expected one of {list(METHODS)}, got {method!r}")
