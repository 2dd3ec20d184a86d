"""Pretrained word vectors: GloVe and word2vec files in, aligned to a vocabulary, out again.

Formats (:func:`load_vectors`; ``.gz`` files are read through gzip, a ``.zip`` through ``member=``):

- **GloVe text** (Pennington et al. 2014): one line per word, ``word v_1 ... v_D``, space-separated;
- **word2vec text**: the same after a header line ``N D`` (gensim's ``.txt``/``.vec``);
- **word2vec binary** (``format="word2vec-binary"``, the C tool's ``-binary 1``): the header line
  ``N D``, then per word the UTF-8 word, one space and D little-endian float32 (a newline may
  follow each vector).

:meth:`WordVectors.align` builds the ``(len(vocab), D)`` matrix of a vocabulary — PAD at zero,
each word's vector when the file has it (else the first word equal to it lower-cased), the rest (other specials,
out-of-vocabulary words) drawn N(0, σ²) with σ the vectors' standard deviation, or zero —
and counts what it could not find; ``boucle.layers.Embedding.from_pretrained`` turns the
matrix into a frozen layer. :func:`fetch_vectors` gets a published set (:data:`PRETRAINED`)
through the cached, checksummed :func:`~boucle.data.loaders.download`.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ... import backend
from ...errors import BoucleError
from ..vocab import PAD, Vocabulary
from .download import _sha256, default_cache_dir, download

__all__ = [
    "WordVectors",
    "Alignment",
    "load_vectors",
    "save_vectors",
    "PretrainedSet",
    "PRETRAINED",
    "fetch_vectors",
    "FORMATS",
]

FORMATS = ("auto", "glove", "word2vec", "word2vec-binary")


@dataclass
class Alignment:
    """A vocabulary's embedding matrix from pretrained vectors, and what was missing."""

    matrix: np.ndarray  #: (len(vocab), D)
    found: np.ndarray  #: (len(vocab),) bool: the row came from the file
    oov: list[str]  #: the vocabulary's words the file lacks, in id order

    @property
    def n_oov(self) -> int:
        return len(self.oov)

    @property
    def coverage(self) -> float:
        """The fraction of the vocabulary's words found in the file."""
        n = int(self.found.sum()) + self.n_oov
        return int(self.found.sum()) / n if n else 0.0


@dataclass
class WordVectors:
    """Words and their vectors ``(N, D)``, one row per word."""

    words: list[str]
    vectors: np.ndarray
    _index: dict = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self):
        self.vectors = np.asarray(self.vectors)
        if self.vectors.ndim != 2 or len(self.words) != len(self.vectors) or not len(self.words):
            raise BoucleError(
                f"vectors: expected one row per word ({len(self.words)} words), got shape {self.vectors.shape}"
            )

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {}
            for i, w in enumerate(self.words):
                self._index.setdefault(w, i)  # the first of duplicated words wins
        return self._index

    def __getitem__(self, word: str) -> np.ndarray:
        if word not in self.index:
            raise BoucleError(f"word: {word!r} has no vector (the file holds {len(self.words)} words)")
        return self.vectors[self.index[word]]

    def align(self, vocab: Vocabulary, *, oov: str = "random", seed: Any = 0) -> Alignment:
        """The ``(len(vocab), D)`` matrix of ``vocab`` (see the module docstring).

        Args:
            oov: rows without a vector: ``"random"`` N(0, σ²) (σ: the file's standard deviation)
                or ``"zeros"``. PAD (with the special tokens) is always zero.
            seed: seed or Generator of the random rows.
        """
        if not isinstance(vocab, Vocabulary):
            raise BoucleError(f"vocab: expected a Vocabulary, got {type(vocab).__name__}")
        if oov not in ("random", "zeros"):
            raise BoucleError(f"oov: expected 'random' or 'zeros', got {oov!r}")
        rng = backend.make_rng(seed)
        V, D = len(vocab), self.dim
        sigma = float(self.vectors.std())
        matrix = (rng.normal(0.0, sigma, (V, D)) if oov == "random" else np.zeros((V, D))).astype(np.float32)
        found = np.zeros(V, dtype=bool)
        missing: list[str] = []
        index, folded = self.index, {}
        for k in range(len(self.words) - 1, -1, -1):  # the first of each lower-cased form
            folded[self.words[k].lower()] = k
        for w, i in vocab.index.items():
            j = index.get(w)
            if j is None:
                j = folded.get(w.lower())
            if j is None:
                missing.append(w)
            else:
                matrix[i] = self.vectors[j]
                found[i] = True
        if vocab.specials:
            matrix[PAD] = 0.0
        missing.sort(key=vocab.index.__getitem__)
        return Alignment(matrix, found, missing)


