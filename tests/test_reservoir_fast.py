"""The reservoir's compiled state loop (boucle.reservoir._fast, numba) equals the reference loop; the
spectral radius's compiled product is the CSR product; its ARPACK fallback through SciPy's CSR kernel
called directly is ``eigs`` on the matrix, bit for bit.

numba is a test dependency: without it this module fails (it never skips)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import eigs

try:
    import numba  # noqa: F401
except ImportError as err:  # fail, never skip: the compiled loop must be tested
    raise ImportError(
        "numba is a test dependency (pip install -e '.[test]'): tests/test_reservoir_fast.py "
        "holds the compiled reservoir loop equal to the reference and must run"
    ) from err

from boucle.backend import make_rng  # noqa: E402
from boucle.data.tasks.timeseries import mackey_glass, to_forecasting  # noqa: E402
from boucle.errors import BoucleError  # noqa: E402
from boucle.reservoir import ESN, DeepESN, Reservoir, rmse, spectral_radius  # noqa: E402
from boucle.reservoir import _spectral as spectral_module  # noqa: E402
from boucle.reservoir import reservoir as reservoir_module  # noqa: E402

_ARPACK = spectral_module._arpack

pytestmark = pytest.mark.filterwarnings("ignore::boucle.reservoir.EchoStateWarning")


def test_the_compiled_loop_is_available_and_chosen_by_default():
    assert reservoir_module.FAST_AVAILABLE, "numba imports but boucle.reservoir._fast could not load"
    assert reservoir_module.FAST_ENABLED  # BOUCLE_NO_NUMBA unset in the test run


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
@pytest.mark.parametrize("leak", [1.0, 0.3])
def test_compiled_loop_equals_reference_every_activation_batch_and_drive(rng, activation, leak):
    """Single sequence and a batch of 3 with different initial states and a drive term (output feedback)."""
    sr = 0.5 if activation == "linear" else 1.1
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        res = Reservoir(
            120,
            spectral_radius=sr,
            leak_rate=leak,
            bias_scaling=0.3,
            connectivity=0.15,  # rows of every length mod 4: the kernel's four accumulators and the tail
            activation=activation,
            seed=4,
            dtype=dtype,
            input_dim=2,
        )
        u = rng.standard_normal((3, 150, 2))
        h0 = (0.3 * rng.standard_normal((3, 120))).astype(dtype)
        drive = 0.2 * rng.standard_normal((3, 150, 120))
        for args in ((u, h0, drive), (u[:1], h0[:1], None)):
            ref = res.forward(*args, engine="reference")
            got = res.forward(*args, engine="compiled")
            assert got.dtype == ref.dtype == np.dtype(dtype) and got.shape == ref.shape
            np.testing.assert_allclose(got, ref, rtol=0, atol=tol)
            assert np.abs(ref).max() > 0.1  # the states are not trivially small


def test_compiled_tanh_and_sigmoid_agree_with_numpy_to_a_few_ulps(rng):
    """The loop's branch-free tanh (exp by Cody-Waite reduction and a Taylor series, 2^n from its bits)."""
    from numba import njit

    from boucle.reservoir import _fast

    @njit
    def both(x, t, s):
        for k in range(x.shape[0]):
            t[k] = _fast.tanh(x[k])
            s[k] = 0.5 + 0.5 * _fast.tanh(0.5 * x[k])

    x = np.concatenate(
        [
            2.0 * rng.standard_normal(20000),
            1e-3 * rng.standard_normal(5000),
            np.linspace(-25, 25, 20001),
            [0.0, -0.0, 5e-324, -1e-300, 19.06, 20.0, 21.0, -40.0, 710.0, np.inf, -np.inf],
        ]
    )
    t, s = np.empty_like(x), np.empty_like(x)
    both(x, t, s)
    ref = np.tanh(x)
    assert np.all(np.abs(t - ref) <= 4.5e-16 * np.abs(ref) + 1e-320)
    np.testing.assert_allclose(s, 1.0 / (1.0 + np.exp(-x)), rtol=0, atol=4e-16)
    assert t[x == np.inf] == 1.0 and t[x == -np.inf] == -1.0 and np.signbit(t[np.signbit(x) & (x == 0)]).all()
    nan = np.array([np.nan])
    both(nan, t[:1], s[:1])
    assert np.isnan(t[0]) and np.isnan(s[0])


