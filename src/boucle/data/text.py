"""Text corpora for character models (seed 002, "RNNs Génératifs"): files, vocabulary, streams.

The course's generative RNN reads a text one character at a time and learns to
predict the next one: inputs x_t, targets c_t = x_{t+1}, cross entropy at every
step. This module turns files into the integer arrays such a model trains on.

- :func:`read_text` reads one file as strict UTF-8; a file that is not UTF-8 is
  refused with its name and the byte offset of the first invalid byte.
- :func:`load_corpus` reads files and folders (a folder contributes the files
  matching ``glob``, sorted) and concatenates them in order; with no path it
  reads the **built-in corpus** (:func:`builtin_files`): the ``.py`` files
  directly in the Python standard library folder ``sysconfig.get_paths()["stdlib"]``
  — not its subfolders — sorted by name. On CPython 3.11.7 that is 168 files,
  about 4.7 MB (4,698,280 characters, 166 distinct). Every Python installation
  carries it, so nothing is downloaded; the same interpreter always gives the
  same corpus.
- the vocabulary (characters <-> ids) is :class:`boucle.data.vocab.Vocabulary`.
- :func:`split_ids`: the last ``val_fraction`` of the text is the validation split.
- :class:`TextStream`: mini-batches for truncated BPTT, as char-rnn: the training
  text (a ring) is cut into B streams, one per batch row; each batch holds the
  next ``seq_len`` characters of every stream, so a recurrent state carried from
  one batch to the next continues the same text. Each epoch draws a random
  rotation of the ring and a random assignment of streams to rows.
- :func:`eval_chunks`: the same layout, unshuffled, for scoring a text exactly
  once (every character but the first is predicted once).
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import validators
from ..errors import BoucleError

__all__ = [
    "read_text",
    "builtin_files",
    "find_files",
    "load_corpus",
    "Corpus",
    "split_ids",
    "TextStream",
    "eval_chunks",
    "BUILTIN_DESCRIPTION",
]

BUILTIN_DESCRIPTION = (
    "the .py files directly in the Python standard library folder "
    "(sysconfig.get_paths()['stdlib'], no subfolders), sorted by name"
)


def read_text(path: str | os.PathLike) -> str:
    """The content of ``path`` decoded as strict UTF-8.

    Raises :class:`BoucleError` naming the file and the byte offset of the first
    byte that is not valid UTF-8, or a file that cannot be read.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BoucleError(f"{path}: cannot read file ({e.strerror or type(e).__name__})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BoucleError(
            f"{path}: not UTF-8 text: invalid byte 0x{data[e.start]:02x} at byte offset {e.start} ({e.reason})"
        ) from None


def builtin_files() -> list[Path]:
    """The built-in corpus: the ``*.py`` files directly in the stdlib folder, sorted by name."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.glob("*.py") if p.is_file())


def find_files(paths: Sequence[str | os.PathLike], glob: str = "*") -> list[Path]:
    """Files named in ``paths`` (in order); a folder gives its files matching ``glob``
    (``pathlib`` pattern, ``**/`` recurses), sorted. Missing paths and folders
    without a match raise :class:`BoucleError`."""
    if not isinstance(glob, str) or not glob:
        raise BoucleError(f"glob: expected a non-empty pattern such as '*.py', got {glob!r}")
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            try:
                found = sorted(f for f in p.glob(glob) if f.is_file())
            except (ValueError, NotImplementedError) as e:  # e.g. '/etc/*': "Non-relative patterns ..."
                raise BoucleError(
                    f"glob: invalid pattern {glob!r} ({e}); give a pattern relative to the "
                    f"folder, such as '*.txt' or '**/*.py'"
                ) from None
            if not found:
                raise BoucleError(f"{p}: folder holds no file matching {glob!r} (see --glob)")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise BoucleError(f"{p}: no such file or folder")
    return out


@dataclass
class Corpus:
    """A text and where it came from."""

    text: str
    files: list[Path] = field(default_factory=list)
    source: str = ""

    @property
    def sha256(self) -> str:
        """Fingerprint of the text (its UTF-8 bytes), to check a resumed run reads the same data."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def load_corpus(paths: Sequence[str | os.PathLike] | None = None, glob: str | None = None) -> Corpus:
    """Read and concatenate files (see the module docstring); no path = the built-in corpus.

    ``glob`` defaults to ``*.py`` for the built-in corpus and ``*`` for folders.
    An empty result raises :class:`BoucleError`.
    """
    if not paths:
        if glob not in (None, "*.py"):
            raise BoucleError(
                f"--glob: the built-in corpus is the stdlib's *.py files; got {glob!r} "
                f"without a PATH (name a folder to read other files)"
            )
        files = builtin_files()
        source = f"built-in corpus: {len(files)} files, {BUILTIN_DESCRIPTION}"
        if not files:
            raise BoucleError(f"corpus: no .py file found in {sysconfig.get_paths()['stdlib']!r}")
    else:
        files = find_files(paths, "*" if glob is None else glob)
        source = f"{len(files)} file{'s' * (len(files) != 1)} from {', '.join(str(p) for p in paths)}"
    text = "".join(read_text(f) for f in files)
    if not text:
        raise BoucleError(f"corpus: no text in {source} (empty files)")
    return Corpus(text, files, source)


