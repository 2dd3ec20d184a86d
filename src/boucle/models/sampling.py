r"""Generation: one step at a time, and drawing the next character (seed 002, "RNNs Génératifs").

The course generates with a trained RNN by feeding each sampled output back as
the next input. :class:`Stepper` runs a :class:`~boucle.models.charlm.CharModel`
one character at a time; its output layer gives logits a (V,), and the next
character is drawn from

    p_i ∝ exp(a_i / τ)                       (temperature τ > 0)

restricted to the k most likely characters (``top_k``; k = 1 is greedy
decoding) and then to the smallest set of most likely characters whose total
probability reaches ``top_p`` (nucleus sampling, Holtzman et al. 2020; the most
likely character is always kept, so a tiny ``top_p`` is greedy too). τ → 0
sharpens p towards the arg max, τ = 1 is the model's own distribution, τ > 1
flattens it.

Exactly one uniform number u ~ U[0, 1) is drawn per character (the inverse-CDF
draw: the first i with Σ_{j≤i} p_j > u), so the same generator state gives the
same text whatever the options.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import BoucleError
from ..ops import recurrent

__all__ = ["check_sampling", "distribution", "draw", "Stepper"]


def check_sampling(
    temperature: Any = 1.0, top_k: Any = None, top_p: Any = None, length: Any = None
) -> tuple[float, int | None, float | None]:
    """Validate the sampling options: temperature > 0, top_k ≥ 1, top_p in (0, 1], length ≥ 0."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise BoucleError(f"temperature: expected a finite float > 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise BoucleError(f"top_k: expected an int >= 1 or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise BoucleError(f"top_p: expected a float in (0, 1] or None, got {top_p!r}")
    if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0):
        raise BoucleError(f"length: expected an int >= 0, got {length!r}")
    return float(temperature), (None if top_k is None else int(top_k)), (None if top_p is None else float(top_p))


def distribution(
    logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> np.ndarray:
    """p (V,) float64: softmax(a / τ), cut to the top k, then to the top-p nucleus, renormalised.

    ``logits``: (V,). Options are assumed valid (see :func:`check_sampling`).
    """
    z = np.asarray(logits, dtype=np.float64) / temperature  # (V,)
    if top_k is not None and top_k < z.size:
        kth = np.partition(z, z.size - top_k)[z.size - top_k]  # k-th largest
        z = np.where(z >= kth, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        before = np.cumsum(p[order]) - p[order]  # mass of the likelier ones
        drop = order[before >= top_p]  # the first is always kept
        p[drop] = 0.0
        p /= p.sum()
    return p


def draw(p: np.ndarray, rng: np.random.Generator) -> int:
    """The inverse-CDF draw: the first i with cumsum(p)_i > u, u ~ U[0, 1) (one number from ``rng``)."""
    c = np.cumsum(p)
    i = int(np.searchsorted(c, rng.random() * c[-1], side="right"))
    i = min(i, p.size - 1)
    while p[i] == 0.0 and i > 0:  # never land on an excluded character (rounding at the end)
        i -= 1
    return i


class Stepper:
    """One character at a time through the model, for generation: ``logits, states = step(ids, states)``.

    The same equations as the layers' time loop — each layer's
    ``cell.step_forward`` from :mod:`boucle.ops.cells` — without the per-call
    machinery of the layers (input checks, time-major buffers, caches for BPTT).
    The first layer's input projection x_t U + b is looked up in a table
    ``E U + b`` (V, G·H) computed once (``U + b`` for one-hot inputs). The weights
    are read when the stepper is made: make a new one after training further.
    """

    def __init__(self, model: Any):
        self.model = model
        self.cells = [r.cell for r in model.rnns]
        self.p = [recurrent.loop_params(c, r.params) for c, r in zip(self.cells, model.rnns)]
        r0 = model.rnns[0]
        b0 = r0.params.get("b", 0)
        E = model.embedding.params["E"] if model.embedding is not None else None
        self.table = (r0.params["U"] if E is None else E @ r0.params["U"]) + b0  # (V, G*H): x_t U + b
        self.U = [(r.params["U"], r.params.get("b", 0)) for r in model.rnns[1:]]
        self.V, self.bV = model.dense.params["W"], model.dense.params["b"]

    def zero_states(self, B: int) -> list[tuple]:
        """Zero (h[, c]) per layer, (B, H) each."""
        return self.model._zero_states(B)

    def __call__(self, ids: np.ndarray, states: list[tuple]) -> tuple[np.ndarray, list[tuple]]:
        """ids (B,) -> logits (B, V) and the new states."""
        xu = self.table[ids]  # (B, G*H)
        new = []
        for k, (cell, p) in enumerate(zip(self.cells, self.p)):
            new.append(recurrent.step(cell, p, xu, states[k]))
            if k < len(self.U):  # the next layer's x U + b
                U, b = self.U[k]
                xu = new[-1][0] @ U + b  # (B, G*H)
        return new[-1][0] @ self.V + self.bV, new  # (B, V)