def test_compiled_loop_keeps_nan_visible(rng):
    res = Reservoir(30, activation="relu", seed=0, input_dim=1)
    u = rng.standard_normal((1, 5, 1))
    u[0, 2] = np.nan
    for engine in ("reference", "compiled"):
        x = res.forward(u, np.zeros((1, 30)), engine=engine)
        assert np.isnan(x[0, 2:]).any(axis=1).all()


def _models():
    common = dict(spectral_radius=1.25, leak_rate=0.3, ridge=1e-5, seed=0)
    return {
        "esn": lambda: ESN(100, **common),
        "feedback": lambda: ESN(100, feedback_scaling=0.3, feedback_noise=1e-4, **common),
        "deep": lambda: DeepESN((60, 40), spectral_radius=0.9, leak_rate=0.5, ridge=1e-6, seed=0),
    }


@pytest.mark.parametrize("kind", ["esn", "feedback", "deep"])
def test_models_fit_and_predict_the_same_with_either_loop(monkeypatch, kind):
    """reservoirpy's README task (continuing the training state), output feedback in closed loop, DeepESN.

    The states agree to 1e-12; the predictions to 1e-6 relative: the ridge solve (ridge 1e-5 / 1e-6 on
    correlated states) amplifies the rounding differences of its features by its condition number, and the
    closed loop of the feedback model feeds them back (the reference loop moves as much under a change
    of summation order)."""
    x, y = to_forecasting(mackey_glass(900, seed=0), 1)
    xtr, ytr, xte, yte = x[:700], y[:700], x[700:], y[700:]
    states, preds = {}, {}
    for enabled in (False, True):
        monkeypatch.setattr(reservoir_module, "FAST_ENABLED", enabled)
        model = _models()[kind]()
        model.fit(xtr, ytr, warmup=50)
        preds[enabled] = model.predict(xte, initial_state="last")
        run = model.run(xtr, teacher=ytr) if kind == "feedback" else model.run(xtr)
        states[enabled] = np.concatenate(run, axis=-1) if isinstance(run, list) else run
    np.testing.assert_allclose(states[True], states[False], rtol=0, atol=1e-12)
    np.testing.assert_allclose(preds[True], preds[False], rtol=1e-6, atol=1e-9)
    assert rmse(yte, preds[True]) < (
        0.3 if kind == "feedback" else 0.05
    )  # and it still forecasts (closed loop: drifts)


def test_unknown_or_unavailable_engine_is_refused(monkeypatch):
    res = Reservoir(10, seed=0, input_dim=1)
    with pytest.raises(BoucleError, match="engine: expected one of"):
        res.forward(np.zeros((1, 3, 1)), np.zeros((1, 10)), engine="fast")
    monkeypatch.setattr(reservoir_module, "FAST_AVAILABLE", False)
    with pytest.raises(BoucleError, match="engine: 'compiled' needs numba"):
        res.forward(np.zeros((1, 3, 1)), np.zeros((1, 10)), engine="compiled")


