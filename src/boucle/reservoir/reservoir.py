"""The reservoir: a large, sparse, random recurrent layer that is never trained (seed 004).

Seed 004 ("Reservoir computing / Echo state network"): a dynamical system projects
the input into a high dimension; the random recurrent matrix must be sparse and
respect a condition on its eigenvalues (the spectral radius); only a linear
readout learns. State update (leaky integration, Jaeger et al. 2007), with the
course's row-vector convention ``x @ W``:

.. math::

    \\tilde x_t = f(u_t W_{in} + x_{t-1} W + b), \\qquad
    x_t = (1 - \\alpha)\\, x_{t-1} + \\alpha\\, \\tilde x_t

``u_t (D,)`` input, ``x_t (H,)`` state, ``W_in (D, H)`` input weights (the course's
``U``), ``W (H, H)`` sparse recurrent weights, ``b (H,)`` bias, ``alpha`` the leak
rate in (0, 1], ``f`` the activation (tanh). ``alpha = 1`` is the plain update
``x_t = f(u_t W_in + x_{t-1} W + b)``.

Weights, drawn as in reservoirpy 0.4.2 (its ``W`` is our ``W`` transposed, which
has the same spectrum):

- ``W``: exactly ``round(connectivity * H^2)`` non-zero entries at uniformly drawn
  positions, values N(0, 1), then rescaled so that max |eigenvalue| equals
  ``spectral_radius`` (dense eigenvalues up to :data:`DENSE_EIG_MAX` units,
  the Krylov–Schur method above: :func:`spectral_radius`);
- ``W_in``: ``round(input_connectivity * D * H)`` non-zero entries, values +-1
  with probability 1/2, times ``input_scaling`` (a scalar or one value per input
  feature);
- ``b``: ``bias_scaling`` times +-1 entries (all units); ``bias_scaling=0`` (the
  default, as reservoirpy's ``bias=0``) gives no bias.

Speed: the input projection ``u_t W_in + b`` of all steps is one GEMM before the
loop. With numba installed (``boucle[fast]``) the loop itself is one compiled call
(:mod:`boucle.reservoir._fast`: sparse product, activation and leak fused per unit);
otherwise, and with ``engine="reference"``, the reference loop below runs: one SciPy
CSR product per step, several sequences together (one sparse mat-mat product per
step). The two agree to rounding (tests: 1e-12 in float64).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from .. import allocation
from ..backend import make_rng
from ..errors import BoucleError
from ._sequences import Sequences, to_batch
from ._spectral import DENSE_EIG_MAX, spectral_radius

try:  # scipy's CSR kernels, called directly: y += A @ x without temporaries or dispatch
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - other scipy layouts fall back to the public API
    _csr_matvec = _csr_matvecs = None

try:  # optional dependency: boucle[fast]
    from . import _fast
except ImportError:  # numba missing (or too old / too new for NumPy)
    _fast = None

#: numba could be imported: the compiled state loop (:mod:`boucle.reservoir._fast`) exists.
FAST_AVAILABLE: bool = _fast is not None
#: :meth:`Reservoir.forward` with ``engine="auto"`` runs the compiled loop (``BOUCLE_NO_NUMBA=1`` in the
#: environment, or setting this to False, keeps it on the reference loop).
FAST_ENABLED: bool = FAST_AVAILABLE and os.environ.get("BOUCLE_NO_NUMBA", "0") in ("", "0")
ENGINES = ("auto", "reference", "compiled")

__all__ = ["Reservoir", "EchoStateWarning", "spectral_radius", "DENSE_EIG_MAX", "FAST_AVAILABLE", "ENGINES"]


class EchoStateWarning(UserWarning):
    """A reservoir that may not have the echo state property (spectral radius >= 1)."""


def _user_stacklevel() -> int:
    """``stacklevel`` pointing a warning at the first frame outside boucle.reservoir (the user's line)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    return level


def _ufunc_tanh(z: np.ndarray) -> None:
    np.tanh(z, out=z)


def _ufunc_sigmoid(z: np.ndarray) -> None:
    expit(z, out=z)


def _ufunc_relu(z: np.ndarray) -> None:
    np.maximum(z, 0, out=z)


def _ufunc_linear(z: np.ndarray) -> None:
    pass


#: activation name -> in-place f(z) (the loop applies f without allocating).
ACTIVATIONS = {"tanh": _ufunc_tanh, "sigmoid": _ufunc_sigmoid, "relu": _ufunc_relu, "linear": _ufunc_linear}


def _check_fraction(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or not 0.0 < float(value) <= 1.0
    ):
        raise BoucleError(f"{name}: expected a number in (0, 1], got {value!r}")
    return float(value)


def _check_nonneg(value: Any, name: str, positive: bool = False) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.floating, np.integer))
        and np.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        raise BoucleError(
            f"{name}: expected a {'positive' if positive else 'non-negative'} finite number, got {value!r}"
        )
    return float(value)


