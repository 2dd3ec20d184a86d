"""Parity with PyTorch 2.13 (CPU, float64): F.conv1d/conv2d (padding, stride, dilation), conv_transpose2d,
max_pool2d/avg_pool2d (with Keras's "same" written out in torch as F.pad + pool), batch_norm (train and
eval, running statistics after several steps), interpolate(mode="nearest") — outputs and every
gradient < 1e-10 — through boucle.interop's converters (layouts (O, I, kh, kw) <-> (kh, kw, I, O),
flattening order), plus Keras's weight arrays and the converters' errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import boucle
from boucle.errors import BoucleError
from boucle.interop import from_keras_weights, from_torch, to_keras_weights, to_torch
from boucle.layers import (
    LSTM,
    AveragePooling1D,
    AveragePooling2D,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding2D,
)
from boucle.ops.conv import same_padding

TOL = 1e-10


def nchw(a):
    return torch.tensor(np.moveaxis(a, -1, 1).copy(), dtype=torch.float64)


def nhwc(t):
    return np.moveaxis(t.detach().numpy(), 1, -1)


def compare(layer, x, torch_fn, params=(), training=False, seed=0):
    """Outputs and gradients (input + each (boucle name, torch tensor, to-boucle layout fn)) < TOL."""
    rng = np.random.default_rng(seed)
    y, cache = layer.forward(x, training=training)
    R = rng.standard_normal(y.shape)
    layer.zero_grads()
    dx = layer.backward(R, cache)
    xt = nchw(x).requires_grad_()
    yt = torch_fn(xt)
    (yt * nchw(R)).sum().backward()
    assert np.abs(y - nhwc(yt)).max() < TOL
    assert np.abs(dx - nhwc(xt.grad)).max() < TOL
    for name, tensor, fn in params:
        assert np.abs(layer.grads[name] - fn(tensor.grad.numpy())).max() < TOL, name


def conv_params(module, n=2):
    perm = (2, 3, 1, 0) if n == 2 else (2, 1, 0)
    out = [("W", module.weight, lambda g: g.transpose(perm))]
    if module.bias is not None:
        out.append(("b", module.bias, lambda g: g))
    return out


# ----------------------------------------------------------------------------- convolutions


@pytest.mark.parametrize(
    "padding, stride, dilation, bias",
    [
        (0, 1, 1, True),
        (1, 1, 1, True),
        ((2, 1), (2, 1), 1, False),
        (0, 2, 2, True),
        ((1, 3), (1, 3), (2, 1), True),
        ("same", 1, 1, True),
        ("same", 1, (2, 3), True),
        ("valid", 3, 1, True),
    ],
)
@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_conv2d_matches_torch(padding, stride, dilation, bias):
    torch.manual_seed(0)
    m = torch.nn.Conv2d(3, 4, (3, 2), stride=stride, padding=padding, dilation=dilation, bias=bias, dtype=torch.float64)
    layer = from_torch(m, input_shape=(9, 8, 3))
    assert isinstance(layer, Conv2D) and layer.dtype == np.float64
    x = np.random.default_rng(1).standard_normal((2, 9, 8, 3))
    compare(layer, x, m, conv_params(m))


@pytest.mark.parametrize("stride, dilation, kernel", [(2, 1, 3), (2, 1, 4), (3, 2, 3), ((2, 1), 1, (2, 5))])
def test_keras_same_padding_is_torch_with_asymmetric_pad(stride, dilation, kernel):
    """Keras "same": Ho = ceil(H/s), the odd padding row after — in torch, F.pad then an unpadded conv."""
    torch.manual_seed(1)
    layer = Conv2D(2, kernel, strides=stride, padding="same", dilation_rate=dilation, dtype="float64")
    layer.build((9, 10, 2), 0)
    (t, b), (l, r) = layer._pads((9, 10))
    ks = layer.kernel_size
    assert (t, b) == same_padding(9, ks[0], layer.strides[0], layer.dilation_rate[0]) and b - t in (0, 1)
    Wt = torch.tensor(layer.params["W"].transpose(3, 2, 0, 1).copy(), requires_grad=True)
    bt = torch.tensor(layer.params["b"], requires_grad=True)
    fn = lambda xt: F.conv2d(F.pad(xt, (l, r, t, b)), Wt, bt, stride=layer.strides, dilation=layer.dilation_rate)  # noqa: E731
    x = np.random.default_rng(2).standard_normal((2, 9, 10, 2))
    compare(layer, x, fn, [("W", Wt, lambda g: g.transpose(2, 3, 1, 0)), ("b", bt, lambda g: g)])
    assert layer.compute_output_shape((9, 10, 2))[:2] == tuple(-(-n // s) for n, s in zip((9, 10), layer.strides))


@pytest.mark.parametrize("padding, stride, dilation", [(0, 1, 1), (2, 2, 1), (1, 1, 3), ("same", 1, 2), (0, 3, 2)])
def test_conv1d_matches_torch(padding, stride, dilation):
    torch.manual_seed(2)
    m = torch.nn.Conv1d(3, 5, 3, stride=stride, padding=padding, dilation=dilation, dtype=torch.float64)
    layer = from_torch(m, input_shape=(13, 3))
    x = np.random.default_rng(3).standard_normal((2, 13, 3))
    compare(layer, x, m, conv_params(m, 1))


@pytest.mark.parametrize(
    "stride, padding, output_padding, dilation",
    [(2, 0, 0, 1), (2, 1, 1, 1), ((1, 3), (0, 1), (0, 2), 1), (1, 1, 1, 2), (3, 2, 1, (1, 2))],
)
def test_conv_transpose2d_matches_torch(stride, padding, output_padding, dilation):
    torch.manual_seed(3)
    m = torch.nn.ConvTranspose2d(
        3,
        2,
        (3, 2),
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        dtype=torch.float64,
    )
    layer = from_torch(m, input_shape=(4, 5, 3))
    assert isinstance(layer, Conv2DTranspose)
    x = np.random.default_rng(4).standard_normal((2, 4, 5, 3))
    compare(layer, x, m, conv_params(m))


@pytest.mark.parametrize(
    "kernel, stride, output_padding", [(3, 2, None), (4, 2, None), (3, 1, None), (5, 2, 1), (2, 3, None), (3, 2, 0)]
)
def test_keras_same_transposed_is_torch_cropped(kernel, stride, output_padding):
    """Keras 3 "same" (the TensorFlow/JAX rule): output H·s, the canvas cropped at crop = k − 1 − left."""
    layer = Conv2DTranspose(2, kernel, strides=stride, padding="same", output_padding=output_padding, dtype="float64")
    layer.build((4, 3, 3), 0)
    (ch, cw), (Ho, Wo) = layer._geometry((4, 3))
    if output_padding is None:
        assert (Ho, Wo) == (4 * stride, 3 * stride)
    Wt = torch.tensor(layer.params["W"].transpose(3, 2, 0, 1).copy(), requires_grad=True)

    def fn(xt):
        full = F.conv_transpose2d(xt, Wt, stride=stride)  # the canvas, (H − 1) s + k rows
        full = F.pad(full, (0, max(0, cw + Wo - full.shape[3]), 0, max(0, ch + Ho - full.shape[2])))
        return full[:, :, ch : ch + Ho, cw : cw + Wo] + torch.tensor(layer.params["b"])[None, :, None, None]

    x = np.random.default_rng(5).standard_normal((2, 4, 3, 3))
    compare(layer, x, fn, [("W", Wt, lambda g: g.transpose(2, 3, 1, 0))])


# ----------------------------------------------------------------------------- pooling, up-sampling


@pytest.mark.parametrize("pool, stride", [((2, 2), None), ((3, 2), (1, 2)), ((3, 3), (2, 2)), ((2, 3), (3, 1))])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d_valid_matches_torch(pool, stride, kind):
    m = (torch.nn.MaxPool2d if kind == "max" else torch.nn.AvgPool2d)(pool, stride=stride)
    layer = from_torch(m, input_shape=(7, 8, 3), dtype="float64")
    assert isinstance(layer, MaxPooling2D if kind == "max" else AveragePooling2D)
    x = np.random.default_rng(6).standard_normal((2, 7, 8, 3))
    compare(layer, x, m)


@pytest.mark.parametrize(
    "pool, stride, size",
    [((2, 2), (2, 2), (7, 7)), ((3, 3), (2, 2), (8, 7)), ((3, 2), (1, 1), (5, 6)), ((2, 2), (3, 3), (7, 8))],
)
def test_pool2d_keras_same_matches_torch(pool, stride, size):
    """Keras "same": max pads −∞; average divides by the number of real inputs."""
    x = np.random.default_rng(7).standard_normal((2, *size, 2))
    (t, b), (l, r) = (same_padding(n, k, s, 1) for n, k, s in zip(size, pool, stride))
    mx = MaxPooling2D(pool, stride, padding="same", dtype="float64")
    mx.build((*size, 2), 0)
    compare(mx, x, lambda xt: F.max_pool2d(F.pad(xt, (l, r, t, b), value=-np.inf), pool, stride))
    av = AveragePooling2D(pool, stride, padding="same", dtype="float64")
    av.build((*size, 2), 0)
    ones = torch.ones(1, 1, *size, dtype=torch.float64)
    count = F.avg_pool2d(F.pad(ones, (l, r, t, b)), pool, stride, divisor_override=1)
    compare(av, x, lambda xt: F.avg_pool2d(F.pad(xt, (l, r, t, b)), pool, stride, divisor_override=1) / count)


def test_pool1d_and_global_pools_match_torch():
    rng = np.random.default_rng(8)
    x1 = rng.standard_normal((3, 11, 4))
    compare(from_torch(torch.nn.MaxPool1d(3, 2), input_shape=(11, 4), dtype="float64"), x1, torch.nn.MaxPool1d(3, 2))
    compare(from_torch(torch.nn.AvgPool1d(2), input_shape=(11, 4), dtype="float64"), x1, torch.nn.AvgPool1d(2))
    x2 = rng.standard_normal((3, 5, 6, 4))
    for layer, fn in [
        (GlobalAveragePooling2D(keepdims=True), lambda t: t.mean(dim=(2, 3), keepdim=True)),
        (GlobalMaxPooling2D(keepdims=True), lambda t: t.amax(dim=(2, 3), keepdim=True)),
    ]:
        layer._dtype_arg = "float64"
        layer.build((5, 6, 4), 0)
        compare(layer, x2, fn)


def test_upsampling_is_torch_nearest_interpolation():
    layer = from_torch(torch.nn.Upsample(scale_factor=(2, 3), mode="nearest"), input_shape=(4, 5, 3), dtype="float64")
    assert isinstance(layer, UpSampling2D) and layer.size == (2, 3)
    x = np.random.default_rng(9).standard_normal((2, 4, 5, 3))
    compare(layer, x, lambda t: F.interpolate(t, scale_factor=(2, 3), mode="nearest"))
    seq = from_torch(torch.nn.Upsample(scale_factor=3), input_shape=(5, 2), dtype="float64")
    assert isinstance(seq, UpSampling1D) and seq.size == (3,)
    x1 = np.random.default_rng(10).standard_normal((2, 5, 2))
    compare(seq, x1, lambda t: F.interpolate(t, scale_factor=3, mode="nearest"))


# ----------------------------------------------------------------------------- batch normalization


@pytest.mark.parametrize("cls, shape", [(torch.nn.BatchNorm2d, (5, 4, 3)), (torch.nn.BatchNorm1d, (3,))])
def test_batch_norm_train_eval_and_running_statistics(cls, shape):
    torch.manual_seed(4)
    m = cls(3, eps=1e-3, momentum=0.2, dtype=torch.float64)
    with torch.no_grad():
        m.weight.uniform_(0.5, 1.5)
        m.bias.normal_()
    layer = from_torch(m, input_shape=shape)
    assert layer.momentum == pytest.approx(0.8) and layer.unbiased_moving_variance
    rng = np.random.default_rng(10)
    params = [("gamma", m.weight, lambda g: g), ("beta", m.bias, lambda g: g)]
    to_t = nchw if len(shape) == 3 else (lambda a: torch.tensor(a))
    for step in range(4):  # training: batch statistics + updates
        x = rng.standard_normal((6, *shape)) * (step + 1) + step
        m.train()
        m.zero_grad()
        if len(shape) == 3:
            compare(layer, x, m, params, training=True, seed=step)
        else:
            y, cache = layer.forward(x, training=True)
            layer.zero_grads()
            R = rng.standard_normal(y.shape)
            dx = layer.backward(R, cache)
            xt = to_t(x).requires_grad_()
            yt = m(xt)
            (yt * torch.tensor(R)).sum().backward()
            assert np.abs(y - yt.detach().numpy()).max() < TOL and np.abs(dx - xt.grad.numpy()).max() < TOL
            assert np.abs(layer.grads["gamma"] - m.weight.grad.numpy()).max() < TOL
        assert np.abs(layer.buffers["moving_mean"] - m.running_mean.numpy()).max() < TOL
        assert np.abs(layer.buffers["moving_variance"] - m.running_var.numpy()).max() < TOL
    m.eval()  # inference: running statistics
    x = rng.standard_normal((4, *shape))
    m.zero_grad()
    if len(shape) == 3:
        compare(layer, x, m, params, training=False)
    else:
        assert np.abs(layer(x) - m(torch.tensor(x)).detach().numpy()).max() < TOL


def test_keras_momentum_keeps_the_biased_variance():
    layer = BatchNormalization(momentum=0.9, dtype="float64")
    layer.build((2,), 0)
    x = np.random.default_rng(11).standard_normal((5, 2))
    layer.forward(x, training=True)
    m = torch.nn.BatchNorm1d(2, momentum=0.1, dtype=torch.float64)
    m(torch.tensor(x))
    assert np.abs(layer.buffers["moving_mean"] - m.running_mean.numpy()).max() < TOL
    unbiased = m.running_var.numpy()  # torch: 0.9 + 0.1 · (5/4) σ²
    assert np.abs(layer.buffers["moving_variance"] - (0.9 + (unbiased - 0.9) * 4 / 5)).max() < TOL


# ----------------------------------------------------------------------------- whole models


def torch_cnn(classes=10, bn=True):
    torch.manual_seed(5)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.BatchNorm2d(6) if bn else nn.Identity(),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.2),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 16),
        nn.BatchNorm1d(16),
        nn.Tanh(),
        nn.Linear(16, classes),
        nn.Softmax(dim=1),
    ).double()


def test_sequential_from_torch_reorders_flatten_and_trains_alike():
    net = torch_cnn()
    model = from_torch(net, input_shape=(12, 12, 1))
    assert isinstance(model, boucle.Sequential) and model.output_shape == (10,)
    x = np.random.default_rng(12).standard_normal((5, 12, 12, 1))
    net.eval()
    assert np.abs(model.predict(x) - net(nchw(x)).detach().numpy()).max() < TOL
    net.train()  # training mode (dropout 0 to compare)
    net[7].p = 0.0
    model.layers[7].rate = 0.0
    y, cache = model.forward(x, training=True)
    R = np.random.default_rng(13).standard_normal(y.shape)
    model.zero_grads()
    model.backward(R, cache)
    xt = nchw(x).requires_grad_()
    out = net(xt)
    (out * torch.tensor(R)).sum().backward()
    assert np.abs(y - out.detach().numpy()).max() < TOL
    lin = net[9].weight.grad.numpy().reshape(16, 8, 2, 2)  # columns (c, h, w) -> rows (h, w, c)
    assert np.abs(model.layers[9].grads["W"] - np.moveaxis(lin, 1, -1).reshape(16, -1).T).max() < TOL
    assert np.abs(model.layers[0].grads["W"] - net[0].weight.grad.numpy().transpose(2, 3, 1, 0)).max() < TOL


def test_to_torch_round_trip_of_the_seed_models():
    cnn = boucle.Sequential(
        [
            Conv2D(8, 3, input_shape=(28, 28, 1), activation="relu"),
            MaxPooling2D(),
            Dropout(0.2),
            Conv2D(16, 4, strides=2, padding="same", activation="relu"),
            BatchNormalization(),
            MaxPooling2D(),
            Flatten(),
            Dense(32, activation="relu"),
            Dense(10, activation="softmax"),
        ],
        seed=0,
        dtype="float64",
    )
    x = np.random.default_rng(14).random((4, 28, 28, 1))
    net = to_torch(cnn).eval()
    assert isinstance(net[0], torch.nn.Conv2d) and any(isinstance(m, torch.nn.ZeroPad2d) for m in net)
    assert np.abs(cnn.predict(x) - net(nchw(x)).detach().numpy()).max() < TOL
    back = from_torch(net, input_shape=(28, 28, 1))
    assert np.abs(back.predict(x) - cnn.predict(x)).max() < TOL
    ae = boucle.Sequential(
        [
            Conv2D(8, 3, activation="relu", padding="same", input_shape=(28, 28, 1)),
            MaxPooling2D(padding="same"),
            Conv2D(4, 3, activation="relu", padding="same"),
            UpSampling2D(),
            Conv2DTranspose(4, 3, strides=1, padding="same"),
            ZeroPadding2D(1),
            Conv2D(1, 3, activation="sigmoid"),
        ],
        seed=0,
        dtype="float64",
    )
    net = to_torch(ae)
    assert np.abs(ae.predict(x) - nhwc(net(nchw(x)))).max() < TOL


def test_recurrent_modules_still_convert():
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    layer = from_torch(lstm, return_sequences=False)
    assert isinstance(layer, LSTM) and not layer.return_sequences
    assert isinstance(to_torch(layer), torch.nn.LSTM)


# ----------------------------------------------------------------------------- Keras arrays


def test_keras_conv_and_batch_norm_arrays():
    rng = np.random.default_rng(15)
    kernel, bias = rng.standard_normal((3, 2, 4, 5)), rng.standard_normal(5)
    layer = from_keras_weights("Conv2D", kernel, bias, strides=2, padding="same", activation="relu")
    assert isinstance(layer, Conv2D) and layer.filters == 5 and layer.dtype == np.float64
    x = rng.standard_normal((2, 7, 6, 4))
    (t, b), (l, r) = layer._pads((7, 6))
    ref = F.relu(
        F.conv2d(
            F.pad(nchw(x), (l, r, t, b)),
            torch.tensor(kernel.transpose(3, 2, 0, 1).copy()),
            torch.tensor(bias),
            stride=2,
        )
    )
    assert np.abs(layer(x) - nhwc(ref)).max() < TOL
    for a, b2 in zip(to_keras_weights(layer), [kernel, bias]):
        np.testing.assert_array_equal(a, b2)
    tr = from_keras_weights("Conv2DTranspose", rng.standard_normal((3, 3, 2, 4)), strides=2, padding="same")
    assert tr.filters == 2 and not tr.use_bias and tr(x).shape == (2, 14, 12, 2)
    c1 = from_keras_weights("conv1d", rng.standard_normal((3, 4, 6)), rng.standard_normal(6), padding="causal")
    assert c1(rng.standard_normal((2, 9, 4))).shape == (2, 9, 6)
    g, be, mm, mv = rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    bn = from_keras_weights("BatchNormalization", g, be, mm, mv, epsilon=1e-3)
    xb = rng.standard_normal((4, 3))
    assert np.abs(bn(xb) - (g * (xb - mm) / np.sqrt(mv + 1e-3) + be)).max() < TOL
    assert all(np.array_equal(a, b3) for a, b3 in zip(to_keras_weights(bn), [g, be, mm, mv]))
    no_gamma = from_keras_weights("BatchNormalization", be, mm, mv, scale=False)
    assert set(no_gamma.params) == {"beta"} and len(to_keras_weights(no_gamma)) == 3
    assert set(from_keras_weights("BatchNormalization", mm, mv).params) == set()
    d = from_keras_weights("Dense", rng.standard_normal((4, 2)), rng.standard_normal(2))
    assert isinstance(d, Dense) and len(to_keras_weights(d)) == 2


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: from_torch(torch.nn.Conv2d(4, 4, 3, groups=2)), r"Conv2d needs groups=1"),
        (lambda: from_torch(torch.nn.Conv2d(1, 4, 3, padding_mode="reflect")), r"padding_mode='zeros'"),
        (lambda: from_torch(torch.nn.MaxPool2d(2, padding=1)), r"MaxPool2d converts with padding=0"),
        (lambda: from_torch(torch.nn.BatchNorm2d(3, momentum=None)), r"BatchNorm2d needs running statistics"),
        (lambda: from_torch(torch.nn.Dropout2d(0.2), input_shape=(4, 4, 1)), r"Dropout2d has no boucle twin"),
        (
            lambda: from_torch(torch.nn.Upsample(scale_factor=1.5)),
            r"Upsample converts with mode='nearest' and an integer",
        ),
        (
            lambda: from_torch(
                torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))
            ),
            r"a Linear after Flatten needs the image size",
        ),
        (lambda: from_torch(torch.nn.Conv2d(1, 2, 3), return_sequences=True), r"apply to recurrent modules only"),
        (lambda: from_keras_weights("Conv2D", np.zeros((3, 3, 2))), r"Conv2D expects \[kernel \(4-D\), bias\]"),
        (
            lambda: from_keras_weights("BatchNormalization", np.ones(2), np.ones(2), np.ones(2)),
            r"scale=False or center",
        ),
        (lambda: from_keras_weights("Conv3D", np.zeros(1)), r"kind: expected one of Conv1D"),
    ],
)
def test_conversion_errors(make, match):
    with pytest.raises(BoucleError, match=match) as info:
        make()
    assert "\n" not in str(info.value)


def test_to_torch_errors():
    model = boucle.Sequential([Reshape((4, 4, 1), input_shape=(16,))], seed=0)
    with pytest.raises(BoucleError, match="Reshape has no torch twin"):
        to_torch(model)
    tr = Conv2DTranspose(2, 3, strides=2, padding="same")
    tr.build((4, 4, 1), 0)
    with pytest.raises(BoucleError, match="crops its output asymmetrically"):
        to_torch(tr)
    pool = MaxPooling1D(2, padding="same")
    pool.build((7, 2), 0)
    with pytest.raises(BoucleError, match="padding='same' pads this input"):
        to_torch(pool)
    avg = AveragePooling1D(2, padding="same")
    avg.build((8, 2), 0)
    assert isinstance(to_torch(avg)[0], torch.nn.AvgPool1d)
    causal = _built(Conv1D(2, 3, padding="causal"), (5, 2))
    assert isinstance(to_torch(causal)[0], torch.nn.ConstantPad1d)


def _built(layer, shape):
    layer.build(shape, 0)
    return layer
