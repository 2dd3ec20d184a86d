"""Cells: each step equals the course's equations written out, and each step backward
equals finite differences of its step forward (dxu, previous state, loop parameters)."""

import dataclasses

import numpy as np
import pytest

from boucle.diagnostics import numerical_gradient, relative_error
from boucle.errors import BoucleError
from boucle.ops import cells

B, H = 3, 4


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


# The course's equations, written out with the gate blocks of W and xu = x U + b.
def ref_rnn(p, xu, state, act):
    (h,) = state
    g = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0), "sigmoid": sig, "linear": lambda a: a}[act]
    return (g(xu + h @ p["W"]),)


def ref_lstm(p, xu, state):
    h, c = state
    a = xu + h @ p["W"]
    blk = [a[:, k * H : (k + 1) * H] for k in range(4)]
    pi, pf, po = (p.get(k, np.zeros(H)) for k in ("p_i", "p_f", "p_o"))
    i = sig(blk[0] + pi * c)
    f = sig(blk[1] + pf * c)
    g = np.tanh(blk[3])
    c_new = i * g + f * c
    o = sig(blk[2] + po * c_new)
    return o * np.tanh(c_new), c_new


def ref_gru(p, xu, state):
    (h,) = state
    W = p["W"]
    z = sig(xu[:, :H] + h @ W[:, :H])
    r = sig(xu[:, H : 2 * H] + h @ W[:, H : 2 * H])
    g = np.tanh(xu[:, 2 * H :] + (r * h) @ W[:, 2 * H :])
    return (z * g + (1 - z) * h,)


def ref_gru_reset_after(p, xu, state):
    (h,) = state
    s = h @ p["W"] + p["b_W"]
    z = sig(xu[:, :H] + s[:, :H])
    r = sig(xu[:, H : 2 * H] + s[:, H : 2 * H])
    g = np.tanh(xu[:, 2 * H :] + r * s[:, 2 * H :])
    return (z * g + (1 - z) * h,)


def ref_gru_simple(p, xu, state):
    (h,) = state
    a = xu + h @ p["W"]
    z, g = sig(a[:, :H]), np.tanh(a[:, H:])
    return (z * g + (1 - z) * h,)


CASES = [  # (kind, activation, extra params, reference)
    ("rnn", "tanh", (), lambda p, xu, s: ref_rnn(p, xu, s, "tanh")),
    ("rnn", "relu", (), lambda p, xu, s: ref_rnn(p, xu, s, "relu")),
    ("rnn", "sigmoid", (), lambda p, xu, s: ref_rnn(p, xu, s, "sigmoid")),
    ("lstm", "tanh", (), ref_lstm),
    ("lstm", "tanh", ("p_i", "p_f", "p_o"), ref_lstm),
    ("gru", "tanh", (), ref_gru),
    ("gru_reset_after", "tanh", ("b_W",), ref_gru_reset_after),
    ("gru_simple", "tanh", (), ref_gru_simple),
]
IDS = ["rnn-tanh", "rnn-relu", "rnn-sigmoid", "lstm", "lstm-peephole", "gru", "gru-reset-after", "gru-simple"]


def make(kind, act, extra, rng, rec_mask=False):
    """A cell, its parameters in the layer layout, the loop views ``p``, xu (G, B, H), a state."""
    cell = cells.get_cell(kind, act, peephole="p_i" in extra)
    G = cell.gates
    params = {"W": rng.standard_normal((H, G * H)) * 0.6}
    for k in extra:
        params[k] = rng.standard_normal(G * H if k == "b_W" else H) * 0.6
    mask = (rng.random((B, H)) > 0.4) / 0.6 if rec_mask else None
    p = cells.loop_params(cell, params, mask)
    xu = rng.standard_normal((G, B, H))
    state = tuple(rng.standard_normal((B, H)) for _ in range(cell.n_states))
    return cell, params, p, xu, state


