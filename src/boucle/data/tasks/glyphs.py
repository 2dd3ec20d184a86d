"""A built-in image set: hand-drawn-looking digit glyphs, 28×28 grayscale, 10 classes, generated.

Each class is a stroke skeleton (polylines in a unit box, one per digit 0–9). Every
sample draws, from one seeded ``numpy.random.Generator``: a jitter of the skeleton's
points (handwriting), a rotation, a scale, a shear, a shift of up to ``max_shift`` pixels,
a stroke width, a contrast and Gaussian pixel noise. The image is the stroke rendered
with anti-aliased edges: intensity = clip(w + 1/2 − d, 0, 1), d the distance from the
pixel centre to the nearest segment, w the stroke half-width.

Nothing is downloaded: 10,000 images take about a second. It stands in for MNIST in
the tests, the examples and the docs (real MNIST-family files: :mod:`boucle.data.loaders.images`).
"""

from __future__ import annotations

import numpy as np

from ...errors import BoucleError

__all__ = ["glyphs", "GLYPH_CLASSES", "SIZE"]

SIZE = 28
GLYPH_CLASSES = tuple(str(d) for d in range(10))


def _arc(cx, cy, rx, ry, a0, a1, n):
    t = np.linspace(np.radians(a0), np.radians(a1), n)
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


# Polylines in a unit box (x right, y down), roughly [-0.5, 0.5] x [-0.75, 0.75].
_STROKES = {
    0: [_arc(0, 0, 0.42, 0.7, 0, 360, 17)],
    1: [[(-0.22, -0.45), (0.05, -0.72), (0.05, 0.72)]],
    2: [_arc(0, -0.35, 0.4, 0.35, 200, 360, 6) + [(0.3, 0.0), (-0.42, 0.72), (0.45, 0.72)]],
    3: [_arc(0, -0.36, 0.38, 0.34, 200, 450, 8), _arc(0, 0.34, 0.42, 0.38, -90, 160, 8)],
    4: [[(0.18, 0.72), (0.18, -0.72), (-0.45, 0.25), (0.45, 0.25)]],
    5: [[(0.42, -0.7), (-0.3, -0.7), (-0.36, -0.08)] + _arc(0, 0.3, 0.42, 0.4, -120, 160, 9)],
    6: [[(0.3, -0.72), (-0.2, -0.25)] + _arc(0, 0.32, 0.4, 0.38, 200, 560, 14)],
    7: [[(-0.45, -0.7), (0.45, -0.7), (-0.1, 0.72)], [(-0.2, 0.02), (0.25, 0.02)]],
    8: [_arc(0, -0.38, 0.33, 0.32, 90, 450, 12), _arc(0, 0.36, 0.4, 0.36, -90, 270, 12)],
    9: [_arc(0, -0.32, 0.4, 0.38, 20, 380, 14) + [(0.38, -0.2), (0.1, 0.72)]],
}


def _segments(c: int) -> np.ndarray:
    """(S, 2, 2): the class's segments [(x0, y0), (x1, y1)]."""
    return np.array([[p, q] for line in _STROKES[c] for p, q in zip(line[:-1], line[1:])], dtype=np.float64)


_SEGS = [_segments(c) for c in range(10)]
_S_MAX = max(len(s) for s in _SEGS)


def _render(a: np.ndarray, b: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """Images (N, 28, 28) of segments a -> b (N, S, 2) in pixel coordinates (unused ones far away)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    p = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32) + 0.5  # pixel centres (P, 2)
    ab = (b - a).astype(np.float32)  # (N, S, 2)
    len2 = np.maximum((ab * ab).sum(-1), 1e-9)  # (N, S)
    ap_x = p[None, :, None, 0] - a[:, None, :, 0]  # (N, P, S)
    ap_y = p[None, :, None, 1] - a[:, None, :, 1]
    t = np.clip((ap_x * ab[:, None, :, 0] + ap_y * ab[:, None, :, 1]) / len2[:, None], 0.0, 1.0)
    dx = ap_x - t * ab[:, None, :, 0]
    dy = ap_y - t * ab[:, None, :, 1]
    d = np.sqrt((dx * dx + dy * dy).min(axis=2))  # (N, P)
    img = np.clip(half_width[:, None] + 0.5 - d, 0.0, 1.0)
    return img.reshape(-1, SIZE, SIZE)


def glyphs(
    n: int,
    seed: int | np.random.Generator = 0,
    classes: int = 10,
    max_shift: float = 3.0,
    max_rotation: float = 15.0,
    noise: float = 0.05,
    jitter: float = 0.04,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` glyph images and their labels: ``x (n, 28, 28, 1)`` in [0, 1], ``y (n,)`` int64 in [0, classes).

    Args:
        seed: an int or a ``numpy.random.Generator``; the same seed gives the same images.
        classes: how many digit classes (2–10), balanced, in random order.
        max_shift: largest translation in pixels (uniform in ±max_shift, both axes).
        max_rotation: largest rotation in degrees (uniform in ±max_rotation).
        noise: standard deviation of the Gaussian pixel noise (clipped to [0, 1]).
        jitter: standard deviation of the skeleton's points (unit-box coordinates).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise BoucleError(f"n: expected a positive int, got {n!r}")
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or not 2 <= classes <= 10:
        raise BoucleError(f"classes: expected an int in [2, 10], got {classes!r}")
    for name, v in (("max_shift", max_shift), ("max_rotation", max_rotation), ("noise", noise), ("jitter", jitter)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1e3:
            raise BoucleError(f"{name}: expected a non-negative number, got {v!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % classes).astype(np.int64)
    segs = np.zeros((n, _S_MAX, 2, 2))
    for c in range(classes):
        segs[y == c, : len(_SEGS[c])] = _SEGS[c]
    segs = segs + rng.normal(0, jitter, segs.shape)  # handwriting: jitter every point
    angle = np.radians(rng.uniform(-max_rotation, max_rotation, n))
    scale = rng.uniform(0.8, 1.05, n) * 12.0  # pixels per unit
    shear = rng.uniform(-0.15, 0.15, n)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    M = np.stack([np.stack([cos, -sin + shear * cos], 1), np.stack([sin, cos + shear * sin], 1)], 1)  # (n, 2, 2)
    shift = rng.uniform(-max_shift, max_shift, (n, 2)) + SIZE / 2
    pts = (np.einsum("nij,nsej->nsei", M, segs) + shift[:, None, None, :]).astype(np.float32)  # (n, S, 2, 2) px
    half_width = rng.uniform(0.7, 1.6, n).astype(np.float32)
    contrast = rng.uniform(0.75, 1.0, n).astype(np.float32)
    out = np.empty((n, SIZE, SIZE), dtype=np.float32)
    for c in range(classes):  # each class with its own segments
        idx = np.flatnonzero(y == c)
        S = len(_SEGS[c])
        for s in range(0, len(idx), 512):  # ~40 MB of work arrays per chunk
            i = idx[s : s + 512]
            out[i] = _render(pts[i, :S, 0], pts[i, :S, 1], half_width[i]) * contrast[i, None, None]
    if noise:
        out += rng.normal(0, noise, out.shape).astype(np.float32)
        np.clip(out, 0.0, 1.0, out=out)
    return out[..., None].astype(dtype, copy=False), y
