"""The compiled time loop (boucle.ops.fast, numba) equals the reference loop
(boucle.ops.scan + boucle.ops.cells), both run through the one door boucle.ops.recurrent,
for EVERY cell variant (SimpleRNN tanh/relu/sigmoid/linear, LSTM with and without
peepholes, the course's GRU, GRU reset_after with and without b_W, the simplified GRU):
outputs, final states and every gradient (dx, initial states, U, W, b, b_W, peepholes),
with masks (right, left, interior padding, zero-length rows), reverse, input and
recurrent dropout, one or several threads (the batch split into chunks), every batch
width the micro-kernel handles (one column, narrow and padded vectors, several
vectors), forward passes without caches (inference) followed by a backward; float64 to
1e-12, float32 to float32 rounding; the layers (Bidirectional, stateful, learned
initial states) give the same results on either engine. The micro-kernel product
(boucle.ops.fast_gemm) equals NumPy's.

numba is a test dependency: without it this module fails (it never skips)."""

import os
import subprocess
import sys

import numpy as np
import pytest

try:
    import numba  # noqa: F401
except ImportError as err:  # fail, never skip: the compiled loop must be tested
    raise ImportError(
        "numba is a test dependency (pip install -e '.[test]'): tests/test_fast.py "
        "holds the compiled time loop equal to the reference and must run"
    ) from err

from threadpoolctl import threadpool_limits  # noqa: E402

from boucle.errors import BoucleError  # noqa: E402
from boucle.layers.recurrent import GRU, LSTM, SimpleRNN  # noqa: E402
from boucle.layers.wrappers import Bidirectional  # noqa: E402
from boucle.ops import cells, fast, fast_gemm, fast_kernels, recurrent  # noqa: E402

T, B, D, H = 7, 5, 3, 4
MASK = np.array(
    [
        [1, 1, 1, 1, 1, 1, 1],  # full
        [1, 1, 1, 1, 0, 0, 0],  # right padding
        [0, 0, 1, 1, 1, 1, 1],  # left padding
        [1, 0, 1, 1, 0, 1, 0],  # interior holes
        [0, 0, 0, 0, 0, 0, 0],
    ],  # zero length
    dtype=bool,
)
CELLS = {
    "lstm": cells.get_cell("lstm"),
    "lstm-peephole": cells.get_cell("lstm", peephole=True),
    "gru": cells.get_cell("gru"),
    "gru_reset_after": cells.get_cell("gru_reset_after"),
    "gru_reset_after-nobias": cells.get_cell("gru_reset_after", recurrent_bias=False),
    "gru_simple": cells.get_cell("gru_simple"),
    **{f"rnn-{a}": cells.get_cell("rnn", a) for a in cells.RNN_ACTIVATIONS},
}


def test_the_compiled_loop_is_available_for_every_cell():
    assert fast.AVAILABLE, "numba imports but boucle.ops.fast could not load its kernels"
    assert set(fast.KINDS) == set(cells.CELL_KINDS)
    assert all(fast.covers(c, dt) for c in CELLS.values() for dt in (np.float32, np.float64))


def setup(name, rng, dtype, dropout=False, bias=True, batch=B, hidden=H, features=D):
    """cell, params in the layers' layout, x (B, T, D), initial states, x_mask, rec_mask."""
    cell = CELLS[name]
    G = cell.gates
    draw = lambda *shape: (rng.standard_normal(shape) * 0.5).astype(dtype)  # noqa: E731
    params = {"U": draw(features, G * hidden), "W": draw(hidden, G * hidden)}
    if bias:
        params["b"] = draw(G * hidden)
    if cell.recurrent_bias:
        params["b_W"] = draw(G * hidden)
    if cell.peephole:
        params.update(p_i=draw(hidden), p_f=draw(hidden), p_o=draw(hidden))
    x = draw(batch, T, features) * 2
    s0 = tuple(draw(batch, hidden) * 2 for _ in range(cell.n_states))
    x_mask = ((rng.random((batch, features)) > 0.3) / 0.7).astype(dtype) if dropout else None
    rec_mask = ((rng.random((batch, hidden)) > 0.3) / 0.7).astype(dtype) if dropout else None
    return cell, params, x, s0, x_mask, rec_mask


