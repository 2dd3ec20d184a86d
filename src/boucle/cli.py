"""The ``boucle`` command (also ``python -m boucle``).

Commands come in groups; each group is a module exposing
``add_commands(subparsers)``, which adds its sub-commands with
``subparsers.add_parser(...)`` and sets ``func=`` (``func(args) -> int``) on
each. :data:`COMMAND_GROUPS` lists the modules, in the order of ``--help``.

``boucle --threads N COMMAND`` sets the number of threads of the BLAS library
behind NumPy's matrix products (:func:`blas_threads`; default 1). A
recurrent loop multiplies small matrices at every step, where extra BLAS
threads gain little on an idle machine and, on a busy one, wait for each other
(a training step of a 1-layer LSTM(256), batch 32, measured ~20x slower with 2
threads than with 1 on a loaded 2-core machine).

Exit codes: 0 success; 2 bad input — argparse's own errors, and any
:class:`~boucle.errors.BoucleError` raised by a command, reported as one line
``boucle <command>: error: <message>`` on stderr; 1 another failure (an OS
error such as a full disk, memory exhausted), also one line; 130 interrupted (Ctrl-C).

Warnings are one line too (``boucle <command>: warning: <message>``, no source
line). NumPy's floating-point warnings (overflow, invalid value) are off while a
command runs: what they would flag is checked where it matters — the divergence
policy stops training on a non-finite loss or gradient, and the commands refuse
models whose weights are not finite.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from . import __version__
from .backend import blas_threads
from .commands.options import OneLineParser, at_least_one, one_line
from .errors import BoucleError, DivergenceWarning

__all__ = ["main", "build_parser", "blas_threads", "COMMAND_GROUPS"]

#: modules that add command groups (each exposes ``add_commands(subparsers)``).
COMMAND_GROUPS: list[str] = [
    "boucle.commands.charlm",
    "boucle.commands.seq2seq",
    "boucle.commands.caption",
    "boucle.commands.experiment",
    "boucle.commands.search",
    "boucle.commands.share",
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every group's sub-commands."""
    parser = OneLineParser(
        prog="boucle",
        description="Recurrent neural networks from the equations up, on NumPy.",
        epilog="Run 'boucle COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"boucle {__version__}")
    parser.add_argument(
        "--threads",
        type=at_least_one,
        default=1,
        metavar="N",
        help="threads of NumPy's BLAS (matrix products); default 1, the fastest for recurrent loops on a busy machine",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for name in COMMAND_GROUPS:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version (0) and argparse's errors (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    prog = f"boucle {args.command}"

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {one_line(message)}", file=sys.stderr)

    try:
        with blas_threads(args.threads), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", DivergenceWarning)  # reported as the command's error instead
            warnings.showwarning = show_warning
            return int(args.func(args) or 0)
    except BoucleError as e:
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `boucle generate ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return 1
    except UnicodeEncodeError as e:  # output the terminal's encoding cannot show
        print(
            f"{prog}: error: cannot write {e.object[e.start : e.end]!r} in the output's encoding {e.encoding!r}; "
            "set PYTHONIOENCODING=utf-8",
            file=sys.stderr,
        )
        return 1
    except MemoryError as e:
        print(f"{prog}: error: out of memory{(': ' + one_line(e)) if str(e) else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
