r"""Attention over encoder outputs: scores, masked softmax and context, forward beside backward.

Beyond the course (seed 004 stops at the plain LSTM encoder / LSTM decoder): the
global attention of Luong, Pham & Manning 2015, "Effective Approaches to
Attention-based Neural Machine Translation", with its three score functions —
``dot`` and ``general`` (Luong's multiplicative forms) and ``additive`` (Bahdanau,
Cho & Bengio 2015's alignment model, called ``concat`` by Luong). Notation: decoder
outputs (queries) q_t, t = 1..T_y, encoder outputs (keys = values) e_s, s = 1..T_x,
source mask m_s ∈ {0, 1} (1 = a real character, 0 = padding)::

    dot       score_{ts} = q_t · e_s                               (needs H_q = H_e)
    general   score_{ts} = (q_t W_a) · e_s                         W_a: (H_q, H_e)
    additive  score_{ts} = v · tanh(q_t W_q + e_s W_k)             W_q: (H_q, A), W_k: (H_e, A), v: (A,)

    α_{ts} = m_s exp(score_{ts}) / Σ_{s'} m_{s'} exp(score_{ts'})   (masked softmax over the source)
    c_t    = Σ_s α_{ts} e_s                                        (context vector)

Padded source positions get exactly α = 0 (they never contribute, whatever their
values), and a row whose source is entirely padding gets α = 0 and c_t = 0.

Backward, each line undoing one forward line (dc_t given)::

    dα_{ts} = dc_t · e_s;                 de_s += Σ_t α_{ts} dc_t
    dscore_{ts} = α_{ts} (dα_{ts} − Σ_{s'} α_{ts'} dα_{ts'})        (softmax; 0 where m_s = 0)
    dot:      dq_t = Σ_s dscore_{ts} e_s;   de_s += Σ_t dscore_{ts} q_t
    general:  dk_t = Σ_s dscore_{ts} e_s;   de_s += Σ_t dscore_{ts} (q_t W_a);
              dW_a = Σ_{b,t} q_t^T dk_t;    dq_t = dk_t W_a^T
    additive: du_{ts} = dscore_{ts} v ⊙ (1 − u_{ts}²) with u = tanh(...);  dv = Σ dscore_{ts} u_{ts}
              dW_q = Σ q_t^T Σ_s du_{ts};   dq_t = (Σ_s du_{ts}) W_q^T
              dW_k = Σ e_s^T Σ_t du_{ts};   de_s += (Σ_t du_{ts}) W_k^T

Shapes (batch-first, as the layers): ``q: (B, T_y, H_q)``, ``e: (B, T_x, H_e)``,
``mask: (B, T_x)``; ``context: (B, T_y, H_e)``, ``alpha: (B, T_y, T_x)`` (returned
for plotting attention maps). The parameters ``p`` are a dict: ``{}`` (dot),
``{"W_a"}`` (general), ``{"W_q", "W_k", "v"}`` (additive); :func:`param_shapes`
gives their shapes. The additive score builds a (B, T_y, T_x, A) tensor: fine for
character-level tasks, where T_x and T_y are tens.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..errors import BoucleError

__all__ = ["SCORES", "param_shapes", "masked_softmax", "attention_forward", "attention_backward"]

#: the score functions: Luong's dot and general, Bahdanau's additive (Luong's "concat").
SCORES = ("dot", "general", "additive")


def param_shapes(score: str, H_q: int, H_e: int, units: int | None = None) -> dict[str, tuple]:
    """Parameter name -> shape for ``score`` (``units`` = A, additive only; default H_q)."""
    if score == "dot":
        if H_q != H_e:
            raise BoucleError(
                f"attention: score 'dot' needs decoder units == encoder output size, "
                f"got {H_q} and {H_e} (use 'general' or 'additive')"
            )
        return {}
    if score == "general":
        return {"W_a": (H_q, H_e)}
    if score == "additive":
        A = H_q if units is None else int(units)
        return {"W_q": (H_q, A), "W_k": (H_e, A), "v": (A,)}
    raise BoucleError(f"attention: score must be one of {list(SCORES)}, got {score!r}")


def masked_softmax(scores, mask=None):
    """α = m ⊙ exp(s − max) / Σ m ⊙ exp(s − max) over the last axis; all-masked rows give α = 0.

    scores: (B, T_y, T_x); mask: None or (B, T_x) (True/1 = valid).
    """
    xp = backend.xp()
    if mask is None:
        s = scores - scores.max(axis=-1, keepdims=True)
        a = xp.exp(s)
        a /= a.sum(axis=-1, keepdims=True)
        return a
    m = xp.asarray(mask, dtype=bool)[:, None, :]  # (B, 1, T_x)
    smax = xp.where(m, scores, -xp.inf).max(axis=-1, keepdims=True)  # (B, T_y, 1)
    smax = xp.where(xp.isfinite(smax), smax, 0.0)
    a = xp.exp(xp.where(m, scores - smax, -xp.inf))  # exactly 0 at padding
    den = a.sum(axis=-1, keepdims=True)
    a /= xp.where(den > 0, den, 1.0)
    return a


def attention_forward(score: str, p: dict, q, e, mask=None) -> tuple[Any, Any, tuple]:
    """Global attention of queries ``q`` over encoder outputs ``e`` (see the module docstring).

    Args:
        score: ``"dot"``, ``"general"`` or ``"additive"``.
        p: the score's parameters (:func:`param_shapes`).
        q: (B, T_y, H_q) decoder outputs; e: (B, T_x, H_e) encoder outputs.
        mask: None or (B, T_x) source mask (True = valid).

    Returns:
        ``context`` (B, T_y, H_e), ``alpha`` (B, T_y, T_x), ``cache`` for :func:`attention_backward`.
    """
    xp = backend.xp()
    if score not in SCORES:
        raise BoucleError(f"attention: score must be one of {list(SCORES)}, got {score!r}")
    u = qk = None
    if score == "dot":
        s = xp.matmul(q, e.transpose(0, 2, 1))  # (B, T_y, T_x)
    elif score == "general":
        qk = q @ p["W_a"]  # (B, T_y, H_e)
        s = xp.matmul(qk, e.transpose(0, 2, 1))  # (B, T_y, T_x)
    else:
        qa = q @ p["W_q"]  # (B, T_y, A)
        ka = e @ p["W_k"]  # (B, T_x, A)
        u = xp.tanh(qa[:, :, None, :] + ka[:, None, :, :])  # (B, T_y, T_x, A)
        s = u @ p["v"]  # (B, T_y, T_x)
    alpha = masked_softmax(s, mask)  # (B, T_y, T_x)
    context = xp.matmul(alpha, e)  # (B, T_y, H_e)
    return context, alpha, (score, q, e, alpha, qk, u)


def attention_backward(p: dict, d_context, cache: tuple, d_alpha=None) -> tuple[Any, Any, dict]:
    """Gradients of :func:`attention_forward`.

    Args:
        p: the same parameters as in the forward call.
        d_context: (B, T_y, H_e) gradient w.r.t. the context.
        cache: from :func:`attention_forward`.
        d_alpha: optional (B, T_y, T_x) gradient w.r.t. the attention weights.

    Returns:
        ``dq`` (B, T_y, H_q), ``de`` (B, T_x, H_e), ``{param: grad}``.
    """
    xp = backend.xp()
    score, q, e, alpha, qk, u = cache
    da = xp.matmul(d_context, e.transpose(0, 2, 1))  # dα = dc · e_s  (B, T_y, T_x)
    if d_alpha is not None:
        da = da + d_alpha
    de = xp.matmul(alpha.transpose(0, 2, 1), d_context)  # de_s = Σ_t α_ts dc_t
    ds = alpha * (da - (alpha * da).sum(axis=-1, keepdims=True))  # softmax backward; 0 at padding
    grads: dict = {}
    if score == "dot":  # s = q e^T
        dq = xp.matmul(ds, e)
        de += xp.matmul(ds.transpose(0, 2, 1), q)
    elif score == "general":  # s = (q W_a) e^T
        dqk = xp.matmul(ds, e)  # (B, T_y, H_e)
        de += xp.matmul(ds.transpose(0, 2, 1), qk)
        grads["W_a"] = q.reshape(-1, q.shape[-1]).T @ dqk.reshape(-1, dqk.shape[-1])
        dq = dqk @ p["W_a"].T
    else:  # s = tanh(q W_q + e W_k) v
        grads["v"] = (ds[..., None] * u).sum(axis=(0, 1, 2))
        du = ds[..., None] * p["v"]  # (B, T_y, T_x, A)
        du *= 1.0 - u * u  # tanh'
        dqa = du.sum(axis=2)  # (B, T_y, A)
        dka = du.sum(axis=1)  # (B, T_x, A)
        grads["W_q"] = q.reshape(-1, q.shape[-1]).T @ dqa.reshape(-1, dqa.shape[-1])
        grads["W_k"] = e.reshape(-1, e.shape[-1]).T @ dka.reshape(-1, dka.shape[-1])
        dq = dqa @ p["W_q"].T
        de += dka @ p["W_k"].T
    return dq, de, grads
