"""Real data: UEA/UCR ``.ts`` files, folders of text files, CSV time series with dates.

- :func:`load_ts` / :func:`write_ts` — the ``.ts`` format of the UEA & UCR archives
  (sktime/aeon): ``#``/``%`` comment lines, ``@tag value`` header lines
  (``@problemName``, ``@timeStamps``, ``@missing``, ``@univariate``,
  ``@dimensions``, ``@equalLength``, ``@seriesLength``, ``@classLabel true a b c``
  or ``@targetLabel true``), then ``@data`` and one case per line: channels separated
  by ``:``, values by ``,`` (``?`` = missing), the label last. Variable lengths are
  kept: each case is a ``(T_i, D)`` array, ready for :func:`boucle.data.pad_sequences`.
- :func:`download` — fetch a URL into a local cache, check its SHA-256, write the
  file atomically; offline it says which file to place where.
- :func:`load_uea` — a UEA/UCR problem by name (e.g. ``"JapaneseVowels"``: 12
  channels, lengths 7–29, 9 speakers) from the cache or timeseriesclassification.com.
- :func:`load_text_folder` — ``root/<label>/*.txt``, the IMDB layout (sentiment, seed 000).
- :func:`load_csv_series` / :func:`csv_windows` — seed 004's ``[jour, mois, année, valeur]``
  rows → a dated series → sliding windows for forecasting.

Every malformed input raises a one-line :class:`BoucleError` naming the file and line.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import BoucleError
from .padding import pad_sequences
from .windows import sliding_windows

__all__ = ["TSDataset", "load_ts", "write_ts", "default_cache_dir", "download", "UEA_BASE_URL", "load_uea",
           "load_text_folder", "CSVSeries", "load_csv_series", "csv_windows"]

UEA_BASE_URL = "https://timeseriesclassification.com/aeon-toolkit/"


# ----------------------------------------------------------------------------- .ts files

@dataclass
class TSDataset:
    """A ``.ts`` file's cases: ``x[i]`` is ``(T_i, D)`` float64 (NaN where missing)."""

    x: list[np.ndarray]
    y: np.ndarray | None                      #: str labels (classification), float targets, or None
    class_labels: list[str] | None            #: from ``@classLabel true ...`` (file order)
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
    return _parse_ts(_read_text(path), str(path))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise BoucleError(f"path: cannot read {path} ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise BoucleError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


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
        else:                                # unlabelled, or exactly `dims` fields: the label is missing
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
        raise BoucleError(f"{where}:{lineno}: expected the dimensions of a case to have one length, "
                          f"got lengths {sorted(lengths)}")
    if meta.get("targetlabel") and label is not None and not _is_float(label):
        raise BoucleError(f"{where}:{lineno}: expected a numeric target, got {label!r}")
    return np.stack(cols, axis=1), label                                  # (T_i, D)


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return v.strip() in ("?", "")


def write_ts(path: str | os.PathLike, x: Sequence[Any], y: Sequence[Any] | None = None,
             problem_name: str = "data", class_labels: Sequence[str] | None = None) -> Path:
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
    head = [f"@problemName {problem_name}", "@timeStamps false",
            f"@missing {flag[any(np.isnan(a).any() for a in arrays)]}", f"@univariate {flag[D == 1]}"]
    head += [f"@dimensions {D}"] * (D > 1) + [f"@equalLength {flag[len(lengths) == 1]}"]
    head += [f"@seriesLength {min(lengths)}"] * (len(lengths) == 1)
    labels = None if y is None else (list(class_labels) if class_labels is not None else sorted({str(v) for v in y}))
    head += ["@classLabel false" if labels is None else "@classLabel true " + " ".join(labels), "@data"]

    def fmt(v: float) -> str:
        return "?" if np.isnan(v) else repr(float(v))

    rows = [":".join(",".join(fmt(v) for v in a[:, d]) for d in range(D)) + ("" if y is None else f":{y[i]}")
            for i, a in enumerate(arrays)]
    path = Path(path)
    path.write_text("\n".join(head + rows) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- downloads

def default_cache_dir() -> Path:
    """``$BOUCLE_DATA`` if set, else ``~/.cache/boucle``."""
    env = os.environ.get("BOUCLE_DATA")
    return Path(env) if env else Path.home() / ".cache" / "boucle"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _writable_dir(cache: Path) -> Path:
    if cache.exists() and not cache.is_dir():
        raise BoucleError(f"cache_dir: expected a writable folder, got {cache} (not a folder)")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BoucleError(f"cache_dir: cannot create {cache} ({e.strerror or type(e).__name__})") from None
    if not cache.is_dir() or not os.access(cache, os.W_OK | os.X_OK):
        raise BoucleError(f"cache_dir: expected a writable folder, got {cache}")
    return cache


def download(url: str, sha256: str | None = None, cache_dir: str | os.PathLike | None = None,
             filename: str | None = None, timeout: float = 30.0) -> Path:
    """The local path of ``url``'s content, downloading it into ``cache_dir`` if needed.

    A cached file is reused when it exists and (if ``sha256`` is given) its SHA-256
    matches; otherwise the file is fetched into a temporary file in the cache folder,
    checked, and renamed into place (never a half-written file under the final name).
    """
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha256)):
        raise BoucleError(f"sha256: expected 64 hex digits, got {sha256!r}")
    name = filename or os.path.basename(urllib.parse.urlsplit(url).path)
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise BoucleError(f"filename: expected a plain file name, got {name!r} (from url {url!r})")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / name
    if target.is_file() and (sha256 is None or _sha256(target) == sha256.lower()):
        return target
    _writable_dir(cache)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=cache)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        h.update(block)
                        out.write(block)
            except urllib.error.HTTPError as e:
                e.close()                            # the error holds the open response
                raise BoucleError(f"download: {url} answered HTTP {e.code} ({e.reason})") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", None) or e
                raise BoucleError(f"download: cannot reach {url} ({reason}); offline? place the file at "
                                  f"{target}" + (f" (sha256 {sha256})" if sha256 else "")) from None
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise BoucleError(f"download: checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {digest}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def load_uea(name: str, split: str = "train", cache_dir: str | os.PathLike | None = None,
             base_url: str = UEA_BASE_URL, sha256: str | None = None, timeout: float = 60.0) -> TSDataset:
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


