"""Real image data: the IDX files of the MNIST family and ``.npz`` image arrays.

- :func:`load_idx` — one IDX file (``gzip`` or not): a magic number ``0x00 0x00 <type> <ndim>``
  (type 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64),
  ``ndim`` big-endian uint32 sizes, then the values, big-endian, row-major
  (LeCun & Cortes, "The MNIST database").
- :func:`load_mnist` — MNIST, Fashion-MNIST or KMNIST by name: the four
  ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` files fetched once into the cache by
  :func:`boucle.data.loaders.download`, each checked against its SHA-256 (from TensorFlow
  Datasets' url_checksums); offline, the error says which file to place where.
- :func:`load_npz_images` — ``x_<split>``/``y_<split>`` (Keras's ``mnist.npz`` layout) or
  ``x``/``y`` arrays from a local ``.npz`` or a URL; loaded with ``allow_pickle=False``.

Images come back as ``(N, H, W, C)`` float32 in [0, 1] (uint8 / 255; a channel axis is
added to (N, H, W)) and labels as int64, ready for ``Conv2D(input_shape=(28, 28, 1))``.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np

from ...errors import BoucleError
from .download import default_cache_dir, download

__all__ = ["load_idx", "load_mnist", "load_npz_images", "as_images", "MNIST_FAMILY"]

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: name -> (base URL, {file name: SHA-256}); checksums as recorded by TensorFlow Datasets.
MNIST_FAMILY = {
    "mnist": (
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    ),
    "kmnist": (
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        {
            "train-images-idx3-ubyte.gz": "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            "train-labels-idx1-ubyte.gz": "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            "t10k-images-idx3-ubyte.gz": "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            "t10k-labels-idx1-ubyte.gz": "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
        },
    ),
}


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzip-compressed or not), in native byte order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BoucleError(f"path: cannot read {path} ({e.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise BoucleError(f"{path}: corrupt gzip data ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise BoucleError(f"{path}: not an IDX file (expected magic 0x00 0x00 <type> <ndim>, got {raw[:4].hex()})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise BoucleError(
            f"{path}: unknown IDX type 0x{code:02X} (expected one of {', '.join(f'0x{c:02X}' for c in _IDX_TYPES)})"
        )
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise BoucleError(f"{path}: truncated IDX header (ndim {ndim}, {len(raw)} bytes)")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[code])
    want = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - 4 - 4 * ndim
    if have != want:
        raise BoucleError(f"{path}: IDX data of shape {shape} needs {want} bytes, got {have}")
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def as_images(x: np.ndarray, name: str = "x") -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images as float32 (N, H, W, C); uint8 values are divided by 255."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise BoucleError(f"{name}: expected images (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(x.dtype, np.number):
        raise BoucleError(f"{name}: expected numeric images, got dtype {x.dtype}")
    return x.astype(np.float32)


def _labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise BoucleError(f"{where}: expected {n} labels (N,), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise BoucleError(f"{where}: expected integer labels, got dtype {y.dtype}")
    return y.astype(np.int64)


def load_mnist(
    name: str = "mnist",
    split: str = "train",
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST, Fashion-MNIST or KMNIST: ``x (N, 28, 28, 1)`` float32 in [0, 1] and ``y (N,)`` int64.

    Files live in ``<cache>/<name>/`` (cache: ``$BOUCLE_DATA`` or ``~/.cache/boucle``), fetched
    from ``base_url`` (default: the dataset's own site) on first use and checked against
    their SHA-256. ``split``: ``"train"`` (60,000) or ``"test"`` (10,000).
    """
    key = str(name).lower().replace("-", "_")
    if key not in MNIST_FAMILY:
        raise BoucleError(f"name: expected one of {sorted(MNIST_FAMILY)}, got {name!r}")
    if split not in _FILES:
        raise BoucleError(f"split: expected 'train' or 'test', got {split!r}")
    url, sums = MNIST_FAMILY[key]
    url = (base_url or url).rstrip("/") + "/"
    folder = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / key
    paths = [download(url + f, sums[f], folder, timeout=timeout) for f in _FILES[split]]
    images, labels = (load_idx(p) for p in paths)
    if images.ndim != 3:
        raise BoucleError(f"{paths[0]}: expected images (N, H, W), got shape {images.shape}")
    return as_images(images, str(paths[0])), _labels(labels, len(images), str(paths[1]))


def load_npz_images(
    source: str | os.PathLike,
    split: str = "train",
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    timeout: float = 60.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from a ``.npz``: keys ``x_<split>``/``y_<split>`` (Keras's ``mnist.npz``)
    or ``x``/``y``. ``source``: a path, or an ``http(s)://`` URL fetched into the cache
    (checked against ``sha256`` when given). Returns ``x (N, H, W, C)`` float32, ``y (N,)`` int64."""
    src = str(source)
    if re.match(r"https?://", src):
        path = download(src, sha256, cache_dir, timeout=timeout)
    else:
        path = Path(src)
        if not path.is_file():
            raise BoucleError(f"source: no .npz file at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            xk, yk = (f"x_{split}", f"y_{split}") if f"x_{split}" in keys else ("x", "y")
            if xk not in keys or yk not in keys:
                raise BoucleError(f"{path}: expected arrays x_{split}/y_{split} or x/y, found {sorted(keys)}")
            x, y = f[xk], f[yk]
    except (ValueError, OSError) as e:
        if isinstance(e, BoucleError):
            raise
        raise BoucleError(f"{path}: not a readable .npz of arrays ({str(e).splitlines()[0]})") from None
    images = as_images(x, f"{path}:{xk}")
    return images, _labels(y, len(images), f"{path}:{yk}")
