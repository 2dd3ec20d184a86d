"""Pictures for the report, drawn as inline SVG (charts) and PNG data URIs (images), no dependency.

Every chart scales to its container (``viewBox``, ``width: 100%``), so the page reads on a
phone and a desktop alike. NaN values leave gaps in a line; log axes drop values <= 0.

- :func:`line_chart` — lines (and points) against x, linear or log y;
- :func:`scatter` — points, with an optional circle (eigenvalues and the spectral radius);
- :func:`heatmap` — a matrix with row and column labels (attention maps);
- :func:`png_data_uri` / :func:`image_grid` — arrays as PNG images (filters, feature maps).
"""

from __future__ import annotations

import base64
import html
import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["PALETTE", "line_chart", "scatter", "heatmap", "png_data_uri", "image_grid", "esc"]

#: colour-blind-safe series colours (Okabe & Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_W, _H = 640, 280
_M = (58, 16, 30, 44)  # margins: left, right, top, bottom


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    return f"{v:.0e}" if a >= 1e5 or a < 1e-3 else f"{v:.4g}"


class _Frame:
    """Axes mapping data to the plotting area, and their SVG."""

    def __init__(
        self,
        xs: np.ndarray,
        ys: np.ndarray,
        logy: bool,
        width: int,
        height: int,
        equal: bool = False,
        xlim=None,
        ylim=None,
    ):
        self.logy, self.w, self.h = logy, width, height
        self.x0, self.x1 = _M[0], width - _M[1]
        self.y0, self.y1 = height - _M[3], _M[2]
        ys = np.log10(ys[ys > 0]) if logy else ys
        xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
        xl = xlim or ((float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0))
        yl = ylim or ((float(ys.min()), float(ys.max())) if ys.size else (0.0, 1.0))
        if xl[1] <= xl[0]:
            xl = (xl[0] - 0.5, xl[0] + 0.5)
        if yl[1] <= yl[0]:  # a constant: ±50 % around it (±0.5 around 0)
            half = 0.5 * abs(yl[0]) if not logy and yl[0] != 0 else 0.5
            yl = (yl[0] - half, yl[0] + half)
        pad = 0.04 * (yl[1] - yl[0])
        yl = (yl[0] - pad, yl[1] + pad) if ylim is None else yl
        if equal:  # same scale on both axes (the complex plane)
            sx, sy = (self.x1 - self.x0) / (xl[1] - xl[0]), (self.y0 - self.y1) / (yl[1] - yl[0])
            if sx > sy:
                c, half = (xl[0] + xl[1]) / 2, (self.x1 - self.x0) / sy / 2
                xl = (c - half, c + half)
            else:
                c, half = (yl[0] + yl[1]) / 2, (self.y0 - self.y1) / sx / 2
                yl = (c - half, c + half)
        self.xl, self.yl = xl, yl

    def px(self, x: float) -> float:
        return self.x0 + (x - self.xl[0]) / (self.xl[1] - self.xl[0]) * (self.x1 - self.x0)

    def py(self, y: float) -> float:
        v = math.log10(y) if self.logy else y
        return self.y0 - (v - self.yl[0]) / (self.yl[1] - self.yl[0]) * (self.y0 - self.y1)

    def axes(self, xlabel: str, ylabel: str) -> str:
        out = [
            f'<rect x="{self.x0}" y="{self.y1}" width="{self.x1 - self.x0}" height="{self.y0 - self.y1}" class="plot"/>'
        ]
        for t in _ticks(*self.xl):
            x = self.px(t)
            out.append(
                f'<line x1="{x:.1f}" y1="{self.y0}" x2="{x:.1f}" y2="{self.y1}" class="grid"/>'
                f'<text x="{x:.1f}" y="{self.y0 + 14}" class="tick" text-anchor="middle">{_fmt(t)}</text>'
            )
        if self.logy:
            yt = [float(e) for e in range(math.ceil(self.yl[0]), math.floor(self.yl[1]) + 1)] or [self.yl[0]]
            labels = [(10**e, f"1e{int(e)}") for e in yt]
        else:
            labels = [(t, _fmt(t)) for t in _ticks(*self.yl)]
        for v, lab in labels:
            y = self.py(v)
            out.append(
                f'<line x1="{self.x0}" y1="{y:.1f}" x2="{self.x1}" y2="{y:.1f}" class="grid"/>'
                f'<text x="{self.x0 - 5}" y="{y + 4:.1f}" class="tick" text-anchor="end">{lab}</text>'
            )
        out.append(
            f'<text x="{(self.x0 + self.x1) / 2}" y="{self.h - 6}" class="label" '
            f'text-anchor="middle">{esc(xlabel)}</text>'
        )
        out.append(
            f'<text transform="translate(13,{(self.y0 + self.y1) / 2}) rotate(-90)" class="label" '
            f'text-anchor="middle">{esc(ylabel)}</text>'
        )
        return "".join(out)


