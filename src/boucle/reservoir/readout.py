"""Readouts: the only trained part of an echo state network (seed 004: "peu de neurones doivent apprendre").

Both readouts are linear, ``y_t = s_t W_out + b_out`` (row vectors; ``W_out (F, O)``
plays the course's ``V``), on features ``s_t (F,)`` = reservoir states, optionally
concatenated with the input. Features and targets come as one sequence ``(T, F)``,
several ``(N, T, F)`` or a list of ``(T_i, F)``; ``warmup`` drops the first steps of
every sequence (the reservoir's transient) before learning.

- :class:`Ridge`: closed-form ridge (Tikhonov) regression, the bias left
  unpenalised (features and targets centred first, as reservoirpy and
  scikit-learn do)::

      W_out = argmin ||S_c W - Y_c||^2 + ridge ||W||^2,   b_out = mean(Y) - mean(S) W_out

  solved with a Cholesky factorisation (LAPACK ``potrf``/``potrs`` with the
  condition estimate ``pocon``, as ``scipy.linalg.solve(assume_a="pos")``;
  never an explicit inverse), in the primal ``(S_c^T S_c + ridge I) W = S_c^T Y_c``
  when there are at least as many samples as features, else in the dual
  ``W = S_c^T (S_c S_c^T + ridge I)^{-1} Y_c`` (same solution, an n x n system).
- :class:`RLS`: recursive least squares (online; Sussillo & Abbott 2009, with the
  forgetting factor of Waegeman et al. 2012), the "learning reservoir" readout.
  With ``z_t = [s_t, 1]``, ``P_0 = I / alpha``, forgetting ``lam``::

      k = P z / (lam + z^T P z);  e = y_t - z W;  W += k e^T;  P = (P - k z^T P) / lam

  With ``lam = 1`` after n samples ``W`` equals the ridge solution
  ``(Z^T Z + alpha I)^{-1} Z^T Y`` exactly (here the bias row is penalised too).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.linalg
from scipy.linalg.lapack import dlamch, dpocon, dpotrf, dpotrs

from .. import allocation
from ..errors import BoucleError
from ._sequences import Sequences, check_targets, to_batch
from .reservoir import _user_stacklevel

__all__ = ["Ridge", "RLS", "READOUTS", "solve_ridge"]

_EPS = float(dlamch("E"))  # LAPACK's relative machine precision: scipy.linalg.solve's ill-conditioning bound


def _suggest(diag_mean: float) -> str:
    v = max(diag_mean, 1e-300) * 1e-6
    return f"{10 ** math.floor(math.log10(v)):.0e}"


def _pos_solve(G: np.ndarray, R: np.ndarray, ridge: float, n: int, F: int) -> np.ndarray:
    """Solve ``G X = R`` for symmetric positive definite ``G`` (overwritten): Cholesky (LAPACK ``potrf``),
    the condition estimate ``pocon``, then ``potrs``; singular -> one-line error, ill-conditioned
    (``rcond`` below the machine epsilon, as ``scipy.linalg.solve``) -> a warning, or an error at ridge 0."""
    diag_mean = float(np.trace(G)) / G.shape[0]
    if not math.isfinite(diag_mean):
        raise BoucleError("S: expected finite features, got NaN or Inf (or values whose squares overflow)")
    hint = _suggest(diag_mean)
    singular = BoucleError(
        f"ridge: the readout's normal equations are singular (ridge={ridge:g}, {n} samples, "
        f"{F} features); use a larger ridge, e.g. ridge={hint}"
    )
    anorm = float(np.abs(G).sum(axis=0).max())  # the 1-norm (LAPACK's dlange, unvectorised, is slower)
    Gf = G.T  # G is symmetric: its transpose is the Fortran-ordered array LAPACK factorises in place
    c, info = dpotrf(Gf, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise singular
    rcond, info = dpocon(c, anorm)
    if info != 0 or rcond == 0:
        raise singular
    X, info = dpotrs(c, R, lower=False)
    if info != 0:  # pragma: no cover - only illegal arguments
        raise singular
    if not rcond >= _EPS:  # nan included
        if ridge == 0.0:
            raise BoucleError(
                f"ridge: the readout's normal equations are singular to working precision (ridge=0, "
                f"{n} samples, {F} features); use ridge > 0, e.g. ridge={hint}"
            )
        warnings.warn(
            f"ridge={ridge:g}: the readout's normal equations are ill-conditioned; "
            f"a larger ridge (e.g. {hint}) is safer",
            scipy.linalg.LinAlgWarning,
            stacklevel=_user_stacklevel(),
        )
    if not np.isfinite(X).all():
        raise BoucleError(
            f"ridge: the readout's solution is not finite (ridge={ridge:g}); use a larger ridge, e.g. ridge={hint}"
        )
    return X


def solve_ridge(S: np.ndarray, Y: np.ndarray, ridge: float, fit_bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression ``S (n, F) -> Y (n, O)`` in float64; returns ``W_out (F, O)`` and ``b_out (O,)``."""
    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, F = S.shape
    if fit_bias:
        s_mean, y_mean = S.mean(axis=0), Y.mean(axis=0)
        S, Y = S - s_mean, Y - y_mean  # centred copies: the bias is not penalised
    else:
        s_mean, y_mean = np.zeros(F), np.zeros(Y.shape[1])
    if n >= F:  # primal: (S^T S + ridge I) W = S^T Y  -- an F x F system
        G = S.T @ S  # symmetric rank-k update (BLAS syrk)
        G.flat[:: F + 1] += ridge
        W = _pos_solve(G, S.T @ Y, ridge, n, F)
    else:  # dual: W = S^T (S S^T + ridge I)^{-1} Y  -- an n x n system, fewer samples than features
        K = S @ S.T
        K.flat[:: n + 1] += ridge
        W = S.T @ _pos_solve(K, Y, ridge, n, F)
    return W, y_mean - s_mean @ W