def _open(path: Path, member: str | None) -> BinaryIO:
    if member is not None or path.suffix == ".zip":
        try:
            z = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise BoucleError(f"{path}: not a zip archive") from None
        names = z.namelist()
        if member is None:
            if len(names) != 1:
                raise BoucleError(f"member: {path} holds {len(names)} files, expected member= one of {names[:6]}")
            member = names[0]
        if member not in names:
            raise BoucleError(f"member: expected one of {names[:6]} in {path}, got {member!r}")
        return z.open(member)
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.seek(0)
        return gzip.GzipFile(fileobj=f)  # type: ignore[return-value]
    f.seek(0)
    return f


def _header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def load_vectors(
    path: str | os.PathLike,
    format: str = "auto",
    *,
    member: str | None = None,
    words: Iterable[str] | None = None,
    limit: int | None = None,
    dtype: Any = np.float32,
) -> WordVectors:
    """Read a GloVe or word2vec file (text or binary; gzip; a zip ``member``) — see the module doc.

    Args:
        format: ``"auto"`` (text, with or without the word2vec header; binary for ``.bin`` files),
            ``"glove"``, ``"word2vec"`` (text with header) or ``"word2vec-binary"``.
        words: keep only these words (and their lower-cased forms' matches; saves memory).
        limit: read at most this many vectors (files list frequent words first).

    Every malformed line is a one-line :class:`BoucleError` naming the file and the line.
    """
    path = Path(path)
    if format not in FORMATS:
        raise BoucleError(f"format: expected one of {list(FORMATS)}, got {format!r}")
    if not path.is_file():
        raise BoucleError(f"path: no vectors file at {str(path)!r}")
    if format == "auto":
        format = "word2vec-binary" if path.name.endswith((".bin", ".bin.gz")) else "text"
    keep = None if words is None else set(words) | {w.lower() for w in words}
    with _open(path, member) as f:
        if format == "word2vec-binary":
            out_words, rows = _read_binary(f, path, keep, limit)
        else:
            out_words, rows = _read_text(f, path, format, keep, limit)
    if not out_words:
        what = "none of the requested words" if keep is not None else "no vector"
        raise BoucleError(f"{path}: expected word vectors, found {what}")
    return WordVectors(out_words, np.array(rows, dtype=dtype))


def _read_text(f: BinaryIO, path: Path, format: str, keep, limit) -> tuple[list[str], list]:
    out_words, rows = [], []
    D = None
    for n, raw in enumerate(f, 1):
        if n == 1:
            head = _header(raw)
            if head is not None:
                D = head[1]
                continue
            if format == "word2vec":
                raise BoucleError(f"{path}:1: expected the word2vec header 'N D', got {raw[:40]!r}")
        try:
            line = raw.decode("utf-8").rstrip("\r\n").rstrip(" ")
        except UnicodeDecodeError as e:
            raise BoucleError(f"{path}:{n}: not UTF-8 ({e.reason} at byte {e.start})") from None
        if not line:
            continue
        if D is None:
            D = len(line.split(" ")) - 1
            if D < 1:
                raise BoucleError(f"{path}:{n}: expected a word and its numbers, got {line[:40]!r}")
        parts = line.rsplit(" ", D)
        if len(parts) != D + 1 or not parts[0]:
            raise BoucleError(f"{path}:{n}: expected a word and {D} numbers, got {len(parts) - 1} numbers")
        if keep is not None and parts[0] not in keep and parts[0].lower() not in keep:
            continue
        try:
            rows.append(np.array(parts[1:], dtype=np.float64))
        except ValueError:
            bad = next(p for p in parts[1:] if not _is_float(p))
            raise BoucleError(f"{path}:{n}: expected {D} numbers after {parts[0]!r}, got {bad[:20]!r}") from None
        out_words.append(parts[0])
        if limit is not None and len(out_words) >= limit:
            break
    return out_words, rows


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_binary(f: BinaryIO, path: Path, keep, limit) -> tuple[list[str], list]:
    head = _header(f.readline())
    if head is None:
        raise BoucleError(f"{path}:1: expected the word2vec header 'N D'")
    N, D = head
    out_words, rows = [], []
    size = 4 * D
    for k in range(N):
        word = bytearray()
        while True:
            ch = f.read(1)
            if not ch:
                raise BoucleError(f"{path}: truncated: expected {N} vectors, got {k}")
            if ch == b" ":
                break
            if ch != b"\n" or word:
                word += ch
        data = f.read(size)
        if len(data) != size:
            raise BoucleError(f"{path}: truncated: vector {k + 1} of {N} has {len(data)} of {size} bytes")
        try:
            w = word.decode("utf-8")
        except UnicodeDecodeError:
            raise BoucleError(f"{path}: vector {k + 1}: the word is not UTF-8") from None
        if keep is None or w in keep or w.lower() in keep:
            out_words.append(w)
            rows.append(np.frombuffer(data, dtype="<f4"))
            if limit is not None and len(out_words) >= limit:
                break
    return out_words, rows


