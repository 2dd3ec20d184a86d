"""The optional compiled time loop (boucle.ops.fast, numba) equals the reference loop
(boucle.ops.scan + boucle.ops.cells): outputs, final states and every gradient, with
masks (right, left, interior padding, zero-length rows), reverse and recurrent dropout;
float64 to 1e-12, float32 to float32 rounding; the layers give the same results on
either path, and fall back to the reference path for what the kernels do not cover."""
import numpy as np
import pytest

pytest.importorskip("numba", reason="the accelerated path is optional: pip install 'boucle[fast]'")

from boucle.layers.recurrent import GRU, LSTM, SimpleRNN  # noqa: E402
from boucle.ops import cells, fast, scan  # noqa: E402
from boucle.ops import fast_kernels  # noqa: E402

T, B, H = 7, 5, 4
MASK = np.array([[1, 1, 1, 1, 1, 1, 1],      # full
                 [1, 1, 1, 1, 0, 0, 0],      # right padding
                 [0, 0, 1, 1, 1, 1, 1],      # left padding
                 [1, 0, 1, 1, 0, 1, 0],      # interior holes
                 [0, 0, 0, 0, 0, 0, 0]],     # zero length
                dtype=bool)
KINDS = ["lstm", "gru_reset_after"]


def setup(kind, rng, dtype, rec=False):
    cell = cells.get_cell(kind)
    G = cell.gates
    params = {"W": (rng.standard_normal((H, G * H)) * 0.5).astype(dtype)}
    if kind == "gru_reset_after":
        params["b_W"] = (rng.standard_normal(G * H) * 0.5).astype(dtype)
    rec_mask = ((rng.random((B, H)) > 0.3) / 0.7).astype(dtype) if rec else None
    p = cells.loop_params(cell, params, rec_mask)
    xu = rng.standard_normal((T, G, B, H)).astype(dtype)
    s0 = tuple(rng.standard_normal((B, H)).astype(dtype) for _ in range(cell.n_states))
    return cell, p, xu, s0


def both(kind, p, xu, s0, mask, reverse, dy, dfinal):
    cell = cells.get_cell(kind)
    out_r, fin_r, c_r = scan.forward(cell.step_forward, p, xu, s0, mask, reverse)
    g_r = scan.backward(cell.step_backward, p, dy, dfinal, c_r, cell.param_grads)
    out_f, fin_f, c_f = fast.forward(kind, p, xu, s0, mask, reverse)
    g_f = fast.backward(dy, dfinal, c_f)
    return (out_r, fin_r, g_r), (out_f, fin_f, g_f)