class _Linear:
    """Shared parts of the linear readouts: shapes, prediction, weights I/O."""

    kind = "linear"

    def __init__(self, fit_bias: bool = True) -> None:
        if not isinstance(fit_bias, (bool, np.bool_)):
            raise BoucleError(f"fit_bias: expected a bool, got {fit_bias!r}")
        self.fit_bias = bool(fit_bias)
        self.input_dim: int | None = None
        self.output_dim: int | None = None
        self.W_out: np.ndarray | None = None
        self.b_out: np.ndarray | None = None

    @property
    def built(self) -> bool:
        return self.W_out is not None

    def _data(self, S: Any, Y: Any, warmup: Any) -> tuple[np.ndarray, np.ndarray]:
        xs = S if isinstance(S, Sequences) else to_batch(S, "S", dtype=np.float64)
        ys = Y if isinstance(Y, Sequences) else check_targets(xs, Y, "Y")
        if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
            raise BoucleError(f"warmup: expected a non-negative int, got {warmup!r}")
        shortest = int(xs.lengths.min())
        if warmup >= shortest:
            raise BoucleError(
                f"warmup: expected fewer steps than the shortest sequence ({shortest} timesteps), got {warmup}"
            )
        return xs.valid_rows(xs.data, warmup), ys.valid_rows(ys.data, warmup)

    def predict(self, S: Any) -> Any:
        """Outputs ``S W_out + b_out`` in the form of ``S``."""
        if not self.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        xs = S if isinstance(S, Sequences) else to_batch(S, "S", dim=self.input_dim, dtype=np.float64)
        N, T, F = xs.data.shape
        out = (xs.data.reshape(N * T, F) @ self.W_out + self.b_out).reshape(N, T, -1)
        return xs.restore(out)

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W_out": (self.input_dim, self.output_dim), "b_out": (self.output_dim,)}

    def weight_shapes(self, prefix: str = "readout") -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {f"{prefix}/{k}": (v, np.dtype(np.float64)) for k, v in self._shapes().items()}

    def get_weights(self, prefix: str = "readout") -> dict[str, np.ndarray]:
        if not self.built:
            raise BoucleError(f"{type(self).__name__}: not fitted yet (call fit first)")
        return {f"{prefix}/{k}": getattr(self, k) for k in self._shapes()}

    def set_weights(self, weights: dict[str, np.ndarray], prefix: str = "readout") -> None:
        if self.input_dim is None or self.output_dim is None:
            raise BoucleError(f"{type(self).__name__}: set input_dim and output_dim before set_weights")
        for k, (shape, dtype) in self.weight_shapes(prefix).items():
            v = np.asarray(weights.get(k)) if k in weights else None
            if v is None:
                raise BoucleError(f"weights: missing {k!r}")
            if v.shape != shape or v.dtype != dtype:
                raise BoucleError(f"weights: {k!r} should be float64{list(shape)}, got {v.dtype.name}{list(v.shape)}")
        for k in self._shapes():
            setattr(self, k, np.array(weights[f"{prefix}/{k}"]))

    def _dims_config(self) -> dict:
        return {"input_dim": self.input_dim, "output_dim": self.output_dim}


