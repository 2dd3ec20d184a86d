"""Model files: one ``.safetensors`` file, weights as tensors, the model's JSON config in its metadata.

Layout of a file written by :func:`save`:

- tensors ``"<layer>/<param>"`` (e.g. ``"dense/W"``), in the layers' dtypes;
- with ``include_optimizer=True``: tensors ``"optimizer/<slot>"`` (the optimizer's
  ``state_dict``), enough to resume training bit-identically;
- metadata key ``"boucle"``: JSON ``{"format": "boucle", "format_version": 1,
  "boucle_version", "class_name", "config", "compile"}``.

Loading treats the file as hostile and is bounded by the file, whatever its config says:

1. the safetensors header is read (at most 100 MB, as safetensors itself allows) and
   checked: JSON nested at most :data:`MAX_DEPTH` deep (checked before parsing, so the
   parser never recurses further), every tensor entry's dtype, shape and byte range
   inside the file, no two ranges overlapping;
2. boucle's metadata is checked (types of ``format_version``, ``class_name``,
   ``config``, ``compile``); the class must be registered (:mod:`boucle.registry`:
   a name never resolves to anything else, and nothing is ever unpickled or executed);
3. the model is built from the config **shapes only** (:mod:`boucle.allocation`):
   no weight is drawn, each declared parameter is charged to a budget of the
   tensors and bytes the header holds, and the first one past it stops the build
   (``layers=1000000`` or ``hidden=10**6`` on a small file is refused at once);
4. every declared name, shape and dtype is compared with the header;
5. only then is the model built (zeros, no random draws) and filled from the file.

Every failure is a one-line :class:`~boucle.errors.ModelFileError`. Writes are atomic
(temporary file in the same folder, fsync, rename, fsync of the folder), so an
interrupted save never leaves a half-written model behind; temporary files left by
a process that was killed are removed by the next save to the same path.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import struct
from typing import Any

import numpy as np
import safetensors.numpy

from . import __version__, allocation, locks, registry
from .errors import BoucleError, ModelFileError

__all__ = ["save", "load", "atomic_write_bytes", "read_metadata", "read_header", "MAX_DEPTH", "MAX_HEADER_BYTES"]

FORMAT_VERSION = 1
_OPT_PREFIX = "optimizer/"
#: deepest JSON nesting accepted in a file's header and metadata (boucle's own files nest < 12).
MAX_DEPTH = 64
#: largest safetensors header accepted (safetensors' own limit).
MAX_HEADER_BYTES = 100_000_000
_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U64": np.uint64,
    "U32": np.uint32,
    "U16": np.uint16,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


# ------------------------------------------------------------------ writing
def _tmp_name(path: str) -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "_", locks.host())[:64]
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{host}-{os.getpid()}")


def _remove_stale_tmp(path: str) -> None:
    """Remove temporary files of ``path`` left by dead processes of this host (a killed save)."""
    folder, base = os.path.dirname(path), os.path.basename(path)
    host = re.sub(r"[^A-Za-z0-9.-]", "_", locks.host())[:64]
    prefix = f".{base}.tmp-"
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        m = re.fullmatch(r"(?:(.*)-)?(\d+)", name[len(prefix) :])  # tmp-HOST-PID (tmp-PID: older boucle)
        if m and (m.group(1) in (None, host)) and not locks.pid_alive(int(m.group(2))):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, fsync, rename, fsync of the folder."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise BoucleError(f"path: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise BoucleError(f"path: {path!r} is a folder")
    _remove_stale_tmp(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(folder)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save(model: Any, path: str | os.PathLike, include_optimizer: bool = False) -> None:
    """Save ``model`` (weights + config [+ optimizer state]) to one safetensors file, atomically."""
    cls = type(model).__name__
    if registry.view("model").get(cls) is not type(model):
        raise BoucleError(f"model: expected a boucle model ({', '.join(registry.names('model'))}), got {cls}")
    if not getattr(model, "built", True):
        raise BoucleError("model: cannot save a model that is not built (train it or call build() first)")
    tensors = {k: np.ascontiguousarray(v) for k, v in model.get_weights().items()}
    header: dict[str, Any] = {
        "format": "boucle",
        "format_version": FORMAT_VERSION,
        "boucle_version": __version__,
        "class_name": cls,
        "config": model.get_config(),
    }
    compile_cfg = getattr(model, "compile_config", lambda: None)()
    if compile_cfg is not None:
        header["compile"] = compile_cfg
    if include_optimizer and getattr(model, "optimizer", None) is not None:
        for k, v in model.optimizer.state_dict().items():
            tensors[_OPT_PREFIX + k] = np.ascontiguousarray(v)
    data = safetensors.numpy.save(tensors, metadata={"boucle": json.dumps(header)})
    atomic_write_bytes(path, data)


# ------------------------------------------------------------------ reading the header
def _json(raw: bytes | str, where: str, what: str) -> Any:
    """``json.loads(raw)`` with the nesting depth bounded by :data:`MAX_DEPTH` before parsing."""
    b = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    flat = np.frombuffer(_STRING.sub(b"", b), dtype=np.uint8)  # brackets outside strings
    depth = level = 0
    for start in range(0, len(flat), 1 << 20):  # in chunks: a few MB whatever the size
        chunk = flat[start : start + (1 << 20)]
        step = ((chunk == 0x5B) | (chunk == 0x7B)).astype(np.int32) - ((chunk == 0x5D) | (chunk == 0x7D))
        levels = np.cumsum(step, dtype=np.int64) + level
        depth, level = max(depth, int(levels.max(initial=level))), int(levels[-1]) if len(levels) else level
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{where} has {what} nested {depth} deep (at most {MAX_DEPTH} accepted)")
    try:
        return json.loads(b)
    except (ValueError, RecursionError) as e:
        raise ModelFileError(f"{where} has invalid JSON {what} ({str(e).splitlines()[0][:120]})") from None


def _count_dicts(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_count_dicts(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_dicts(v) for v in value)
    return 0


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def read_header(data: bytes, path: str) -> tuple[dict[str, tuple[np.dtype, tuple[int, ...]]], dict]:
    """The tensors declared by a safetensors file's header — ``{name: (dtype, shape)}``, each checked to
    lie inside the file without overlapping another — and boucle's metadata, its envelope checked."""
    where = f"path: {path!r}"
    if len(data) < 8:
        raise ModelFileError(f"{where} is not a model file (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ModelFileError(
            f"{where} is truncated or not a safetensors file (header says {n} bytes, file has {len(data) - 8})"
        )
    if n > MAX_HEADER_BYTES:
        raise ModelFileError(f"{where} has a {n:,}-byte header (at most {MAX_HEADER_BYTES:,} accepted)")
    header = _json(data[8 : 8 + n], where, "a header")
    body = len(data) - 8 - n
    if not isinstance(header, dict):
        raise ModelFileError(f"{where} is not a safetensors file (its header is a {type(header).__name__})")
    entries: dict[str, tuple[np.dtype, tuple[int, ...]]] = {}
    ranges = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        ok = (
            isinstance(e, dict)
            and e.get("dtype") in _DTYPES
            and isinstance(e.get("shape"), list)
            and all(_is_int(d) and d >= 0 for d in e["shape"])
            and isinstance(e.get("data_offsets"), list)
            and len(e["data_offsets"]) == 2
            and all(_is_int(o) for o in e["data_offsets"])
        )
        if ok:
            dtype, shape = np.dtype(_DTYPES[e["dtype"]]), tuple(e["shape"])
            begin, end = e["data_offsets"]
            ok = 0 <= begin <= end <= body and end - begin == math.prod(shape) * dtype.itemsize
        if not ok:
            raise ModelFileError(f"{where} is corrupt (tensor {name[:80]!r}: invalid dtype, shape or byte range)")
        entries[name] = (dtype, shape)
        ranges.append((begin, end))
    ranges.sort()
    if any(b < a_end for (_, a_end), (b, _) in zip(ranges, ranges[1:])):
        raise ModelFileError(f"{where} is corrupt (tensors overlap)")
    raw = header.get("__metadata__", {}).get("boucle") if isinstance(header.get("__metadata__"), dict) else None
    if not isinstance(raw, str):
        raise ModelFileError(f"{where} is not a boucle model file (no boucle config in its metadata)")
    return entries, _check_meta(_json(raw, where, "metadata"), where)


