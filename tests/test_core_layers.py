"""Dense, Activation, Dropout, Flatten, Embedding: gradients, behaviour, errors."""

import numpy as np
import pytest

from boucle.diagnostics import check_gradients
from boucle.errors import BoucleError
from boucle.layers import Activation, Dense, Dropout, Embedding, Flatten

TOL = 1e-6


def built(layer, shape, seed=0):
    layer.build(shape, seed)
    return layer


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "relu", "softmax"])
@pytest.mark.parametrize("shape", [(3, 4), (3, 5, 4)])
def test_dense_gradients(activation, shape, rng):
    layer = built(Dense(6, activation=activation), shape[1:])
    x = rng.standard_normal(shape)
    errs = check_gradients(layer, x)
    assert set(errs) == {"input", "W", "b"}
    assert max(errs.values()) < TOL, errs


def test_dense_no_bias_and_values(rng):
    layer = built(Dense(2, use_bias=False), (3,))
    assert set(layer.params) == {"W"}
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert np.allclose(layer(x), x @ layer.params["W"])
    seq = rng.standard_normal((2, 5, 3)).astype(np.float32)
    assert np.allclose(layer(seq)[1, 3], seq[1, 3] @ layer.params["W"], atol=1e-6)
    assert layer.compute_output_shape((5, 3)) == (5, 2)


def test_dense_float_policy():
    assert built(Dense(2), (3,)).params["W"].dtype == np.float32
    assert built(Dense(2, dtype="float64"), (3,)).params["W"].dtype == np.float64


def test_dense_bad_input(rng):
    layer = built(Dense(2), (3,))
    with pytest.raises(BoucleError, match="x last axis must have size 3.*\\(4, 5\\)"):
        layer.forward(rng.standard_normal((4, 5)))
    with pytest.raises(BoucleError, match="x must be"):
        layer.forward(rng.standard_normal(4))
    with pytest.raises(BoucleError, match="units"):
        Dense(0)
    with pytest.raises(BoucleError, match="activation"):
        Dense(3, activation="nope")


def test_activation_layer_gradient(rng):
    layer = built(Activation("tanh"), (4,))
    assert check_gradients(layer, rng.standard_normal((3, 4)))["input"] < TOL


def test_dropout_inverted_and_seeded(rng):
    x = np.ones((200, 50), dtype=np.float32)
    d = built(Dropout(0.3), (50,), seed=5)
    y_eval, _ = d.forward(x, training=False)
    assert np.array_equal(y_eval, x)
    y, mask = d.forward(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    assert np.allclose(y[kept], 1 / 0.7)
    assert abs(y.mean() - 1.0) < 0.03  # inverted scaling keeps the expectation
    dy = rng.standard_normal(x.shape)
    assert np.array_equal(d.backward(dy, mask), dy * mask)
    d2 = built(Dropout(0.3), (50,), seed=5)
    assert np.array_equal(d2.forward(x, training=True)[0], y)
    with pytest.raises(BoucleError, match="rate"):
        Dropout(1.0)


def test_flatten(rng):
    f = built(Flatten(), (2, 3))
    x = rng.standard_normal((4, 2, 3))
    y, cache = f.forward(x)
    assert y.shape == (4, 6) and f.compute_output_shape((2, 3)) == (6,)
    assert f.backward(y, cache).shape == x.shape
    assert f.compute_mask(x, np.ones((4, 2))) is None


def test_embedding_gradient_and_mask(rng):
    e = built(Embedding(10, 4, mask_zero=True), (6,))
    ids = rng.integers(0, 10, (3, 6))
    ids[0, 4:] = 0
    assert check_gradients(e, ids)["E"] < TOL
    y = e(ids)
    assert y.shape == (3, 6, 4) and np.array_equal(y[1, 2], e.params["E"][ids[1, 2]])
    assert np.array_equal(e.compute_mask(ids, None), ids != 0)
    # repeated ids accumulate their gradients
    e.zero_grads()
    _, cache = e.forward(np.array([[2, 2, 3]]))
    e.backward(np.ones((1, 3, 4)), cache)
    assert np.allclose(e.grads["E"][2], 2) and np.allclose(e.grads["E"][3], 1)


def test_embedding_bad_ids():
    e = built(Embedding(5, 2), (3,))
    with pytest.raises(BoucleError, match=r"token ids must lie in \[0, 5\).*\[0, 7\]"):
        e.forward(np.array([[0, 7, 1]]))
    with pytest.raises(BoucleError, match="integer token ids"):
        e.forward(np.array([[0.5, 1.0, 2.0]]))


def test_config_round_trip():
    for layer in [
        Dense(3, activation="relu"),
        Activation("sigmoid"),
        Dropout(0.2),
        Flatten(),
        Embedding(7, 2, mask_zero=True),
    ]:
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