class Ridge(_Linear):
    """Closed-form ridge readout (see the module docstring).

    Args:
        ridge: the L2 penalty ``>= 0`` (0: ordinary least squares; a singular system
            then raises a one-line error suggesting a value).
        fit_bias: learn an unpenalised bias ``b_out``.
    """

    def __init__(
        self, ridge: float = 1e-6, fit_bias: bool = True, input_dim: int | None = None, output_dim: int | None = None
    ) -> None:
        super().__init__(fit_bias)
        if (
            isinstance(ridge, bool)
            or not isinstance(ridge, (int, float, np.floating, np.integer))
            or not np.isfinite(ridge)
            or ridge < 0
        ):
            raise BoucleError(f"ridge: expected a non-negative finite number, got {ridge!r}")
        self.ridge = float(ridge)
        self.input_dim, self.output_dim = input_dim, output_dim
        if input_dim is not None and output_dim is not None:  # shapes known (a loaded model): allocate
            self.W_out = allocation.zeros((input_dim, output_dim), np.float64, "readout weight")
            self.b_out = allocation.zeros((output_dim,), np.float64, "readout weight")

    def fit(self, S: Any, Y: Any, warmup: int = 0) -> Ridge:
        """Fit ``W_out, b_out`` on all valid steps (``t >= warmup``) of all sequences at once."""
        s, y = self._data(S, Y, warmup)
        self.W_out, self.b_out = solve_ridge(s, y, self.ridge, self.fit_bias)
        self.input_dim, self.output_dim = s.shape[1], y.shape[1]
        return self

    def get_config(self) -> dict:
        return {"ridge": self.ridge, "fit_bias": self.fit_bias, **self._dims_config()}

    @classmethod
    def from_config(cls, cfg: dict) -> Ridge:
        return cls(**cfg)