def _svg(body: str, width: int, height: int, title: str, legend: list[tuple[str, str]] | None = None) -> str:
    leg = ""
    if legend:
        leg = (
            '<div class="legend">'
            + "".join(f'<span><i style="background:{c}"></i>{esc(name)}</span>' for name, c in legend)
            + "</div>"
        )
    return (
        f'<figure class="chart"><figcaption>{esc(title)}</figcaption>'
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>{leg}</figure>'
    )


def line_chart(
    series: Sequence[tuple],
    title: str,
    xlabel: str,
    ylabel: str,
    logy: bool = False,
    width: int = _W,
    height: int = _H,
    points: bool = False,
) -> str:
    """``series``: ``(label, xs, ys)`` or ``(label, xs, ys, dashed)``; one colour each."""
    all_x = np.concatenate([np.asarray(s[1], dtype=float) for s in series]) if series else np.zeros(0)
    all_y = np.concatenate([np.asarray(s[2], dtype=float) for s in series]) if series else np.zeros(0)
    f = _Frame(all_x, all_y, logy, width, height)
    body, legend = [f.axes(xlabel, ylabel)], []
    for k, s in enumerate(series):
        label, xs, ys = s[0], np.asarray(s[1], dtype=float), np.asarray(s[2], dtype=float)
        color, dash = PALETTE[k % len(PALETTE)], ' stroke-dasharray="5 3"' if len(s) > 3 and s[3] else ""
        runs, cur = [], []
        for x, y in zip(xs, ys):
            if math.isfinite(x) and math.isfinite(y) and (y > 0 or not logy):
                cur.append(f"{f.px(x):.1f},{f.py(y):.1f}")
            elif cur:
                runs.append(cur)
                cur = []
        if cur:
            runs.append(cur)
        for r in runs:
            body.append(f'<polyline points="{" ".join(r)}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>')
            if points or len(r) == 1:
                body += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.6" fill="{color}"/>' for p in r]
        legend.append((label, color))
    return _svg("".join(body), width, height, title, legend)


def scatter(
    series: Sequence[tuple],
    title: str,
    xlabel: str,
    ylabel: str,
    circle: float | None = None,
    equal: bool = False,
    width: int = _W,
    height: int = _H,
    lim: tuple | None = None,
) -> str:
    """``series``: ``(label, xs, ys)``; ``circle``: a radius drawn around the origin (dashed)."""
    ring = [np.array([-circle, circle])] if circle else []
    xs = np.concatenate([np.asarray(s[1], dtype=float) for s in series] + ring)
    ys = np.concatenate([np.asarray(s[2], dtype=float) for s in series] + ring)
    f = _Frame(xs, ys, False, width, height, equal=equal, xlim=lim, ylim=lim)
    body, legend = [f.axes(xlabel, ylabel)], []
    if circle:
        r = circle / (f.xl[1] - f.xl[0]) * (f.x1 - f.x0)
        body.append(
            f'<circle cx="{f.px(0):.1f}" cy="{f.py(0):.1f}" r="{r:.1f}" fill="none" stroke="#444" '
            'stroke-dasharray="4 3"/>'
        )
    for k, (label, sx, sy) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        body += [
            f'<circle cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" r="2.4" fill="{color}" fill-opacity="0.75"/>'
            for x, y in zip(np.asarray(sx, float), np.asarray(sy, float))
            if math.isfinite(x) and math.isfinite(y)
        ]
        legend.append((label, color))
    return _svg("".join(body), width, height, title, legend)


