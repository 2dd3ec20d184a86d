"""Character-level tagging of Python source: a real many-to-many task (seed 000, T_x = T_y).

Every character of a Python file gets the class of the token it belongs to,
as Python's own ``tokenize`` module splits the file:

====  ===========  ====================================================
id    class        tokens
====  ===========  ====================================================
0     space        spaces, newlines, indentation, anything between tokens
1     name         identifiers (``NAME`` that is not a keyword)
2     keyword      ``NAME`` with ``keyword.iskeyword`` (``if``, ``None``, ...)
3     string       ``STRING`` (f-strings whole, on every Python version)
4     comment      ``COMMENT``
5     number       ``NUMBER``
6     op           ``OP`` (and stray characters ``tokenize`` flags as errors)
====  ===========  ====================================================

It is the named-entity task of seed 000 ("Reconnaissance d'un nom") on text
that anybody has: whether the ``i`` of ``if`` is a keyword or a name depends on
the characters that *follow* it — the case for a bidirectional RNN (seed 000:
"He said, 'Teddy bears are on sale!'").

The text source is any Python code; :func:`stdlib_sources` reads a fixed list of
modules of the running Python's standard library.
"""

from __future__ import annotations

import io
import keyword
import os
import sysconfig
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ... import validators
from ...errors import BoucleError

__all__ = [
    "TAG_CLASSES",
    "tag_python_source",
    "stdlib_sources",
    "DEFAULT_STDLIB_FILES",
    "char_vocabulary",
    "TaggingData",
    "tagging_windows",
    "python_tagging_data",
]

#: class id -> name.
TAG_CLASSES: tuple[str, ...] = ("space", "name", "keyword", "string", "comment", "number", "op")
_SPACE, _NAME, _KEYWORD, _STRING, _COMMENT, _NUMBER, _OP = range(7)

#: Stdlib modules read by :func:`stdlib_sources` (stable, present in every CPython 3.10+).
DEFAULT_STDLIB_FILES: tuple[str, ...] = (
    "textwrap.py",
    "bisect.py",
    "heapq.py",
    "colorsys.py",
    "fnmatch.py",
    "shlex.py",
    "string.py",
    "keyword.py",
    "graphlib.py",
    "numbers.py",
)

_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python >= 3.12
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def tag_python_source(text: str, source: str = "<text>") -> np.ndarray:
    """Token class (see :data:`TAG_CLASSES`) of every character of ``text``: ``(len(text),)`` int64.

    Raises :class:`BoucleError` naming ``source`` and the line when ``tokenize``
    cannot read the text (an unterminated triple-quoted string, a bad dedent).
    """
    if not isinstance(text, str):
        raise BoucleError(f"text: expected a str, got {type(text).__name__}")
    labels = np.zeros(len(text), dtype=np.int64)
    # tokenize reports (row, col) in characters; rows split on "\n" as io.StringIO.readline does
    starts = [0]
    for line in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)

    def offset(pos: tuple[int, int]) -> int:
        row, col = pos
        return min(starts[row - 1] + col, len(text)) if row - 1 < len(starts) else len(text)

    depth = 0  # nesting of f-strings (3.12+ splits them into tokens)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = tok.type
            if _FSTRING_START is not None and kind == _FSTRING_START:
                depth += 1
            cls = _STRING if depth else _class_of(tok)
            if _FSTRING_END is not None and kind == _FSTRING_END:
                depth -= 1
            if cls != _SPACE:
                labels[offset(tok.start) : offset(tok.end)] = cls
    except (tokenize.TokenError, IndentationError, SyntaxError) as e:
        line = e.args[1][0] if isinstance(e, tokenize.TokenError) and len(e.args) > 1 else getattr(e, "lineno", "?")
        raise BoucleError(f"{source}:{line}: cannot tokenize as Python ({e.args[0]})") from None
    return labels


def _class_of(tok: tokenize.TokenInfo) -> int:
    kind = tok.type
    if kind == tokenize.NAME:
        return _KEYWORD if keyword.iskeyword(tok.string) else _NAME
    if kind == tokenize.STRING:
        return _STRING
    if kind == tokenize.COMMENT:
        return _COMMENT
    if kind == tokenize.NUMBER:
        return _NUMBER
    if kind == tokenize.OP:
        return _OP
    if kind == tokenize.ERRORTOKEN:
        return _SPACE if tok.string.isspace() else _OP
    return _SPACE  # NEWLINE, NL, INDENT, DEDENT, ENDMARKER


