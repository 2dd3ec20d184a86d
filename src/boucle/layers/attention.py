"""Attention as a layer: the score parameters of :mod:`boucle.ops.attention` (Luong et al. 2015's
``dot`` and ``general``, Bahdanau et al. 2015's ``additive``) and its call on a query and a memory.

    α_ts = softmax_s score(q_t, e_s)   (masked memory positions get no weight)
    c_t = Σ_s α_ts e_s
"""

from __future__ import annotations

from ..errors import BoucleError
from ..ops import attention as attn_ops
from .base import Layer, register

__all__ = ["Attention"]


@register
class Attention(Layer):
    """Holds the score parameters of :mod:`boucle.ops.attention`; ``forward(q, e, mask)``.

    Built with ``input_shape = (H_q, H_e)``. ``W_a``, ``W_q``, ``W_k`` start Glorot-uniform,
    ``v`` uniform(±0.05).
    """

    def __init__(self, score: str, units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if score not in attn_ops.SCORES:
            raise BoucleError(f"attention: expected one of {list(attn_ops.SCORES)}, got {score!r}")
        self.score, self.units = score, units

    def get_config(self) -> dict:
        return {**super().get_config(), "score": self.score, "units": self.units}

    def _build(self, input_shape):
        for k, shape in attn_ops.param_shapes(self.score, *input_shape, self.units).items():
            self.add_param(k, shape, "uniform" if k == "v" else "glorot_uniform")

    def forward(self, q, e, mask=None):
        """``q (B, T, H_q)``, memory ``e (B, S, H_e)``, ``mask (B, S)`` → ``((context (B, T, H_e),
        alpha (B, T, S)), cache)``."""
        ctx, alpha, cache = attn_ops.attention_forward(self.score, self.params, q, e, mask)
        return (ctx, alpha), cache

    def backward(self, d_context, cache):
        dq, de, grads = attn_ops.attention_backward(self.params, d_context, cache)
        for k, g in grads.items():
            self.grads[k] += g
        return dq, de
