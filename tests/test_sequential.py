"""Sequential: learning (XOR, seed 003's non-separable problem), determinism, API, masks, bad input."""

import numpy as np
import pytest

import boucle
from boucle import Sequential
from boucle.diagnostics import check_gradients
from boucle.errors import BoucleError
from boucle.layers import Activation, Dense, Dropout, Embedding, Flatten

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def circles(n, rng):
    r = np.concatenate([rng.uniform(0, 1, n // 2), rng.uniform(1.5, 2.5, n - n // 2)])
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1).astype(np.float32)
    return x, (np.arange(n) >= n // 2).astype(np.float32)[:, None]


def test_mlp_learns_xor():
    model = Sequential([Dense(8, activation="tanh", input_shape=(2,)), Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=boucle.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(XOR_X, XOR_Y, batch_size=4, epochs=300, verbose=0)
    assert model.evaluate(XOR_X, XOR_Y)["accuracy"] == 1.0
    assert np.array_equal(model.predict(XOR_X) > 0.5, XOR_Y > 0.5)


def test_hidden_layer_separates_what_one_neuron_cannot(rng):
    x, y = circles(600, rng)
    results = {}
    for hidden in (None, 8):
        layers = (
            [Dense(hidden, activation="tanh", input_shape=(2,)), Dense(1, activation="sigmoid")]
            if hidden
            else [Dense(1, activation="sigmoid", input_shape=(2,))]
        )
        model = Sequential(layers, seed=1)
        model.compile(optimizer=boucle.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=32, epochs=40, verbose=0)
        results[hidden] = model.evaluate(x, y)["accuracy"]
    assert results[8] > 0.98, results
    assert results[None] < 0.75, results


def _trained(seed, x, y):
    model = Sequential(
        [
            Dense(16, activation="relu", input_shape=(x.shape[1],), name="hidden"),
            Dropout(0.3),
            Dense(1, activation="sigmoid", name="out"),
        ],
        seed=seed,
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    return model.get_weights()


def test_same_seed_bit_identical(rng):
    x, y = circles(200, rng)
    a, b = _trained(3, x, y), _trained(3, x, y)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = _trained(4, x, y)
    assert not np.array_equal(a["hidden/W"], c["hidden/W"])


def test_model_gradient_check(rng):
    model = Sequential([Dense(5, activation="tanh", input_shape=(3,)), Dense(4), Activation("softmax")], seed=0)
    errs = check_gradients(model, rng.standard_normal((6, 3)))
    assert max(errs.values()) < 1e-6, errs
    assert model.params[next(iter(model.params))].dtype == np.float32  # the check used a float64 clone


def test_history_validation_and_summary(rng, capsys):
    x, y = circles(200, rng)
    model = Sequential([Dense(8, activation="tanh", input_shape=(2,)), Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=3, validation_split=0.25, verbose=2)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(h.history["loss"]) == 3 and h.epoch == [0, 1, 2]
    assert "Epoch 3/3" in capsys.readouterr().out
    text = model.summary(print_fn=None)
    assert "Total params: 33" in text and "(None, 8)" in text
    logs = model.train_on_batch(x[:10], y[:10])
    assert set(logs) == {"loss", "accuracy"}
    assert model.predict(x, batch_size=7).shape == (200, 1)


def test_progress_bar_shows_loss(rng, capsys):
    x, y = circles(64, rng)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(2,))], seed=0)
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "loss=" in out and "accuracy=" in out


def test_mask_flows_from_embedding_to_loss(rng):
    """Per-timestep targets with padding: the padded steps do not change the loss or the gradients."""
    ids = rng.integers(1, 6, (4, 7))
    ids[0, 5:] = 0
    ids[2, 3:] = 0
    y = rng.integers(0, 3, (4, 7))
    model = Sequential(
        [Embedding(6, 4, mask_zero=True, input_shape=(7,), name="e"), Dense(3, activation="softmax", name="d")], seed=0
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = model.evaluate(ids, y)["loss"]
    y2 = y.copy()
    y2[ids == 0] = (y2[ids == 0] + 1) % 3  # change targets only at padded steps
    assert model.evaluate(ids, y2)["loss"] == pytest.approx(before, rel=1e-6)
    model.train_on_batch(ids, y)
    w1 = model.get_weights()
    model2 = Sequential(
        [Embedding(6, 4, mask_zero=True, input_shape=(7,), name="e"), Dense(3, activation="softmax", name="d")], seed=0
    )
    model2.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model2.train_on_batch(ids, y2)
    assert all(np.allclose(w1[k], v) for k, v in model2.get_weights().items())


def test_flatten_model(rng):
    model = Sequential([Flatten(input_shape=(3, 4)), Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((10, 3, 4)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 10)]
    assert np.isfinite(model.fit(x, y, epochs=2, verbose=0).history["loss"]).all()


def test_float64_model(rng):
    model = Sequential([Dense(3, input_shape=(2,)), Dense(1)], seed=0, dtype="float64")
    assert all(p.dtype == np.float64 for p in model.params.values())
    model.compile(optimizer="sgd", loss="mse")
    model.fit(rng.standard_normal((8, 2)), rng.standard_normal((8, 1)), verbose=0)
    assert all(p.dtype == np.float64 for p in model.params.values())


@pytest.fixture
def compiled():
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_bad_input(compiled, rng):
    x = rng.standard_normal((10, 3)).astype(np.float32)
    y = rng.integers(0, 2, 10)
    with pytest.raises(BoucleError, match=r"x: expected shape \(batch, 3\), got \(10, 4\)"):
        compiled.fit(rng.standard_normal((10, 4)), y, verbose=0)
    with pytest.raises(BoucleError, match=r"x: expected shape \(batch, 3\), got \(10,\)"):
        compiled.predict(rng.standard_normal(10))
    with pytest.raises(BoucleError, match="y: expected 10 samples to match x"):
        compiled.fit(x, y[:9], verbose=0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(BoucleError, match=r"x: expected finite values, got nan at index \(3, 1\)"):
        compiled.fit(bad, y, verbose=0)
    with pytest.raises(BoucleError, match="x: expected at least one sample"):
        compiled.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(BoucleError, match="y_true|label|range"):
        compiled.fit(x, y + 5, verbose=0)
    with pytest.raises(BoucleError, match="batch_size"):
        compiled.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(BoucleError, match="validation_split"):
        compiled.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(BoucleError, match="optimizer|'adamw'"):
        compiled.compile(optimizer="adamw", loss="mse")
    with pytest.raises(BoucleError, match="loss|'hinge2'"):
        compiled.compile(optimizer="adam", loss="hinge2")
    with pytest.raises(BoucleError, match="compile"):
        Sequential([Dense(1, input_shape=(2,))]).fit(x[:, :2], y, verbose=0)
    with pytest.raises(BoucleError, match="already used"):
        Sequential([Dense(1, name="d"), Dense(1, name="d")])


def test_missing_targets_ragged_data_and_bad_masks_are_one_line_errors(compiled, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.integers(0, 2, 4)
    for call in (
        lambda: compiled.fit(x, None, verbose=0),
        lambda: compiled.evaluate(x, None),
        lambda: compiled.train_on_batch(x, None),
    ):
        with pytest.raises(BoucleError, match="y: expected targets .* got None"):
            call()
    with pytest.raises(BoucleError, match="x: expected an array .* pad variable-length sequences"):
        compiled.fit([[1.0, 2.0, 3.0], [1.0]], [0, 1], verbose=0)
    with pytest.raises(BoucleError, match="y: expected an array"):
        compiled.fit(x, [[0], [1, 1], [0], [1]], verbose=0)
    seq = Sequential([Embedding(5, 2, input_shape=(3,)), Flatten(), Dense(2, activation="softmax")], seed=0)
    seq.compile("adam", "sparse_categorical_crossentropy")
    ids = rng.integers(1, 5, (4, 3))
    for mask, shown in (
        (np.full((4, 3), 2), "got 2"),
        (np.where(np.eye(4, 3) > 0, np.nan, 1.0), "got nan"),
        (np.full((4, 3), "1"), "got dtype <U1"),
    ):
        with pytest.raises(BoucleError, match=f"mask: expected 0/1 or bool values \\(1 = valid step\\), {shown}"):
            seq.fit(ids, y, mask=mask, verbose=0)
    seq.fit(ids, y, mask=np.ones((4, 3)), verbose=0)  # 0/1 floats and bools are masks
    seq.fit(ids, y, mask=np.ones((4, 3), dtype=bool), verbose=0)
