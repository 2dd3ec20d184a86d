"""SimpleRNN, LSTM, GRU: gradients (every cell and variant), masking by value, stateful
chunks, dropout, deep stacks, parameter layout, config round trip and bad input."""

import json

import numpy as np
import pytest

from boucle import registry
from boucle.diagnostics import check_gradients, numerical_gradient, relative_error
from boucle.errors import BoucleError
from boucle.layers.recurrent import GRU, LSTM, SimpleRNN
from boucle.ops import recurrent

TOL = 1e-6
B, T, D, H = 5, 6, 3, 4
MASK = np.array(
    [
        [1, 1, 1, 1, 1, 1],  # full
        [1, 1, 1, 0, 0, 0],  # right padding
        [0, 0, 1, 1, 1, 1],  # left padding
        [1, 0, 1, 1, 0, 1],  # interior holes
        [0, 0, 0, 0, 0, 0],
    ],  # zero length
    dtype=bool,
)

VARIANTS = {
    "rnn-tanh": lambda **kw: SimpleRNN(H, **kw),
    "rnn-relu": lambda **kw: SimpleRNN(H, activation="relu", **kw),
    "lstm": lambda **kw: LSTM(H, **kw),
    "lstm-peephole": lambda **kw: LSTM(H, peephole=True, **kw),
    "gru": lambda **kw: GRU(H, **kw),
    "gru-reset-after": lambda **kw: GRU(H, reset_after=True, **kw),
    "gru-simplified": lambda **kw: GRU(H, variant="simplified", **kw),
}


def build(variant, seed=0, randomize=True, **kw):
    layer = VARIANTS[variant](**kw)
    layer.build((T, D), seed)
    if randomize:  # random values everywhere, so that no path is checked at 0 (biases, peepholes, h0)
        rng = np.random.default_rng(seed + 100)
        layer.set_weights({k: rng.standard_normal(v.shape) * 0.5 for k, v in layer.params.items()})
    return layer


def states(layer, rng, batch=B):
    return [rng.standard_normal((batch, H)) for _ in range(layer.cell.n_states)]


# ------------------------------------------------------------------ gradients
CONFIGS = {
    "many-to-one": (dict(), False, False),
    "seq-mask-init": (dict(return_sequences=True), True, True),
    "backwards-seq-mask": (dict(go_backwards=True, return_sequences=True), True, False),
    "backwards-last-mask-init": (dict(go_backwards=True), True, True),
    "state-learned-mask": (dict(return_state=True, learn_initial_state=True), True, False),
    "seq-state-nobias-backwards-learned": (
        dict(return_sequences=True, return_state=True, use_bias=False, go_backwards=True, learn_initial_state=True),
        False,
        False,
    ),
}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_gradients(variant, config, rng):
    kw, masked, with_init = CONFIGS[config]
    layer = build(variant, **kw)
    x = rng.standard_normal((B, T, D))
    init = states(layer, rng) if with_init else None
    if init is not None and layer.cell.n_states == 1:
        init = init[0]  # SimpleRNN/GRU take one array
    errs = check_gradients(layer, x, mask=MASK if masked else None, initial_state=init, max_checks=40)
    want = {"input", *layer.params} | (
        {f"initial_state[{j}]" for j in range(layer.cell.n_states)} if with_init else set()
    )
    assert set(errs) == want
    assert max(errs.values()) < TOL, errs


def test_gradient_check_reaches_learned_states_and_peepholes(rng):
    layer = build("lstm-peephole", learn_initial_state=True, return_sequences=True)
    assert {"p_i", "p_f", "p_o", "h0", "c0"} <= set(layer.params)
    errs = check_gradients(layer, rng.standard_normal((B, T, D)), mask=MASK)
    assert max(errs.values()) < TOL, errs


