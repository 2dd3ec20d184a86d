"""Windowing, chronological splits, normalisation fitted on train only, persistence."""

import numpy as np
import pytest

from boucle.data.windows import (
    Normalizer,
    forecast_splits,
    persistence_forecast,
    sliding_windows,
    split_indices,
    split_series,
)
from boucle.errors import BoucleError


def test_sliding_windows_values_and_count():
    s = np.arange(20.0).reshape(10, 2)  # row t = [2t, 2t + 1]
    x, y = sliding_windows(s, window=3, horizon=2, stride=2)
    assert x.shape == (3, 3, 2) and y.shape == (3, 2, 2)  # starts 0, 2, 4 (4 + 3 + 2 <= 10)
    np.testing.assert_array_equal(x[1], s[2:5])
    np.testing.assert_array_equal(y[1], s[5:7])
    x1, y1 = sliding_windows(np.arange(6), window=2, targets=None)
    assert x1.shape == (4, 2, 1) and y1[:, 0, 0].tolist() == [2, 3, 4, 5]
    _, yt = sliding_windows(s, 2, targets=[1])
    assert yt.shape == (8, 1, 1) and yt[0, 0, 0] == s[2, 1]
    with pytest.raises(BoucleError, match="at least window \\+ horizon = 12 rows, got 10"):
        sliding_windows(s, window=10, horizon=2)
    with pytest.raises(BoucleError, match="targets"):
        sliding_windows(s, 2, targets=[5])
    with pytest.raises(BoucleError, match="finite"):
        sliding_windows([1.0, np.nan, 2.0], 1)


def test_splits_are_chronological_or_seeded():
    tr, va, te = split_series(np.arange(100), val=0.1, test=0.2)
    assert (len(tr), len(va), len(te)) == (70, 10, 20)
    assert tr[-1, 0] == 69 and va[0, 0] == 70 and te[0, 0] == 80
    a = split_indices(50, 0.2, 0.2, seed=1)
    b = split_indices(50, 0.2, 0.2, seed=1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert sorted(np.concatenate(a).tolist()) == list(range(50))
    assert split_indices(10, 0.2, 0.2, shuffle=False)[0].tolist() == list(range(6))
    with pytest.raises(BoucleError, match="val \\+ test"):
        split_series(np.arange(10), 0.5, 0.5)
    with pytest.raises(BoucleError, match="too few"):
        split_series(np.arange(3), 0.1, 0.1)


def test_normalizer_fits_train_only_and_inverts():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 2.0, (200, 2))
    test = rng.normal(50.0, 9.0, (30, 2))
    n = Normalizer().fit(train)
    z = n.transform(train)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-12)
    assert n.transform(test).mean() > 10  # the test set keeps its shift: no leakage
    np.testing.assert_allclose(n.inverse_transform(n.transform(test)), test)
    np.testing.assert_allclose(n.inverse_transform(z[:, 1:], columns=[1]), train[:, 1:])
    m = Normalizer("minmax").fit(np.array([[1.0, 3.0], [3.0, 3.0]]))
    np.testing.assert_allclose(m.transform(np.array([[2.0, 3.0]])), [[0.5, 0.0]])  # constant column: scale 1
    with pytest.raises(BoucleError, match="call fit"):
        Normalizer().transform(train)
    with pytest.raises(BoucleError, match="last axis of size 2"):
        n.transform(np.zeros((3, 4)))
    with pytest.raises(BoucleError, match="method"):
        Normalizer("robust")


def test_forecast_splits_assign_windows_by_first_target_and_normalise_on_train():
    s = np.arange(100.0)
    d = forecast_splits(s, window=5, horizon=3, val=0.2, test=0.2)
    mu, sd = np.arange(60.0).mean(), np.arange(60.0).std()  # statistics of the 60 training rows only
    back = lambda a: a * sd + mu  # noqa: E731
    assert back(d.y_train[:, 0, 0]).max() == pytest.approx(59)
    assert back(d.y_val[:, 0, 0]).min() == pytest.approx(60) and back(d.y_val[:, 0, 0]).max() == pytest.approx(79)
    assert back(d.y_test[:, 0, 0]).min() == pytest.approx(80)
    assert back(d.x_val[0, :, 0]).tolist() == pytest.approx([55, 56, 57, 58, 59])  # context may reach back
    assert len(d.x_train) + len(d.x_val) + len(d.x_test) == 100 - 5 - 3 + 1
    assert d.x_train.dtype == np.float32 and d.normalizer.shift[0] == pytest.approx(mu)
    raw = forecast_splits(s, 5, normalize=None)
    assert raw.normalizer is None and raw.y_test[-1, 0, 0] == 99


def test_persistence_forecast():
    x = np.arange(24.0).reshape(2, 4, 3)
    p = persistence_forecast(x, horizon=3, targets=[2])
    assert p.shape == (2, 3, 1) and (p[0] == 11).all() and (p[1] == 23).all()
    with pytest.raises(BoucleError, match="windows of shape"):
        persistence_forecast(np.zeros((3, 4)))