def flat(xu):
    """(G, B, H) -> (B, G*H): the gate blocks side by side, as in x U + b."""
    return xu.transpose(1, 0, 2).reshape(xu.shape[1], -1)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_step_forward_is_the_course_equation(case, rng):
    kind, act, extra, ref = case
    cell, params, p, xu, state = make(kind, act, extra, rng)
    xu_copy, state_copy = xu.copy(), tuple(s.copy() for s in state)
    new, _ = cell.step_forward(p, xu, state)
    want = ref(params, flat(xu), state)
    assert len(new) == cell.n_states
    for a, b in zip(new, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(xu, xu_copy)  # inputs are never written to
    for s, s0 in zip(state, state_copy):
        np.testing.assert_array_equal(s, s0)


@pytest.mark.parametrize("rec_mask", [False, True], ids=["", "recurrent-dropout"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_step_backward_matches_finite_differences(case, rec_mask, rng):
    kind, act, extra, _ = case
    cell, params, p, xu, state = make(kind, act, extra, rng, rec_mask)
    if act == "relu":  # keep away from the kink at 0
        xu += np.sign(xu) * 0.1
    R = [rng.standard_normal((B, H)) for _ in range(cell.n_states)]

    def loss():
        new, _ = cell.step_forward(p, xu, state)
        return float(sum(np.sum(r * s) for r, s in zip(R, new)))

    _, cache = cell.step_forward(p, xu, state)
    dxu, dprev, factors = cell.step_backward(p, R, cache)
    grads = cell.param_grads(p, dxu[None], tuple(f[None] for f in factors))
    assert dxu.shape == xu.shape
    assert relative_error(dxu, numerical_gradient(loss, xu)) < 1e-7
    for s, d in zip(state, dprev):
        assert relative_error(d, numerical_gradient(loss, s)) < 1e-7
    assert set(grads) == set(params)
    for k, g in grads.items():
        assert g.shape == params[k].shape
        assert relative_error(g, numerical_gradient(loss, params[k])) < 1e-7, k


def test_recurrent_dropout_masks_only_the_recurrent_product(rng):
    """LSTM: h_{t-1} ⊙ m enters h W; the cell state c_{t-1} is not masked."""
    cell, _, p, xu, (h, c) = make("lstm", "tanh", (), rng, rec_mask=True)
    masked, _ = cell.step_forward(p, xu, (h, c))
    m = p.rec_mask
    plain, _ = cell.step_forward(dataclasses.replace(p, rec_mask=None), xu, (h * m, c))
    for a, b in zip(masked, plain):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_sigmoid_through_tanh_equals_the_table(rng):
    from boucle.ops import activations

    a = rng.standard_normal(1000) * 20
    np.testing.assert_allclose(cells._sigmoid_(a.copy()), activations.sigmoid(a), rtol=0, atol=1e-15)
    a32 = a.astype(np.float32)
    out = cells._sigmoid_(a32.copy())
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, activations.sigmoid(a), atol=2e-7)


def test_float32_steps_stay_float32(rng):
    for kind in ("rnn", "lstm", "gru", "gru_reset_after", "gru_simple"):
        cell, params, _, xu, state = make(kind, "tanh", ("b_W",) if kind == "gru_reset_after" else (), rng)
        p = cells.loop_params(cell, {k: v.astype(np.float32) for k, v in params.items()})
        new, cache = cell.step_forward(p, xu.astype(np.float32), tuple(s.astype(np.float32) for s in state))
        assert all(s.dtype == np.float32 for s in new)
        dxu, dprev, _ = cell.step_backward(p, new, cache)
        assert dxu.dtype == np.float32 and all(d.dtype == np.float32 for d in dprev)


def test_get_cell_errors():
    with pytest.raises(BoucleError, match="activation.*'softplus'"):
        cells.get_cell("rnn", "softplus")
    with pytest.raises(BoucleError, match="cell kind.*'transformer'"):
        cells.get_cell("transformer")
    assert cells.get_cell("lstm").gates == 4 and cells.get_cell("lstm").n_states == 2
    assert [cells.get_cell(k).gates for k in ("rnn", "gru", "gru_reset_after", "gru_simple")] == [1, 3, 3, 2]


def test_gate_blocks_are_views_of_the_parameters(rng):
    W = rng.standard_normal((H, 4 * H))
    Wg = cells.by_gate(W, 4)
    assert Wg.shape == (4, H, H) and np.shares_memory(Wg, W)
    for k in range(4):
        np.testing.assert_array_equal(Wg[k], W[:, k * H : (k + 1) * H])
    np.testing.assert_array_equal(cells.from_gates(Wg), W)
    p = cells.loop_params(cells.get_cell("gru_reset_after"), {"W": W[:, : 3 * H], "b_W": np.arange(3 * H)})
    assert p.b_W.shape == (3, 1, H) and p.b_W[1, 0, 0] == H


def test_cell_variants_are_explicit_and_checked():
    """A Cell names its variant; options a kind does not have are one-line errors, and the
    loop parameters must be exactly those the variant declares."""
    lstm = cells.get_cell("lstm", peephole=True)
    assert (lstm.kind, lstm.gates, lstm.n_states, lstm.peephole, lstm.recurrent_bias) == ("lstm", 4, 2, True, False)
    assert lstm.loop_param_names == ("W", "p_i", "p_f", "p_o")
    assert cells.get_cell("gru_reset_after").recurrent_bias is True  # the kind's default
    assert cells.get_cell("gru_reset_after", recurrent_bias=False).loop_param_names == ("W",)
    assert cells.get_cell("lstm") is cells.get_cell("lstm")  # one shared instance
    assert cells.Cell("rnn", "relu") == cells.get_cell("rnn", "relu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        lstm.peephole = False
    for make_cell, message in [
        (lambda: cells.get_cell("gru", peephole=True), r"^peephole: .* expected False for 'gru', got True$"),
        (lambda: cells.get_cell("lstm", recurrent_bias=True), r"^recurrent_bias: .* expected False for 'lstm'"),
        (lambda: cells.get_cell("lstm", "relu"), r"^activation: .* expected 'tanh' for 'lstm', got 'relu'$"),
    ]:
        with pytest.raises(BoucleError, match=message):
            make_cell()
    W = np.zeros((H, 4 * H))
    with pytest.raises(BoucleError, match=r"^params: expected 'p_i' for Cell\(kind='lstm'.*got none$"):
        cells.loop_params(lstm, {"W": W})
    with pytest.raises(BoucleError, match=r"^params: expected no 'p_i' for .*got one$"):
        cells.loop_params(cells.get_cell("lstm"), {"W": W, "p_i": np.zeros(H)})
    with pytest.raises(BoucleError, match=r"^params: expected 'b_W' for .*got none$"):
        cells.loop_params(cells.get_cell("gru_reset_after"), {"W": W[:, : 3 * H]})
    p = cells.loop_params(lstm, {"W": W, "p_i": np.ones(H), "p_f": 2 * np.ones(H), "p_o": 3 * np.ones(H)})
    assert p.W is W and [v[0] for v in p.peepholes] == [1, 2, 3] and p.b_W is None and p.rec_mask is None
