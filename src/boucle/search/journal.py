"""A search's folder: results are appended as trials finish, so none is ever lost.

Layout of ``OUT/``:

- ``search.json`` — the resolved spec (method, space, seeds, metric): written once, atomically,
  and compared on ``--resume`` (a different search in the same folder is refused);
- ``trials.jsonl`` — one JSON line per finished trial (any status), appended, flushed and
  fsynced as the trial finishes; a line cut short by a crash is ignored on reading;
- ``models/<trial>.safetensors`` — model files kept by trials (``keep_models``), written atomically;
- ``report.md``, ``best.json``, PNG plots — written at the end (:mod:`boucle.search.report`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from typing import Any

from ..errors import BoucleError
from ..io import atomic_write_bytes

__all__ = ["Journal"]


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)  # "nan", "inf": JSON has no such numbers
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _restore(v: Any) -> Any:
    if v in ("nan", "inf", "-inf"):
        return float(v)
    if isinstance(v, dict):
        return {k: _restore(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_restore(x) for x in v]
    return v


class Journal:
    """The folder ``out`` of one search (see the module doc)."""

    def __init__(self, out: str | os.PathLike):
        self.out = os.fspath(out)
        self.trials_path = os.path.join(self.out, "trials.jsonl")
        self.spec_path = os.path.join(self.out, "search.json")

    def open(self, header: dict, resume: bool) -> list[dict]:
        """Create the folder (or reopen it with ``resume``); returns the records already there."""
        exists = os.path.exists(self.spec_path) or os.path.exists(self.trials_path)
        if exists and not resume:
            raise BoucleError(
                f"out: {self.out!r} already holds a search; pass --resume to continue it or choose another folder"
            )
        try:
            os.makedirs(self.out, exist_ok=True)
        except OSError as e:
            raise BoucleError(f"out: cannot create folder {self.out!r} ({e.strerror})") from None
        if exists:
            try:
                with open(self.spec_path, encoding="utf-8") as f:
                    old = json.load(f)
            except (OSError, ValueError):
                raise BoucleError(f"out: {self.spec_path!r} is missing or unreadable; cannot resume") from None
            if old.get("search") != header.get("search"):
                changed = sorted(
                    k
                    for k in set(old.get("search", {})) | set(header["search"])
                    if old.get("search", {}).get(k) != header["search"].get(k)
                )
                raise BoucleError(
                    f"--resume: the spec differs from the search in {self.out!r} (in {changed}); use another folder"
                )
            self._repair()
            return self.read()
        atomic_write_bytes(self.spec_path, (json.dumps(header, indent=2) + "\n").encode())
        return []

    def read(self) -> list[dict]:
        """Every complete line of ``trials.jsonl``."""
        out = []
        try:
            with open(self.trials_path, encoding="utf-8") as f:
                for line in f:
                    if line.endswith("\n"):
                        try:
                            out.append(_restore(json.loads(line)))
                        except ValueError:
                            continue
        except FileNotFoundError:
            pass
        return out

    def append(self, record: dict) -> None:
        """Append one record, flushed and fsynced; a model file it carries goes to ``models/``."""
        model = record.pop("_model", None)
        if model is not None:
            os.makedirs(os.path.join(self.out, "models"), exist_ok=True)
            path = os.path.join(self.out, "models", f"{record['key']}.safetensors")
            atomic_write_bytes(path, model)
            record["model_file"] = os.path.relpath(path, self.out)
        line = json.dumps(_jsonable(record), allow_nan=False) + "\n"
        with open(self.trials_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _repair(self) -> None:
        """Cut a last line left unfinished by a crash, so the next record starts a line."""
        try:
            with open(self.trials_path, "rb+") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                if size == 0:
                    return
                f.seek(size - 1)
                if f.read(1) == b"\n":
                    return
                f.seek(0)
                data = f.read()
                f.seek(data.rfind(b"\n") + 1)
                f.truncate()
        except FileNotFoundError:
            pass

    def write_text(self, name: str, text: str) -> str:
        path = os.path.join(self.out, name)
        atomic_write_bytes(path, text.encode("utf-8"))
        return path

    @staticmethod
    def finished_keys(records: Iterable[dict]) -> set[str]:
        return {r["key"] for r in records}
