"""Echo state network models: reservoir(s) + trained linear readout (seed 004; Jaeger 2001).

- :class:`ESN`: one :class:`~boucle.reservoir.Reservoir` and a readout
  (:class:`~boucle.reservoir.Ridge` by default, :class:`~boucle.reservoir.RLS` online).
- :class:`DeepESN`: stacked reservoirs, layer ``l`` driven by the states of layer
  ``l - 1``; the readout sees the states of *all* layers (Gallicchio & Micheli 2017).

Readout features per step: ``s_t = [x^1_t, ..., x^L_t (, u_t if input_to_readout)]``,
output ``y_t = s_t W_out + b_out``. Data: ``X`` as ``(T, D)``, ``(N, T, D)`` or a list
of ``(T_i, D)`` arrays, targets ``Y`` in the same form; outputs come back in the
form of ``X``. Several sequences run through the reservoir together.

State: :meth:`fit`, :meth:`run` and :meth:`predict` start from zeros unless
``initial_state`` says otherwise, and keep the final states in :attr:`last_state`;
``initial_state="last"`` continues from there (reservoirpy's models are always
stateful: ``esn.fit(x_train, y_train); esn.run(x_test)`` continues the training
run -- ``predict(x_test, initial_state="last")`` here).

Model files (``boucle.save`` / ``boucle.load``): tensors ``reservoir/W_in``,
``reservoir/b``, ``reservoir/W/{data,indices,indptr}`` (the sparse ``W`` as CSR
components; ``reservoir_<l>/...`` per layer of a DeepESN), ``readout/W_out``,
``readout/b_out`` (and ``readout/P`` for RLS, to resume online learning).
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from ..errors import BoucleError
from ..registry import register
from ._sequences import Sequences, check_targets, to_batch
from .readout import READOUTS, RLS, Ridge
from .reservoir import EchoStateWarning, Reservoir, _check_units

__all__ = ["ESN", "DeepESN"]


def _layer_seed(seed: int | None, layer: int) -> int | None:
    """An independent int seed per layer, derived from the model's seed."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), layer]).generate_state(1)[0])


