r"""What a trained character model learned, measured on text (Karpathy, Johnson & Fei-Fei 2015).

"Visualizing and Understanding Recurrent Networks" reads a trained char model's cells
over text, finds cells that track quotes, indentation or the position in the line, and
counts how often each gate is saturated. Here, for a :class:`~boucle.models.charlm.CharModel`:

- :func:`trace` — the model run one character at a time (the cells' own step equations,
  :mod:`boucle.ops.cells`), keeping every state and gate: ``h`` (and ``c`` for the LSTM)
  per layer ``(T, H)``, the gates (LSTM i, f, o; GRU z, r) and the logits ``(T, V)``;
- :func:`surprisal` — −log₂ p(x_{t+1} | x_{≤t}) in bits for every character;
- :func:`text_features` — per character, after reading it: inside a string literal (0/1),
  the indentation of its line (leading spaces), its position in the line (column);
- :func:`track_cells` — for each feature, the cell (LSTM: c_t; else h_t) whose activation
  correlates best with it (Pearson r over the text), each feature its own cell;
- :func:`gate_saturation` — per layer and gate, each unit's fraction of steps left-saturated
  (gate < 0.1) and right-saturated (gate > 0.9), the paper's Figure 3;
- :func:`gradient_over_time` — ‖∂E/∂h_t‖ (and ‖∂E/∂c_t‖) of the first recurrent layer for E the
  cross entropy of the last prediction of a window (seed 002's fading gradient, measured on the
  trained weights by :func:`boucle.diagnostics.state_gradients`).
"""

from __future__ import annotations

import math

import numpy as np

from ..diagnostics.gradflow import state_gradients
from ..ops import recurrent
from ..ops.activations import softmax

__all__ = ["trace", "surprisal", "text_features", "track_cells", "gate_saturation", "gradient_over_time", "GATE_NAMES"]

#: the gates each cell kind exposes (block index in the step cache's gate array).
GATE_NAMES = {
    "lstm": ("input", "forget", "output"),
    "gru": ("update", "reset"),
    "gru_reset_after": ("update", "reset"),
    "gru_simple": ("update",),
    "rnn": (),
}


def _inputs(model, ids: np.ndarray) -> np.ndarray:
    """The first layer's inputs for ``ids`` (..., T): embeddings or one-hot vectors, float64."""
    if model.embedding is not None:
        return model.embedding.params["E"].astype(np.float64)[ids]
    return np.eye(len(model.vocab))[ids]


def trace(model, ids: np.ndarray) -> dict:
    """Run ``model`` over one sequence of ``ids`` (T,) from zero states, in float64.

    Returns ``{"h": [(T, H)] per layer, "c": [(T, H)] (LSTM), "gates": [{name: (T, H)}] per layer,
    "logits": (T, V)}``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    x = _inputs(model, ids)  # (T, D)
    out: dict = {"h": [], "c": [], "gates": []}
    for rnn in model.rnns:
        cell = rnn.cell
        params = {k: v.astype(np.float64) for k, v in rnn.params.items()}
        p = recurrent.loop_params(cell, params)
        G, H = cell.gates, rnn.units
        xu = x @ params["U"] + params.get("b", 0.0)  # (T, G·H)
        state = tuple(np.zeros((1, H)) for _ in range(cell.n_states))
        hs, cs, gates = [], [], {g: [] for g in GATE_NAMES[cell.kind]}
        for t in range(len(ids)):
            state, cache = cell.step_forward(p, xu[t].reshape(1, G, H).transpose(1, 0, 2), state)
            hs.append(state[0][0].copy())
            if cell.n_states > 1:
                cs.append(state[1][0].copy())
            acts = getattr(cache, "a", None) if cell.kind in ("lstm", "gru_simple") else getattr(cache, "zr", None)
            for k, name in enumerate(GATE_NAMES[cell.kind]):
                gate = acts[k][0]
                gates[name].append(gate.copy())
        out["h"].append(np.array(hs))
        if cs:
            out["c"].append(np.array(cs))
        out["gates"].append({k: np.array(v) for k, v in gates.items()})
        x = out["h"][-1]
    out["logits"] = x @ model.dense.params["W"].astype(np.float64) + model.dense.params["b"]
    return out


def surprisal(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(T − 1,): −log₂ p(ids[t + 1]) under softmax(logits[t]), in bits."""
    p = softmax(np.asarray(logits[:-1], dtype=np.float64))
    return -np.log2(np.maximum(p[np.arange(len(ids) - 1), ids[1:]], 1e-300))


