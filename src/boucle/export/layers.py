r"""boucle layers as ONNX nodes, one converter per layer class (inference mode).

A converter ``f(g, layer, x, lens, shape, batch) -> (y, lens)`` writes the nodes of one
layer: ``x`` is the input tensor's name (batch-first, channels-last, as boucle's arrays),
``shape`` its per-sample shape (``layer``'s ``build`` shape, None for unknown sizes),
``lens`` the (B,) int32 ``sequence_lens`` of the mask reaching the layer (or None).

What each layer becomes:

=======================  =================================================================
Dense                    ``MatMul`` (+ ``Add`` b), then the activation
Activation               ``Sigmoid`` / ``Tanh`` / ``Relu`` / ``Softmax(axis=-1)`` / nothing
Dropout                  nothing (inference)
Embedding                ``Gather(E, ids)``; ``mask_zero``: lens = Σ_t [id ≠ 0]
Masking                  valid = not all(x = mask_value) over the features; y = x ⊙ valid;
                         lens = Σ_t valid
SimpleRNN, LSTM, GRU     :mod:`boucle.export.recurrent`; Bidirectional: two nodes, merged
Flatten, Reshape         ``Flatten(axis=1)``, ``Reshape([0, *target_shape])``
RepeatVector             ``Expand`` of (B, 1, D) to (B, n, D)
Conv1D/2D, transposed    ``Conv`` / ``ConvTranspose`` between channels-first transposes,
                         pads as boucle resolves them (Keras's "same": the odd row after)
pooling                  ``MaxPool`` / ``AveragePool(count_include_pad=0)``;
                         global: ``ReduceMax`` / ``ReduceMean`` over the spatial axes
BatchNormalization       (x − μ) · 1/√(σ² + ε) · γ + β with the moving statistics,
                         the same float32 constants as boucle's inference pass
UpSampling1D/2D          ``Resize`` (nearest, asymmetric, floor): each value repeated
ZeroPadding2D            ``Pad``
=======================  =================================================================

A mask is carried as ``sequence_lens``: exact for right-padded rows (what
``pad_sequences`` makes by default), where the valid steps are a prefix of each row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import BoucleError
from ..layers import (
    Activation,
    AveragePooling1D,
    AveragePooling2D,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    Masking,
    MaxPooling1D,
    MaxPooling2D,
    RepeatVector,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding2D,
)
from ..layers.recurrent import RNN
from ..ops import conv as conv_ops
from ..ops import pooling as pool_ops
from .graph import Graph
from .recurrent import convert_rnn

__all__ = ["CONVERTERS", "convert_layer", "activation", "lengths_of"]

#: layer class -> converter.
CONVERTERS: dict[type, Callable] = {}


def _converts(*classes):
    def deco(fn):
        for c in classes:
            CONVERTERS[c] = fn
        return fn

    return deco


def activation(g: Graph, name: str, x: str) -> str:
    """g(x) for boucle's activation names."""
    if name == "linear":
        return x
    ops = {"sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}), "relu": ("Relu", {}), "softmax": ("Softmax", {"axis": -1})}
    if name not in ops:
        raise BoucleError(
            f"export_onnx: activation {name!r} has no ONNX operator here, expected one of {['linear', *ops]}"
        )
    op, attrs = ops[name]
    return g.node(op, [x], **attrs)


def lengths_of(g: Graph, valid: str, lens: str | None) -> str:
    """(B,) int32 lengths from a (B, T) 0/1 float ``valid``; combined with earlier ``lens`` (the minimum:
    both masks are prefixes, their intersection is the shorter)."""
    n = g.node("ReduceSum", [valid, g.const(np.array([1]), "axes")], keepdims=0)
    n = g.node("Cast", [n], to=6)  # int32
    return n if lens is None else g.node("Min", [lens, n])


def convert_layer(g: Graph, layer, x: str, lens: str | None, shape: tuple, batch: str):
    """The nodes of ``layer`` on ``x``; returns ``(y, lens)`` (lens None where the layer drops the mask)."""
    fn = CONVERTERS.get(type(layer))
    if fn is None:
        if isinstance(layer, RNN):
            fn = _rnn
        else:
            raise BoucleError(
                f"export_onnx: layer {layer.name!r} ({type(layer).__name__}) has no ONNX "
                f"converter; supported: {sorted(c.__name__ for c in CONVERTERS)} and the "
                "recurrent layers"
            )
    return fn(g, layer, x, lens, shape, batch)


def _keep(layer, lens):
    """The mask after a layer without a converter of its own for masks (boucle's compute_mask)."""
    return lens if layer.compute_mask(None, True) is True else None


@_converts(Dense)
def _dense(g, l, x, lens, shape, batch):
    y = g.node("MatMul", [x, g.const(l.params["W"], f"{l.name}_W")])
    if l.use_bias:
        y = g.node("Add", [y, g.const(l.params["b"], f"{l.name}_b")])
    return activation(g, l.activation, y), _keep(l, lens)


@_converts(Activation)
def _activation(g, l, x, lens, shape, batch):
    return activation(g, l.activation, x), _keep(l, lens)


@_converts(Dropout)
def _dropout(g, l, x, lens, shape, batch):
    return x, _keep(l, lens)


@_converts(Embedding)
def _embedding(g, l, x, lens, shape, batch):
    y = g.node("Gather", [g.const(l.params["E"], f"{l.name}_E"), x], axis=0)
    if l.mask_zero:
        valid = g.node("Cast", [g.node("Not", [g.node("Equal", [x, g.const(np.array(0))])])], to=1)
        lens = lengths_of(g, valid, lens)
    return y, lens


@_converts(Masking)
def _masking(g, l, x, lens, shape, batch):
    same = g.node("Cast", [g.node("Equal", [x, g.const(np.array(l.mask_value, dtype=np.float32))])], to=1)
    all_same = g.node("ReduceMin", [same], axes=[-1], keepdims=0)  # (B, T)
    valid = g.node("Sub", [g.const(np.array(1.0, dtype=np.float32)), all_same])
    y = g.node("Mul", [x, g.unsqueeze(valid, [-1])])
    return y, lengths_of(g, valid, None)  # Masking replaces the incoming mask


def _rnn(g, l, x, lens, shape, batch):
    if l.return_state:
        raise BoucleError(
            f"export_onnx: {l.name}: return_state=True gives several outputs; a Sequential is "
            "exported with one output per layer"
        )
    return convert_rnn(g, l, x, lens, batch), (lens if l.return_sequences else None)


@_converts(Bidirectional)
def _bidirectional(g, l, x, lens, shape, batch):
    if l.return_state or l.merge_mode is None:
        raise BoucleError(
            f"export_onnx: {l.name}: return_state=True or merge_mode=None gives several outputs; "
            "a Sequential is exported with one output per layer"
        )
    yf, yb = (convert_rnn(g, inner, x, lens, batch) for inner in l.layers)
    if l.merge_mode == "concat":
        y = g.node("Concat", [yf, yb], axis=-1)
    elif l.merge_mode == "sum":
        y = g.node("Add", [yf, yb])
    elif l.merge_mode == "mul":
        y = g.node("Mul", [yf, yb])
    else:
        y = g.node("Mul", [g.node("Add", [yf, yb]), g.const(np.array(0.5, dtype=np.float32))])
    return y, (lens if l.return_sequences else None)


@_converts(Flatten)
def _flatten(g, l, x, lens, shape, batch):
    return g.node("Flatten", [x], axis=1), None


@_converts(Reshape)
def _reshape(g, l, x, lens, shape, batch):
    return g.node("Reshape", [x, g.const(np.array([0, *l.target_shape]), "shape")]), None


@_converts(RepeatVector)
def _repeat(g, l, x, lens, shape, batch):
    return g.node("Expand", [g.unsqueeze(x, [1]), g.const(np.array([1, l.n, 1]), "shape")]), None


def _channels_first(g, x, rank):
    return g.transpose(x, [0, rank + 1, *range(1, rank + 1)])


def _channels_last(g, x, rank):
    return g.transpose(x, [0, *range(2, rank + 2), 1])


def _static(l, shape) -> tuple:
    if any(n is None for n in shape[:-1]):
        raise BoucleError(
            f"export_onnx: {l.name}: needs known spatial sizes to fix its padding, got input shape "
            f"{tuple(shape)}; build the model with them (input_shape=...)"
        )
    return tuple(shape[:-1])


@_converts(Conv1D, Conv2D)
def _conv(g, l, x, lens, shape, batch):
    rank = l.rank
    pads = conv_ops.resolve_padding(l.padding, shape[:-1], l.kernel_size, l.strides, l.dilation_rate)
    if any(p is None for pair in pads for p in pair):
        pads = conv_ops.resolve_padding(l.padding, _static(l, shape), l.kernel_size, l.strides, l.dilation_rate)
    W = np.transpose(l.params["W"], (rank + 1, rank, *range(rank)))  # (O, C, *k)
    inputs = [_channels_first(g, x, rank), g.const(W, f"{l.name}_W")]
    if l.use_bias:
        inputs.append(g.const(l.params["b"], f"{l.name}_b"))
    y = g.node(
        "Conv",
        inputs,
        kernel_shape=list(l.kernel_size),
        strides=list(l.strides),
        dilations=list(l.dilation_rate),
        pads=[p[0] for p in pads] + [p[1] for p in pads],
    )
    return activation(g, l.activation, _channels_last(g, y, rank)), None


@_converts(Conv2DTranspose)
def _conv_transpose(g, l, x, lens, shape, batch):
    spatial = _static(l, shape)
    crops, outs = l._geometry(spatial)
    begin, end, extra = [], [], []
    for n, k, s, d, crop, out in zip(spatial, l.kernel_size, l.strides, l.dilation_rate, crops, outs):
        canvas = (n - 1) * s + d * (k - 1) + 1
        over = crop + out - canvas  # rows past the canvas (zeros): ONNX's output_padding
        begin.append(crop)
        end.append(max(-over, 0))
        extra.append(max(over, 0))
    W = np.transpose(l.params["W"], (3, 2, 0, 1))  # (C, O, kh, kw)
    inputs = [_channels_first(g, x, 2), g.const(W, f"{l.name}_W")]
    if l.use_bias:
        inputs.append(g.const(l.params["b"], f"{l.name}_b"))
    y = g.node(
        "ConvTranspose",
        inputs,
        kernel_shape=list(l.kernel_size),
        strides=list(l.strides),
        dilations=list(l.dilation_rate),
        pads=begin + end,
        output_padding=extra,
    )
    return activation(g, l.activation, _channels_last(g, y, 2)), None


@_converts(MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D)
def _pool(g, l, x, lens, shape, batch):
    rank = l.rank
    if l.padding == "same":
        pads = [
            pool_ops.pool_geometry(n, k, s, "same")[0] for n, k, s in zip(_static(l, shape), l.pool_size, l.strides)
        ]
    else:
        pads = [(0, 0)] * rank
    attrs = {
        "kernel_shape": list(l.pool_size),
        "strides": list(l.strides),
        "pads": [p[0] for p in pads] + [p[1] for p in pads],
    }
    if l.mode == "avg":
        attrs["count_include_pad"] = 0
    y = g.node("MaxPool" if l.mode == "max" else "AveragePool", [_channels_first(g, x, rank)], **attrs)
    return _channels_last(g, y, rank), None


@_converts(GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D)
def _global_pool(g, l, x, lens, shape, batch):
    op = "ReduceMean" if l.mode == "avg" else "ReduceMax"
    return g.node(op, [x], axes=list(range(1, l.rank + 1)), keepdims=int(l.keepdims)), None


@_converts(BatchNormalization)
def _batch_norm(g, l, x, lens, shape, batch):
    var = l.buffers["moving_variance"].astype(np.float32)
    inv = (1.0 / np.sqrt(var + np.float32(l.epsilon))).astype(np.float32)  # as boucle's inference pass
    y = g.node("Sub", [x, g.const(l.buffers["moving_mean"], f"{l.name}_mean")])
    y = g.node("Mul", [y, g.const(inv, f"{l.name}_inv")])
    if "gamma" in l.params:
        y = g.node("Mul", [y, g.const(l.params["gamma"], f"{l.name}_gamma")])
    if "beta" in l.params:
        y = g.node("Add", [y, g.const(l.params["beta"], f"{l.name}_beta")])
    return y, _keep(l, lens)


@_converts(UpSampling1D, UpSampling2D)
def _upsample(g, l, x, lens, shape, batch):
    scales = np.array([1.0, *l.size, 1.0], dtype=np.float32)
    y = g.node(
        "Resize",
        [x, "", g.const(scales, "scales")],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return y, None


@_converts(ZeroPadding2D)
def _zero_pad(g, l, x, lens, shape, batch):
    (t, b), (lft, r) = l.padding
    return g.node("Pad", [x, g.const(np.array([0, t, lft, 0, 0, b, r, 0]), "pads")]), None
