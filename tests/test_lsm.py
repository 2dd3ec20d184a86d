"""Liquid state machines (seed 004): LIF neurons against closed forms, the circuit, LSM models, files, plots."""

import math
import sys

import numpy as np
import pytest

import boucle
from boucle.errors import BoucleError
from boucle.reservoir import (
    LSM,
    LIFReservoir,
    LSMClassifier,
    SpikeRecord,
    memory_capacity,
    nrmse,
    plot_membrane,
    plot_raster,
)

TAU, THETA, RESET = 30.0, 15.0, 13.5


def isolated(units=4, **kw):
    """Neurons without synapses between them."""
    kw.setdefault("seed", 0)
    return LIFReservoir(units, connection_prob=(0, 0, 0, 0), input_dim=1, **kw)


def crossing(I, v0=RESET):
    """Time for V(t) = RI + (v0 - RI) exp(-t / tau) (v_rest = 0, R = 1) to reach the threshold."""
    return TAU * math.log((I - v0) / (I - THETA))


# ---------------------------------------------------------------- the neuron, against its closed form
def test_constant_current_spike_times_and_membrane_equal_the_closed_form():
    dt, I = 0.1, 20.0
    liq = isolated(4, background=I, dt=dt, input_duration=1.0)  # 3 excitatory (3 ms), 1 inhibitory (2 ms)
    _, rec = liq.run(np.zeros((60, 1)), record=[0, 3])
    t_star = crossing(I)
    for n, t_ref in ((0, 3.0), (3, 2.0)):
        got = rec.spike_times[rec.spike_neurons == n]
        # first spike on the first grid point past t*, then every t_ref + ceil(t*/dt) dt
        k = math.ceil(t_star / dt)
        want = k * dt + np.arange(got.size) * (t_ref + k * dt)
        assert got.size >= 5
        np.testing.assert_allclose(got, want, atol=1e-9)
        assert 0 <= got[0] - t_star < dt  # spikes land at most one step late
    before = rec.times < t_star  # exact integration: the membrane equals its closed form
    v_exact = I + (RESET - I) * np.exp(-rec.times[before] / TAU)
    np.testing.assert_allclose(rec.v[before, 0], v_exact, rtol=0, atol=1e-10)
    t0 = rec.spike_times[rec.spike_neurons == 0][0]  # after the refractory period it restarts from the reset
    after = (rec.times > t0 + 3.0 + 1e-9) & (rec.times < t0 + 3.0 + t_star)
    np.testing.assert_allclose(
        rec.v[after, 0], I + (RESET - I) * np.exp(-(rec.times[after] - t0 - 3.0) / TAU), atol=1e-10
    )
    held = (rec.times > t0 + 1e-9) & (rec.times <= t0 + 3.0 + 1e-9)
    assert np.all(rec.v[held, 0] == RESET)


def test_input_current_drives_each_neuron_by_its_weight():
    liq = isolated(3, background=0.0, dt=0.25, input_duration=5.0)
    w = liq.get_weights("l")
    w["l/W_in"] = np.array([[18.0, 25.0, 10.0]])  # the third stays below threshold (R I = 10 mV)
    liq.set_weights(w, "l")
    _, rec = liq.run(np.ones((20, 1)), record=[0, 1, 2])
    for n, I in ((0, 18.0), (1, 25.0)):
        first = rec.spike_times[rec.spike_neurons == n][0]
        assert math.ceil(crossing(I) / 0.25) * 0.25 == pytest.approx(first, abs=1e-9)
    assert not np.any(rec.spike_neurons == 2)
    np.testing.assert_allclose(rec.v[-1, 2], 10.0 + (RESET - 10.0) * math.exp(-100.0 / TAU), atol=1e-10)


@pytest.mark.parametrize("pre", [0, 1])  # an excitatory (tau 3 ms) or inhibitory (tau 6 ms) synapse
def test_postsynaptic_potential_equals_the_closed_form(pre):
    dt, w = 0.5, 30.0
    liq = LIFReservoir(
        2, inhibitory=0.5, connection_prob=(0, 0, 0, 0), background=0.0, dt=dt, input_duration=dt, seed=0, input_dim=1
    )
    ws = liq.get_weights("l")
    post = 1 - pre
    sign = 1.0 if pre == 0 else -1.0
    ws.update(
        {
            "l/W/data": np.array([sign * w]),
            "l/W/indices": np.array([post], np.int32),
            "l/W/indptr": np.array([0, 1, 1] if pre == 0 else [0, 0, 1], np.int32),
        }
    )
    liq.set_weights(ws, "l")
    state = np.zeros(10)  # packed [V, I_e, I_i, refractory, trace] of 2 neurons
    state[pre] = 100.0  # the presynaptic neuron fires at the first step, once
    _, rec = liq.run(np.zeros((40, 1)), initial_state=state, record=[post])
    assert rec.spike_times.tolist() == [dt]
    tau_s = liq.tau_syn[pre]
    t = rec.times[1:] - dt  # the current jumps at the spike; the membrane feels it from the next step on
    psp = sign * w * tau_s / (tau_s - TAU) * (np.exp(-t / tau_s) - np.exp(-t / TAU))
    np.testing.assert_allclose(rec.v[1:, 0], psp, atol=1e-10)
    assert rec.v[0, 0] == 0.0


