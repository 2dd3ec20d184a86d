"""Learning reservoirs and external recurrence (seed 004): intrinsic plasticity, output feedback,
state between calls."""

import os
import warnings

import numpy as np
import pytest

import boucle
from boucle.data.tasks.timeseries import mackey_glass, to_forecasting
from boucle.errors import BoucleError
from boucle.reservoir import (
    ESN,
    LSM,
    DeepESN,
    IntrinsicPlasticity,
    Reservoir,
    StateWarning,
    forecast_horizon,
    nrmse,
    output_kl,
    rmse,
)

pytestmark = pytest.mark.filterwarnings("ignore::boucle.reservoir.EchoStateWarning")


@pytest.fixture(scope="module")
def mg():
    x, y = to_forecasting(mackey_glass(1200, seed=0), 1)
    return x[:999], y[:999], x[999:], y[999:]


def sine(n, period=50.0, amp=0.5):
    return amp * np.sin(2 * np.pi * np.arange(n) / period).reshape(-1, 1)


# ---------------------------------------------------------------- intrinsic plasticity
def _outputs(res, u):
    """Unit outputs y_t = f(u W_in + x W + b) of a leak-1 reservoir = its states."""
    return res.run(u)


def test_ip_moves_the_output_distribution_toward_the_gaussian_target(rng):
    u = rng.uniform(-1, 1, (1500, 1))
    res = Reservoir(80, spectral_radius=0.9, input_scaling=1.5, bias_scaling=0.2, seed=0, input_dim=1)
    before = output_kl(_outputs(res, u)[100:], mu=0.0, sigma=0.2)
    ip = IntrinsicPlasticity(mu=0.0, sigma=0.2, learning_rate=1e-3, epochs=4, warmup=100).fit(res, u)
    after = output_kl(_outputs(res, u)[100:], mu=0.0, sigma=0.2)
    assert after < 0.5 * before
    assert ip.kl_[0][-1] < ip.kl_[0][0]  # KL of the outputs produced during each epoch
    y = _outputs(res, u)[100:]
    assert abs(y.mean()) < 0.05 and 0.5 < y.std(axis=0).mean() / 0.2 < 1.5
    assert ip.gain_[0].shape == (80,) and (ip.gain_[0] > 0).all()


def test_ip_gain_is_folded_exactly_into_the_weights(rng):
    u = rng.uniform(-1, 1, (300, 2))
    res = Reservoir(30, spectral_radius=0.8, leak_rate=0.5, bias_scaling=0.3, seed=1, input_dim=2)
    W, W_in = res.W.toarray(), res.W_in.copy()
    ip = IntrinsicPlasticity(learning_rate=5e-3, epochs=2).fit(res, u)
    a, b = ip.gain_[0], ip.bias_[0]
    x, ref = np.zeros(30), []
    for t in range(300):  # y = tanh(a (u W_in + x W) + b) with the original weights
        x = 0.5 * x + 0.5 * np.tanh(a * (u[t] @ W_in + x @ W) + b)
        ref.append(x)
    np.testing.assert_allclose(res.run(u), np.array(ref), atol=1e-12)
    assert not np.allclose(a, 1.0)


def test_ip_sigmoid_exponential_target_and_deep_layers(rng):
    u = rng.uniform(-1, 1, (800, 1))
    res = Reservoir(40, activation="sigmoid", spectral_radius=0.9, seed=0, input_dim=1)
    before = output_kl(res.run(u)[50:], mu=0.2, target="exponential")
    IntrinsicPlasticity(mu=0.2, learning_rate=2e-3, epochs=3, warmup=50).fit(res, u)
    assert output_kl(res.run(u)[50:], mu=0.2, target="exponential") < 0.6 * before
    deep = DeepESN(units=[30, 20], seed=0, input_dim=1)
    ip = IntrinsicPlasticity(learning_rate=1e-3, epochs=2).fit(deep, u)
    assert [g.shape for g in ip.gain_] == [(30,), (20,)]
    assert all(k[-1] < k[0] for k in ip.kl_)


def test_output_kl_is_small_for_the_target_itself(rng):
    g = np.clip(rng.normal(0.0, 0.2, (20000, 3)), -1, 1)
    assert output_kl(g, 0.0, 0.2) < 0.01
    assert output_kl(g + 0.3, 0.0, 0.2) > 0.5


def test_ip_esn_round_trips_through_a_file(tmp_path, mg):
    xtr, ytr, xte, _ = mg
    esn = ESN(60, leak_rate=0.3, bias_scaling=0.1, seed=2)
    IntrinsicPlasticity(sigma=0.3, learning_rate=1e-3, epochs=2).fit(esn, xtr)
    esn.fit(xtr, ytr, warmup=50)
    boucle.save(esn, tmp_path / "ip.safetensors")
    loaded = boucle.load(tmp_path / "ip.safetensors")
    assert np.array_equal(loaded.predict(xte), esn.predict(xte, initial_state=None))


