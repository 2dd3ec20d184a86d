"""Caption files: an image name and a caption per line, several captions per image (Flickr8k's layout),
with the images in a folder.

Two spellings of a line are read:

- ``NAME<TAB>CAPTION`` — Flickr8k's / Flickr30k's ``*.token.txt``, where NAME may end with
  ``#k`` (the caption's number: ``1000268201_693b08cb0e.jpg#0``), which is dropped;
- ``NAME,CAPTION`` — the comma-separated ``captions.txt`` (first line ``image,caption``,
  skipped), read as CSV: a quoted caption may hold commas, and an unquoted one is everything
  after the first comma.

The spelling is that of the first line with text; blank lines are skipped. Images are
read by :func:`~boucle.data.loaders.image_files.read_image` (PNG, PPM, JPEG) from the
folder, in the order of their first caption; they must all have one size, or are
resampled to ``size``. Names are file names inside the folder (no absolute path, no ``..``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ...errors import BoucleError
from ...validators import positive_int
from .image_files import MAX_PIXELS, image_size, read_image

__all__ = ["CaptionFiles", "read_caption_file", "load_captions"]


@dataclass
class CaptionFiles:
    """Images and their captions, read by :func:`load_captions`."""

    names: list[str]  #: image file names, in the order of the caption file
    images: np.ndarray  #: (N, H, W, C) float32 in [0, 1]
    captions: list[list[str]]  #: every caption of each image


def read_caption_file(path: str | os.PathLike, encoding: str = "utf-8") -> dict[str, list[str]]:
    """``{image name: [captions]}`` of a caption file, in the order of first appearance."""
    p = Path(path)
    if not p.is_file():
        raise BoucleError(f"captions: no caption file at {str(p)!r}")
    try:
        lines = p.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as e:
        raise BoucleError(f"captions: {str(p)!r} is not {encoding} text ({e.reason} at byte {e.start})") from None
    out: dict[str, list[str]] = {}
    sep = None
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if sep is None:
            sep = "\t" if "\t" in line else ","
            if sep == "," and line.strip().lower().replace(" ", "") == "image,caption":
                continue  # the CSV header
        if sep == "\t":
            name, found, caption = line.partition(sep)
        else:  # CSV: a quoted caption may hold commas
            fields = next(csv.reader([line]))
            name, found, caption = fields[0], len(fields) > 1, ",".join(fields[1:])
        where = f"{str(p)!r} line {no}"
        if not found:
            raise BoucleError(f"captions: {where}: expected 'IMAGE<TAB>CAPTION' or 'IMAGE,CAPTION', got {line[:60]!r}")
        name, caption = name.strip(), caption.strip()
        if sep == "\t" and "#" in name:
            name = name[: name.rindex("#")]
        if not name or not caption:
            raise BoucleError(f"captions: {where}: expected an image name and a non-empty caption, got {line[:60]!r}")
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not parts or parts[0] == "/" or ".." in parts:
            raise BoucleError(f"captions: {where}: expected an image file name inside the folder, got {name!r}")
        out.setdefault(name, []).append(caption)
    if not out:
        raise BoucleError(
            f"captions: {str(p)!r} holds no captions (expected lines 'IMAGE<TAB>CAPTION' or 'IMAGE,CAPTION')"
        )
    return out


def load_captions(
    captions: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    channels: int = 3,
    limit: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> CaptionFiles:
    """The images of a caption file (:func:`read_caption_file`) read from ``folder``.

    Args:
        size: (H, W) to resample every image to; None: the images must share one size.
        channels: the channels every image must have (3: RGB).
        limit: read only the first ``limit`` images of the file.
    """
    limit = positive_int(limit, "limit", optional=True)
    channels = positive_int(channels, "channels")
    if size is not None:
        if not isinstance(size, (tuple, list)) or len(size) != 2:
            raise BoucleError(f"size: expected (height, width), got {size!r}")
        size = (positive_int(size[0], "size[0]"), positive_int(size[1], "size[1]"))
    table = read_caption_file(captions)
    root = Path(folder)
    if not root.is_dir():
        raise BoucleError(f"folder: expected a folder of images, got {str(root)!r}")
    names = list(table)[:limit] if limit is not None else list(table)
    paths = [root / n for n in names]
    for n, p in zip(names, paths):
        if not p.is_file():
            raise BoucleError(f"captions: image {n!r} of {str(captions)!r} not found in {str(root)!r}")
    if size is None:
        size = image_size(paths[0], "image")
        for n, p in zip(names[1:], paths[1:]):
            got = image_size(p, "image")
            if got != size:
                raise BoucleError(
                    f"image: {n!r} is {got[0]}x{got[1]} pixels, {names[0]!r} {size[0]}x{size[1]}; "
                    "pass size=(H, W) to resample every image to one size"
                )
    images = np.stack([read_image(p, size=size, channels=channels, resize=True, max_pixels=max_pixels) for p in paths])
    return CaptionFiles(names, images, [table[n] for n in names])
