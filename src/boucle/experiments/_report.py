"""Tables and plots of the vanishing-gradient study (:mod:`boucle.experiments.vanishing`).

Writes ``results.json`` (every run, its validation curve, the summary), ``adding.csv``
and ``reber.csv`` (one row per setting), ``results.md`` (the markdown tables) and,
when matplotlib is installed (the ``plot`` extra), ``success.png``, ``curves.png``,
``gradflow.png`` and ``influence.png``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Any

import numpy as np

from ..errors import BoucleError

__all__ = ["write_report", "markdown_tables"]

_LABEL = {"rnn_tanh": "SimpleRNN tanh", "rnn_relu": "SimpleRNN relu", "lstm": "LSTM", "gru": "GRU"}
#: one colour and marker per cell in every plot (marker sizes differ so overlapping lines stay visible)
_STYLE = {
    "rnn_tanh": ("tab:blue", "o", 9),
    "rnn_relu": ("tab:orange", "s", 8),
    "lstm": ("tab:green", "^", 7),
    "gru": ("tab:red", "D", 4),
}


def _style(cell: str) -> dict:
    color, marker, size = _STYLE.get(cell, (None, "o", 6))
    return {"color": color, "marker": marker, "markersize": size}


def _clip_name(clip: Any) -> str:
    return "none" if clip is None else f"{clip:g}"


def markdown_tables(results: dict) -> str:
    """The adding-problem table (success rate and median steps per length) and the Reber table."""
    summary = results["summary"]
    lengths = sorted({r["T"] for r in summary})
    cfg = results["config"]
    lines = [
        f"Adding problem: solved = validation MSE < {cfg['threshold']} (trivial baseline 0.167); "
        f"{cfg['seeds']} seed(s), at most {cfg['max_steps']} steps of {cfg['batch_size']} fresh examples, "
        f"Adam lr {cfg['learning_rate']:g}. Cell: solved/runs (median steps to solve); "
        "† = a run diverged.",
        "",
        "| cell | units | params | clip | " + " | ".join(f"T = {T}" for T in lengths) + " |",
        "|---|---:|---:|---|" + "---|" * len(lengths),
    ]
    keys = list(dict.fromkeys((r["cell"], r["clip"]) for r in summary))
    for cell, clip in keys:
        rows = {r["T"]: r for r in summary if r["cell"] == cell and r["clip"] == clip}
        any_row = next(iter(rows.values()))
        cells = []
        for T in lengths:
            r = rows.get(T)
            if r is None:
                cells.append("–")
                continue
            s = f"{r['solved']}/{r['runs']}"
            if r["median_steps"] is not None:
                s += f" ({r['median_steps']:.0f})"
            if r["diverged"]:
                s += " †" * min(r["diverged"], 1)
            cells.append(s)
        lines.append(
            f"| {_LABEL.get(cell, cell)} | {any_row['units']} | {any_row['params']} | {_clip_name(clip)} | "
            + " | ".join(cells)
            + " |"
        )
    if results.get("reber"):
        lines += [
            "",
            f"Embedded Reber grammar: success = every step of 256 held-out strings predicted exactly "
            f"(threshold 0.5); at most {cfg['reber_steps']} steps of {cfg['batch_size']} strings "
            f"(length ≤ {cfg['reber_max_length']}), clipnorm 1.",
            "",
            "| cell | units | params | solved/runs | median strings to solve | mean exact fraction |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in results["reber"]:
            med = "–" if r["median_strings"] is None else f"{r['median_strings']:.0f}"
            lines.append(
                f"| {_LABEL.get(r['cell'], r['cell'])} | {r['units']} | {r['params']} | "
                f"{r['solved']}/{r['runs']} | {med} | {r['mean_exact']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    return obj


def write_report(results: dict, out: str) -> list[str]:
    """Write every file into ``out``; returns their names."""
    written = []

    def path(name: str) -> str:
        written.append(name)
        return os.path.join(out, name)

    try:
        with open(path("results.json"), "w", encoding="utf-8") as f:
            json.dump(_json_safe({k: v for k, v in results.items() if k != "files"}), f, indent=1)
        with open(path("adding.csv"), "w", newline="", encoding="utf-8") as f:
            cols = [
                "cell",
                "clip",
                "T",
                "units",
                "params",
                "runs",
                "solved",
                "success_rate",
                "median_steps",
                "diverged",
                "mean_final_mse",
                "max_grad_norm",
            ]
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in results["summary"]:
                w.writerow({k: _clip_name(r[k]) if k == "clip" else r[k] for k in cols})
        with open(path("reber.csv"), "w", newline="", encoding="utf-8") as f:
            cols = ["cell", "units", "params", "runs", "solved", "median_strings", "mean_exact"]
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in results["reber"]:
                w.writerow({k: r[k] for k in cols})
        with open(path("results.md"), "w", encoding="utf-8") as f:
            f.write(markdown_tables(results))
    except OSError as e:
        raise BoucleError(f"out: cannot write into {out} ({e.strerror})") from None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return written
    _plot_success(results, path("success.png"))
    _plot_curves(results, path("curves.png"))
    if results.get("gradflow"):
        _plot_flow(results["gradflow"], path("gradflow.png"))
        _plot_shading(results["gradflow"], path("influence.png"))
    return written


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def _plot_success(results: dict, file: str) -> None:
    summary = results["summary"]
    clips = list(dict.fromkeys(r["clip"] for r in summary))
    fig = _figure(4.2 * len(clips), 3.2)
    axes = np.atleast_1d(fig.subplots(1, len(clips), sharey=True))
    for ax, clip in zip(axes, clips):
        for cell in dict.fromkeys(r["cell"] for r in summary):
            rows = sorted((r for r in summary if r["cell"] == cell and r["clip"] == clip), key=lambda r: r["T"])
            ax.plot(
                [r["T"] for r in rows], [r["success_rate"] for r in rows], label=_LABEL.get(cell, cell), **_style(cell)
            )
        ax.set_xscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_title(f"adding problem, clip = {_clip_name(clip)}")
        ax.set_ylim(-0.05, 1.05)
    axes[0].set_ylabel("success rate")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(file, format="png")


def _plot_curves(results: dict, file: str) -> None:
    adding = [r for r in results["runs"] if r["task"] == "adding" and r["seed"] == 0]
    lengths = sorted({r["T"] for r in adding})
    fig = _figure(3.4 * len(lengths), 3.0)
    axes = np.atleast_1d(fig.subplots(1, len(lengths), sharey=True))
    for ax, T in zip(axes, lengths):
        for r in (r for r in adding if r["T"] == T):
            if r["curve"]:
                s, m = zip(*r["curve"])
                ax.semilogy(
                    s,
                    np.clip(m, 1e-5, 1e3),
                    ls="-" if r["clip"] is not None else ":",
                    color=_style(r["cell"])["color"],
                    lw=1.2,
                    label=f"{_LABEL.get(r['cell'], r['cell'])}, clip {_clip_name(r['clip'])}",
                )
        ax.axhline(1 / 6, color="grey", lw=0.8)
        ax.axhline(results["config"]["threshold"], color="grey", lw=0.8, ls="--")
        ax.set_title(f"T = {T} (seed 0)")
        ax.set_xlabel("step")
    axes[0].set_ylabel("validation MSE")
    axes[-1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(file, format="png")


def _plot_flow(flow: dict, file: str) -> None:
    tags = [t for t in ("init", "trained") if flow.get(t)]
    fig = _figure(4.2 * len(tags), 6.0)
    axes = np.array(fig.subplots(2, len(tags), squeeze=False))
    for j, tag in enumerate(tags):
        for kind, res in flow[tag].items():
            t = np.arange(1, len(res["dE_dh"]) + 1)
            color = _style(kind)["color"]
            axes[0, j].semilogy(t, np.maximum(res["dE_dh"], 1e-30), color=color, label=_LABEL.get(kind, kind))
            axes[1, j].semilogy(t, np.maximum(res["influence"], 1e-30), color=color, label=_LABEL.get(kind, kind))
        axes[0, j].set_title(f"‖∂E/∂h_t‖, {'initial' if tag == 'init' else 'trained'} weights")
        axes[1, j].set_title(f"‖∂h_t/∂x_1‖, {'initial' if tag == 'init' else 'trained'} weights")
        axes[1, j].set_xlabel("t")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"gradient flow on adding-problem inputs, T = {flow['T']}")
    fig.tight_layout()
    fig.savefig(file, format="png")


def _log_shade(v: np.ndarray, decades: float = 6.0) -> np.ndarray:
    """1 at the row's maximum, 0 at ``decades`` orders of magnitude below it (or less)."""
    v = np.maximum(np.asarray(v, dtype=float), 1e-300)
    return np.clip(1.0 + np.log10(v / v.max()) / decades, 0.0, 1.0)


def _plot_shading(flow: dict, file: str) -> None:
    rows, names = [], []
    for tag in ("init", "trained"):
        for kind, res in flow.get(tag, {}).items():
            v = np.asarray(res["influence"], dtype=float)
            rows.append(_log_shade(v))
            names.append(f"{_LABEL.get(kind, kind)} ({tag})")
    if not rows:
        return
    fig = _figure(8.0, 0.9 + 0.35 * len(rows))
    ax = fig.subplots(1, 1)
    T = len(rows[0])
    ax.imshow(
        np.stack(rows),
        cmap="Greys",
        vmin=0,
        vmax=1,
        aspect="auto",
        interpolation="nearest",
        extent=(0.5, T + 0.5, len(rows) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(names)), labels=names, fontsize=7)
    ax.set_xlabel("t")
    ax.set_title("influence ‖∂h_t/∂x_1‖ per row, log scale over 6 decades (seed 002's grey shading)", fontsize=9)
    fig.tight_layout()
    fig.savefig(file, format="png")
