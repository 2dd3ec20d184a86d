"""What a :class:`~boucle.models.charlm.CharModel` file holds besides its weights, checked.

A character model's config carries its training state (``config["training"]``: step,
stream position, carried batch, generator states, lifetime history, a description of
the data and of the run). A model file is untrusted input: every value that
``describe``, ``fit`` and ``boucle train --resume`` read from it is checked here, so
that a wrong type is a one-line error when the file is loaded, never a traceback later.
"""

from __future__ import annotations

from typing import Any

from ..errors import BoucleError
from ..validators import nonneg_int, positive_int, real

__all__ = ["CONFIG_KEYS", "check_training"]

#: the keys of a CharModel config (:meth:`CharModel.get_config`).
CONFIG_KEYS = {"name", "vocab", "cell", "layers", "hidden", "embed", "dropout", "dtype", "seed", "training"}


def check_training(tr: Any) -> dict:
    """The ``training`` part of a CharModel config, every value checked (what ``describe``,
    ``fit`` and ``boucle train --resume`` read from it)."""
    if tr is None:
        return {}
    if not isinstance(tr, dict):
        raise BoucleError(f"config.training: expected a dict, got {type(tr).__name__}")
    where = "config.training"
    out = dict(tr)
    out["step"] = nonneg_int(tr.get("step", 0), "step", where)
    if tr.get("carried_batch") is not None:
        out["carried_batch"] = positive_int(tr["carried_batch"], "carried_batch", where)
    out["train_seconds"] = real(tr.get("train_seconds", 0.0), "train_seconds", low=0.0, low_open=False, owner=where)
    for key in ("rng", "data_rng", "history", "data"):
        if tr.get(key) is not None and not isinstance(tr[key], dict):
            raise BoucleError(f"{where}: {key}: expected a dict or null, got {type(tr[key]).__name__}")
    stream = tr.get("stream")
    if stream is not None:
        if not isinstance(stream, dict):
            raise BoucleError(f"{where}: stream: expected a dict or null, got {type(stream).__name__}")
        w = f"{where}.stream"
        b = positive_int(stream.get("batch_size"), "batch_size", w)
        positive_int(stream.get("seq_len"), "seq_len", w)
        n = nonneg_int(stream.get("n"), "n", w)
        nonneg_int(stream.get("epoch"), "epoch", w)
        nonneg_int(stream.get("chunk"), "chunk", w)
        offsets = stream.get("offsets")
        if offsets is not None and not (
            isinstance(offsets, list)
            and len(offsets) == b
            and all(isinstance(o, int) and not isinstance(o, bool) and 0 <= o < max(n, 1) for o in offsets)
        ):
            raise BoucleError(f"{w}: offsets: expected null or {b} ints in [0, {n}), got {str(offsets)[:60]}")
        if not isinstance(stream.get("data", ""), str):
            raise BoucleError(f"{w}: data: expected a fingerprint string, got {type(stream['data']).__name__}")
    data = tr.get("data") or {}
    for key, check in (("corpus", str), ("sha256", str), ("run", dict)):
        if key in data and not isinstance(data[key], check):
            raise BoucleError(f"{where}.data: {key}: expected a {check.__name__}, got {type(data[key]).__name__}")
    if "characters" in data:
        nonneg_int(data["characters"], "characters", f"{where}.data")
    return out
