"""Plots of a spiking liquid: spike raster and membrane potentials (PNG files).

Both take the :class:`~boucle.reservoir.SpikeRecord` returned by
``LIFReservoir.run(X, record=[...])`` and need matplotlib (the ``plot`` extra,
imported only here, when a plot is drawn).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import BoucleError
from .spiking import SpikeRecord

__all__ = ["plot_raster", "plot_membrane"]


def _figure(size: tuple[float, float]):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise BoucleError("plotting needs matplotlib: pip install 'boucle[plot]'") from None
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise BoucleError(f"path: folder {folder!r} does not exist")
    fig.savefig(path, format="png")
    return path


def _check(record: SpikeRecord) -> None:
    if not isinstance(record, SpikeRecord):
        raise BoucleError(
            f"record: expected a SpikeRecord (LIFReservoir.run(X, record=[...])), got {type(record).__name__}"
        )


def plot_raster(record: SpikeRecord, path: str | os.PathLike, title: str | None = None) -> str:
    """One dot per spike, neuron index against time (ms); excitatory neurons below, inhibitory above the line."""
    _check(record)
    fig = _figure((9.0, 4.0))
    ax = fig.subplots()
    exc = record.spike_neurons < record.n_excitatory
    ax.scatter(
        record.spike_times[exc],
        record.spike_neurons[exc],
        s=1.5,
        c="tab:blue",
        marker=".",
        label="excitatory",
        linewidths=0,
    )
    ax.scatter(
        record.spike_times[~exc],
        record.spike_neurons[~exc],
        s=1.5,
        c="tab:red",
        marker=".",
        label="inhibitory",
        linewidths=0,
    )
    ax.axhline(record.n_excitatory - 0.5, color="0.6", lw=0.5)
    ax.set_xlim(0.0, record.times[-1] if record.times.size else 1.0)
    ax.set_ylim(-0.5, record.units - 0.5)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    rate = record.spike_times.size / record.units / max(record.times[-1] if record.times.size else 1.0, 1e-9) * 1e3
    ax.set_title(title or f"{record.units} neurons, mean rate {rate:.1f} Hz")
    ax.legend(loc="upper right", markerscale=6, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_membrane(
    record: SpikeRecord, path: str | os.PathLike, neurons: Sequence[int] | None = None, title: str | None = None
) -> str:
    """Membrane potential of recorded neurons against time, threshold dashed, spikes drawn as vertical strokes."""
    _check(record)
    rec = list(record.neurons)
    chosen = rec if neurons is None else list(neurons)
    missing = [n for n in chosen if n not in rec]
    if missing:
        raise BoucleError(f"neurons: expected recorded neurons {rec[:10]}, got unrecorded {missing[:5]}")
    if not chosen:
        raise BoucleError("neurons: expected at least one recorded neuron, got none")
    fig = _figure((9.0, 1.6 * len(chosen) + 0.8))
    axes = np.atleast_1d(fig.subplots(len(chosen), 1, sharex=True))
    top = record.v_threshold + 0.3 * (record.v_threshold - record.v_reset) + 1.0
    for ax, n in zip(axes, chosen):
        v = record.v[:, rec.index(n)]
        ax.plot(record.times, v, lw=0.8, color="k")
        spikes = record.spike_times[record.spike_neurons == n]
        ax.vlines(spikes, record.v_threshold, top, color="tab:red", lw=0.8)
        ax.axhline(record.v_threshold, color="tab:red", ls="--", lw=0.5)
        kind = "exc." if n < record.n_excitatory else "inh."
        ax.set_ylabel(f"V (mV)\n#{n} {kind}")
    axes[-1].set_xlabel("time (ms)")
    axes[0].set_title(title or "membrane potential (threshold dashed, spikes in red)")
    fig.tight_layout()
    return _save(fig, path)
