"""The one time loop: masks (carry, zero outputs, pass-through gradients), zero-length
sequences, reverse with per-sequence starts, fast path, and BPTT by finite differences."""

import numpy as np
import pytest

from boucle.diagnostics import numerical_gradient, relative_error
from boucle.ops import cells, scan

T, B, H = 6, 4, 3

MASK = np.array(
    [
        [1, 1, 1, 1, 1, 1],  # full
        [1, 1, 1, 0, 0, 0],  # right padding
        [0, 0, 1, 1, 1, 1],  # left padding
        [1, 0, 1, 1, 0, 1],
    ],  # interior holes
    dtype=bool,
)


def setup(kind, rng, batch=B):
    """cell, loop params p (views of ``params``), xu (T, G, B, H), initial state, params."""
    cell = cells.get_cell(kind)
    G = cell.gates
    params = {"W": rng.standard_normal((H, G * H)) * 0.5}
    if kind == "gru_reset_after":
        params["b_W"] = rng.standard_normal(G * H) * 0.5
    p = cells.loop_params(cell, params)
    xu = rng.standard_normal((T, G, batch, H))
    s0 = tuple(rng.standard_normal((batch, H)) for _ in range(cell.n_states))
    return cell, p, xu, s0, params


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_masked_batch_equals_each_valid_subsequence_alone(kind, reverse, rng):
    cell, p, xu, s0, _ = setup(kind, rng)
    out, final, _ = scan.forward(cell.step_forward, p, xu, s0, MASK.T, reverse)
    for b in range(B):
        idx = np.flatnonzero(MASK[b])
        o1, f1, _ = scan.forward(
            cell.step_forward, p, xu[idx, :, b : b + 1], tuple(s[b : b + 1] for s in s0), None, reverse
        )
        np.testing.assert_allclose(out[idx, b], o1[:, 0], rtol=1e-13, atol=1e-14)
        assert np.all(out[~MASK[b], b] == 0)  # zero output at padded steps
        for s, s1 in zip(final, f1):  # state at the last valid step
            np.testing.assert_allclose(s[b], s1[0], rtol=1e-13, atol=1e-14)


def test_reverse_writes_outputs_at_their_time_index(rng):
    cell, p, xu, s0, _ = setup("rnn", rng, batch=1)
    out, final, _ = scan.forward(cell.step_forward, p, xu, s0, None, reverse=True)
    h = s0[0]
    for t in range(T - 1, -1, -1):
        (h,), _ = cell.step_forward(p, xu[t], (h,))
        np.testing.assert_allclose(out[t], h, rtol=1e-14)
    np.testing.assert_allclose(final[0], h, rtol=1e-14)


@pytest.mark.parametrize("reverse", [False, True])
def test_zero_length_rows_return_the_initial_state(reverse, rng):
    cell, p, xu, s0, _ = setup("lstm", rng)
    mask = MASK.copy()
    mask[1] = False
    out, final, cache = scan.forward(cell.step_forward, p, xu, s0, mask.T, reverse)
    for s, s_init in zip(final, s0):
        np.testing.assert_array_equal(s[1], s_init[1])
    assert np.all(out[:, 1] == 0)
    d_final = [np.ones((B, H)), np.full((B, H), 2.0)]
    dxu, ds0, _ = scan.backward(cell.step_backward, p, np.ones((T, B, H)), d_final, cache, cell.param_grads)
    assert np.all(dxu[:, :, 1] == 0)  # nothing flows into padding
    np.testing.assert_array_equal(ds0[0][1], 1.0)  # passes straight to the initial state
    np.testing.assert_array_equal(ds0[1][1], 2.0)


def test_no_mask_fast_path_equals_all_ones_mask(rng):
    cell, p, xu, s0, _ = setup("gru", rng)
    ones = np.ones((T, B), dtype=bool)
    for reverse in (False, True):
        a = scan.forward(cell.step_forward, p, xu, s0, None, reverse)
        b = scan.forward(cell.step_forward, p, xu, s0, ones, reverse)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1][0], b[1][0])
        dy = rng.standard_normal((T, B, H))
        ga = scan.backward(cell.step_backward, p, dy, [None], a[2], cell.param_grads)
        gb = scan.backward(cell.step_backward, p, dy, [None], b[2], cell.param_grads)
        np.testing.assert_allclose(ga[0], gb[0], rtol=1e-14)
        np.testing.assert_allclose(ga[2]["W"], gb[2]["W"], rtol=1e-13)


def test_mask_accepts_zero_one_floats(rng):
    cell, p, xu, s0, _ = setup("rnn", rng)
    a = scan.forward(cell.step_forward, p, xu, s0, MASK.T, False)[0]
    b = scan.forward(cell.step_forward, p, xu, s0, MASK.T.astype(float), False)[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "gru_reset_after", "gru_simple"])
def test_bptt_matches_finite_differences(kind, reverse, masked, rng):
    cell, p, xu, s0, params = setup(kind, rng)
    mask = MASK.T if masked else None
    R = rng.standard_normal((T, B, H))
    Q = [rng.standard_normal((B, H)) for _ in s0]

    def loss():
        out, final, _ = scan.forward(cell.step_forward, p, xu, s0, mask, reverse)
        return float(np.sum(R * out) + sum(np.sum(q * s) for q, s in zip(Q, final)))

    _, _, cache = scan.forward(cell.step_forward, p, xu, s0, mask, reverse)
    dxu, ds0, grads = scan.backward(cell.step_backward, p, np.asfortranarray(R), Q, cache, cell.param_grads)
    assert relative_error(dxu, numerical_gradient(loss, xu)) < 1e-7
    for s, d in zip(s0, ds0):
        assert relative_error(d, numerical_gradient(loss, s)) < 1e-7
    assert set(grads) == set(params)
    for k, g in grads.items():  # perturbing the parameters moves the views in p
        assert relative_error(g, numerical_gradient(loss, params[k])) < 1e-7, k


def test_dxu_keeps_the_memory_layout_of_xu(rng):
    cell, p, xu, s0, _ = setup("lstm", rng)
    gate_major = np.ascontiguousarray(xu.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)  # (T, G, B, H) view
    for x in (xu, gate_major):
        _, _, cache = scan.forward(cell.step_forward, p, x, s0)
        dxu, _, _ = scan.backward(cell.step_backward, p, np.ones((T, B, H)), [None, None], cache, cell.param_grads)
        assert dxu.shape == x.shape and dxu.strides == x.strides


def test_backward_without_output_gradient(rng):
    """d_outputs=None (many-to-one): only the final state's gradient flows."""
    cell, p, xu, s0, _ = setup("lstm", rng)
    _, _, cache = scan.forward(cell.step_forward, p, xu, s0, MASK.T, False)
    a = scan.backward(cell.step_backward, p, None, [np.ones((B, H)), None], cache, cell.param_grads)
    b = scan.backward(
        cell.step_backward, p, np.zeros((T, B, H)), [np.ones((B, H)), np.zeros((B, H))], cache, cell.param_grads
    )
    np.testing.assert_allclose(a[0], b[0], rtol=1e-14)
    np.testing.assert_allclose(a[1][1], b[1][1], rtol=1e-14)