def test_ip_bad_input(rng):
    u = rng.uniform(-1, 1, (50, 1))
    cases = [
        (lambda: IntrinsicPlasticity(sigma=0.0), "sigma: expected a positive"),
        (lambda: IntrinsicPlasticity(learning_rate=-1e-3), "learning_rate"),
        (lambda: IntrinsicPlasticity(epochs=0), "epochs: expected a positive int"),
        (
            lambda: IntrinsicPlasticity().fit(Reservoir(10, activation="relu", seed=0), u),
            "activation: intrinsic plasticity needs a 'tanh' or 'sigmoid' reservoir, got 'relu'",
        ),
        (
            lambda: IntrinsicPlasticity(mu=0.0).fit(Reservoir(10, activation="sigmoid", seed=0), u),
            r"mu: a sigmoid reservoir's exponential target needs a mean in \(0, 1\)",
        ),
        (lambda: IntrinsicPlasticity().fit(LSM(10, seed=0), u), "model: intrinsic plasticity needs"),
        (lambda: IntrinsicPlasticity().fit(ESN(10, feedback_scaling=0.5, seed=0), u), "output feedback"),
        (lambda: IntrinsicPlasticity(warmup=50).fit(Reservoir(10, seed=0), u), "warmup"),
    ]
    for fn, match in cases:
        with pytest.raises(BoucleError, match=match) as e:
            fn()
        assert "\n" not in str(e.value)


# ---------------------------------------------------------------- output feedback (external recurrence)
def test_feedback_states_follow_the_equation_teacher_forced_and_closed_loop(rng):
    u = rng.uniform(-1, 1, (40, 2))
    y = rng.uniform(-1, 1, (40, 1))
    esn = ESN(
        25,
        spectral_radius=0.8,
        leak_rate=0.7,
        bias_scaling=0.1,
        feedback_scaling=0.5,
        feedback_connectivity=1.0,
        ridge=1e-3,
        seed=3,
    ).fit(u, y)
    res = esn.reservoir
    W, W_in, b, W_fb = res.W.toarray(), res.W_in, res.b, esn.W_fb
    assert W_fb.shape == (1, 25) and set(np.unique(np.abs(W_fb))) == {0.5}

    def manual(feed):
        x, xs, prev, outs = np.zeros(25), [], np.zeros(1), []
        for t in range(40):
            x = 0.3 * x + 0.7 * np.tanh(u[t] @ W_in + x @ W + prev @ W_fb + b)
            out = x @ esn.readout.W_out + esn.readout.b_out
            xs.append(x)
            outs.append(out)
            prev = y[t] if feed == "teacher" else out
        return np.array(xs), np.array(outs)

    xs, outs = manual("teacher")
    np.testing.assert_allclose(esn.run(u, teacher=y), xs, atol=1e-12)
    np.testing.assert_allclose(esn.predict(u, initial_state=None, teacher=y), outs, atol=1e-12)
    xs, outs = manual("closed")
    np.testing.assert_allclose(esn.predict(u, initial_state=None), outs, atol=1e-12)
    np.testing.assert_allclose(esn.run(u), xs, atol=1e-12)
    np.testing.assert_allclose(esn.last_output, outs[-1], atol=1e-12)


def test_feedback_sine_generator_runs_1000_steps_closed_loop():
    s = sine(3000)
    X = np.ones_like(s)  # a constant input: the reservoir's only signal is its own output
    esn = ESN(
        50,
        spectral_radius=0.9,
        leak_rate=0.5,
        input_scaling=0.1,
        feedback_scaling=0.5,
        feedback_connectivity=1.0,
        feedback_noise=1e-4,
        ridge=1e-7,
        seed=0,
    )
    esn.fit(X[:2000], s[:2000], warmup=200)  # teacher forcing
    np.testing.assert_array_equal(esn.last_output, s[1999])
    gen = esn.predict(X[2000:3000], initial_state="last")  # free-running continuation of the trained run
    assert np.abs(gen - s[2000:3000]).max() < 0.01  # amplitude 0.5, 20 periods
    assert forecast_horizon(s[2000:3000], gen, 0.1) == 1000
    without = ESN(50, spectral_radius=0.9, leak_rate=0.5, input_scaling=0.1, ridge=1e-7, seed=0)
    without.fit(X[:2000], s[:2000], warmup=200)  # no feedback: a constant input cannot make a sine
    assert rmse(s[2000:3000], without.predict(X[2000:3000], initial_state="last")) > 0.3


