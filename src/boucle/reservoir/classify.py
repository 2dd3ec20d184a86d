"""Sequence classification with a reservoir (reservoirpy's tutorial 5; Jaeger 2001).

One label per sequence, two readouts:

- ``mode="last"``: the readout sees the reservoir state at the last step of each
  sequence (one sample per sequence); scores ``s_{T} W_out + b_out`` (N, C),
  the predicted class is their argmax;
- ``mode="transduction"``: every step ``t >= warmup`` of a sequence is a training
  sample with its sequence's one-hot label; at prediction each step votes for its
  argmax class and the sequence gets the majority (ties: the larger mean score).

Targets are one-hot rows, fitted with the ridge readout. Labels may be ints or
strings; they are kept (sorted) in ``classes_``. :class:`SequenceClassifier` holds
the logic for any reservoir; :class:`ESNClassifier` uses tanh reservoirs,
:class:`~boucle.reservoir.LSMClassifier` a spiking liquid.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BoucleError
from ..registry import register
from ._echo import _EchoState
from .esn import DeepESN
from .readout import Ridge, solve_ridge
from .reservoir import EchoStateWarning, Reservoir

__all__ = ["ESNClassifier", "SequenceClassifier"]

_MODES = ("last", "transduction")


class SequenceClassifier(_EchoState):
    """Classification on reservoir features: ``fit(X, labels)``, ``predict``, ``decision_function``, ``score``.

    Subclasses build the reservoirs, then call :meth:`_init_classifier`.
    """

    def _init_classifier(self, mode: str, ridge: float, classes: Sequence[Any] | None) -> None:
        if mode not in _MODES:
            raise BoucleError(f"mode: expected one of {_MODES}, got {mode!r}")
        self.mode = mode
        self.classes_: list | None = None
        if classes is not None:  # a loaded model: shapes known from the config
            self.classes_ = list(classes)
            n_in = self.input_dim if self.input_to_readout and self.input_dim is not None else 0
            F = sum(r.units for r in self.reservoirs) + n_in
            self.readout = Ridge(ridge, input_dim=F, output_dim=len(self.classes_))

    def _labels(self, labels: Any, n: int) -> np.ndarray:
        y = np.asarray(labels)
        if y.ndim != 1 or y.shape[0] != n:
            raise BoucleError(f"labels: expected one label per sequence, shape ({n},), got {y.shape}")
        if y.dtype.kind not in "iub" and y.dtype.kind != "U":
            raise BoucleError(f"labels: expected int or str labels, got dtype {y.dtype}")
        return y

    def fit(self, X: Any, labels: Any, warmup: int = 0, initial_state: Any = None) -> SequenceClassifier:
        """Fit the readout on one-hot targets (last states, or every step ``t >= warmup``)."""
        seqs = self._inputs(X)
        y = self._labels(labels, seqs.n)
        self._check_warmup(seqs, warmup)
        classes = np.unique(y)
        if classes.size < 2:
            raise BoucleError(f"labels: expected at least 2 classes, got {classes.tolist()}")
        onehot = (y[:, None] == classes[None, :]).astype(np.float64)  # (N, C)
        F, _ = self._features(seqs, initial_state)
        if self.mode == "last":
            S = F[np.arange(seqs.n), seqs.lengths - 1]  # (N, F)
            T = onehot
        else:
            counts = seqs.lengths - warmup
            S = np.concatenate([F[i, warmup:L] for i, L in enumerate(seqs.lengths)], axis=0)
            T = np.repeat(onehot, counts, axis=0)
        self.readout.W_out, self.readout.b_out = solve_ridge(S, T, self.readout.ridge, self.readout.fit_bias)
        self.readout.input_dim, self.readout.output_dim = S.shape[1], classes.size
        self.classes_ = classes.tolist()
        return self

    def _scores(self, X: Any, initial_state: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        if self.classes_ is None or not self.readout.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        seqs = self._inputs(X)
        F, _ = self._features(seqs, initial_state)
        W, b = self.readout.W_out, self.readout.b_out
        if self.mode == "last":
            return F[np.arange(seqs.n), seqs.lengths - 1] @ W + b, None
        C = len(self.classes_)
        votes, means = np.empty((seqs.n, C)), np.empty((seqs.n, C))
        for i, L in enumerate(seqs.lengths):
            scores = F[i, :L] @ W + b  # (T_i, C): one vote per step
            votes[i] = np.bincount(scores.argmax(axis=1), minlength=C) / L
            means[i] = scores.mean(axis=0)
        return votes, means

    def decision_function(self, X: Any, initial_state: Any = None) -> np.ndarray:
        """``(N, C)``: readout scores of the last state, or per-class vote fractions (transduction)."""
        return self._scores(X, initial_state)[0]

    def predict(self, X: Any, initial_state: Any = None) -> np.ndarray:
        """Predicted labels ``(N,)`` (a single ``(T, D)`` sequence gives shape ``(1,)``).

        Transduction: the majority class of the per-step votes; ties go to the larger mean score.
        """
        scores, means = self._scores(X, initial_state)
        if means is not None:
            scores = np.where(scores == scores.max(axis=1, keepdims=True), means, -np.inf)
        return np.asarray(self.classes_)[scores.argmax(axis=1)]

    def score(self, X: Any, labels: Any) -> float:
        """Accuracy on ``(X, labels)``."""
        pred = self.predict(X)
        y = self._labels(labels, pred.shape[0])
        return float((pred == y).mean())

    @classmethod
    def from_config(cls, cfg: dict) -> SequenceClassifier:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EchoStateWarning)
            return cls(**cfg)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise BoucleError(f"{type(self).__name__}: generate is for forecasting models (ESN, DeepESN, LSM)")


@register("model")
class ESNClassifier(SequenceClassifier):
    """Classify whole sequences from reservoir states (``units`` a list: a deep reservoir).

    Args: as :class:`~boucle.reservoir.ESN` (``units`` may be a list for stacked
    reservoirs), plus ``mode`` (``"last"`` or ``"transduction"``).

    ``fit(X, labels, warmup=0)``, ``predict(X) -> labels (N,)``,
    ``decision_function(X) -> (N, C)`` (last: readout scores; transduction: vote
    fractions), ``score(X, labels) -> accuracy``.
    """

    def __init__(
        self,
        units: int | Sequence[int] = 100,
        mode: str = "last",
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float | Sequence[float] = 1.0,
        bias_scaling: float = 0.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        activation: str = "tanh",
        ridge: float = 1e-6,
        input_to_readout: bool = False,
        seed: int | None = None,
        dtype: Any = "float64",
        input_dim: int | None = None,
        classes: Sequence[Any] | None = None,
    ) -> None:
        if mode not in _MODES:
            raise BoucleError(f"mode: expected one of {_MODES}, got {mode!r}")
        kw = dict(
            spectral_radius=spectral_radius,
            leak_rate=leak_rate,
            input_scaling=input_scaling,
            bias_scaling=bias_scaling,
            connectivity=connectivity,
            input_connectivity=input_connectivity,
            activation=activation,
            dtype=dtype,
        )
        if isinstance(units, (list, tuple)):  # stacked reservoirs, built (and seeded) as DeepESN builds them
            deep = DeepESN(list(units), seed=seed, input_dim=input_dim, **kw)
            reservoirs = deep.reservoirs
            per_layer = {"spectral_radius": deep._config["spectral_radius"], "leak_rate": deep._config["leak_rate"]}
        else:
            reservoirs = [Reservoir(units, seed=seed, input_dim=input_dim, **kw)]
            per_layer = {}
        super().__init__(reservoirs, Ridge(ridge), ridge, input_to_readout)
        self._init_classifier(mode, ridge, classes)
        self._config = {
            "units": list(units) if isinstance(units, (list, tuple)) else int(units),
            "mode": mode,
            **{
                k: v
                for k, v in reservoirs[0].get_config().items()
                if k
                in (
                    "spectral_radius",
                    "leak_rate",
                    "input_scaling",
                    "bias_scaling",
                    "connectivity",
                    "input_connectivity",
                    "activation",
                    "dtype",
                )
            },
            **per_layer,
            "ridge": float(ridge),
            "input_to_readout": self.input_to_readout,
            "seed": None if seed is None else int(seed),
        }

    def get_config(self) -> dict:
        return {**self._config, "input_dim": self.input_dim, "classes": self.classes_}
