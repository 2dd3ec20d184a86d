"""Echo state network models: reservoir(s) + trained linear readout (seed 004; Jaeger 2001).

- :class:`ESN`: one :class:`~boucle.reservoir.Reservoir` and a readout
  (:class:`~boucle.reservoir.Ridge` by default, :class:`~boucle.reservoir.RLS` online),
  optionally with output feedback ``y_{t-1} W_fb`` into the reservoir (Jaeger & Haas 2004);
- :class:`DeepESN`: stacked reservoirs, layer ``l`` driven by the states of layer
  ``l - 1``; the readout sees the states of *all* layers (Gallicchio & Micheli 2017).

Readout features per step: ``s_t = [x^1_t, ..., x^L_t (, u_t if input_to_readout)]``,
output ``y_t = s_t W_out + b_out``. Data: ``X`` as ``(T, D)``, ``(N, T, D)`` or a list
of ``(T_i, D)`` arrays, targets ``Y`` in the same form; outputs come back in the
form of ``X``. Several sequences run through the reservoir together. Running,
fitting, state between calls and feedback: :mod:`boucle.reservoir._echo`.

State: :meth:`fit`, :meth:`run` and :meth:`predict` start from zeros unless
``initial_state`` says otherwise, and keep the final states in :attr:`last_state`;
``initial_state="last"`` continues from there (reservoirpy's models are always
stateful: ``esn.fit(x_train, y_train); esn.run(x_test)`` continues the training
run -- ``predict(x_test, initial_state="last")`` here; ``predict`` warns with a
:class:`~boucle.reservoir.StateWarning` when a single sequence starts cold after an
earlier call without being told to).

Model files (``boucle.save`` / ``boucle.load``): tensors ``reservoir/W_in``,
``reservoir/b``, ``reservoir/W/{data,indices,indptr}`` (the sparse ``W`` as CSR
components; ``reservoir_<l>/...`` per layer of a DeepESN), ``feedback/W_fb`` (with
output feedback), ``readout/W_out``, ``readout/b_out`` (and ``readout/P`` for RLS,
to resume online learning).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BoucleError
from ..registry import register
from ._echo import _EchoState
from .readout import RLS, Ridge
from .reservoir import Reservoir, _check_units

__all__ = ["ESN", "DeepESN"]


def _layer_seed(seed: int | None, layer: int) -> int | None:
    """An independent int seed per layer, derived from the model's seed."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), layer]).generate_state(1)[0])


@register("model")
class ESN(_EchoState):
    """Echo state network: one sparse random reservoir and a trained linear readout.

    Args:
        units, spectral_radius, leak_rate, input_scaling, bias_scaling, connectivity,
        input_connectivity, activation, seed, dtype: the reservoir's (see :class:`Reservoir`);
        ridge: the ridge penalty of the default :class:`Ridge` readout;
        readout: a :class:`Ridge` or :class:`RLS` instance (overrides ``ridge``);
        input_to_readout: also feed the input ``u_t`` to the readout;
        feedback_scaling: output feedback ``x~_t = f(u_t W_in + x_{t-1} W + y_{t-1} W_fb + b)``
            with ``W_fb (O, H)`` +-``feedback_scaling`` entries (0, the default: no feedback);
        feedback_connectivity: density of ``W_fb`` in (0, 1];
        feedback_noise: std of the Gaussian noise added to the teacher fed back during
            ``fit`` (stabilises the closed loop);
        input_dim: build at once (else on the first call).

    With feedback, ``fit`` teacher-forces ``Y`` and ``predict`` runs the closed loop
    (``teacher=`` to force it); after ``fit``, ``predict(X, initial_state="last")``
    continues the trained run as a free-running generator.

    Example::

        esn = ESN(units=100, spectral_radius=1.25, leak_rate=0.3, ridge=1e-5, seed=0)
        esn.fit(x_train, y_train, warmup=100)
        y_pred = esn.predict(x_test, initial_state="last")
    """

    def __init__(
        self,
        units: int = 100,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float | Sequence[float] = 1.0,
        bias_scaling: float = 0.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        activation: str = "tanh",
        ridge: float = 1e-6,
        readout: Ridge | RLS | None = None,
        input_to_readout: bool = False,
        feedback_scaling: float = 0.0,
        feedback_connectivity: float = 0.1,
        feedback_noise: float = 0.0,
        seed: int | None = None,
        dtype: Any = "float64",
        input_dim: int | None = None,
    ) -> None:
        res = Reservoir(
            units,
            spectral_radius=spectral_radius,
            leak_rate=leak_rate,
            input_scaling=input_scaling,
            bias_scaling=bias_scaling,
            connectivity=connectivity,
            input_connectivity=input_connectivity,
            activation=activation,
            seed=seed,
            dtype=dtype,
            input_dim=input_dim,
        )
        super().__init__([res], readout, ridge, input_to_readout)
        self._init_feedback(feedback_scaling, feedback_connectivity, feedback_noise, res.seed)
        self.ridge = float(ridge)

    @property
    def reservoir(self) -> Reservoir:
        return self.reservoirs[0]

    def get_config(self) -> dict:
        return {
            **self.reservoir.get_config(),
            "ridge": self.ridge,
            "readout": self._readout_config(),
            "input_to_readout": self.input_to_readout,
            "feedback_scaling": self.feedback_scaling,
            "feedback_connectivity": self.feedback_connectivity,
            "feedback_noise": self.feedback_noise,
        }

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

    def __init__(
        self,
        units: int | Sequence[int] = (100, 100),
        layers: int | None = None,
        spectral_radius: float | Sequence[float] = 0.9,
        leak_rate: float | Sequence[float] = 1.0,
        input_scaling: float | Sequence[float] = 1.0,
        inter_scaling: float = 1.0,
        bias_scaling: float = 0.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        inter_connectivity: float = 0.1,
        activation: str = "tanh",
        ridge: float = 1e-6,
        readout: Ridge | RLS | None = None,
        input_to_readout: bool = False,
        seed: int | None = None,
        dtype: Any = "float64",
        input_dim: int | None = None,
    ) -> None:
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
            res.append(
                Reservoir(
                    units_l[l],
                    spectral_radius=sr_l[l],
                    leak_rate=lr_l[l],
                    input_scaling=input_scaling if first else inter_scaling,
                    bias_scaling=bias_scaling,
                    connectivity=connectivity,
                    input_connectivity=input_connectivity if first else inter_connectivity,
                    activation=activation,
                    seed=_layer_seed(seed, l),
                    dtype=dtype,
                    input_dim=(input_dim if first else units_l[l - 1]) if input_dim is not None else None,
                )
            )
        super().__init__(res, readout, ridge, input_to_readout)
        self._config = {
            "units": units_l,
            "spectral_radius": [r.spectral_radius for r in res],
            "leak_rate": [r.leak_rate for r in res],
            "input_scaling": res[0].input_scaling,
            "inter_scaling": float(inter_scaling),
            "bias_scaling": res[0].bias_scaling,
            "connectivity": res[0].connectivity,
            "input_connectivity": res[0].input_connectivity,
            "inter_connectivity": float(inter_connectivity),
            "activation": activation,
            "ridge": float(ridge),
            "input_to_readout": self.input_to_readout,
            "seed": None if seed is None else int(seed),
            "dtype": res[0].dtype.name,
        }

    def get_config(self) -> dict:
        return {**self._config, "readout": self._readout_config(), "input_dim": self.input_dim}

    def __repr__(self) -> str:
        return f"DeepESN(units={self._config['units']}, readout={type(self.readout).__name__})"