class Stack:
    """A deep RNN (seed 000) as layers chained by hand, with the layer contract that
    check_gradients needs. Masks flow through compute_mask."""

    def __init__(self, layers, dtype=None):
        self.layers = layers
        if dtype is not None:
            for la in layers:
                la._dtype_arg = dtype

    def get_config(self):
        return {"layers": [(type(la).__name__, la.get_config()) for la in self.layers]}

    @classmethod
    def from_config(cls, cfg):
        return cls([registry.lookup("layer", name).from_config(c) for name, c in cfg["layers"]], cfg.get("dtype"))

    def build(self, shape, seed):
        for la in self.layers:
            la.build(shape, seed)
            shape = la.compute_output_shape(shape)
        self.built_input_shape = self.layers[0].built_input_shape
        self.params = {f"{i}/{k}": v for i, la in enumerate(self.layers) for k, v in la.params.items()}
        self.grads = {f"{i}/{k}": v for i, la in enumerate(self.layers) for k, v in la.grads.items()}

    def get_weights(self):
        return {k: v.copy() for k, v in self.params.items()}

    def set_weights(self, w):
        for k, v in w.items():
            self.params[k][...] = v

    def zero_grads(self):
        for g in self.grads.values():
            g[...] = 0

    def forward(self, x, mask=None, training=False):
        caches = []
        for la in self.layers:
            m_out = la.compute_mask(x, mask)
            x, c = la.forward(x, mask=mask, training=training)
            caches.append(c)
            mask = m_out
        return x, caches

    def backward(self, dy, caches):
        for la, c in zip(reversed(self.layers), reversed(caches)):
            dy = la.backward(dy, c)
        return dy


@pytest.mark.parametrize("masked", [False, True])
def test_three_layer_stack_gradients(masked, rng):
    net = Stack([LSTM(H, return_sequences=True), GRU(H, return_sequences=True, reset_after=True), SimpleRNN(H)])
    net.build((T, D), 0)
    errs = check_gradients(net, rng.standard_normal((B, T, D)), mask=MASK if masked else None, max_checks=30)
    assert len(errs) == 1 + len(net.params)
    assert max(errs.values()) < TOL, errs


def test_gradients_with_dropout_for_a_fixed_draw(rng):
    """With the generator reset before each call, training=True is deterministic: check its gradient."""
    layer = build("lstm", dropout=0.3, recurrent_dropout=0.4, return_sequences=True, dtype="float64")
    x = rng.standard_normal((B, T, D))
    R = rng.standard_normal((B, T, H))

    def run():
        layer.rng = np.random.default_rng(7)
        return layer.forward(x, mask=MASK, training=True)

    def loss():
        return float(np.sum(R * run()[0]))

    y, cache = run()
    layer.zero_grads()
    dx = layer.backward(R, cache)
    assert relative_error(dx, numerical_gradient(loss, x)) < TOL
    for k in ("U", "W", "b"):
        assert relative_error(layer.grads[k], numerical_gradient(loss, layer.params[k])) < TOL, k


# ------------------------------------------------------------------ masking by value
def alone(layer, x_b, m_b, init_b=None):
    """One sequence run unpadded: its valid steps only, no mask."""
    idx = np.flatnonzero(m_b)
    kw = {} if init_b is None else {"initial_state": init_b}
    return layer.forward(x_b[None, idx], **kw)[0], idx