def stdlib_sources(
    files: Sequence[str] = DEFAULT_STDLIB_FILES, max_chars: int | None = None, root: str | None = None
) -> list[tuple[str, str]]:
    """``[(name, text), ...]`` of the given modules of the standard library, in order.

    ``root`` defaults to ``sysconfig.get_paths()["stdlib"]``; ``max_chars`` keeps the
    beginning of each file, cut at a line end so that it still tokenizes.
    """
    root = root or sysconfig.get_paths()["stdlib"]
    out = []
    for name in files:
        path = os.path.join(root, name)
        package = os.path.join(root, name.removesuffix(".py"), "__init__.py")
        if not os.path.isfile(path) and os.path.isfile(package):  # a module that became a package
            path = package
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise BoucleError(f"files: cannot read {path} ({e.strerror})") from None
        if max_chars is not None and len(text) > max_chars:
            text = _cut(text, max_chars)
        out.append((name, text))
    return out


def _cut(text: str, max_chars: int) -> str:
    """The longest prefix of whole lines, at most ``max_chars`` long, that tokenizes."""
    end = text.rfind("\n", 0, max_chars)
    while end > 0:
        head = text[: end + 1]
        try:
            list(tokenize.generate_tokens(io.StringIO(head).readline))
            return head
        except (tokenize.TokenError, IndentationError, SyntaxError):
            end = text.rfind("\n", 0, end)
    return ""


def char_vocabulary(texts: Iterable[str]) -> dict[str, int]:
    """Characters of ``texts`` → ids 2, 3, ... in sorted order; 0 is padding, 1 unknown."""
    chars = sorted(set().union(*(set(t) for t in texts)))
    return {"<pad>": 0, "<unk>": 1, **{c: i + 2 for i, c in enumerate(chars)}}


@dataclass
class TaggingData:
    """Windows of character ids and their token classes."""

    x: np.ndarray  #: (N, T) int64 character ids (0 = padding)
    y: np.ndarray  #: (N, T) int64 classes (:data:`TAG_CLASSES`)
    mask: np.ndarray  #: (N, T) bool, False on the padding of a text's last window
    vocab: dict[str, int]
    classes: tuple[str, ...] = TAG_CLASSES


def tagging_windows(
    texts: Sequence[tuple[str, str]] | Sequence[str],
    seq_len: int = 64,
    stride: int | None = None,
    vocab: dict[str, int] | None = None,
) -> TaggingData:
    """Cut every text into windows of ``seq_len`` characters with their labels.

    Args:
        texts: strings of Python code, or ``(name, text)`` pairs (the name goes into errors).
        seq_len: window length T.
        stride: start-to-start distance (default ``seq_len``: no overlap).
        vocab: character ids (default: :func:`char_vocabulary` of these texts);
            characters outside it map to 1 (unknown).

    Returns:
        :class:`TaggingData`; a text's last, shorter window is right-padded and masked.
    """
    seq_len = validators.positive_int(seq_len, "seq_len")
    stride = seq_len if stride is None else validators.positive_int(stride, "stride")
    pairs = [(t if isinstance(t, tuple) else (f"texts[{i}]", t)) for i, t in enumerate(texts)]
    if not pairs:
        raise BoucleError("texts: expected at least one text, got none")
    vocab = char_vocabulary(t for _, t in pairs) if vocab is None else vocab
    xs, ys, ms = [], [], []
    for name, text in pairs:
        labels = tag_python_source(text, name)
        ids = np.array([vocab.get(c, 1) for c in text], dtype=np.int64)
        for s in range(0, max(len(text) - 1, 0) + 1, stride):
            n = min(seq_len, len(text) - s)
            if n <= 0:
                break
            x = np.zeros(seq_len, dtype=np.int64)
            y = np.zeros(seq_len, dtype=np.int64)
            m = np.zeros(seq_len, dtype=bool)
            x[:n], y[:n], m[:n] = ids[s : s + n], labels[s : s + n], True
            xs.append(x), ys.append(y), ms.append(m)
            if s + seq_len >= len(text):
                break
    if not xs:
        raise BoucleError("texts: expected at least one non-empty text, got only empty ones")
    return TaggingData(np.stack(xs), np.stack(ys), np.stack(ms), vocab)


def python_tagging_data(
    seq_len: int = 64, files: Sequence[str] = DEFAULT_STDLIB_FILES, max_chars: int | None = None, test_files: int = 1
) -> tuple[TaggingData, TaggingData]:
    """Train and test windows from stdlib modules: the last ``test_files`` files are the test set
    (other code than the training code); the character vocabulary comes from the training files."""
    sources = stdlib_sources(files, max_chars)
    if not 0 < test_files < len(sources):
        raise BoucleError(f"test_files: expected an int in [1, {len(sources) - 1}], got {test_files!r}")
    train, test = sources[:-test_files], sources[-test_files:]
    data = tagging_windows(train, seq_len)
    return data, tagging_windows(test, seq_len, vocab=data.vocab)