def _check_meta(meta: Any, where: str) -> dict:
    if not isinstance(meta, dict) or meta.get("format") != "boucle":
        got = repr(meta.get("format"))[:60] if isinstance(meta, dict) else f"a JSON {type(meta).__name__}"
        raise ModelFileError(f"{where} is not a boucle model file (format {got})")
    version = meta.get("format_version", FORMAT_VERSION)
    if not _is_int(version) or version < 1:
        raise ModelFileError(f"{where}: format_version: expected an int >= 1, got {repr(version)[:40]}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where} has format_version {version}, this boucle reads <= {FORMAT_VERSION}; upgrade boucle"
        )
    for key, types, want in (
        ("class_name", (str,), "a class name"),
        ("config", (dict,), "a JSON object"),
        ("compile", (dict, type(None)), "a JSON object or null"),
        ("boucle_version", (str, type(None)), "a version string"),
    ):
        value = meta.get(key)
        if (key in meta or key in ("class_name", "config")) and not isinstance(value, types):
            shown = (
                repr(value)[:60]
                if isinstance(value, (str, int, float, bool, type(None)))
                else f"a JSON {'object' if isinstance(value, dict) else 'array'}"
            )
            raise ModelFileError(f"{where}: {key}: expected {want}, got {shown}")
    return meta


def read_metadata(data: bytes, path: str) -> dict:
    """Parse the safetensors header of ``data`` and return boucle's JSON config (checked as :func:`read_header`)."""
    return read_header(data, path)[1]


