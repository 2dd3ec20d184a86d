"""``boucle experiment vanishing``: the vanishing/exploding-gradient study (:mod:`boucle.experiments.vanishing`).

    boucle experiment vanishing --out DIR [--seeds N] [--lengths 10,50] [--steps N] [--reber-seeds N] [--quick]
                                [--workers N | --scheduler tcp://HOST:PORT | --backend serial|processes|dask]

The runs go through the search engine's backends with identical results (default: serially, in this process).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from ..experiments.vanishing import StudyConfig, run_study
from .options import int_list, positive_int
from .search import add_backend_arguments, backend_from_args

__all__ = ["add_commands"]


def _vanishing(args: argparse.Namespace) -> int:
    cfg = StudyConfig.quick() if args.quick else StudyConfig()
    changes = {
        k: v
        for k, v in (
            ("seeds", args.seeds),
            ("lengths", args.lengths),
            ("max_steps", args.steps),
            ("reber_seeds", args.reber_seeds),
        )
        if v is not None
    }
    cfg = replace(cfg, **changes)
    if args.backend is None and args.workers is None and args.scheduler is None:
        args.backend = "serial"
    with backend_from_args(args) as backend:
        res = run_study(cfg, args.out, backend=backend)
    print(f"wrote {', '.join(res['files'])} to {args.out} ({res['seconds']:.0f} s, {res['cpu_seconds']:.0f} s CPU)")
    return 0


def add_commands(subparsers: Any) -> None:
    """Register ``experiment vanishing`` on the ``boucle`` command's subparsers
    (the handler is ``args.func(args) -> int``)."""
    exp = subparsers.add_parser("experiment", help="reproducible studies (vanishing gradients)")
    sub = exp.add_subparsers(dest="experiment", metavar="{vanishing}")
    sub.required = True
    p = sub.add_parser(
        "vanishing",
        help="adding problem and embedded Reber: RNN vs LSTM vs GRU, with and without clipping",
        description="The vanishing/exploding-gradient study (seed 002; seed 004, Bengio 1994).",
    )
    p.add_argument("--out", default="vanishing-results", help="folder for results.md/json, CSVs and PNG plots")
    p.add_argument("--seeds", type=positive_int, help="seeds per adding-problem setting (default 5)")
    p.add_argument("--lengths", type=int_list(2), help="adding-problem lengths, e.g. 10,50,100,200")
    p.add_argument("--steps", type=positive_int, help="max training steps per adding run (default 4000)")
    p.add_argument("--reber-seeds", type=positive_int, help="seeds per cell on embedded Reber (default 10)")
    p.add_argument("--quick", action="store_true", help="a tiny grid (seconds), for a smoke test")
    add_backend_arguments(p, "serial; processes with --workers")
    p.set_defaults(func=_vanishing)
