"""Model files: one ``.safetensors`` file, weights as tensors, the model's JSON config in its metadata.

Layout of a file written by :func:`save`:

- tensors ``"<layer>/<param>"`` (e.g. ``"dense/W"``), in the layers' dtypes;
- with ``include_optimizer=True``: tensors ``"optimizer/<slot>"`` (the optimizer's
  ``state_dict``), enough to resume training bit-identically;
- metadata key ``"boucle"``: JSON ``{"format": "boucle", "format_version": 1,
  "boucle_version", "class_name", "config", "compile"}``.

Loading never executes code (no pickle): the JSON names registered classes only,
every tensor's name, shape and dtype is checked against the rebuilt model, and
unknown classes or mismatches raise :class:`~boucle.errors.ModelFileError`.
Writes are atomic (temporary file in the same folder, fsync, rename), so an
interrupted save never leaves a half-written model behind.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Any

import numpy as np
import safetensors.numpy

from . import __version__, registry
from .errors import BoucleError, ModelFileError

__all__ = ["save", "load", "atomic_write_bytes", "read_metadata"]

FORMAT_VERSION = 1
_OPT_PREFIX = "optimizer/"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, fsync, rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BoucleError(f"path: folder {folder!r} does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
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
    header: dict[str, Any] = {"format": "boucle", "format_version": FORMAT_VERSION,
                              "boucle_version": __version__, "class_name": cls,
                              "config": model.get_config()}
    compile_cfg = getattr(model, "compile_config", lambda: None)()
    if compile_cfg is not None:
        header["compile"] = compile_cfg
    if include_optimizer and getattr(model, "optimizer", None) is not None:
        for k, v in model.optimizer.state_dict().items():
            tensors[_OPT_PREFIX + k] = np.ascontiguousarray(v)
    data = safetensors.numpy.save(tensors, metadata={"boucle": json.dumps(header)})
    atomic_write_bytes(path, data)


def read_metadata(data: bytes, path: str) -> dict:
    """Parse the safetensors header of ``data`` and return boucle's JSON config."""
    if len(data) < 8:
        raise ModelFileError(f"path: {path!r} is not a model file (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ModelFileError(f"path: {path!r} is truncated or not a safetensors file "
                             f"(header says {n} bytes, file has {len(data) - 8})")
    try:
        header = json.loads(data[8:8 + n])
        meta = json.loads(header["__metadata__"]["boucle"])
    except (ValueError, KeyError, TypeError):
        raise ModelFileError(f"path: {path!r} is not a boucle model file (no boucle config in its metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != "boucle":
        raise ModelFileError(f"path: {path!r} is not a boucle model file (format {meta.get('format')!r})")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"path: {path!r} has format_version {meta['format_version']}, "
                             f"this boucle reads <= {FORMAT_VERSION}; upgrade boucle")
    return meta


def load(path: str | os.PathLike, compile: bool = True) -> Any:
    """Load a model saved by :func:`save`; every tensor is validated against the config."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"path: no model file at {path!r}")
    with open(path, "rb") as f:
        data = f.read()
    meta = read_metadata(data, path)
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as e:  # safetensors raises its own error types
        raise ModelFileError(f"path: {path!r} is corrupt ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    try:
        cls = registry.lookup("model", meta.get("class_name"), what=f"path: {path!r} holds a model whose class")
    except BoucleError as e:
        raise ModelFileError(str(e)) from None
    try:
        model = cls.from_config(meta["config"])
    except BoucleError as e:
        raise ModelFileError(f"path: {path!r} has an invalid config: {e}") from None
    expected = model.get_weights()
    weights = {k: v for k, v in tensors.items() if not k.startswith(_OPT_PREFIX)}
    missing = sorted(set(expected) - set(weights))
    unknown = sorted(set(weights) - set(expected))
    if missing or unknown:
        raise ModelFileError(f"path: {path!r} does not match its config (missing tensors {missing[:5]}, "
                             f"unexpected tensors {unknown[:5]})")
    for k, want in expected.items():
        got = weights[k]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ModelFileError(f"path: {path!r} tensor {k!r} should be {want.dtype}{list(want.shape)}, "
                                 f"got {got.dtype}{list(got.shape)}")
    model.set_weights({k: weights[k] for k in expected})
    if compile and meta.get("compile") and hasattr(model, "compile_from_config"):
        model.compile_from_config(meta["compile"])
        opt_state = {k[len(_OPT_PREFIX):]: v for k, v in tensors.items() if k.startswith(_OPT_PREFIX)}
        if opt_state:
            fresh = model.optimizer.state_dict()  # safetensors may store 0-d scalars as shape (1,)
            opt_state = {k: (v.reshape(()) if k in fresh and np.ndim(fresh[k]) == 0 and v.shape == (1,) else v)
                         for k, v in opt_state.items()}
            try:
                model.optimizer.load_state_dict(opt_state, params=model.params)
            except BoucleError as e:
                raise ModelFileError(f"path: {path!r} has an invalid optimizer state: {e}") from None
    return model
