"""A reservoir of leaky integrate-and-fire neurons: the liquid of a liquid state machine (seed 004).

Seed 004 lists the liquid state machine among the variations of reservoir computing.
This is the circuit of Maass, Natschläger & Markram (2002), "Real-time computing
without stable states", with static synapses. Units: ms, mV, nA, MΩ.

Neuron ``j`` (membrane ``V``, excitatory and inhibitory synaptic currents ``I_e``, ``I_i``)::

    tau_m dV/dt   = -(V - V_rest) + R (I_e + I_i + I_b + I_in(t) + I_noise(t))
    tau_e dI_e/dt = -I_e + sum_{excitatory spikes s -> j} w_sj delta(t - t_s - dt)
    tau_i dI_i/dt = -I_i + sum_{inhibitory spikes s -> j} w_sj delta(t - t_s - dt)    (w_sj < 0)

``V >= V_threshold`` emits a spike, sets ``V := V_reset`` and holds it there for the
refractory period (3 ms excitatory, 2 ms inhibitory neurons); synaptic currents keep
decaying and summing meanwhile. A spike reaches its targets one step ``dt`` later.

**Integration: exact integration** (Rotter & Diesmann 1999) with a fixed step ``dt``.
Between spikes the system is linear with inputs held constant over a step, so one
step is a fixed propagator, exact for any ``dt``::

    V'   = V_rest + (V - V_rest) P22 + (1 - P22) R (I_b + I_in) + P21e I_e + P21i I_i
    I_e' = P11e I_e + (arriving weights),   I_i' = P11i I_i + (...)
    P22 = exp(-dt/tau_m), P11x = exp(-dt/tau_x),
    P21x = R tau_x / (tau_x - tau_m) (P11x - P22)    (R dt/tau_m P22 when tau_x = tau_m)

Forward Euler would need ``dt << tau`` and still drift; here the membrane between
spikes equals its closed form to rounding, and spikes land on the grid (<= ``dt`` late).

**Circuit.** Neurons on a 3-D integer grid (default: the smallest near-cube holding
``units`` points); a fraction ``inhibitory`` (20 %), placed at random, listed last.
``a`` connects to ``b != a`` with probability ``C_{type(a) type(b)} exp(-(D(a, b) /
lambda)^2)``, ``C = (EE 0.3, EI 0.2, IE 0.4, II 0.1)``, ``lambda = 2``; amplitudes Gamma
distributed (mean ``|A|``, std ``|A| / 2``), negative from inhibitory neurons. Static
synapses of amplitude ``0.2 A``, Maass et al.'s mean amplitudes ``A = (30, 60, 19, 19)``
nA scaled down (their synapses depress; static ones at ``0.3 A`` and above keep the
liquid firing after its input stops).

**Input.** ``input_coding="current"``: ``I_in = u_t W_in``, a fraction
``input_connectivity`` of entries uniform in +-``input_scaling`` nA (varied tuning
curves; centre the inputs). ``"rate"``: feature ``d`` is a Poisson spike train of rate
``max_rate * clip(u_{t,d}, 0, 1)`` Hz adding ``W_in`` (Gamma, mean ``input_scaling``)
to ``I_e``. Each input step is held for ``input_duration`` ms.

**Features**: ``r_j(t) = sum_{spikes s of j} exp(-(t - t_s) / tau_readout)`` at the end
of each input step, ``(N, T, H)`` for ``u (N, T, D)``. Vectorised over neurons and
sequences (state arrays ``(H, N)``; the recurrent input is two in-place CSR products,
cost ``nnz x N``). State (``last_state``, ``initial_state``): ``(N, 5H)`` packed as
``[V, I_e, I_i, refractory steps left, r]``; the zero state is ``V = V_reset``, the rest 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import allocation
from ..backend import make_rng
from ..errors import BoucleError
from ._sequences import Sequences, to_batch
from .reservoir import _check_fraction, _check_units, _csr_matvecs, _index_dtype

__all__ = ["LIFReservoir", "SpikeRecord"]

_CODINGS = ("current", "rate")
_BLOCK = 256  # presynaptic rows drawn per block (bounds the memory of the distance matrix)


@dataclass
class SpikeRecord:
    """One simulated sequence at the simulation step: spikes and recorded membrane potentials.

    ``spike_times`` (ms) and ``spike_neurons`` list every spike; ``v (n_steps, len(neurons))``
    holds ``V`` after each step (``times (n_steps,)``, ms) for the recorded ``neurons``.
    """

    dt: float
    times: np.ndarray
    spike_times: np.ndarray
    spike_neurons: np.ndarray
    neurons: np.ndarray
    v: np.ndarray
    n_excitatory: int
    units: int
    v_threshold: float
    v_reset: float


def _number(value: Any, name: str, low: float | None = None, strict: bool = True) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(value)
    )
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        want = "a finite number" if low is None else f"a finite number {'>' if strict else '>='} {low:g}"
        raise BoucleError(f"{name}: expected {want}, got {value!r}")
    return float(value)


def _pair(value: Any, name: str, low: float, strict: bool) -> tuple[float, float]:
    if np.ndim(value) == 0:
        value = (value, value)
    if len(value) != 2:
        raise BoucleError(f"{name}: expected one value or two (excitatory, inhibitory), got {value!r}")
    return tuple(_number(v, name, low, strict) for v in value)  # type: ignore[return-value]


def _quad(value: Any, name: str, high: float | None = None) -> tuple[float, ...]:
    if np.ndim(value) != 1 or len(value) != 4:
        raise BoucleError(f"{name}: expected 4 values (EE, EI, IE, II: presynaptic type first), got {value!r}")
    out = tuple(_number(v, name, 0.0, strict=False) for v in value)
    if high is not None and max(out) > high:
        raise BoucleError(f"{name}: expected values in [0, {high:g}], got {value!r}")
    return out


class LIFReservoir:
    """A liquid of leaky integrate-and-fire neurons (see the module docstring for the equations).

    Args:
        units: number of neurons ``H``.
        grid: ``(nx, ny, nz)`` integer grid holding the neurons (product >= units); None: a near-cube.
        inhibitory: fraction of inhibitory neurons in [0, 1).
        tau_m: membrane time constant (ms). resistance: membrane resistance ``R`` (MΩ).
        v_rest, v_threshold, v_reset: potentials (mV), ``v_threshold > v_reset``.
        refractory: refractory period (ms), one value or (excitatory, inhibitory).
        tau_syn: synaptic current time constants (ms) of excitatory and inhibitory synapses.
        background: constant current ``I_b`` (nA) into every neuron, or a range ``(low, high)``
            from which each neuron draws its own (uniformly; heterogeneous excitability).
        noise: standard deviation (nA) of a Gaussian current drawn every step (0: none).
        connection_prob: ``C`` for EE, EI, IE, II (presynaptic type first).
        connection_length: ``lambda``, in grid units.
        weights: mean synaptic amplitudes ``|A|`` (nA) for EE, EI, IE, II (inhibitory ones are made negative).
        input_coding: ``"current"`` or ``"rate"``. input_scaling: nA per unit input (current) or per input spike.
        input_connectivity: fraction of non-zero entries of ``W_in``. max_rate: rate coding's top rate (Hz).
        dt: simulation step (ms). input_duration: time each input step is held (ms, a multiple of ``dt``).
        tau_readout: time constant (ms) of the exponential filter on the spike trains.
        seed: int (reproducible) or None. input_dim: build at once.
        nnz: number of synapses (set when rebuilding a saved reservoir, so nothing is drawn).
    """

    dtype = np.dtype(np.float64)

    def __init__(
        self,
        units: int = 135,
        grid: Sequence[int] | None = None,
        inhibitory: float = 0.2,
        tau_m: float = 30.0,
        resistance: float = 1.0,
        v_rest: float = 0.0,
        v_threshold: float = 15.0,
        v_reset: float = 13.5,
        refractory: float | Sequence[float] = (3.0, 2.0),
        tau_syn: float | Sequence[float] = (3.0, 6.0),
        background: float = 13.5,
        noise: float = 0.0,
        connection_prob: Sequence[float] = (0.3, 0.2, 0.4, 0.1),
        connection_length: float = 2.0,
        weights: Sequence[float] = (6.0, 12.0, 3.8, 3.8),
        input_coding: str = "current",
        input_scaling: float = 20.0,
        input_connectivity: float = 0.3,
        max_rate: float = 200.0,
        dt: float = 0.5,
        input_duration: float = 10.0,
        tau_readout: float = 30.0,
        seed: int | None = None,
        input_dim: int | None = None,
        nnz: int | None = None,
    ) -> None:
        self.units = H = _check_units(units)
        allocation.count_layer("LIFReservoir")  # bounded while a model file is read
        if grid is None:
            n = max(1, math.ceil(H ** (1 / 3) - 1e-9))
            grid = (n, n, max(1, math.ceil(H / (n * n))))
        if (
            np.ndim(grid) != 1
            or len(grid) != 3
            or any(isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g <= 0 for g in grid)
            or int(np.prod(grid)) < H
        ):
            raise BoucleError(f"grid: expected 3 positive ints with product >= units={H}, got {grid!r}")
        self.grid = [int(g) for g in grid]
        self.inhibitory = _number(inhibitory, "inhibitory", 0.0, strict=False)
        if self.inhibitory >= 1.0:
            raise BoucleError(f"inhibitory: expected a fraction in [0, 1), got {inhibitory!r}")
        self.tau_m = _number(tau_m, "tau_m", 0.0)
        self.resistance = _number(resistance, "resistance", 0.0)
        self.v_rest = _number(v_rest, "v_rest")
        self.v_threshold = _number(v_threshold, "v_threshold")
        self.v_reset = _number(v_reset, "v_reset")
        if self.v_threshold <= self.v_reset:
            raise BoucleError(f"v_threshold: expected a value above v_reset={self.v_reset:g}, got {v_threshold!r}")
        self.refractory = _pair(refractory, "refractory", 0.0, strict=False)
        self.tau_syn = _pair(tau_syn, "tau_syn", 0.0, strict=True)
        if np.ndim(background) == 0:
            self.background: float | list[float] = _number(background, "background")
        else:
            if len(background) != 2 or _number(background[0], "background") > _number(background[1], "background"):
                raise BoucleError(
                    f"background: expected a number or a range (low, high) with low <= high, got {background!r}"
                )
            self.background = [float(background[0]), float(background[1])]
        self.noise = _number(noise, "noise", 0.0, strict=False)
        self.connection_prob = _quad(connection_prob, "connection_prob", high=1.0)
        self.connection_length = _number(connection_length, "connection_length", 0.0)
        self.weights = _quad(weights, "weights")
        if input_coding not in _CODINGS:
            raise BoucleError(f"input_coding: expected one of {_CODINGS}, got {input_coding!r}")
        self.input_coding = input_coding
        self.input_scaling = _number(input_scaling, "input_scaling", 0.0, strict=False)
        self.input_connectivity = _check_fraction(input_connectivity, "input_connectivity")
        self.max_rate = _number(max_rate, "max_rate", 0.0)
        self.dt = _number(dt, "dt", 0.0)
        self.input_duration = _number(input_duration, "input_duration", 0.0)
        k = self.input_duration / self.dt
        if abs(k - round(k)) > 1e-9 * max(1.0, k) or round(k) < 1:
            raise BoucleError(f"input_duration: expected a multiple of dt={self.dt:g} ms, got {input_duration!r}")
        self.steps_per_input = int(round(k))
        if self.max_rate * self.dt > 1000.0:
            raise BoucleError(
                f"max_rate: expected at most one spike per step (<= {1000.0 / self.dt:g} Hz at "
                f"dt={self.dt:g} ms), got {max_rate!r}"
            )
        self.tau_readout = _number(tau_readout, "tau_readout", 0.0)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise BoucleError(f"seed: expected a non-negative int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.n_excitatory = H - int(round(self.inhibitory * H))
        self._sim_rng = (
            make_rng(None) if seed is None else np.random.default_rng(np.random.SeedSequence([self.seed, 0x5E]))
        )
        self.input_dim: int | None = None
        self.W: sp.csr_array | None = None
        self.W_in: np.ndarray | None = None
        self.i_b: np.ndarray | None = None  # (H,) background current of each neuron
        self.positions: np.ndarray | None = None
        self.last_state: np.ndarray | None = None
        self._declared_nnz: int | None = None
        budget = allocation.active()
        if budget is None or not budget.placeholders:  # (a shapes-only build of a model file needs no constants)
            self._propagators()
        if input_dim is not None:
            input_dim = _check_units(input_dim, "input_dim")
            if nnz is None:
                self.build(input_dim)
            else:  # shapes from a saved config; set_weights fills them (charged to a file's budget)
                self._declared_nnz = _check_units(nnz, "nnz") if nnz else 0
                self.input_dim = input_dim
                w = {
                    k.split("/", 1)[1]: allocation.zeros(shape, dt_, "liquid weight")
                    for k, (shape, dt_) in self.weight_shapes().items()
                }
                if budget is None or not budget.placeholders:
                    w["W/indptr"][-1] = self._declared_nnz
                    self._set(w["W_in"], w["W/data"], w["W/indices"], w["W/indptr"], w["positions"], w["background"])

    # ------------------------------------------------------------------ constants
    def _propagators(self) -> None:
        dt, tm, R = self.dt, self.tau_m, self.resistance
        self.P22 = math.exp(-dt / tm)
        self.P11 = tuple(math.exp(-dt / ts) for ts in self.tau_syn)
        self.P21 = tuple(
            R * dt / tm * self.P22 if abs(ts - tm) < 1e-12 * tm else R * ts / (ts - tm) * (p11 - self.P22)
            for ts, p11 in zip(self.tau_syn, self.P11)
        )
        self.decay_readout = math.exp(-dt / self.tau_readout)
        He, H = self.n_excitatory, self.units
        self._nref = np.empty((H, 1), dtype=np.int32)  # refractory steps per neuron (its type)
        self._nref[:He] = int(math.ceil(self.refractory[0] / dt - 1e-9))
        self._nref[He:] = int(math.ceil(self.refractory[1] / dt - 1e-9))

    # ------------------------------------------------------------------ weights
    @property
    def built(self) -> bool:
        return self.W is not None

    @property
    def nnz(self) -> int | None:
        return self._declared_nnz if self.W is None else int(self.W.nnz)

    def build(self, input_dim: int) -> None:
        """Place the neurons, draw the synapses and ``W_in`` (same seed: same circuit)."""
        input_dim = _check_units(input_dim, "input_dim")
        if allocation.active() is not None:
            raise BoucleError("nnz: a saved liquid's config must give its number of synapses (nnz), got none")
        H, He = self.units, self.n_excitatory
        rng = make_rng(self.seed)
        pos_rng, w_rng, in_rng, b_rng = rng.spawn(4)
        nx, ny, nz = self.grid
        points = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1).reshape(-1, 3)
        if points.shape[0] > H:
            points = points[np.sort(pos_rng.choice(points.shape[0], size=H, replace=False))]
        positions = points[pos_rng.permutation(H)].astype(np.float64)  # excitatory neurons first, placed at random
        exc = np.arange(H) < He
        C = np.asarray(self.connection_prob).reshape(2, 2)  # [pre E/I, post E/I]
        A = np.asarray(self.weights).reshape(2, 2)
        post_type = (~exc).astype(int)
        rows, cols, vals = [], [], []
        for r0 in range(0, H, _BLOCK):
            r1 = min(H, r0 + _BLOCK)
            pre_type = (~exc[r0:r1]).astype(int)
            d2 = ((positions[r0:r1, None, :] - positions[None, :, :]) ** 2).sum(-1)  # (B, H)
            prob = C[pre_type[:, None], post_type[None, :]] * np.exp(-d2 / self.connection_length**2)
            prob[np.arange(r1 - r0), np.arange(r0, r1)] = 0.0  # no self-connection
            r, c = np.nonzero(w_rng.random(prob.shape) < prob)
            mean = A[pre_type[r], post_type[c]]
            w = w_rng.gamma(4.0, 1.0, size=r.size) * mean / 4.0  # mean |A|, sd |A| / 2
            rows.append(r + r0)
            cols.append(c)
            vals.append(np.where(pre_type[r] == 1, -w, w))
        rows_a, cols_a, vals_a = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        W = sp.csr_array((vals_a, (rows_a, cols_a)), shape=(H, H))
        W.sort_indices()
        k = max(1, int(round(self.input_connectivity * input_dim * H)))
        W_in = np.zeros(input_dim * H)
        pos_in = in_rng.choice(input_dim * H, size=k, replace=False)
        if self.input_coding == "current":  # varied gains and signs: varied tuning curves
            W_in[pos_in] = self.input_scaling * in_rng.uniform(-1.0, 1.0, size=k)
        else:  # excitatory input synapses, Gamma distributed as the liquid's
            W_in[pos_in] = self.input_scaling * in_rng.gamma(4.0, 0.25, size=k)
        if isinstance(self.background, list):
            i_b = b_rng.uniform(self.background[0], self.background[1], size=H)
        else:
            i_b = np.full(H, self.background)
        idt = _index_dtype(max(W.nnz, 1), H)
        self._set(W_in.reshape(input_dim, H), W.data, W.indices.astype(idt), W.indptr.astype(idt), positions, i_b)

    def _set(
        self,
        W_in: np.ndarray,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        positions: np.ndarray,
        i_b: np.ndarray,
    ) -> None:
        H, He = self.units, self.n_excitatory
        self.input_dim = W_in.shape[0]
        self.W_in = np.ascontiguousarray(W_in, dtype=np.float64)
        self.positions, self.i_b = positions, np.asarray(i_b, dtype=np.float64)
        self.W = sp.csr_array((data, indices, indptr), shape=(H, H))
        self._WeT = self._transposed(self.W[:He])  # (H, He): excitatory presynaptic rows
        self._WiT = self._transposed(self.W[He:])  # (H, H - He)

    @staticmethod
    def _transposed(M: Any) -> sp.csr_array:
        T = sp.csr_array(M).T.tocsr()
        T.sort_indices()
        return T

    def get_config(self) -> dict:
        return {
            "units": self.units,
            "grid": list(self.grid),
            "inhibitory": self.inhibitory,
            "tau_m": self.tau_m,
            "resistance": self.resistance,
            "v_rest": self.v_rest,
            "v_threshold": self.v_threshold,
            "v_reset": self.v_reset,
            "refractory": list(self.refractory),
            "tau_syn": list(self.tau_syn),
            "background": self.background,
            "noise": self.noise,
            "connection_prob": list(self.connection_prob),
            "connection_length": self.connection_length,
            "weights": list(self.weights),
            "input_coding": self.input_coding,
            "input_scaling": self.input_scaling,
            "input_connectivity": self.input_connectivity,
            "max_rate": self.max_rate,
            "dt": self.dt,
            "input_duration": self.input_duration,
            "tau_readout": self.tau_readout,
            "seed": self.seed,
            "input_dim": self.input_dim,
            "nnz": self.nnz,
        }

    def weight_shapes(self, prefix: str = "liquid") -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        H, nnz = self.units, self.nnz or 0
        idt = _index_dtype(max(nnz, 1), H)
        f64 = np.dtype(np.float64)
        return {
            f"{prefix}/W_in": ((self.input_dim, H), f64),
            f"{prefix}/W/data": ((nnz,), f64),
            f"{prefix}/W/indices": ((nnz,), idt),
            f"{prefix}/W/indptr": ((H + 1,), idt),
            f"{prefix}/positions": ((H, 3), f64),
            f"{prefix}/background": ((H,), f64),
        }

    def get_weights(self, prefix: str = "liquid") -> dict[str, np.ndarray]:
        """``W_in``, the synapses ``W`` (rows: presynaptic) as CSR components, grid positions, background currents."""
        if not self.built:
            raise BoucleError("liquid: not built yet (run it on data or call build(input_dim))")
        return {
            f"{prefix}/W_in": self.W_in,
            f"{prefix}/W/data": self.W.data,
            f"{prefix}/W/indices": self.W.indices,
            f"{prefix}/W/indptr": self.W.indptr,
            f"{prefix}/positions": self.positions,
            f"{prefix}/background": self.i_b,
        }

    def set_weights(self, weights: dict[str, np.ndarray], prefix: str = "liquid") -> None:
        if not self.built:
            raise BoucleError("liquid: build it (or rebuild it from a saved config) before set_weights")
        H = self.units
        for k, (shape, dtype) in self.weight_shapes(prefix).items():
            if k not in weights:
                raise BoucleError(f"weights: missing {k!r}")
            v = np.asarray(weights[k])
            sparse = k.endswith(("/W/data", "/W/indices"))  # any number of synapses
            ok = v.ndim == 1 if sparse else v.shape == shape
            ok = ok and (v.dtype.kind in "iu" if k.endswith(("/indices", "/indptr")) else v.dtype == np.float64)
            if not ok:
                raise BoucleError(
                    f"weights: {k!r} should be {np.dtype(dtype).name}"
                    f"{['nnz'] if sparse else list(shape)}, got {v.dtype.name}{list(v.shape)}"
                )
        indptr, indices = np.array(weights[f"{prefix}/W/indptr"]), np.array(weights[f"{prefix}/W/indices"])
        if (
            indptr[0] != 0
            or indptr[-1] != indices.size
            or (np.diff(indptr) < 0).any()
            or indices.size != np.asarray(weights[f"{prefix}/W/data"]).size
            or (indices.size and (indices.min() < 0 or indices.max() >= H))
        ):
            raise BoucleError(f"weights: {prefix}/W is not a valid {H}x{H} CSR matrix")
        self._set(
            np.array(weights[f"{prefix}/W_in"]),
            np.array(weights[f"{prefix}/W/data"]),
            indices,
            indptr,
            np.array(weights[f"{prefix}/positions"]),
            np.array(weights[f"{prefix}/background"]),
        )

    # ------------------------------------------------------------------ simulation
    def _initial(self, h0: Any, n: int, name: str = "initial_state") -> np.ndarray:
        H = self.units
        if h0 is None:
            s = np.zeros((n, 5 * H))
            s[:, :H] = self.v_reset
            return s
        s = np.asarray(h0, dtype=np.float64)
        if s.shape == (5 * H,):
            s = np.broadcast_to(s, (n, 5 * H))
        if s.shape != (n, 5 * H):
            raise BoucleError(
                f"{name}: expected shape ({5 * H},) or ({n}, {5 * H}) "
                f"(V, I_e, I_i, refractory steps, filtered spikes), got {s.shape}"
            )
        if not np.isfinite(s).all():
            raise BoucleError(f"{name}: expected finite values")
        return np.array(s)

    def simulate(
        self, u: np.ndarray, state: np.ndarray, lengths: np.ndarray | None = None, record: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray, SpikeRecord | None]:
        """Features ``(N, T, H)`` and last states ``(N, 5H)`` for ``u (N, T, D)`` from ``state (N, 5H)``.

        ``lengths``: each sequence's last state is read at its own last step.
        ``record``: neuron indices whose ``V`` is kept at every step of sequence 0, with all its spikes.
        """
        N, T, D = u.shape
        H, He, K = self.units, self.n_excitatory, self.steps_per_input
        if D != self.input_dim:
            raise BoucleError(f"X: expected {self.input_dim} features per step, got {D}")
        lengths = np.full(N, T) if lengths is None else np.asarray(lengths)
        st = state.reshape(N, 5, H).transpose(1, 2, 0).copy()  # (5, H, N), each (H, N) contiguous
        v, ie, ii, tr = st[0], st[1], st[2], st[4]
        refr = np.rint(st[3]).astype(np.int32)
        P22, (P11e, P11i), (P21e, P21i) = self.P22, self.P11, self.P21
        c0 = (1.0 - P22) * (self.v_rest + self.resistance * self.i_b[:, None])  # (H, 1)
        cin = (1.0 - P22) * self.resistance
        rate = self.input_coding == "rate"
        p_spike = self.max_rate * self.dt / 1000.0
        WeT, WiT, W_in = self._WeT, self._WiT, self.W_in
        feats = np.empty((T, H, N))
        last = np.empty((N, 5, H))
        sb = np.empty((H, N), dtype=bool)
        sf = np.empty((H, N))
        tmp = np.empty((H, N))
        rec_v, rec_s, rec = [], [], None
        if record is not None:
            rec = np.asarray(record, dtype=int)
            if rec.size and (rec.min() < 0 or rec.max() >= H):
                raise BoucleError(f"record: expected neuron indices in [0, {H}), got {list(record)[:5]}")
        ends = {}
        for i, L in enumerate(lengths):
            ends.setdefault(int(L) - 1, []).append(i)
        for t in range(T):
            if rate:
                c = c0
                p_in = p_spike * np.clip(u[:, t], 0.0, 1.0)  # (N, D) spike probability per step
            else:
                c = c0 + cin * (u[:, t] @ W_in).T  # (H, N): constant over the held input step
            for _ in range(K):
                v *= P22  # exact propagator, inputs held constant over the step
                v += c
                np.multiply(ie, P21e, out=tmp)
                v += tmp
                np.multiply(ii, P21i, out=tmp)
                v += tmp
                if self.noise:
                    v += (cin * self.noise) * self._sim_rng.standard_normal((H, N))
                ref = refr > 0
                np.copyto(v, self.v_reset, where=ref)  # refractory: held at reset
                refr -= ref
                np.greater_equal(v, self.v_threshold, out=sb)
                np.copyto(v, self.v_reset, where=sb)
                np.copyto(refr, self._nref, where=sb)
                sf[...] = sb
                ie *= P11e
                ii *= P11i
                if _csr_matvecs is not None:  # I_post += W^T s (arrives next step)
                    if He:
                        _csr_matvecs(H, He, N, WeT.indptr, WeT.indices, WeT.data, sf[:He].ravel(), ie.ravel())
                    if He < H:
                        _csr_matvecs(H, H - He, N, WiT.indptr, WiT.indices, WiT.data, sf[He:].ravel(), ii.ravel())
                else:  # pragma: no cover
                    ie += WeT @ sf[:He]
                    ii += WiT @ sf[He:]
                if rate:
                    s_in = (self._sim_rng.random((N, D)) < p_in).astype(np.float64)
                    ie += (s_in @ W_in).T
                tr *= self.decay_readout
                tr += sf
                if rec is not None:
                    rec_v.append(v[rec, 0].copy())
                    rec_s.append(np.flatnonzero(sb[:, 0]))
            feats[t] = tr
            for i in ends.get(t, ()):
                last[i] = (v[:, i], ie[:, i], ii[:, i], refr[:, i], tr[:, i])
        record_out = None
        if rec is not None:
            n_steps = len(rec_v)
            times = (np.arange(n_steps) + 1) * self.dt
            counts = [s.size for s in rec_s]
            record_out = SpikeRecord(
                self.dt,
                times,
                np.repeat(times, counts),
                np.concatenate(rec_s) if rec_s else np.zeros(0, int),
                rec,
                np.array(rec_v).reshape(n_steps, rec.size),
                He,
                H,
                self.v_threshold,
                self.v_reset,
            )
        return np.ascontiguousarray(feats.transpose(2, 0, 1)), last.reshape(N, 5 * H), record_out

    def run_batch(self, seqs: Sequences, h0: Any = None, drive: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Features ``(N, T_max, H)`` and last states ``(N, 5H)`` of a padded batch."""
        if drive is not None:
            raise BoucleError("feedback: the spiking reservoir takes no output feedback")
        if not self.built:
            self.build(seqs.data.shape[2])
        feats, last, _ = self.simulate(seqs.data, self._initial(h0, seqs.n), seqs.lengths)
        return feats, last

    def step(self, u: np.ndarray, state: np.ndarray, drive: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """One input step for a closed loop: ``u (N, D)``, ``state (N, 5H)`` -> features ``(N, H)``, state."""
        if drive is not None:
            raise BoucleError("feedback: the spiking reservoir takes no output feedback")
        feats, last, _ = self.simulate(u[:, None, :], state)
        return feats[:, 0], last

    def run(self, X: Any, initial_state: Any = None, record: Sequence[int] | None = None) -> Any:
        """Features for ``X`` ((T, D), (N, T, D) or a list), in its form; keeps :attr:`last_state`.

        ``record``: neuron indices whose membrane potential is recorded; then returns
        ``(features, SpikeRecord)`` for the first sequence (for :func:`plot_raster`, :func:`plot_membrane`).
        """
        seqs = to_batch(X, "X", dim=self.input_dim)
        if not self.built:
            self.build(seqs.data.shape[2])
        feats, last, rec = self.simulate(seqs.data, self._initial(initial_state, seqs.n), seqs.lengths, record)
        self.last_state = last[0] if seqs.kind == "single" else last
        out = seqs.restore(feats)
        return out if record is None else (out, rec)

    def unpack(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """Name the parts of a packed state ``(..., 5H)``: ``v``, ``i_exc``, ``i_inh``, ``refractory``, ``trace``."""
        s = np.asarray(state)
        H = self.units
        return {k: s[..., i * H : (i + 1) * H] for i, k in enumerate(("v", "i_exc", "i_inh", "refractory", "trace"))}

    def __repr__(self) -> str:
        return (
            f"LIFReservoir(units={self.units}, grid={tuple(self.grid)}, inhibitory={self.inhibitory:g}, "
            f"dt={self.dt:g} ms, input_coding={self.input_coding!r}, seed={self.seed})"
        )
