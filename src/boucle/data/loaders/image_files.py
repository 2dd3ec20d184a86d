"""Image files in and out: PNG, PPM/PGM/PBM (Netpbm) and JPEG, through Pillow (the ``image`` extra).

Pillow is the reader because these formats are harder than they look (PNG's filters,
palettes, 16-bit and interlaced images, Adam7; Netpbm's ASCII and binary variants;
JPEG) and a file is hostile input: Pillow is the maintained, fuzzed library everyone
uses for it, already installed wherever matplotlib is (the ``plot`` extra depends on it).
boucle asks it for the three formats only (``Image.open(..., formats=...)``: no other
decoder is tried), reads the header first and refuses an image whose size is not the
one expected, or larger than ``max_pixels``, **before** decoding its pixels.

:func:`read_image` returns ``(H, W, C)`` float32 in [0, 1]: C = 1 (grey), 2 (grey + alpha),
3 (RGB) or 4 (RGBA); palette images become RGB (RGBA with transparency); 16-bit grey is
divided by 65535, 8-bit by 255. Every failure is a one-line :class:`~boucle.errors.BoucleError`
naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BoucleError

__all__ = ["read_image", "write_image", "image_size", "FORMATS", "MAX_PIXELS"]

#: the formats read (Pillow's names).
FORMATS = ("PNG", "PPM", "JPEG")
#: the largest image read (pixels), checked from the header before decoding.
MAX_PIXELS = 2**25
_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_MODES = {1: "grey", 2: "grey + alpha", 3: "RGB", 4: "RGBA"}
_MAGIC = {
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"RIFF": "RIFF/WebP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"%PDF": "PDF",
    b"\x00\x00\x01\x00": "ICO",
}


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise BoucleError("reading and writing images needs Pillow: pip install 'boucle[image]'") from None
    return Image


def _open(path: str | os.PathLike, name: str):
    Image = _pil()
    p = Path(path)
    if not p.is_file():
        raise BoucleError(f"{name}: no image file at {str(p)!r}")
    try:
        return Image.open(p, formats=list(FORMATS))
    except Image.UnidentifiedImageError:
        try:
            head = p.read_bytes()[:8]
        except OSError:
            head = b""
        kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
        got = f"a {kind} file" if kind else f"a file starting with {head!r}"
        raise BoucleError(f"{name}: {str(p)!r} is not a PNG, PPM or JPEG image (got {got})") from None
    except OSError as e:
        raise BoucleError(f"{name}: cannot read {str(p)!r} ({e})") from None


def image_size(path: str | os.PathLike, name: str = "image") -> tuple[int, int]:
    """(H, W) of an image file, from its header only."""
    with _open(path, name) as im:
        return im.size[1], im.size[0]


def read_image(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    resize: bool = False,
    max_pixels: int = MAX_PIXELS,
    name: str = "image",
) -> np.ndarray:
    """The pixels of a PNG, PPM or JPEG file: ``(H, W, C)`` float32 in [0, 1].

    Args:
        size: the (H, W) expected: another size is an error (checked from the header, before
            decoding), or, with ``resize``, the size the image is resampled to (bilinear).
        channels: the channel count expected (1 grey, 3 RGB, ...): another count is an error.
        max_pixels: refuse larger images (from the header).
        name: the argument named in error messages.
    """
    Image = _pil()
    with _open(path, name) as im:
        w, h = im.size
        where = f"{name}: {str(path)!r}"
        if w * h > max_pixels:
            raise BoucleError(f"{where} has {w}x{h} pixels, more than the {max_pixels:,} accepted")
        if size is not None and (h, w) != tuple(size) and not resize:
            raise BoucleError(f"{where}: expected an image of {size[0]}x{size[1]} pixels (height x width), got {h}x{w}")
        try:
            im.load()
            mode = im.mode
            if mode == "P" or mode == "PA":
                im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
            elif mode == "1":
                im = im.convert("L")
            elif mode not in _CHANNELS and not mode.startswith("I"):
                im = im.convert("RGB")  # CMYK / YCbCr JPEG
            if resize and size is not None and (h, w) != tuple(size):
                im = im.resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
            a = np.asarray(im)
        except (OSError, ValueError, SyntaxError) as e:
            raise BoucleError(f"{where} is truncated or corrupt ({str(e).splitlines()[0][:120]})") from None
    if im.mode.startswith("I"):  # 16-bit grey
        a = a.astype(np.float32) / np.float32(65535.0)
    else:
        a = a.astype(np.float32) / np.float32(255.0)
    if a.ndim == 2:
        a = a[..., None]
    if channels is not None and a.shape[-1] != channels:
        raise BoucleError(
            f"{where}: expected {channels} channel{'s' * (channels != 1)} "
            f"({_MODES.get(channels, '?')}), got {a.shape[-1]} ({_MODES.get(a.shape[-1], '?')}); "
            f"convert the image to {_MODES.get(channels, 'the expected mode')}"
        )
    return np.clip(a, 0.0, 1.0)


def write_image(path: str | os.PathLike, image: Any) -> None:
    """Write ``image`` ``(H, W)`` or ``(H, W, C)``, C in {1, 3, 4}, values in [0, 1], as PNG or PPM/PGM
    (by the suffix: ``.png``, ``.ppm``, ``.pgm``), 8 bits per channel."""
    Image = _pil()
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))) or a.size == 0:
        raise BoucleError(f"image: expected (H, W) or (H, W, C) with C in 1, 3, 4, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise BoucleError("image: expected finite values in [0, 1], got NaN or Inf")
    suffix = Path(path).suffix.lower()
    fmt = {".png": "PNG", ".ppm": "PPM", ".pgm": "PPM", ".pnm": "PPM"}.get(suffix)
    if fmt is None:
        raise BoucleError(f"path: expected a .png, .ppm or .pgm file name, got {str(path)!r}")
    if fmt == "PPM" and a.ndim == 3 and a.shape[-1] == 4:
        raise BoucleError("image: PPM holds no alpha channel; write RGBA images as .png")
    pixels = np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