class _EchoState:
    """Reservoir layers + readout: running, fitting, predicting, generating, model files."""

    def __init__(self, reservoirs: list[Reservoir], readout: Ridge | RLS | None, ridge: float,
                 input_to_readout: bool) -> None:
        if readout is None:
            readout = Ridge(ridge)
        if not isinstance(readout, (Ridge, RLS)):
            raise BoucleError(f"readout: expected a Ridge or RLS instance, got {type(readout).__name__}")
        if not isinstance(input_to_readout, (bool, np.bool_)):
            raise BoucleError(f"input_to_readout: expected a bool, got {input_to_readout!r}")
        self.reservoirs = reservoirs
        self.readout = readout
        self.input_to_readout = bool(input_to_readout)
        self._last: list[np.ndarray] | None = None

    # ------------------------------------------------------------ properties
    @property
    def input_dim(self) -> int | None:
        return self.reservoirs[0].input_dim

    @property
    def output_dim(self) -> int | None:
        return self.readout.output_dim

    @property
    def built(self) -> bool:
        """True once fitted (the reservoirs are drawn and the readout has weights)."""
        return all(r.built for r in self.reservoirs) and self.readout.built

    @property
    def n_features(self) -> int:
        """Readout feature size: all layers' units (+ input size with ``input_to_readout``)."""
        return sum(r.units for r in self.reservoirs) + (self.input_dim or 0) * self.input_to_readout

    # ------------------------------------------------------------ running
    def _initial(self, initial_state: Any, n: int) -> list[Any]:
        L = len(self.reservoirs)
        if initial_state is None:
            return [None] * L
        if isinstance(initial_state, str):
            if initial_state != "last":
                raise BoucleError(f"initial_state: expected None, 'last' or an array, got {initial_state!r}")
            if self._last is None:
                return [None] * L
            return list(self._last)
        if L == 1 and not isinstance(initial_state, (list, tuple)):
            return [initial_state]
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != L:
            raise BoucleError(f"initial_state: expected a list of {L} arrays (one per layer), "
                              f"got {type(initial_state).__name__}")
        return list(initial_state)

    def _features(self, seqs: Sequences, initial_state: Any = None,
                  with_input: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
        """Readout features ``(N, T_max, F)`` of a padded batch, and each layer's last states ``(N, H_l)``."""
        h0 = self._initial(initial_state, seqs.n)
        feats, lasts, inp = [], [], seqs
        for l, res in enumerate(self.reservoirs):
            states, last = res.run_batch(inp, h0[l])
            feats.append(states)
            lasts.append(last)
            inp = Sequences(states, seqs.lengths, seqs.kind)
        if with_input and self.input_to_readout:
            feats.append(seqs.data.astype(feats[0].dtype, copy=False))
        F = feats[0] if len(feats) == 1 else np.concatenate(feats, axis=-1)
        single = seqs.kind == "single"
        self._last = [h[0] if single else h for h in lasts]
        return F, lasts

    def _inputs(self, X: Any, name: str = "X") -> Sequences:
        return to_batch(X, name, dim=self.input_dim, dtype=self.reservoirs[0].dtype)

    @property
    def last_state(self) -> Any:
        """Final reservoir state(s) of the last call: ``(H,)`` or ``(N, H)``; a list per layer for DeepESN."""
        if self._last is None or len(self.reservoirs) > 1:
            return self._last
        return self._last[0]

    def run(self, X: Any, initial_state: Any = None) -> Any:
        """Reservoir states (all layers concatenated, no input) in the form of ``X``."""
        seqs = self._inputs(X)
        F, _ = self._features(seqs, initial_state, with_input=False)
        return seqs.restore(F)

    def fit(self, X: Any, Y: Any, warmup: int = 0, initial_state: Any = None) -> "_EchoState":
        """Run the reservoir(s) on ``X`` and fit the readout on steps ``t >= warmup`` of every sequence.

        Ridge: one closed-form solve over all sequences; RLS: one online pass, in order.
        """
        seqs = self._inputs(X)
        ys = check_targets(seqs, Y, "Y")
        if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
            raise BoucleError(f"warmup: expected a non-negative int, got {warmup!r}")
        if warmup >= int(seqs.lengths.min()):
            raise BoucleError(f"warmup: expected fewer steps than the shortest sequence "
                              f"({int(seqs.lengths.min())} timesteps), got {warmup}")
        F, _ = self._features(seqs, initial_state)
        self.readout.fit(Sequences(F, seqs.lengths, seqs.kind), ys, warmup=warmup)
        return self

    def partial_fit(self, X: Any, Y: Any, initial_state: Any = "last") -> Any:
        """Online learning (RLS readout only): continue the state, update the readout step by step.

        Returns the predictions made *before* each update (the online error signal).
        """
        if not isinstance(self.readout, RLS):
            raise BoucleError(f"readout: partial_fit needs an RLS readout, got {type(self.readout).__name__}")
        seqs = self._inputs(X)
        ys = check_targets(seqs, Y, "Y")
        F, _ = self._features(seqs, initial_state)
        Fs = Sequences(F, seqs.lengths, seqs.kind)
        prior = self.readout.partial_fit(Fs.valid_rows(F), ys.valid_rows(ys.data))
        out = np.zeros(F.shape[:2] + (prior.shape[1],))
        i = 0
        for n, L in enumerate(seqs.lengths):
            out[n, :L] = prior[i:i + L]
            i += L
        return seqs.restore(out)

    def predict(self, X: Any, initial_state: Any = None) -> Any:
        """Readout outputs ``(T, O)`` / ``(N, T, O)`` / list, in the form of ``X``."""
        if not self.readout.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        seqs = self._inputs(X)
        F, _ = self._features(seqs, initial_state)
        N, T, Fd = F.shape
        out = (F.reshape(N * T, Fd) @ self.readout.W_out + self.readout.b_out).reshape(N, T, -1)
        return seqs.restore(out)

    def generate(self, n_steps: int, warmup_inputs: Any, initial_state: Any = None) -> Any:
        """Closed loop: teacher-force ``warmup_inputs``, then feed each prediction back as the next input.

        For a one-step-ahead model trained on ``(u_t, u_{t+1})`` pairs and warm-up
        inputs ``u_1..u_W``: ``y_0 = readout(x_W)`` predicts ``u_{W+1}``; then
        ``x_{W+t} = step(x_{W+t-1}, y_{t-1})`` and ``y_t = readout(x_{W+t})``.
        Returns ``[y_0, ..., y_{n_steps-1}]``, the continuation of the series:
        ``(n_steps, O)`` (``(N, n_steps, O)`` / a list for several warm-up sequences).
        Needs ``output_dim == input_dim``.
        """
        if not self.readout.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        n_steps = _check_units(n_steps, "n_steps")
        if self.output_dim != self.input_dim:
            raise BoucleError(f"generate: predictions are fed back as inputs, so output_dim must equal "
                              f"input_dim ({self.input_dim}), got {self.output_dim}")
        seqs = self._inputs(warmup_inputs, "warmup_inputs")
        F, lasts = self._features(seqs, initial_state)
        W, b = self.readout.W_out, self.readout.b_out
        idx = np.arange(seqs.n)
        y = F[idx, seqs.lengths - 1] @ W + b  # (N, O)
        states = list(lasts)
        out = np.empty((seqs.n, n_steps, self.output_dim))
        out[:, 0] = y
        for t in range(1, n_steps):
            u = y[:, None, :].astype(self.reservoirs[0].dtype)  # (N, 1, D)
            inp, feats = u, []
            for l, res in enumerate(self.reservoirs):
                states[l] = res.forward(inp, states[l])[:, 0]
                feats.append(states[l])
                inp = states[l][:, None, :]
            if self.input_to_readout:
                feats.append(u[:, 0])
            y = np.concatenate(feats, axis=-1) @ W + b
            out[:, t] = y
        single = seqs.kind == "single"
        self._last = [h[0] if single else h for h in states]
        if seqs.kind == "list":
            return [out[i] for i in range(seqs.n)]
        return out[0] if single else out

    # ------------------------------------------------------------ model files
    def _prefixes(self) -> list[str]:
        return ["reservoir"] if len(self.reservoirs) == 1 else [f"reservoir_{l}" for l in range(len(self.reservoirs))]

    def get_weights(self) -> dict[str, np.ndarray]:
        if not self.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        w: dict[str, np.ndarray] = {}
        for p, r in zip(self._prefixes(), self.reservoirs):
            w.update(r.get_weights(p))
        w.update(self.readout.get_weights("readout"))
        return w

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Set all weights; every name, shape and dtype is checked against the config."""
        if not self.built:
            raise BoucleError(f"{type(self).__name__}: build the model (fit, or from_config of a fitted model) "
                              "before set_weights")
        want = set()
        for p, r in zip(self._prefixes(), self.reservoirs):
            want |= set(r.weight_shapes(p))
        want |= set(self.readout.weight_shapes("readout"))
        unknown = sorted(set(weights) - want)
        if unknown:
            raise BoucleError(f"weights: unexpected tensors {unknown[:5]}")
        for p, r in zip(self._prefixes(), self.reservoirs):
            r.set_weights(weights, p)
        self.readout.set_weights(weights, "readout")

    def _readout_config(self) -> dict:
        return {"class_name": type(self.readout).__name__, "config": self.readout.get_config()}

    @staticmethod
    def _readout_from_config(cfg: dict) -> Ridge | RLS:
        if not isinstance(cfg, dict) or cfg.get("class_name") not in READOUTS:
            raise BoucleError(f"readout: expected one of {sorted(READOUTS)} in the config, got {cfg!r}")
        return READOUTS[cfg["class_name"]].from_config(cfg["config"])

    @classmethod
    def from_config(cls, cfg: dict):
        """Rebuild from :meth:`get_config` (the echo-state warning was given when the model was made)."""
        cfg = dict(cfg)
        readout = cls._readout_from_config(cfg.pop("readout", None))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EchoStateWarning)
            return cls(**cfg, readout=readout)


@register("model")
class ESN(_EchoState):
    """Echo state network: one sparse random reservoir and a trained linear readout.

    Args:
        units, spectral_radius, leak_rate, input_scaling, bias_scaling, connectivity,
        input_connectivity, activation, seed, dtype: the reservoir's (see :class:`Reservoir`);
        ridge: the ridge penalty of the default :class:`Ridge` readout;
        readout: a :class:`Ridge` or :class:`RLS` instance (overrides ``ridge``);
        input_to_readout: also feed the input ``u_t`` to the readout;
        input_dim: build at once (else on the first call).

    Example::

        esn = ESN(units=100, spectral_radius=1.25, leak_rate=0.3, ridge=1e-5, seed=0)
        esn.fit(x_train, y_train, warmup=100)
        y_pred = esn.predict(x_test, initial_state="last")
    """

    def __init__(self, units: int = 100, spectral_radius: float = 0.9, leak_rate: float = 1.0,
                 input_scaling: float | Sequence[float] = 1.0, bias_scaling: float = 0.0,
                 connectivity: float = 0.1, input_connectivity: float = 0.1, activation: str = "tanh",
                 ridge: float = 1e-6, readout: Ridge | RLS | None = None, input_to_readout: bool = False,
                 seed: int | None = None, dtype: Any = "float64", input_dim: int | None = None) -> None:
        res = Reservoir(units, spectral_radius=spectral_radius, leak_rate=leak_rate, input_scaling=input_scaling,
                        bias_scaling=bias_scaling, connectivity=connectivity,
                        input_connectivity=input_connectivity, activation=activation, seed=seed, dtype=dtype,
                        input_dim=input_dim)
        super().__init__([res], readout, ridge, input_to_readout)
        self.ridge = float(ridge)

    @property
    def reservoir(self) -> Reservoir:
        return self.reservoirs[0]

    def get_config(self) -> dict:
        return {**self.reservoir.get_config(), "ridge": self.ridge, "readout": self._readout_config(),
                "input_to_readout": self.input_to_readout}

    def __repr__(self) -> str:
        return f"ESN({self.reservoir!r}, readout={type(self.readout).__name__})"


def _per_layer(value: Any, L: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != L:
            raise BoucleError(f"{name}: expected one value per layer ({L}), got {len(value)}")
        return list(value)
    return [value] * L


@register("model")
class DeepESN(_EchoState):
    """Deep echo state network: stacked reservoirs, the readout on all layers' states.

    Layer 1 is driven by the input (``input_scaling``, ``input_connectivity``),
    layer ``l > 1`` by the states of layer ``l - 1`` (``inter_scaling``,
    ``inter_connectivity``). ``units``, ``spectral_radius`` and ``leak_rate`` take
    one value for all layers or a list (one per layer). Layer ``l`` draws from its
    own seed, derived from ``seed`` and ``l``.
    """

    def __init__(self, units: int | Sequence[int] = (100, 100), layers: int | None = None,
                 spectral_radius: float | Sequence[float] = 0.9, leak_rate: float | Sequence[float] = 1.0,
                 input_scaling: float | Sequence[float] = 1.0, inter_scaling: float = 1.0,
                 bias_scaling: float = 0.0, connectivity: float = 0.1, input_connectivity: float = 0.1,
                 inter_connectivity: float = 0.1, activation: str = "tanh", ridge: float = 1e-6,
                 readout: Ridge | RLS | None = None, input_to_readout: bool = False, seed: int | None = None,
                 dtype: Any = "float64", input_dim: int | None = None) -> None:
        if isinstance(units, (list, tuple)):
            if layers is not None and layers != len(units):
                raise BoucleError(f"layers: expected {len(units)} to match units={list(units)}, got {layers!r}")
            if len(units) == 0:
                raise BoucleError("units: expected at least one layer, got an empty list")
            L = len(units)
        else:
            L = _check_units(2 if layers is None else layers, "layers")
        units_l = [_check_units(u) for u in _per_layer(units, L, "units")]
        sr_l = _per_layer(spectral_radius, L, "spectral_radius")
        lr_l = _per_layer(leak_rate, L, "leak_rate")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise BoucleError(f"seed: expected a non-negative int or None, got {seed!r}")
        res = []
        for l in range(L):
            first = l == 0
            res.append(Reservoir(units_l[l], spectral_radius=sr_l[l], leak_rate=lr_l[l],
                                 input_scaling=input_scaling if first else inter_scaling,
                                 bias_scaling=bias_scaling,
                                 connectivity=connectivity,
                                 input_connectivity=input_connectivity if first else inter_connectivity,
                                 activation=activation, seed=_layer_seed(seed, l), dtype=dtype,
                                 input_dim=(input_dim if first else units_l[l - 1]) if input_dim is not None
                                 else None))
        super().__init__(res, readout, ridge, input_to_readout)
        self._config = {"units": units_l, "spectral_radius": [r.spectral_radius for r in res],
                        "leak_rate": [r.leak_rate for r in res], "input_scaling": res[0].input_scaling,
                        "inter_scaling": float(inter_scaling), "bias_scaling": res[0].bias_scaling,
                        "connectivity": res[0].connectivity, "input_connectivity": res[0].input_connectivity,
                        "inter_connectivity": float(inter_connectivity), "activation": activation,
                        "ridge": float(ridge), "input_to_readout": self.input_to_readout,
                        "seed": None if seed is None else int(seed), "dtype": res[0].dtype.name}

    def get_config(self) -> dict:
        return {**self._config, "readout": self._readout_config(), "input_dim": self.input_dim}

    def __repr__(self) -> str:
        return f"DeepESN(units={self._config['units']}, readout={type(self.readout).__name__})"
