"""Convolutional layers: finite-difference gradients (float64) of every layer and every
padding/stride/dilation combination, BatchNormalization's training/inference behaviour and
buffers, shapes and parameter counts of the seed's models (worked out by hand), model
files, and one-line errors for bad input."""

import re

import numpy as np
import pytest

import boucle
from boucle.diagnostics import check_gradients
from boucle.errors import BoucleError
from boucle.layers import (
    AveragePooling1D,
    AveragePooling2D,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding2D,
)

TOL = 1e-7


def built(layer, shape, seed=0):
    layer.build(shape, seed)
    return layer


def assert_grads(layer, x, training=False, keys=None):
    errs = check_gradients(layer, x, max_checks=40, training=training)
    if keys is not None:
        assert set(errs) == keys
    assert max(errs.values()) < TOL, errs


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("padding", ["valid", "same", ((2, 0), (1, 1))])
@pytest.mark.parametrize("strides", [1, 2, (2, 3)])
@pytest.mark.parametrize("dilation", [1, (2, 1)])
def test_conv2d_gradients_every_padding_stride_dilation(padding, strides, dilation, rng):
    layer = built(
        Conv2D(3, (3, 2), strides=strides, padding=padding, dilation_rate=dilation, activation="tanh"), (8, 7, 2)
    )
    assert_grads(layer, rng.standard_normal((2, 8, 7, 2)), keys={"input", "W", "b"})


@pytest.mark.parametrize(
    "layer, channels",
    [
        (Conv2D(1, 3, padding="same"), 1),
        (Conv2D(1, 3), 5),
        (Conv2D(4, 2), 1),
        (Conv2DTranspose(1, 3, strides=2), 1),
        (Conv2DTranspose(1, 2), 3),
        (Conv2DTranspose(3, 3, padding="same"), 1),
    ],
)
def test_one_channel_and_one_filter_paths(layer, channels, rng):
    """C = 1 (one GEMM W dAᵀ) and O = 1 (outer products) take their own code paths."""
    layer = built(layer, (6, 5, channels))
    assert_grads(layer, rng.standard_normal((2, 6, 5, channels)), keys={"input", "W", "b"})


@pytest.mark.parametrize("padding", ["valid", "same", "causal", 2])
@pytest.mark.parametrize("strides, dilation", [(1, 1), (2, 1), (1, 3), (3, 2)])
def test_conv1d_gradients(padding, strides, dilation, rng):
    layer = built(Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation, use_bias=False), (11, 3))
    assert_grads(layer, rng.standard_normal((2, 11, 3)), keys={"input", "W"})


@pytest.mark.parametrize(
    "padding, output_padding, strides, dilation",
    [
        ("valid", None, 2, 1),
        ("same", None, 2, 1),
        ("same", 1, 2, 1),
        (1, 1, 2, 1),
        (0, None, 2, 1),
        ("valid", None, (1, 3), 1),
        ("same", None, (1, 3), 1),
        ("same", (0, 2), (1, 3), 1),
        (1, (0, 1), (1, 3), 1),
        ("valid", None, 1, 2),
        ("same", None, 1, 2),
        ("same", 1, 1, 2),
        (1, 1, 1, 2),
        (0, None, 1, 2),
    ],
)
def test_conv2d_transpose_gradients(padding, output_padding, strides, dilation, rng):
    layer = built(
        Conv2DTranspose(
            2,
            3,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            dilation_rate=dilation,
            activation="sigmoid",
        ),
        (4, 3, 3),
    )
    assert_grads(layer, rng.standard_normal((2, 4, 3, 3)), keys={"input", "W", "b"})


