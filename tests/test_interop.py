"""boucle.interop without torch: Keras weight conversion checked against Keras's equations
written out in NumPy (keras/src/layers/rnn: simple_rnn.py, lstm.py, gru.py), exact round
trips, the gate-block helpers, one-line errors, and torch staying an optional import."""

import subprocess
import sys

import numpy as np
import pytest

from boucle.errors import BoucleError
from boucle.interop import from_keras_weights, to_keras_weights
from boucle.interop.torch import gates_from_course, gates_to_course
from boucle.layers.recurrent import GRU, LSTM, SimpleRNN
from boucle.layers.sequence import Masking
from boucle.layers.wrappers import Bidirectional

TOL = 1e-12
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def keras_run(kind, x, kernel, recurrent_kernel, bias, reset_after=True, activation=np.tanh):
    """Keras 3's cells, step by step, in Keras's layout (zero initial state).

    SimpleRNN: h = act(x K + h R + b).  LSTM (blocks i, f, c, o):
    c = σ(f) c + σ(i) tanh(c~), h = σ(o) tanh(c).  GRU (blocks z, r, h):
    z, r = σ(x K + [h R + b_rec]), h~ = tanh(x K_h + b_h + r ⊙ (h R_h + b_rec_h)) if reset_after
    else tanh(x K_h + b_h + (r ⊙ h) R_h); h = z h + (1 - z) h~.
    """
    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    h, c, ys = np.zeros((B, H)), np.zeros((B, H)), []
    for t in range(T):
        if kind == "SimpleRNN":
            h = activation(x[:, t] @ kernel + h @ recurrent_kernel + (0 if bias is None else bias))
        elif kind == "LSTM":
            zs = x[:, t] @ kernel + h @ recurrent_kernel + (0 if bias is None else bias)
            i, f, cc, o = np.split(zs, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(cc)
            h = sigmoid(o) * np.tanh(c)
        else:
            in_b, rec_b = ((bias[0], bias[1]) if reset_after else (bias, 0)) if bias is not None else (0, 0)
            x_z, x_r, x_h = np.split(x[:, t] @ kernel + in_b, 3, axis=-1)
            inner = h @ recurrent_kernel + rec_b if reset_after else h @ recurrent_kernel[:, : 2 * H]
            z, r = sigmoid(x_z + inner[:, :H]), sigmoid(x_r + inner[:, H : 2 * H])
            rec_h = r * inner[:, 2 * H :] if reset_after else (r * h) @ recurrent_kernel[:, 2 * H :]
            h = z * h + (1 - z) * np.tanh(x_h + rec_h)
        ys.append(h)
    return np.stack(ys, axis=1), h, c


def keras_weights(kind, D, H, rng, use_bias=True, reset_after=True):
    G = GATES[kind]
    kernel, rec = rng.uniform(-0.8, 0.8, (D, G * H)), rng.uniform(-0.8, 0.8, (H, G * H))
    if not use_bias:
        return kernel, rec, None
    shape = (2, G * H) if kind == "GRU" and reset_after else (G * H,)
    return kernel, rec, rng.uniform(-0.8, 0.8, shape)


KERAS_CASES = [
    ("SimpleRNN", True, None),
    ("SimpleRNN", False, None),
    ("LSTM", True, None),
    ("LSTM", False, None),
    ("GRU", True, True),
    ("GRU", True, False),
    ("GRU", False, True),
    ("GRU", False, False),
]


@pytest.mark.parametrize("kind,use_bias,reset_after", KERAS_CASES)
def test_from_keras_weights_matches_keras_equations(kind, use_bias, reset_after, rng):
    B, T, D, H = 3, 6, 4, 5
    w = keras_weights(kind, D, H, rng, use_bias, bool(reset_after))
    kw = {"reset_after": reset_after} if kind == "GRU" and not use_bias else {}
    layer = from_keras_weights(kind, *w, return_sequences=True, return_state=True, **kw)
    if kind == "GRU":
        assert layer.reset_after == reset_after
    assert layer.use_bias == use_bias and layer.params["U"].dtype == np.float64
    x = rng.standard_normal((B, T, D))
    out = layer(x)
    ys, h, c = keras_run(kind, x, *w, reset_after=bool(reset_after))
    assert np.abs(out[0] - ys).max() < TOL
    assert np.abs(out[1] - h).max() < TOL
    if kind == "LSTM":
        assert np.abs(out[2] - c).max() < TOL


def test_simple_rnn_activation_and_name_pass_through(rng):
    w = keras_weights("SimpleRNN", 2, 3, rng)
    layer = from_keras_weights("simplernn", *w, activation="relu", name="rnn_in")
    x = rng.standard_normal((2, 4, 2))
    assert layer.name == "rnn_in" and not layer.return_sequences
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    assert np.abs(layer(x) - keras_run("SimpleRNN", x, *w, activation=relu)[1]).max() < TOL


@pytest.mark.parametrize("kind,use_bias,reset_after", KERAS_CASES)
def test_keras_round_trip_is_exact(kind, use_bias, reset_after, rng):
    w = keras_weights(kind, 3, 4, rng, use_bias, bool(reset_after))
    kw = {"reset_after": reset_after} if kind == "GRU" and not use_bias else {}
    back = to_keras_weights(from_keras_weights(kind, *w, **kw))
    assert len(back) == (3 if use_bias else 2)
    for a, b in zip(back, [v for v in w if v is not None]):
        assert a.shape == b.shape and np.array_equal(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SimpleRNN(3, activation="relu"),
        lambda: LSTM(3),
        lambda: LSTM(3, use_bias=False),
        lambda: GRU(3),
        lambda: GRU(3, reset_after=True),
        lambda: GRU(3, reset_after=True, use_bias=False),
    ],
)
def test_boucle_layer_through_keras_weights_is_exact(make, rng):
    layer = make()
    layer.build((None, 2), 0)
    layer.set_weights({k: rng.standard_normal(v.shape) for k, v in layer.params.items()})
    kind = {SimpleRNN: "SimpleRNN", LSTM: "LSTM", GRU: "GRU"}[type(layer)]
    kw = {"reset_after": layer.reset_after} if kind == "GRU" else {}
    if kind == "SimpleRNN":  # the activation is config, not a weight
        kw["activation"] = layer.activation
    again = from_keras_weights(kind, *to_keras_weights(layer), **kw)
    assert set(again.params) == set(layer.params)
    assert all(np.array_equal(again.params[k], layer.params[k]) for k in layer.params)
    x = rng.standard_normal((2, 5, 2))
    assert np.array_equal(again(x), layer(x))


