r"""A built-in captioning set: coloured shapes on a dark background, described in words, generated.

Each RGB image (``size`` × ``size``, default 48) holds one to three objects — a shape
(circle, square, triangle, cross) × a colour (red, green, blue, yellow, white, purple, cyan,
orange) × a size (small, large) — and comes with every phrasing of its description:

=========  ====================================================================================
objects    captions
=========  ====================================================================================
1          "a small red circle" · "there is a small red circle"
2          "A above B" · "B below A" (one above the other), or "A left of B" · "B right of A"
3          "from left to right A , B and C" · "from right to left C , B and A" (in a row), or
           "from top to bottom A , B and C" · "from bottom to top C , B and A" (in a column)
=========  ====================================================================================

where A, B, C are "a <size> <colour> <shape>". Two or three objects lie along one axis,
each in its own third (or half) of it, so the order is never ambiguous: between neighbours
the offset across the axis is less than 0.8 of the offset along it. Each image draws, from
one seeded ``numpy.random.Generator``: the number of objects, their attributes, positions
and radii (small 4–4.75 px, large 6.25–7 px at 48 px, in proportion otherwise), a colour jitter
(±0.08 per channel), a background grey level and Gaussian pixel noise (σ = ``noise``).
Shapes are drawn anti-aliased from their signed distance d: coverage = clip(0.5 − d, 0, 1).

**Composition.** :data:`HELD_OUT` names colour–shape pairs that the ``"seen"`` images never
contain; each ``"unseen"`` image holds at least one object of such a pair (and any objects
beside it). Every colour and every shape still occurs in training, with other partners:
a model that reads "red" and "circle" separately can describe a red circle it never saw.
:func:`shape_captions_task` makes the train / validation (seen) / test (unseen) splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import BoucleError
from ...validators import integer, one_of, positive_int, real
from ..vocab import Vocabulary

__all__ = [
    "SHAPES",
    "COLOURS",
    "SIZES",
    "HELD_OUT",
    "ShapeCaptions",
    "CaptionTask",
    "shape_captions",
    "shape_captions_task",
]

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {
    "red": (0.9, 0.12, 0.1),
    "green": (0.12, 0.78, 0.15),
    "blue": (0.15, 0.3, 0.95),
    "yellow": (0.95, 0.88, 0.1),
    "white": (0.92, 0.92, 0.92),
    "purple": (0.7, 0.15, 0.85),
    "cyan": (0.1, 0.85, 0.85),
    "orange": (0.95, 0.55, 0.1),
}
SIZES = ("small", "large")
#: colour–shape pairs kept out of the "seen" images: one per shape, each colour a mixture of two primaries
#: with which that shape is seen (module docstring, "Composition").
HELD_OUT = (("orange", "circle"), ("cyan", "square"), ("purple", "triangle"), ("yellow", "cross"))
_RADII = {"small": (4.0, 4.75), "large": (6.25, 7.0)}  # at 48 px
_RELATION = {(2, 0): ("above", "below"), (2, 1): ("left of", "right of")}
_ORDER = {0: ("from top to bottom", "from bottom to top"), 1: ("from left to right", "from right to left")}


@dataclass
class ShapeCaptions:
    """Generated images and their captions."""

    images: np.ndarray  #: (N, size, size, 3) float32 in [0, 1]
    captions: list[list[str]]  #: every phrasing of each image's description
    objects: list[list[tuple]]  #: per image, its objects (size, colour, shape, row, column) in caption order

    def __len__(self) -> int:
        return len(self.captions)


@dataclass
class CaptionTask:
    """Train / validation (seen combinations) / test (held-out combinations) and the training vocabulary."""

    train: ShapeCaptions
    val: ShapeCaptions
    test: ShapeCaptions
    vocab: Vocabulary
    held_out: tuple


def _phrase(obj: tuple) -> str:
    return f"a {obj[0]} {obj[1]} {obj[2]}"


def _captions(objs: list[tuple], axis: int) -> list[str]:
    """Every phrasing; ``objs`` in order along ``axis`` (0: top to bottom, 1: left to right)."""
    p = [_phrase(o) for o in objs]
    if len(objs) == 1:
        return [p[0], f"there is {p[0]}"]
    if len(objs) == 2:
        fwd, back = _RELATION[(2, axis)]
        return [f"{p[0]} {fwd} {p[1]}", f"{p[1]} {back} {p[0]}"]
    fwd, back = _ORDER[axis]
    return [f"{fwd} {p[0]} , {p[1]} and {p[2]}", f"{back} {p[2]} , {p[1]} and {p[0]}"]


def _layout(rng: np.random.Generator, radii: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Centres (k, 2) as (row, column), in order along the drawn axis, and that axis."""
    k, axis = len(radii), int(rng.integers(2))
    cell = size / k
    for _ in range(1000):
        along = np.array([rng.uniform(i * cell + r + 1, (i + 1) * cell - r - 1) for i, r in enumerate(radii)])
        across = np.array([rng.uniform(r + 2, size - r - 2) for r in radii])
        if k == 1 or all(abs(across[i + 1] - across[i]) < 0.8 * abs(along[i + 1] - along[i]) for i in range(k - 1)):
            break
    centres = np.stack([along, across], 1) if axis == 0 else np.stack([across, along], 1)
    return centres, axis


