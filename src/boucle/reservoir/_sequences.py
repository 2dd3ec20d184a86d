"""Sequence containers shared by the reservoir classes.

Reservoir computing takes time series in three forms, as reservoirpy does:

- one sequence ``(T, D)``;
- several sequences of equal length ``(N, T, D)``;
- several sequences of any lengths, a list of ``(T_i, D)`` arrays.

:func:`to_batch` turns any of them into one zero-padded ``(N, T_max, D)`` array plus
the lengths, so that all sequences run through the reservoir *together* (a sparse
mat-mat product per step instead of N mat-vec products). Padding sits at the end
of each sequence, so the steps of a sequence never depend on its padding; its
final state is read at its own last step. :meth:`Sequences.restore` gives results
back in the caller's form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BoucleError

__all__ = ["Sequences", "to_batch", "check_targets"]


@dataclass
class Sequences:
    """A padded batch: ``data (N, T_max, D)``, ``lengths (N,)`` and the caller's form."""

    data: np.ndarray
    lengths: np.ndarray
    kind: str  # "single" (T, D) | "batch" (N, T, D) | "list" [(T_i, D), ...]

    @property
    def n(self) -> int:
        return self.data.shape[0]

    def valid_rows(self, out: np.ndarray, warmup: int = 0) -> np.ndarray:
        """Stack the valid steps ``warmup <= t < T_i`` of every sequence of ``out (N, T_max, F)``."""
        if self.kind != "list" or (self.lengths == self.data.shape[1]).all():
            return out[:, warmup:].reshape(-1, out.shape[-1])
        return np.concatenate([out[i, warmup:L] for i, L in enumerate(self.lengths)], axis=0)

    def restore(self, out: np.ndarray) -> Any:
        """Give ``out (N, T_max, F)`` back in the caller's form."""
        if self.kind == "single":
            return out[0]
        if self.kind == "batch":
            return out
        return [out[i, :L] for i, L in enumerate(self.lengths)]


def _check_finite(a: np.ndarray, name: str, where: str = "") -> None:
    if not np.isfinite(a).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise BoucleError(f"{name}: expected finite values, got {a[bad]} at index {where}{bad}")


def _as_float(a: Any, name: str, dtype: np.dtype, where: str = "") -> np.ndarray:
    try:
        arr = np.asarray(a)
    except ValueError:
        raise BoucleError(
            f"{name}: expected a numeric array, got ragged data "
            "(pass sequences of different lengths as a list of (T_i, D) arrays)"
        ) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise BoucleError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    _check_finite(arr, name, where)
    return arr


def to_batch(x: Any, name: str = "X", dim: int | None = None, dtype: Any = np.float64) -> Sequences:
    """Validate ``x`` ((T, D), (N, T, D) or a list of (T_i, D)) and pad it to ``(N, T_max, D)``.

    ``dim``: the expected feature size ``D`` (``None``: any, but the same for all).
    Raises :class:`BoucleError` on a wrong rank, an empty sequence, a feature-size
    mismatch or a non-finite value.
    """
    dtype = np.dtype(dtype)
    if isinstance(x, (list, tuple)):
        if len(x) == 0:
            raise BoucleError(f"{name}: expected at least one sequence, got an empty list")
        seqs = [_as_float(s, name, dtype, where=f"[{i}]") for i, s in enumerate(x)]
        for i, s in enumerate(seqs):
            if s.ndim != 2:
                raise BoucleError(
                    f"{name}: expected every sequence of the list to be (T_i, D), got shape {s.shape} at [{i}]"
                )
        d0 = seqs[0].shape[1] if dim is None else dim
        for i, s in enumerate(seqs):
            if s.shape[1] != d0:
                raise BoucleError(f"{name}: expected {d0} features per step, got shape {s.shape} at [{i}]")
            if s.shape[0] == 0:
                raise BoucleError(
                    f"{name}: expected sequences with at least one timestep, got shape {s.shape} at [{i}]"
                )
        lengths = np.array([s.shape[0] for s in seqs])
        data = np.zeros((len(seqs), int(lengths.max()), d0), dtype=dtype)
        for i, s in enumerate(seqs):
            data[i, : s.shape[0]] = s
        return Sequences(data, lengths, "list")
    arr = _as_float(x, name, dtype)
    if arr.ndim == 2:
        kind, arr = "single", arr[None]
    elif arr.ndim == 3:
        kind = "batch"
    else:
        raise BoucleError(f"{name}: expected (T, D), (N, T, D) or a list of (T_i, D) arrays, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise BoucleError(
            f"{name}: expected at least one sequence of at least one timestep, got shape "
            f"{arr.shape if kind == 'batch' else arr.shape[1:]}"
        )
    if dim is not None and arr.shape[2] != dim:
        raise BoucleError(
            f"{name}: expected {dim} features per step, got shape {arr.shape if kind == 'batch' else arr.shape[1:]}"
        )
    return Sequences(arr, np.full(arr.shape[0], arr.shape[1]), kind)


def check_targets(x: Sequences, y: Any, name: str = "Y", dtype: Any = np.float64) -> Sequences:
    """Validate targets ``y`` against inputs ``x``: same form, same number of sequences and lengths."""
    ys = to_batch(y, name, dtype=dtype)
    if ys.kind != x.kind and {ys.kind, x.kind} != {"list", "batch"}:
        raise BoucleError(f"{name}: expected the same form as X ({x.kind} sequence(s)), got {ys.kind}")
    if ys.n != x.n:
        raise BoucleError(f"{name}: expected {x.n} sequences to match X, got {ys.n}")
    bad = np.flatnonzero(ys.lengths != x.lengths)
    if bad.size:
        i = int(bad[0])
        where = "" if x.kind == "single" else f" (sequence {i})"
        raise BoucleError(f"{name}: expected {int(x.lengths[i])} timesteps to match X{where}, got {int(ys.lengths[i])}")
    return ys
