"""Optimizers and gradient clipping.

Seed 003 ("Choix du taux d'apprentissage") lists the algorithms implemented in
TensorFlow: SGD, Adam, Adadelta, Adagrad and RMSProp. boucle keeps the Keras
names and (mostly) the Keras defaults, stated in each class; the *update rules*
are ``torch.optim``'s, equation for equation, so that a run can be checked
against PyTorch to 1e-12 in float64 (``tests/test_optimizers.py``).

Every optimizer has the same life cycle::

    opt = Adam(1e-3, clipnorm=5.0)
    gnorm = opt.step(params, grads)   # params: dict[str, ndarray], updated in place

``step`` first clips the gradients (by value, then by global norm, seeds 002
and 003: *if* ||g|| >= seuil *then* g <- seuil * g / ||g||), then updates every
parameter in place (``p -= ...``, so layers keep their references), creating
its state ("slot") arrays lazily per parameter name with the parameter's dtype.
The caller's gradient arrays are never modified. Notation in the docstrings:
``g`` gradient (after clipping), ``eta`` learning rate, ``t`` the step number
counted from 1, products and powers elementwise.

The learning rate is a float or a schedule ``callable(iteration) -> lr``
(:mod:`boucle.schedules`), evaluated at :attr:`Optimizer.iterations` before the
step (``0`` for the first step), as Keras does.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import registry
from .clipping import _check_grads, _clip_norm, _sum_squares, clip_by_global_norm, clip_by_value, global_norm
from .errors import BoucleError
from .schedules import ExponentialDecay, Schedule, StepDecay, register_schedule, schedule_from_config
from .validators import boolean, rate, real

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "names",
    "get",
    "clip_by_global_norm",
    "clip_by_value",
    "global_norm",
    "Schedule",
    "StepDecay",
    "ExponentialDecay",
    "register_schedule",
    "schedule_from_config",
]

_register = registry.register("optimizer")


def names() -> list[str]:
    """The optimizers' names as :func:`get` and the command line take them: ``["adadelta", ...]``."""
    return sorted(n.lower() for n in registry.names("optimizer"))


# ----------------------------------------------------------------------------- base class