class RLS(_Linear):
    """Online recursive-least-squares readout (see the module docstring).

    Args:
        alpha: ``P_0 = I / alpha``; with ``forgetting=1`` it acts as a ridge penalty.
        forgetting: ``lam`` in (0, 1]; < 1 weights recent samples more (non-stationary data).
        fit_bias: learn ``b_out`` (as a constant feature 1).
    """

    def __init__(
        self,
        alpha: float = 1e-6,
        forgetting: float = 1.0,
        fit_bias: bool = True,
        input_dim: int | None = None,
        output_dim: int | None = None,
    ) -> None:
        super().__init__(fit_bias)
        if (
            isinstance(alpha, bool)
            or not isinstance(alpha, (int, float, np.floating, np.integer))
            or not np.isfinite(alpha)
            or alpha <= 0
        ):
            raise BoucleError(f"alpha: expected a positive finite number, got {alpha!r}")
        if (
            isinstance(forgetting, bool)
            or not isinstance(forgetting, (int, float, np.floating, np.integer))
            or not 0 < forgetting <= 1
        ):
            raise BoucleError(f"forgetting: expected a number in (0, 1], got {forgetting!r}")
        self.alpha, self.forgetting = float(alpha), float(forgetting)
        self.P: np.ndarray | None = None
        self.input_dim, self.output_dim = input_dim, output_dim
        if input_dim is not None and output_dim is not None:
            self.reset(input_dim, output_dim)

    def reset(self, input_dim: int, output_dim: int) -> None:
        """Forget everything: ``W = 0``, ``P = I / alpha``."""
        F = input_dim + int(self.fit_bias)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.W_out = allocation.zeros((input_dim, output_dim), np.float64, "readout weight")
        self.b_out = allocation.zeros((output_dim,), np.float64, "readout weight")
        self.P = allocation.zeros((F, F), np.float64, "readout state")  # bounded by a model file's budget
        if not allocation.is_placeholder(self.P):
            self.P[np.diag_indices(F)] = 1.0 / self.alpha

    def partial_fit(self, S: Any, Y: Any) -> np.ndarray:
        """One RLS update per row of ``S (n, F)``, ``Y (n, O)``, in order; returns the prior predictions (n, O)."""
        S = np.asarray(S, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if S.ndim != 2 or Y.ndim != 2 or S.shape[0] != Y.shape[0]:
            raise BoucleError(f"Y: expected (n, O) targets for S of shape (n, F), got S {S.shape} and Y {Y.shape}")
        if not (np.isfinite(S).all() and np.isfinite(Y).all()):
            raise BoucleError("S: expected finite features and targets")
        if not self.built:
            self.reset(S.shape[1], Y.shape[1])
        if S.shape[1] != self.input_dim or Y.shape[1] != self.output_dim:
            raise BoucleError(
                f"S: expected ({self.input_dim}, {self.output_dim}) feature/target sizes, "
                f"got {S.shape[1]} and {Y.shape[1]}"
            )
        Z = np.hstack([S, np.ones((S.shape[0], 1))]) if self.fit_bias else S
        W = np.vstack([self.W_out, self.b_out[None]]) if self.fit_bias else self.W_out.copy()
        P, lam = self.P, self.forgetting
        prior = np.empty_like(Y)
        for t in range(Z.shape[0]):
            z = Z[t]
            Pz = P @ z
            k = Pz / (lam + z @ Pz)
            prior[t] = z @ W
            W += np.outer(k, Y[t] - prior[t])
            P -= np.outer(k, Pz)
            if lam != 1.0:
                P /= lam
            P += P.T  # keep P symmetric against rounding
            P *= 0.5
        self.P = P
        self.W_out, self.b_out = (W[:-1], W[-1]) if self.fit_bias else (W, np.zeros(self.output_dim))
        return prior

    def fit(self, S: Any, Y: Any, warmup: int = 0) -> RLS:
        """Reset, then one online pass over the valid steps of every sequence, in order."""
        s, y = self._data(S, Y, warmup)
        self.reset(s.shape[1], y.shape[1])
        self.partial_fit(s, y)
        return self

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        F = self.input_dim + int(self.fit_bias)
        return {**super()._shapes(), "P": (F, F)}

    def get_config(self) -> dict:
        return {"alpha": self.alpha, "forgetting": self.forgetting, "fit_bias": self.fit_bias, **self._dims_config()}

    @classmethod
    def from_config(cls, cfg: dict) -> RLS:
        return cls(**cfg)


#: readout class name -> class (model configs name their readout).
READOUTS: dict[str, type] = {"Ridge": Ridge, "RLS": RLS}