# ----------------------------------------------------------------------------- text folders

def load_text_folder(root: str | os.PathLike, suffix: str = ".txt",
                     encoding: str = "utf-8") -> tuple[list[str], np.ndarray, list[str]]:
    """Texts of ``root/<label>/*<suffix>`` (the IMDB layout): ``(texts, labels, class_names)``.

    Class names are the sorted sub-folder names; ``labels[i]`` indexes them. Files are
    read in sorted order. A text file directly under ``root`` has no label: an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise BoucleError(f"root: expected a folder of <label>/ sub-folders, got {root} (not a folder)")
    stray = sorted(p.name for p in root.iterdir() if p.is_file() and p.name.endswith(suffix))
    if stray:
        raise BoucleError(f"{root / stray[0]}: label missing (expected files under {root}/<label>/)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise BoucleError(f"root: expected label sub-folders in {root}, found none")
    texts, labels = [], []
    for k, c in enumerate(classes):
        files = sorted((root / c).glob(f"*{suffix}"))
        if not files:
            raise BoucleError(f"{root / c}: expected at least one *{suffix} file for label {c!r}, found none")
        for f in files:
            try:
                texts.append(f.read_text(encoding=encoding))
            except UnicodeDecodeError as e:
                raise BoucleError(f"{f}: not {encoding} text ({e.reason} at byte {e.start})") from None
            labels.append(k)
    return texts, np.array(labels, dtype=np.int64), classes


# ----------------------------------------------------------------------------- CSV time series

@dataclass
class CSVSeries:
    """A dated series: ``dates (N,)`` datetime64[D] in increasing order, ``values (N, V)`` float64."""

    dates: np.ndarray
    values: np.ndarray
    columns: list[str]

    def with_date_features(self) -> np.ndarray:
        """Seed 004's rows ``[jour, mois, année, valeur...]`` as floats: ``(N, 3 + V)``."""
        y = self.dates.astype("datetime64[Y]")
        m = self.dates.astype("datetime64[M]")
        day = (self.dates - m).astype(np.int64) + 1
        month = (m - y).astype(np.int64) + 1
        year = y.astype(np.int64) + 1970
        return np.column_stack([day, month, year, self.values]).astype(np.float64)


