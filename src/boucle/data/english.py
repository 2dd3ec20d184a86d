"""The built-in English corpus: the docstrings and comments of the Python standard library.

Word models need English text, and every Python installation carries plenty: the
standard library documents itself. :func:`stdlib_passages` reads the ``.py`` files under
``sysconfig.get_paths()["stdlib"]`` (recursively, sorted by path; test suites —
folders named ``test``, ``tests``, ``idle_test`` —, ``site-packages`` and the codec tables of
``encodings``, whose comments are character names, left out) and
cuts each with :mod:`tokenize` into passages:

- a **docstring** is a string literal standing alone as a statement (the first token of a
  logical line, followed by the line's end): module, class and function docstrings, and
  attribute docstrings; its value is cleaned by :func:`inspect.cleandoc`, doctest lines
  (``>>>``/``...``) dropped;
- a **comment** passage is a run of ``#`` comments on consecutive lines, the ``#`` marks
  stripped (shebang and encoding lines skipped).

Nothing is downloaded; the same interpreter always gives the same corpus. Files that do
not tokenize (none in a CPython release) are skipped.
"""

from __future__ import annotations

import ast
import inspect
import io
import os
import sysconfig
import tokenize
from dataclasses import dataclass
from pathlib import Path

from ..errors import BoucleError
from .text import read_text

__all__ = ["Passage", "source_passages", "stdlib_english_files", "stdlib_passages", "EXCLUDED_FOLDERS"]

#: folders left out of the built-in corpus (test suites: code more than English; codec tables).
EXCLUDED_FOLDERS = ("test", "tests", "idle_test", "site-packages", "encodings")
_SKIP_TOKENS = (tokenize.NL, tokenize.COMMENT, tokenize.ENCODING)
_LINE_START = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)


@dataclass(frozen=True)
class Passage:
    """One docstring or comment run: its text, where it came from (path relative to the
    stdlib folder, first line) and its kind (``"docstring"`` or ``"comment"``)."""

    text: str
    path: str
    line: int
    kind: str

    @property
    def package(self) -> str:
        """The top-level module or package: ``"email"`` for ``email/mime/text.py``."""
        head = self.path.split("/", 1)[0]
        return head[:-3] if head.endswith(".py") else head


def _docstring(token: str) -> str | None:
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(value, str):  # bytes
        return None
    lines = [l for l in inspect.cleandoc(value).splitlines() if not l.lstrip().startswith((">>>", "..."))]
    return "\n".join(lines).strip() or None


def source_passages(source: str, path: str = "<source>") -> list[Passage]:
    """The docstrings and comment runs of one Python source text, in order (see the module doc).

    Raises :class:`BoucleError` naming ``path`` when the source does not tokenize.
    """
    out: list[Passage] = []
    comment: list[str] = []
    start = last = 0

    def flush() -> None:
        text = "\n".join(comment).strip()
        if text:
            out.append(Passage(text, path, start, "comment"))
        comment.clear()

    prev_sig = tokenize.ENCODING
    pending: tokenize.TokenInfo | None = None  # a string that began a logical line
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                row = tok.start[0]
                if comment and row != last + 1:
                    flush()
                if not comment:
                    start = row
                last = row
                body = tok.string.lstrip("#").strip()
                if not (row <= 2 and (tok.string.startswith("#!") or "coding" in body)):
                    comment.append(body)
                continue
            if tok.type in _SKIP_TOKENS:
                continue
            if pending is not None:
                if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                    text = _docstring(pending.string)
                    if text:
                        out.append(Passage(text, path, pending.start[0], "docstring"))
                pending = None
            if tok.type == tokenize.STRING and prev_sig in _LINE_START:
                pending = tok
            prev_sig = tok.type
    except (tokenize.TokenError, SyntaxError) as e:
        raise BoucleError(f"{path}: cannot tokenize ({type(e).__name__}: {e})") from None
    flush()
    out.sort(key=lambda p: p.line)
    return out


def stdlib_english_files(root: str | os.PathLike | None = None) -> list[Path]:
    """The ``.py`` files of the built-in corpus, sorted by path (see the module doc)."""
    root = Path(sysconfig.get_paths()["stdlib"] if root is None else root)
    files = [
        p
        for p in root.rglob("*.py")
        if p.is_file() and not any(part in EXCLUDED_FOLDERS for part in p.relative_to(root).parts[:-1])
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def stdlib_passages(
    root: str | os.PathLike | None = None, kinds: tuple[str, ...] = ("docstring", "comment")
) -> list[Passage]:
    """Every docstring and comment run of the built-in corpus (or of the files under ``root``)."""
    for k in kinds:
        if k not in ("docstring", "comment"):
            raise BoucleError(f"kinds: expected 'docstring' and/or 'comment', got {k!r}")
    base = Path(sysconfig.get_paths()["stdlib"] if root is None else root)
    files = stdlib_english_files(base)
    if not files:
        raise BoucleError(f"root: no .py file found under {str(base)!r}")
    out: list[Passage] = []
    for f in files:
        try:
            passages = source_passages(read_text(f), f.relative_to(base).as_posix())
        except BoucleError:  # not UTF-8 or not Python: not part of the corpus
            continue
        out.extend(p for p in passages if p.kind in kinds)
    return out
