"""Intrinsic plasticity: a reservoir that learns, unsupervised, before its readout (seed 004).

Seed 004 mentions reservoirs that learn ("avec réservoir apprenant"). Intrinsic
plasticity (IP; Triesch 2005, Schrauwen, Wardermann, Verstraeten, Steil & Stroobandt
2008, "Improving reservoirs using intrinsic plasticity") gives every unit ``j`` a
gain ``a_j`` and a bias ``b_j``::

    y_t = f(a ⊙ z_t + b),   z_t = u_t W_in + x_{t-1} W,   x_t = (1 - alpha) x_{t-1} + alpha y_t

and adapts them online, on the input alone, so that each unit's output distribution
approaches a target: for ``tanh``, a Gaussian ``N(mu, sigma^2)`` (Schrauwen et al.); for
``sigmoid``, an exponential of mean ``mu`` (Triesch). One stochastic gradient step of
the Kullback-Leibler divergence per time step, learning rate ``eta``::

    tanh:    db = -eta (-mu/sigma^2 + y/sigma^2 (2 sigma^2 + 1 - y^2 + mu y))
    sigmoid: db =  eta (1 - (2 + 1/mu) y + y^2/mu)
    both:    da =  eta / a + db z

(averaged over the sequences of a batch, which run together). The reservoir's
drawn bias is the initial ``b``, ``a`` starts at 1. After adaptation the gain is
folded into the weights (``W_in[:, j] *= a_j``, ``W[:, j] *= a_j``; ``b := b``), which
computes exactly ``f(a ⊙ z + b)`` with the reservoir's usual equation: the adapted
reservoir runs, saves and loads as any other (its spectral radius is no longer the
configured one). A second :meth:`IntrinsicPlasticity.fit` continues from the
adapted weights, with ``a`` starting again at 1.

IP is unsupervised and comes *before* the readout is fitted:
``IntrinsicPlasticity(...).fit(esn, x_train)``, then ``esn.fit(x_train, y_train)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, ndtr

from ..errors import BoucleError
from ._sequences import Sequences, to_batch
from .reservoir import Reservoir, _check_nonneg, _check_units

__all__ = ["IntrinsicPlasticity", "output_kl"]


def output_kl(y: Any, mu: float = 0.0, sigma: float = 0.2, target: str = "gaussian", bins: int = 40) -> float:
    """Mean over units of ``KL(p_j || q)``: each unit's output histogram ``p_j`` against the target ``q``.

    ``y (T, H)`` (or ``(N, T, H)``): unit outputs. ``target="gaussian"``: ``q = N(mu, sigma^2)``
    on ``bins`` equal bins of [-1, 1] (tanh's range); ``"exponential"``: mean ``mu`` on [0, 1]
    (sigmoid's range). A histogram estimate: compare values computed with the same
    number of samples and bins.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim < 2 or y.size == 0 or not np.isfinite(y).all():
        raise BoucleError(f"y: expected finite outputs (T, H) or (N, T, H), got shape {y.shape}")
    y = y.reshape(-1, y.shape[-1])
    if target == "gaussian":
        edges = np.linspace(-1.0, 1.0, bins + 1)
        q = np.diff(ndtr((edges - mu) / sigma))
    elif target == "exponential":
        edges = np.linspace(0.0, 1.0, bins + 1)
        q = np.diff(-np.exp(-edges / mu))
    else:
        raise BoucleError(f"target: expected 'gaussian' or 'exponential', got {target!r}")
    q = np.maximum(q / q.sum(), 1e-12)
    idx = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, bins - 1)  # (T, H) bin of each output
    H = y.shape[1]
    counts = np.zeros((H, bins))
    np.add.at(counts, (np.broadcast_to(np.arange(H), idx.shape), idx), 1.0)
    p = counts / y.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return float(terms.sum(axis=1).mean())


class IntrinsicPlasticity:
    """Adapt each reservoir unit's gain and bias toward a target output distribution (see the module docstring).

    Args:
        mu, sigma: the target (Gaussian ``N(mu, sigma^2)`` for tanh; exponential of mean ``mu`` for sigmoid).
        learning_rate: ``eta``.
        epochs: passes over the data.
        warmup: steps at the start of each sequence run without learning (the transient).

    After :meth:`fit`: ``gain_`` and ``bias_`` (per layer, before folding), ``kl_``
    (per layer, the :func:`output_kl` of the outputs of each epoch, as they were produced).
    """

    def __init__(
        self, mu: float = 0.0, sigma: float = 0.2, learning_rate: float = 5e-4, epochs: int = 1, warmup: int = 0
    ) -> None:
        if isinstance(mu, bool) or not isinstance(mu, (int, float, np.integer, np.floating)) or not np.isfinite(mu):
            raise BoucleError(f"mu: expected a finite number, got {mu!r}")
        self.mu = float(mu)
        self.sigma = _check_nonneg(sigma, "sigma", positive=True)
        self.learning_rate = _check_nonneg(learning_rate, "learning_rate", positive=True)
        self.epochs = _check_units(epochs, "epochs")
        if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
            raise BoucleError(f"warmup: expected a non-negative int, got {warmup!r}")
        self.warmup = int(warmup)
        self.gain_: list[np.ndarray] = []
        self.bias_: list[np.ndarray] = []
        self.kl_: list[list[float]] = []

    def _rule(self, res: Reservoir) -> str:
        if res.activation == "tanh":
            return "gaussian"
        if res.activation == "sigmoid":
            if self.mu <= 0 or self.mu >= 1:
                raise BoucleError(
                    f"mu: a sigmoid reservoir's exponential target needs a mean in (0, 1), got {self.mu!r}"
                )
            return "exponential"
        raise BoucleError(
            f"activation: intrinsic plasticity needs a 'tanh' or 'sigmoid' reservoir, got {res.activation!r}"
        )

    def fit(self, model: Any, X: Any) -> IntrinsicPlasticity:
        """Adapt ``model`` in place: a :class:`Reservoir`, or every layer of an ESN / DeepESN in turn.

        ``X``: ``(T, D)``, ``(N, T, D)`` or a list of ``(T_i, D)``. Layer ``l`` adapts on
        the states of the already adapted layer ``l - 1``.
        """
        layers = getattr(model, "reservoirs", [model])
        if not all(isinstance(r, Reservoir) for r in layers):
            raise BoucleError(f"model: intrinsic plasticity needs tanh/sigmoid reservoirs, got {type(model).__name__}")
        if getattr(model, "feedback", False):
            raise BoucleError(
                "model: intrinsic plasticity runs on the input alone; a reservoir with output feedback "
                "is driven by its outputs too (adapt it before adding feedback)"
            )
        for res in layers:
            self._rule(res)
        seqs = to_batch(X, "X", dim=layers[0].input_dim, dtype=layers[0].dtype)
        if self.warmup >= int(seqs.lengths.min()):
            raise BoucleError(
                f"warmup: expected fewer steps than the shortest sequence "
                f"({int(seqs.lengths.min())} timesteps), got {self.warmup}"
            )
        self.gain_, self.bias_, self.kl_ = [], [], []
        for res in layers:
            if not res.built:
                res.build(seqs.data.shape[2])
            self._adapt(res, seqs)
            states, _ = res.run_batch(seqs)
            seqs = Sequences(states, seqs.lengths, seqs.kind)
        return self

    def _adapt(self, res: Reservoir, seqs: Sequences) -> None:
        target = self._rule(res)
        u, lengths = seqs.data, seqs.lengths
        N, T, D = u.shape
        H, alpha = res.units, res.leak_rate
        mu, s2, eta = self.mu, self.sigma**2, self.learning_rate
        f = np.tanh if target == "gaussian" else expit
        P = (u.reshape(N * T, D) @ res.W_in.astype(np.float64)).reshape(N, T, H)  # input part of z, all steps
        WT = res.W.T.tocsr().astype(np.float64)
        a, b = np.ones(H), res.b.astype(np.float64).copy()
        kls = []
        for _ in range(self.epochs):
            x = np.zeros((N, H))
            outs = np.empty((N, T, H))
            for t in range(T):
                z = P[:, t] + (WT @ x.T).T  # (N, H) net input
                y = f(a * z + b)
                outs[:, t] = y
                live = (t >= self.warmup) & (t < lengths)  # sequences that learn at this step
                if live.any():
                    yl, zl = y[live], z[live]
                    if target == "gaussian":
                        db = -eta * (-mu / s2 + yl / s2 * (2.0 * s2 + 1.0 - yl**2 + mu * yl))
                    else:
                        db = eta * (1.0 - (2.0 + 1.0 / mu) * yl + yl**2 / mu)
                    da = eta / a + db * zl
                    b += db.mean(axis=0)
                    a += da.mean(axis=0)
                x = (1.0 - alpha) * x + alpha * y if alpha != 1.0 else y
            valid = np.concatenate([outs[i, self.warmup : L] for i, L in enumerate(lengths)], axis=0)
            kls.append(output_kl(valid, mu, self.sigma, target))
        # fold the gain into the weights: f(a (u W_in + x W) + b) = f(u W_in' + x W' + b)
        W = res.W.copy()
        W.data = W.data * a[W.indices]  # CSR of W: column j scaled by a_j
        res._set((res.W_in * a).astype(res.dtype), b.astype(res.dtype), W.data.astype(res.dtype), W.indices, W.indptr)
        self.gain_.append(a)
        self.bias_.append(b)
        self.kl_.append(kls)