def test_feedback_forecaster_generates_and_round_trips(tmp_path, mg):
    xtr, ytr, xte, yte = mg
    esn = ESN(80, spectral_radius=0.9, leak_rate=0.3, feedback_scaling=0.2, feedback_noise=1e-5, ridge=1e-7, seed=1)
    esn.fit(xtr, ytr, warmup=100)
    gen = esn.generate(30, warmup_inputs=xtr[-200:])  # warm-up feeds back the next input, then the predictions
    assert nrmse(xte[1:31], gen, norm="std") < 0.1
    boucle.save(esn, tmp_path / "fb.safetensors")
    loaded = boucle.load(tmp_path / "fb.safetensors")
    assert "feedback/W_fb" in loaded.get_weights() and loaded.get_config() == esn.get_config()
    np.testing.assert_array_equal(loaded.W_fb, esn.W_fb)
    np.testing.assert_array_equal(loaded.predict(xte, initial_state=None), esn.predict(xte, initial_state=None))


def test_feedback_bad_input(mg):
    xtr, ytr, _, _ = mg
    cases = [
        (lambda: ESN(10, feedback_scaling=-1.0), "feedback_scaling: expected a non-negative"),
        (lambda: ESN(10, feedback_scaling=1.0, feedback_connectivity=0.0), "feedback_connectivity"),
        (lambda: ESN(10, feedback_noise=0.1), "feedback_noise: expected 0 without feedback"),
        (
            lambda: ESN(10, seed=0).fit(xtr[:50], ytr[:50]).predict(xtr[:5], teacher=ytr[:5]),
            "teacher: only models with output feedback take it",
        ),
        (lambda: ESN(10, feedback_scaling=1.0, seed=0).run(xtr[:5]), "closed loop once fitted"),
        (
            lambda: ESN(10, feedback_scaling=1.0, seed=0).fit(xtr[:50], ytr[:50]).predict(xtr[:5], teacher=ytr[:4]),
            "teacher: expected 5 timesteps",
        ),
    ]
    for fn, match in cases:
        with pytest.raises(BoucleError, match=match) as e:
            fn()
        assert "\n" not in str(e.value)


# ---------------------------------------------------------------- state between calls
def test_predict_continuing_equals_one_run_and_cold_start_warns(mg):
    xtr, ytr, xte, yte = mg
    esn = ESN(100, spectral_radius=1.25, leak_rate=0.3, ridge=1e-5, seed=0).fit(xtr, ytr, warmup=100)
    warm = esn.predict(xte, initial_state="last")  # what reservoirpy's esn.run(x_test) computes
    whole = esn.predict(np.vstack([xtr, xte]), initial_state=None)
    np.testing.assert_allclose(warm, whole[len(xtr) :], atol=1e-10)
    esn.fit(xtr, ytr, warmup=100)
    with pytest.warns(StateWarning, match=r"ESN.predict starts from the zero state.*initial_state='last'") as rec:
        cold = esn.predict(xte)  # a reservoirpy script ported line by line
    assert rec[0].filename == os.path.abspath(__file__)  # the warning points at the user's line
    np.testing.assert_array_equal(cold, esn.predict(xte, initial_state=None))
    assert rmse(yte, cold) > 2 * rmse(yte, warm)


def test_no_state_warning_when_the_start_is_clear(mg, rng):
    xtr, ytr, xte, _ = mg
    esn = ESN(40, leak_rate=0.3, seed=0).fit(xtr, ytr, warmup=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StateWarning)
        esn.predict(xtr)  # replays the training run exactly
        esn.predict(xte, initial_state=None)
        esn.predict(xte, initial_state="last")
        esn.predict(np.stack([xte, xte]))  # several sequences: each starts from zeros
        esn.predict([xte[:50], xte[:80]])
        fresh = ESN(40, seed=0)
        fresh.readout = esn.readout
        fresh.predict(xte)  # no earlier call, no state to continue
    esn.predict(xte, initial_state=None)
    esn.predict(xte, initial_state="last")
    with pytest.warns(StateWarning):
        esn.predict(xte)  # replaying an input that continued another run is not a replay


def test_forecast_horizon_counts_steps_before_the_error_exceeds_the_threshold():
    t = np.zeros((10, 1))
    p = np.zeros((10, 1))
    p[6:] = 0.5
    assert forecast_horizon(t, p, 0.1, scale=1.0) == 6
    assert forecast_horizon(t, np.zeros((10, 1)), 0.1, scale=1.0) == 10
    y = np.sin(np.arange(100.0))
    assert forecast_horizon(y, y + 0.05 * np.std(y) * (np.arange(100) > 40), 0.1) == 100
    with pytest.raises(BoucleError, match="threshold: expected a positive number"):
        forecast_horizon(t, p, 0.0)
