"""What every reservoir model shares: running, fitting, predicting, closed loops, model files (seed 004).

A model is a list of reservoir layers and a linear readout. A layer is anything with
``units``, ``input_dim``, ``dtype``, ``built``, ``run_batch(seqs, h0, drive) ->
(features (N, T, H), last states)``, ``step(u (N, D), state, drive) -> (features (N, H),
state)``, ``_initial(h0, n)`` and the ``weight_shapes/get_weights/set_weights(prefix)``
trio: the tanh :class:`~boucle.reservoir.Reservoir` (features = states) and the spiking
:class:`~boucle.reservoir.LIFReservoir` (features = filtered spike trains).

Readout features per step: ``s_t = [x^1_t, ..., x^L_t (, u_t if input_to_readout)]``,
output ``y_t = s_t W_out + b_out``.

**Two recurrences** (the course's internal vs external recurrence). ``W`` inside the
reservoir is internal. Output feedback is external: ``y_{t-1}`` re-enters the
reservoir through ``W_fb (O, H)``::

    x~_t = f(u_t W_in + x_{t-1} W + y_{t-1} W_fb + b)

:meth:`fit` teacher-forces it (``y_{t-1}`` is the target ``Y_{t-1}``, optionally plus
Gaussian noise of std ``feedback_noise``, a regulariser for the closed loop; Jaeger
2001); :meth:`predict` closes the loop with the model's own outputs, unless
``teacher=`` gives the outputs to feed. Only :class:`~boucle.reservoir.ESN` has feedback.

**State between calls.** Every call starts from zeros unless ``initial_state`` says
otherwise and keeps its final state(s) in :attr:`last_state` (and, with feedback,
its last output in :attr:`last_output`); ``initial_state="last"`` continues from them.
reservoirpy's nodes always continue; a script ported line by line that calls
``predict(x_test)`` after ``fit`` therefore starts cold where reservoirpy continued:
:meth:`predict` warns (:class:`StateWarning`) when it starts from zeros on a single
sequence without being told to while the model holds the final state of a call on
another input.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np

from .. import allocation
from ..backend import make_rng
from ..errors import BoucleError
from ._sequences import Sequences, check_targets, to_batch
from .readout import READOUTS, RLS, Ridge
from .reservoir import EchoStateWarning, _check_fraction, _check_nonneg, _check_units, _user_stacklevel

__all__ = ["StateWarning"]


class StateWarning(UserWarning):
    """``predict`` started from the zero state while the model held the final state of an earlier call."""


_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<zeros, warn>"})()  # initial_state not given


def _fingerprint(seqs: Sequences) -> str | None:
    """Identity of a single sequence's data (to recognise a replay of the previous call's input)."""
    if seqs.kind != "single":
        return None
    return (
        f"{seqs.data.shape}:" + hashlib.blake2b(np.ascontiguousarray(seqs.data).tobytes(), digest_size=16).hexdigest()
    )


def _feedback_rng(seed: int | None, stream: int) -> np.random.Generator:
    """Independent generators for the feedback weights (0) and the teacher noise (1), derived from the seed."""
    if seed is None:
        return make_rng(None)
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0xFB, stream]))


class _EchoState:
    """Reservoir layers + readout: running, fitting, predicting, generating, model files."""

    def __init__(self, reservoirs: list, readout: Ridge | RLS | None, ridge: float, input_to_readout: bool) -> None:
        if readout is None:
            readout = Ridge(ridge)
        if not isinstance(readout, (Ridge, RLS)):
            raise BoucleError(f"readout: expected a Ridge or RLS instance, got {type(readout).__name__}")
        if not isinstance(input_to_readout, (bool, np.bool_)):
            raise BoucleError(f"input_to_readout: expected a bool, got {input_to_readout!r}")
        self.reservoirs = reservoirs
        self.readout = readout
        self.input_to_readout = bool(input_to_readout)
        self._last: list | None = None
        self._last_y: np.ndarray | None = None
        self._last_key: str | None = None  # fingerprint of the last call's input (single sequences)
        self.feedback_scaling, self.feedback_connectivity, self.feedback_noise = 0.0, 0.1, 0.0
        self.W_fb: np.ndarray | None = None

    # ------------------------------------------------------------ output feedback
    def _init_feedback(self, scaling: float, connectivity: float, noise: float, seed: int | None) -> None:
        self.feedback_scaling = _check_nonneg(scaling, "feedback_scaling")
        self.feedback_connectivity = _check_fraction(connectivity, "feedback_connectivity")
        self.feedback_noise = _check_nonneg(noise, "feedback_noise")
        if self.feedback_noise > 0 and self.feedback_scaling == 0:
            raise BoucleError(f"feedback_noise: expected 0 without feedback (feedback_scaling=0), got {noise!r}")
        self._fb_seed = seed
        self._noise_rng = _feedback_rng(seed, 1)
        res, O = self.reservoirs[0], self.readout.output_dim
        if self.feedback and res.built and O is not None:  # a loaded model: shapes known, weights follow
            self.W_fb = allocation.zeros((O, res.units), res.dtype, "feedback weight")

    @property
    def feedback(self) -> bool:
        """True when the output is fed back into the reservoir (``feedback_scaling > 0``)."""
        return self.feedback_scaling > 0

    def _build_feedback(self, O: int) -> None:
        """Draw ``W_fb (O, H)``: ``round(feedback_connectivity * O * H)`` entries +-1, times ``feedback_scaling``."""
        if self.W_fb is not None and self.W_fb.shape[0] == O:
            return
        res = self.reservoirs[0]
        H = res.units
        rng = _feedback_rng(self._fb_seed, 0)
        k = max(1, int(round(self.feedback_connectivity * O * H)))
        W = np.zeros(O * H)
        W[rng.choice(O * H, size=k, replace=False)] = rng.integers(0, 2, size=k) * 2.0 - 1.0
        self.W_fb = (W.reshape(O, H) * self.feedback_scaling).astype(res.dtype)

    def _initial_output(self, initial_state: Any, n: int) -> np.ndarray:
        O = self.W_fb.shape[0]
        if isinstance(initial_state, str) and self._last_y is not None:
            y = np.asarray(self._last_y)
            if y.shape == (O,):
                return np.broadcast_to(y, (n, O)).copy()
            if y.shape == (n, O):
                return y.copy()
            raise BoucleError(f"initial_state: the last output has shape {y.shape}, expected ({O},) or ({n}, {O})")
        return np.zeros((n, O))

    def _teacher_drive(self, ys: Sequences, initial_state: Any, noise: bool) -> np.ndarray:
        """``y_{t-1} W_fb`` for every step: ``y_{-1}`` = the last output ("last") or zeros, then the teacher."""
        Y = ys.data
        prev = np.empty_like(Y)
        prev[:, 0] = self._initial_output(initial_state, Y.shape[0])
        prev[:, 1:] = Y[:, :-1]
        if noise and self.feedback_noise > 0:
            prev += self.feedback_noise * self._noise_rng.standard_normal(prev.shape)
        self._last_y = Y[np.arange(ys.n), ys.lengths - 1]
        if ys.kind == "single":
            self._last_y = self._last_y[0]
        return prev @ self.W_fb

    def _closed_loop(self, seqs: Sequences, initial_state: Any) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``(N, T, O)`` and states ``(N, T, H)`` feeding each output back through ``W_fb``."""
        res = self.reservoirs[0]
        N, T, _ = seqs.data.shape
        h = res._initial(self._initial(initial_state, N)[0], N)
        y = self._initial_output(initial_state, N)
        W, b = self.readout.W_out, self.readout.b_out
        out = np.empty((N, T, W.shape[1]))
        states = np.empty((N, T, res.units), dtype=res.dtype)
        for t in range(T):
            u = seqs.data[:, t]
            feat, h = res.step(u, h, y @ self.W_fb)
            if self.input_to_readout:
                feat = np.concatenate([feat, u], axis=1)
            y = feat @ W + b
            out[:, t], states[:, t] = y, h
        idx, last = np.arange(N), seqs.lengths - 1
        single = seqs.kind == "single"
        self._last = [states[idx, last][0] if single else states[idx, last]]
        self._last_y = out[idx, last][0] if single else out[idx, last]
        self._last_key = _fingerprint(seqs) if initial_state is None else None
        return out, states

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
        return (
            all(r.built for r in self.reservoirs)
            and self.readout.built
            and (not self.feedback or self.W_fb is not None)
        )

    @property
    def n_features(self) -> int:
        """Readout feature size: all layers' units (+ input size with ``input_to_readout``)."""
        return sum(r.units for r in self.reservoirs) + (self.input_dim or 0) * self.input_to_readout

    @property
    def last_state(self) -> Any:
        """Final reservoir state(s) of the last call: ``(H,)`` or ``(N, H)``; a list per layer for DeepESN."""
        if self._last is None or len(self.reservoirs) > 1:
            return self._last
        return self._last[0]

    @property
    def last_output(self) -> np.ndarray | None:
        """With output feedback: the output fed back at the next step (``initial_state="last"``)."""
        return self._last_y

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
            raise BoucleError(
                f"initial_state: expected a list of {L} arrays (one per layer), got {type(initial_state).__name__}"
            )
        return list(initial_state)

    def _features(
        self,
        seqs: Sequences,
        initial_state: Any = None,
        with_input: bool = True,
        teacher: Sequences | None = None,
        noise: bool = False,
    ) -> tuple[np.ndarray, list]:
        """Readout features ``(N, T_max, F)`` of a padded batch, and each layer's last states.

        With feedback, ``teacher`` (the targets) is fed back one step late (teacher forcing).
        """
        h0 = self._initial(initial_state, seqs.n)
        drive = None
        if self.feedback:
            if teacher is None:
                raise BoucleError(
                    f"{type(self).__name__}: a model with output feedback needs the outputs to feed "
                    "back (teacher=) here"
                )
            self._build_feedback(teacher.data.shape[2])
            drive = self._teacher_drive(teacher, initial_state, noise)
        feats, lasts, inp = [], [], seqs
        for l, res in enumerate(self.reservoirs):
            states, last = res.run_batch(inp, h0[l], drive if l == 0 else None)
            feats.append(states)
            lasts.append(last)
            inp = Sequences(states, seqs.lengths, seqs.kind)
        if with_input and self.input_to_readout:
            feats.append(seqs.data.astype(feats[0].dtype, copy=False))
        F = feats[0] if len(feats) == 1 else np.concatenate(feats, axis=-1)
        single = seqs.kind == "single"
        self._last = [h[0] if single else h for h in lasts]
        self._last_key = _fingerprint(seqs) if initial_state is None else None
        return F, lasts

    def _inputs(self, X: Any, name: str = "X") -> Sequences:
        return to_batch(X, name, dim=self.input_dim, dtype=self.reservoirs[0].dtype)

    def _teacher(self, seqs: Sequences, teacher: Any) -> Sequences | None:
        if teacher is None:
            return None
        if not self.feedback:
            raise BoucleError(
                f"teacher: only models with output feedback take it (feedback_scaling > 0), "
                f"got feedback_scaling={self.feedback_scaling:g}"
            )
        ys = check_targets(seqs, teacher, "teacher")
        if self.output_dim is not None and ys.data.shape[2] != self.output_dim:
            raise BoucleError(f"teacher: expected {self.output_dim} outputs per step, got {ys.data.shape[2]}")
        return ys

    def _start(self, initial_state: Any, seqs: Sequences, method: str) -> Any:
        """Resolve an unspecified ``initial_state`` to zeros, warning when a ported script likely expected 'last'.

        The warning needs: a single sequence and a final state kept from an earlier call,
        unless this call replays that one exactly (same input, that call also from zeros:
        predicting the training input after ``fit`` stays silent).
        """
        if initial_state is not _UNSET:
            return initial_state
        if self._last is not None and seqs.kind == "single" and _fingerprint(seqs) != self._last_key:
            warnings.warn(
                f"{type(self).__name__}.{method} starts from the zero state; the final state of the "
                "previous call (e.g. the end of fit) is not used. Pass initial_state='last' to continue "
                "from it (what reservoirpy does) or initial_state=None to start from zeros without this "
                "warning",
                StateWarning,
                stacklevel=_user_stacklevel(),
            )
        return None

    def run(self, X: Any, initial_state: Any = None, teacher: Any = None) -> Any:
        """Reservoir states (all layers concatenated, no input) in the form of ``X``.

        With output feedback: teacher-forced by ``teacher``, else (fitted models) in closed loop.
        """
        seqs = self._inputs(X)
        ys = self._teacher(seqs, teacher)
        if self.feedback and ys is None:
            if not self.readout.built:
                raise BoucleError(
                    f"{type(self).__name__}: a model with output feedback runs in closed loop once "
                    "fitted; before that, pass teacher= (the outputs to feed back)"
                )
            return seqs.restore(self._closed_loop(seqs, initial_state)[1])
        F, _ = self._features(seqs, initial_state, with_input=False, teacher=ys)
        return seqs.restore(F)

    def _check_warmup(self, seqs: Sequences, warmup: Any) -> None:
        if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
            raise BoucleError(f"warmup: expected a non-negative int, got {warmup!r}")
        if warmup >= int(seqs.lengths.min()):
            raise BoucleError(
                f"warmup: expected fewer steps than the shortest sequence "
                f"({int(seqs.lengths.min())} timesteps), got {warmup}"
            )

    def fit(self, X: Any, Y: Any, warmup: int = 0, initial_state: Any = None) -> _EchoState:
        """Run the reservoir(s) on ``X`` and fit the readout on steps ``t >= warmup`` of every sequence.

        Ridge: one closed-form solve over all sequences; RLS: one online pass, in order.
        With output feedback, ``Y`` is also the teacher fed back (``Y_{t-1}`` at step ``t``).
        """
        seqs = self._inputs(X)
        ys = check_targets(seqs, Y, "Y")
        self._check_warmup(seqs, warmup)
        F, _ = self._features(seqs, initial_state, teacher=ys, noise=True)
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
        F, _ = self._features(seqs, initial_state, teacher=ys, noise=True)
        Fs = Sequences(F, seqs.lengths, seqs.kind)
        prior = self.readout.partial_fit(Fs.valid_rows(F), ys.valid_rows(ys.data))
        out = np.zeros(F.shape[:2] + (prior.shape[1],))
        i = 0
        for n, L in enumerate(seqs.lengths):
            out[n, :L] = prior[i : i + L]
            i += L
        return seqs.restore(out)

    def predict(self, X: Any, initial_state: Any = _UNSET, teacher: Any = None) -> Any:
        """Readout outputs ``(T, O)`` / ``(N, T, O)`` / list, in the form of ``X``.

        ``initial_state``: not given = zeros (with a :class:`StateWarning` when a single
        sequence follows an earlier call), ``None`` = zeros, ``"last"`` = continue, or
        arrays. With output feedback the loop is closed (each output is fed back)
        unless ``teacher`` gives the outputs to feed.
        """
        if not self.readout.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        seqs = self._inputs(X)
        ys = self._teacher(seqs, teacher)
        initial_state = self._start(initial_state, seqs, "predict")
        if self.feedback and ys is None:
            return seqs.restore(self._closed_loop(seqs, initial_state)[0])
        F, _ = self._features(seqs, initial_state, teacher=ys)
        N, T, Fd = F.shape
        out = (F.reshape(N * T, Fd) @ self.readout.W_out + self.readout.b_out).reshape(N, T, -1)
        return seqs.restore(out)

    def generate(self, n_steps: int, warmup_inputs: Any, initial_state: Any = None) -> Any:
        """Closed loop through the input: teacher-force ``warmup_inputs``, then feed each prediction back as input.

        For a one-step-ahead model trained on ``(u_t, u_{t+1})`` pairs and warm-up
        inputs ``u_1..u_W``: ``y_0 = readout(x_W)`` predicts ``u_{W+1}``; then
        ``x_{W+t} = step(x_{W+t-1}, y_{t-1})`` and ``y_t = readout(x_{W+t})``.
        With output feedback as well, the warm-up feeds back the next input (the
        target of a one-step model), then the predictions.
        Returns ``[y_0, ..., y_{n_steps-1}]``, the continuation of the series:
        ``(n_steps, O)`` (``(N, n_steps, O)`` / a list for several warm-up sequences).
        Needs ``output_dim == input_dim``.
        """
        if not self.readout.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        n_steps = _check_units(n_steps, "n_steps")
        if self.output_dim != self.input_dim:
            raise BoucleError(
                f"generate: predictions are fed back as inputs, so output_dim must equal "
                f"input_dim ({self.input_dim}), got {self.output_dim}"
            )
        seqs = self._inputs(warmup_inputs, "warmup_inputs")
        teacher = None
        if self.feedback:  # the target of step t is the input of step t + 1
            nxt = np.zeros_like(seqs.data)
            nxt[:, :-1] = seqs.data[:, 1:]
            teacher = Sequences(nxt, seqs.lengths, seqs.kind)
        F, lasts = self._features(seqs, initial_state, teacher=teacher)
        W, b = self.readout.W_out, self.readout.b_out
        idx = np.arange(seqs.n)
        y = F[idx, seqs.lengths - 1] @ W + b  # (N, O)
        states = [self.reservoirs[l]._initial(h, seqs.n) for l, h in enumerate(lasts)]
        out = np.empty((seqs.n, n_steps, self.output_dim))
        out[:, 0] = y
        for t in range(1, n_steps):
            u = y.astype(self.reservoirs[0].dtype)  # (N, D)
            inp, feats = u, []
            for l, res in enumerate(self.reservoirs):
                f_l, states[l] = res.step(inp, states[l], y @ self.W_fb if self.feedback and l == 0 else None)
                feats.append(f_l)
                inp = f_l
            if self.input_to_readout:
                feats.append(u)
            y = np.concatenate(feats, axis=-1) @ W + b
            out[:, t] = y
        single = seqs.kind == "single"
        self._last = [h[0] if single else h for h in states]
        self._last_key = None  # the state is past the warm-up input
        if self.feedback:
            self._last_y = y[0] if single else y
        if seqs.kind == "list":
            return [out[i] for i in range(seqs.n)]
        return out[0] if single else out

    # ------------------------------------------------------------ model files
    def _prefixes(self) -> list[str]:
        return ["reservoir"] if len(self.reservoirs) == 1 else [f"reservoir_{l}" for l in range(len(self.reservoirs))]

    def weight_specs(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """``{name: (shape, dtype)}`` of :meth:`get_weights`, from the config alone (what :func:`boucle.load`
        checks against a file's header before anything is allocated, :mod:`boucle.allocation`)."""
        specs: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        for p, r in zip(self._prefixes(), self.reservoirs):
            specs.update(r.weight_shapes(p))
        if self.feedback:
            specs["feedback/W_fb"] = ((self.output_dim, self.reservoirs[0].units), self.reservoirs[0].dtype)
        specs.update(self.readout.weight_shapes("readout"))
        return specs

    def get_weights(self) -> dict[str, np.ndarray]:
        if not self.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        w: dict[str, np.ndarray] = {}
        for p, r in zip(self._prefixes(), self.reservoirs):
            w.update(r.get_weights(p))
        if self.feedback:
            w["feedback/W_fb"] = self.W_fb
        w.update(self.readout.get_weights("readout"))
        return w

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Set all weights; every name, shape and dtype is checked against the config."""
        if not self.built:
            raise BoucleError(
                f"{type(self).__name__}: build the model (fit, or from_config of a fitted model) before set_weights"
            )
        want = set()
        for p, r in zip(self._prefixes(), self.reservoirs):
            want |= set(r.weight_shapes(p))
        want |= set(self.readout.weight_shapes("readout"))
        if self.feedback:
            want.add("feedback/W_fb")
        unknown = sorted(set(weights) - want)
        if unknown:
            raise BoucleError(f"weights: unexpected tensors {unknown[:5]}")
        if self.feedback:
            if "feedback/W_fb" not in weights:
                raise BoucleError("weights: missing 'feedback/W_fb'")
            v = np.asarray(weights["feedback/W_fb"])
            if v.shape != self.W_fb.shape or v.dtype != self.W_fb.dtype:
                raise BoucleError(
                    f"weights: 'feedback/W_fb' should be {self.W_fb.dtype.name}{list(self.W_fb.shape)}, "
                    f"got {v.dtype.name}{list(v.shape)}"
                )
        for p, r in zip(self._prefixes(), self.reservoirs):
            r.set_weights(weights, p)
        self.readout.set_weights(weights, "readout")
        if self.feedback:
            self.W_fb = np.array(weights["feedback/W_fb"])

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