# ---------------------------------------------------------------- the circuit
def test_circuit_types_signs_and_distance_dependent_connection_probability():
    liq = LIFReservoir(1000, seed=0, input_dim=2)  # 10 x 10 x 10 grid
    assert liq.grid == [10, 10, 10] and liq.n_excitatory == 800
    W = liq.W.tocoo()
    assert not np.any(W.row == W.col)
    pre_inh = W.row >= 800
    assert np.all(W.data[pre_inh] < 0) and np.all(W.data[~pre_inh] > 0)
    d2 = ((liq.positions[W.row] - liq.positions[W.col]) ** 2).sum(1)
    P = liq.positions
    pair_d2 = ((P[:, None] - P[None]) ** 2).sum(-1)
    # every ordered pair of neurons at distance D: the fraction connected is C exp(-(D / lambda)^2), lambda = 2
    for dist2 in (1.0, 4.0):
        near = np.argwhere(pair_d2 == dist2)
        for (tp, tq), C in zip(((0, 0), (0, 1), (1, 0), (1, 1)), liq.connection_prob):
            pairs = near[((near[:, 0] >= 800) == tp) & ((near[:, 1] >= 800) == tq)]
            conn = (pre_inh == tp) & ((W.col >= 800) == tq) & (d2 == dist2)
            p_hat, p = conn.sum() / len(pairs), C * math.exp(-dist2 / 4.0)
            assert abs(p_hat - p) < 4 * math.sqrt(p * (1 - p) / len(pairs)), (dist2, tp, tq, p_hat, p)
    for (tp, tq), A in zip(((0, 0), (0, 1), (1, 0), (1, 1)), liq.weights):  # Gamma amplitudes of mean |A|
        typed = (pre_inh == tp) & ((W.col >= 800) == tq)
        assert abs(np.abs(W.data[typed]).mean() - A) < 0.1 * A
    w_in = liq.W_in
    assert abs((w_in != 0).mean() - 0.3) < 1e-3 and np.abs(w_in).max() <= 20.0 and (w_in < 0).any()


def test_same_seed_same_liquid_and_batches_equal_single_runs(rng):
    a, b = LIFReservoir(120, seed=3, input_dim=2), LIFReservoir(120, seed=3, input_dim=2)
    assert all(np.array_equal(v, b.get_weights()[k]) for k, v in a.get_weights().items())
    assert not np.array_equal(a.W.data, LIFReservoir(120, seed=4, input_dim=2).W.data)
    seqs = [rng.uniform(-1, 1, (n, 2)) for n in (15, 9, 15)]
    alone, ends = [], []
    for x in seqs:
        alone.append(a.run(x))
        ends.append(a.last_state)
    together = a.run(seqs)
    for x, y in zip(together, alone):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.last_state[1], ends[1])  # read at its own last step
    first = a.run(seqs[0][:6])  # continuing a run from its last state equals one run
    second = a.run(seqs[0][6:], initial_state=a.last_state)
    np.testing.assert_array_equal(np.vstack([first, second]), alone[0])
    assert a.unpack(a.last_state)["v"].shape == (120,)


def test_rate_coding_more_input_more_spikes():
    liq = LIFReservoir(100, input_coding="rate", input_scaling=15.0, input_connectivity=0.5, seed=0, input_dim=1)
    assert (liq.W_in >= 0).all()
    counts = []
    for level in (0.0, 0.3, 1.0):
        _, rec = liq.run(np.full((20, 1), level), record=[0])
        counts.append(rec.spike_times.size)
    assert counts[0] == 0 < counts[1] < counts[2]


# ---------------------------------------------------------------- models
def test_lsm_learns_a_one_step_forecast_and_memory_capacity():
    t = np.arange(400) * 0.25
    s = (np.sin(t) + 0.5 * np.sin(0.31 * t))[:, None] * 0.5
    lsm = LSM(
        100,
        input_scaling=40.0,
        input_connectivity=1.0,
        background=(12.0, 15.0),
        input_duration=20.0,
        tau_readout=10.0,
        ridge=10.0,
        seed=0,
    )
    lsm.fit(s[:299], s[1:300], warmup=20)
    pred = lsm.predict(s[299:-1], initial_state="last")
    assert pred.shape == (100, 1) and nrmse(s[300:], pred) < 0.35  # predicting the mean: 1
    assert lsm.last_state.shape == (500,)
    gen = lsm.generate(3, warmup_inputs=s[250:300])
    assert gen.shape == (3, 1) and np.isfinite(gen).all()
    mc = memory_capacity(
        LSM(60, input_scaling=40.0, input_duration=5.0, seed=0), k_max=20, n_steps=600, warmup=50, ridge=1e-2, seed=1
    )
    assert 1.0 < mc <= 60