def text_features(text: str) -> dict[str, np.ndarray]:
    """Per character (the state after reading it): ``"inside a string"`` (Python-style quotes
    ' " and triple quotes, backslash escapes), ``"indentation"`` (leading spaces of the line),
    ``"position in the line"`` (column, 0 at the first character)."""
    n = len(text)
    inside, indent, column = np.zeros(n), np.zeros(n), np.zeros(n)
    quote, i, col = None, 0, 0
    while i < n:
        ch = text[i]
        span = 1
        if quote is None:
            if ch == "#":  # a comment: no string starts in it
                j = text.find("\n", i)
                span = (n if j < 0 else j) - i
            elif ch in "'\"":
                quote = ch * 3 if text.startswith(ch * 3, i) else ch
                span = len(quote)
        elif ch == "\\":
            span = 2
        elif text.startswith(quote, i):
            span, quote = len(quote), None
            inside[i : i + span] = 0.0
        elif ch == "\n" and len(quote) == 1:  # an unterminated one-line string ends
            quote = None
        for k in range(i, min(i + span, n)):
            column[k] = col
            col = 0 if text[k] == "\n" else col + 1
        if quote is not None:
            inside[i : i + span] = 1.0
        i += span
    for start, end in _lines(text):  # a line's indentation, on all of it
        indent[start:end] = len(text[start:end]) - len(text[start:end].lstrip(" "))
    return {"inside a string": inside, "indentation": indent, "position in the line": column}


def _lines(text: str):
    start = 0
    for k, ch in enumerate(text):
        if ch == "\n":
            yield start, k + 1
            start = k + 1
    yield start, len(text)


def _pearson(a: np.ndarray, F: np.ndarray) -> np.ndarray:
    """r between each column of ``F`` (T, N) and ``a`` (T,); 0 where either is constant."""
    a = a - a.mean()
    F = F - F.mean(axis=0)
    den = np.sqrt((a * a).sum() * (F * F).sum(axis=0))
    return np.where(den > 0, (a @ F) / np.where(den > 0, den, 1.0), 0.0)


def track_cells(cells: np.ndarray, features: dict[str, np.ndarray], labels: list[str]) -> list[dict]:
    """For each feature (in order), the cell with the largest |r| not taken by an earlier feature:
    ``[{"feature", "cell" (column), "label", "r"}]``. ``cells``: (T, N) activations."""
    taken, out = set(), []
    for name, f in features.items():
        r = _pearson(np.asarray(f, dtype=np.float64), cells)
        order = [j for j in np.argsort(-np.abs(r)) if j not in taken]
        if not order:
            break
        j = int(order[0])
        taken.add(j)
        out.append({"feature": name, "cell": j, "label": labels[j], "r": float(r[j])})
    return out


def gate_saturation(gates: list[dict], low: float = 0.1, high: float = 0.9) -> list[dict]:
    """Per layer, per gate: ``(left (H,), right (H,))`` fractions of steps below ``low`` / above ``high``."""
    return [{name: ((g < low).mean(axis=0), (g > high).mean(axis=0)) for name, g in layer.items()} for layer in gates]


def gradient_over_time(model, ids: np.ndarray, windows: int = 4, length: int = 60, seed: int = 0) -> dict:
    """Mean over ``windows`` windows of ``length`` characters of ‖∂E/∂h_t‖ (and ‖∂E/∂c_t‖), t = 1..length,
    for the first recurrent layer; E = the cross entropy of predicting the character after the window
    (one layer: the exact ∂E/∂h_T through the output layer; deeper models: a random unit direction)."""
    ids = np.asarray(ids, dtype=np.int64)
    length = max(2, min(length, len(ids) - 1))
    starts = np.linspace(0, len(ids) - length - 1, windows).astype(int)
    win = np.stack([ids[s : s + length] for s in starts])  # (B, T)
    nxt = ids[starts + length]  # the characters to predict
    x = _inputs(model, win)  # (B, T, D)
    projection = None
    if len(model.rnns) == 1:
        V = model.dense.params["W"].astype(np.float64)
        h_T = np.stack([trace(model, w)["h"][0][-1] for w in win])  # (B, H)
        p = softmax(h_T @ V + model.dense.params["b"])
        p[np.arange(len(win)), nxt] -= 1.0  # ∂E/∂logits
        projection = p @ V.T  # ∂E/∂h_T
    g = state_gradients(model.rnns[0], x, projection=projection, seed=seed)
    out = {"h": np.linalg.norm(g["h"], axis=-1).mean(axis=0), "exact": projection is not None}
    if "c" in g:
        out["c"] = np.linalg.norm(g["c"], axis=-1).mean(axis=0)
    return out


def finite_mean(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan
