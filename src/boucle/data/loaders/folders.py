"""Folders of text files, one sub-folder per label (the IMDB layout; sentiment, seed 000)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import BoucleError

__all__ = ["load_text_folder"]


def load_text_folder(
    root: str | os.PathLike, suffix: str = ".txt", encoding: str = "utf-8"
) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts of ``root/<label>/*<suffix>`` (the IMDB layout): ``(texts, labels, class_names)``.

    Class names are the sorted sub-folder names; ``labels[i]`` indexes them. Files are
    read in sorted order. A text file directly under ``root`` has no label: an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise BoucleError(f"root: expected a folder of <label>/ sub-folders, got {root} (not a folder)")
    stray = sorted(p.name for p in root.iterdir() if p.is_file() and p.name.endswith(suffix))
    if stray:
        raise BoucleError(f"{root / stray[0]}: label missing (expected files under {root}/<label>/)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise BoucleError(f"root: expected label sub-folders in {root}, found none")
    texts, labels = [], []
    for k, c in enumerate(classes):
        files = sorted((root / c).glob(f"*{suffix}"))
        if not files:
            raise BoucleError(f"{root / c}: expected at least one *{suffix} file for label {c!r}, found none")
        for f in files:
            try:
                texts.append(f.read_text(encoding=encoding))
            except UnicodeDecodeError as e:
                raise BoucleError(f"{f}: not {encoding} text ({e.reason} at byte {e.start})") from None
            labels.append(k)
    return texts, np.array(labels, dtype=np.int64), classes
