"""Learning-rate schedules: ``schedule(iteration) -> lr``.

Seed 003 ("Choix du taux d'apprentissage"): the learning rate eta is made to
evolve over the iterations, large at first to speed convergence and small at
the end to gain precision. A schedule is any callable ``(iteration: int) ->
float``; an optimizer evaluates it at its own step counter (``0`` for the first
step), as Keras does. The classes below also have ``get_config`` /
``from_config`` so that a model file can record them; they are found by class
name in :mod:`boucle.registry` (kind ``"schedule"``; :func:`register_schedule` adds one).

- :class:`StepDecay`: ``lr = initial * drop ** floor(it / every)``
- :class:`ExponentialDecay`: ``lr = initial * decay_rate ** (it / decay_steps)``
  (``floor`` of the exponent when ``staircase=True``), Keras semantics.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import BoucleError
from .registry import deserialize, register
from .validators import boolean, positive_int, real

__all__ = ["Schedule", "StepDecay", "ExponentialDecay", "register_schedule", "schedule_from_config"]

#: class decorator: make a schedule findable by its class name in model files.
register_schedule = register("schedule")


def _check_iteration(owner: str, iteration: Any) -> int:
    if isinstance(iteration, (bool, np.bool_)) or not isinstance(iteration, (int, np.integer)) or iteration < 0:
        raise BoucleError(f"{owner}: iteration: expected a non-negative int, got {iteration!r}")
    return int(iteration)


class Schedule:
    """Base class: ``__call__(iteration) -> lr`` plus a JSON-able config."""

    def __call__(self, iteration: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        """``{"class_name": ..., <constructor arguments>}``: plain JSON values."""
        raise NotImplementedError  # pragma: no cover - abstract

    @classmethod
    def from_config(cls, cfg: dict) -> Schedule:
        return schedule_from_config(cfg) if cls is Schedule else _build(cls, cfg)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class_name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    __hash__ = None  # type: ignore[assignment]


@register_schedule
class StepDecay(Schedule):
    """Step decay: the rate is multiplied by ``drop`` every ``every`` iterations.

    .. math:: \\eta_t = \\eta_0 \\cdot \\text{drop}^{\\lfloor t / \\text{every} \\rfloor}

    Args:
        initial: eta_0 > 0.
        drop: factor in (0, 1].
        every: positive int, iterations between drops.
    """

    def __init__(self, initial: float, drop: float, every: int):
        self.initial = real(initial, "initial", owner="StepDecay", low=0.0, want="a finite float > 0")
        self.drop = real(drop, "drop", owner="StepDecay", low=0.0, high=1.0, want="a float in (0, 1]")
        self.every = positive_int(every, "every", "StepDecay")

    def __call__(self, iteration: int) -> float:
        it = _check_iteration("StepDecay", iteration)
        return self.initial * self.drop ** (it // self.every)

    def get_config(self) -> dict:
        return {"class_name": "StepDecay", "initial": self.initial, "drop": self.drop, "every": self.every}


@register_schedule
class ExponentialDecay(Schedule):
    """Exponential decay, as ``keras.optimizers.schedules.ExponentialDecay``.

    .. math:: \\eta_t = \\eta_0 \\cdot r^{t / s}
       \\quad (\\text{or } r^{\\lfloor t / s \\rfloor} \\text{ when staircase})

    Args:
        initial: eta_0 > 0 (Keras: ``initial_learning_rate``).
        decay_rate: r > 0.
        decay_steps: s > 0.
        staircase: integer division of the exponent.
    """

    def __init__(self, initial: float, decay_rate: float, decay_steps: float, staircase: bool = False):
        self.initial = real(initial, "initial", owner="ExponentialDecay", low=0.0, want="a finite float > 0")
        self.decay_rate = real(decay_rate, "decay_rate", owner="ExponentialDecay", low=0.0, want="a finite float > 0")
        self.decay_steps = real(
            decay_steps, "decay_steps", owner="ExponentialDecay", low=0.0, want="a finite number > 0"
        )
        self.staircase = boolean(staircase, "staircase", "ExponentialDecay")

    def __call__(self, iteration: int) -> float:
        it = _check_iteration("ExponentialDecay", iteration)
        p = it / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial * self.decay_rate**p

    def get_config(self) -> dict:
        steps = self.decay_steps
        return {
            "class_name": "ExponentialDecay",
            "initial": self.initial,
            "decay_rate": self.decay_rate,
            "decay_steps": int(steps) if steps.is_integer() else steps,
            "staircase": self.staircase,
        }


def _build(cls: type, cfg: dict) -> Schedule:
    cfg = dict(cfg)
    name = cfg.pop("class_name", cls.__name__)
    if name != cls.__name__:
        raise BoucleError(f"{cls.__name__}.from_config: class_name: expected {cls.__name__!r}, got {name!r}")
    try:
        return cls(**cfg)
    except TypeError as e:
        raise BoucleError(f"{cls.__name__}.from_config: cfg: bad arguments {sorted(cfg)} ({e})") from None


def schedule_from_config(cfg: dict) -> Schedule:
    """Rebuild a schedule from ``get_config()`` output, looked up by ``class_name``."""
    if not isinstance(cfg, dict) or "class_name" not in cfg:
        raise BoucleError(f"schedule config: expected a dict with 'class_name', got {cfg!r}")
    return deserialize("schedule", {"class_name": cfg["class_name"], "config": cfg}, what="schedule config: class_name")