def test_boucle_no_numba_keeps_the_reference_loop():
    code = "from boucle.reservoir import reservoir as r; print(r.FAST_AVAILABLE, r.FAST_ENABLED)"
    env = {**os.environ, "BOUCLE_NO_NUMBA": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["True", "False"]


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_compiled_matvec_is_the_csr_product(index_dtype):
    """The spectral radius's compiled product: rows of every length mod 4 (the four accumulators and the
    tail), empty rows, both index widths."""
    rng = np.random.default_rng(0)
    W = sp.random(130, 130, density=0.04, random_state=rng, format="csr", data_rvs=rng.standard_normal)
    W = sp.csr_array((W.data, W.indices.astype(index_dtype), W.indptr.astype(index_dtype)), shape=W.shape)
    assert {int(r) % 4 for r in np.diff(W.indptr)} == {0, 1, 2, 3} and (np.diff(W.indptr) == 0).any()
    x = rng.standard_normal(130)
    got = spectral_module._CompiledOperator(W).matvec(x)
    np.testing.assert_allclose(got, W @ x, rtol=0, atol=1e-13)


def test_compiled_arnoldi_equals_the_reference():
    """The Krylov-Schur method's Arnoldi steps, compiled and plain, from an empty basis and from a restart."""
    from boucle.reservoir import _fast, _krylov

    rng = np.random.default_rng(1)
    W = sp.csr_array(sp.random(300, 300, density=0.07, random_state=rng, format="csr", data_rvs=rng.standard_normal))
    op = spectral_module._CompiledOperator(W)
    V0 = np.zeros((41, 300))
    V0[:11] = np.linalg.qr(rng.standard_normal((300, 11)))[0].T  # an orthonormal basis of 11 rows
    S0 = np.zeros((41, 40))
    S0[:11, :10] = rng.standard_normal((11, 10))
    for start in (0, 10):
        V1, S1, V2, S2 = V0.copy(), S0.copy(), V0.copy(), S0.copy()
        assert _fast.arnoldi(*op._csr, V1, S1, start) and _krylov.arnoldi(lambda x: W @ x, V2, S2, start)
        np.testing.assert_allclose(V1, V2, rtol=0, atol=1e-11)
        np.testing.assert_allclose(S1, S2, rtol=0, atol=1e-11)
        np.testing.assert_allclose(V1[:41] @ V1[:41].T, np.eye(41), rtol=0, atol=1e-13)  # orthonormal


@pytest.mark.parametrize("units", [reservoir_module.DENSE_EIG_MAX + 1, 300])
def test_arpack_fallback_through_the_direct_csr_operator_is_eigs_on_the_matrix_bit_for_bit(units):
    """The operator only skips SciPy's dispatch: the same products, the same ARPACK run, the same float."""
    rng = np.random.default_rng(units)
    W = sp.random(units, units, density=0.1, random_state=rng, format="csr", data_rvs=rng.standard_normal)
    v0 = make_rng(5).standard_normal(units)
    got = spectral_module._arpack(spectral_module._CSROperator(sp.csr_array(W)), v0)
    ncv = min(units - 1, 80)
    with warnings.catch_warnings():
        vals = eigs(
            W, k=4, which="LM", ncv=ncv, tol=spectral_module.TOL, v0=v0, maxiter=50 * units, return_eigenvectors=False
        )
    assert got == float(np.abs(vals).max())
    dense = float(np.abs(np.linalg.eigvals(W.toarray())).max())
    assert abs(got - dense) < 1e-8 * dense
    assert abs(spectral_radius(W, seed=5) - dense) < 1e-8 * dense  # Krylov-Schur, compiled product


def test_arpack_answers_where_krylov_schur_finds_an_invariant_subspace(monkeypatch):
    """A matrix of rank 6 in 80 dimensions: the Krylov space stops growing after 7 vectors."""
    rng = np.random.default_rng(3)
    W = np.zeros((80, 80))
    W[:6, :6] = rng.standard_normal((6, 6))
    calls = []
    monkeypatch.setattr(spectral_module, "_arpack", lambda op, v0: calls.append(1) or _ARPACK(op, v0))
    got = spectral_radius(sp.csr_array(W), seed=0)
    assert calls == [1]
    dense = float(np.abs(np.linalg.eigvals(W)).max())
    assert abs(got - dense) < 1e-8 * dense


@pytest.mark.parametrize("enabled", [True, False])
def test_reservoir_spectral_radius_with_and_without_the_compiled_product(monkeypatch, enabled):
    monkeypatch.setattr(reservoir_module, "FAST_ENABLED", enabled)
    res = Reservoir(300, spectral_radius=0.9, connectivity=0.1, seed=7, input_dim=1)
    assert abs(float(np.abs(np.linalg.eigvals(res.W.toarray())).max()) - 0.9) < 1e-9
