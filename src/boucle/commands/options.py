"""Argument types of the ``boucle`` command, one module for every command.

Each type parses a command-line string into a value or raises argparse's error, which
the command line prints as one line (``boucle train: error: argument --hidden: expected
an int > 0, got '0'``) with exit code 2. The library checks its own arguments with
:mod:`boucle.validators`; these are the command line's spelling of the same rules.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from ..models.decoding import MAX_BEAM, MAX_DECODE_LEN

__all__ = [
    "number",
    "positive_int",
    "nonneg_int",
    "at_least_one",
    "positive_float",
    "nonneg_float",
    "unit_rate",
    "top_p",
    "layer_count",
    "text",
    "int_list",
    "OneLineParser",
    "one_line",
]


def number(kind: type, test: Callable[[float], bool], want: str) -> Callable[[str], float]:
    """An argparse type: ``kind(text)`` (int or float) that passes ``test``, else ``expected <want>``."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {want}, got {text!r}") from None
        if not test(v):
            raise argparse.ArgumentTypeError(f"expected {want}, got {text!r}")
        return v

    parse.__name__ = want  # argparse names the type in some messages
    return parse


positive_int = number(int, lambda v: v > 0, "an int > 0")
nonneg_int = number(int, lambda v: v >= 0, "an int >= 0")
at_least_one = number(int, lambda v: v >= 1, "an int >= 1")
positive_float = number(float, lambda v: 0 < v < math.inf, "a finite number > 0")
nonneg_float = number(float, lambda v: 0 <= v < math.inf, "a finite number >= 0")
unit_rate = number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
top_p = number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
#: stacked recurrent layers of a model a command trains (each is a Python object: bounded).
MAX_LAYERS = 1000
layer_count = number(int, lambda v: 1 <= v <= MAX_LAYERS, f"an int in [1, {MAX_LAYERS}]")


def add_decoding_options(parser, unit: str, longest: str) -> None:
    """``--beam K``, ``--max-len N`` (in ``unit``; default ``longest``) and ``--length-penalty A``:
    the decoding options of every encoder-decoder command (:mod:`boucle.models.decoding`)."""
    beam = number(int, lambda v: 1 <= v <= MAX_BEAM, f"an int in [1, {MAX_BEAM}]")
    max_len = number(int, lambda v: 1 <= v <= MAX_DECODE_LEN, f"an int in [1, {MAX_DECODE_LEN}]")
    parser.add_argument(
        "--beam", type=beam, default=1, metavar="K", help=f"beam width K (1 = greedy, the default; at most {MAX_BEAM})"
    )
    parser.add_argument(
        "--max-len",
        type=max_len,
        default=None,
        metavar="N",
        help=f"longest output, in {unit} (default: {longest}; at most {MAX_DECODE_LEN})",
    )
    parser.add_argument(
        "--length-penalty",
        type=nonneg_float,
        default=1.0,
        metavar="A",
        help="beam score S/|y|^A (0 = raw log-probability; default 1)",
    )


def text(value: str) -> str:
    """Text given on the command line, refused when it holds bytes that are not UTF-8 (Python passes
    them as lone surrogates, which no model vocabulary holds and no output can print)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        byte = ord(value[e.start]) - 0xDC00 if 0xDC80 <= ord(value[e.start]) <= 0xDCFF else None
        what = f"byte 0x{byte:02x}" if byte is not None else f"U+{ord(value[e.start]):04X}"
        raise argparse.ArgumentTypeError(
            f"expected UTF-8 text, got the undecodable {what} at position {e.start}"
        ) from None
    return value


def int_list(minimum: int) -> Callable[[str], tuple[int, ...]]:
    """Comma-separated ints, each ``>= minimum`` (e.g. ``10,50,100``)."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated ints such as 10,50,100, got {text!r}") from None
        if not values or min(values) < minimum:
            raise argparse.ArgumentTypeError(f"expected ints >= {minimum}, got {text!r}")
        return values

    return parse


def one_line(msg: object) -> str:
    """``msg`` with its whitespace runs (newlines included) collapsed: one line on stderr."""
    return " ".join(str(msg).split())


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors on one line (and exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")
