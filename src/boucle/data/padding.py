"""Padding, masks and length bucketing (seed 002, "Rajout de zéros").

Mini-batches of sequences of different lengths: pad them to a common length and
keep a (B, T) mask of the valid steps (:func:`pad_sequences`); when the lengths
differ a lot, sort the sequences by length so that each batch holds similar
lengths and little padding (:func:`bucket_batches`). For token ids right-padded with
``PAD`` (:mod:`boucle.data.vocab`): :func:`trim_padding` drops all-padding columns and
:func:`teacher_forcing` makes an encoder–decoder's decoder inputs, targets and mask.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import backend, validators
from ..errors import BoucleError
from .vocab import END, PAD, START

__all__ = ["pad_sequences", "bucket_batches", "trim_padding", "teacher_forcing"]

_SIDES = ("post", "pre")


def pad_sequences(
    seqs: Sequence[Any],
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "post",
    value: float = 0,
    dtype: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pad a list of sequences to one array and return it with its mask.

    Args:
        seqs: a non-empty list of 1-D sequences (token ids, lengths T_i) or of 2-D
            sequences (T_i, D) with the same D. Zero-length sequences are allowed.
        maxlen: length T of the result (default: the longest sequence); longer
            sequences are truncated.
        padding: ``"post"`` (default: zeros at the end, as the course does) or ``"pre"``.
        truncating: ``"post"`` (default: drop the end) or ``"pre"`` (drop the beginning).
            (Keras defaults both to ``"pre"``.)
        value: the padding value.
        dtype: result dtype; default int64 when every sequence holds integers
            (token ids), else the float default (``backend.floatx()``).

    Returns:
        ``x`` (B, T) or (B, T, D), and ``mask`` (B, T) bool, True at valid steps.
    """
    if padding not in _SIDES:
        raise BoucleError(f"padding: expected one of {list(_SIDES)}, got {padding!r}")
    if truncating not in _SIDES:
        raise BoucleError(f"truncating: expected one of {list(_SIDES)}, got {truncating!r}")
    if isinstance(seqs, np.ndarray) and seqs.dtype != object:
        seqs = list(seqs)
    if not isinstance(seqs, (list, tuple)) or len(seqs) == 0:
        raise BoucleError(f"seqs: expected a non-empty list of sequences, got {_describe(seqs)}")
    arrays = [np.asarray(s) for s in seqs]
    ndim = max(a.ndim for a in arrays)
    if ndim not in (1, 2):
        raise BoucleError(f"seqs: expected 1-D or 2-D sequences, got a {ndim}-D one")
    feat = None
    for i, a in enumerate(arrays):
        if a.size == 0 and a.ndim < ndim:  # [] in a batch of (T_i, D) sequences
            continue
        if a.ndim != ndim:
            raise BoucleError(f"seqs[{i}]: expected a {ndim}-D sequence like seqs[0], got shape {a.shape}")
        if ndim == 2:
            if feat is None:
                feat = a.shape[1]
            elif a.shape[1] != feat:
                raise BoucleError(f"seqs[{i}]: expected feature size {feat} like the others, got shape {a.shape}")
    lengths = [len(a) if a.size or a.ndim == ndim else 0 for a in arrays]
    if maxlen is None:
        maxlen = max(lengths)
    maxlen = validators.positive_int(maxlen, "maxlen", optional=True)
    if dtype is None:
        ints = all(np.issubdtype(a.dtype, np.integer) or a.size == 0 for a in arrays)
        dtype = np.int64 if ints else backend.floatx()
    shape = (len(arrays), maxlen) + ((feat if feat is not None else 0,) if ndim == 2 else ())
    x = np.full(shape, value, dtype=dtype)
    mask = np.zeros((len(arrays), maxlen), dtype=bool)
    for i, (a, n) in enumerate(zip(arrays, lengths)):
        if n == 0:
            continue
        a = a[:maxlen] if truncating == "post" else a[-maxlen:]
        k = len(a)
        sl = slice(0, k) if padding == "post" else slice(maxlen - k, maxlen)
        x[i, sl] = a
        mask[i, sl] = True
    return x, mask


def bucket_batches(
    lengths: Sequence[int], batch_size: int, rng: Any = None, shuffle: bool = True, bucket_width: int | None = None
) -> Iterator[np.ndarray]:
    """Batches of indices whose sequences have similar lengths (seed 002: sort by length).

    The indices are sorted by length — by ``length // bucket_width`` when
    ``bucket_width`` is given, so that lengths within a bucket mix — and cut into
    consecutive batches of ``batch_size`` (the last one may be smaller). With
    ``shuffle`` the order inside equal keys and the order of the batches are random,
    drawn from ``rng`` (a seed or a ``numpy.random.Generator``): the same seed gives
    the same batches. Without ``shuffle`` the batches come shortest first.

    Yields:
        int64 index arrays; together they cover every index exactly once.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.size == 0 or not np.issubdtype(lengths.dtype, np.integer) or (lengths < 0).any():
        raise BoucleError(f"lengths: expected a non-empty 1-D list of non-negative ints, got {_describe(lengths)}")
    batch_size = validators.positive_int(batch_size, "batch_size")
    bucket_width = validators.positive_int(bucket_width, "bucket_width", optional=True)
    key = lengths if bucket_width is None else lengths // int(bucket_width)
    if shuffle:
        rng = backend.make_rng(rng)
        perm = rng.permutation(len(key))  # random order among equal keys
        order = perm[np.argsort(key[perm], kind="stable")]
    else:
        order = np.argsort(key, kind="stable")
    batches = [order[i : i + batch_size].astype(np.int64) for i in range(0, len(order), batch_size)]
    if shuffle:
        batches = [batches[j] for j in rng.permutation(len(batches))]
    return iter(batches)


def _describe(obj: Any) -> str:
    if isinstance(obj, np.ndarray):
        return f"array of shape {obj.shape} and dtype {obj.dtype}"
    if isinstance(obj, (list, tuple)):
        return f"{type(obj).__name__} of length {len(obj)}"
    return repr(obj)


def trim_padding(x: np.ndarray) -> np.ndarray:
    """x (N, T) without its trailing all-PAD columns (at least one column kept)."""
    cols = np.flatnonzero((x != PAD).any(axis=0))
    return x[:, : int(cols[-1]) + 1 if len(cols) else 1]


def teacher_forcing(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-padded targets (N, T) → decoder inputs [START, y_1..y_L], targets [y_1..y_L, END]
    and their (N, T') boolean mask, T' = longest L + 1. Teacher forcing: seed 002's generative
    RNN gives "la sortie au temps t comme entrée au temps t+1"; in training that output is the true one."""
    valid = y != PAD
    lengths = valid.sum(axis=1)
    if (valid != (np.arange(y.shape[1]) < lengths[:, None])).any():
        raise BoucleError("y: expected right-padded target ids (PAD = 0 only after the last token)")
    T = int(lengths.max()) + 1
    dec_in = np.zeros((len(y), T), dtype=np.int64)
    dec_in[:, 0] = START
    dec_in[:, 1:] = y[:, : T - 1]
    target = np.zeros((len(y), T), dtype=np.int64)
    target[:, : T - 1] = y[:, : T - 1]
    target[np.arange(len(y)), lengths] = END
    return dec_in, target, np.arange(T) <= lengths[:, None]