@pytest.mark.parametrize(
    "layer, shape",
    [
        (MaxPooling2D(), (7, 6, 3)),
        (MaxPooling2D((3, 2), strides=1), (7, 6, 3)),
        (MaxPooling2D((3, 3), strides=2, padding="same"), (7, 6, 3)),
        (AveragePooling2D(), (7, 6, 3)),
        (AveragePooling2D((3, 2), strides=(2, 1), padding="same"), (7, 6, 3)),
        (MaxPooling1D(3, padding="same"), (8, 2)),
        (AveragePooling1D(2, strides=1), (8, 2)),
        (GlobalAveragePooling2D(), (5, 4, 3)),
        (GlobalMaxPooling2D(keepdims=True), (5, 4, 3)),
        (GlobalAveragePooling1D(), (6, 3)),
        (GlobalMaxPooling1D(), (6, 3)),
        (UpSampling2D((2, 3)), (3, 4, 2)),
        (UpSampling1D(3), (4, 2)),
        (ZeroPadding2D(((1, 2), (0, 3))), (3, 4, 2)),
        (Reshape((-1, 6)), (3, 4, 2)),
    ],
)
def test_pooling_and_reshaping_gradients(layer, shape, rng):
    layer = built(layer, shape)
    assert_grads(layer, rng.standard_normal((2, *shape)), keys={"input"})