@pytest.mark.parametrize("backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_padded_batch_equals_each_sequence_alone(variant, backwards, rng):
    seq = build(variant, return_sequences=True, return_state=True, go_backwards=backwards)
    x = rng.standard_normal((B, T, D))
    x[~MASK] = 99.0  # padding values must not matter
    init = states(seq, rng)
    out = seq.forward(x, mask=MASK, initial_state=init)[0]
    for b in range(B - 1):
        one, idx = alone(seq, x[b], MASK[b], [s[b : b + 1] for s in init])
        np.testing.assert_allclose(out[0][b, idx], one[0][0], rtol=1e-6, atol=1e-6)
        assert np.all(out[0][b, ~MASK[b]] == 0)
        for s, s1 in zip(out[1:], one[1:]):  # final state = last valid step's
            np.testing.assert_allclose(s[b], s1[0], rtol=1e-6, atol=1e-6)
    for s, s0 in zip(out[1:], init):  # zero-length row: the initial state
        np.testing.assert_allclose(s[B - 1], s0[B - 1], rtol=1e-6)
    assert np.all(out[0][B - 1] == 0)


def test_many_to_one_is_the_last_valid_output(rng):
    last = build("gru")
    seq = GRU.from_config({**last.get_config(), "return_sequences": True, "name": "gru_seq"})
    seq.build((T, D), 0)
    seq.set_weights(last.get_weights())
    x = rng.standard_normal((B, T, D))
    right = np.arange(T)[None, :] < np.array([6, 3, 1, 4, 2])[:, None]
    y_last, y_seq = last(x, mask=right), seq(x, mask=right)
    for b, n in enumerate([6, 3, 1, 4, 2]):
        np.testing.assert_allclose(y_last[b], y_seq[b, n - 1], rtol=1e-6)


def test_zero_length_rows_return_zeros_or_the_learned_state(rng):
    layer = build("lstm", learn_initial_state=True, return_state=True)
    mask = np.zeros((2, T), dtype=bool)
    mask[0, :2] = True
    _, h, c = layer(rng.standard_normal((2, T, D)), mask=mask)
    np.testing.assert_allclose(h[1], layer.params["h0"], rtol=1e-6)
    np.testing.assert_allclose(c[1], layer.params["c0"], rtol=1e-6)
    plain = build("gru")
    assert np.all(plain(rng.standard_normal((2, T, D)), mask=mask)[1] == 0)


# ------------------------------------------------------------------ stateful
@pytest.mark.parametrize("variant", ["rnn-tanh", "lstm", "gru-reset-after"])
def test_stateful_chunks_equal_one_long_sequence(variant, rng):
    full = build(variant, return_sequences=True)
    chunked = build(variant, return_sequences=True, stateful=True)
    x = rng.standard_normal((B, 3 * T, D))
    want = full(x)
    got = np.concatenate([chunked(x[:, k * T : (k + 1) * T]) for k in range(3)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert len(chunked.states) == chunked.cell.n_states
    np.testing.assert_allclose(chunked.states[0], want[:, -1], rtol=1e-5, atol=1e-6)
    chunked.reset_states()
    assert chunked.states is None
    np.testing.assert_allclose(chunked(x[:, :T]), want[:, :T], rtol=1e-5, atol=1e-6)
    with pytest.raises(BoucleError, match="batch size"):
        chunked(x[:2, :T])


def test_stateful_backward_is_truncated_bptt(rng):
    """The carried state is a constant of the next chunk: its gradients equal those of a
    plain layer given that state as initial_state, and nothing flows to the earlier chunk."""
    stateful = build("lstm", stateful=True, return_sequences=True, dtype="float64")
    plain = build("lstm", return_sequences=True, dtype="float64")
    x1, x2 = rng.standard_normal((B, T, D)), rng.standard_normal((B, T, D))
    stateful.forward(x1)
    carried = [s.copy() for s in stateful.states]
    y, cache = stateful.forward(x2)
    y_ref, cache_ref = plain.forward(x2, initial_state=carried)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12)
    dy = rng.standard_normal(y.shape)
    stateful.zero_grads()
    plain.zero_grads()
    dx = stateful.backward(dy, cache)  # just dx: no state gradient to return
    dx_ref, _ = plain.backward(dy, cache_ref)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12)
    for k in stateful.grads:
        np.testing.assert_allclose(stateful.grads[k], plain.grads[k], rtol=1e-12)


# ------------------------------------------------------------------ dropout
def test_dropout_is_seeded_and_off_at_inference(rng):
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    a = build("gru", seed=3, dropout=0.5, recurrent_dropout=0.5)
    b = build("gru", seed=3, dropout=0.5, recurrent_dropout=0.5)
    ref = build("gru", seed=3)
    np.testing.assert_array_equal(a(x, training=True), b(x, training=True))
    assert not np.allclose(a(x, training=True), ref(x))
    np.testing.assert_array_equal(a(x), ref(x))  # training=False: no dropout
    assert a.stochastic and not ref.stochastic


def test_dropout_masks_are_the_same_at_every_step():
    rate = 0.5
    # input dropout: U = I, W = 0, linear -> h_t = x_t ⊙ m
    layer = SimpleRNN(D, activation="linear", use_bias=False, dropout=rate, return_sequences=True, dtype="float64")
    layer.build((T, D), 0)
    layer.set_weights({"U": np.eye(D), "W": np.zeros((D, D))})
    y = layer(np.ones((50, T, D)), training=True)
    assert np.all(y == y[:, :1])  # one mask for the whole sequence
    assert set(np.unique(y)) == {0.0, 1 / (1 - rate)}
    # recurrent dropout: U = I, W = I, x = [1, 0, 0, ...] -> h_t = m^t ⊙ x_0 for the same m
    layer = SimpleRNN(
        D, activation="linear", use_bias=False, recurrent_dropout=rate, return_sequences=True, dtype="float64"
    )
    layer.build((T, D), 0)
    layer.set_weights({"U": np.eye(D), "W": np.eye(D)})
    x = np.zeros((50, T, D))
    x[:, 0] = 1.0
    y = layer(x, training=True)
    m = y[:, 1]
    for t in range(T):
        np.testing.assert_allclose(y[:, t], m**t)
    assert 0 < (m == 0).mean() < 1


# ------------------------------------------------------------------ layout, config, shapes
@pytest.mark.parametrize(
    "variant,G,extra",
    [
        ("rnn-tanh", 1, set()),
        ("lstm", 4, set()),
        ("lstm-peephole", 4, {"p_i", "p_f", "p_o"}),
        ("gru", 3, set()),
        ("gru-reset-after", 3, {"b_W"}),
        ("gru-simplified", 2, set()),
    ],
)
def test_parameter_layout_and_keras_defaults(variant, G, extra):
    layer = build(variant, randomize=False)
    assert set(layer.params) == {"U", "W", "b"} | extra
    assert layer.params["U"].shape == (D, G * H) and layer.params["W"].shape == (H, G * H)
    assert layer.params["b"].shape == (G * H,) and layer.params["U"].dtype == np.float32
    assert all(v.flags["C_CONTIGUOUS"] for v in layer.params.values())
    W = layer.params["W"].astype(np.float64)
    np.testing.assert_allclose(W @ W.T, np.eye(H), atol=1e-5)  # orthogonal rows
    limit = np.sqrt(6 / (D + G * H))  # glorot_uniform
    assert np.abs(layer.params["U"]).max() <= limit
    want_b = np.zeros(G * H)
    if variant.startswith("lstm"):
        want_b[H : 2 * H] = 1.0  # unit_forget_bias
    np.testing.assert_array_equal(layer.params["b"], want_b)
    assert build(variant, randomize=False, learn_initial_state=True).params["h0"].shape == (H,)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_float32_matches_float64(variant, rng):
    l64 = build(variant, return_sequences=True, dtype="float64")
    l32 = build(variant, return_sequences=True, dtype="float32")
    x = rng.standard_normal((B, T, D))
    y64, c64 = l64.forward(x, mask=MASK)
    y32, c32 = l32.forward(x.astype(np.float32), mask=MASK)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, atol=2e-5)
    dy = rng.standard_normal(y64.shape)
    dx64, dx32 = l64.backward(dy, c64), l32.backward(dy, c32)
    assert dx32.dtype == np.float32 and all(g.dtype == np.float32 for g in l32.grads.values())
    np.testing.assert_allclose(dx32, dx64, atol=1e-4)
    for k in l64.grads:
        np.testing.assert_allclose(l32.grads[k], l64.grads[k], rtol=1e-4, atol=1e-4)