def _distance(shape: str, dr: np.ndarray, dc: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (pixels, < 0 inside) of pixel offsets (dr, dc) from a shape of radius r."""
    if shape == "circle":
        return np.hypot(dr, dc) - r
    if shape == "square":
        return np.maximum(np.abs(dr), np.abs(dc)) - 0.9 * r
    if shape == "triangle":  # pointing up, circumradius 1.2 r
        R = 1.2 * r
        n = ((1.0, 0.0), (-0.5, np.sqrt(3) / 2), (-0.5, -np.sqrt(3) / 2))  # outward normals (row, col)
        return np.max([a * (dr - R / 4) + b * dc for a, b in n], axis=0) - R / 2  # box centred
    w = 0.38 * r  # cross: two bars of half-width w
    return np.minimum(np.maximum(np.abs(dr) - r, np.abs(dc) - w), np.maximum(np.abs(dr) - w, np.abs(dc) - r))


def shape_captions(
    n: int,
    seed: Any = 0,
    *,
    split: str = "seen",
    size: int = 48,
    noise: float = 0.03,
    held_out: tuple = HELD_OUT,
    max_objects: int = 3,
) -> ShapeCaptions:
    """``n`` generated images and their captions (see the module docstring).

    Args:
        seed: an int, a ``numpy.random.SeedSequence`` or a ``Generator``: the same seed gives the same set.
        split: ``"seen"`` (no held-out colour–shape pair), ``"unseen"`` (at least one per image) or ``"any"``.
        size: the image side in pixels (at least 24).
        noise: σ of the Gaussian pixel noise.
        held_out: the (colour, shape) pairs of the composition split.
        max_objects: 1 to 3 objects per image, uniformly (at most ``max_objects``).
    """
    n = positive_int(n, "n")
    one_of(split, ("seen", "unseen", "any"), "split")
    size = integer(size, "size", minimum=24, maximum=1024)
    noise = real(noise, "noise", low=0.0, low_open=False, high=1.0, want="a float in [0, 1]")
    max_objects = integer(max_objects, "max_objects", minimum=1, maximum=3)
    held = tuple((str(c), str(s)) for c, s in held_out)
    bad = [p for p in held if p[0] not in COLOURS or p[1] not in SHAPES]
    if bad:
        raise BoucleError(f"held_out: expected (colour, shape) pairs of {list(COLOURS)} x {list(SHAPES)}, got {bad[0]}")
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    allowed = [p for p in pairs if p not in held] if split == "seen" else pairs
    if split == "unseen" and not held:
        raise BoucleError("held_out: the 'unseen' split needs at least one held-out pair, got none")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    scale = size / 48.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    images = np.empty((n, size, size, 3), dtype=np.float32)
    captions, objects = [], []
    for i in range(n):
        k = int(rng.integers(1, max_objects + 1))
        chosen = [allowed[j] for j in rng.integers(len(allowed), size=k)]
        if split == "unseen":
            chosen[int(rng.integers(k))] = held[int(rng.integers(len(held)))]
        sizes = [SIZES[j] for j in rng.integers(2, size=k)]
        radii = np.array([rng.uniform(*_RADII[s]) * scale for s in sizes])
        centres, axis = _layout(rng, radii, size)
        img = np.empty((size, size, 3), dtype=np.float32)
        img[...] = rng.uniform(0.0, 0.15)
        objs = []
        for (colour, shape), sz, r, (cr, cc) in zip(chosen, sizes, radii, centres):
            cover = np.clip(0.5 - _distance(shape, rows - cr, cols - cc, r), 0.0, 1.0)[..., None]
            rgb = np.clip(np.array(COLOURS[colour]) + rng.uniform(-0.08, 0.08, 3), 0.0, 1.0)
            img = img * (1 - cover) + cover * rgb.astype(np.float32)
            objs.append((sz, colour, shape, float(cr), float(cc)))
        if noise:
            img += rng.normal(0.0, noise, img.shape).astype(np.float32)
        images[i] = np.clip(img, 0.0, 1.0)
        captions.append(_captions(objs, axis))
        objects.append(objs)
    return ShapeCaptions(images, captions, objects)


def shape_captions_task(
    n_train: int = 6000,
    n_val: int = 500,
    n_test: int = 1000,
    seed: int = 0,
    *,
    size: int = 48,
    noise: float = 0.03,
    held_out: tuple = HELD_OUT,
) -> CaptionTask:
    """Training and validation images without the held-out pairs, test images each with one
    (independent generators spawned from ``seed``), and the word vocabulary of the training captions."""
    s_train, s_val, s_test = np.random.SeedSequence(seed).spawn(3)
    kw = dict(size=size, noise=noise, held_out=held_out)
    train = shape_captions(n_train, np.random.default_rng(s_train), split="seen", **kw)
    val = shape_captions(n_val, np.random.default_rng(s_val), split="seen", **kw)
    test = shape_captions(n_test, np.random.default_rng(s_test), split="unseen", **kw)
    vocab = Vocabulary.words([c for caps in train.captions for c in caps])
    return CaptionTask(train, val, test, vocab, tuple(held_out))