@pytest.mark.parametrize("shape", [(6,), (5, 4, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_gradients(shape, training, rng):
    layer = built(BatchNormalization(), shape)
    layer.set_weights(
        {
            "gamma": rng.uniform(0.5, 2, shape[-1]),
            "beta": rng.standard_normal(shape[-1]),
            "moving_mean": rng.standard_normal(shape[-1]),
            "moving_variance": rng.uniform(0.5, 2, shape[-1]),
        }
    )
    assert_grads(layer, rng.standard_normal((4, *shape)) * 3 + 1, training=training, keys={"input", "gamma", "beta"})


def test_max_pool_ties_go_to_the_first_maximum():
    layer = built(MaxPooling2D(), (2, 2, 1), 0)
    x = np.zeros((1, 2, 2, 1))  # four equal values: one window, all tied
    y, cache = layer.forward(x)
    dx = layer.backward(np.ones_like(y), cache)
    assert dx[0, :, :, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_gradient_check_catches_a_wrong_backward(rng):
    class Wrong(Conv2D):
        def backward(self, dy, cache):
            return super().backward(dy, cache) * 1.01

    layer = built(Wrong(2, 3), (5, 5, 1))
    assert check_gradients(layer, rng.standard_normal((1, 5, 5, 1)), max_checks=20)["input"] > 1e-3


# ----------------------------------------------------------------------------- behaviour


def test_conv2d_is_the_weighted_sum_over_each_receptive_field(rng):
    layer = built(Conv2D(2, (2, 3), strides=(1, 2), dtype="float64"), (4, 7, 3))
    x = rng.standard_normal((2, 4, 7, 3))
    y = layer(x)
    W, b = layer.params["W"], layer.params["b"]
    assert y.shape == (2, 3, 3, 2)
    for n, i, j, o in [(0, 0, 0, 0), (1, 2, 2, 1), (0, 1, 1, 1)]:
        field = x[n, i : i + 2, 2 * j : 2 * j + 3, :]  # a = b + Σ w·x
        assert np.isclose(y[n, i, j, o], b[o] + np.sum(W[..., o] * field))


def test_same_padding_is_keras_asymmetric(rng):
    """Keras/TensorFlow: total padding 1 goes after (bottom/right) — visible with stride 2."""
    layer = built(Conv2D(1, 2, strides=2, padding="same", use_bias=False, dtype="float64"), (5, 5, 1))
    layer.set_weights({"W": np.ones((2, 2, 1, 1))})
    x = np.arange(25.0).reshape(1, 5, 5, 1)
    y = layer(x)[0, :, :, 0]
    assert y.shape == (3, 3)
    assert y[0, 0] == 0 + 1 + 5 + 6 and y[2, 2] == 24  # bottom-right window: 24 and padding


def test_batch_normalization_training_and_inference(rng):
    layer = built(BatchNormalization(momentum=0.9, epsilon=1e-3, dtype="float64"), (3, 2))
    x = rng.standard_normal((5, 3, 2)) * 4 + 2
    y, _ = layer.forward(x, training=True)
    assert np.allclose(y.mean(axis=(0, 1)), 0, atol=1e-12) and np.allclose(y.var(axis=(0, 1)), 1, atol=1e-3)
    mu, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    assert np.allclose(layer.buffers["moving_mean"], 0.1 * mu)
    assert np.allclose(layer.buffers["moving_variance"], 0.9 + 0.1 * var)
    before = {k: v.copy() for k, v in layer.buffers.items()}
    y_inf = layer(x)  # inference: moving statistics, no update
    assert np.allclose(y_inf, (x - before["moving_mean"]) / np.sqrt(before["moving_variance"] + 1e-3))
    assert all(np.array_equal(layer.buffers[k], before[k]) for k in before)
    frozen = built(BatchNormalization(trainable=False, dtype="float64"), (2,))
    frozen.forward(x[:, 0], training=True)  # trainable=False: inference mode (Keras)
    assert np.array_equal(frozen.buffers["moving_mean"], np.zeros(2))


def test_buffers_are_saved_counted_and_never_optimized(tmp_path, rng):
    model = boucle.Sequential(
        [
            Conv2D(4, 3, input_shape=(6, 6, 1)),
            BatchNormalization(),
            Flatten(),
            Dense(8),
            BatchNormalization(),
            Dense(2, activation="softmax"),
        ],
        seed=0,
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = rng.standard_normal((16, 6, 6, 1)), rng.integers(0, 2, 16)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert not any("moving" in k for k in model.params) and not any("moving" in k for k in model.grads)
    assert model.optimizer.state_dict() and not any("moving" in k for k in model.optimizer.state_dict())
    assert not np.allclose(model.layers[1].buffers["moving_mean"], 0)
    text = model.summary(print_fn=None)
    total = (3 * 3 * 4 + 4) + 4 * 4 + (4 * 4 * 4 * 8 + 8) + 4 * 8 + (8 * 2 + 2)
    assert f"Total params: {total:,}" in text and f"Non-trainable params: {2 * 4 + 2 * 8:,}" in text
    boucle.save(model, tmp_path / "m.safetensors", include_optimizer=True)
    again = boucle.load(tmp_path / "m.safetensors")
    for a, b in zip(model.layers, again.layers):
        assert all(np.array_equal(a.buffers[k], b.buffers[k]) for k in a.buffers)
    np.testing.assert_array_equal(model.predict(x), again.predict(x))


def test_seed_cnn_and_autoencoder_shapes_and_counts():
    """Keras's summary of the seed's models, worked out by hand."""
    cnn = boucle.Sequential(
        [
            Conv2D(32, (3, 3), input_shape=(28, 28, 1), activation="relu"),
            MaxPooling2D(pool_size=(2, 2)),
            Dropout(0.2),
            Conv2D(64, (3, 3), activation="relu"),
            MaxPooling2D(pool_size=(2, 2)),
            Dropout(0.2),
            Conv2D(128, (3, 3), activation="relu"),
            MaxPooling2D(pool_size=(2, 2)),
            Dropout(0.2),
            Flatten(),
            Dense(128, activation="relu"),
            Dense(25, activation="softmax"),
        ],
        seed=0,
    )
    shapes = [
        (26, 26, 32),
        (13, 13, 32),
        (13, 13, 32),
        (11, 11, 64),
        (5, 5, 64),
        (5, 5, 64),
        (3, 3, 128),
        (1, 1, 128),
        (1, 1, 128),
        (128,),
        (128,),
        (25,),
    ]
    counts = [
        3 * 3 * 1 * 32 + 32,
        0,
        0,
        3 * 3 * 32 * 64 + 64,
        0,
        0,
        3 * 3 * 64 * 128 + 128,
        0,
        0,
        0,
        128 * 128 + 128,
        128 * 25 + 25,
    ]
    assert counts[0] == 320 and sum(counts) == 112_409
    shape = (28, 28, 1)
    for layer, want, n in zip(cnn.layers, shapes, counts):
        shape = layer.compute_output_shape(shape)
        assert (shape, layer.count_params()) == (want, n), layer.name
    text = cnn.summary(print_fn=None)
    assert re.search(r"conv2d(_\d+)? \(Conv2D\) +\(None, 26, 26, 32\) +320\n", text)
    assert "Total params: 112,409" in text and "Non-trainable params: 0" in text
    ae = boucle.Sequential(
        [
            Conv2D(8, (3, 3), activation="relu", padding="same", input_shape=(28, 28, 1)),
            MaxPooling2D((2, 2), padding="same"),
            Conv2D(8, (3, 3), activation="relu", padding="same"),
            MaxPooling2D((2, 2), padding="same"),
            Conv2D(8, (3, 3), activation="relu", padding="same"),
            UpSampling2D((2, 2)),
            Conv2D(8, (3, 3), activation="relu", padding="same"),
            UpSampling2D((2, 2)),
            Conv2D(1, (3, 3), activation="sigmoid", padding="same"),
        ],
        seed=0,
    )
    assert ae.output_shape == (28, 28, 1)
    assert [l.count_params() for l in ae.layers if l.params] == [80, 584, 584, 584, 73]
    odd = boucle.Sequential(
        [MaxPooling2D((2, 2), padding="same", input_shape=(7, 7, 3)), MaxPooling2D((2, 2), input_shape=(7, 7, 3))],
        seed=0,
    )
    assert odd.layers[0].compute_output_shape((7, 7, 3)) == (4, 4, 3)  # ceil(7/2)
    assert odd.layers[1].compute_output_shape((7, 7, 3)) == (3, 3, 3)  # floor((7-2)/2)+1


def test_config_round_trip_and_model_file(tmp_path, rng):
    layers = [
        ZeroPadding2D(1, input_shape=(9, 8, 2)),
        Conv2D(3, (3, 2), strides=(2, 1), padding=((1, 0), (0, 1)), dilation_rate=(1, 2), activation="relu"),
        Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1),
        AveragePooling2D(3, 1, "same"),
        GlobalMaxPooling2D(keepdims=True),
        Reshape((2,)),
        Dense(3),
    ]
    model = boucle.Sequential(layers, seed=0, dtype="float64")
    boucle.save(model, tmp_path / "c.safetensors")
    again = boucle.load(tmp_path / "c.safetensors")
    assert again.get_config() == model.get_config()
    x = rng.standard_normal((3, 9, 8, 2))
    np.testing.assert_array_equal(model.predict(x), again.predict(x))
    seq = boucle.Sequential(
        [
            Conv1D(4, 3, padding="causal", input_shape=(10, 2)),
            MaxPooling1D(2),
            UpSampling1D(2),
            GlobalAveragePooling1D(),
        ],
        seed=0,
    )
    boucle.save(seq, tmp_path / "s.safetensors")
    assert boucle.load(tmp_path / "s.safetensors").get_config() == seq.get_config()


def test_conv1d_causal_sees_only_the_past(rng):
    layer = built(Conv1D(1, 3, padding="causal", dilation_rate=2, dtype="float64"), (12, 1))
    x = rng.standard_normal((1, 12, 1))
    y = layer(x)
    x2 = x.copy()
    x2[0, 7:] += 5.0
    assert y.shape == (1, 12, 1) and np.array_equal(layer(x2)[0, :7], y[0, :7])


# ----------------------------------------------------------------------------- bad input


def one_line(match):
    return pytest.raises(BoucleError, match=match)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Conv2D(8, (3, 3), strides=1.5), r"Conv2D: strides must be a positive int or a tuple of 2 .*got 1\.5"),
        (lambda: Conv2D(8, (3, 3), strides=(1, 2.0)), r"Conv2D: strides must .*got \(1, 2\.0\)"),
        (lambda: Conv2D(0, 3), r"Conv2D: filters must be a positive int, got 0"),
        (lambda: Conv2D(4, (3, 3, 3)), r"Conv2D: kernel_size must be .*got \(3, 3, 3\)"),
        (lambda: Conv2D(4, 3, padding="full"), r"Conv2D: padding must be 'valid' or 'same'.*got 'full'"),
        (lambda: Conv2D(4, 3, padding="causal"), r"Conv2D: padding must be 'valid' or 'same'"),
        (lambda: Conv2D(4, 3, data_format="channels_first"), r"Conv2D: data_format must be 'channels_last'"),
        (lambda: Conv2D(4, 3, groups=2), r"Conv2D: groups must be 1"),
        (lambda: Conv1D(4, 3, dilation_rate=0), r"Conv1D: dilation_rate must be a positive int, got 0"),
        (lambda: MaxPooling2D(pool_size=0), r"MaxPooling2D: pool_size must be a positive int .*got 0"),
        (lambda: AveragePooling1D(pool_size=2, strides=0), r"AveragePooling1D: strides must be a positive int, got 0"),
        (lambda: MaxPooling2D(padding="causal"), r"MaxPooling2D: padding must be 'valid' or 'same', got 'causal'"),
        (
            lambda: Conv2DTranspose(2, 3, strides=2, output_padding=2),
            r"Conv2DTranspose: output_padding must be smaller",
        ),
        (lambda: UpSampling2D(interpolation="bilinear"), r"UpSampling2D: interpolation must be 'nearest'"),
        (lambda: Reshape((2, -1, -1)), r"Reshape: target_shape must be"),
        (lambda: BatchNormalization(axis=1), r"BatchNormalization: axis must be -1"),
        (lambda: BatchNormalization(momentum=1.5), r"BatchNormalization: momentum must be a float in \[0, 1\]"),
    ],
)
def test_bad_arguments(make, match):
    with one_line(match) as info:
        make()
    assert "\n" not in str(info.value)


def test_bad_shapes(rng):
    with one_line(
        r"Conv2D: input_shape must be \(height, width, channels\), got \(28, 28\); "
        r"a grayscale image needs a channel axis"
    ):
        boucle.Sequential([Conv2D(4, 3, input_shape=(28, 28))])
    model = boucle.Sequential([Conv2D(4, 3)], seed=0)
    with one_line(r"Conv2D: input_shape must be \(height, width, channels\), got \(28, 28\)"):
        model.predict(rng.random((2, 28, 28)))  # an unbuilt model sees the missing axis
    conv = built(Conv2D(4, 3), (28, 28, 1))
    with one_line(r"conv2d.*: x must be 4-D \(batch, height, width, channels\), got shape \(28, 28\)"):
        conv.forward(rng.random((28, 28)))
    with one_line(r"x must be 4-D .*got shape \(5, 28, 28\); a batch of grayscale images needs a channel axis"):
        conv.forward(rng.random((5, 28, 28)))
    with one_line(r"x must have 1 channels \(last axis\), got shape \(2, 28, 28, 3\)"):
        conv.forward(rng.random((2, 28, 28, 3)))
    with one_line(r"kernel_size \(5, 5\) with dilation_rate \(1, 1\) spans 5, larger than the padded input"):
        boucle.Sequential([Conv2D(2, 5, input_shape=(4, 4, 1))])
    big = built(Conv2D(2, 5, padding="same"), (None, None, 1))
    assert big(rng.random((1, 3, 3, 1))).shape == (1, 3, 3, 2)  # padded: fits
    with one_line(r"spans 7, larger than the padded input \(3 \+ 0 padding\)"):
        built(Conv2D(2, 3, dilation_rate=3), (None, None, 1)).forward(rng.random((1, 3, 9, 1)))
    with one_line(r"max_pooling2d.*: pool_size \(3, 3\) is larger than the input \(2, 2\)"):
        built(MaxPooling2D(3), (None, None, 1)).forward(rng.random((1, 2, 2, 1)))
    with one_line(r"reshape.*: cannot reshape input_shape \(3, 4\) \(12 values\) to target_shape \(5, -1\)"):
        boucle.Sequential([Reshape((5, -1), input_shape=(3, 4))])
    bn = built(BatchNormalization(), (3,))
    with one_line(r"x must be \(batch, \.\.\., 3\), got shape \(4, 2\)"):
        bn.forward(rng.random((4, 2)))


@pytest.mark.parametrize(
    "C, O, dilation, pads",
    [(3, 4, (1, 1), ((1, 1), (1, 1))), (20, 1, (2, 1), ((0, 0), (2, 1))), (1, 5, (1, 3), ((3, 0), (0, 0)))],
)
def test_both_input_gradient_paths_agree(C, O, dilation, pads, rng):
    """dx̃ by scatter (col2im of dA Wᵀ) and by gather (dA ⋆ rot180(W)) are the same sum."""
    from boucle.ops.conv import col2im, conv2d_forward, full_correlation, offset_major_product

    x, W = rng.standard_normal((2, 7, 8, C)), rng.standard_normal((3, 2, C, O))
    a, cache = conv2d_forward(x, W, None, (1, 1), dilation, pads)
    da = rng.standard_normal(a.shape)
    xp_shape = cache[2]
    scatter = col2im(
        offset_major_product(da.reshape(-1, O), W.reshape(6, C, O)), xp_shape, (3, 2), (1, 1), dilation, a.shape[1:3]
    )
    np.testing.assert_allclose(full_correlation(da, W, dilation, xp_shape), scatter, atol=1e-12)
