"""``boucle search SPEC``: a hyper-parameter search or multi-seed study (:mod:`boucle.search`).

    boucle search SPEC [--out DIR] [--resume] [--workers N | --scheduler tcp://HOST:PORT]
                       [--backend serial|processes|dask] [--timeout SECONDS] [--quiet]

Prints a progress bar (trials done, failed, best so far), then the top trials; writes
``trials.jsonl`` as trials finish and ``report.md``, ``best.json`` and plots at the end.
Ctrl-C stops cleanly: finished trials stay in the folder, ``--resume`` runs the rest.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from ..search import RECIPES, load_spec, make_backend, run_search
from ..search.report import top_table
from .options import at_least_one, positive_float

__all__ = ["add_commands", "add_backend_arguments", "backend_from_args"]


def add_backend_arguments(p: argparse.ArgumentParser, default: str) -> None:
    """``--backend``, ``--workers`` and ``--scheduler``, for every command that runs through the search engine."""
    g = p.add_argument_group("where the runs go")
    g.add_argument(
        "--backend",
        choices=["serial", "processes", "dask"],
        default=None,
        help=f"serial (this process), processes (local workers) or dask (default: {default})",
    )
    g.add_argument(
        "--workers",
        type=at_least_one,
        metavar="N",
        default=None,
        help="local worker processes, or LocalCluster workers with --backend dask (default: one per core)",
    )
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (implies --backend dask; "
        "needs pip install 'boucle[distributed]')",
    )


def backend_from_args(
    args: argparse.Namespace,
    backend: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = 10.0,
):
    """The backend the command line names, falling back on ``backend``/``workers``/``scheduler`` (a spec's)."""
    name, address = args.backend, args.scheduler
    if address is None and name in (None, "dask") and args.workers is None:
        address = scheduler  # the spec's cluster, unless the command line says where
    if name is None:  # --workers N alone means local processes
        name = "dask" if address else (None if args.workers and backend == "serial" else backend)
    return make_backend(name, args.workers or workers, address, connect_timeout)


def _search(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    changes = {k: v for k, v in (("timeout", args.timeout),) if v is not None}
    spec = replace(spec, **changes)
    backend = backend_from_args(args, spec.backend, spec.workers, spec.scheduler, spec.connect_timeout)
    out = args.out or spec.out or f"runs/search-{spec.name}"
    try:
        if not args.quiet:
            print(
                f"search {spec.name}: {spec.objective.describe()}, method {spec.method}, on {backend.describe()}; "
                f"results in {out}",
                file=sys.stderr,
            )
        res = run_search(spec, backend, out=out, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        print(
            f"\nboucle search: interrupted; the finished trials are kept in {out}/trials.jsonl "
            f"(run again with --resume to finish the search)",
            file=sys.stderr,
        )
        return 130
    finally:
        backend.close()
    failed = sum(r["status"] != "ok" for r in res.records)
    print(f"{len(res.records)} trials ({res.ran} run now, {failed} failed) on {res.backend}")
    if res.best is None:
        print("no trial succeeded; see the errors in " + f"{out}/report.md")
        return 1
    print(top_table(res.records, spec, k=args.top))
    print(f"best {spec.metric}: {res.best['score']:.6g}; wrote {', '.join(res.files)}")
    return 0


def add_commands(subparsers: Any) -> None:
    """Register ``search`` on the ``boucle`` command's subparsers."""
    p = subparsers.add_parser(
        "search",
        help="hyper-parameter searches and multi-seed studies (serial, local processes, Dask)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the search described by SPEC (a TOML or JSON file): a built-in recipe\n"
        f"({', '.join(sorted(RECIPES))}) or a Python callable, the space, the method\n"
        "(grid, random, halving), the number of trials, the metric and its direction.\n"
        "Each finished trial is appended to OUT/trials.jsonl; report.md, best.json (a\n"
        "runnable spec of the best configuration) and plots are written at the end.",
        epilog="Backends: --backend serial (in this process, the reference), processes (the default,\n"
        "--workers N of them, default one per core), dask (--workers N starts a LocalCluster;\n"
        "--scheduler tcp://HOST:PORT uses a running cluster; needs pip install\n"
        "'boucle[distributed]'). Every backend gives bit-identical results.",
    )
    p.add_argument("spec", metavar="SPEC", help="search spec, .toml or .json")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="the search's folder (default: the spec's out, else runs/search-<spec name>)",
    )
    p.add_argument("--resume", action="store_true", help="continue the search in DIR: run only missing trials")
    add_backend_arguments(p, "the spec's, else processes")
    p.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        default=None,
        help="stop a trial after this many seconds (recorded as a timeout)",
    )
    p.add_argument("--top", type=at_least_one, metavar="K", default=10, help="rows of the final table (default 10)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_search)