def load_csv_series(path: str | os.PathLike, date_columns: Sequence[str] = ("day", "month", "year"),
                    value_columns: Sequence[str] | None = None, delimiter: str = ",") -> CSVSeries:
    """Read a CSV of dated values (seed 004: ``02,10,2015,1500`` = day, month, year, value).

    ``date_columns`` names the date fields: ``("day", "month", "year")`` (any order) or
    one ISO ``YYYY-MM-DD`` column such as ``("date",)``. With a header row the columns
    are found by name (``value_columns`` default: every other column); without one,
    the date fields come first in ``date_columns`` order, the values after them.
    Rows are sorted by date; a repeated date, a wrong field count, a missing or
    non-numeric value, or an impossible date is an error naming the line.
    """
    path = Path(path)
    text = _read_text(path)
    dcols = [c.lower() for c in date_columns]
    if sorted(dcols) not in (["day", "month", "year"],) and len(dcols) != 1:
        raise BoucleError(f"date_columns: expected ('day', 'month', 'year') in any order or one ISO date "
                          f"column, got {tuple(date_columns)}")
    rows = [(i, r) for i, r in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1)
            if r and any(f.strip() for f in r)]
    if not rows:
        raise BoucleError(f"{path}: expected rows of dates and values, found none")
    first = [f.strip() for f in rows[0][1]]
    has_header = any(f and not _is_number(f) and not _is_iso(f) for f in first)
    if has_header:
        names = [f.lower() for f in first]
        missing = [c for c in dcols if c not in names]
        if missing:
            raise BoucleError(f"{path}:{rows[0][0]}: expected date columns {list(dcols)} in the header, "
                              f"missing {missing}")
        date_idx = [names.index(c) for c in dcols]
        vnames = [c.lower() for c in value_columns] if value_columns else [n for n in names if n not in dcols]
        bad = [c for c in vnames if c not in names]
        if bad or not vnames:
            raise BoucleError(f"{path}:{rows[0][0]}: expected value columns {vnames or '(some)'} in the header "
                              f"{first}, missing {bad or 'all'}")
        value_idx = [names.index(c) for c in vnames]
        rows = rows[1:]
        width = len(first)
    else:
        width = len(first)
        date_idx = list(range(len(dcols)))
        value_idx = list(range(len(dcols), width))
        vnames = [f"value{k}" for k in range(len(value_idx))] if len(value_idx) > 1 else ["value"]
        if not value_idx:
            raise BoucleError(f"{path}:{rows[0][0]}: expected {len(dcols)} date fields and at least one value, "
                              f"got {width} fields")
    if not rows:
        raise BoucleError(f"{path}: expected data rows after the header, found none")
    dates, values, lines = [], [], []
    for lineno, r in rows:
        if len(r) != width:
            raise BoucleError(f"{path}:{lineno}: expected {width} fields, got {len(r)}")
        f = [v.strip() for v in r]
        dates.append(_parse_date([f[i] for i in date_idx], dcols, path, lineno))
        vals = []
        for i in value_idx:
            if not _is_number(f[i]):
                raise BoucleError(f"{path}:{lineno}: expected a number in column {i + 1}, got {f[i]!r}")
            vals.append(float(f[i]))
        values.append(vals)
        lines.append(lineno)
    d = np.array(dates, dtype="datetime64[D]")
    order = np.argsort(d, kind="stable")
    d = d[order]
    dup = np.nonzero(d[1:] == d[:-1])[0]
    if dup.size:
        raise BoucleError(f"{path}:{lines[order[dup[0] + 1]]}: date {d[dup[0]]} appears twice")
    v = np.asarray(values, dtype=np.float64)[order]
    if not np.isfinite(v).all():
        k = int(np.argwhere(~np.isfinite(v))[0, 0])
        raise BoucleError(f"{path}:{lines[order[k]]}: expected finite values, got {v[k].tolist()}")
    return CSVSeries(d, v, vnames)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return s.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")
    except ValueError:
        return False


def _is_iso(s: str) -> bool:
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", s) is not None


def _parse_date(fields: list[str], dcols: list[str], path: Path, lineno: int) -> np.datetime64:
    if len(dcols) == 1:
        s = fields[0]
        if not _is_iso(s):
            raise BoucleError(f"{path}:{lineno}: expected a YYYY-MM-DD date, got {s!r}")
        try:
            return np.datetime64(s, "D")
        except ValueError:
            raise BoucleError(f"{path}:{lineno}: not a valid date: {s!r}") from None
    parts = dict(zip(dcols, fields))
    try:
        day, month, year = (int(parts[k]) for k in ("day", "month", "year"))
    except ValueError:
        raise BoucleError(f"{path}:{lineno}: expected integer day, month, year, got {fields}") from None
    try:
        return np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D")
    except ValueError:
        raise BoucleError(f"{path}:{lineno}: not a valid date: day {day}, month {month}, year {year}") from None


def csv_windows(path: str | os.PathLike, window: int, horizon: int = 1, stride: int = 1,
                date_features: bool = False, **csv_kwargs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sliding windows over a CSV series (:func:`load_csv_series`, then
    :func:`boucle.data.windows.sliding_windows`).

    ``date_features=True`` feeds seed 004's full rows ``[jour, mois, année, valeur]``
    as inputs; the targets are always the value columns. Returns ``x (M, window, F)``,
    ``y (M, horizon, V)`` and the date of each window's first target ``(M,)``.
    """
    s = load_csv_series(path, **csv_kwargs)
    data = s.with_date_features() if date_features else s.values
    V = s.values.shape[1]
    targets = list(range(data.shape[1] - V, data.shape[1]))
    x, y = sliding_windows(data, window, horizon, stride, targets)
    first = np.arange(0, len(data) - window - horizon + 1, stride) + window
    return x, y, s.dates[first]
