"""UEA/UCR ``.ts`` files: :func:`load_ts` / :func:`write_ts`, and :func:`load_uea` by problem name.

The ``.ts`` format of the UEA & UCR archives (sktime/aeon): ``#``/``%`` comment lines,
``@tag value`` header lines (``@problemName``, ``@timeStamps``, ``@missing``,
``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``,
``@classLabel true a b c`` or ``@targetLabel true``), then ``@data`` and one case per
line: channels separated by ``:``, values by ``,`` (``?`` = missing), the label last.
Variable lengths are kept: each case is a ``(T_i, D)`` array, ready for
:func:`boucle.data.pad_sequences`. :func:`load_uea` fetches a problem (e.g.
``"JapaneseVowels"``: 12 channels, lengths 7–29, 9 speakers) from the cache or
timeseriesclassification.com through :func:`boucle.data.loaders.download`.

Every malformed input raises a one-line :class:`BoucleError` naming the file and line.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BoucleError
from ..padding import pad_sequences
from ..text import read_text
from .download import default_cache_dir, download

__all__ = ["TSDataset", "load_ts", "write_ts", "UEA_BASE_URL", "load_uea"]

UEA_BASE_URL = "https://timeseriesclassification.com/aeon-toolkit/"


@dataclass
class TSDataset:
    """A ``.ts`` file's cases: ``x[i]`` is ``(T_i, D)`` float64 (NaN where missing)."""

    x: list[np.ndarray]
    y: np.ndarray | None  #: str labels (classification), float targets, or None
    class_labels: list[str] | None  #: from ``@classLabel true ...`` (file order)
    meta: dict = field(default_factory=dict)  #: the header, lower-case tags

    @property
    def n_channels(self) -> int:
        return self.x[0].shape[1]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(a) for a in self.x])

    def padded(self, maxlen: int | None = None, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``x (N, T, D)`` right-padded with zeros and ``mask (N, T)``."""
        return pad_sequences(self.x, maxlen=maxlen, dtype=dtype)

    def label_ids(self, classes: Sequence[str] | None = None) -> np.ndarray:
        """Labels as ints: their index in ``classes`` (default :attr:`class_labels`, else sorted)."""
        if self.y is None or self.y.dtype.kind not in "UO":
            raise BoucleError("y: expected class labels, got none (the file has no @classLabel true)")
        classes = list(classes or self.class_labels or sorted(set(self.y.tolist())))
        index = {c: i for i, c in enumerate(classes)}
        missing = sorted(set(self.y.tolist()) - set(index))
        if missing:
            raise BoucleError(f"classes: expected every label, missing {missing[:5]}")
        return np.array([index[v] for v in self.y.tolist()], dtype=np.int64)


_BOOL = {"true": True, "false": False}
_PAIR = re.compile(r"\(([^()]*)\)")


def load_ts(path: str | os.PathLike) -> TSDataset:
    """Parse a ``.ts`` file (see the module docstring). Timestamps, when present, are dropped
    (the values are kept in file order)."""
    path = Path(path)
    return _parse_ts(read_text(path), str(path))


def _parse_ts(text: str, where: str) -> TSDataset:
    meta: dict[str, Any] = {}
    class_labels: list[str] | None = None
    in_data = False
    xs: list[np.ndarray] = []
    ys: list[str] = []
    dims: int | None = None
    for lineno, raw in enumerate(io.StringIO(text), start=1):
        line = raw.strip()
        if not line or line[0] in "#%":
            continue
        if not in_data:
            if line[0] != "@":
                raise BoucleError(f"{where}:{lineno}: expected a @tag header line or @data, got {line[:40]!r}")
            tag, _, value = line[1:].partition(" ")
            tag, value = tag.lower(), value.strip()
            if tag == "data":
                in_data = True
                dims, class_labels = _check_header(meta, where, lineno)
                inferred = False
                continue
            if tag in ("timestamps", "missing", "univariate", "equallength"):
                if value.lower() not in _BOOL:
                    raise BoucleError(f"{where}:{lineno}: @{tag} expects true or false, got {value!r}")
                meta[tag] = _BOOL[value.lower()]
            elif tag in ("dimensions", "dimension", "serieslength"):
                if not value.isdigit() or int(value) < 1:
                    raise BoucleError(f"{where}:{lineno}: @{tag} expects a positive int, got {value!r}")
                meta["dimensions" if tag.startswith("dim") else tag] = int(value)
            elif tag in ("classlabel", "targetlabel"):
                words = value.split()
                if not words or words[0].lower() not in _BOOL:
                    raise BoucleError(f"{where}:{lineno}: @{tag} expects true or false first, got {value!r}")
                meta[tag] = _BOOL[words[0].lower()]
                if tag == "classlabel" and meta[tag]:
                    if len(words) < 2:
                        raise BoucleError(f"{where}:{lineno}: @classLabel true expects the class labels, got none")
                    meta["class_labels"] = words[1:]
            else:
                meta[tag] = value
            continue
        x, label = _parse_case(line, meta, dims, where, lineno, "" if inferred else " (@dimensions)")
        if dims is None:
            dims, inferred = x.shape[1], True
        if meta.get("equallength") and "serieslength" in meta and len(x) != meta["serieslength"]:
            raise BoucleError(f"{where}:{lineno}: expected @seriesLength {meta['serieslength']} values, got {len(x)}")
        if label is not None and class_labels is not None and label not in class_labels:
            raise BoucleError(f"{where}:{lineno}: class label {label!r} is not in @classLabel {class_labels}")
        xs.append(x)
        if label is not None:
            ys.append(label)
    if not in_data:
        raise BoucleError(f"{where}: expected a @data line, found none")
    if not xs:
        raise BoucleError(f"{where}: expected at least one case after @data, found none")
    y = None
    if meta.get("classlabel"):
        y = np.array(ys)
    elif meta.get("targetlabel"):
        y = np.array([float(v) for v in ys])
    return TSDataset(xs, y, class_labels, meta)


def _check_header(meta: dict, where: str, lineno: int) -> tuple[int | None, list[str] | None]:
    if meta.get("classlabel") and meta.get("targetlabel"):
        raise BoucleError(f"{where}:{lineno}: @classLabel true and @targetLabel true cannot both hold")
    dims = meta.get("dimensions")
    if meta.get("univariate") is True:
        if dims not in (None, 1):
            raise BoucleError(f"{where}:{lineno}: @univariate true expects @dimensions 1, got {dims}")
        dims = 1
    return dims, meta.get("class_labels")


def _parse_case(line: str, meta: dict, dims: int | None, where: str, lineno: int, source: str):
    labelled = bool(meta.get("classlabel") or meta.get("targetlabel"))
    if meta.get("timestamps"):
        parts = line.split("):")
        channels = [p + ")" for p in parts[:-1]]
        last = parts[-1]
        if last.endswith(")"):
            channels.append(last)
            label = None
        else:
            label = last
    else:
        fields = line.split(":")
        if labelled and (dims is None or len(fields) != dims):
            channels, label = fields[:-1], fields[-1]
        else:  # unlabelled, or exactly `dims` fields: the label is missing
            channels, label = fields, None
    label = None if label is None else label.strip()
    if labelled and (label is None or label == ""):
        raise BoucleError(f"{where}:{lineno}: expected a label after the last ':', got none")
    if not labelled and label is not None:
        channels.append(label)
        label = None
    if dims is not None and len(channels) != dims:
        like = source or " like the series above"
        raise BoucleError(f"{where}:{lineno}: expected {dims} dimensions{like}, got {len(channels)}")
    cols = []
    for k, ch in enumerate(channels):
        values = [m.rsplit(",", 1)[-1] for m in _PAIR.findall(ch)] if meta.get("timestamps") else ch.split(",")
        try:
            cols.append(np.array([np.nan if v.strip() in ("?", "") else float(v) for v in values]))
        except ValueError:
            bad = next(v for v in values if not _is_float(v))
            raise BoucleError(f"{where}:{lineno}: dimension {k}: expected numbers, got {bad.strip()[:20]!r}") from None
    lengths = {len(c) for c in cols}
    if len(lengths) != 1:
        raise BoucleError(
            f"{where}:{lineno}: expected the dimensions of a case to have one length, got lengths {sorted(lengths)}"
        )
    if meta.get("targetlabel") and label is not None and not _is_float(label):
        raise BoucleError(f"{where}:{lineno}: expected a numeric target, got {label!r}")
    return np.stack(cols, axis=1), label  # (T_i, D)


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return v.strip() in ("?", "")


def write_ts(
    path: str | os.PathLike,
    x: Sequence[Any],
    y: Sequence[Any] | None = None,
    problem_name: str = "data",
    class_labels: Sequence[str] | None = None,
) -> Path:
    """Write cases ``x[i] (T_i, D)`` (and labels ``y``) as a ``.ts`` file; NaN is written ``?``."""
    arrays = [np.asarray(a, dtype=np.float64) for a in x]
    if not arrays:
        raise BoucleError("x: expected at least one case, got none")
    arrays = [a.reshape(-1, 1) if a.ndim == 1 else a for a in arrays]
    D = arrays[0].shape[1]
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[1] != D or len(a) == 0:
            raise BoucleError(f"x[{i}]: expected shape (T_i >= 1, {D}), got {a.shape}")
    if y is not None and len(y) != len(arrays):
        raise BoucleError(f"y: expected {len(arrays)} labels, got {len(y)}")
    lengths = {len(a) for a in arrays}
    flag = {True: "true", False: "false"}
    head = [
        f"@problemName {problem_name}",
        "@timeStamps false",
        f"@missing {flag[any(np.isnan(a).any() for a in arrays)]}",
        f"@univariate {flag[D == 1]}",
    ]
    head += [f"@dimensions {D}"] * (D > 1) + [f"@equalLength {flag[len(lengths) == 1]}"]
    head += [f"@seriesLength {min(lengths)}"] * (len(lengths) == 1)
    labels = None if y is None else (list(class_labels) if class_labels is not None else sorted({str(v) for v in y}))
    head += ["@classLabel false" if labels is None else "@classLabel true " + " ".join(labels), "@data"]

    def fmt(v: float) -> str:
        return "?" if np.isnan(v) else repr(float(v))

    rows = [
        ":".join(",".join(fmt(v) for v in a[:, d]) for d in range(D)) + ("" if y is None else f":{y[i]}")
        for i, a in enumerate(arrays)
    ]
    path = Path(path)
    path.write_text("\n".join(head + rows) + "\n", encoding="utf-8")
    return path


def load_uea(
    name: str,
    split: str = "train",
    cache_dir: str | os.PathLike | None = None,
    base_url: str = UEA_BASE_URL,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> TSDataset:
    """A UEA/UCR archive problem: ``<cache>/uea/<name>/<name>_<SPLIT>.ts``, downloaded
    (as ``<base_url><name>.zip``, checked against ``sha256`` when given) and extracted if absent."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise BoucleError(f"name: expected a problem name such as 'JapaneseVowels', got {name!r}")
    if split.lower() not in ("train", "test"):
        raise BoucleError(f"split: expected 'train' or 'test', got {split!r}")
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "uea" / name
    member = f"{name}_{split.upper()}.ts"
    local = cache / member
    if not local.is_file():
        archive = download(base_url.rstrip("/") + f"/{name}.zip", sha256, cache, timeout=timeout)
        try:
            with zipfile.ZipFile(archive) as z:
                found = [m for m in z.namelist() if m.rsplit("/", 1)[-1] == member]
                if not found:
                    raise BoucleError(f"{archive}: expected a member {member}, found {z.namelist()[:6]}")
                data = z.read(found[0])
        except zipfile.BadZipFile:
            raise BoucleError(f"{archive}: not a zip archive (delete it to download again)") from None
        fd, tmp = tempfile.mkstemp(prefix=f".{member}.", dir=cache)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, local)
    return load_ts(local)