def _check_units(value: Any, name: str = "units") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise BoucleError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _index_dtype(*sizes: int) -> np.dtype:
    return np.dtype(np.int32 if max(sizes) < 2**31 - 1 else np.int64)


class Reservoir:
    """An echo state reservoir (see the module docstring for the equation and the draws).

    Args:
        units: number of reservoir units ``H`` (> 0).
        spectral_radius: target max |eigenvalue| of ``W`` (> 0). Values >= 1 warn
            (:class:`EchoStateWarning`): the echo state property (the state forgets
            its initial condition) usually fails without input, though driving
            inputs often restore it (reservoirpy's README uses 1.25). It is
            guaranteed (tanh, no bias) when the largest singular value of ``W`` is < 1.
        leak_rate: ``alpha`` in (0, 1]; 1 is the plain (non-leaky) update.
        input_scaling: scalar, or one factor per input feature.
        bias_scaling: scale of the +-1 bias (0: no bias).
        connectivity: density of ``W`` in (0, 1].
        input_connectivity: density of ``W_in`` in (0, 1].
        activation: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"linear"``.
        seed: int (reproducible, bit-identical), a ``numpy.random.Generator`` or None.
        dtype: ``"float64"`` (default: the readout's normal equations need it) or ``"float32"``.
        input_dim: build at once for ``D`` features (else on the first call).
    """

    def __init__(
        self,
        units: int,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float | Sequence[float] = 1.0,
        bias_scaling: float = 0.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        activation: str = "tanh",
        seed: int | np.random.Generator | None = None,
        dtype: Any = "float64",
        input_dim: int | None = None,
    ) -> None:
        self.units = _check_units(units)
        allocation.count_layer("Reservoir")  # bounded while a model file is read
        self.spectral_radius = _check_nonneg(spectral_radius, "spectral_radius", positive=True)
        self.leak_rate = _check_fraction(leak_rate, "leak_rate")
        if np.ndim(input_scaling) == 0:
            self.input_scaling: float | list[float] = _check_nonneg(input_scaling, "input_scaling")
        else:
            self.input_scaling = [_check_nonneg(v, "input_scaling") for v in np.asarray(input_scaling).ravel()]
        self.bias_scaling = _check_nonneg(bias_scaling, "bias_scaling")
        self.connectivity = _check_fraction(connectivity, "connectivity")
        self.input_connectivity = _check_fraction(input_connectivity, "input_connectivity")
        if activation not in ACTIVATIONS:
            raise BoucleError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        if isinstance(seed, np.random.Generator):
            self.seed, self._rng = None, seed
        else:
            self._rng = make_rng(seed)
            self.seed = None if seed is None else int(seed)
        dt = np.dtype(dtype) if dtype is not None else np.dtype("float64")
        if dt.name not in ("float32", "float64"):
            raise BoucleError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
        self.dtype = dt
        self.input_dim: int | None = None
        self.last_state: np.ndarray | None = None
        self.W_in: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.W: sp.csr_array | None = None
        self._WT: sp.csr_array | None = None  # W transposed, CSR: x @ W = W.T @ x, one CSR kernel
        if self.spectral_radius >= 1.0:
            warnings.warn(
                f"spectral_radius={self.spectral_radius:g} >= 1: the reservoir may lack the echo "
                "state property (its state need not forget the initial condition, it may stay "
                "chaotic); below 1 it usually holds, and driving inputs often keep it above 1",
                EchoStateWarning,
                stacklevel=_user_stacklevel(),
            )
        if input_dim is not None:
            self.build(_check_units(input_dim, "input_dim"))

    # ------------------------------------------------------------------ weights
    @property
    def built(self) -> bool:
        return self.W is not None

    @property
    def nnz(self) -> int:
        """Number of non-zero recurrent weights, fixed by ``units`` and ``connectivity``."""
        return max(1, int(round(self.connectivity * self.units * self.units)))

    def _input_nnz(self, input_dim: int) -> int:
        return max(1, int(round(self.input_connectivity * input_dim * self.units)))

    def build(self, input_dim: int) -> None:
        """Draw ``W``, ``W_in`` and ``b`` for ``input_dim`` input features (same seed: same weights)."""
        input_dim = _check_units(input_dim, "input_dim")
        if isinstance(self.input_scaling, list) and len(self.input_scaling) != input_dim:
            raise BoucleError(
                f"input_scaling: expected 1 or {input_dim} values (one per input feature), "
                f"got {len(self.input_scaling)}"
            )
        if allocation.active() is not None:  # a model file is read: its weights follow, nothing drawn
            self._reserve(input_dim)
            return
        H, dt = self.units, self.dtype
        rng = make_rng(self.seed) if self.seed is not None else self._rng
        w_rng, in_rng, b_rng = rng.spawn(3)
        # W: exact number of non-zeros at uniform positions, N(0, 1) values, rows sorted
        nnz = self.nnz
        pos = w_rng.choice(H * H, size=nnz, replace=False)
        if H * H <= 1 << 26:  # sorted by a mask of all positions (faster than np.sort; the same array)
            mask = np.zeros(H * H, dtype=bool)
            mask[pos] = True
            pos = np.flatnonzero(mask)
        else:
            pos = np.sort(pos)
        vals = w_rng.standard_normal(nnz)
        idt = _index_dtype(nnz, H)
        indptr = np.zeros(H + 1, dtype=idt)
        np.cumsum(np.bincount(pos // H, minlength=H), out=indptr[1:])
        W = sp.csr_array((vals, (pos % H).astype(idt), indptr), shape=(H, H))
        rho = spectral_radius(W, seed=w_rng, compiled=FAST_ENABLED)
        if rho < 1e-12:
            raise BoucleError(
                f"connectivity: the drawn {H}x{H} recurrent matrix ({nnz} non-zeros) has spectral "
                f"radius 0 and cannot be rescaled; raise connectivity above {self.connectivity:g}"
            )
        W.data *= self.spectral_radius / rho
        # W_in: sparse +-1 entries times the input scaling (per input feature)
        k = self._input_nnz(input_dim)
        pos_in = in_rng.choice(input_dim * H, size=k, replace=False)
        W_in = np.zeros(input_dim * H)
        W_in[pos_in] = in_rng.integers(0, 2, size=k) * 2.0 - 1.0
        W_in = W_in.reshape(input_dim, H) * np.asarray(self.input_scaling, dtype=np.float64).reshape(-1, 1)
        b = self.bias_scaling * (b_rng.integers(0, 2, size=H) * 2.0 - 1.0)
        self._set(W_in.astype(dt), b.astype(dt), W.data.astype(dt), W.indices, W.indptr)

    def _reserve(self, input_dim: int) -> None:
        """While a model file is read (:mod:`boucle.allocation`): charge the weights the config declares to
        the file's budget — no draw, no eigen-solve — and, past the shapes-only check, make them zeros."""
        self.input_dim = input_dim
        w = {
            k.split("/", 1)[1]: allocation.zeros(s, d, "reservoir weight") for k, (s, d) in self.weight_shapes().items()
        }
        if allocation.active().placeholders:
            return  # shapes only: weight_shapes() is all that is asked
        w["W/indptr"][-1] = self.nnz
        self._set(w["W_in"], w["b"], w["W/data"], w["W/indices"], w["W/indptr"])

    def _set(self, W_in: np.ndarray, b: np.ndarray, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> None:
        H = self.units
        self.input_dim = W_in.shape[0]
        self.W_in, self.b = W_in, b
        self.W = sp.csr_array((data, indices, indptr), shape=(H, H))
        WT = self.W.T.tocsr()
        WT.sort_indices()
        self._WT = WT
        # the compiled loop's gathers on unsigned indices (zero-copy views; see boucle.reservoir._fast)
        unsigned = {4: np.uint32, 8: np.uint64}
        self._WT_unsigned = (
            WT.indptr.view(unsigned[WT.indptr.dtype.itemsize]),
            WT.indices.view(unsigned[WT.indices.dtype.itemsize]),
        )

    def get_config(self) -> dict:
        return {
            "units": self.units,
            "spectral_radius": self.spectral_radius,
            "leak_rate": self.leak_rate,
            "input_scaling": self.input_scaling,
            "bias_scaling": self.bias_scaling,
            "connectivity": self.connectivity,
            "input_connectivity": self.input_connectivity,
            "activation": self.activation,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "input_dim": self.input_dim,
        }

    @classmethod
    def from_config(cls, cfg: dict) -> Reservoir:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EchoStateWarning)  # warned when the model was made
            return cls(**cfg)

    def weight_shapes(self, prefix: str = "reservoir") -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        H, D, nnz = self.units, self.input_dim, self.nnz
        idt = _index_dtype(nnz, H)
        return {
            f"{prefix}/W_in": ((D, H), self.dtype),
            f"{prefix}/b": ((H,), self.dtype),
            f"{prefix}/W/data": ((nnz,), self.dtype),
            f"{prefix}/W/indices": ((nnz,), idt),
            f"{prefix}/W/indptr": ((H + 1,), idt),
        }

    def get_weights(self, prefix: str = "reservoir") -> dict[str, np.ndarray]:
        """``W_in``, ``b`` and ``W`` as its CSR components ``W/data``, ``W/indices``, ``W/indptr``."""
        if not self.built:
            raise BoucleError("reservoir: not built yet (run it on data or call build(input_dim))")
        return {
            f"{prefix}/W_in": self.W_in,
            f"{prefix}/b": self.b,
            f"{prefix}/W/data": self.W.data,
            f"{prefix}/W/indices": self.W.indices,
            f"{prefix}/W/indptr": self.W.indptr,
        }

    def set_weights(self, weights: dict[str, np.ndarray], prefix: str = "reservoir") -> None:
        if self.input_dim is None:
            raise BoucleError("reservoir: set input_dim (build) before set_weights")
        want = self.weight_shapes(prefix)
        for k, (shape, dtype) in want.items():
            if k not in weights:
                raise BoucleError(f"weights: missing {k!r}")
            v = np.asarray(weights[k])
            if v.shape != shape or v.dtype != dtype:
                raise BoucleError(
                    f"weights: {k!r} should be {np.dtype(dtype).name}{list(shape)}, got {v.dtype.name}{list(v.shape)}"
                )
        indptr, indices = np.asarray(weights[f"{prefix}/W/indptr"]), np.asarray(weights[f"{prefix}/W/indices"])
        if (
            indptr[0] != 0
            or indptr[-1] != self.nnz
            or (np.diff(indptr) < 0).any()
            or (indices.size and (indices.min() < 0 or indices.max() >= self.units))
        ):
            raise BoucleError(f"weights: {prefix}/W is not a valid {self.units}x{self.units} CSR matrix")
        g = {k: np.array(weights[k]) for k in want}
        self._set(g[f"{prefix}/W_in"], g[f"{prefix}/b"], g[f"{prefix}/W/data"], indices.copy(), indptr.copy())

    # ------------------------------------------------------------------ running
    def _ensure_built(self, dim: int) -> None:
        if not self.built:
            self.build(dim)

    def _initial(self, h0: Any, n: int, name: str = "initial_state") -> np.ndarray:
        if h0 is None:
            return np.zeros((n, self.units), dtype=self.dtype)
        h = np.asarray(h0, dtype=self.dtype)
        if h.shape == (self.units,):
            h = np.broadcast_to(h, (n, self.units))
        if h.shape != (n, self.units):
            raise BoucleError(f"{name}: expected shape ({self.units},) or ({n}, {self.units}), got {h.shape}")
        if not np.isfinite(h).all():
            raise BoucleError(f"{name}: expected finite values")
        return np.array(h)

    def forward(
        self, u: np.ndarray, h0: np.ndarray, drive: np.ndarray | None = None, engine: str = "auto"
    ) -> np.ndarray:
        """States ``(N, T, H)`` for a padded batch ``u (N, T, D)`` from ``h0 (N, H)``.

        ``P = u W_in + b (+ drive)`` for all steps in one GEMM; then per step
        ``z = P_t + x_{t-1} W`` (CSR kernel adding into ``P_t`` in place),
        ``z = f(z)`` in place and ``x_t = (1 - alpha) x_{t-1} + alpha z``.
        ``drive (N, T, H)``: an extra input term known in advance (the teacher-forced
        output feedback ``y_{t-1} W_fb`` of :class:`~boucle.reservoir.ESN`).
        ``engine``: ``"auto"`` (the compiled loop when numba is installed and
        :data:`FAST_ENABLED`), ``"reference"`` (the NumPy/SciPy loop) or ``"compiled"``.
        """
        N, T, D = u.shape
        H, a = self.units, self.leak_rate
        if engine not in ENGINES:
            raise BoucleError(f"engine: expected one of {list(ENGINES)}, got {engine!r}")
        if engine == "compiled" and not FAST_AVAILABLE:
            raise BoucleError("engine: 'compiled' needs numba (pip install 'boucle[fast]'), which is not installed")
        f = ACTIVATIONS[self.activation]
        WT = self._WT
        P = u.reshape(N * T, D).astype(self.dtype, copy=False) @ self.W_in  # (N*T, H)
        P += self.b
        if drive is not None:
            P += drive.reshape(N * T, H)
        if engine == "compiled" or (engine == "auto" and FAST_ENABLED):
            Z = P.reshape(N, T, H)  # becomes the states in place
            s0 = np.ascontiguousarray(h0, dtype=self.dtype)
            indptr, indices = self._WT_unsigned
            _fast.echo_forward(indptr, indices, WT.data, Z, s0, float(a), _fast.CODES[self.activation])
            return Z
        if N == 1:
            Z = P  # (T, H): becomes the states in place
            s = np.ascontiguousarray(h0[0])
        else:
            Z = np.ascontiguousarray(P.reshape(N, T, H).transpose(1, 2, 0))  # (T, H, N)
            s = np.ascontiguousarray(h0.T)  # (H, N): the CSR kernel wants column vectors
        tmp = np.empty_like(s)
        c = 1.0 - a
        for t in range(T):
            z = Z[t]
            if N == 1:
                if _csr_matvec is not None:
                    _csr_matvec(H, H, WT.indptr, WT.indices, WT.data, s, z)  # z += W^T s
                else:  # pragma: no cover
                    z += WT @ s
            elif _csr_matvecs is not None:
                _csr_matvecs(H, H, N, WT.indptr, WT.indices, WT.data, s.ravel(), z.ravel())
            else:  # pragma: no cover
                z += WT @ s
            f(z)
            if a != 1.0:  # leaky integration: x_t = (1 - a) x_{t-1} + a f(.)
                z *= a
                np.multiply(s, c, out=tmp)
                z += tmp
            s = z
        if N == 1:
            return Z.reshape(1, T, H)
        return np.ascontiguousarray(Z.transpose(2, 0, 1))  # (N, T, H)

    def run(self, X: Any, initial_state: Any = None) -> Any:
        """States for ``X``: ``(T, H)`` for ``(T, D)``, ``(N, T, H)`` for ``(N, T, D)``, a list for a list.

        ``initial_state``: ``None`` (zeros), ``(H,)`` or ``(N, H)``. The last states
        are kept in :attr:`last_state` (``(H,)`` or ``(N, H)``).
        """
        seqs = to_batch(X, "X", dim=self.input_dim, dtype=self.dtype)
        self._ensure_built(seqs.data.shape[2])
        states = self.forward(seqs.data, self._initial(initial_state, seqs.n))
        last = states[np.arange(seqs.n), seqs.lengths - 1]
        self.last_state = last[0] if seqs.kind == "single" else last
        return seqs.restore(states)

    def run_batch(
        self, seqs: Sequences, h0: Any = None, drive: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """States ``(N, T_max, H)`` and last states ``(N, H)`` of a padded batch (no copy of the input)."""
        self._ensure_built(seqs.data.shape[2])
        if seqs.data.shape[2] != self.input_dim:
            raise BoucleError(f"X: expected {self.input_dim} features per step, got {seqs.data.shape[2]}")
        states = self.forward(seqs.data, self._initial(h0, seqs.n), drive)
        return states, states[np.arange(seqs.n), seqs.lengths - 1]

    def step(self, u: np.ndarray, state: np.ndarray, drive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One step for a closed loop: ``u (N, D)``, ``state (N, H)`` -> readout features and new state,
        both ``(N, H)``."""
        x = self.forward(u[:, None, :], state, None if drive is None else drive[:, None, :])[:, 0]
        return x, x

    def __repr__(self) -> str:
        return (
            f"Reservoir(units={self.units}, spectral_radius={self.spectral_radius:g}, "
            f"leak_rate={self.leak_rate:g}, connectivity={self.connectivity:g}, seed={self.seed})"
        )
