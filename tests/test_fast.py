"""The compiled time loop (boucle.ops.fast, numba) equals the reference loop
(boucle.ops.scan + boucle.ops.cells), both run through the one door boucle.ops.recurrent:
outputs, final states and every gradient (dx, initial states, U, W, b, b_W), with masks
(right, left, interior padding, zero-length rows), reverse, input and recurrent dropout;
float64 to 1e-12, float32 to float32 rounding; the layers give the same results on
either engine, and fall back to the reference scan for what the kernels do not cover.

numba is a test dependency: without it this module fails (it never skips)."""
import os
import subprocess
import sys

import numpy as np
import pytest

try:
    import numba  # noqa: F401
except ImportError as err:                      # fail, never skip: the compiled loop must be tested
    raise ImportError("numba is a test dependency (pip install -e '.[test]'): tests/test_fast.py "
                      "holds the compiled time loop equal to the reference and must run") from err

from boucle.errors import BoucleError  # noqa: E402
from boucle.layers.recurrent import GRU, LSTM, SimpleRNN  # noqa: E402
from boucle.ops import cells, fast, fast_kernels, recurrent  # noqa: E402

T, B, D, H = 7, 5, 3, 4
MASK = np.array([[1, 1, 1, 1, 1, 1, 1],      # full
                 [1, 1, 1, 1, 0, 0, 0],      # right padding
                 [0, 0, 1, 1, 1, 1, 1],      # left padding
                 [1, 0, 1, 1, 0, 1, 0],      # interior holes
                 [0, 0, 0, 0, 0, 0, 0]],     # zero length
                dtype=bool)
CELLS = {"lstm": cells.get_cell("lstm"), "gru_reset_after": cells.get_cell("gru_reset_after"),
         "gru_reset_after-nobias": cells.get_cell("gru_reset_after", recurrent_bias=False)}


def test_the_compiled_loop_is_available():
    assert fast.AVAILABLE, "numba imports but boucle.ops.fast could not load its kernels"
    assert set(fast.KINDS) == {"lstm", "gru_reset_after"}


def setup(name, rng, dtype, dropout=False, bias=True):
    """cell, params in the layers' layout, x (B, T, D), initial states, x_mask, rec_mask."""
    cell = CELLS[name]
    G = cell.gates
    params = {"U": (rng.standard_normal((D, G * H)) * 0.5).astype(dtype),
              "W": (rng.standard_normal((H, G * H)) * 0.5).astype(dtype)}
    if bias:
        params["b"] = (rng.standard_normal(G * H) * 0.5).astype(dtype)
    if cell.recurrent_bias:
        params["b_W"] = (rng.standard_normal(G * H) * 0.5).astype(dtype)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    s0 = tuple(rng.standard_normal((B, H)).astype(dtype) for _ in range(cell.n_states))
    x_mask = ((rng.random((B, D)) > 0.3) / 0.7).astype(dtype) if dropout else None
    rec_mask = ((rng.random((B, H)) > 0.3) / 0.7).astype(dtype) if dropout else None
    return cell, params, x, s0, x_mask, rec_mask


def run(engine, cell, params, x, s0, mask, reverse, dy, dfinal, x_mask=None, rec_mask=None):
    with recurrent.use_engine(engine):
        out, fin, cache = recurrent.forward(cell, params, x, s0, mask, reverse, x_mask=x_mask, rec_mask=rec_mask)
    assert cache.engine == engine
    grads = recurrent.backward(dy, dfinal, cache)        # the cache says which engine runs backward
    return out, fin, grads


def both(*args, **kw):
    return run("scan", *args, **kw), run("compiled", *args, **kw)


