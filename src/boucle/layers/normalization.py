"""BatchNormalization (seed 003 imports it beside Conv2D), Keras arguments and defaults.

Normalises each feature of the last axis — a channel after ``Conv2D``, a unit after
``Dense`` — with the batch statistics while training and the moving statistics at
inference (equations in :mod:`boucle.ops.normalization`). ``gamma``/``beta`` are
parameters; ``moving_mean``/``moving_variance`` are buffers: saved with the model,
counted as non-trainable in ``summary()``, never seen by the optimizer.
"""

from __future__ import annotations

import numpy as np

from ..errors import BoucleError
from ..ops import normalization as bn_ops
from .base import Layer, register
from .core import _init_name

__all__ = ["BatchNormalization"]


@register
class BatchNormalization(Layer):
    """y = γ (x − μ)/√(σ² + ε) + β over the last axis; μ, σ² from the batch when
    ``training=True`` (and the moving statistics updated), else the moving statistics.

    Args:
        axis: the feature axis; only -1 (channels-last) is supported.
        momentum: m in moving ← m·moving + (1 − m)·batch (Keras: 0.99; PyTorch's 0.1 is 1 − m).
        epsilon: ε (Keras: 1e-3; PyTorch: 1e-5).
        center, scale: learn β, γ (else β = 0, γ = 1).
        unbiased_moving_variance: update the moving variance with M/(M − 1) σ², as PyTorch's
            running variance does (default False, as Keras).

    ``x: (B, ..., F)``; params ``gamma (F,)``, ``beta (F,)``; buffers ``moving_mean (F,)``,
    ``moving_variance (F,)``. A layer with ``trainable=False`` runs in inference mode, as in Keras.
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        unbiased_moving_variance: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if axis not in (-1,):
            raise BoucleError(f"BatchNormalization: axis must be -1 (channels-last), got {axis!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
            raise BoucleError(f"BatchNormalization: momentum must be a float in [0, 1], got {momentum!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise BoucleError(f"BatchNormalization: epsilon must be a positive float, got {epsilon!r}")
        self.axis = -1
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.unbiased_moving_variance = bool(unbiased_moving_variance)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": _init_name(self.beta_initializer),
            "gamma_initializer": _init_name(self.gamma_initializer),
            "moving_mean_initializer": _init_name(self.moving_mean_initializer),
            "moving_variance_initializer": _init_name(self.moving_variance_initializer),
            "unbiased_moving_variance": self.unbiased_moving_variance,
        }

    def _build(self, input_shape):
        if len(input_shape) < 1 or input_shape[-1] is None:
            raise BoucleError(
                f"BatchNormalization: input_shape must end with a known feature size, got {tuple(input_shape)}"
            )
        F = input_shape[-1]
        if self.scale:
            self.add_param("gamma", (F,), self.gamma_initializer)
        if self.center:
            self.add_param("beta", (F,), self.beta_initializer)
        self.add_buffer("moving_mean", (F,), self.moving_mean_initializer)
        self.add_buffer("moving_variance", (F,), self.moving_variance_initializer)

    def forward(self, x, mask=None, training=False):
        F = self.buffers["moving_mean"].shape[0]
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[-1] != F:
            raise BoucleError(f"{self.name}: x must be (batch, ..., {F}), got shape {x.shape}")
        x = x.astype(self.dtype, copy=False)
        gamma, beta = self.params.get("gamma"), self.params.get("beta")
        if not (training and self.trainable):
            return bn_ops.batch_norm_infer_forward(
                x, gamma, beta, self.buffers["moving_mean"], self.buffers["moving_variance"], self.epsilon
            )
        M = x.size // F
        if M < 2 and self.unbiased_moving_variance:
            raise BoucleError(
                f"{self.name}: the unbiased moving variance needs more than one value per feature "
                f"in training, got shape {x.shape}"
            )
        y, mu, var, cache = bn_ops.batch_norm_train_forward(x, gamma, beta, self.epsilon)
        bn_ops.moving_update(self.buffers["moving_mean"], mu, self.momentum)
        bn_ops.moving_update(
            self.buffers["moving_variance"],
            var * (M / (M - 1)) if self.unbiased_moving_variance else var,
            self.momentum,
        )
        return y, cache

    def backward(self, dy, cache):
        dx, dgamma, dbeta = bn_ops.batch_norm_backward(dy, cache, self.params.get("gamma"))
        if self.scale:
            self.grads["gamma"] += dgamma
        if self.center:
            self.grads["beta"] += dbeta
        return dx
