"""The gradient checker itself: known values of the error measure and of finite differences, and a
negative control — a deliberately wrong backward pass is reported, a right one is not."""

import numpy as np
import pytest

from boucle.diagnostics import check_gradients, numerical_gradient, relative_error
from boucle.layers import Dense
from boucle.layers.base import register


def test_relative_error_known_values():
    assert relative_error(np.array([1.0, -2.0]), np.array([1.0, -2.0])) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 2.2, rel=1e-12)
    assert relative_error(np.array([0.0, 1e-9]), np.array([1e-9, 0.0])) == pytest.approx(1.0)  # scale-free
    assert relative_error(np.array([10.0, 0.0]), np.array([10.0, 0.5])) == pytest.approx(0.05)  # worst / scale


def test_numerical_gradient_known_values(rng):
    x = rng.standard_normal((3, 4))
    g = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-8, atol=1e-9)
    only = numerical_gradient(lambda: float(np.sum(x**3)), x, index=np.array([0, 5]))
    assert np.count_nonzero(only) == 2 and only.reshape(-1)[5] == pytest.approx(3 * x.reshape(-1)[5] ** 2)


@register
class _WrongDense(Dense):
    """Dense with a planted bug in one gradient (the test's negative control)."""

    def __init__(self, *args, bug: str = "W", **kwargs):
        super().__init__(*args, **kwargs)
        self.bug = bug

    def get_config(self):
        return {**super().get_config(), "bug": self.bug}

    def backward(self, dy, cache):
        dx = super().backward(dy, cache)
        if self.bug == "W":
            self.grads["W"][0, 0] *= 1.01  # one entry 1 % off
        elif self.bug == "b":
            self.grads["b"] += 1e-3
        else:
            dx = dx.copy()
            dx[..., -1] = 0.0  # a dropped term of the input gradient
        return dx


@pytest.mark.parametrize("bug,where", [("W", "W"), ("b", "b"), ("x", "input")])
def test_a_wrong_backward_is_reported(bug, where, rng):
    x = rng.standard_normal((4, 3))
    right = Dense(2, activation="tanh", input_shape=(3,))
    right.build((3,), 0)
    errs = check_gradients(right, x)
    assert max(errs.values()) < 1e-7, errs
    wrong = _WrongDense(2, activation="tanh", bug=bug)
    wrong.build((3,), 0)
    errs = check_gradients(wrong, x)
    assert errs[where] > 1e-4, errs  # the planted bug stands out by orders of magnitude
    assert all(v < 1e-7 for k, v in errs.items() if k != where), errs
