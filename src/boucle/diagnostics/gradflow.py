r"""Gradient flow through time (seed 002, "Difficultés d'apprentissage"; Bengio et al. 1994).

Two measurements on a recurrent layer (SimpleRNN, LSTM, GRU), both computed with
the layer's own forward and backward passes:

1. **‖∂E/∂h_t‖ for every t** — how much error signal reaches the state at step t.
   With a loss at the last step only, E = r · h_T (r a fixed random direction per
   sequence),

   .. math:: \frac{\partial E}{\partial h_t} = \frac{\partial E}{\partial h_T}
             \frac{\partial h_T}{\partial h_{T-1}} \cdots \frac{\partial h_{t+1}}{\partial h_t}

   — seed 002's product of Jacobians, which shrinks (vanishing) or grows
   (exploding) geometrically in a plain RNN. ``target="all"`` uses E = Σ_t r_t · h_t.
   For the LSTM the cell state c_t is reported too.
2. **The influence ‖∂h_t/∂x_1‖_F of the first input** (seed 002's grey-shading figure:
   "La nuance de gris montre l'influence de l'entrée du RNN au temps 1. Elle décroît
   au cours du temps, comme le RNN oublie peu à peu sa première entrée").

How: the states s_t are obtained by running the layer one step at a time (each
call starting from the previous state); ∂E/∂s_t is the ``initial_state`` gradient
of the layer run on x_{t+1..T} from s_t (plus the direct term of E at t); the
influence rows ∂h_t[k]/∂x_1 are the input gradients of the layer run on x_{1..t},
with the sequence repeated H times and dy = e_k on copy k. Cost O(T²) steps: a
diagnostic, not a training tool.

Plots (:func:`plot_gradient_flow`, :func:`plot_influence`) need matplotlib, the
optional ``plot`` extra (``pip install boucle[plot]``); it is imported only there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import validators
from ..backend import make_rng
from ..errors import BoucleError
from ..layers.recurrent import GRU, LSTM, RNN, SimpleRNN

__all__ = ["state_gradients", "input_influence", "gradient_flow", "plot_gradient_flow", "plot_influence", "CELLS"]

#: names accepted by :func:`gradient_flow` → layer factories taking the number of units.
CELLS = {
    "SimpleRNN": lambda H: SimpleRNN(H),
    "SimpleRNN-relu": lambda H: SimpleRNN(H, activation="relu"),
    "LSTM": lambda H: LSTM(H),
    "GRU": lambda H: GRU(H),
}


def _check_layer(layer: Any) -> None:
    if not isinstance(layer, RNN):
        raise BoucleError(f"layer: expected a SimpleRNN, LSTM or GRU layer, got {type(layer).__name__}")
    if not layer.built:
        raise BoucleError(f"layer: {layer.name} is not built; call build(input_shape) or run it once first")


def _clone(layer: RNN, sequences: bool) -> RNN:
    """A float64 copy of ``layer`` with the same weights, deterministic, returning its states."""
    _check_layer(layer)
    cfg = {
        **layer.get_config(),
        "return_sequences": sequences,
        "return_state": True,
        "stateful": False,
        "go_backwards": False,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "dtype": "float64",
        "name": "gradflow_clone",
    }
    cfg.pop("input_shape", None)
    twin = type(layer).from_config(cfg)
    twin.build(layer.built_input_shape, 0)
    twin.set_weights({k: v.astype(np.float64) for k, v in layer.params.items()})
    return twin


def _inputs(layer: RNN, x: Any, mask: Any) -> tuple[np.ndarray, np.ndarray | None]:
    _check_layer(layer)
    x = np.asarray(x, dtype=np.float64)
    D = layer.params["U"].shape[0]
    if x.ndim != 3 or x.shape[2] != D or x.shape[1] < 1:
        raise BoucleError(f"x: expected shape (B, T >= 1, {D}), got {x.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != x.shape[:2]:
            raise BoucleError(f"mask: expected shape {x.shape[:2]}, got {mask.shape}")
    return x, mask


def _states(twin: RNN, x: np.ndarray, mask: np.ndarray | None) -> list[list[np.ndarray]]:
    """states[t] = [h_t (, c_t)] after step t, by running one step at a time."""
    n = twin.cell.n_states
    out, s = [], None
    for t in range(x.shape[1]):
        init = None if s is None else (list(s) if n > 1 else s[0])
        y = twin(x[:, t : t + 1], mask=None if mask is None else mask[:, t : t + 1], initial_state=init)
        s = y[1:]
        out.append(list(s))
    return out


def state_gradients(
    layer: RNN, x: Any, mask: Any = None, target: str = "last", projection: Any = None, seed: Any = 0
) -> dict[str, np.ndarray]:
    """∂E/∂h_t (and ∂E/∂c_t for an LSTM) for every step t, per sequence.

    Args:
        layer: a built SimpleRNN, LSTM or GRU (its weights are copied to float64).
        x: ``(B, T, D)`` inputs; ``mask`` optional ``(B, T)``.
        target: ``"last"`` (E = Σ_b r_b · h_T) or ``"all"`` (E = Σ_b Σ_t r_bt · h_t).
        projection: the r vectors, ``(B, H)`` for "last" or ``(B, T, H)`` for "all";
            default unit Gaussian directions drawn from ``seed``.

    Returns:
        ``{"h": (B, T, H), "c": (B, T, H) (LSTM only), "r": projection}``.
    """
    if target not in ("last", "all"):
        raise BoucleError(f"target: expected 'last' or 'all', got {target!r}")
    x, mask = _inputs(layer, x, mask)
    B, T, _ = x.shape
    H = layer.units
    want = (B, H) if target == "last" else (B, T, H)
    if projection is None:
        r = make_rng(seed).standard_normal(want)
        r /= np.linalg.norm(r, axis=-1, keepdims=True)
    else:
        r = np.asarray(projection, dtype=np.float64)
        if r.shape != want:
            raise BoucleError(f"projection: expected shape {want} for target={target!r}, got {r.shape}")
    twin = _clone(layer, sequences=True)
    n = twin.cell.n_states
    states = _states(twin, x, mask)
    grads = [np.zeros((B, T, H)) for _ in range(n)]
    for t in range(T):
        # the direct term of E at step t (dE_t/dh_t = r_t), counted only where step t is valid
        direct = r if target == "last" and t == T - 1 else (r[:, t] if target == "all" else None)
        if direct is not None:
            grads[0][:, t] += direct if mask is None else direct * mask[:, t : t + 1]
        if t == T - 1:
            continue
        init = list(states[t]) if n > 1 else states[t][0]
        m = None if mask is None else mask[:, t + 1 :]
        _, cache = twin.forward(x[:, t + 1 :], mask=m, initial_state=init)
        d_seq = r[:, t + 1 :] if target == "all" else None
        d_final = [r if target == "last" else None] + [None] * (n - 1)
        _, ds = twin.backward([d_seq, *d_final], cache)
        for k, d in enumerate(ds if n > 1 else [ds]):
            grads[k][:, t] += d
    out = {"h": grads[0], "r": r}
    if n > 1:
        out["c"] = grads[1]
    return out


def input_influence(layer: RNN, x: Any, source: int = 0, mask: Any = None) -> np.ndarray:
    """``(B, T)``: the Frobenius norm ‖∂h_t/∂x_source‖ per sequence (0 for t < source).

    Seed 002's grey shading: the influence of the input at time ``source`` (0 = the
    first) on every later state.
    """
    x, mask = _inputs(layer, x, mask)
    B, T, D = x.shape
    source = validators.integer(source, "source", minimum=0, maximum=T - 1)
    H = layer.units
    twin = _clone(layer, sequences=False)
    n = twin.cell.n_states
    xr = np.repeat(x, H, axis=0)  # (B*H, T, D): copy k of sequence b
    mr = None if mask is None else np.repeat(mask, H, axis=0)
    eye = np.tile(np.eye(H), (B, 1))  # (B*H, H): dy = e_k on copy k
    out = np.zeros((B, T))
    for t in range(source, T):
        _, cache = twin.forward(xr[:, : t + 1], mask=None if mr is None else mr[:, : t + 1])
        dx = twin.backward([None, eye] + [None] * (n - 1), cache)  # (B*H, t+1, D): rows of ∂h_t/∂x
        J = dx[:, source].reshape(B, H, D)  # ∂h_t/∂x_source per sequence
        out[:, t] = np.sqrt((J**2).sum(axis=(1, 2)))
    return out


def gradient_flow(
    cells: Sequence[str] = ("SimpleRNN", "LSTM", "GRU"),
    T: int = 50,
    units: int = 16,
    input_dim: int = 2,
    batch: int = 4,
    seed: int = 0,
    layers: dict | None = None,
) -> dict:
    """Mean ‖∂E/∂h_t‖ (E at the last step) and ‖∂h_t/∂x_1‖ over a batch of N(0, 1) inputs,
    for freshly initialised layers (or the built ``layers`` given by name).

    Returns ``{name: {"dE_dh": (T,), "dE_dc": (T,) (LSTM), "influence": (T,)}}``.
    """
    rng = make_rng(seed)
    x = rng.standard_normal((batch, T, input_dim))
    out = {}
    for name in cells:
        if layers is not None and name in layers:
            layer = layers[name]
        else:
            if name not in CELLS:
                raise BoucleError(f"cells: expected names from {sorted(CELLS)}, got {name!r}")
            layer = CELLS[name](units)
            layer.build((T, input_dim), seed)
        g = state_gradients(layer, x, seed=seed)
        res = {
            "dE_dh": np.linalg.norm(g["h"], axis=-1).mean(axis=0),
            "influence": input_influence(layer, x).mean(axis=0),
        }
        if "c" in g:
            res["dE_dc"] = np.linalg.norm(g["c"], axis=-1).mean(axis=0)
        out[name] = res
    return out


# ----------------------------------------------------------------------------- plots


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
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def plot_gradient_flow(results: dict, path: str | os.PathLike, title: str | None = None) -> str:
    """Two log-scale panels from :func:`gradient_flow`: ‖∂E/∂h_t‖ and ‖∂h_t/∂x_1‖ against t (PNG)."""
    fig = _figure((9.0, 3.4))
    ax1, ax2 = fig.subplots(1, 2)

    def positive(v):  # exact zeros (e.g. ∂E/∂c_T with h_T held) are not drawn
        v = np.asarray(v, dtype=np.float64)
        return np.where(v > 0, v, np.nan)

    for name, res in results.items():
        t = np.arange(1, len(res["dE_dh"]) + 1)
        (line,) = ax1.semilogy(t, positive(res["dE_dh"]), label=name)
        if "dE_dc" in res:
            ax1.semilogy(t, positive(res["dE_dc"]), ls="--", color=line.get_color(), label=f"{name} (c)")
        ax2.semilogy(t, positive(res["influence"]), label=name)
    ax1.set_xlabel("t")
    ax1.set_title("‖∂E/∂h_t‖ (E at the last step)")
    ax2.set_xlabel("t")
    ax2.set_title("‖∂h_t/∂x_1‖ (influence of the first input)")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_influence(results: dict, path: str | os.PathLike, decades: float = 6.0) -> str:
    """Seed 002's figure: one strip per cell, grey level = log10(‖∂h_t/∂x_1‖ / max_t) over
    ``decades`` orders of magnitude (black = the strongest influence, white = 10^-decades of it) (PNG)."""
    names = list(results)
    fig = _figure((8.0, 0.8 + 0.6 * len(names)))
    ax = fig.subplots(1, 1)
    shade = []
    for n in names:
        v = np.maximum(np.asarray(results[n]["influence"], dtype=np.float64), 1e-300)
        shade.append(np.clip(1.0 + np.log10(v / v.max()) / decades, 0.0, 1.0))
    rows = np.stack(shade)
    T = rows.shape[1]
    ax.imshow(
        rows,
        cmap="Greys",
        vmin=0.0,
        vmax=1.0,
        aspect="auto",
        interpolation="nearest",
        extent=(0.5, T + 0.5, len(names) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_xlabel("t")
    ax.set_title(f"influence of the input at t = 1 on h_t (darker = stronger, log scale, {decades:g} decades)")
    fig.tight_layout()
    return _save(fig, path)
