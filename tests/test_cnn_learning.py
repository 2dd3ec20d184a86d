"""Convolutional networks learn (stated bounds), the examples run, and the pictures of filters and
activation maps are drawn. Long runs are marked slow (CI runs them)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import boucle
from boucle.data.tasks import glyphs
from boucle.diagnostics import conv_filters, feature_maps, plot_feature_maps, plot_filters, plot_image_rows
from boucle.errors import BoucleError
from boucle.layers import Conv2D, Conv2DTranspose, Dense, Flatten, GlobalMaxPooling2D, MaxPooling2D

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"boucle_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_small_cnn_learns_shifted_glyphs_that_a_linear_model_does_not():
    x, y = glyphs(800, seed=0, classes=5, max_shift=4)
    xt, yt = glyphs(400, seed=1, classes=5, max_shift=4)
    cnn = boucle.Sequential(
        [
            Conv2D(8, 3, activation="relu", input_shape=(28, 28, 1)),
            MaxPooling2D(),
            Conv2D(16, 3, activation="relu"),
            MaxPooling2D(),
            GlobalMaxPooling2D(),
            Dense(5, activation="softmax"),
        ],
        seed=0,
    )
    linear = boucle.Sequential([Flatten(input_shape=(28, 28, 1)), Dense(5, activation="softmax")], seed=0)
    for m in (cnn, linear):
        m.compile(boucle.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        m.fit(x, y, epochs=6, batch_size=32, verbose=0)
    acc_cnn, acc_lin = cnn.evaluate(xt, yt)["accuracy"], linear.evaluate(xt, yt)["accuracy"]
    assert cnn.count_params() < linear.count_params() / 2  # 1,333 vs 3,925 parameters
    assert acc_cnn >= 0.9 and acc_cnn >= acc_lin + 0.1, (acc_cnn, acc_lin)  # chance: 0.2


def test_feature_maps_and_filters(tmp_path):
    model = boucle.Sequential(
        [Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)), MaxPooling2D(), Conv2DTranspose(3, 2, strides=2)],
        seed=0,
        dtype="float64",
    )
    x = np.random.default_rng(0).random((2, 12, 12, 1))
    maps = feature_maps(model, x)  # default: the first conv
    np.testing.assert_array_equal(maps, model.layers[0](x))
    np.testing.assert_array_equal(
        feature_maps(model, x[0], layer=model.layers[1].name)[0], model.layers[1](model.layers[0](x))[0]
    )
    f = conv_filters(model)
    assert f.shape == (4, 3, 3, 1)
    np.testing.assert_array_equal(f[2, :, :, 0], model.layers[0].params["W"][:, :, 0, 2])
    assert conv_filters(model, 2).shape == (3, 2, 2, 4)
    for path in (
        plot_filters(model, tmp_path / "f.png", title="filters"),
        plot_feature_maps(model, x[0], tmp_path / "sub" / "m.png"),
        plot_image_rows([x[:2], x[:2] * 0.5], tmp_path / "rows.png", labels=["a", "b"]),
    ):
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(
        BoucleError, match=r"layer: expected a built Conv1D, Conv2D or Conv2DTranspose, got MaxPooling2D"
    ):
        conv_filters(model, 1)
    with pytest.raises(BoucleError, match=r"layer: expected one of"):
        feature_maps(model, x, "nope")


@pytest.mark.slow
def test_seed_cnn_beats_an_mlp_with_as_many_parameters_on_shifted_glyphs():
    ex = load("cnn_classifier")
    res = ex.run(n_train=3000, n_test=1000, epochs=5, max_shift=4.0, seed=0)
    assert abs(res["cnn"]["params"] - res["mlp"]["params"]) / res["cnn"]["params"] < 0.01
    assert res["cnn"]["params"] == 320 + 18_496 + 73_856 + 16_512 + 128 * 10 + 10
    assert res["cnn"]["test_accuracy"] >= 0.95, res["cnn"]
    assert res["cnn"]["test_accuracy"] >= res["mlp"]["test_accuracy"] + 0.05, (res["cnn"], res["mlp"])


@pytest.mark.slow
def test_conv_autoencoder_denoises_and_draws_the_grid(tmp_path):
    ex = load("conv_autoencoder")
    *data, _ = ex.load_data(False, 2000, 500, seed=0)
    res = ex.denoise(data, epochs=6, seed=0, png=str(tmp_path / "grid.png"))
    assert res["psnr_noisy"] < 14.0 and res["gain_db"] >= 4.0, res  # a clear gain
    assert Path(res["png"]).is_file()
    assert [l.count_params() for l in res["model"].layers if l.params] == [80, 584, 584, 584, 73]


@pytest.mark.slow
def test_conv_autoencoder_bigger_codes_reconstruct_better():
    ex = load("conv_autoencoder")
    *data, _ = ex.load_data(False, 1500, 300, seed=0)
    small, big = ex.compress(data, channels=(1, 8), epochs=5, seed=0)
    assert (small["code_size"], big["code_size"]) == (49, 392)
    assert big["mse"] < small["mse"] * 0.8, (small, big)


@pytest.mark.slow
def test_conv_autoencoder_flags_an_unseen_class():
    """Trained without class 4, the autoencoder reconstructs 4s worse than the classes it saw.
    (Over all ten held-out classes the mean AUROC is lower — docs/cnn.md gives the table.)"""
    ex = load("conv_autoencoder")
    *data, _ = ex.load_data(False, 2000, 500, seed=0)
    res = ex.anomaly(data, held_out=4, epochs=6, seed=0)
    assert res["auroc"] >= 0.65 and res["error_anomalies"] > res["error_normal"], res


def test_auroc_is_the_mann_whitney_statistic():
    ex = load("conv_autoencoder")
    assert ex.auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert ex.auroc(np.array([1.0, 1.0, 2.0]), np.array([1, 0, 1])) == 0.75  # a tie counts 1/2
    assert ex.psnr(np.zeros((2, 2)), np.full((2, 2), 0.1)) == pytest.approx(20.0)
