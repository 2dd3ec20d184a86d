"""Liquid state machines: a spiking liquid + a trained linear readout (seed 004; Maass et al. 2002).

The liquid is a :class:`~boucle.reservoir.LIFReservoir` (leaky integrate-and-fire
neurons, exact integration, distance-dependent synapses, see :mod:`boucle.reservoir.spiking`);
the readout is the echo state network's (:class:`~boucle.reservoir.Ridge` or
:class:`~boucle.reservoir.RLS`) on the spike trains filtered by an exponential kernel,
read at the end of each input step::

    y_t = r_t W_out + b_out,    r_j(t) = sum_{spikes s of j} exp(-(t - t_s) / tau_readout)

Everything else is the echo state network's interface: ``fit(X, Y, warmup)``,
``predict``, ``run`` (the features ``r``), ``generate``, ``partial_fit`` (RLS),
``initial_state`` / ``last_state`` (packed ``(5H,)`` liquid states), ``boucle.save`` /
``boucle.load`` (tensors ``reservoir/W_in``, ``reservoir/W/{data,indices,indptr}``,
``reservoir/positions``, ``readout/...``). :class:`LSMClassifier` labels whole sequences.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from ..errors import BoucleError
from ..registry import register
from ._echo import _EchoState
from .classify import SequenceClassifier
from .readout import RLS, Ridge
from .spiking import LIFReservoir

__all__ = ["LSM", "LSMClassifier"]

_LIQUID_ARGS = [p for p in inspect.signature(LIFReservoir).parameters if p not in ("units", "seed", "input_dim")]


def _liquid(units: int, seed: int | None, input_dim: int | None, liquid: dict) -> LIFReservoir:
    unknown = sorted(set(liquid) - set(_LIQUID_ARGS))
    if unknown:
        raise BoucleError(f"{unknown[0]}: not an argument of the liquid; expected one of {_LIQUID_ARGS}")
    return LIFReservoir(units, seed=seed, input_dim=input_dim, **liquid)


@register("model")
class LSM(_EchoState):
    """Liquid state machine: a spiking :class:`~boucle.reservoir.LIFReservoir` and a trained linear readout.

    Args:
        units: number of neurons.
        ridge: the ridge penalty of the default :class:`Ridge` readout;
        readout: a :class:`Ridge` or :class:`RLS` instance (overrides ``ridge``);
        input_to_readout: also feed the input ``u_t`` to the readout;
        seed: int (reproducible) or None; input_dim: build at once;
        **liquid: the liquid's arguments (``tau_m``, ``v_threshold``, ``dt``,
            ``input_duration``, ``input_coding``, ``weights``, ... see :class:`LIFReservoir`).

    Example::

        lsm = LSM(units=500, input_scaling=20.0, ridge=1e-4, seed=0)
        lsm.fit(x_train, y_train, warmup=100)
        y_pred = lsm.predict(x_test, initial_state="last")
    """

    def __init__(
        self,
        units: int = 135,
        ridge: float = 1e-6,
        readout: Ridge | RLS | None = None,
        input_to_readout: bool = False,
        seed: int | None = None,
        input_dim: int | None = None,
        **liquid: Any,
    ) -> None:
        super().__init__([_liquid(units, seed, input_dim, liquid)], readout, ridge, input_to_readout)
        self.ridge = float(ridge)

    @property
    def liquid(self) -> LIFReservoir:
        return self.reservoirs[0]

    def get_config(self) -> dict:
        return {
            **self.liquid.get_config(),
            "ridge": self.ridge,
            "readout": self._readout_config(),
            "input_to_readout": self.input_to_readout,
        }

    def __repr__(self) -> str:
        return f"LSM({self.liquid!r}, readout={type(self.readout).__name__})"


@register("model")
class LSMClassifier(SequenceClassifier):
    """Classify whole sequences from a spiking liquid (``mode="last"`` or ``"transduction"``).

    Args: as :class:`LSM`, plus ``mode`` (see :class:`~boucle.reservoir.ESNClassifier`).
    ``fit(X, labels, warmup=0)``, ``predict(X) -> labels (N,)``, ``decision_function``, ``score``.
    """

    def __init__(
        self,
        units: int = 135,
        mode: str = "last",
        ridge: float = 1e-6,
        input_to_readout: bool = False,
        seed: int | None = None,
        input_dim: int | None = None,
        classes: Sequence[Any] | None = None,
        **liquid: Any,
    ) -> None:
        super().__init__([_liquid(units, seed, input_dim, liquid)], Ridge(ridge), ridge, input_to_readout)
        self._init_classifier(mode, ridge, classes)
        self.ridge = float(ridge)

    @property
    def liquid(self) -> LIFReservoir:
        return self.reservoirs[0]

    def get_config(self) -> dict:
        return {
            **self.liquid.get_config(),
            "mode": self.mode,
            "ridge": self.ridge,
            "input_to_readout": self.input_to_readout,
            "classes": self.classes_,
        }

    def __repr__(self) -> str:
        return f"LSMClassifier({self.liquid!r}, mode={self.mode!r})"
