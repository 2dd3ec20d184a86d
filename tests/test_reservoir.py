"""Echo state networks (seed 004): reservoir, readouts, models, measures, model files, bad input."""

import warnings

import numpy as np
import pytest
import scipy.linalg

import boucle
from boucle.data.tasks.timeseries import mackey_glass, to_forecasting
from boucle.errors import BoucleError
from boucle.reservoir import (
    ESN,
    RLS,
    DeepESN,
    EchoStateWarning,
    ESNClassifier,
    Reservoir,
    Ridge,
    StateWarning,
    memory_capacity,
    nrmse,
    rmse,
    rsquare,
    spectral_radius,
)
from boucle.reservoir.readout import solve_ridge
from boucle.reservoir.reservoir import DENSE_EIG_MAX

pytestmark = pytest.mark.filterwarnings("ignore::boucle.reservoir.EchoStateWarning")  # sr 1.25 as reservoirpy


@pytest.fixture(scope="module")
def mg():
    """Mackey-Glass tau=17, 2000 steps, one-step forecasting, 1599 train / 400 test pairs."""
    x, y = to_forecasting(mackey_glass(2000, seed=0), 1)
    return x[:1599], y[:1599], x[1599:], y[1599:]


def true_sr(W) -> float:
    return float(np.abs(scipy.linalg.eigvals(W.toarray())).max())


# ---------------------------------------------------------------- reservoir
@pytest.mark.parametrize("units", [50, DENSE_EIG_MAX + 150])  # dense eigenvalues, then ARPACK
def test_spectral_radius_after_scaling_equals_target(units):
    for sr in (0.5, 0.95):
        res = Reservoir(units, spectral_radius=sr, connectivity=0.1, seed=3, input_dim=2)
        assert abs(true_sr(res.W) - sr) < 1e-6
        assert res.W.nnz == round(0.1 * units * units)
    assert abs(spectral_radius(res.W) - true_sr(res.W)) < 1e-9


def test_leak_rate_one_is_the_plain_update_and_leaky_update_matches_equation(rng):
    u = rng.standard_normal((30, 3))
    for leak in (1.0, 0.3):
        res = Reservoir(40, spectral_radius=0.8, leak_rate=leak, bias_scaling=0.5, seed=1, input_dim=3)
        W, W_in, b = res.W.toarray(), res.W_in, res.b
        x, ref = np.zeros(40), []
        for t in range(30):
            new = np.tanh(u[t] @ W_in + x @ W + b)
            x = new if leak == 1.0 else (1 - leak) * x + leak * new
            ref.append(x)
        np.testing.assert_allclose(res.run(u), np.array(ref), rtol=0, atol=1e-13)


def test_batch_list_and_single_sequences_agree(rng):
    res = Reservoir(30, leak_rate=0.5, seed=0)
    seqs = [rng.standard_normal((n, 2)) for n in (12, 7, 12)]
    alone = [res.run(s) for s in seqs]
    for a, b in zip(res.run(seqs), alone):  # a list: padded batch, each read to its own length
        np.testing.assert_allclose(a, b, atol=1e-13)
    np.testing.assert_allclose(res.last_state[1], alone[1][-1], atol=1e-13)
    batch = res.run(np.stack([seqs[0], seqs[2]]))
    assert batch.shape == (2, 12, 30)
    np.testing.assert_allclose(batch[1], alone[2], atol=1e-13)
    h0 = rng.standard_normal(30) * 0.1  # initial state and continuing a run
    first = res.run(seqs[0][:5], initial_state=h0)
    second = res.run(seqs[0][5:], initial_state=res.last_state)
    np.testing.assert_allclose(np.vstack([first, second]), res.run(seqs[0], initial_state=h0), atol=1e-13)


def test_determinism_from_the_seed(mg):
    xtr, ytr, xte, _ = mg
    a = ESN(60, leak_rate=0.3, seed=7).fit(xtr[:300], ytr[:300], warmup=20)
    b = ESN(60, leak_rate=0.3, seed=7).fit(xtr[:300], ytr[:300], warmup=20)
    c = ESN(60, leak_rate=0.3, seed=8).fit(xtr[:300], ytr[:300], warmup=20)
    for k, v in a.get_weights().items():
        assert np.array_equal(v, b.get_weights()[k]), k
    assert np.array_equal(a.predict(xte, initial_state=None), b.predict(xte, initial_state=None))
    assert not np.array_equal(a.reservoir.W.data, c.reservoir.W.data)
    r = Reservoir(40, seed=5, input_dim=1)
    w1 = r.get_weights()
    r.build(1)  # rebuilding from the same seed draws the same weights
    assert all(np.array_equal(w1[k], v) for k, v in r.get_weights().items())