def assert_same(ref, got, rtol, atol):
    (out_r, fin_r, (dxu_r, ds0_r, pg_r)), (out_f, fin_f, (dxu_f, ds0_f, pg_f)) = ref, got
    np.testing.assert_allclose(out_f, out_r, rtol=rtol, atol=atol)
    for a, b in zip(fin_f, fin_r):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dxu_f, dxu_r, rtol=rtol, atol=atol)
    for a, b in zip(ds0_f, ds0_r):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    assert set(pg_f) == set(pg_r)
    for k in pg_r:
        np.testing.assert_allclose(pg_f[k], pg_r[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("rec", [False, True], ids=["", "recurrent-dropout"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("kind", KINDS)
def test_kernels_equal_the_reference_loop_float64(kind, masked, reverse, rec, rng):
    cell, p, xu, s0 = setup(kind, rng, np.float64, rec)
    mask = MASK.T if masked else None
    dy = rng.standard_normal((T, B, H))
    dfinal = [rng.standard_normal((B, H)) for _ in s0]
    ref, got = both(kind, p, xu, s0, mask, reverse, dy, dfinal)
    assert_same(ref, got, rtol=1e-12, atol=1e-12)
    if masked:
        assert np.all(got[0][~MASK.T] == 0)                     # zero outputs at padded steps
        for s, s_init in zip(got[1], s0):                        # zero-length row: initial state
            np.testing.assert_array_equal(s[4], s_init[4])


@pytest.mark.parametrize("kind", KINDS)
def test_kernels_without_output_or_state_gradients(kind, rng):
    """d_outputs=None (many-to-one) and None entries in the final-state gradients."""
    _, p, xu, s0 = setup(kind, rng, np.float64)
    dfinal = [rng.standard_normal((B, H))] + [None] * (len(s0) - 1)
    ref, got = both(kind, p, xu, s0, MASK.T, False, None, dfinal)
    assert_same(ref, got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_kernels_float32(kind, rng):
    """float32 stays float32; the rational tanh keeps results within float32 rounding."""
    _, p, xu, s0 = setup(kind, rng, np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    dfinal = [rng.standard_normal((B, H)).astype(np.float32) for _ in s0]
    ref, got = both(kind, p, xu, s0, MASK.T, True, dy, dfinal)
    out, fin, (dxu, ds0, pg) = got
    assert out.dtype == np.float32 and dxu.dtype == np.float32
    assert all(a.dtype == np.float32 for a in (*fin, *ds0, *pg.values()))
    assert_same(ref, got, rtol=2e-5, atol=2e-5)


def test_dxu_keeps_the_memory_layout_of_xu(rng):
    _, p, xu, s0 = setup("lstm", rng, np.float64)
    feature_major = np.ascontiguousarray(xu.transpose(1, 3, 0, 2)).transpose(2, 0, 3, 1)
    for x in (xu, feature_major):
        _, _, cache = fast.forward("lstm", p, x, s0)
        dxu, _, _ = fast.backward(np.ones((T, B, H)), [None, None], cache)
        assert dxu.shape == x.shape and dxu.strides == x.strides


def test_float32_tanh_and_sigmoid_approximations():
    a = np.linspace(-30, 30, 200001).astype(np.float32)
    t, s = np.empty_like(a), np.empty_like(a)
    _apply(a, t, s)
    exact = np.tanh(a.astype(np.float64))
    assert np.max(np.abs(t - exact)) < 3e-7
    assert np.max(np.abs(s - 1 / (1 + np.exp(-a.astype(np.float64))))) < 3e-7
    assert np.all(np.abs(t) <= 1) and np.all((s >= 0) & (s <= 1))


def _apply(a, t, s):
    from numba import njit

    @njit
    def run(a, t, s):
        for k in range(a.shape[0]):
            t[k] = fast_kernels.tanh(a[k])
            s[k] = fast_kernels.sigmoid(a[k])
    run(a, t, s)


# ------------------------------------------------------------------ through the layers
LAYERS = {
    "lstm": lambda **kw: LSTM(H, **kw),
    "gru-reset-after": lambda **kw: GRU(H, reset_after=True, **kw),
}


def run_layer(make, enabled, monkeypatch, dtype, x, mask, dy, **kw):
    monkeypatch.setattr(fast, "ENABLED", enabled)
    layer = make(dtype=dtype, **kw)
    layer.build((T, x.shape[-1]), 3)
    rng = np.random.default_rng(4)
    layer.set_weights({k: (rng.standard_normal(v.shape) * 0.5).astype(dtype) for k, v in layer.params.items()})
    y, cache = layer.forward(x, mask=mask, training=True)
    assert cache[3][0] == ("fast" if enabled else "scan")
    dx = layer.backward(dy, cache)
    return y, dx, {k: g.copy() for k, g in layer.grads.items()}


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 3e-5)], ids=["float64", "float32"])
def test_layers_give_the_same_results_on_both_paths(name, dtype, tol, monkeypatch, rng):
    kw = dict(return_sequences=True, go_backwards=True, learn_initial_state=True,
              dropout=0.2, recurrent_dropout=0.3)
    x = rng.standard_normal((B, T, 3)).astype(dtype)
    dy = rng.standard_normal((B, T, H)).astype(dtype)
    ref = run_layer(LAYERS[name], False, monkeypatch, dtype, x, MASK, dy, **kw)
    got = run_layer(LAYERS[name], True, monkeypatch, dtype, x, MASK, dy, **kw)
    np.testing.assert_allclose(got[0], ref[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(got[1], ref[1], rtol=tol, atol=tol)
    for k in ref[2]:
        np.testing.assert_allclose(got[2][k], ref[2][k], rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("make,covered", [
    (lambda: LSTM(H), True),
    (lambda: LSTM(H, peephole=True), False),
    (lambda: GRU(H, reset_after=True), True),
    (lambda: GRU(H), False),
    (lambda: GRU(H, variant="simplified"), False),
    (lambda: SimpleRNN(H), False),
], ids=["lstm", "lstm-peephole", "gru-reset-after", "gru-course", "gru-simplified", "simple-rnn"])
def test_layers_use_the_compiled_loop_only_where_covered(make, covered, monkeypatch):
    monkeypatch.setattr(fast, "ENABLED", True)
    layer = make()
    layer.build((T, 3), 0)
    y, cache = layer.forward(np.ones((B, T, 3), np.float32), training=True)
    assert cache[3][0] == ("fast" if covered else "scan")
    monkeypatch.setattr(fast, "ENABLED", False)
    assert layer.forward(np.ones((B, T, 3), np.float32))[1][3][0] == "scan"