def heatmap(
    matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str, xlabel: str = "", ylabel: str = ""
) -> str:
    """``matrix`` (R, C) in [0, 1] as shades (darker = larger), one labelled cell per entry."""
    m = np.asarray(matrix, dtype=float)
    R, C = m.shape
    cell = max(10, min(24, 560 // max(C, 1)))
    left, top = 70, 24
    width, height = left + C * cell + 10, top + R * cell + 34
    body = []
    for i in range(R):
        for j in range(C):
            g = int(255 - 220 * max(0.0, min(1.0, m[i, j])))
            body.append(
                f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" height="{cell}" '
                f'fill="rgb({g},{g},{min(255, g + 20)})"><title>{esc(rows[i])} / {esc(cols[j])}: '
                f"{m[i, j]:.2f}</title></rect>"
            )
        body.append(
            f'<text x="{left - 4}" y="{top + i * cell + cell * 0.7:.1f}" class="tick mono" '
            f'text-anchor="end">{esc(rows[i])}</text>'
        )
    for j in range(C):
        body.append(
            f'<text x="{left + j * cell + cell / 2:.1f}" y="{top - 6}" class="tick mono" '
            f'text-anchor="middle">{esc(cols[j])}</text>'
        )
    body.append(
        f'<text x="{left + C * cell / 2:.1f}" y="{height - 8}" class="label" text-anchor="middle">{esc(xlabel)}</text>'
    )
    if ylabel:
        body.append(
            f'<text transform="translate(12,{top + R * cell / 2:.1f}) rotate(-90)" class="label" '
            f'text-anchor="middle">{esc(ylabel)}</text>'
        )
    return _svg("".join(body), width, height, title)


def png_data_uri(image: np.ndarray, scale: int = 1) -> str:
    """A (H, W) or (H, W, 3) array in [0, 1] as a ``data:image/png;base64,...`` URI (8 bits, upscaled
    ``scale`` times by repetition)."""
    a = np.clip(np.nan_to_num(np.asarray(image, dtype=float)), 0.0, 1.0)
    if scale > 1:
        a = np.repeat(np.repeat(a, scale, axis=0), scale, axis=1)
    a = (a * 255 + 0.5).astype(np.uint8)
    color = 2 if a.ndim == 3 else 0
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[i].tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_grid(
    images: Sequence[np.ndarray], labels: Sequence[str], title: str, size: int = 72, diverging: bool = False
) -> str:
    """Tiles of images (each scaled to its own range: [min, max], or symmetric around 0 shown as
    blue-white-red when ``diverging``)."""
    tiles = []
    for img, lab in zip(images, labels):
        a = np.asarray(img, dtype=float)
        if diverging:
            lim = max(float(np.abs(a).max()), 1e-12)
            v = a / lim if a.ndim == 2 else a.mean(axis=-1) / lim
            a = np.stack([1.0 - np.clip(-v, 0, 1), 1.0 - np.abs(v), 1.0 - np.clip(v, 0, 1)], axis=-1)  # red +, blue -
        else:
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        scale = max(1, size // max(a.shape[:2]))
        tiles.append(
            f'<div class="tile"><img alt="{esc(lab)}" src="{png_data_uri(a, scale)}"/><span>{esc(lab)}</span></div>'
        )
    return (
        f'<figure class="chart"><figcaption>{esc(title)}</figcaption><div class="tiles">{"".join(tiles)}</div></figure>'
    )