def test_float32_reservoir_runs_and_matches_float64(rng):
    u = rng.standard_normal((50, 2))
    r64 = Reservoir(40, leak_rate=0.5, seed=2).run(u)
    r32 = Reservoir(40, leak_rate=0.5, seed=2, dtype="float32").run(u)
    assert r32.dtype == np.float32
    np.testing.assert_allclose(r32, r64, atol=1e-5)


def test_spectral_radius_warning_explains_echo_state_property():
    with pytest.warns(EchoStateWarning, match="echo state property"):
        Reservoir(10, spectral_radius=1.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Reservoir(10, spectral_radius=0.99)


# ---------------------------------------------------------------- readouts
def _ridge_reference(X, Y, lam, fit_bias=True):
    """lstsq on the augmented system [X 1; sqrt(lam) I 0] [W; b] = [Y; 0] (bias not penalised)."""
    n, F = X.shape
    A = np.hstack([X, np.ones((n, 1))]) if fit_bias else X
    pen = np.hstack([np.sqrt(lam) * np.eye(F), np.zeros((F, 1))]) if fit_bias else np.sqrt(lam) * np.eye(F)
    sol = np.linalg.lstsq(np.vstack([A, pen]), np.vstack([Y, np.zeros((F, Y.shape[1]))]), rcond=None)[0]
    return (sol[:-1], sol[-1]) if fit_bias else (sol, np.zeros(Y.shape[1]))


@pytest.mark.parametrize("n,F", [(200, 30), (20, 50)])  # primal and dual solves
@pytest.mark.parametrize("fit_bias", [True, False])
def test_ridge_equals_reference_least_squares(rng, n, F, fit_bias):
    X = rng.standard_normal((n, F)) + 0.5
    Y = X @ rng.standard_normal((F, 3)) + 2.0 + 0.1 * rng.standard_normal((n, 3))
    r = Ridge(ridge=0.3, fit_bias=fit_bias).fit(X, Y)
    W, b = _ridge_reference(X, Y, 0.3, fit_bias)
    np.testing.assert_allclose(r.W_out, W, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(r.b_out, b, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(r.predict(X), X @ W + b, atol=1e-9)


def test_ridge_washout_and_several_sequences(rng):
    seqs = [rng.standard_normal((n, 4)) for n in (30, 45)]
    targets = [s @ rng.standard_normal((4, 2)) for s in seqs]
    r = Ridge(1e-3).fit(seqs, targets, warmup=10)
    W, b = _ridge_reference(np.vstack([s[10:] for s in seqs]), np.vstack([t[10:] for t in targets]), 1e-3)
    np.testing.assert_allclose(r.W_out, W, atol=1e-10)
    np.testing.assert_allclose(r.b_out, b, atol=1e-10)
    out = r.predict(seqs)
    assert isinstance(out, list) and [o.shape for o in out] == [(30, 2), (45, 2)]


def test_rls_equals_ridge_with_penalised_bias_and_converges_to_ridge(rng):
    X = rng.standard_normal((400, 6))
    Y = X @ rng.standard_normal((6, 2)) + 1.0 + 0.05 * rng.standard_normal((400, 2))
    rls = RLS(alpha=0.5).fit(X, Y)
    Z = np.hstack([X, np.ones((400, 1))])
    ref = scipy.linalg.solve(Z.T @ Z + 0.5 * np.eye(7), Z.T @ Y, assume_a="pos")
    np.testing.assert_allclose(np.vstack([rls.W_out, rls.b_out]), ref, rtol=1e-8, atol=1e-10)
    ridge = Ridge(1e-6).fit(X, Y)  # stationary problem: online and closed form agree
    tiny = RLS(alpha=1e-6).fit(X, Y)
    np.testing.assert_allclose(tiny.W_out, ridge.W_out, atol=1e-6)
    np.testing.assert_allclose(tiny.b_out, ridge.b_out, atol=1e-6)
    # online in two chunks equals one pass; prior errors shrink as it learns
    a = RLS(alpha=0.5)
    p1 = a.partial_fit(X[:200], Y[:200])
    a.partial_fit(X[200:], Y[200:])
    np.testing.assert_allclose(a.W_out, rls.W_out, atol=1e-10)
    assert np.abs(p1[-50:] - Y[150:200]).mean() < 0.1 * np.abs(p1[:5] - Y[:5]).mean()


def test_esn_with_rls_readout_learns_online(mg):
    xtr, ytr, xte, yte = mg
    esn = ESN(100, spectral_radius=1.25, leak_rate=0.3, readout=RLS(alpha=1e-6), seed=0)
    esn.fit(xtr, ytr, warmup=100)
    ref = ESN(100, spectral_radius=1.25, leak_rate=0.3, ridge=1e-6, seed=0).fit(xtr, ytr, warmup=100)
    p, q = esn.predict(xte, initial_state="last"), ref.predict(xte, initial_state="last")
    assert nrmse(yte, p) < 0.03 and abs(rmse(yte, p) - rmse(yte, q)) < 0.5 * rmse(yte, q)
    online = ESN(100, spectral_radius=1.25, leak_rate=0.3, readout=RLS(alpha=1e-6), seed=0)
    prior = online.partial_fit(xtr[:800], ytr[:800], initial_state=None)
    prior2 = online.partial_fit(xtr[800:], ytr[800:])  # continues the state and the readout
    assert prior.shape == (800, 1) and rmse(ytr[1400:], prior2[-199:]) < rmse(ytr[20:100], prior[20:100])


# ---------------------------------------------------------------- models
def test_mackey_glass_one_step_nrmse_below_bound(mg):
    xtr, ytr, xte, yte = mg
    with pytest.warns(EchoStateWarning):
        esn = ESN(100, spectral_radius=1.25, leak_rate=0.3, ridge=1e-5, seed=0)
    esn.fit(xtr, ytr, warmup=100)
    pred = esn.predict(xte, initial_state="last")
    assert pred.shape == (400, 1)
    assert nrmse(yte, pred) < 0.02  # std normalisation; reservoirpy's README: RMSE 0.0020
    assert nrmse(yte, pred, norm="minmax") < 0.006 and rsquare(yte, pred) > 0.999
    with pytest.warns(StateWarning, match="initial_state='last'"):
        cold = esn.predict(xte)  # from a zero state the transient costs accuracy
    assert rmse(yte[200:], cold[200:]) < 2 * rmse(yte[200:], pred[200:])


def test_deep_esn_uses_all_layers_and_forecasts(mg):
    xtr, ytr, xte, yte = mg
    deep = DeepESN(units=[60, 40], spectral_radius=[1.25, 0.9], leak_rate=0.3, ridge=1e-6, seed=0)
    deep.fit(xtr, ytr, warmup=100)
    assert nrmse(yte, deep.predict(xte, initial_state="last")) < 0.02
    states = deep.run(xte)
    assert states.shape == (400, 100) and deep.readout.W_out.shape == (100, 1)
    layer1 = deep.reservoirs[0].run(xte)  # layer 1 sees the input, layer 2 sees layer 1
    np.testing.assert_allclose(states[:, :60], layer1, atol=1e-13)
    np.testing.assert_allclose(states[:, 60:], deep.reservoirs[1].run(layer1), atol=1e-13)
    assert [r.spectral_radius for r in deep.reservoirs] == [1.25, 0.9]
    assert [r.input_dim for r in deep.reservoirs] == [1, 60]


def test_input_to_readout_and_multiple_outputs(rng):
    u = rng.uniform(-1, 1, (300, 2))
    y = np.stack([u[:, 0] * 2.0, np.roll(u[:, 1], 1)], axis=1)  # a linear map of the input and a delay
    esn = ESN(50, input_to_readout=True, input_scaling=0.5, ridge=1e-8, seed=0).fit(u, y, warmup=10)
    assert esn.readout.W_out.shape == (52, 2) and esn.n_features == 52
    pred = esn.predict(u)
    assert rmse(y[10:, 0], pred[10:, 0]) < 1e-4  # the input itself reaches the readout
    assert rmse(y[10:, 1], pred[10:, 1]) < 0.05  # the delayed input, from the reservoir's memory
    plain = ESN(50, input_scaling=0.5, ridge=1e-8, seed=0).fit(u, y, warmup=10)
    assert rmse(y[10:, 0], plain.predict(u)[10:, 0]) > 10 * rmse(y[10:, 0], pred[10:, 0])


def test_closed_loop_generate_continues_a_sine():
    t = np.arange(1200) * 0.1
    s = np.sin(t).reshape(-1, 1)
    esn = ESN(100, spectral_radius=0.9, leak_rate=0.5, ridge=1e-7, seed=1).fit(s[:999], s[1:1000], warmup=100)
    gen = esn.generate(100, warmup_inputs=s[900:1000])
    assert gen.shape == (100, 1)
    assert rmse(s[1000:1100], gen) < 0.05
    two = esn.generate(5, warmup_inputs=np.stack([s[900:1000], s[905:1005]]))
    assert two.shape == (2, 5, 1)
    np.testing.assert_allclose(two[0], gen[:5], atol=1e-12)


def _classes(rng, n, lengths=(30, 50)):
    """Sequences of noisy sines, the class sets the frequency."""
    X, y = [], []
    for i in range(n):
        c = i % 3
        T = int(rng.integers(*lengths))
        t = np.arange(T) * (0.2 + 0.25 * c) + rng.uniform(0, 6.28)
        X.append(np.stack([np.sin(t), np.cos(t)], 1) + 0.2 * rng.standard_normal((T, 2)))
        y.append(c)
    return X, np.array(y)


@pytest.mark.parametrize("mode", ["last", "transduction"])
def test_classification_last_state_and_per_step_vote(rng, mode):
    Xtr, ytr = _classes(rng, 150)
    Xte, yte = _classes(rng, 90)
    # the bias makes tanh even-order (phase-invariant) features: frequency is not linear in the state
    clf = ESNClassifier(100, mode=mode, spectral_radius=0.9, leak_rate=0.3, bias_scaling=0.5, ridge=1e-3, seed=0)
    clf.fit(Xtr, ytr, warmup=5)
    assert clf.classes_ == [0, 1, 2]
    assert clf.score(Xte, yte) >= 0.95
    assert clf.decision_function(Xte).shape == (90, 3)
    names = np.array(["slow", "mid", "fast"])[ytr]  # string labels
    named = ESNClassifier(100, mode=mode, leak_rate=0.3, bias_scaling=0.5, ridge=1e-3, seed=0).fit(Xtr, names)
    assert list(named.predict(Xte[:6])) == list(np.array(["slow", "mid", "fast"])[clf.predict(Xte[:6])])


def test_memory_capacity_bounded_by_units_and_increasing():
    mcs = []
    for units in (5, 20, 50):
        res = Reservoir(units, spectral_radius=0.9, input_scaling=0.1, connectivity=0.5, seed=0)
        mc = memory_capacity(res, k_max=2 * units, seed=1)
        assert 0 < mc <= units
        mcs.append(mc)
    assert mcs[0] < mcs[1] < mcs[2]
    per_lag = memory_capacity(
        Reservoir(20, spectral_radius=0.9, input_scaling=0.1, seed=0), k_max=10, seed=1, as_list=True
    )
    assert per_lag.shape == (10,) and per_lag[0] > 0.9 and per_lag[0] >= per_lag[-1]


def test_measures_values():
    t = np.array([[0.0], [1.0], [2.0], [3.0]])
    p = t + np.array([[0.1], [-0.1], [0.1], [-0.1]])
    assert rmse(t, p) == pytest.approx(0.1)
    assert nrmse(t, p, norm="minmax") == pytest.approx(0.1 / 3)
    assert nrmse(t, p) == pytest.approx(0.1 / np.std(t))
    assert rsquare(t, p) == pytest.approx(1 - 0.04 / 5)


# ---------------------------------------------------------------- model files
@pytest.mark.parametrize("kind", ["esn", "rls", "deep", "clf"])
def test_save_load_round_trip(tmp_path, mg, rng, kind):
    xtr, ytr, xte, _ = mg
    if kind == "clf":
        X, y = _classes(rng, 30)
        model = ESNClassifier([30, 20], mode="transduction", spectral_radius=[0.9, 0.5], leak_rate=0.3, seed=0).fit(
            X, y
        )
        xte = X[:5]
    else:
        model = {
            "esn": lambda: ESN(50, leak_rate=0.3, input_to_readout=True, seed=1),
            "rls": lambda: ESN(40, readout=RLS(alpha=1e-3, forgetting=0.999), seed=1),
            "deep": lambda: DeepESN(units=30, layers=3, leak_rate=0.5, seed=1),
        }[kind]()
        model.fit(xtr[:400], ytr[:400], warmup=50)
    path = tmp_path / "m.safetensors"
    boucle.save(model, path)
    loaded = boucle.load(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    for k, v in model.get_weights().items():
        assert np.array_equal(loaded.get_weights()[k], v), k
    assert np.array_equal(loaded.predict(xte), model.predict(xte, initial_state=None))
    if kind == "rls":  # online learning resumes from the saved P
        assert np.array_equal(
            loaded.partial_fit(xte, xte, initial_state=None), model.partial_fit(xte, xte, initial_state=None)
        )
    with pytest.raises(BoucleError, match="not built"):
        boucle.save(ESN(10), tmp_path / "unfitted.safetensors")


def test_weights_are_named_and_validated():
    esn = ESN(20, seed=0).fit(np.ones((30, 1)) * np.linspace(0, 1, 30)[:, None], np.zeros((30, 1)))
    w = esn.get_weights()
    assert set(w) == {
        "reservoir/W_in",
        "reservoir/b",
        "reservoir/W/data",
        "reservoir/W/indices",
        "reservoir/W/indptr",
        "readout/W_out",
        "readout/b_out",
    }
    bad = dict(w, **{"readout/W_out": np.zeros((3, 1))})
    with pytest.raises(BoucleError, match="readout/W_out"):
        esn.set_weights(bad)
    bad = dict(w, **{"reservoir/W/indices": np.full_like(w["reservoir/W/indices"], 99)})
    with pytest.raises(BoucleError, match="CSR"):
        esn.set_weights(bad)


# ---------------------------------------------------------------- bad input
def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"units": 0}, "units: expected a positive int, got 0"),
        ({"units": -3}, "units"),
        ({"units": 10, "connectivity": 0.0}, r"connectivity: expected a number in \(0, 1\], got 0.0"),
        ({"units": 10, "connectivity": 1.5}, "connectivity"),
        ({"units": 10, "input_connectivity": -0.1}, "input_connectivity"),
        ({"units": 10, "leak_rate": 0.0}, "leak_rate"),
        ({"units": 10, "spectral_radius": -1.0}, "spectral_radius"),
        ({"units": 10, "activation": "swish"}, "activation"),
    ],
)
def test_bad_reservoir_arguments(kwargs, match):
    with pytest.raises(BoucleError, match=match) as e:
        Reservoir(**kwargs)
    _one_line(e)
    with pytest.raises(BoucleError, match=match):
        ESN(**kwargs)


