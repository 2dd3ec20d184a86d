"""Reservoir-computing benchmark series (boucle.data.tasks.timeseries): determinism, equations, errors."""

import numpy as np
import pytest

from boucle.data.tasks.timeseries import lorenz, mackey_glass, narma10, to_forecasting
from boucle.errors import BoucleError


def test_mackey_glass_is_deterministic_and_converged():
    a = mackey_glass(600, seed=3)
    assert a.shape == (600, 1) and a.dtype == np.float64
    assert np.array_equal(a, mackey_glass(600, seed=3))
    assert not np.array_equal(a, mackey_glass(600, seed=4))
    assert np.array_equal(a, mackey_glass(600, seed=np.random.default_rng(3)))
    assert 0.2 < a.min() and a.max() < 1.5  # the tau = 17 attractor lives in about [0.2, 1.4]
    fine = mackey_glass(600, seed=3, substeps=40)  # RK4 at dt = 0.1 is converged (chaos amplifies later)
    assert np.abs(fine[:200] - a[:200]).max() < 1e-4
    assert np.array_equal(mackey_glass(600, seed=3, discard=100)[:500], a[100:])


def test_mackey_glass_satisfies_its_equation():
    x = mackey_glass(400, seed=0, sample_step=0.1, substeps=1)[:, 0]  # one sample per RK4 step
    lag = 170  # tau / dt
    dx = (x[lag + 2 :] - x[lag:-2]) / 0.2  # central difference at t
    xt, xd = x[lag + 1 : -1], x[1 : -lag - 1]
    rhs = 0.2 * xd / (1 + xd**10) - 0.1 * xt
    assert np.abs(dx - rhs).max() < 1e-3


def test_narma10_follows_its_recursion():
    u, y = narma10(500, seed=1, discard=0)
    assert u.shape == y.shape == (500, 1) and 0 <= u.min() and u.max() <= 0.5
    u, y = u[:, 0], y[:, 0]
    prev = np.concatenate([[0.0], y])  # y[t] is y(t+1); y(0) = 0
    for t in range(20, 500):
        ref = 0.3 * prev[t] + 0.05 * prev[t] * prev[t - 9 : t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
        assert abs(y[t] - ref) < 1e-12
    u2, y2 = narma10(300, seed=1)  # the default drops the first 200 steps
    np.testing.assert_array_equal(u2[:, 0], u[200:500])


def test_lorenz_stays_on_the_attractor_and_satisfies_its_equations():
    s = lorenz(2000, seed=0, sample_step=0.01, substeps=4)
    assert s.shape == (2000, 3) and np.array_equal(s, lorenz(2000, seed=0, sample_step=0.01, substeps=4))
    assert np.abs(s[:, :2]).max() < 30 and 0 < s[500:, 2].min() and s[:, 2].max() < 55
    d = (-s[4:] + 8 * s[3:-1] - 8 * s[1:-3] + s[:-4]) / 0.12  # 5-point derivative, O(h^4)
    x, y, z = s[2:-2].T
    f = np.stack([10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z], axis=1)
    assert np.abs(d - f).max() / np.abs(f).max() < 1e-3
    np.testing.assert_array_equal(lorenz(3, x0=[1.0, 2.0, 3.0])[0], [1.0, 2.0, 3.0])


def test_to_forecasting_and_bad_arguments():
    s = np.arange(10.0)
    x, y = to_forecasting(s, 3)
    assert x.shape == y.shape == (7, 1) and np.array_equal(y[:, 0] - x[:, 0], np.full(7, 3.0))
    for fn, match in [
        (lambda: to_forecasting(s, 10), "series"),
        (lambda: mackey_glass(0), "n_steps"),
        (lambda: mackey_glass(10, tau=17.05), "tau"),
        (lambda: narma10(10, discard=-1), "discard"),
        (lambda: lorenz(10, x0=[1.0, 2.0]), "x0"),
    ]:
        with pytest.raises(BoucleError, match=match):
            fn()