def run(engine, cell, params, x, s0, mask, reverse, dy, dfinal, x_mask=None, rec_mask=None, training=True):
    with recurrent.use_engine(engine):
        out, fin, cache = recurrent.forward(
            cell, params, x, s0, mask, reverse, x_mask=x_mask, rec_mask=rec_mask, training=training
        )
    assert cache.engine == engine
    grads = recurrent.backward(dy, dfinal, cache)  # the cache says which engine runs backward
    return out, fin, grads


def both(*args, **kw):
    return run("scan", *args), run("compiled", *args, **kw)


def assert_same(ref, got, rtol, atol):
    (out_r, fin_r, (dx_r, ds0_r, pg_r)), (out_f, fin_f, (dx_f, ds0_f, pg_f)) = ref, got
    scale = lambda a: max(1.0, float(np.abs(a).max(initial=0)))  # noqa: E731  (linear RNNs grow)
    np.testing.assert_allclose(out_f, out_r, rtol=rtol, atol=atol * scale(out_r))
    for a, b in zip(fin_f, fin_r):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale(b))
    np.testing.assert_allclose(dx_f, dx_r, rtol=rtol, atol=atol * scale(dx_r))
    for a, b in zip(ds0_f, ds0_r):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale(b))
    assert set(pg_f) == set(pg_r)
    for k in pg_r:
        np.testing.assert_allclose(pg_f[k], pg_r[k], rtol=rtol, atol=atol * scale(pg_r[k]), err_msg=k)


def grads_of(rng, name, s0, dtype=np.float64, batch=B, hidden=H):
    dy = rng.standard_normal((batch, T, hidden)).astype(dtype)
    return dy, [rng.standard_normal((batch, hidden)).astype(dtype) for _ in s0]


