"""Convolution layers: Conv1D, Conv2D, Conv2DTranspose (seed 003, channels-last, Keras arguments).

Each layer holds ``W`` in Keras's kernel layout and ``b``, and calls
:mod:`boucle.ops.conv` (a = b + Σ w·x over every receptive field, one GEMM per call)
followed by the activation g. Padding is Keras's ``"valid"``/``"same"`` (``"causal"`` for
Conv1D) or, as an extension for PyTorch's models, explicit zero padding (an int, one int
per axis, or (before, after) pairs).
"""

from __future__ import annotations

import numpy as np

from ..errors import BoucleError
from ..ops import activations
from ..ops import conv as conv_ops
from ._args import channels_last, check_spatial_x, int_tuple, padding_arg, spatial_input
from .base import Layer, register
from .core import _init_name

__all__ = ["Conv1D", "Conv2D", "Conv2DTranspose"]


class _Conv(Layer):
    """a = b + Σ_{p, c} W[p, c, o] x̃[s·i + d·p, c] over each receptive field, then y = g(a).

    ``x: (B, *spatial, C)`` -> ``(B, *spatial_out, filters)``; ``W: (*kernel_size, C, filters)``.
    """

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls, n = type(self).__name__, self.rank
        self.filters = int_tuple(filters, 1, "filters", cls)[0]
        self.kernel_size = int_tuple(kernel_size, n, "kernel_size", cls)
        self.strides = int_tuple(strides, n, "strides", cls)
        self.dilation_rate = int_tuple(dilation_rate, n, "dilation_rate", cls)
        self.padding = padding_arg(padding, n, cls, allow_causal=(n == 1 and cls == "Conv1D"))
        channels_last(data_format, cls)
        if groups != 1:
            raise BoucleError(f"{cls}: groups must be 1 (grouped convolutions are not implemented), got {groups!r}")
        activations.get(activation)
        self.activation = activation or "linear"
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def get_config(self) -> dict:
        pad = self.padding if isinstance(self.padding, str) else [list(p) for p in self.padding]
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": pad,
            "dilation_rate": list(self.dilation_rate),
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init_name(self.kernel_initializer),
            "bias_initializer": _init_name(self.bias_initializer),
        }

    # -- shapes ---------------------------------------------------------------
    def _kernel_shape(self, channels: int) -> tuple:
        return (*self.kernel_size, channels, self.filters)

    def _pads(self, spatial: tuple) -> tuple:
        return conv_ops.resolve_padding(self.padding, spatial, self.kernel_size, self.strides, self.dilation_rate)

    def _out_spatial(self, spatial: tuple) -> tuple:
        out = []
        for n, k, s, d, pad in zip(spatial, self.kernel_size, self.strides, self.dilation_rate, self._pads(spatial)):
            if n is None:
                out.append(None)
                continue
            span = d * (k - 1) + 1
            if span > n + pad[0] + pad[1]:
                raise BoucleError(
                    f"{self.name}: kernel_size {self.kernel_size} with dilation_rate "
                    f"{self.dilation_rate} spans {span}, larger than the padded input "
                    f"({n} + {pad[0] + pad[1]} padding) of spatial shape {tuple(spatial)}"
                )
            out.append(conv_ops.conv_output_length(n, k, s, d, pad))
        return tuple(out)

    def _build(self, input_shape):
        spatial_input(input_shape, self.rank, type(self).__name__)
        self._out_spatial(input_shape[:-1])
        self.add_param("W", self._kernel_shape(input_shape[-1]), self.kernel_initializer)
        if self.use_bias:
            self.add_param("b", (self.filters,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        spatial_input(input_shape, self.rank, type(self).__name__, channels=False)
        return (*self._out_spatial(input_shape[:-1]), self.filters)

    def compute_mask(self, x, mask):
        return None

    # -- computation ----------------------------------------------------------
    def _channels(self) -> int:
        return self.params["W"].shape[-2]

    def _check(self, x):
        x = np.asarray(x)
        check_spatial_x(x, self.rank, self.name, self._channels())
        self._out_spatial(x.shape[1:-1])
        return x.astype(self.dtype, copy=False)

    def forward(self, x, mask=None, training=False):
        x = self._check(x)
        pads = self._pads(x.shape[1:-1])
        if self.rank == 1:
            a, cache = conv_ops.conv1d_forward(
                x, self.params["W"], self.params.get("b"), self.strides[0], self.dilation_rate[0], pads[0]
            )
        else:
            a, cache = conv_ops.conv2d_forward(
                x, self.params["W"], self.params.get("b"), self.strides, self.dilation_rate, pads
            )
        y = activations.forward(self.activation, a)
        return y, (cache, y)

    def backward(self, dy, cache, need_dx: bool = True):
        """Accumulate dW, db; return dx (None with ``need_dx=False``: a model's first layer, whose
        input needs no gradient)."""
        conv_cache, y = cache
        da = activations.backward(self.activation, dy, y)
        back = conv_ops.conv1d_backward if self.rank == 1 else conv_ops.conv2d_backward
        dx, dW, db = back(da, conv_cache, self.params["W"], need_dx=need_dx)
        self.grads["W"] += dW
        if self.use_bias:
            self.grads["b"] += db
        return dx


@register
class Conv1D(_Conv):
    """1-D convolution over time: ``x (B, T, C)`` -> ``(B, T_out, filters)``; ``W (k, C, filters)``.

    ``padding="causal"`` pads d·(k − 1) steps on the left only (output t sees inputs <= t).
    """

    rank = 1


@register
class Conv2D(_Conv):
    """2-D convolution: ``x (B, H, W, C)`` -> ``(B, H_out, W_out, filters)``; ``W (kh, kw, C, filters)``.

    The seed's ``Conv2D(32, (3, 3), input_shape=(28, 28, 1), activation="relu")`` has
    3·3·1·32 + 32 = 320 parameters and outputs (26, 26, 32).
    """

    rank = 2


@register
class Conv2DTranspose(_Conv):
    """Transposed convolution (a learned up-sampling): each input pixel adds its kernel,
    scaled, onto the output at stride s — the adjoint of Conv2D with respect to its input.

    ``x (B, H, W, C)`` -> ``(B, H_out, W_out, filters)``; ``W (kh, kw, filters, C)`` (Keras's
    layout). ``padding="valid"``: H_out = (H − 1) s + max(d (k − 1) + 1, s);
    ``"same"``: H_out = H s; an int p is PyTorch's ``ConvTranspose2d`` padding. ``output_padding``
    adds rows/columns at the bottom/right (must be smaller than the stride or the dilation).
    """

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        if not isinstance(self.padding, str) and any(a != b for a, b in self.padding):
            raise BoucleError(f"Conv2DTranspose: padding must be 'valid', 'same' or symmetric ints, got {padding!r}")
        self.output_padding = (
            None
            if output_padding is None
            else int_tuple(output_padding, 2, "output_padding", "Conv2DTranspose", minimum=0)
        )
        if self.output_padding is not None:
            for op, s, d in zip(self.output_padding, self.strides, self.dilation_rate):
                if op >= max(s, d):
                    raise BoucleError(
                        f"Conv2DTranspose: output_padding must be smaller than the stride or the "
                        f"dilation ({self.strides}, {self.dilation_rate}), got {self.output_padding}"
                    )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "output_padding": None if self.output_padding is None else list(self.output_padding),
        }

    def _kernel_shape(self, channels: int) -> tuple:
        return (*self.kernel_size, self.filters, channels)

    def _geometry(self, spatial: tuple) -> tuple[tuple, tuple]:
        crops, outs = [], []
        for i, (n, k, s, d) in enumerate(zip(spatial, self.kernel_size, self.strides, self.dilation_rate)):
            pad = self.padding if isinstance(self.padding, str) else self.padding[i][0]
            op = None if self.output_padding is None else self.output_padding[i]
            crop, out = conv_ops.conv_transpose_geometry(n, k, s, d, pad, op)
            if out is not None and out <= 0:
                raise BoucleError(f"{self.name}: padding {self.padding} leaves no output for input size {n}")
            crops.append(crop)
            outs.append(out)
        return tuple(crops), tuple(outs)

    def _out_spatial(self, spatial: tuple) -> tuple:
        return self._geometry(spatial)[1]

    def _channels(self) -> int:
        return self.params["W"].shape[-1]

    def forward(self, x, mask=None, training=False):
        x = self._check(x)
        crop, out = self._geometry(x.shape[1:-1])
        a, cache = conv_ops.conv_transpose2d_forward(
            x, self.params["W"], self.params.get("b"), self.strides, self.dilation_rate, crop, out
        )
        y = activations.forward(self.activation, a)
        return y, (cache, y)

    def backward(self, dy, cache):
        conv_cache, y = cache
        da = activations.backward(self.activation, dy, y)
        dx, dW, db = conv_ops.conv_transpose2d_backward(da, conv_cache, self.params["W"])
        self.grads["W"] += dW
        if self.use_bias:
            self.grads["b"] += db
        return dx
