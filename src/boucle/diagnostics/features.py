"""Looking inside a convolutional network: its filters and an image's activation maps (seed 003).

- :func:`feature_maps` — the output of one layer of a ``Sequential`` for some images
  (inference mode): ``(B, H, W, C)``, map c being filter c's response at every position.
- :func:`conv_filters` — a convolution layer's kernels as ``(filters, kh, kw, C)`` pictures.
- :func:`plot_filters`, :func:`plot_feature_maps`, :func:`plot_image_rows` — PNG grids
  (``plot`` extra: matplotlib).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BoucleError
from ..layers.conv import Conv1D, Conv2D, Conv2DTranspose
from .gradflow import _figure, _save

__all__ = ["feature_maps", "conv_filters", "plot_filters", "plot_feature_maps", "plot_image_rows"]


def _layer_index(model: Any, layer: int | str | None) -> int:
    layers = list(model.layers)
    if layer is None:
        for i, l in enumerate(layers):
            if isinstance(l, (Conv1D, Conv2D, Conv2DTranspose)):
                return i
        raise BoucleError("layer: the model has no convolution layer; pass layer= (an index or a name)")
    if isinstance(layer, str):
        names = [l.name for l in layers]
        if layer not in names:
            raise BoucleError(f"layer: expected one of {names}, got {layer!r}")
        return names.index(layer)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -len(layers) <= layer < len(layers):
        raise BoucleError(f"layer: expected an index in [0, {len(layers)}) or a layer name, got {layer!r}")
    return int(layer) % len(layers)


def feature_maps(model: Any, x: np.ndarray, layer: int | str | None = None) -> np.ndarray:
    """The output of ``model.layers[layer]`` (default: the first convolution) for images ``x``
    ``(B, H, W, C)`` — or one image ``(H, W, C)`` — in inference mode."""
    x = np.asarray(x)
    if model.built_input_shape is not None and x.ndim == len(model.built_input_shape):
        x = x[None]  # one image
    k = _layer_index(model, layer)
    if not model.built:
        model.build(x.shape[1:])
    for l in model.layers[: k + 1]:
        x = l.forward(x, training=False)[0]
    return x


def conv_filters(model_or_layer: Any, layer: int | str | None = None) -> np.ndarray:
    """A convolution's kernels as pictures ``(filters, kh, kw, C)`` (Conv1D: ``(filters, 1, k, C)``)."""
    l = model_or_layer
    if hasattr(model_or_layer, "layers"):
        l = model_or_layer.layers[_layer_index(model_or_layer, layer)]
    if not isinstance(l, (Conv1D, Conv2D, Conv2DTranspose)) or not l.built:
        raise BoucleError(f"layer: expected a built Conv1D, Conv2D or Conv2DTranspose, got {type(l).__name__}")
    W = l.params["W"]
    if isinstance(l, Conv2DTranspose):
        W = W.transpose(0, 1, 3, 2)  # (kh, kw, C, filters)
    if W.ndim == 3:
        W = W[None]
    return np.ascontiguousarray(np.moveaxis(W, -1, 0))


def _grid(n: int, cols: int | None = None) -> tuple[int, int]:
    cols = cols or int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


def plot_filters(
    model_or_layer: Any, path: str | os.PathLike, layer: int | str | None = None, title: str | None = None
) -> str:
    """One tile per filter (averaged over input channels, 3 channels shown as colour), each
    scaled symmetrically around 0 (red +, blue −) (PNG)."""
    F = conv_filters(model_or_layer, layer)  # (n, kh, kw, C)
    n = len(F)
    rows, cols = _grid(n)
    fig = _figure((1.1 * cols + 0.4, 1.1 * rows + (0.5 if title else 0.2)))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        f = F[i]
        if f.shape[-1] == 3:
            lim = max(np.abs(f).max(), 1e-12)
            ax.imshow(0.5 + 0.5 * f / lim, interpolation="nearest")
        else:
            g = f.mean(axis=-1)
            lim = max(np.abs(g).max(), 1e-12)
            ax.imshow(g, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_feature_maps(
    model: Any, image: np.ndarray, path: str | os.PathLike, layer: int | str | None = None, title: str | None = None
) -> str:
    """The image, then one tile per channel of its activation maps at ``layer`` (PNG)."""
    image = np.asarray(image)
    maps = feature_maps(model, image, layer)[0]  # (H, W, C)
    if maps.ndim != 3:
        raise BoucleError(f"layer: expected image-shaped activations (H, W, C), got shape {maps.shape}")
    n = maps.shape[-1] + 1
    rows, cols = _grid(n)
    fig = _figure((1.2 * cols + 0.4, 1.2 * rows + (0.5 if title else 0.2)))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    img = image[0] if image.ndim == 4 else image
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i == 0:
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", interpolation="nearest")
            ax.set_title("input", fontsize=7)
        elif i < n:
            ax.imshow(maps[..., i - 1], cmap="viridis", interpolation="nearest")
            ax.set_title(str(i - 1), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_image_rows(
    rows: Sequence[np.ndarray], path: str | os.PathLike, labels: Sequence[str] | None = None, title: str | None = None
) -> str:
    """A grid with one row per image batch ``(n, H, W, 1 or 3)`` (e.g. originals / noisy / reconstructed) (PNG)."""
    rows = [np.asarray(r) for r in rows]
    if not rows or any(r.ndim != 4 or r.shape[0] != rows[0].shape[0] for r in rows):
        raise BoucleError(f"rows: expected batches of images (n, H, W, C) with one n, got {[r.shape for r in rows]}")
    n = rows[0].shape[0]
    fig = _figure((0.9 * n + 1.2, 0.95 * len(rows) + (0.5 if title else 0.2)))
    axes = np.asarray(fig.subplots(len(rows), n)).reshape(len(rows), n)
    for r, batch in enumerate(rows):
        for j in range(n):
            ax = axes[r, j]
            img = np.clip(batch[j], 0.0, 1.0)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0 and labels is not None:
                ax.set_ylabel(labels[r], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
