"""Bidirectional: gradients for every merge mode, right-padded batches equal per-sequence
runs (the backward direction starts at each sequence's last valid step), shared params,
config round trip, dtype propagation and bad input."""

import json

import numpy as np
import pytest

from boucle.diagnostics import check_gradients, float64_clone
from boucle.errors import BoucleError
from boucle.layers.core import Dense
from boucle.layers.recurrent import GRU, LSTM, SimpleRNN
from boucle.layers.wrappers import Bidirectional

TOL = 1e-6
B, T, D, H = 4, 5, 3, 2
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 0, 1, 1, 0]], dtype=bool)


def build(layer, merge_mode="concat", seed=0, **kw):
    bi = Bidirectional(layer, merge_mode=merge_mode, **kw)
    bi.build((T, D), seed)
    rng = np.random.default_rng(seed + 1)
    bi.set_weights({k: rng.standard_normal(v.shape) * 0.5 for k, v in bi.params.items()})
    return bi


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_gradients_every_merge_mode(merge_mode, masked, rng):
    bi = build(LSTM(H, return_sequences=True), merge_mode)
    errs = check_gradients(bi, rng.standard_normal((B, T, D)), mask=MASK if masked else None, max_checks=30)
    assert set(errs) == {"input", *bi.params}
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize(
    "inner",
    [
        lambda: GRU(H, reset_after=True, return_state=True),
        lambda: LSTM(H, peephole=True, return_state=True, return_sequences=True),
        lambda: SimpleRNN(H, activation="relu"),
        lambda: GRU(H, variant="simplified", return_sequences=True, learn_initial_state=True),
    ],
)
def test_gradients_with_states_and_initial_state(inner, rng):
    bi = build(inner(), "concat")
    n = bi.forward_layer.cell.n_states
    x = rng.standard_normal((B, T, D))
    init = [rng.standard_normal((B, H)) for _ in range(2 * n)]
    errs = check_gradients(bi, x, mask=MASK, initial_state=init, max_checks=30)
    assert {f"initial_state[{j}]" for j in range(2 * n)} <= set(errs)
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize(
    "make",
    [
        lambda: LSTM(H, return_sequences=True, return_state=True),
        lambda: GRU(H, return_sequences=True, return_state=True),
    ],
)
def test_right_padded_batch_equals_each_sequence_alone(make, rng):
    bi = build(make(), "concat")
    x = rng.standard_normal((B, T, D))
    x[~MASK] = -7.0
    n = bi.forward_layer.cell.n_states
    out = bi(x, mask=MASK)
    for b in range(B):
        idx = np.flatnonzero(MASK[b])
        one = bi(x[None, b, idx])
        np.testing.assert_allclose(out[0][b, idx], one[0][0], rtol=1e-5, atol=1e-6)
        assert np.all(out[0][b, ~MASK[b]] == 0)
        for s, s1 in zip(out[1:], one[1:]):
            np.testing.assert_allclose(s[b], s1[0], rtol=1e-5, atol=1e-6)
    assert len(out) == 1 + 2 * n


def test_backward_direction_is_the_reversed_sequence(rng):
    """Output at step t of the backward half = h of a plain layer run over x reversed, at T-1-t."""
    bi = build(SimpleRNN(H, return_sequences=True), merge_mode=None)
    x = rng.standard_normal((1, T, D))
    plain = SimpleRNN(H, return_sequences=True)
    plain.build((T, D), 0)
    plain.set_weights(bi.backward_layer.get_weights())
    yf, yb = bi(x)
    np.testing.assert_allclose(yb[0], plain(x[:, ::-1])[0, ::-1], rtol=1e-6)
    plain.set_weights(bi.forward_layer.get_weights())
    np.testing.assert_allclose(yf, plain(x), rtol=1e-6)


def test_merge_modes_values(rng):
    x = rng.standard_normal((B, T, D))
    ref = build(GRU(H, return_sequences=True), None)
    yf, yb = ref(x, mask=MASK)
    want = {"concat": np.concatenate([yf, yb], -1), "sum": yf + yb, "mul": yf * yb, "ave": (yf + yb) / 2}
    for mode, w in want.items():
        np.testing.assert_allclose(build(GRU(H, return_sequences=True), mode)(x, mask=MASK), w, rtol=1e-6)
    assert build(GRU(H), "concat").compute_output_shape((T, D)) == (2 * H,)
    assert build(GRU(H, return_sequences=True), "sum").compute_output_shape((T, D)) == (T, H)
    assert build(LSTM(H, return_state=True), None).compute_output_shape((T, D)) == [(H,), (H,)] + [(H,)] * 4


def test_params_are_the_inner_layers_arrays():
    bi = build(LSTM(H, name="enc"))
    assert bi.forward_layer.name == "forward_enc" and bi.backward_layer.name == "backward_enc"
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    assert set(bi.params) == {f"{d}/{k}" for d in ("forward", "backward") for k in ("U", "W", "b")}
    assert bi.params["forward/U"] is bi.forward_layer.params["U"]
    assert bi.grads["backward/W"] is bi.backward_layer.grads["W"]
    bi.params["backward/b"] += 1.0  # in-place updates reach the inner layer
    np.testing.assert_array_equal(bi.backward_layer.params["b"], bi.params["backward/b"])
    assert not np.array_equal(bi.params["forward/U"], bi.params["backward/U"])  # two independent draws


def test_config_round_trip_and_dtype_propagation(rng):
    bi = Bidirectional(LSTM(H, return_sequences=True, peephole=True), merge_mode="ave", dtype="float64")
    cfg = bi.get_config()
    json.dumps(cfg)
    assert cfg["layer"]["class_name"] == "LSTM" and cfg["layer"]["config"]["peephole"] is True
    again = Bidirectional.from_config(cfg)
    assert again.get_config() == cfg
    again.build((T, D), 0)
    assert again.params["forward/W"].dtype == np.float64 and again.backward_layer.dtype == np.float64
    b32 = build(GRU(H))
    assert b32.params["forward/W"].dtype == np.float32
    b64 = float64_clone(b32)  # what the gradient check does
    assert all(v.dtype == np.float64 for v in b64.params.values())
    for k in b32.params:
        np.testing.assert_allclose(b64.params[k], b32.params[k])


def test_stateful_bidirectional_resets(rng):
    bi = build(GRU(H, stateful=True))
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    first = bi(x)
    assert not np.allclose(bi(x), first)
    bi.reset_states()
    np.testing.assert_array_equal(bi(x), first)


def test_bad_input():
    with pytest.raises(BoucleError, match="layer must be a recurrent layer.*Dense"):
        Bidirectional(Dense(3))
    with pytest.raises(BoucleError, match="merge_mode must be one of.*'max'"):
        Bidirectional(LSTM(H), merge_mode="max")
    bi = build(LSTM(H))
    with pytest.raises(BoucleError, match="initial_state must be a list of 4"):
        bi.forward(np.zeros((B, T, D)), initial_state=[np.zeros((B, H))] * 2)
    with pytest.raises(BoucleError, match="x last axis must have size 3"):
        bi.forward(np.zeros((B, T, D + 2)))
    with pytest.raises(BoucleError, match="layer must be"):
        Bidirectional.from_config({"layer": {"class_name": "Nope", "config": {}}})