def test_lsm_classifier_separates_frequencies(rng):
    def sines(n):
        X, y = [], []
        for i in range(n):
            c = i % 2
            T = int(rng.integers(20, 30))
            X.append(np.sin(np.arange(T) * (0.3 + 0.6 * c) + rng.uniform(0, 6.28))[:, None])
            y.append(c)
        return X, np.array(y)

    Xtr, ytr = sines(60)
    Xte, yte = sines(40)
    clf = LSMClassifier(
        80, mode="transduction", input_scaling=40.0, input_connectivity=1.0, background=(12.0, 15.0), ridge=1.0, seed=0
    ).fit(Xtr, ytr, warmup=5)
    assert clf.classes_ == [0, 1] and clf.score(Xte, yte) >= 0.85


@pytest.mark.parametrize("kind", ["lsm", "clf"])
def test_save_load_round_trip(tmp_path, rng, kind):
    X = rng.uniform(-1, 1, (2, 30, 2))
    if kind == "lsm":
        model = LSM(50, input_coding="current", background=(13.0, 14.0), ridge=1e-2, seed=1).fit(X, X[..., :1])
    else:
        model = LSMClassifier(50, mode="last", seed=1).fit(list(X) * 2, [0, 1, 1, 0])
    path = tmp_path / "m.safetensors"
    boucle.save(model, path)
    loaded = boucle.load(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    for k, v in model.get_weights().items():
        assert np.array_equal(loaded.get_weights()[k], v), k
    assert "reservoir/background" in model.get_weights()
    assert np.array_equal(loaded.predict(X), model.predict(X))


# ---------------------------------------------------------------- plots
def test_raster_and_membrane_plots(tmp_path, monkeypatch):
    liq = LIFReservoir(60, input_scaling=40.0, seed=0, input_dim=1)
    _, rec = liq.run(np.sin(np.arange(20) * 0.5)[:, None], record=[0, 59])
    assert isinstance(rec, SpikeRecord) and rec.v.shape == (20 * liq.steps_per_input, 2)
    for fn in (plot_raster, plot_membrane):
        path = fn(rec, tmp_path / f"{fn.__name__}.png")
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(BoucleError, match="unrecorded"):
        plot_membrane(rec, tmp_path / "x.png", neurons=[3])
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, mod, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(BoucleError, match=r"^plotting needs matplotlib: pip install 'boucle\[plot\]'$"):
        plot_raster(rec, tmp_path / "r.png")


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"tau_m": -5.0}, "tau_m: expected a finite number > 0, got -5.0"),
        ({"tau_syn": (3.0, 0.0)}, "tau_syn"),
        ({"refractory": -1.0}, "refractory: expected a finite number >= 0"),
        ({"v_threshold": 13.5}, "v_threshold: expected a value above v_reset=13.5, got 13.5"),
        ({"v_reset": 16.0}, "v_threshold: expected a value above v_reset=16"),
        ({"dt": 0.0}, "dt"),
        ({"dt": 0.3, "input_duration": 1.0}, r"input_duration: expected a multiple of dt=0.3 ms, got 1.0"),
        ({"inhibitory": 1.0}, r"inhibitory: expected a fraction in \[0, 1\)"),
        ({"connection_prob": (0.3, 0.2, 1.4, 0.1)}, r"connection_prob: expected values in \[0, 1\]"),
        ({"connection_prob": (0.3, 0.2)}, "connection_prob: expected 4 values"),
        ({"weights": (6.0, 12.0, -3.8, 3.8)}, "weights"),
        ({"grid": (2, 2, 2)}, "grid: expected 3 positive ints with product >= units=10"),
        ({"input_coding": "phase"}, "input_coding"),
        ({"max_rate": 5000.0}, "max_rate: expected at most one spike per step"),
        ({"background": (15.0, 12.0)}, "background"),
        ({"tau_readout": float("nan")}, "tau_readout"),
    ],
)
def test_bad_liquid_arguments(kwargs, match):
    with pytest.raises(BoucleError, match=match) as e:
        LIFReservoir(10, **kwargs)
    assert "\n" not in str(e.value)
    with pytest.raises(BoucleError, match=match):
        LSM(10, **kwargs)


def test_bad_model_arguments_and_data():
    with pytest.raises(BoucleError, match="tau_membrane: not an argument of the liquid"):
        LSM(10, tau_membrane=20.0)
    lsm = LSM(20, seed=0)
    with pytest.raises(BoucleError, match="not fitted"):
        lsm.predict(np.zeros((5, 1)))
    lsm.fit(np.zeros((30, 1)), np.zeros((30, 1)))
    with pytest.raises(BoucleError, match="X: expected 1 features per step"):
        lsm.predict(np.zeros((5, 2)))
    with pytest.raises(BoucleError, match=r"initial_state: expected shape \(100,\)"):
        lsm.predict(np.zeros((5, 1)), initial_state=np.zeros(20))
    with pytest.raises(BoucleError, match="record: expected neuron indices"):
        lsm.liquid.run(np.zeros((5, 1)), record=[25])
