"""The report's page: one self-contained HTML file (no script, no network, inline SVG and PNG).

:class:`Section` holds a title and its HTML; :func:`render` lays the sections out with a
table of contents, and CSS that reflows from a phone (one column, charts at full width,
long text scrolling inside its box) to a desktop. :func:`coloured_text` colours each
character of a text by a value (surprisal, a cell's activation) with a few CSS classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .svg import esc

__all__ = ["Section", "render", "coloured_text", "table", "SEQUENTIAL_SCALE", "DIVERGING_SCALE"]

#: white -> dark red, 9 steps (surprisal).
SEQUENTIAL_SCALE = ("#ffffff", "#fff0e0", "#ffdcb8", "#fdc08a", "#fc9a5c", "#f4723d", "#df4a2a", "#bb2a1c", "#8c1410")
#: blue -> white -> red, 11 steps (activations in [-1, 1]).
DIVERGING_SCALE = (
    "#1f4f9a",
    "#3a6fb8",
    "#6d98cf",
    "#a5c2e4",
    "#d6e4f3",
    "#ffffff",
    "#f7d9d2",
    "#efaea0",
    "#e2786a",
    "#c94639",
    "#a21b16",
)

_CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dde6;--bg:#f6f7fa;--card:#fff;--accent:#0072B2}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#14213d;color:#fff;padding:18px 16px}
header h1{margin:0;font-size:1.35em}
header p{margin:4px 0 0;color:#c9d3ea;font-size:.9em;word-break:break-all}
nav{position:sticky;top:0;z-index:1;background:#fff;border-bottom:1px solid var(--line);padding:6px 12px;
 white-space:nowrap;overflow-x:auto}
nav a{display:inline-block;margin-right:14px;color:var(--accent);text-decoration:none;font-size:.9em}
main{max-width:1100px;margin:0 auto;padding:12px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:14px 0}
section h2{margin:0 0 8px;font-size:1.15em}
section h3{margin:14px 0 6px;font-size:1em}
p.note{color:var(--muted);font-size:.9em;margin:6px 0}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(380px,100%),1fr));gap:12px}
figure.chart{margin:6px 0;min-width:0}
figure.chart figcaption{font-size:.9em;font-weight:600;margin-bottom:2px}
figure.chart svg{width:100%;height:auto;display:block;max-height:420px}
svg .plot{fill:#fff;stroke:#b7bdc9}svg .grid{stroke:#eceef3}svg .tick{font-size:11px;fill:#5b6475}
svg .label{font-size:12px;fill:#1d2330}svg .mono{font-family:ui-monospace,Menlo,Consolas,monospace}
.legend{font-size:.8em;color:var(--muted)}.legend span{margin-right:12px;white-space:nowrap}
.legend i{display:inline-block;width:14px;height:3px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;width:100%;font-size:.9em}
td,th{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
th{color:var(--muted);font-weight:600;width:32%}
pre{background:#fbfbfd;border:1px solid var(--line);border-radius:6px;padding:8px;overflow-x:auto;
 font:12.5px/1.35 ui-monospace,Menlo,Consolas,monospace;margin:6px 0;max-height:420px}
pre.text span{border-radius:2px}pre.text .nl{color:#9aa3b2}
.tiles{display:flex;flex-wrap:wrap;gap:6px}.tile{text-align:center;font-size:.75em;color:var(--muted)}
.tile img{display:block;image-rendering:pixelated;border:1px solid var(--line);max-width:96px}
.scale{display:flex;align-items:center;gap:2px;font-size:.8em;color:var(--muted);flex-wrap:wrap}
.scale i{display:inline-block;width:16px;height:12px;border:1px solid var(--line)}
@media (max-width:600px){body{font-size:14px}main{padding:6px}section{padding:10px}th{width:40%}
 pre{font-size:11.5px}}
"""


@dataclass
class Section:
    """One part of the report: ``id`` (the anchor), ``title``, ``body`` (HTML)."""

    id: str
    title: str
    body: str


def table(rows: list[tuple[str, str]]) -> str:
    """Two columns: a name and its value (HTML allowed in the value)."""
    return "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def coloured_text(text: str, values: np.ndarray, lo: float, hi: float, scale: tuple[str, ...]) -> str:
    """``<pre class="text">`` with each character's background from ``scale`` by its value in [lo, hi]
    (newlines shown as ↵ in the colour of the newline character)."""
    v = np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    k = np.round(np.nan_to_num(v, nan=0.0) * (len(scale) - 1)).astype(int)
    out = []
    for ch, j in zip(text, k):
        shown = '<b class="nl">↵</b>\n' if ch == "\n" else esc(ch)
        out.append(f'<span class="c{j}">{shown}</span>')
    return '<pre class="text">' + "".join(out) + "</pre>"


def scale_legend(scale: tuple[str, ...], lo: str, hi: str, what: str) -> str:
    """A small colour key: ``lo`` [colours] ``hi`` — ``what``."""
    return (
        f'<div class="scale">{esc(lo)} '
        + "".join(f'<i style="background:{c}"></i>' for c in scale)
        + f" {esc(hi)} &nbsp;{esc(what)}</div>"
    )


def _scale_css(name: str, scale: tuple[str, ...]) -> str:
    """One class per colour; white letters on the dark ones (relative luminance < 0.35)."""

    def dark(c: str) -> bool:
        r, g, b = (int(c[k : k + 2], 16) / 255 for k in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.35

    return "".join(f".{name} .c{j}{{background:{c}{';color:#fff' if dark(c) else ''}}}" for j, c in enumerate(scale))


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole page."""
    css = _CSS + _scale_css("seq", SEQUENTIAL_SCALE) + _scale_css("div", DIVERGING_SCALE)
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{css}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{nav}</nav>"
        f"<main>{body}</main></body></html>\n"
    )