def _overflowing_ridge():
    """solve_ridge on features whose squares overflow (NumPy's overflow warning silenced: the error is the point)."""
    with np.errstate(over="ignore"):
        return solve_ridge(np.array([[1e200, -1e200, 0], [-1e200, 1e200, 1]]), np.ones((2, 1)), 1e-6)


def test_bad_data_and_singular_system(mg):
    xtr, ytr, _, _ = mg
    esn = ESN(30, seed=0)
    x_nan = xtr[:100].copy()
    x_nan[17, 0] = np.nan
    cases = [
        (lambda: esn.fit(x_nan, ytr[:100]), r"X: expected finite values, got nan at index \(17, 0\)"),
        (lambda: esn.fit(xtr[:100], np.full((100, 1), np.inf)), "Y: expected finite values"),
        (lambda: esn.fit(xtr[:100], ytr[:99]), "Y: expected 100 timesteps to match X, got 99"),
        (
            lambda: esn.fit([xtr[:50], xtr[:60]], [ytr[:50], ytr[:59]]),
            r"Y: expected 60 timesteps to match X \(sequence 1\)",
        ),
        (
            lambda: esn.fit(xtr[:100], ytr[:100], warmup=100),
            r"warmup: expected fewer steps than the shortest sequence \(100 timesteps\), got 100",
        ),
        (lambda: esn.fit(xtr[:100, 0], ytr[:100]), r"X: expected \(T, D\), \(N, T, D\) or a list"),
        (lambda: esn.predict(xtr[:10]), "not fitted"),
        (lambda: ESN(30, ridge=0.0, seed=0).fit(xtr[:20], ytr[:20]), r"ridge: .*singular.*use .*ridge=\de-\d+"),
        (lambda: Ridge(0.0).fit(np.ones((50, 3)), np.ones((50, 1))), r"singular.*ridge="),
        (lambda: solve_ridge(np.full((50, 3), np.nan), np.ones((50, 1)), 1e-6), "S: expected finite features"),
        (_overflowing_ridge, "S: expected finite features"),
        (lambda: Ridge(-1.0), "ridge: expected a non-negative"),
        (lambda: Reservoir(2, connectivity=0.25, seed=3, input_dim=1), "connectivity: .*spectral radius 0"),
    ]
    for fn, match in cases:
        with pytest.raises(BoucleError, match=match) as e:
            fn()
        _one_line(e)
    esn.fit(xtr[:100], ytr[:100])
    with pytest.raises(BoucleError, match="X: expected 1 features per step, got shape"):
        esn.predict(np.zeros((10, 2)))
    with pytest.raises(BoucleError, match="generate: .*output_dim must equal input_dim"):
        ESN(20, seed=0).fit(xtr[:100], np.hstack([ytr[:100], ytr[:100]])).generate(5, xtr[:10])