# ------------------------------------------------------------------ loading
def _from_config(cls: type, config: dict, where: str) -> Any:
    """``cls.from_config(config)``, any failure a one-line ModelFileError (the config is untrusted input)."""
    try:
        return cls.from_config(copy.deepcopy(config))
    except ModelFileError:
        raise
    except BoucleError as e:
        raise ModelFileError(f"{where} has an invalid config: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, RecursionError) as e:
        msg = str(e).splitlines()[0][:160] if str(e) else ""
        raise ModelFileError(f"{where} has an invalid config ({type(e).__name__}: {msg})") from None


def _weight_specs(model: Any, where: str) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """The tensors a model built from an untrusted config declares (any failure a one-line ModelFileError)."""
    try:
        if hasattr(model, "weight_specs"):
            return {k: (np.dtype(d), tuple(int(n) for n in s)) for k, (s, d) in model.weight_specs().items()}
        return {k: (v.dtype, v.shape) for k, v in model.get_weights().items()}
    except ModelFileError:
        raise
    except (BoucleError, TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as e:
        msg = str(e).splitlines()[0][:160] if str(e) else ""
        raise ModelFileError(f"{where} has an invalid config ({type(e).__name__}: {msg})") from None


def load(path: str | os.PathLike, compile: bool = True) -> Any:
    """Load a model saved by :func:`save`, bounded by the file (see the module docstring)."""
    path = os.fspath(path)
    where = f"path: {path!r}"
    if not os.path.isfile(path):
        raise ModelFileError(f"path: no model file at {path!r}")
    with open(path, "rb") as f:
        data = f.read()
    entries, meta = read_header(data, path)
    try:
        cls = registry.lookup("model", meta["class_name"], what=f"{where} holds a model whose class")
    except BoucleError as e:
        raise ModelFileError(str(e)) from None
    config = meta["config"]
    held = {k: v for k, v in entries.items() if not k.startswith(_OPT_PREFIX)}
    nbytes = sum(math.prod(s) * d.itemsize for d, s in held.values())
    layers = _count_dicts(config) + 4 * len(held) + 8  # a layer is in the JSON, or holds tensors
    if hasattr(cls, "weight_specs"):  # shapes first, then the model: nothing allocated before the check
        # some slack, so that a config a little off the file is reported tensor by tensor by _compare
        with allocation.bounded(len(held) + 8, 2 * nbytes + 2**20, layers, what=where, placeholders=True):
            expected = _weight_specs(_from_config(cls, config, where), where)
        _compare(expected, held, where)
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as e:  # safetensors raises its own error types
        raise ModelFileError(f"{where} is corrupt ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    with allocation.bounded(len(held), nbytes, layers, what=where, placeholders=False):
        model = _from_config(cls, config, where)
    expected = _weight_specs(model, where)
    _compare(expected, held, where)
    try:
        model.set_weights({k: tensors[k] for k in expected})
    except BoucleError as e:
        raise ModelFileError(f"{where} has invalid weights: {e}") from None
    if compile and meta.get("compile") and hasattr(model, "compile_from_config"):
        _compile(model, meta["compile"], tensors, where)
    return model


def _compare(expected: dict, held: dict, where: str) -> None:
    missing = sorted(set(expected) - set(held))
    unknown = sorted(set(held) - set(expected))
    if missing or unknown:
        raise ModelFileError(
            f"{where} does not match its config (missing tensors {missing[:5]}, "
            f"unexpected tensors {[u[:80] for u in unknown[:5]]})"
        )
    for k, (dtype, shape) in expected.items():
        got_dtype, got_shape = held[k]
        if got_shape != shape or got_dtype != dtype:
            raise ModelFileError(
                f"{where} tensor {k!r} should be {dtype.name}{list(shape)}, got {got_dtype.name}{list(got_shape)}"
            )


def _compile(model: Any, cfg: dict, tensors: dict, where: str) -> None:
    try:
        model.compile_from_config(copy.deepcopy(cfg))
    except BoucleError as e:
        raise ModelFileError(f"{where} has an invalid compile config: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, RecursionError) as e:
        raise ModelFileError(
            f"{where} has an invalid compile config ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:160] if str(e) else ''})"
        ) from None
    opt_state = {k[len(_OPT_PREFIX) :]: v for k, v in tensors.items() if k.startswith(_OPT_PREFIX)}
    if opt_state and getattr(model, "optimizer", None) is not None:
        fresh = model.optimizer.state_dict()  # safetensors may store 0-d scalars as shape (1,)
        opt_state = {
            k: (v.reshape(()) if k in fresh and np.ndim(fresh[k]) == 0 and v.shape == (1,) else v)
            for k, v in opt_state.items()
        }
        try:
            model.optimizer.load_state_dict(opt_state, params=model.params)
        except BoucleError as e:
            raise ModelFileError(f"{where} has an invalid optimizer state: {e}") from None
