"""backend, activation table and initializers."""

import warnings

import numpy as np
import pytest

from boucle import backend, initializers
from boucle.diagnostics import numerical_gradient, relative_error
from boucle.errors import BoucleError
from boucle.ops import activations


def test_float_policy_default_and_override():
    assert backend.floatx() == np.float32
    backend.set_floatx("float64")
    try:
        assert backend.floatx() == np.float64
        assert backend.resolve_dtype(None) == np.float64
    finally:
        backend.set_floatx("float32")
    assert backend.resolve_dtype("float64") == np.float64


@pytest.mark.parametrize("bad", ["float16", "int32", "nonsense"])
def test_bad_dtype(bad):
    with pytest.raises(BoucleError, match="dtype"):
        backend.resolve_dtype(bad)


def test_make_rng_seeds_and_passes_generators():
    a, b = backend.make_rng(7), backend.make_rng(7)
    assert np.array_equal(a.random(5), b.random(5))
    g = np.random.default_rng(0)
    assert backend.make_rng(g) is g
    with pytest.raises(BoucleError, match="seed"):
        backend.make_rng(-1)
    with pytest.raises(BoucleError, match="seed"):
        backend.make_rng("7")


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_activation_derivatives_match_finite_differences(name, rng):
    a = rng.standard_normal((4, 6)) * 2
    a[np.abs(a) < 1e-3] = 0.5  # keep relu away from its kink
    f, df = activations.get(name)
    r = rng.standard_normal(a.shape)
    analytic = df(r, f(a))
    numeric = numerical_gradient(lambda: float(np.sum(r * f(a))), a)
    assert relative_error(analytic, numeric) < 1e-8


def test_activation_values():
    a = np.array([-2.0, 0.0, 3.0])
    assert np.allclose(activations.sigmoid(a), 1 / (1 + np.exp(-a)))
    assert np.allclose(activations.relu(a), [0, 0, 3])
    s = activations.softmax(np.array([[1.0, 2.0, 3.0]]))
    assert np.allclose(s.sum(), 1) and np.allclose(np.log(s), activations.log_softmax(np.array([[1.0, 2.0, 3.0]])))


def test_stable_for_large_inputs():
    a = np.array([[-1000.0, 0.0, 1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(activations.sigmoid(a), [[0.0, 0.5, 1.0]])
        assert np.allclose(activations.softmax(a), [[0, 0, 1]])
        assert np.isfinite(activations.log_softmax(a)).all()


def test_unknown_activation():
    with pytest.raises(BoucleError, match="activation.*'swishy'"):
        activations.get("swishy")


def test_initializers(rng):
    dt = np.dtype("float32")
    q = initializers.orthogonal((64, 64), rng, np.float64)
    assert np.allclose(q @ q.T, np.eye(64), atol=1e-10)
    wide = initializers.orthogonal((16, 64), rng, np.float64)
    assert np.allclose(wide @ wide.T, np.eye(16), atol=1e-10)
    g = initializers.glorot_uniform((100, 300), rng, dt)
    assert g.dtype == dt and np.abs(g).max() <= np.sqrt(6 / 400)
    n = initializers.normal(0.1)((200, 200), rng, np.float64)
    assert abs(n.std() - 0.1) < 0.005
    h = initializers.he_normal((500, 100), rng, np.float64)
    assert abs(h.std() - np.sqrt(2 / 500)) < 0.003 and np.abs(h).max() <= 2 * np.sqrt(2 / 500) / 0.8796 + 1e-12
    assert not initializers.zeros((3,), rng, dt).any() and initializers.ones((3,), rng, dt).all()
    a = initializers.glorot_uniform((5, 5), np.random.default_rng(3), dt)
    b = initializers.glorot_uniform((5, 5), np.random.default_rng(3), dt)
    assert np.array_equal(a, b)
    assert initializers.get("normal(0.01)")((2,), rng, dt).shape == (2,)
    with pytest.raises(BoucleError, match="initializer"):
        initializers.get("xavier_magic")
