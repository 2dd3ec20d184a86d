"""The model card (what the model is, how it was trained, how it scores) and its training curves.

The card reads everything from the model (and its file): architecture, parameter count,
the fingerprint of the training data, the seed, the versions and BLAS threads of the run
(``boucle train`` records them), the training time, the final metrics — and, from the
project's ``docs/benchmarks.md`` when the source tree is at hand, the measured speed ratio
of the model's recurrent cell against PyTorch (the row of the same cell, nearest width).
"""

from __future__ import annotations

import math
import platform
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..layers.recurrent import RNN
from ..layers.wrappers import Bidirectional
from ..models.charlm import CharModel
from ..training import History
from .page import Section, table
from .svg import esc, line_chart

__all__ = ["BENCHMARKS", "model_card", "benchmark_ratio", "curves_section", "read_tables"]

#: the project's benchmark page (present in a source checkout, e.g. an editable install).
BENCHMARKS = Path(__file__).resolve().parents[3] / "docs" / "benchmarks.md"
_CELL_ROWS = {
    "lstm": "LSTM",
    "gru": "GRU(reset_after)",
    "gru_reset_after": "GRU(reset_after)",
    "gru_simple": "GRU(reset_after)",
    "rnn": "RNN",
}


def read_tables(markdown: str) -> list[tuple[str, list[dict]]]:
    """Every Markdown table of a page: ``(the heading and paragraph before it, rows as dicts)``."""
    out, lines, context = [], markdown.splitlines(), []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s|:-]+\|$", lines[i + 1].strip()):
            head = [c.strip() for c in line.strip().strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                row: dict = {}
                for h, c in zip(head, cells):
                    row.setdefault(h, c)  # a repeated column name: its first column
                rows.append(row)
                i += 1
            out.append((" ".join(context[-6:]), rows))
            continue
        if line.strip():
            context.append(line.strip())
        i += 1
    return out


def _recurrent_cell(model: Any) -> tuple[str, int, int | None] | None:
    """(cell kind, units, batch size) of the model's first recurrent layer."""
    layers = getattr(model, "rnns", None) or getattr(model, "layers", [])
    for layer in layers:
        inner = layer.layers[0] if isinstance(layer, Bidirectional) else layer
        if isinstance(inner, RNN):
            batch = (model.stream_state or {}).get("batch_size") if isinstance(model, CharModel) else None
            return inner.cell.kind, inner.units, batch
    return None


def benchmark_ratio(model: Any, path: Path = BENCHMARKS) -> str:
    """One line: the train-step time ratio boucle / torch of the model's recurrent cell (1 thread,
    CPU time, nearest H then B), from ``docs/benchmarks.md``; or why there is none."""
    cell = _recurrent_cell(model)
    if cell is None:
        return "no recurrent cell (the benchmarks compare recurrent layers with PyTorch)"
    if not path.is_file():
        return "docs/benchmarks.md is not at hand (it ships with the source tree)"
    kind, H, B = cell
    name = _CELL_ROWS[kind]
    for context, rows in read_tables(path.read_text(encoding="utf-8")):
        rows = [r for r in rows if r.get("cell") == name and r.get("H", "").isdigit() and "ratio" in r]
        if not rows or "1 thread" not in context:
            continue
        best = min(rows, key=lambda r: (abs(int(r["H"]) - H), abs(int(r["B"]) - (B or 32))))
        note = "" if kind in ("lstm", "gru_reset_after", "rnn") else f" (benchmarked form of the {kind} cell)"
        return (
            f"{best['ratio']} = boucle {best['boucle train']} / torch {best['torch train']} per train step "
            f"({name}, B={best['B']}, H={best['H']}, 1 thread, CPU time{note}; docs/benchmarks.md, "
            "bench/recurrent.py)"
        )
    return f"no {name} row in docs/benchmarks.md"


def _count(model: Any) -> int:
    if hasattr(model, "count_params"):
        return int(model.count_params())
    return int(sum(int(v.size) for v in model.get_weights().values()))


def _architecture(model: Any) -> str:
    if isinstance(model, CharModel):
        return esc(model.architecture())
    if hasattr(model, "summary") and getattr(model, "built", True):
        return f"<pre>{esc(model.summary(print_fn=None))}</pre>"
    return esc(repr(model))


def _final(history: History | None) -> str:
    if history is None or not history.epoch:
        return "not recorded in this file"
    parts = []
    for key, values in history.history.items():
        finite = [v for v in values if isinstance(v, float) and math.isfinite(v)]
        if finite:
            parts.append(f"{key} {finite[-1]:.4g}")
    return esc(", ".join(parts) + f" (step {history.step[-1]:,})" if history.step else "")


def model_card(model: Any, source: str | None, meta: dict | None) -> Section:
    """The model card section (``meta``: the file's boucle metadata, when read from a file)."""
    data = getattr(model, "data", {}) or {}
    env = data.get("env") if isinstance(data.get("env"), dict) else {}
    fingerprint = "not recorded"
    if isinstance(data.get("sha256"), str):
        fingerprint = (
            f"sha256 {data['sha256'][:16]}… of {data.get('corpus', 'the corpus')} "
            f"({data.get('characters', 0):,} characters)"
        )
    elif getattr(model, "stream_state", None):
        fingerprint = f"{model.stream_state.get('data', '')}"
    seconds = getattr(model, "train_seconds", None)
    versions = f"report: boucle {__version__}, numpy {np.__version__}, python {platform.python_version()}"
    if env:
        versions = (
            f"training: boucle {env.get('boucle')}, numpy {env.get('numpy')}, python {env.get('python')}; " + versions
        )
    elif meta and meta.get("boucle_version"):
        versions = f"file written by boucle {meta['boucle_version']}; " + versions
    run = data.get("run") if isinstance(data.get("run"), dict) else {}
    rows = [
        ("model", esc(f"{type(model).__name__}" + (f" ({source})" if source else ""))),
        ("architecture", _architecture(model)),
        ("parameters", f"{_count(model):,}"),
        ("data", esc(fingerprint)),
        ("seed", esc(getattr(model, "seed", None))),
        ("versions", esc(versions)),
        ("BLAS threads", esc(env.get("threads", "not recorded"))),
        ("training time", "not recorded" if not seconds else f"{seconds:,.0f} s over {model.step:,} steps"),
        ("final metrics", _final(getattr(model, "history", None))),
        ("speed vs PyTorch", esc(benchmark_ratio(model))),
    ]
    if run:
        rows.insert(4, ("run options", esc(", ".join(f"{k} {v}" for k, v in sorted(run.items())))))
    return Section("card", "Model card", table(rows))


def curves_section(history: History | None) -> Section | None:
    """Training and validation curves against the step (loss; bpc or accuracy), and the learning rate."""
    if history is None or not history.epoch:
        return None
    x = np.asarray(history.step if any(history.step) else history.epoch, dtype=float)
    xlabel = "step" if any(history.step) else "epoch"
    h = history.history
    charts = []
    for key in ("loss", "bpc", "accuracy", "exact_match"):
        series = [(name, x, h[name], name.startswith("val_")) for name in (key, f"val_{key}") if name in h]
        if series:
            charts.append(
                line_chart(
                    series, f"{key} (train: epoch means; val: at the epoch end)", xlabel, key, points=len(x) < 40
                )
            )
    lr = np.asarray(history.lr, dtype=float)
    if np.isfinite(lr).any():
        charts.append(line_chart([("learning rate", x, lr)], "learning rate", xlabel, "lr", points=len(x) < 40))
    else:
        charts.append('<p class="note">The learning rate was not recorded in this file (older boucle).</p>')
    return Section("curves", "Training curves", f'<div class="cols">{"".join(charts)}</div>')