def save_vectors(vectors: WordVectors, path: str | os.PathLike, format: str = "word2vec") -> Path:
    """Write ``vectors`` as ``"glove"`` text, ``"word2vec"`` text (header line) or ``"word2vec-binary"``."""
    if format not in FORMATS[1:]:
        raise BoucleError(f"format: expected one of {list(FORMATS[1:])}, got {format!r}")
    bad = [w for w in vectors.words if " " in w or "\n" in w]
    if bad:
        raise BoucleError(f"vectors: words with spaces cannot be written, got {bad[:3]!r}")
    path = Path(path)
    N, D = vectors.vectors.shape
    if format == "word2vec-binary":
        buf = io.BytesIO()
        buf.write(f"{N} {D}\n".encode())
        for w, v in zip(vectors.words, vectors.vectors.astype("<f4")):
            buf.write(w.encode("utf-8") + b" " + v.tobytes() + b"\n")
        path.write_bytes(buf.getvalue())
        return path
    lines = [f"{N} {D}"] if format == "word2vec" else []
    lines += [w + " " + " ".join(repr(float(x)) for x in v) for w, v in zip(vectors.words, vectors.vectors)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class PretrainedSet:
    """A published set of vectors: where it is (``url``, a ``member`` of an archive) and the
    SHA-256 of the vectors file itself (checked after extraction)."""

    name: str
    url: str
    file: str
    sha256: str
    format: str
    dim: int
    description: str = ""
    member: str | None = None


#: Published sets :func:`fetch_vectors` knows by name.
PRETRAINED = {
    "glove.6B.50d": PretrainedSet(
        "glove.6B.50d",
        "https://nlp.stanford.edu/data/glove.6B.zip",
        "glove.6B.50d.txt",
        "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f",
        "glove",
        50,
        "GloVe (Pennington, Socher & Manning 2014), Wikipedia 2014 + Gigaword 5, 6B tokens, 400,000 "
        "uncased words, 50 dimensions; the 822 MB archive holds the 50/100/200/300-d files",
        member="glove.6B.50d.txt",
    ),
}


def fetch_vectors(
    name: str | PretrainedSet,
    cache_dir: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    keep_archive: bool = False,
    timeout: float = 60.0,
) -> Path:
    """The local path of a published set (:data:`PRETRAINED` name or a :class:`PretrainedSet`).

    The vectors file is looked for as ``<cache>/vectors/<file>`` (its SHA-256 checked); if absent
    the archive (or file) is downloaded from ``url`` (default: the set's), the member extracted,
    its checksum verified, and the archive deleted unless ``keep_archive``. Offline, the error
    says where to place the file.
    """
    if isinstance(name, str):
        if name not in PRETRAINED:
            raise BoucleError(f"name: expected one of {sorted(PRETRAINED)} or a PretrainedSet, got {name!r}")
        spec = PRETRAINED[name]
    elif isinstance(name, PretrainedSet):
        spec = name
    else:
        raise BoucleError(f"name: expected a str or a PretrainedSet, got {type(name).__name__}")
    folder = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "vectors"
    target = folder / spec.file
    if target.is_file() and _sha256(target) == spec.sha256:
        return target
    source = url or spec.url
    if spec.member is None:
        return download(source, spec.sha256, folder, filename=spec.file, timeout=timeout)
    try:
        archive = download(source, None, folder, timeout=timeout)
    except BoucleError as e:
        raise BoucleError(f"{e}; or place {spec.file} (sha256 {spec.sha256}) at {target}") from None
    try:
        with zipfile.ZipFile(archive) as z, z.open(spec.member) as src:
            tmp = folder / f".{spec.file}.part"
            with open(tmp, "wb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
    except (zipfile.BadZipFile, KeyError) as e:
        raise BoucleError(
            f"{archive}: expected a zip archive holding {spec.member} ({type(e).__name__}); delete it to download again"
        ) from None
    digest = _sha256(tmp)
    if digest != spec.sha256:
        tmp.unlink()
        raise BoucleError(f"{spec.member}: checksum mismatch: expected sha256 {spec.sha256}, got {digest}")
    os.replace(tmp, target)
    if not keep_archive:
        archive.unlink()
    return target
