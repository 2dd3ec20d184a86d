"""PyTorch convolutional modules <-> boucle layers; :func:`from_torch` / :func:`to_torch` for every kind.

torch is not a dependency of boucle: it is imported inside the functions. Recurrent
modules (``nn.RNN``/``nn.LSTM``/``nn.GRU``) and recurrent boucle layers are handed to
:mod:`boucle.interop.torch`; this module converts the rest.

Layout differences
------------------

=====================  ==================================  ===================================
                       PyTorch 2.x (channels-first)        boucle / Keras (channels-last)
=====================  ==================================  ===================================
images                 (B, C, H, W); sequences (B, C, L)   (B, H, W, C); sequences (B, L, C)
``Conv2d`` weight      (O, I, kh, kw)                      ``W`` (kh, kw, I, O) = weight.permute(2, 3, 1, 0)
``Conv1d`` weight      (O, I, k)                           ``W`` (k, I, O) = weight.permute(2, 1, 0)
``ConvTranspose2d``    (I, O, kh, kw)                      ``W`` (kh, kw, O, I) = weight.permute(2, 3, 1, 0)
``Linear`` weight      (O, I), ``y = x Wᵀ + b``            ``W`` (I, O) = weight.T
``Flatten`` order      (C, H, W)                           (H, W, C): the next Linear's columns are permuted
``BatchNorm`` momentum 0.1 weighs the batch                m = 1 − 0.1 weighs the old value
running variance       unbiased M/(M − 1) σ²               ``unbiased_moving_variance=True`` on conversion
=====================  ==================================  ===================================

- **Padding.** torch's ``padding=p`` is symmetric; boucle's conv layers take explicit
  (before, after) pairs, so every torch padding converts exactly. torch's ``"same"``
  (stride 1) equals Keras's. Going back, Keras's asymmetric ``"same"`` becomes an
  ``nn.ZeroPad2d`` before an unpadded ``nn.Conv2d`` where the two sides differ.
- **Activations** inside boucle layers (``Conv2D(activation="relu")``) become a
  following ``nn.ReLU``/``nn.Tanh``/``nn.Sigmoid``/``nn.Softmax``; torch's activation
  modules become ``Activation`` layers.
- **Pooling.** ``MaxPool``/``AvgPool`` with ``padding=0``, ``dilation=1``, ``ceil_mode=False``
  are Keras's ``"valid"`` pooling. ``Upsample(mode="nearest")`` with an integer scale is ``UpSampling``.
- **Not converted** (a one-line error): groups, non-zero padding modes, BatchNorm without
  running statistics or with ``momentum=None``, ``Dropout2d``, Keras ``"same"`` transposed
  convolutions whose crop is not symmetric, ``Reshape``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BoucleError
from ..layers.base import Layer
from ..layers.conv import Conv1D, Conv2D, Conv2DTranspose
from ..layers.core import Activation, Dense, Dropout, Flatten
from ..layers.normalization import BatchNormalization
from ..layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from ..layers.recurrent import RNN
from ..layers.reshaping import UpSampling1D, UpSampling2D, ZeroPadding2D
from ..layers.wrappers import Bidirectional
from ..models import Sequential
from . import torch as rnn_interop

__all__ = ["from_torch", "to_torch", "layer_from_torch", "layer_to_torch"]

_ACTS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softmax": "softmax", "Identity": "linear"}


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _dtype(module) -> str | None:
    for p in module.parameters():
        return str(p.dtype).removeprefix("torch.")
    return None


def _pairs(padding, n: int):
    if isinstance(padding, str):
        return padding  # torch's "valid"/"same" are Keras's
    return tuple((int(p), int(p)) for p in padding)


def layer_from_torch(module, channels_first_shape: tuple | None = None, spatial_rank: int = 2) -> tuple[Layer, dict]:
    """One torch module -> (an unbuilt boucle layer, its weights in boucle's layout).

    ``channels_first_shape``: the (C, H, W) input of a ``Linear`` that follows ``Flatten``,
    whose columns are then reordered from (C, H, W) to (H, W, C). ``spatial_rank``: 1 or 2,
    the rank of an ``Upsample``'s input (sequences or images).
    """
    torch = rnn_interop._torch()
    nn, kind = torch.nn, type(module).__name__
    dtype = _dtype(module)
    kw = {} if dtype is None else {"dtype": dtype}
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
        if module.groups != 1 or module.padding_mode != "zeros":
            raise BoucleError(
                f"module: {kind} needs groups=1 and padding_mode='zeros', got groups={module.groups}, "
                f"padding_mode={module.padding_mode!r}"
            )
        use_bias = module.bias is not None
        n = 1 if isinstance(module, nn.Conv1d) else 2
        common = dict(strides=module.stride, dilation_rate=module.dilation, use_bias=use_bias, **kw)
        if isinstance(module, nn.ConvTranspose2d):
            layer = Conv2DTranspose(
                module.out_channels,
                module.kernel_size,
                padding=tuple(module.padding),
                output_padding=tuple(module.output_padding),
                **common,
            )
        else:
            cls = Conv1D if n == 1 else Conv2D
            layer = cls(module.out_channels, module.kernel_size, padding=_pairs(module.padding, n), **common)
        perm = (2, 1, 0) if n == 1 else (2, 3, 1, 0)
        w = {"W": np.ascontiguousarray(_np(module.weight).transpose(perm))}
        if use_bias:
            w["b"] = _np(module.bias)
        return layer, w
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if not module.track_running_stats or module.momentum is None:
            raise BoucleError(
                f"module: {kind} needs running statistics with a momentum, got "
                f"track_running_stats={module.track_running_stats}, momentum={module.momentum}"
            )
        layer = BatchNormalization(
            momentum=1.0 - module.momentum,
            epsilon=module.eps,
            center=module.affine,
            scale=module.affine,
            unbiased_moving_variance=True,
            **({"dtype": str(module.running_mean.dtype).removeprefix("torch.")}),
        )
        w = {"moving_mean": _np(module.running_mean), "moving_variance": _np(module.running_var)}
        if module.affine:
            w.update(gamma=_np(module.weight), beta=_np(module.bias))
        return layer, w
    if isinstance(module, nn.Linear):
        weight = _np(module.weight)  # (O, I)
        if channels_first_shape is not None and len(channels_first_shape) > 1:
            C, *spatial = channels_first_shape  # columns (c, h, w) -> (h, w, c)
            weight = weight.reshape(module.out_features, C, *spatial)
            weight = np.moveaxis(weight, 1, -1).reshape(module.out_features, -1)
        w = {"W": np.ascontiguousarray(weight.T)}
        if module.bias is not None:
            w["b"] = _np(module.bias)
        return Dense(module.out_features, use_bias=module.bias is not None, **kw), w
    if kind in _ACTS:
        if kind == "Softmax" and module.dim not in (-1, 1, None):
            raise BoucleError(f"module: Softmax over dim {module.dim} has no boucle twin, expected dim=1 or -1")
        return Activation(_ACTS[kind]), {}
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise BoucleError(
                f"module: Flatten must keep the batch axis only, expected start_dim=1, end_dim=-1, "
                f"got {module.start_dim}, {module.end_dim}"
            )
        return Flatten(), {}
    if type(module) is nn.Dropout:
        return Dropout(module.p), {}
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
        n = 1 if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)) else 2
        padding = module.padding if isinstance(module.padding, tuple) else (module.padding,) * n
        dilation = getattr(module, "dilation", 1)
        if any(padding) or module.ceil_mode or dilation not in (1, (1,) * n):
            raise BoucleError(
                f"module: {kind} converts with padding=0, dilation=1, ceil_mode=False, got "
                f"padding={module.padding}, dilation={dilation}, ceil_mode={module.ceil_mode}"
            )
        stride = module.stride if module.stride is not None else module.kernel_size
        cls = {
            ("Max", 1): MaxPooling1D,
            ("Max", 2): MaxPooling2D,
            ("Avg", 1): AveragePooling1D,
            ("Avg", 2): AveragePooling2D,
        }[(kind[:3], n)]
        return cls(module.kernel_size, strides=stride), {}
    if isinstance(module, nn.Upsample):
        scale = module.scale_factor
        scales = scale if isinstance(scale, tuple) else (scale,)
        if module.mode != "nearest" or scale is None or any(float(s) != int(s) for s in scales):
            raise BoucleError(
                f"module: Upsample converts with mode='nearest' and an integer scale_factor, got "
                f"mode={module.mode!r}, scale_factor={scale}"
            )
        ints = tuple(int(s) for s in scales)
        return (UpSampling1D(ints[0]) if spatial_rank == 1 else UpSampling2D(ints if len(ints) == 2 else ints[0])), {}
    if isinstance(module, nn.ZeroPad2d):
        l, r, t, b = module.padding
        return ZeroPadding2D(((t, b), (l, r))), {}
    raise BoucleError(
        f"module: {kind} has no boucle twin in boucle.interop (expected Conv1d, Conv2d, "
        f"ConvTranspose2d, BatchNorm1d/2d, Linear, pooling, Upsample, Flatten, Dropout, activations)"
    )


def from_torch(
    module: Any, *, input_shape: tuple | None = None, seed: int | None = None, dtype: Any = None, **rnn_kwargs: Any
):
    """A torch module as boucle: recurrent modules as in :func:`boucle.interop.torch.from_torch`,
    one conv/norm/linear/pooling module as one built layer, an ``nn.Sequential`` as a built
    :class:`~boucle.models.Sequential` holding the torch weights.

    Args:
        input_shape: the boucle (channels-last) input shape without the batch axis, e.g.
            ``(28, 28, 1)`` for torch inputs (B, 1, 28, 28). Needed when a ``Linear`` follows a
            ``Flatten`` of images (to reorder its columns) and to build a lone layer;
            otherwise inferred from the first module with unknown spatial sizes.
        dtype: of layers without parameters (pooling, activations, ...); default: the dtype of
            the module's first parameter (else boucle's float policy).
    """
    torch = rnn_interop._torch()
    nn = torch.nn
    if isinstance(module, nn.RNNBase):
        return rnn_interop.from_torch(module, **rnn_kwargs)
    if rnn_kwargs:
        raise BoucleError(
            f"from_torch: {sorted(rnn_kwargs)} apply to recurrent modules only, got a {type(module).__name__}"
        )
    modules = list(module) if isinstance(module, nn.Sequential) else [module]
    if not modules:
        raise BoucleError("module: expected at least one module, got an empty nn.Sequential")
    if dtype is None:
        dtype = next((str(p.dtype).removeprefix("torch.") for p in module.parameters()), None)
    shape = tuple(input_shape) if input_shape is not None else _guess_shape(modules[0])
    pairs, cur, flat_in = [], shape, None
    for m in modules:
        cf = None
        if flat_in is not None and isinstance(m, nn.Linear):
            before = flat_in
            if any(d is None for d in before):
                raise BoucleError(
                    "input_shape: a Linear after Flatten needs the image size to reorder its "
                    f"columns, got input_shape {input_shape} (pass e.g. input_shape=(28, 28, 1))"
                )
            cf = (before[-1], *before[:-1])
        layer, w = layer_from_torch(m, cf, spatial_rank=max(1, len(cur) - 1))
        if dtype is not None:
            layer._dtype_arg = str(dtype)
        pairs.append((layer, w, cur))
        if isinstance(layer, Flatten):
            flat_in = cur
            cur = (None,) if any(d is None for d in cur) else layer.compute_output_shape(cur)
        else:
            flat_in = flat_in if isinstance(layer, Dropout) else None
            cur = layer.compute_output_shape(cur)
    if not isinstance(module, nn.Sequential):
        layer, w, _ = pairs[0]
        layer.build(shape, 0 if seed is None else seed)
        layer.set_weights(w)
        return layer
    model = Sequential([p[0] for p in pairs], seed=seed, dtype=dtype)
    model.build(shape)
    for layer, w, _ in pairs:  # building drew fresh weights: put torch's back
        layer.set_weights(w)
    return model


def _guess_shape(m) -> tuple:
    torch = rnn_interop._torch()
    nn = torch.nn
    if isinstance(m, nn.Linear):
        return (m.in_features,)
    if isinstance(m, nn.Conv1d):
        return (None, m.in_channels)
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        return (None, None, m.in_channels)
    if isinstance(m, (nn.BatchNorm1d,)):
        return (m.num_features,)
    if isinstance(m, nn.BatchNorm2d):
        return (None, None, m.num_features)
    one_d = (nn.MaxPool1d, nn.AvgPool1d)
    two_d = (nn.MaxPool2d, nn.AvgPool2d, nn.Upsample, nn.ZeroPad2d)
    if isinstance(m, one_d + two_d):
        return (None, None) if isinstance(m, one_d) else (None, None, None)
    if type(m).__name__ in _ACTS or isinstance(m, (nn.Dropout, nn.Flatten)):
        return (None,)
    layer_from_torch(m)  # a module without a twin says so first
    raise BoucleError(f"input_shape: cannot infer the input shape from a {type(m).__name__}; pass input_shape=")


# ------------------------------------------------------------------ boucle -> torch
def _act_module(nn, activation: str, rank: int):
    if activation == "linear":
        return []
    if activation == "softmax":
        return [nn.Softmax(dim=1 if rank > 1 else -1)]
    return [{"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]()]


def _t(torch, a: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(a))


def layer_to_torch(layer: Layer, input_shape: tuple, flatten_shape: tuple | None = None) -> list:
    """The torch modules equal to one built boucle layer for inputs ``(B, *input_shape)`` (boucle layout)."""
    torch = rnn_interop._torch()
    nn = torch.nn
    tdtype = getattr(torch, layer.dtype.name)
    rank = len(input_shape) - 1
    if isinstance(layer, Conv2DTranspose):
        kh, kw, O, C = layer.params["W"].shape
        crops, outs = layer._geometry(input_shape[:-1])
        pads, ops = [], []
        for n, k, s, d, crop, out in zip(
            input_shape[:-1], layer.kernel_size, layer.strides, layer.dilation_rate, crops, outs
        ):
            op = None if n is None else out - ((n - 1) * s - 2 * crop + d * (k - 1) + 1)
            if op is None or not 0 <= op < max(s, d):
                raise BoucleError(
                    f"{layer.name}: padding {layer.padding!r} crops its output asymmetrically here; "
                    f"torch's ConvTranspose2d cannot (use integer padding)"
                )
            pads.append(crop)
            ops.append(op)
        m = nn.ConvTranspose2d(
            C,
            O,
            (kh, kw),
            stride=layer.strides,
            padding=tuple(pads),
            output_padding=tuple(ops),
            dilation=layer.dilation_rate,
            bias=layer.use_bias,
            dtype=tdtype,
        )
        with torch.no_grad():
            m.weight.copy_(_t(torch, layer.params["W"].transpose(3, 2, 0, 1)))
            if layer.use_bias:
                m.bias.copy_(_t(torch, layer.params["b"]))
        return [m] + _act_module(nn, layer.activation, rank)
    if isinstance(layer, (Conv1D, Conv2D)):
        W = layer.params["W"]
        n = W.ndim - 2
        pads = layer._pads(input_shape[:-1])
        mods = []
        if any(p[0] is None for p in pads):
            raise BoucleError(f"{layer.name}: padding='same' needs known spatial sizes for torch, got {input_shape}")
        if any(a != b for a, b in pads):  # asymmetric: pad first, then convolve unpadded
            flat = [v for p in reversed(pads) for v in p]  # torch's order: last axis first
            mods.append(nn.ZeroPad2d(tuple(flat)) if n == 2 else nn.ConstantPad1d(tuple(flat), 0.0))
            pads = tuple((0, 0) for _ in pads)
        cls = nn.Conv2d if n == 2 else nn.Conv1d
        m = cls(
            W.shape[-2],
            W.shape[-1],
            W.shape[:n],
            stride=layer.strides,
            padding=tuple(p[0] for p in pads),
            dilation=layer.dilation_rate,
            bias=layer.use_bias,
            dtype=tdtype,
        )
        with torch.no_grad():
            m.weight.copy_(_t(torch, W.transpose((3, 2, 0, 1) if n == 2 else (2, 1, 0))))
            if layer.use_bias:
                m.bias.copy_(_t(torch, layer.params["b"]))
        return mods + [m] + _act_module(nn, layer.activation, rank)
    if isinstance(layer, BatchNormalization):
        if layer.center != layer.scale:
            raise BoucleError(
                f"{layer.name}: torch's BatchNorm learns both or neither of gamma and beta, got "
                f"center={layer.center}, scale={layer.scale}"
            )
        F = layer.buffers["moving_mean"].shape[0]
        cls = nn.BatchNorm2d if len(input_shape) == 3 else nn.BatchNorm1d
        m = cls(F, eps=layer.epsilon, momentum=1.0 - layer.momentum, affine=layer.scale, dtype=tdtype)
        with torch.no_grad():
            m.running_mean.copy_(_t(torch, layer.buffers["moving_mean"]))
            m.running_var.copy_(_t(torch, layer.buffers["moving_variance"]))
            if layer.scale:
                m.weight.copy_(_t(torch, layer.params["gamma"]))
                m.bias.copy_(_t(torch, layer.params["beta"]))
        return [m]
    if isinstance(layer, Dense):
        W = layer.params["W"]  # (I, O)
        weight = W.T
        if flatten_shape is not None and len(flatten_shape) > 1:  # rows (h, w, c) -> torch's (c, h, w)
            weight = np.moveaxis(weight.reshape(W.shape[1], *flatten_shape), -1, 1).reshape(W.shape[1], -1)
        m = nn.Linear(W.shape[0], W.shape[1], bias=layer.use_bias, dtype=tdtype)
        with torch.no_grad():
            m.weight.copy_(_t(torch, weight))
            if layer.use_bias:
                m.bias.copy_(_t(torch, layer.params["b"]))
        return [m] + _act_module(nn, layer.activation, 0)
    if isinstance(layer, Activation):
        return _act_module(nn, layer.activation, rank)
    if isinstance(layer, Flatten):
        return [nn.Flatten()]
    if isinstance(layer, Dropout):
        return [nn.Dropout(layer.rate)]
    if isinstance(layer, (MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D)):
        if layer.padding != "valid":
            spatial = input_shape[:-1]
            pads = [(n - k) % s if n is not None else None for n, k, s in zip(spatial, layer.pool_size, layer.strides)]
            out = layer.compute_output_shape(input_shape)[:-1]
            valid = tuple(
                (n - k) // s + 1 if n is not None else None for n, k, s in zip(spatial, layer.pool_size, layer.strides)
            )
            if None in pads or out != valid:
                raise BoucleError(
                    f"{layer.name}: padding='same' pads this input ({input_shape}); torch's pooling "
                    f"pads symmetrically (use inputs whose size the stride divides)"
                )
        n = len(layer.pool_size)
        cls = {(True, 1): nn.MaxPool1d, (True, 2): nn.MaxPool2d, (False, 1): nn.AvgPool1d, (False, 2): nn.AvgPool2d}[
            (layer.mode == "max", n)
        ]
        return [cls(layer.pool_size, stride=layer.strides)]
    if isinstance(layer, (UpSampling1D, UpSampling2D)):
        return [
            nn.Upsample(
                scale_factor=tuple(float(s) for s in layer.size) if len(layer.size) > 1 else float(layer.size[0]),
                mode="nearest",
            )
        ]
    if isinstance(layer, ZeroPadding2D):
        (t, b), (l, r) = layer.padding
        return [nn.ZeroPad2d((l, r, t, b))]
    if isinstance(layer, (GlobalAveragePooling2D, GlobalMaxPooling2D)):
        pool = nn.AdaptiveAvgPool2d(1) if layer.mode == "avg" else nn.AdaptiveMaxPool2d(1)
        return [pool] + ([] if layer.keepdims else [nn.Flatten()])
    raise BoucleError(f"layer: {type(layer).__name__} has no torch twin in boucle.interop")


def to_torch(layers: Any, **rnn_kwargs: Any):
    """The torch twin of built boucle layers: recurrent layers (or a Sequential/list made only of
    them) as in :func:`boucle.interop.torch.to_torch`; one other layer as an ``nn.Sequential`` of
    its modules; a :class:`~boucle.models.Sequential` as an ``nn.Sequential`` taking channels-first
    inputs (``x.permute(0, 3, 1, 2)`` of boucle's images) and giving the same outputs (in
    channels-first layout for images)."""
    items = layers.layers if isinstance(layers, Sequential) else layers
    items = list(items) if isinstance(items, (list, tuple)) else [items]
    if not items or all(isinstance(l, (RNN, Bidirectional)) for l in items):
        return rnn_interop.to_torch(layers, **rnn_kwargs)
    if rnn_kwargs:
        raise BoucleError(f"to_torch: {sorted(rnn_kwargs)} apply to recurrent layers only")
    torch = rnn_interop._torch()
    if isinstance(layers, Sequential):
        if not layers.built:
            raise BoucleError("model: build it first (give the first layer input_shape= or call build())")
        shape = layers.built_input_shape
    else:
        if not items[0].built:
            raise BoucleError(f"{items[0].name}: layer is not built, call build(input_shape) first")
        shape = items[0].built_input_shape
    mods, flat = [], None
    for layer in items:
        mods += layer_to_torch(layer, shape, flat if isinstance(layer, Dense) else None)
        flat = tuple(shape) if isinstance(layer, Flatten) else (flat if isinstance(layer, Dropout) else None)
        shape = layer.compute_output_shape(shape)
    return torch.nn.Sequential(*mods)