class Optimizer:
    """Base class. Subclasses define ``_update`` (one parameter, in place),
    ``_slot_kinds`` (names of their state arrays) and ``_HYPER`` (their config keys).

    Args:
        learning_rate: a float > 0, or a schedule ``callable(iteration) -> lr``.
        clipnorm: if set, clip the global gradient norm to this value (the
            course's rule over all tensors together; Keras calls this
            ``global_clipnorm``).
        clipvalue: if set, clip every gradient element to ``[-clipvalue, clipvalue]``
            (applied before ``clipnorm``).

    Attributes:
        learning_rate: float or schedule.
        iterations: number of steps taken so far.
    """

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.01,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        owner = type(self).__name__
        if callable(learning_rate):
            self.learning_rate: float | Callable[[int], float] = learning_rate
        else:
            self.learning_rate = real(
                learning_rate,
                "learning_rate",
                owner=owner,
                low=0.0,
                want="a finite float > 0 or a schedule callable(iteration) -> lr",
            )
        self.clipnorm = (
            None
            if clipnorm is None
            else real(clipnorm, "clipnorm", owner=owner, low=0.0, want="None or a finite float > 0")
        )
        self.clipvalue = (
            None
            if clipvalue is None
            else real(clipvalue, "clipvalue", owner=owner, low=0.0, want="None or a finite float > 0")
        )
        self.iterations: int = 0
        self._slots: dict[str, np.ndarray] = {}

    # -- learning rate ------------------------------------------------------------------
    def current_lr(self) -> float:
        """The learning rate of the next step: the schedule evaluated at :attr:`iterations`."""
        lr = self.learning_rate
        if callable(lr):
            value = lr(self.iterations)
            return real(
                value,
                f"learning_rate schedule at iteration {self.iterations}",
                owner=type(self).__name__,
                low=0.0,
                low_open=False,
                want="a finite float >= 0",
            )
        return real(lr, "learning_rate", owner=type(self).__name__, low=0.0, want="a finite float > 0")

    def set_lr(self, lr: float) -> None:
        """Replace the learning rate (a schedule too) by the float ``lr`` > 0."""
        self.learning_rate = real(lr, "lr", owner=type(self).__name__, low=0.0, want="a finite float > 0")

    # -- the step -------------------------------------------------------------------------
    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], *, norm: float | None = None) -> float:
        """Clip ``grads`` (value, then global norm), update every ``params[k]`` in place.

        Args:
            params: name -> float array, updated in place.
            grads: name -> array of the same shape; the same names as ``params``;
                cast to the parameter's dtype if needed; never modified.
            norm: the global norm of ``grads`` when the caller has it already
                (the training engine computes it for its divergence policy).

        Returns:
            The global gradient norm before any clipping (NaN/Inf when the
            gradients are not finite: the caller decides what to do).
        """
        owner = type(self).__name__
        if not isinstance(params, dict):
            raise BoucleError(f"{owner}.step: params: expected a dict name -> array, got {type(params).__name__}")
        _check_grads(grads, f"{owner}.step")
        if params.keys() != grads.keys():
            missing = sorted(set(params) - set(grads))
            extra = sorted(set(grads) - set(params))
            raise BoucleError(
                f"{owner}.step: grads: expected the names of params, got missing {missing} and unexpected {extra}"
            )
        for k, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f" or not p.flags.writeable:
                got = f"{type(p).__name__} {getattr(p, 'dtype', '')}".strip()
                raise BoucleError(f"{owner}.step: params[{k!r}]: expected a writeable float array, got {got}")
            if grads[k].shape != p.shape:
                raise BoucleError(f"{owner}.step: grads[{k!r}]: expected shape {p.shape}, got {grads[k].shape}")
        if norm is None:
            norm = math.sqrt(_sum_squares(grads))
        g_all = grads
        if self.clipvalue is not None:
            g_all = clip_by_value(g_all, self.clipvalue)
        if self.clipnorm is not None:
            n = norm if self.clipvalue is None else math.sqrt(_sum_squares(g_all))
            g_all = _clip_norm(g_all, self.clipnorm, n)
        lr = self.current_lr()
        t = self.iterations + 1
        for k, p in params.items():
            g = g_all[k]
            if g.dtype != p.dtype:
                g = g.astype(p.dtype)
            self._update(k, p, g, lr, t)
        self.iterations = t
        return norm

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float, t: int) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    #: names of the subclass's hyperparameters (constructor arguments), for get_config.
    _HYPER: tuple[str, ...] = ()

    def _slot_kinds(self) -> tuple[str, ...]:
        return ()

    def _hyper(self) -> dict:
        return {k: getattr(self, k) for k in self._HYPER}

    def _slot(self, kind: str, name: str, p: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """The state array ``kind/name``, created as ``full_like(p, fill)`` on first use."""
        key = f"{kind}/{name}"
        s = self._slots.get(key)
        if s is None:
            s = self._slots[key] = np.full_like(p, fill)
        elif s.shape != p.shape:
            raise BoucleError(
                f"{type(self).__name__}.step: params[{name!r}]: expected shape {s.shape} "
                f"(optimizer state {key!r}), got {p.shape}"
            )
        elif s.dtype != p.dtype:
            s = self._slots[key] = s.astype(p.dtype)
        return s

    # -- config ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        """``{"class_name", "learning_rate", <hyperparameters>, "clipnorm", "clipvalue"}``, JSON-able.

        A schedule is stored through its own ``get_config``; a plain function cannot be.
        """
        lr = self.learning_rate
        if callable(lr):
            if not hasattr(lr, "get_config"):
                raise BoucleError(
                    f"{type(self).__name__}.get_config: learning_rate: expected a float or a "
                    f"schedule with get_config() (see boucle.schedules), got {lr!r}"
                )
            lr = lr.get_config()
        return {
            "class_name": type(self).__name__,
            "learning_rate": lr,
            **self._hyper(),
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
        }

    @classmethod
    def from_config(cls, cfg: dict) -> Optimizer:
        """Rebuild from :meth:`get_config` output (``Optimizer.from_config`` dispatches on ``class_name``)."""
        if not isinstance(cfg, dict):
            raise BoucleError(f"{cls.__name__}.from_config: cfg: expected a dict, got {type(cfg).__name__}")
        cfg = dict(cfg)
        name = cfg.pop("class_name", None)
        target = cls
        if cls is Optimizer:
            target = registry.lookup("optimizer", name, what="Optimizer.from_config: class_name")
        elif name is not None and name != cls.__name__:
            raise BoucleError(f"{cls.__name__}.from_config: class_name: expected {cls.__name__!r}, got {name!r}")
        if isinstance(cfg.get("learning_rate"), dict):
            cfg["learning_rate"] = schedule_from_config(cfg["learning_rate"])
        allowed = set(inspect.signature(target.__init__).parameters) - {"self"}
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise BoucleError(
                f"{target.__name__}.from_config: cfg: unexpected keys {unknown}, expected some of {sorted(allowed)}"
            )
        return target(**cfg)

    def __repr__(self) -> str:
        cfg = {
            "learning_rate": self.learning_rate,
            **self._hyper(),
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in cfg.items() if v is not None)})"

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every slot array (``"<kind>/<param name>"``), ``"iterations"`` (0-d int64)
        and ``"learning_rate"`` (0-d float64, only when the rate is a float).

        With the same config, this is enough to resume bit-identically.
        """
        out = {k: v.copy() for k, v in self._slots.items()}
        out["iterations"] = np.array(self.iterations, dtype=np.int64)
        if not callable(self.learning_rate):
            out["learning_rate"] = np.array(float(self.learning_rate), dtype=np.float64)
        return out

    def load_state_dict(self, state: dict[str, np.ndarray], *, params: dict[str, np.ndarray] | None = None) -> None:
        """Restore :meth:`state_dict` output (arrays are copied).

        Validates the keys (slot kinds of this optimizer, every kind present for
        each parameter), the shapes (equal across the slots of one parameter and,
        when ``params`` is given, equal to the parameter's), ``iterations`` and
        ``learning_rate``. Nothing changes if validation fails.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, dict):
            raise BoucleError(f"{owner}: state: expected a dict name -> array, got {type(state).__name__}")
        if "iterations" not in state:
            raise BoucleError(f"{owner}: state: expected an 'iterations' entry, got keys {sorted(state)[:8]}")
        it = np.asarray(state["iterations"])
        if it.shape != () or it.dtype.kind not in "iu" or int(it) < 0:
            raise BoucleError(
                f"{owner}: state['iterations']: expected a 0-d non-negative int array, "
                f"got {it.dtype} shape {it.shape} value {it.tolist()!r}"
            )
        lr = None
        if "learning_rate" in state:
            lr_arr = np.asarray(state["learning_rate"])
            if lr_arr.shape != () or lr_arr.dtype.kind != "f":
                raise BoucleError(
                    f"{owner}: state['learning_rate']: expected a 0-d float array, "
                    f"got {lr_arr.dtype} shape {lr_arr.shape}"
                )
            lr = real(float(lr_arr), "state['learning_rate']", owner=owner, low=0.0, want="a finite float > 0")
        kinds = self._slot_kinds()
        slots: dict[str, np.ndarray] = {}
        seen: dict[str, dict[str, tuple]] = {}
        for key, arr in state.items():
            if key in ("iterations", "learning_rate"):
                continue
            kind, _, pname = key.partition("/")
            if kind not in kinds or not pname:
                want = [f"{k}/<param>" for k in kinds] + ["iterations", "learning_rate"]
                raise BoucleError(f"{owner}: state: expected keys {want}, got {key!r}")
            arr = np.asarray(arr)
            if arr.dtype.kind != "f":
                raise BoucleError(f"{owner}: state[{key!r}]: expected a float array, got {arr.dtype}")
            if params is not None:
                if pname not in params:
                    raise BoucleError(
                        f"{owner}: state[{key!r}]: expected a parameter named {pname!r} in params, "
                        f"got names {sorted(params)[:8]}"
                    )
                if tuple(params[pname].shape) != arr.shape:
                    raise BoucleError(
                        f"{owner}: state[{key!r}]: expected shape {tuple(params[pname].shape)}, got {arr.shape}"
                    )
            seen.setdefault(pname, {})[kind] = arr.shape
            slots[key] = np.array(arr, copy=True)
        for pname, got in seen.items():
            if set(got) != set(kinds):
                raise BoucleError(f"{owner}: state: expected slots {list(kinds)} for {pname!r}, got {sorted(got)}")
            if len(set(got.values())) > 1:
                raise BoucleError(f"{owner}: state: expected one shape for the slots of {pname!r}, got {got}")
        self._slots = slots
        self.iterations = int(it)
        if lr is not None:
            self.learning_rate = lr


# ----------------------------------------------------------------------------- algorithms


@_register
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum (seed 003; torch.optim.SGD form).

    .. math::
        b \\leftarrow \\mu b + g, \\qquad
        p \\leftarrow p - \\eta\\, b \\quad (\\text{Nesterov: } p \\leftarrow p - \\eta (g + \\mu b))

    and ``p <- p - eta * g`` when ``momentum = 0``. ``b`` starts at zero (so
    ``b_1 = g_1``, as torch's first-step copy). Keras writes momentum as a
    velocity ``v <- mu v - eta g``; with a constant rate both are the same descent.

    Defaults (Keras): ``learning_rate=0.01, momentum=0.0, nesterov=False``.
    Slots: ``momentum/<name>`` when ``momentum > 0``.
    """

    _HYPER = ("momentum", "nesterov")

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
        self.momentum = rate(momentum, "momentum", "SGD")
        self.nesterov = boolean(nesterov, "nesterov", "SGD")
        if self.nesterov and self.momentum == 0.0:
            raise BoucleError(f"SGD: nesterov: expected momentum > 0 with nesterov=True, got momentum={momentum!r}")

    def _slot_kinds(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum > 0 else ()

    def _update(self, name, p, g, lr, t):
        tmp = np.empty_like(p)
        if self.momentum > 0:
            b = self._slot("momentum", name, p)
            b *= self.momentum
            b += g  # b = mu b + g
            if self.nesterov:
                np.multiply(b, self.momentum, out=tmp)
                tmp += g  # g + mu b
                tmp *= lr
            else:
                np.multiply(b, lr, out=tmp)
        else:
            np.multiply(g, lr, out=tmp)
        p -= tmp


@_register
class Adam(Optimizer):
    """Adam (Kingma & Ba 2014; seed 003), in torch.optim.Adam's form (epsilon outside the root).

    .. math::
        m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad
        v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, \\quad
        p \\leftarrow p - \\frac{\\eta}{1-\\beta_1^t}\\,
            \\frac{m}{\\sqrt{v} / \\sqrt{1-\\beta_2^t} + \\epsilon}

    (Keras puts epsilon as ``eta_t * m / (sqrt(v) + eps)`` with
    ``eta_t = eta sqrt(1-b2^t)/(1-b1^t)``: the same but for where epsilon sits.)

    Defaults (Keras): ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7``
    (torch's ``eps`` is 1e-8). ``t`` is the optimizer's step count: a parameter
    first seen late gets the global bias correction. Slots: ``m/<name>``, ``v/<name>``.
    """

    _HYPER = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
        self.beta_1 = rate(beta_1, "beta_1", "Adam")
        self.beta_2 = rate(beta_2, "beta_2", "Adam")
        self.epsilon = real(epsilon, "epsilon", owner="Adam", low=0.0, want="a finite float > 0")

    def _slot_kinds(self) -> tuple[str, ...]:
        return ("m", "v")

    def _update(self, name, p, g, lr, t):
        m = self._slot("m", name, p)
        v = self._slot("v", name, p)
        tmp = np.subtract(g, m)
        tmp *= 1.0 - self.beta_1
        m += tmp  # m = b1 m + (1-b1) g  (torch's lerp)
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.beta_2
        v *= self.beta_2
        v += tmp  # v = b2 v + (1-b2) g^2
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(1.0 - self.beta_2**t)
        tmp += self.epsilon  # sqrt(v_hat) + eps
        np.divide(m, tmp, out=tmp)
        tmp *= lr / (1.0 - self.beta_1**t)
        p -= tmp


@_register
class RMSprop(Optimizer):
    """RMSprop (Hinton, Coursera lecture 6e; seed 003), in torch.optim.RMSprop's form.

    .. math::
        v \\leftarrow \\rho v + (1-\\rho) g^2, \\qquad
        d = \\sqrt{v - \\bar g^2} + \\epsilon \\ \\text{(centered; } \\bar g \\leftarrow \\rho \\bar g
            + (1-\\rho) g\\text{)} \\ \\text{ or } \\ d = \\sqrt{v} + \\epsilon

    then ``p <- p - eta * g / d``, or with momentum ``b <- mu b + g / d;
    p <- p - eta * b``. (Centered: ``v - gbar^2`` is floored at 0 against
    rounding; torch would return NaN there.)

    Defaults (Keras): ``learning_rate=0.001, rho=0.9, epsilon=1e-7, momentum=0.0,
    centered=False`` (torch: ``lr=0.01, alpha=0.99, eps=1e-8``).
    Slots: ``v/<name>``, ``mg/<name>`` (centered), ``momentum/<name>`` (momentum > 0).
    """

    _HYPER = ("rho", "epsilon", "momentum", "centered")

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        rho: float = 0.9,
        epsilon: float = 1e-7,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
        self.rho = rate(rho, "rho", "RMSprop")
        self.epsilon = real(epsilon, "epsilon", owner="RMSprop", low=0.0, want="a finite float > 0")
        self.momentum = rate(momentum, "momentum", "RMSprop")
        self.centered = boolean(centered, "centered", "RMSprop")

    def _slot_kinds(self) -> tuple[str, ...]:
        return ("v",) + (("mg",) if self.centered else ()) + (("momentum",) if self.momentum > 0 else ())

    def _update(self, name, p, g, lr, t):
        v = self._slot("v", name, p)
        tmp = np.multiply(g, g)
        tmp *= 1.0 - self.rho
        v *= self.rho
        v += tmp  # v = rho v + (1-rho) g^2
        if self.centered:
            mg = self._slot("mg", name, p)
            np.subtract(g, mg, out=tmp)
            tmp *= 1.0 - self.rho
            mg += tmp  # gbar = rho gbar + (1-rho) g  (torch's lerp)
            np.multiply(mg, mg, out=tmp)
            np.subtract(v, tmp, out=tmp)
            np.maximum(tmp, 0.0, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(v, out=tmp)
        tmp += self.epsilon  # d
        np.divide(g, tmp, out=tmp)  # g / d
        if self.momentum > 0:
            b = self._slot("momentum", name, p)
            b *= self.momentum
            b += tmp  # b = mu b + g / d
            np.multiply(b, lr, out=tmp)
        else:
            tmp *= lr
        p -= tmp


@_register
class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011; seed 003), torch.optim.Adagrad's form with ``lr_decay=0``.

    .. math::
        a \\leftarrow a + g^2, \\qquad p \\leftarrow p - \\eta \\frac{g}{\\sqrt{a} + \\epsilon}

    with ``a`` starting at ``initial_accumulator_value`` (Keras puts epsilon
    inside the root: ``sqrt(a + eps)``).

    Defaults (Keras): ``learning_rate=0.001, initial_accumulator_value=0.1,
    epsilon=1e-7`` (torch: ``lr=0.01``, accumulator 0, ``eps=1e-10``).
    Slots: ``accumulator/<name>``.
    """

    _HYPER = ("initial_accumulator_value", "epsilon")

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
        self.initial_accumulator_value = real(
            initial_accumulator_value,
            "initial_accumulator_value",
            owner="Adagrad",
            low=0.0,
            low_open=False,
            want="a finite float >= 0",
        )
        self.epsilon = real(epsilon, "epsilon", owner="Adagrad", low=0.0, want="a finite float > 0")

    def _slot_kinds(self) -> tuple[str, ...]:
        return ("accumulator",)

    def _update(self, name, p, g, lr, t):
        a = self._slot("accumulator", name, p, fill=self.initial_accumulator_value)
        tmp = np.multiply(g, g)
        a += tmp  # a = a + g^2
        np.sqrt(a, out=tmp)
        tmp += self.epsilon
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p -= tmp


@_register
class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012; seed 003), in torch.optim.Adadelta's form.

    .. math::
        v \\leftarrow \\rho v + (1-\\rho) g^2, \\quad
        \\Delta = \\frac{\\sqrt{u + \\epsilon}}{\\sqrt{v + \\epsilon}}\\, g, \\quad
        u \\leftarrow \\rho u + (1-\\rho) \\Delta^2, \\quad
        p \\leftarrow p - \\eta \\Delta

    Zeiler's method has no learning rate, i.e. ``eta = 1``.

    Defaults: ``learning_rate=1.0`` (Zeiler, torch; Keras uses 0.001 and its
    docs advise 1.0), ``rho=0.95, epsilon=1e-7`` (Keras; torch: 0.9, 1e-6).
    Slots: ``v/<name>`` (accumulated g^2), ``u/<name>`` (accumulated updates^2).
    """

    _HYPER = ("rho", "epsilon")

    def __init__(
        self,
        learning_rate: float | Callable[[int], float] = 1.0,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
        self.rho = rate(rho, "rho", "Adadelta")
        self.epsilon = real(epsilon, "epsilon", owner="Adadelta", low=0.0, want="a finite float > 0")

    def _slot_kinds(self) -> tuple[str, ...]:
        return ("v", "u")

    def _update(self, name, p, g, lr, t):
        v = self._slot("v", name, p)
        u = self._slot("u", name, p)
        std = np.multiply(g, g)
        std *= 1.0 - self.rho
        v *= self.rho
        v += std  # v = rho v + (1-rho) g^2
        np.add(v, self.epsilon, out=std)
        np.sqrt(std, out=std)  # sqrt(v + eps)
        delta = np.add(u, self.epsilon)
        np.sqrt(delta, out=delta)  # sqrt(u + eps)
        delta /= std
        delta *= g  # Delta
        np.multiply(delta, delta, out=std)
        std *= 1.0 - self.rho
        u *= self.rho
        u += std  # u = rho u + (1-rho) Delta^2
        delta *= lr
        p -= delta


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (case-insensitive: ``"sgd"``, ``"adam"``, ``"rmsprop"``,
    ``"adagrad"``, ``"adadelta"``, with default hyperparameters), an instance
    (returned as is), an optimizer class, or a :meth:`Optimizer.get_config` dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in names():
        return registry.lookup("optimizer", identifier)()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer) and identifier is not Optimizer:
        return identifier()
    if isinstance(identifier, dict):
        return Optimizer.from_config(identifier)
    raise BoucleError(f"optimizer: expected one of {names()} or an Optimizer instance, got {identifier!r}")