def assert_same(ref, got, rtol, atol):
    (out_r, fin_r, (dx_r, ds0_r, pg_r)), (out_f, fin_f, (dx_f, ds0_f, pg_f)) = ref, got
    np.testing.assert_allclose(out_f, out_r, rtol=rtol, atol=atol)
    for a, b in zip(fin_f, fin_r):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dx_f, dx_r, rtol=rtol, atol=atol)
    for a, b in zip(ds0_f, ds0_r):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    assert set(pg_f) == set(pg_r)
    for k in pg_r:
        np.testing.assert_allclose(pg_f[k], pg_r[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("dropout", [False, True], ids=["", "dropout"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("name", list(CELLS))
def test_kernels_equal_the_reference_loop_float64(name, masked, reverse, dropout, rng):
    cell, params, x, s0, x_mask, rec_mask = setup(name, rng, np.float64, dropout)
    mask = MASK if masked else None
    dy = rng.standard_normal((B, T, H))
    dfinal = [rng.standard_normal((B, H)) for _ in s0]
    ref, got = both(cell, params, x, s0, mask, reverse, dy, dfinal, x_mask=x_mask, rec_mask=rec_mask)
    assert set(got[2][2]) == set(params)                        # a gradient for every parameter
    assert_same(ref, got, rtol=1e-12, atol=1e-12)
    if masked:
        assert np.all(got[0][~MASK] == 0)                       # zero outputs at padded steps
        for s, s_init in zip(got[1], s0):                        # zero-length row: initial state
            np.testing.assert_array_equal(s[4], s_init[4])


@pytest.mark.parametrize("name", ["lstm", "gru_reset_after"])
def test_kernels_without_bias(name, rng):
    """use_bias=False: [x] U without the constant column (K = D), no b gradient."""
    cell, params, x, s0, _, _ = setup(name, rng, np.float64, bias=False)
    params.pop("b_W", None)
    cell = cells.get_cell(cell.kind, recurrent_bias=False)
    dy = rng.standard_normal((B, T, H))
    ref, got = both(cell, params, x, s0, MASK, True, dy, [None] * len(s0))
    assert set(got[2][2]) == {"U", "W"}
    assert_same(ref, got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CELLS))
def test_kernels_without_output_or_state_gradients(name, rng):
    """d_outputs=None (many-to-one) and None entries in the final-state gradients."""
    cell, params, x, s0, _, _ = setup(name, rng, np.float64)
    dfinal = [rng.standard_normal((B, H))] + [None] * (len(s0) - 1)
    ref, got = both(cell, params, x, s0, MASK, False, None, dfinal)
    assert_same(ref, got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CELLS))
def test_kernels_float32(name, rng):
    """float32 stays float32; the rational tanh keeps results within float32 rounding."""
    cell, params, x, s0, x_mask, rec_mask = setup(name, rng, np.float32, dropout=True)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)
    dfinal = [rng.standard_normal((B, H)).astype(np.float32) for _ in s0]
    ref, got = both(cell, params, x, s0, MASK, True, dy, dfinal, x_mask=x_mask, rec_mask=rec_mask)
    out, fin, (dx, ds0, pg) = got
    assert out.dtype == np.float32 and dx.dtype == np.float32
    assert all(a.dtype == np.float32 for a in (*fin, *ds0, *pg.values()))
    assert_same(ref, got, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("engine", ["scan", "compiled"])
def test_one_return_contract_whichever_engine_ran(engine, rng):
    """Shapes and layouts at the door do not depend on the engine: outputs (B, T, H),
    final states and d_state0 (B, H) C-contiguous, dx (B, T, D) C-contiguous, grads shaped
    like the parameters."""
    cell, params, x, s0, _, _ = setup("lstm", rng, np.float64)
    out, fin, (dx, ds0, grads) = run(engine, cell, params, x, s0, MASK, False, np.ones((B, T, H)), [None, None])
    assert out.shape == (B, T, H)
    assert dx.shape == x.shape and dx.flags.c_contiguous
    for s in (*fin, *ds0):
        assert s.shape == (B, H) and s.flags.c_contiguous
    assert {k: g.shape for k, g in grads.items()} == {k: v.shape for k, v in params.items()}


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
    assert cache.loop.engine == ("compiled" if enabled else "scan")
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
    (lambda: GRU(H, reset_after=True, use_bias=False), True),
    (lambda: GRU(H), False),
    (lambda: GRU(H, variant="simplified"), False),
    (lambda: SimpleRNN(H), False),
], ids=["lstm", "lstm-peephole", "gru-reset-after", "gru-reset-after-nobias", "gru-course", "gru-simplified",
        "simple-rnn"])
def test_layers_use_the_compiled_loop_only_where_covered(make, covered, monkeypatch):
    monkeypatch.setattr(fast, "ENABLED", True)
    layer = make()
    layer.build((T, 3), 0)
    x = np.ones((B, T, 3), np.float32)
    y, cache = layer.forward(x, training=True)
    assert cache.loop.engine == ("compiled" if covered else "scan")
    monkeypatch.setattr(fast, "ENABLED", False)
    assert layer.forward(x)[1].loop.engine == "scan"
    with recurrent.use_engine("scan"):                  # forcing: the reference, whatever ENABLED says
        monkeypatch.setattr(fast, "ENABLED", True)
        assert layer.forward(x)[1].loop.engine == "scan"
    monkeypatch.setattr(fast, "ENABLED", False)
    with recurrent.use_engine("compiled"):              # forcing: the kernels, or a one-line error
        if covered:
            assert layer.forward(x)[1].loop.engine == "compiled"
        else:
            with pytest.raises(BoucleError, match=r"^engine: 'compiled' cannot run Cell\(kind=.* in float32: "):
                layer.forward(x)
    assert recurrent.engine_for(layer.cell, np.float32) == "scan"   # the block restored "auto"


def test_use_engine_rejects_unknown_names_and_nests():
    with pytest.raises(BoucleError, match=r"^engine: expected one of \['auto', 'scan', 'compiled'\], got 'numba'$"):
        with recurrent.use_engine("numba"):
            pass
    lstm = cells.get_cell("lstm")
    with recurrent.use_engine("scan"):
        with recurrent.use_engine("compiled"):
            assert recurrent.engine_for(lstm, np.float64) == "compiled"
        assert recurrent.engine_for(lstm, np.float64) == "scan"
        with recurrent.use_engine("auto"):
            assert recurrent.engine_for(lstm, np.float64) == ("compiled" if fast.ENABLED else "scan")


def test_boucle_no_numba_keeps_auto_on_the_reference():
    code = ("import numpy as np; from boucle.ops import cells, fast, recurrent; "
            "print(fast.AVAILABLE, fast.ENABLED, recurrent.engine_for(cells.get_cell('lstm'), np.float32))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "BOUCLE_NO_NUMBA": "1"})
    assert out.stdout.split() == ["True", "False", "scan"]
