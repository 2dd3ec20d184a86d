r"""Skip-gram with negative sampling (word2vec; Mikolov et al. 2013, "Distributed Representations of
Words and Phrases and their Compositionality"), forward beside backward.

Each word w has an input vector v_w (a row of E, the embedding kept afterwards) and an output
vector u_w (a row of C, the context table). For a pair (center c, context o) seen in a window
and K words n_1..n_K drawn from the noise distribution P_n(w) ∝ count(w)^{3/4}, the loss is

    J(c, o) = −log σ(u_oᵀ v_c) − Σ_k log σ(−u_{n_k}ᵀ v_c)

(the positive pair is pulled together, the noise pairs pushed apart), and over a batch of B
pairs its mean. With s_o = u_oᵀ v_c, s_k = u_{n_k}ᵀ v_c and σ(−s) = 1 − σ(s):

    ∂J/∂s_o = σ(s_o) − 1,     ∂J/∂s_k = σ(s_k)
    ∂J/∂v_c = (σ(s_o) − 1) u_o + Σ_k σ(s_k) u_{n_k}
    ∂J/∂u_o = (σ(s_o) − 1) v_c,    ∂J/∂u_{n_k} = σ(s_k) v_c

(each divided by B for the mean). −log σ(s) = log(1 + e^{−s}) is computed as
``logaddexp(0, −s)``, finite for any s. The gradients here are with respect to the
gathered rows; :func:`scatter_rows` adds them into the tables (a word met twice in a batch
receives both contributions).
"""

from __future__ import annotations

import numpy as np

__all__ = ["sgns_forward", "sgns_backward", "scatter_rows"]


def _sigmoid(s: np.ndarray) -> np.ndarray:
    out = np.empty_like(s)
    pos = s >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-s[pos]))
    e = np.exp(s[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def sgns_forward(v: np.ndarray, u_pos: np.ndarray, u_neg: np.ndarray) -> tuple[float, tuple]:
    """Mean skip-gram negative-sampling loss of a batch of pairs.

    Args:
        v: ``(B, D)`` center vectors v_c (rows of E).
        u_pos: ``(B, D)`` context vectors u_o (rows of C).
        u_neg: ``(B, K, D)`` noise vectors u_{n_k} (rows of C).

    Returns:
        ``(J, cache)``: J = mean over the batch of −log σ(s_o) − Σ_k log σ(−s_k).
    """
    s_pos = np.einsum("bd,bd->b", v, u_pos)  # (B,)   s_o = u_oᵀ v_c
    s_neg = np.einsum("bkd,bd->bk", u_neg, v)  # (B, K) s_k = u_{n_k}ᵀ v_c
    loss = np.logaddexp(0.0, -s_pos).sum() + np.logaddexp(0.0, s_neg).sum()
    return float(loss) / len(v), (v, u_pos, u_neg, s_pos, s_neg)


def sgns_backward(cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`sgns_forward`'s J: ``(dv (B, D), du_pos (B, D), du_neg (B, K, D))``."""
    v, u_pos, u_neg, s_pos, s_neg = cache
    B = len(v)
    g_pos = (_sigmoid(s_pos) - 1.0) / B  # ∂J/∂s_o = (σ(s_o) − 1) / B
    g_neg = _sigmoid(s_neg) / B  # ∂J/∂s_k = σ(s_k) / B
    dv = g_pos[:, None] * u_pos + np.einsum("bk,bkd->bd", g_neg, u_neg)  # undoes s_o and s_k for v
    du_pos = g_pos[:, None] * v  # undoes s_o = u_oᵀ v_c for u_o
    du_neg = g_neg[:, :, None] * v[:, None, :]  # undoes s_k = u_kᵀ v_c for u_k
    return dv.astype(v.dtype, copy=False), du_pos.astype(v.dtype, copy=False), du_neg.astype(v.dtype, copy=False)


def scatter_rows(table_grad: np.ndarray, ids: np.ndarray, d: np.ndarray) -> None:
    """``table_grad[ids[i]] += d[i]`` for every i, repeated ids accumulated (in place).

    ``ids: (...)``, ``d: (..., D)``. Sorting the ids once and summing runs with
    ``np.add.reduceat`` is several times faster than ``np.add.at`` on large batches.
    """
    flat = ids.reshape(-1)
    rows = d.reshape(len(flat), -1)
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    table_grad[sorted_ids[starts]] += np.add.reduceat(rows[order], starts, axis=0)