def test_bidirectional_gives_forward_then_backward_weights(rng):
    bi = Bidirectional(GRU(3, reset_after=True))
    bi.build((None, 2), 0)
    ws = to_keras_weights(bi)
    assert [w.shape for w in ws] == [(2, 9), (3, 9), (2, 9)] * 2
    fwd = from_keras_weights("GRU", *ws[:3])
    assert all(np.array_equal(fwd.params[k], bi.params[f"forward/{k}"]) for k in fwd.params)


def test_gate_blocks_move_as_documented():
    H = 2
    keras_lstm = np.repeat([1.0, 2.0, 3.0, 4.0], H)  # i, f, c, o
    assert np.array_equal(gates_to_course(keras_lstm, (0, 1, 3, 2)), np.repeat([1.0, 2.0, 4.0, 3.0], H))
    torch_gru = np.repeat([1.0, 2.0, 3.0], H)  # r, z, n -> z (negated), r, g
    course = gates_to_course(torch_gru, (1, 0, 2), flip_z=True)
    assert np.array_equal(course, np.repeat([-2.0, 1.0, 3.0], H))
    assert np.array_equal(gates_from_course(course, (1, 0, 2), flip_z=True), torch_gru)
    a = np.arange(24.0).reshape(2, 12)
    for perm in [(0, 1, 3, 2), (2, 0, 3, 1), (3, 2, 1, 0)]:
        assert np.array_equal(gates_from_course(gates_to_course(a, perm, True), perm, True), a)


def test_gru_without_bias_defaults_to_keras_reset_after(rng):
    k, r, _ = keras_weights("GRU", 2, 3, rng)
    assert from_keras_weights("GRU", k, r).reset_after is True
    assert from_keras_weights("GRU", k, r, reset_after=False).reset_after is False
    assert from_keras_weights("GRU", k, r).use_bias is False


def test_dtype_follows_the_kernel_unless_given(rng):
    k, r, b = (v.astype(np.float32) for v in keras_weights("LSTM", 2, 3, rng))
    assert from_keras_weights("LSTM", k, r, b).params["W"].dtype == np.float32
    assert from_keras_weights("LSTM", k, r, b, dtype="float64").params["W"].dtype == np.float64


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda w: from_keras_weights("ConvLSTM", *w),
            r"^kind: expected one of .*SimpleRNN, LSTM, GRU, got 'ConvLSTM'$",
        ),
        (
            lambda w: from_keras_weights("GRU", w[0][:, :5], *w[1:]),
            r"^kernel: expected shape \(D, 3\*units\), got \(2, 5\)$",
        ),
        (
            lambda w: from_keras_weights("GRU", w[0], w[1][:2], w[2]),
            r"^recurrent_kernel: expected shape \(3, 9\), got \(2, 9\)$",
        ),
        (lambda w: from_keras_weights("GRU", w[0], w[1], w[2][0, :8]), r"^bias: expected shape \(9,\), got \(8,\)$"),
        (
            lambda w: from_keras_weights("GRU", *w, reset_after=False),
            r"^reset_after: the bias shape \(2, 9\) means "
            r"reset_after=True, got False$",
        ),
        (lambda w: from_keras_weights("GRU", w[0], w[1], None, use_bias=True), r"^use_bias: expected False"),
    ],
)
def test_from_keras_weights_errors_are_one_line(call, message, rng):
    with pytest.raises(BoucleError, match=message):
        call(keras_weights("GRU", 2, 3, rng))


def _built(layer):
    layer.build((None, 2), 0)
    return layer


@pytest.mark.parametrize(
    "layer,message",
    [
        (lambda: _built(LSTM(3, peephole=True)), r"Keras's LSTM has no peepholes, expected peephole=False, got True$"),
        (lambda: _built(GRU(3, variant="simplified")), r"expected variant='full', got 'simplified'$"),
        (lambda: _built(LSTM(3, learn_initial_state=True)), r"no learned initial state, .* got True$"),
        (lambda: _built(Masking()), r"^layer: expected .*SimpleRNN, LSTM, GRU or Bidirectional, got Masking$"),
        (lambda: LSTM(3), r"layer is not built"),
    ],
)
def test_to_keras_weights_errors_are_one_line(layer, message):
    with pytest.raises(BoucleError, match=message) as err:
        to_keras_weights(layer())
    assert "\n" not in str(err.value)


def test_torch_is_not_imported_by_boucle_or_interop():
    code = (
        "import sys, boucle, boucle.interop, boucle.interop.torch, boucle.interop.keras; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
