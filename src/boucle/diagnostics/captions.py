"""Captions as pictures: where each word looked, and a grid of images with their captions.

- :func:`upsample` — an attention map (H′, W′) bilinearly resized to the image (H, W), each
  map cell centred on the image region it covers (cell (i, j) spans H/H′ × W/W′ pixels).
- :func:`attention_overlay` — the image lit by one word's attention: pixel · (0.2 + 0.8 · a/max a),
  (H, W, 3) in [0, 1] (pure NumPy: for any report).
- :func:`plot_caption_attention` — one row per image: the image, then each word (and
  ``<end>``) over its attention, as in Xu et al. 2015's figures (PNG; the ``plot`` extra).
- :func:`plot_caption_grid` — images with their generated captions under them; with
  references, a correct caption (one of them, exactly) in green, another in red (PNG).

The attention maps come from :meth:`boucle.models.captioner.ImageCaptioner.attention_maps`.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BoucleError
from .gradflow import _figure, _save

__all__ = ["upsample", "attention_overlay", "plot_caption_attention", "plot_caption_grid"]


def _rgb(image: Any) -> np.ndarray:
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise BoucleError(f"image: expected (H, W), (H, W, 1) or (H, W, 3), got shape {a.shape}")
    return np.clip(np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a, 0.0, 1.0)


def upsample(alpha: Any, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``alpha`` (H′, W′) to ``size`` (H, W), sampling at pixel centres."""
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise BoucleError(f"alpha: expected an (H', W') map, got shape {a.shape}")
    out = a
    for axis, (n_in, n_out) in enumerate(zip(a.shape, size)):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)  # source coordinate
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        w = (pos - lo).reshape([-1 if k == axis else 1 for k in range(2)])
        out = np.take(out, lo, axis=axis) * (1 - w) + np.take(out, hi, axis=axis) * w
    return out


def attention_overlay(image: Any, alpha: Any) -> np.ndarray:
    """``image`` (H, W[, C]) lit by ``alpha`` (H′, W′): (H, W, 3) in [0, 1], the most attended region brightest."""
    img = _rgb(image)
    up = upsample(alpha, img.shape[:2])
    peak = up.max()
    light = 0.2 + 0.8 * (up / peak if peak > 0 else up)
    return np.clip(img * light[..., None], 0.0, 1.0)


def plot_caption_attention(
    images: Any, maps: Sequence, path: str | os.PathLike, *, max_words: int = 20, title: str | None = None
) -> str:
    """One row per image: the image, then one panel per word (``maps[i].words``) showing
    :func:`attention_overlay` of its attention (``maps[i].alpha``). Writes a PNG; returns its path."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if len(maps) != len(images) or not len(maps):
        raise BoucleError(f"maps: expected one attention map set per image ({len(images)}), got {len(maps)}")
    cols = 1 + min(max(len(m.words) for m in maps), max_words)
    fig = _figure((1.25 * cols + 0.3, 1.45 * len(images) + (0.4 if title else 0.1)))
    axes = np.asarray(fig.subplots(len(images), cols)).reshape(len(images), cols)
    for r, (img, m) in enumerate(zip(images, maps)):
        axes[r, 0].imshow(_rgb(img), interpolation="nearest")
        axes[r, 0].set_title("image", fontsize=8)
        for j in range(1, cols):
            ax = axes[r, j]
            if j - 1 < min(len(m.words), max_words):
                ax.imshow(attention_overlay(img, m.alpha[j - 1]), interpolation="nearest")
                ax.set_title(m.words[j - 1], fontsize=9)
            else:
                ax.axis("off")
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_caption_grid(
    images: Any,
    captions: Sequence[str],
    path: str | os.PathLike,
    *,
    correct: Sequence[bool] | None = None,
    cols: int = 4,
    title: str | None = None,
) -> str:
    """Images with their captions under them (wrapped); ``correct[i]`` colours caption i green
    (True) or red (False). Writes a PNG; returns its path."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) != len(captions) or not len(captions):
        raise BoucleError(f"captions: expected one caption per image ({len(images)}), got {len(captions)}")
    if correct is not None and len(correct) != len(captions):
        raise BoucleError(f"correct: expected one flag per caption ({len(captions)}), got {len(correct)}")
    cols = max(1, min(int(cols), len(images)))
    rows = -(-len(images) // cols)
    fig = _figure((2.4 * cols, 2.75 * rows + (0.4 if title else 0.0)))
    axes = np.asarray(fig.subplots(rows, cols)).reshape(rows, cols)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(images):
            ax.axis("off")
            continue
        ax.imshow(_rgb(images[k]), interpolation="nearest")
        colour = "black" if correct is None else ("darkgreen" if correct[k] else "firebrick")
        ax.set_xlabel("\n".join(textwrap.wrap(captions[k], 30)), fontsize=7.5, color=colour)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
