"""The coordinator of a search: trials out to a backend, records into the search's folder.

:func:`run_search` asks the method for a rung of trials, skips those already in
``trials.jsonl`` (``resume``), runs the rest on the backend
(:func:`~boucle.search.backends.run_tasks`), appends each record the moment it comes
back, and asks the method for the next rung. A failed, diverged or timed-out trial is a
record like any other; the search goes on. Ctrl-C cancels the trials in flight, closes
the backend and re-raises ``KeyboardInterrupt``: every finished trial is already on disk,
and ``resume=True`` runs only the missing ones. The report (:mod:`boucle.search.report`)
is written at the end.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Any

from .backends import Backend, make_backend, run_tasks
from .journal import Journal
from .methods import config_scores, make_method, rank
from .report import write_report
from .spec import SearchSpec
from .trial import execute

__all__ = ["SearchResult", "run_search", "best_config", "identical"]


@dataclass
class SearchResult:
    records: list[dict]  #: every trial's record, in key order
    best: dict | None  #: {"config_index", "config", "score", "trials"} of the best configuration
    out: str
    files: list[str]
    backend: str
    ran: int  #: trials run by this call (the rest came from the folder)


def _failed(trial: dict, exc: BaseException) -> dict:
    return {
        **trial,
        "status": "error",
        "metrics": {},
        "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500],
        "seconds": None,
        "worker": None,
    }


def best_config(records: list[dict], spec: SearchSpec) -> dict | None:
    """The best configuration of the last rung that has a score."""
    rungs = sorted({r.get("rung") for r in records}, key=lambda k: -1 if k is None else k)
    for rung in reversed(rungs):
        rs = [r for r in records if r.get("rung") == rung]
        scores = config_scores(rs, spec.metric)
        order = [i for i in rank(scores, spec.direction) if scores[i] is not None]
        if order:
            i = order[0]
            mine = sorted((r for r in rs if r["config_index"] == i), key=lambda r: r["repeat"])
            return {
                "config_index": i,
                "config": mine[0]["config"],
                "score": scores[i],
                "rung": rung,
                "trials": [r["key"] for r in mine],
                "metrics": {k: sum(r["metrics"][k] for r in mine) / len(mine) for k in mine[0]["metrics"]},
            }
    return None


class _Progress:
    """A tqdm bar of trials: done, failed, best so far."""

    def __init__(self, total: int, initial: int, spec: SearchSpec, show: bool):
        self.spec, self.failed, self.best = spec, 0, None
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=f"search {spec.name}",
                unit="trial",
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.2,
            )

    def add(self, rec: dict, count: bool = True) -> None:
        if rec["status"] != "ok":
            self.failed += 1
        else:
            v = rec["metrics"].get(self.spec.metric)
            if (
                v is not None
                and math.isfinite(v)
                and (self.best is None or (v < self.best if self.spec.direction == "minimize" else v > self.best))
            ):
                self.best = v
        if self.bar is not None:
            if count:
                self.bar.update(1)
            self.bar.set_postfix(
                {"failed": self.failed, f"best {self.spec.metric}": "-" if self.best is None else f"{self.best:.5g}"},
                refresh=False,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_search(
    spec: SearchSpec,
    backend: Backend | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    report: bool = True,
) -> SearchResult:
    """Run ``spec`` on ``backend`` (default: the spec's, else local processes) into ``out``.

    ``backend`` given here is left open; one made here is closed at the end.
    """
    out = os.fspath(out if out is not None else (spec.out or os.path.join("runs", f"search-{spec.name}")))
    journal = Journal(out)
    method = make_method(spec.method, spec.space, spec.trials, spec.seeds, spec.seed, spec.halving)
    header = {
        "format": "boucle-search",
        "format_version": 1,
        "search": spec.identity(),
        "spec": {k: v for k, v in spec.raw.items()},
    }
    records = journal.open(header, resume)
    done = {r["key"]: r for r in records}
    own = backend is None
    if own:
        backend = make_backend(spec.backend, spec.workers, spec.scheduler, spec.connect_timeout)
    options = {"metric": spec.metric, "timeout": spec.timeout, "keep_models": spec.keep_models}
    bar = _Progress(sum(method.sizes()), len(done), spec, progress)
    for r in records:
        bar.add(r, count=False)
    counted = [0]
    try:
        trials, rung = method.first(), 0
        while trials:
            todo = [t for t in trials if t["key"] not in done]
            args = [(spec.objective, t, options) for t in todo]

            def record(i: int, ok: bool, value: Any, todo: list = todo) -> None:
                rec = value if ok else _failed(todo[i], value)
                journal.append(rec)
                done[rec["key"]] = rec
                counted[0] += 1
                bar.add(rec)

            run_tasks(backend, execute, args, record)
            rung_records = [done[t["key"]] for t in trials]
            trials, rung = method.next(rung, rung_records, spec.metric, spec.direction), rung + 1
    finally:
        bar.close()
        if own:
            backend.close()
    records = sorted(done.values(), key=lambda r: (-1 if r.get("rung") is None else r["rung"], r["key"]))
    best = best_config(records, spec)
    files: list[str] = []
    if report:
        files = write_report(journal, spec, records, best)
    return SearchResult(records, best, out, files, backend.describe(), counted[0])


def identical(a: list[dict], b: list[dict]) -> bool:
    """Whether two searches' records agree in everything but timing and placement."""

    def strip(rs: list[dict]) -> list[dict]:
        return sorted(
            ({k: v for k, v in r.items() if k not in ("seconds", "worker", "traceback")} for r in rs),
            key=lambda r: r["key"],
        )

    return strip(a) == strip(b)