def split_ids(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, val): the last ``round(N * val_fraction)`` ids are the validation split."""
    val_fraction = validators.rate(val_fraction, "val_fraction")
    n_val = int(round(len(ids) * val_fraction))
    if val_fraction > 0 and n_val < 2:
        raise BoucleError(
            f"val_fraction: {val_fraction} of {len(ids)} characters leaves fewer than 2 "
            f"for validation; raise it or use 0 (no validation)"
        )
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


def _check_sizes(batch_size: int, seq_len: int) -> None:
    validators.positive_int(batch_size, "batch_size")
    validators.positive_int(seq_len, "seq_len")


class TextStream:
    """Truncated-BPTT mini-batches over B parallel streams (char-rnn's data layout).

    The N training ids form a ring, cut into B streams of L = N // B characters.
    At the start of each epoch a rotation s ~ U{0..N-1} and a permutation π of
    the rows are drawn from the generator handed to :meth:`next_batch`; row b
    then reads the stream starting at offset o_b = (s + π(b) L) mod N. Batch j
    of the epoch is ``x[b] = ring[o_b + jT : o_b + (j+1)T]`` with targets
    ``y[b] = ring[o_b + jT + 1 : o_b + (j+1)T + 1]`` (c_t = x_{t+1}), for
    j = 0 .. K-1, K = (L - 1) // T: consecutive chunks, so the state a stateful
    model carries from batch j to j+1 continues its row's text. An epoch sees
    K·T·B ≤ N characters.

    The position (``epoch``, ``chunk``, ``offsets``) is plain data
    (:meth:`state_dict` / :meth:`load_state_dict`), so a checkpoint resumes the
    same stream.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int):
        _check_sizes(batch_size, seq_len)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.batch_size, self.seq_len = int(batch_size), int(seq_len)
        N, B, T = len(self.ids), self.batch_size, self.seq_len
        if N < B * (T + 1):
            raise BoucleError(
                f"corpus: {N:,} characters to train on are fewer than one batch needs "
                f"(batch_size {B} x (seq_len {T} + 1) = {B * (T + 1):,}); "
                f"add text or lower the batch size / sequence length"
            )
        self.stream_len = N // B  # L
        self.chunks_per_epoch = (self.stream_len - 1) // T  # K
        self.epoch = 0  # completed epochs
        self.chunk = 0  # next chunk j of the current epoch
        self.offsets: np.ndarray | None = None  # (B,) o_b; None = the next batch starts an epoch

    def next_batch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
        """``(x, y, new_epoch)``: x, y (B, T) int64; ``new_epoch`` says the streams jumped
        (a carried state must be reset)."""
        B, T, N = self.batch_size, self.seq_len, len(self.ids)
        new = self.offsets is None
        if new:
            s = int(rng.integers(N))
            self.offsets = (s + rng.permutation(B).astype(np.int64) * self.stream_len) % N
        start = self.offsets[:, None] + self.chunk * T + np.arange(T + 1)  # (B, T+1)
        window = np.take(self.ids, start, mode="wrap")
        self.chunk += 1
        if self.chunk == self.chunks_per_epoch:
            self.epoch += 1
            self.chunk = 0
            self.offsets = None
        return window[:, :-1], window[:, 1:], new

    @property
    def chars_per_epoch(self) -> int:
        return self.chunks_per_epoch * self.seq_len * self.batch_size

    def state_dict(self) -> dict:
        """JSON-able position in the stream."""
        return {
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "n": int(len(self.ids)),
            "epoch": self.epoch,
            "chunk": self.chunk,
            "offsets": None if self.offsets is None else [int(o) for o in self.offsets],
        }

    def load_state_dict(self, state: dict) -> None:
        want = {"batch_size": self.batch_size, "seq_len": self.seq_len, "n": int(len(self.ids))}
        got = {k: state.get(k) for k in want}
        if got != want:
            raise BoucleError(f"stream state: expected {want}, got {got}")
        offsets = state.get("offsets")
        if offsets is not None and len(offsets) != self.batch_size:
            raise BoucleError(f"stream state: expected {self.batch_size} offsets, got {len(offsets)}")
        self.epoch, self.chunk = int(state["epoch"]), int(state["chunk"])
        self.offsets = None if offsets is None else np.array(offsets, dtype=np.int64)


def eval_chunks(ids: np.ndarray, batch_size: int, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Score every transition x_t -> x_{t+1} of ``ids`` exactly once, in stateful chunks.

    The n = len(ids) - 1 transitions are cut into R = min(B, n) contiguous rows of
    L = ceil(n / R); yields ``(x, y, mask)`` (R, t) chunks, t ≤ T, in order, the mask
    (bool) False on the padding after the last transition. A caller carries the
    state from one chunk to the next (it starts from zeros).
    """
    _check_sizes(batch_size, seq_len)
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids) - 1
    if n < 1:
        raise BoucleError(f"text: expected at least 2 characters to score, got {len(ids)}")
    R = min(batch_size, n)
    L = -(-n // R)
    pos = np.arange(R)[:, None] * L + np.arange(L)  # (R, L) transition index
    mask = pos < n
    pos = np.minimum(pos, n - 1)
    x, y = ids[pos], ids[pos + 1]
    for s in range(0, L, seq_len):
        yield x[:, s : s + seq_len], y[:, s : s + seq_len], mask[:, s : s + seq_len]