@pytest.mark.parametrize("dropout", [False, True], ids=["", "dropout"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("name", list(CELLS))
def test_kernels_equal_the_reference_loop_float64(name, masked, reverse, dropout, rng):
    cell, params, x, s0, x_mask, rec_mask = setup(name, rng, np.float64, dropout)
    mask = MASK if masked else None
    dy, dfinal = grads_of(rng, name, s0)
    ref, got = both(cell, params, x, s0, mask, reverse, dy, dfinal, x_mask, rec_mask)
    assert set(got[2][2]) == set(params)  # a gradient for every parameter
    assert_same(ref, got, rtol=1e-12, atol=1e-12)
    if masked:
        assert np.all(got[0][~MASK] == 0)  # zero outputs at padded steps
        for s, s_init in zip(got[1], s0):  # zero-length row: initial state
            np.testing.assert_array_equal(s[4], s_init[4])


# (batch, hidden, features, threads): one column (matrix-vector), narrow and padded vectors,
# several vectors of different widths, row blocks past a multiple of R, one unit and one
# input feature, the batch split in chunks.
SHAPES = [(1, 4, 3, 1), (3, 7, 3, 1), (11, 9, 3, 1), (3, 1, 1, 1), (8, 5, 3, 2), (21, 7, 2, 2), (40, 3, 3, 3)]


@pytest.mark.parametrize("batch,hidden,features,threads", SHAPES, ids=[f"B{b}-H{h}-D{d}-t{t}" for b, h, d, t in SHAPES])
@pytest.mark.parametrize("name", list(CELLS))
def test_kernels_on_every_batch_width_and_thread_split(name, batch, hidden, features, threads, rng):
    cell, params, x, s0, x_mask, rec_mask = setup(
        name, rng, np.float64, True, batch=batch, hidden=hidden, features=features
    )
    mask = rng.random((batch, T)) > 0.3
    mask[0] = batch == 1  # a zero-length row (all valid at B = 1)
    dy, dfinal = grads_of(rng, name, s0, batch=batch, hidden=hidden)
    with recurrent.use_threads(threads):
        ref, got = both(cell, params, x, s0, mask, True, dy, dfinal, x_mask, rec_mask)
    assert_same(ref, got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CELLS))
def test_inference_forward_keeps_no_caches_and_backward_still_works(name, rng):
    """training=False: no per-step caches (the outputs alone are written); a backward call on
    that cache runs the forward pass again and gives the reference gradients."""
    cell, params, x, s0, _, _ = setup(name, rng, np.float64, batch=16)
    with recurrent.use_engine("compiled"), recurrent.use_threads(2):
        out, fin, cache = recurrent.forward(cell, params, x, s0, MASK[[0, 1, 2, 3] * 4], training=False)
    assert all(s is None for s in cache.loop.saved) and cache.loop.inputs is not None
    dy, dfinal = grads_of(rng, name, s0, batch=16)
    ref = run("scan", cell, params, x, s0, MASK[[0, 1, 2, 3] * 4], False, dy, dfinal)
    with recurrent.use_threads(2):
        got = (out, fin, recurrent.backward(dy, dfinal, cache))
    assert_same(ref, got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["lstm", "lstm-peephole", "gru", "gru_reset_after", "rnn-tanh"])
def test_kernels_without_bias(name, rng):
    """use_bias=False: [x] U without the constant column (K = D), no b gradient."""
    cell, params, x, s0, _, _ = setup(name, rng, np.float64, bias=False)
    params.pop("b_W", None)
    cell = cells.get_cell(cell.kind, cell.activation, peephole=cell.peephole, recurrent_bias=False)
    dy = rng.standard_normal((B, T, H))
    ref, got = both(cell, params, x, s0, MASK, True, dy, [None] * len(s0))
    assert "b" not in got[2][2] and set(got[2][2]) == set(params)
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
    cell, params, x, s0, x_mask, rec_mask = setup(name, rng, np.float32, dropout=True, batch=21)
    dy, dfinal = grads_of(rng, name, s0, np.float32, batch=21)
    mask = np.concatenate([MASK] * 4 + [MASK[:1]])
    with recurrent.use_threads(2):
        ref, got = both(cell, params, x, s0, mask, True, dy, dfinal, x_mask, rec_mask)
    out, fin, (dx, ds0, pg) = got
    assert out.dtype == np.float32 and dx.dtype == np.float32
    assert all(a.dtype == np.float32 for a in (*fin, *ds0, *pg.values()))
    assert_same(ref, got, rtol=2e-5, atol=2e-5)


def test_nan_in_the_weights_stays_visible(rng):
    """The divergence policy needs NaN to reach the outputs (relu's max and tanh's clamp keep it)."""
    for name in ("rnn-relu", "rnn-tanh", "lstm", "gru"):
        cell, params, x, s0, _, _ = setup(name, rng, np.float32)
        params["W"][0, 0] = np.nan
        with recurrent.use_engine("compiled"):
            out, _, _ = recurrent.forward(cell, params, x, s0)
        assert np.isnan(out).any(), name


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_micro_kernel_product_equals_numpy(dtype, rng):
    """gemm: C (+)= A B on sub-blocks, every width class, rows past a multiple of R, N = 1,
    K in several blocks (a large K with a wide B)."""
    shapes = [
        (1, 1, 1),
        (5, 3, 2),
        (fast_gemm.R, 7, 5),
        (fast_gemm.R + 1, 9, 17),
        (100, 33, 40),
        (48, 65, 1),
        (30, 2 * fast_gemm._B_BLOCK // 100 + 3, 100),
    ]
    for M, K, n in shapes:
        N = fast_gemm.padded_width(n, dtype)
        assert N >= n and N - n < fast_gemm.lanes(dtype)[0]
        src = rng.standard_normal((K + 3, M + 5)).astype(dtype)
        Ap = fast_gemm.packed(src, 2, 2 + K, 1, 1 + M, True)  # A = src[2:2+K, 1:1+M]^T
        Bm = rng.standard_normal((K, N + 7)).astype(dtype)
        scratch = np.empty(fast_gemm.R * 16, dtype)
        for accumulate in (False, True):
            C = rng.standard_normal((M + 2, N + 3)).astype(dtype)
            want = C.copy()
            prod = src[2 : 2 + K, 1 : 1 + M].T.astype(np.float64) @ Bm[:, 3 : 3 + N]
            want[1 : 1 + M, 1 : 1 + N] = prod + (want[1 : 1 + M, 1 : 1 + N] if accumulate else 0)
            fast_gemm.gemm(Ap, M, K, Bm, 3, N + 7, N, C, N + 4, N + 3, accumulate, scratch)
            tol = (1e-6 if dtype == np.float32 else 1e-14) * max(K, 10)  # rounding grows with K
            np.testing.assert_allclose(C, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tile_transpose_equals_numpy(dtype, rng):
    """transpose: a (rows, cols) block at any offsets and strides, whole tiles, half tiles, edges."""
    for rows, cols in [(1, 1), (16, 16), (17, 33), (8, 5), (40, 24), (3, 70), (64, 128), (100, 7)]:
        lds, ldd, s_off, d_off = cols + 5, rows + 4, 2, 1
        src = rng.standard_normal((rows + 3) * lds).astype(dtype)
        dst = rng.standard_normal(cols * ldd + 10).astype(dtype)
        want = dst.copy()
        want[d_off : d_off + cols * ldd].reshape(cols, ldd)[:, :rows] = (
            src[s_off : s_off + rows * lds].reshape(rows, lds)[:, :cols].T
        )
        fast_gemm.transpose(dst, d_off, ldd, src, s_off, lds, rows, cols)
        np.testing.assert_array_equal(dst, want)


def test_threads_follow_numpy_blas_or_use_threads_and_chunks_split_the_batch():
    cores = fast._CORES
    with threadpool_limits(limits=1, user_api="blas"):
        assert fast.threads() == 1
        with recurrent.use_threads(2):
            assert fast.threads() == min(2, cores)
            with recurrent.use_threads(None):  # back to NumPy's BLAS
                assert fast.threads() == 1
            with recurrent.use_threads(64):
                assert fast.threads() == cores
        assert fast.threads() == 1
    with threadpool_limits(limits=2, user_api="blas"):
        assert fast.threads() == min(2, cores)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(BoucleError, match=r"^threads: expected a positive int or None, got "):
            with recurrent.use_threads(bad):
                pass
    w = fast_gemm.lanes(np.float32)
    parts = fast.chunks(40, 2, np.float32)
    assert [p[:2] for p in parts] == [(0, 20 + (-20) % w[-1]), (20 + (-20) % w[-1], 40)]
    assert all(p[2] == fast_gemm.padded_width(p[1] - p[0], np.float32) for p in parts)
    assert fast.chunks(5, 4, np.float32) == [(0, 5, fast_gemm.padded_width(5, np.float32))]  # too few rows
    assert fast.chunks(1, 2, np.float64) == [(0, 1, 1)]


# ------------------------------------------------------------------ through the layers
LAYERS = {
    "lstm": lambda **kw: LSTM(H, **kw),
    "lstm-peephole": lambda **kw: LSTM(H, peephole=True, **kw),
    "gru": lambda **kw: GRU(H, **kw),
    "gru-reset-after": lambda **kw: GRU(H, reset_after=True, **kw),
    "gru-simplified": lambda **kw: GRU(H, variant="simplified", **kw),
    "rnn-relu": lambda **kw: SimpleRNN(H, activation="relu", **kw),
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
    kw = dict(return_sequences=True, go_backwards=True, learn_initial_state=True, dropout=0.2, recurrent_dropout=0.3)
    x = rng.standard_normal((B, T, 3)).astype(dtype)
    dy = rng.standard_normal((B, T, H)).astype(dtype)
    ref = run_layer(LAYERS[name], False, monkeypatch, dtype, x, MASK, dy, **kw)
    got = run_layer(LAYERS[name], True, monkeypatch, dtype, x, MASK, dy, **kw)
    np.testing.assert_allclose(got[0], ref[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(got[1], ref[1], rtol=tol, atol=tol)
    for k in ref[2]:
        np.testing.assert_allclose(got[2][k], ref[2][k], rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_bidirectional_and_stateful_layers_on_both_paths(name, monkeypatch, rng):
    """Bidirectional (both directions, masked) and a stateful layer carried over two calls:
    outputs, dx and every gradient equal on both engines (float64)."""
    x = rng.standard_normal((B, T, 3))
    dy = rng.standard_normal((B, T, 2 * H))
    results = []
    for enabled in (False, True):
        monkeypatch.setattr(fast, "ENABLED", enabled)
        bi = Bidirectional(LAYERS[name](return_sequences=True, dtype="float64"))
        bi.build((T, 3), 5)
        st = LAYERS[name](return_sequences=True, stateful=True, dtype="float64")
        st.build((T, 3), 6)
        y, cache = bi.forward(x, mask=MASK, training=True)
        dx = bi.backward(dy, cache)
        ys = []
        for k in range(2):  # the second call starts from the first's states
            yk, ck = st.forward(x[:, ::-1] if k else x, training=True)
            st.backward(dy[..., :H], ck)
            ys.append(yk)
        results.append(
            (y, dx, *ys, {k: g.copy() for k, g in bi.grads.items()}, {k: g.copy() for k, g in st.grads.items()})
        )
    (ref, got) = results
    for a, b in zip(got[:4], ref[:4]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for gd_got, gd_ref in zip(got[4:], ref[4:]):
        for k in gd_ref:
            np.testing.assert_allclose(gd_got[k], gd_ref[k], rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize(
    "make",
    [
        lambda: LSTM(H),
        lambda: LSTM(H, peephole=True),
        lambda: GRU(H),
        lambda: GRU(H, reset_after=True),
        lambda: GRU(H, variant="simplified"),
        lambda: SimpleRNN(H),
    ],
    ids=["lstm", "lstm-peephole", "gru-course", "gru-reset-after", "gru-simplified", "simple-rnn"],
)
def test_layers_use_the_compiled_loop_and_the_choice_can_be_forced(make, monkeypatch):
    monkeypatch.setattr(fast, "ENABLED", True)
    layer = make()
    layer.build((T, 3), 0)
    x = np.ones((B, T, 3), np.float32)
    y, cache = layer.forward(x, training=True)
    assert cache.loop.engine == "compiled"
    monkeypatch.setattr(fast, "ENABLED", False)
    assert layer.forward(x)[1].loop.engine == "scan"
    with recurrent.use_engine("scan"):  # forcing: the reference, whatever ENABLED says
        monkeypatch.setattr(fast, "ENABLED", True)
        assert layer.forward(x)[1].loop.engine == "scan"
    monkeypatch.setattr(fast, "ENABLED", False)
    with recurrent.use_engine("compiled"):  # forcing: the kernels, or a one-line error
        assert layer.forward(x)[1].loop.engine == "compiled"
        monkeypatch.setattr(fast, "AVAILABLE", False)
        with pytest.raises(
            BoucleError,
            match=r"^engine: 'compiled' cannot run Cell\(kind=.* in float32: "
            r"numba is not installed",
        ):
            layer.forward(x)
    assert recurrent.engine_for(layer.cell, np.float32) == "scan"  # the block restored "auto"


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
    code = (
        "import numpy as np; from boucle.ops import cells, fast, recurrent; "
        "print(fast.AVAILABLE, fast.ENABLED, recurrent.engine_for(cells.get_cell('lstm'), np.float32))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BOUCLE_NO_NUMBA": "1"},
    )
    assert out.stdout.split() == ["True", "False", "scan"]


def test_boucle_train_runs_the_loop_on_every_core_or_on_its_threads():
    """`boucle train` (commands/charlm.py) trains with the recurrent loop on every core
    (measured fastest: docs/benchmarks.md), or on --threads N > 1."""
    import argparse

    from boucle.commands import charlm

    assert charlm.cmd_train.__wrapped__.__name__ == "cmd_train"  # the command is wrapped
    seen = charlm._on_every_core(lambda args: fast.threads())
    with threadpool_limits(limits=1, user_api="blas"):
        assert seen(argparse.Namespace(threads=1)) == min(os.cpu_count(), fast._CORES)
        assert seen(argparse.Namespace(threads=2)) == min(2, fast._CORES)
        assert fast.threads() == 1  # restored after the command
