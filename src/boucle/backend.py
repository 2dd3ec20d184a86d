"""Array namespace, float policy and random numbers.

Every op takes its array module from :func:`xp` rather than importing NumPy
directly, so that another namespace with the NumPy API (CuPy) can slot in.

Float policy: float32 by default (speed), float64 on request, globally with
:func:`set_floatx` or per layer with ``dtype=``. Gradient checks run in float64.

Randomness: one seed gives one :class:`numpy.random.Generator` (:func:`make_rng`),
handed explicitly to whatever needs randomness. There is no global RNG state.

Allocator tuning (Linux with glibc only, once at ``import boucle``): a training step
allocates and frees tens to hundreds of MB of per-step caches; with glibc's defaults
the freed heap top is handed back to the OS and every step faults it in again
(~17k page faults, ~30 % of an LSTM step). :func:`tune_allocator` calls
``mallopt(M_TRIM_THRESHOLD, 1 GiB)`` and ``mallopt(M_MMAP_THRESHOLD, 32 MiB)`` so that
freed memory is kept for reuse (the process keeps up to ~1 GiB of freed heap rather
than returning it). Set the environment variable ``BOUCLE_NO_MALLOPT=1`` to opt out;
:data:`ALLOCATOR_TUNED` says whether it was applied.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import validators
from .errors import BoucleError

__all__ = [
    "xp",
    "floatx",
    "set_floatx",
    "resolve_dtype",
    "make_rng",
    "blas_threads",
    "tune_allocator",
    "ALLOCATOR_TUNED",
]

_XP = np
_FLOATX = np.dtype("float32")
_ALLOWED = ("float32", "float64")


def xp():
    """The array namespace used by ``boucle.ops`` (NumPy)."""
    return _XP


def floatx() -> np.dtype:
    """The default float dtype for new parameters and data."""
    return _FLOATX


def set_floatx(dtype: Any) -> None:
    """Set the default float dtype: ``"float32"`` or ``"float64"``."""
    global _FLOATX
    _FLOATX = resolve_dtype(dtype)


def resolve_dtype(dtype: Any = None) -> np.dtype:
    """``None`` -> the global default; otherwise validate float32/float64."""
    if dtype is None:
        return _FLOATX
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise BoucleError(f"dtype: expected one of {_ALLOWED}, got {dtype!r}") from None
    if d.name not in _ALLOWED:
        raise BoucleError(f"dtype: expected one of {_ALLOWED}, got {d.name!r}")
    return d


def make_rng(seed: Any = None) -> np.random.Generator:
    """An explicit ``numpy.random.Generator`` from an int seed, or the generator itself.

    ``None`` draws fresh entropy (non-reproducible, as in NumPy).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(validators.seed(seed, "seed (or a numpy Generator)"))


def _openblas_entry_points() -> list:
    """(set, get) thread-count functions of every OpenBLAS loaded in this process (Linux)."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return []
    out = []
    for path in libs:
        lib = ctypes.CDLL(path)
        for suffix in ("scipy_openblas_{}_num_threads64_", "openblas_{}_num_threads64_", "openblas_{}_num_threads"):
            set_fn, get_fn = getattr(lib, suffix.format("set"), None), getattr(lib, suffix.format("get"), None)
            if set_fn is not None and get_fn is not None:
                out.append((set_fn, get_fn))
                break
    return out


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[bool]:
    """Within the block, the BLAS library behind NumPy uses ``n`` threads (restored after).

    Uses ``threadpoolctl`` when installed, else the ``*_set_num_threads`` entry point of
    each OpenBLAS loaded in the process (Linux), else does nothing; yields whether it could.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=n, user_api="blas"):
            yield True
        return
    fns = _openblas_entry_points()
    old = [get() for _, get in fns]
    for set_fn, _ in fns:
        set_fn(ctypes.c_int(n))
    try:
        yield bool(fns)
    finally:
        for (set_fn, _), k in zip(fns, old):
            set_fn(ctypes.c_int(k))


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>


def tune_allocator(trim_threshold: int = 1 << 30, mmap_threshold: int = 1 << 25) -> bool:
    """Keep freed heap memory for reuse (glibc ``mallopt``); True if applied.

    Does nothing (returns False) off Linux, without glibc, or when the environment
    variable ``BOUCLE_NO_MALLOPT`` is set to a non-empty value other than ``0``.
    ``mmap_threshold`` is capped by glibc at 32 MiB on 64-bit systems.
    """
    if os.environ.get("BOUCLE_NO_MALLOPT", "0") not in ("", "0") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        _ = libc.gnu_get_libc_version  # glibc only (musl has no such symbol)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))) and bool(
        mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
    )


#: whether :func:`tune_allocator` was applied at import.
ALLOCATOR_TUNED: bool = tune_allocator()