def test_config_round_trip_and_float64(rng):
    for make in VARIANTS.values():
        layer = make(
            return_sequences=True, go_backwards=True, dropout=0.1, learn_initial_state=True, dtype="float64", name="rec"
        )
        cfg = layer.get_config()
        json.dumps(cfg)
        again = type(layer).from_config(cfg)
        assert again.get_config() == cfg
        again.build((T, D), 0)
        assert again.params["W"].dtype == np.float64


def test_output_shapes_and_masks():
    x = np.zeros((B, T, D), dtype=np.float32)
    for kw, shape in [(dict(), (B, H)), (dict(return_sequences=True), (B, T, H))]:
        layer = LSTM(H, **kw)
        assert layer(x).shape == shape
        assert layer.compute_output_shape((T, D)) == shape[1:]
        out_mask = layer.compute_mask(x, MASK)
        assert (out_mask is MASK) == bool(kw)
    layer = LSTM(H, return_state=True)
    assert layer.compute_output_shape((None, D)) == [(H,), (H,), (H,)]
    y = layer(x)
    assert isinstance(y, list) and len(y) == 3 and y[0] is y[1]


def test_backward_returns_state_gradients_shaped_like_initial_state(rng):
    x = rng.standard_normal((B, T, D))
    gru = build("gru", dtype="float64")
    y, cache = gru.forward(x, initial_state=np.zeros((B, H)))
    dx, dh = gru.backward(np.ones_like(y), cache)
    assert dx.shape == x.shape and isinstance(dh, np.ndarray) and dh.shape == (B, H)
    lstm = build("lstm", dtype="float64", return_state=True)
    y, cache = lstm.forward(x, initial_state=[np.zeros((B, H))] * 2)
    dx, ds = lstm.backward([None, np.ones((B, H)), None], cache)  # None = zero gradient
    assert isinstance(ds, list) and len(ds) == 2 and ds[1].shape == (B, H)


