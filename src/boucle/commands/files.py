"""Files of the ``boucle`` commands: where a model is read from, where a training run writes,
and whether the machine can hold the model it is asked to train.

- :func:`model_path`: a model file, or a run folder holding ``model.safetensors``
  (what ``boucle train --out DIR`` writes); every command that reads a model takes both.
- :func:`check_finite`: a model whose weights hold NaN or Inf (a diverged run saved
  before the divergence policy existed, or an edited file) is refused by the commands
  that use its weights, naming the tensors.
- :func:`check_output`: the output of a training command is checked before anything
  is trained — its folder exists (or can be made) and is writable, it is not a folder
  where a file is expected — and a checkpoint already there is never replaced unless
  the user asked (``--resume`` continues it, ``--force`` replaces it).
- :class:`~boucle.locks.OutputLock` keeps a second run out of an output in use.
- :func:`check_memory`: the memory a model needs to train, counted from its shapes
  (:mod:`boucle.allocation`, nothing allocated) and compared with the memory available.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import allocation
from ..errors import BoucleError, ModelFileError
from ..io import load

__all__ = [
    "MODEL_FILE",
    "model_path",
    "check_finite",
    "check_output",
    "available_memory",
    "check_memory",
    "human_bytes",
]

MODEL_FILE = "model.safetensors"


def model_path(path: str) -> Path:
    """``path``, or ``path/model.safetensors`` when ``path`` is a folder (a run folder)."""
    p = Path(path)
    return p / MODEL_FILE if p.is_dir() else p


def load_model_of(
    path: str, cls: type, what: str, *, name: str = "MODEL", compile: bool = False, finite: bool = True
) -> Any:
    """The model in ``path`` (a file, or a folder holding ``model.safetensors``), refused unless it is a
    ``cls`` (``what`` names it in the message); with ``finite``, refused when its weights hold NaN or Inf."""
    p = model_path(path)
    model = load(p, compile=compile)
    if not isinstance(model, cls):
        raise BoucleError(f"{name}: expected {what}, got a {type(model).__name__} in {str(p)!r}")
    if finite:
        check_finite(model, p, name)
    return model


def check_finite(model: Any, path: Path | str, name: str = "MODEL") -> None:
    """Refuse a model whose weights hold NaN or Inf."""
    bad = [
        k for k, v in model.get_weights().items() if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all()
    ]
    if bad:
        raise BoucleError(
            f"{name}: {str(path)!r} holds non-finite weights (NaN or Inf) in {bad[:3]}"
            f"{' and more' if len(bad) > 3 else ''}: the run that wrote it diverged"
        )


def _writable_folder(folder: Path, what: str) -> None:
    """``folder`` exists and is writable, or its nearest existing parent is (so that it can be made)."""
    p = folder.absolute()
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    if not p.is_dir():
        raise BoucleError(f"{what}: {str(p)!r} is not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise BoucleError(f"{what}: folder {str(p)!r} is not writable")


def check_output(out: Path, what: str, *, folder: bool, force: bool, resume: bool | None = None) -> Path:
    """Check the output of a training command before it trains; returns the checkpoint path.

    ``folder=True``: ``out`` is a run folder (the checkpoint ``out/model.safetensors``), made if
    missing. ``folder=False``: ``out`` is the model file itself; its folder must exist.
    ``resume=None``: the command cannot resume (only ``--force`` replaces a file already there).
    """
    if folder:
        if out.exists() and not out.is_dir():
            raise BoucleError(f"{what}: {str(out)!r} exists and is not a folder")
        _writable_folder(out, what)
        ckpt = out / MODEL_FILE
    else:
        if out.is_dir():
            raise BoucleError(
                f"{what}: {str(out)!r} is a folder; give a model file path such as {str(out / 'model.safetensors')!r}"
            )
        parent = out.absolute().parent
        if not parent.is_dir():
            raise BoucleError(f"{what}: folder {str(parent)!r} does not exist")
        _writable_folder(parent, what)
        if out.exists() and not os.access(out, os.W_OK):
            raise BoucleError(f"{what}: {str(out)!r} is not writable")
        ckpt = out
    exists = ckpt.exists()
    if resume:
        if not ckpt.is_file():
            raise BoucleError(f"--resume: no checkpoint at {str(ckpt)!r}")
    elif exists and not force:
        how = "--resume to continue it or --force to replace it" if resume is not None else "--force to replace it"
        raise BoucleError(f"{what}: {str(ckpt)!r} already exists; pass {how}")
    return ckpt


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``; else physical memory; None if unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def check_memory(what: str, build: Callable[[], Any], copies: int, activation_bytes: int) -> None:
    """Refuse to train a model that cannot fit in memory, before allocating it.

    ``build()`` makes the model; it runs shapes-only (:func:`boucle.allocation.bounded`: nothing
    allocated, nothing drawn) to count its parameters, and stops counting once they cannot fit.
    The need is ``copies`` times the parameters' bytes (weights, gradients, optimizer slots) plus
    ``activation_bytes`` (what one training step keeps for the backward pass).
    """
    have = available_memory()
    if have is not None and activation_bytes > have:
        raise BoucleError(
            f"{what}: one training step of this model needs about {human_bytes(activation_bytes)} "
            f"for its activations (batch x sequence x layers x units); {human_bytes(have)} of "
            "memory is available"
        )
    limit = None if have is None else (have - activation_bytes) // copies
    more = ""
    try:
        with allocation.bounded(nbytes=limit, what=what) as counted:
            build()
    except ModelFileError:  # past what fits (or larger than any memory): counting stopped there
        more = "more than "
    need = copies * counted.used_bytes + activation_bytes
    if have is not None and (more or need > have):
        raise BoucleError(
            f"{what}: the model has {more}{counted.used_elements:,} parameters and needs "
            f"{more or 'about '}{human_bytes(need)} to train (weights, gradients, optimizer state, "
            f"activations); {human_bytes(have)} of memory is available"
        )