ENGINE_VARIANTS = [(v, e) for v in VARIANTS for e in ("scan", "compiled")]


@pytest.mark.parametrize("variant,engine", ENGINE_VARIANTS, ids=[f"{v}-{e}" for v, e in ENGINE_VARIANTS])
def test_an_empty_batch_gives_empty_outputs_and_zero_gradients(variant, engine):
    """B = 0 (e.g. an empty last batch): empty outputs and states, dx and state gradients
    empty, every parameter gradient zero; with a mask, an initial state, every option."""
    layer = build(
        variant, dtype="float64", return_sequences=True, return_state=True, go_backwards=True, learn_initial_state=True
    )
    n = layer.cell.n_states
    x, mask = np.zeros((0, T, D)), np.zeros((0, T), bool)
    with recurrent.use_engine(engine):
        for init in (None, [np.zeros((0, H))] * n if n > 1 else np.zeros((0, H))):
            y, cache = layer.forward(x, mask=mask, training=True, initial_state=init)
            assert cache.loop.engine == engine
            assert y[0].shape == (0, T, H) and all(s.shape == (0, H) for s in y[1:])
            back = layer.backward([np.zeros((0, T, H))] + [np.zeros((0, H))] * n, cache)
            dx, ds = back if init is not None else (back, None)
            assert dx.shape == (0, T, D)
            if init is not None:
                assert (ds[0] if n > 1 else ds).shape == (0, H)
            assert all(np.all(g == 0) for g in layer.grads.values())
    last = build(variant, dtype="float64")
    assert last(np.zeros((0, T, D))).shape == (0, H)


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_one_line_errors(rng):
    lstm = build("lstm")
    x = rng.standard_normal((B, T, D))
    cases = [
        (lambda: lstm.forward(x[0]), r"x must be 3-D, got shape \(6, 3\)"),
        (lambda: lstm.forward(rng.standard_normal((B, T, D + 1))), r"x last axis must have size 3"),
        (lambda: lstm.forward(x, mask=MASK[:, :3]), r"mask must have shape \(B, T\) = \(5, 6\), got \(5, 3\)"),
        (lambda: lstm.forward(x, initial_state=np.zeros((B, H))), r"initial_state must be a list of 2"),
        (lambda: lstm.forward(x, initial_state=[np.zeros((B, H))] * 3), r"initial_state must be a list of 2"),
        (
            lambda: lstm.forward(x, initial_state=[np.zeros((B, H)), np.zeros((B, H + 1))]),
            r"initial_state c must have shape \(B, H\) = \(5, 4\), got \(5, 5\)",
        ),
        (lambda: build("gru").forward(x, initial_state=np.zeros((B + 1, H))), r"initial_state h must have shape"),
        (lambda: lstm.forward(x[:, :0]), r"at least one time step"),
        (lambda: LSTM(H).forward(x), r"not built"),
        (lambda: LSTM(0), r"LSTM: units: expected a positive int, got 0"),
        (lambda: GRU(2.5), r"GRU: units: expected a positive int"),
        (lambda: LSTM(H, dropout=1.0), r"LSTM: dropout: expected a float in \[0, 1\), got 1.0"),
        (lambda: GRU(H, recurrent_dropout=-0.1), r"GRU: recurrent_dropout: expected a float in \[0, 1\)"),
        (lambda: SimpleRNN(H, activation="softmax"), r"activation: expected one of"),
        (lambda: GRU(H, variant="minimal"), r"variant must be 'full' or 'simplified'"),
        (lambda: GRU(H, variant="simplified", reset_after=True), r"reset_after must be False"),
        (lambda: LSTM(H, kernel_initializer="nope").build((T, D), 0), r"initializer"),
        (lambda: LSTM(H).build((D,), 0), r"input_shape must be \(T, D\)"),
    ]
    for fn, pattern in cases:
        with pytest.raises(BoucleError, match=pattern) as info:
            fn()
        assert "\n" not in str(info.value)
    with_state = build("lstm", return_state=True)
    _, cache = with_state.forward(x)
    with pytest.raises(BoucleError, match="dy must be a list of 3"):
        with_state.backward(np.ones((B, H)), cache)
