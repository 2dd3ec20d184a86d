"""Parity with PyTorch 2.13 (CPU, float64) through boucle.interop: outputs, final states
and every gradient (input, h_0/c_0, each parameter mapped back through the converter's
layout) of nn.RNN (tanh/relu), nn.LSTM and nn.GRU, 1-3 layers, bidirectional, masked
batches against pack_padded_sequence — max abs difference < 1e-10 — on BOTH engines of
boucle.ops.recurrent: the reference scan and the compiled loop (every cell), with a
negative control (a wrong derivative in the plain LSTM cell fails the comparison, and
the compiled loop alone would not see it). Also the converters' round trips, a Sequential built from torch weights,
and their one-line errors."""

import copy

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from boucle.errors import BoucleError
from boucle.interop import from_torch, sequential_from_torch, to_torch
from boucle.layers.recurrent import GRU, LSTM, SimpleRNN
from boucle.layers.sequence import Masking
from boucle.layers.wrappers import Bidirectional
from boucle.ops import cells, recurrent

TOL = 1e-10
TORCH = {
    "rnn_tanh": lambda D, H, **kw: torch.nn.RNN(D, H, nonlinearity="tanh", **kw),
    "rnn_relu": lambda D, H, **kw: torch.nn.RNN(D, H, nonlinearity="relu", **kw),
    "lstm": lambda D, H, **kw: torch.nn.LSTM(D, H, **kw),
    "gru": lambda D, H, **kw: torch.nn.GRU(D, H, **kw),
}

# (kind, num_layers, bidirectional, masked, batch_first, bias, pass h_0) — shapes drawn per case.
CASES = [
    ("rnn_tanh", 1, False, False, True, True, True),
    ("rnn_tanh", 2, True, True, False, True, True),
    ("rnn_tanh", 3, False, True, True, False, False),
    ("rnn_relu", 1, True, True, True, True, True),
    ("rnn_relu", 2, False, False, False, True, True),
    ("lstm", 1, False, True, True, True, True),
    ("lstm", 1, True, False, False, True, True),
    ("lstm", 2, True, True, True, True, True),
    ("lstm", 3, True, True, False, False, True),
    ("lstm", 3, False, False, True, True, False),
    ("gru", 1, False, False, False, True, True),
    ("gru", 1, True, True, True, True, True),
    ("gru", 2, False, True, True, False, True),
    ("gru", 3, True, True, False, True, True),
    ("gru", 2, True, False, True, True, False),
]


def make_module(kind, D, H, L, bidir, batch_first, bias, rng, dtype=torch.float64):
    """A torch module with weights drawn from ``rng`` (no global torch RNG)."""
    m = TORCH[kind](D, H, num_layers=L, bidirectional=bidir, batch_first=batch_first, bias=bias, dtype=dtype)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.7, 0.7, tuple(p.shape))))
    return m


def state_rows(k, dirs, n):
    """The boucle state order of layer k — [h_f(, c_f)(, h_b(, c_b))] — as (state, row of h_n)."""
    return [(s, k * dirs + d) for d in range(dirs) for s in range(n)]


def boucle_run(layers, x, mask, states0, R, S):
    """Forward + backward of loss = Σ R ⊙ y_last + Σ_layers Σ S ⊙ final states, by hand."""
    y, caches, finals = x, [], []
    for layer, s0 in zip(layers, states0):
        out, cache = layer.forward(y, mask=mask, initial_state=s0)
        y, finals = out[0], finals + [out[1:]]
        caches.append(cache)
    dy, dinit = R, [None] * len(layers)
    for k in range(len(layers) - 1, -1, -1):
        back = layers[k].backward([dy, *S[k]], caches[k])
        dy, dinit[k] = back if states0[k] is not None else (back, None)
    return y, finals, dy, dinit


def torch_grads_as_boucle(module):
    """The torch parameter gradients, mapped to boucle's layout by the converter itself.

    Gradients transform like weights (a permutation and a sign); torch's RNN/LSTM
    ``bias_ih`` and ``bias_hh`` enter only as their sum b, so dL/db = bias_ih.grad
    (= bias_hh.grad up to rounding, asserted) and ``bias_hh``'s copy is zeroed before the sum.
    """
    g = copy.deepcopy(module)
    named = dict(module.named_parameters())
    with torch.no_grad():
        for name, p in g.named_parameters():
            grad = named[name].grad
            if name.startswith("bias_hh") and module.mode != "GRU":
                assert (grad - named[name.replace("bias_hh", "bias_ih")].grad).abs().max() < TOL
                grad = torch.zeros_like(grad)
            p.copy_(grad)
    out = from_torch(g)
    return out if isinstance(out, list) else [out]


# both engines on every case (the compiled loop covers every cell)
ENGINE_CASES = [("scan", c) for c in CASES] + [("compiled", c) for c in CASES]
ENGINES = ["scan", "compiled"]


@pytest.mark.parametrize("engine,case", ENGINE_CASES, ids=[f"{e}-" + "-".join(map(str, c)) for e, c in ENGINE_CASES])
def test_parity_outputs_states_and_every_gradient(engine, case):
    with recurrent.use_engine(engine):  # a forced "compiled" raises where it does not cover
        diffs, y, mask = parity_diffs(case)
    assert max(diffs.values()) < TOL, {k: v for k, v in diffs.items() if v >= TOL}
    if mask is not None:  # outputs at padded steps are zero on both sides
        assert np.all(y[~mask] == 0)


def _wrong_forget_gate_backward(p, dstate, cache):
    """The plain LSTM step backward with a classic slip: df = dc ⊙ c_t instead of dc ⊙ c_{t-1}."""
    return cells.lstm_step_backward(p, dstate, cache._replace(c_prev=cache.c))


@pytest.mark.parametrize("case", [CASES[5], CASES[7]], ids=["lstm-1", "lstm-2-bidir"])
def test_parity_catches_a_wrong_derivative_in_the_plain_cells(case, monkeypatch):
    """Negative control: with a wrong forget-gate derivative in the plain cell, the scan
    engine's parity fails on the gradients (not on the forward values), while the compiled
    loop — which does not use the plain cells — still passes: parity must run on both."""
    broken = cells.Cell("lstm")
    object.__setattr__(broken, "step_backward", _wrong_forget_gate_backward)
    assert broken == cells.get_cell("lstm")  # the same variant, one wrong function
    monkeypatch.setattr(cells, "get_cell", lambda *args, **kwargs: broken)
    with recurrent.use_engine("scan"):
        diffs, _, _ = parity_diffs(case)
    wrong = {k for k, v in diffs.items() if v >= TOL}
    assert {"U", "W", "b"} <= {k.split()[0][1:].split("/")[-1] for k in wrong}  # "dforward/U l0" -> U
    assert not any(k == "output" or k.startswith("final") for k in wrong), wrong
    with recurrent.use_engine("compiled"):
        diffs, _, _ = parity_diffs(case)
    assert max(diffs.values()) < TOL


def parity_diffs(case):
    """Max abs differences boucle vs torch for one case: {quantity: diff}, y, mask."""
    kind, L, bidir, masked, bf, bias, pass_h0 = case
    rng = np.random.default_rng(100 + CASES.index(case))
    B, T, D, H = (int(rng.integers(lo, hi + 1)) for lo, hi in ((1, 5), (1, 7), (1, 6), (1, 8)))
    dirs, n = 1 + bidir, 2 if kind == "lstm" else 1
    m = make_module(kind, D, H, L, bidir, bf, bias, rng)
    layers = from_torch(m, return_state=True)
    layers = layers if isinstance(layers, list) else [layers]
    assert len(layers) == L and all(isinstance(l, Bidirectional) == bidir for l in layers)

    x = rng.standard_normal((B, T, D))
    lengths = rng.integers(1, T + 1, size=B) if masked else np.full(B, T)
    if masked and T > 1:  # at least one padded row
        lengths[rng.integers(B)] = rng.integers(1, T)
    mask = np.arange(T)[None, :] < lengths[:, None] if masked else None
    h0 = rng.standard_normal((L * dirs, B, H)) if pass_h0 else np.zeros((L * dirs, B, H))
    c0 = rng.standard_normal((L * dirs, B, H)) if pass_h0 else np.zeros((L * dirs, B, H))
    R = rng.standard_normal((B, T, dirs * H))
    Sh, Sc = rng.standard_normal((L * dirs, B, H)), rng.standard_normal((L * dirs, B, H))
    init = [[(h0, c0)[s][r] for s, r in state_rows(k, dirs, n)] if pass_h0 else None for k in range(L)]
    S = [[(Sh, Sc)[s][r] for s, r in state_rows(k, dirs, n)] for k in range(L)]

    # boucle: forward, loss, hand-written backward
    y, finals, dx, dinit = boucle_run(layers, x, mask, init, R, S)

    # torch: the same loss through autograd
    xt = torch.tensor(x if bf else x.transpose(1, 0, 2), requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    inp = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=bf, enforce_sorted=False) if masked else xt
    state = ((h0t, c0t) if kind == "lstm" else h0t) if pass_h0 else None
    out, hn = m(inp, state)
    if masked:
        out, _ = pad_packed_sequence(out, batch_first=bf, total_length=T)
    out = out if bf else out.transpose(0, 1)
    h_n, c_n = hn if kind == "lstm" else (hn, None)
    loss = (torch.from_numpy(R) * out).sum() + (torch.from_numpy(Sh) * h_n).sum()
    if kind == "lstm":
        loss = loss + (torch.from_numpy(Sc) * c_n).sum()
    loss.backward()

    diffs = {"output": np.abs(y - out.detach().numpy()).max()}
    for k in range(L):
        for j, (s, r) in enumerate(state_rows(k, dirs, n)):
            ref = (h_n, c_n)[s][r].detach().numpy()
            diffs[f"final l{k} {'hc'[s]} row {r}"] = np.abs(finals[k][j] - ref).max()
    dxt = xt.grad.numpy()
    diffs["dx"] = np.abs(dx - (dxt if bf else dxt.transpose(1, 0, 2))).max()
    if pass_h0:
        for k in range(L):
            for j, (s, r) in enumerate(state_rows(k, dirs, n)):
                ref = (h0t, c0t)[s].grad.numpy()[r]
                diffs[f"d{'hc'[s]}0 l{k} row {r}"] = np.abs(dinit[k][j] - ref).max()
    for k, (layer, ref) in enumerate(zip(layers, torch_grads_as_boucle(m))):
        assert set(layer.grads) == set(ref.params)
        for name in layer.grads:
            diffs[f"d{name} l{k}"] = np.abs(layer.grads[name] - ref.params[name]).max()
    return diffs, y, mask


@pytest.mark.parametrize("kind", list(TORCH))
@pytest.mark.parametrize("L,bidir,bias", [(1, False, True), (2, True, True), (3, True, False)])
def test_torch_round_trip_is_exact(kind, L, bidir, bias):
    rng = np.random.default_rng(7)
    m = make_module(kind, 3, 4, L, bidir, False, bias, rng)
    layers = from_torch(m)
    back = to_torch(layers, batch_first=False)
    assert type(back) is type(m) and back.num_layers == L and back.bidirectional == bidir
    assert back.mode == m.mode and back.batch_first is False and back.weight_ih_l0.dtype == torch.float64
    ref, got = dict(m.named_parameters()), dict(back.named_parameters())
    assert set(ref) == set(got)
    for name, p in ref.items():
        if name.startswith("weight") or kind == "gru":
            assert torch.equal(got[name], p), name  # bit for bit
        elif name.startswith("bias_ih"):  # RNN/LSTM: one bias, the sum
            hh = name.replace("bias_ih", "bias_hh")
            assert torch.equal(got[name], p + ref[hh]) and torch.equal(got[hh], torch.zeros_like(p))
    again = from_torch(back)
    for a, b in zip(layers if L > 1 else [layers], again if L > 1 else [again]):
        assert set(a.params) == set(b.params)
        assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


@pytest.mark.parametrize(
    "make,engine",
    [
        *[(lambda: [SimpleRNN(4, activation="relu", return_sequences=True, dtype="float64")], e) for e in ENGINES],
        *[
            (
                lambda: [
                    LSTM(4, return_sequences=True, dtype="float64"),
                    LSTM(4, return_sequences=True, dtype="float64"),
                ],
                e,
            )
            for e in ENGINES
        ],
        *[
            (
                lambda: [
                    Bidirectional(GRU(4, reset_after=True, return_sequences=True, dtype="float64")),
                    Bidirectional(GRU(4, reset_after=True, return_sequences=True, dtype="float64")),
                ],
                e,
            )
            for e in ENGINES
        ],
    ],
    ids=["rnn-scan", "rnn-compiled", "lstm-scan", "lstm-compiled", "gru-scan", "gru-compiled"],
)
def test_to_torch_of_boucle_layers_predicts_like_them(make, engine):
    with recurrent.use_engine(engine):
        _to_torch_predicts_like_boucle(make)


def _to_torch_predicts_like_boucle(make):
    rng = np.random.default_rng(3)
    layers, D = make(), 3
    for k, layer in enumerate(layers):
        layer.build((None, D if k == 0 else layers[k - 1].compute_output_shape((None, D))[-1]), k)
        layer.set_weights({n: rng.uniform(-0.8, 0.8, v.shape) for n, v in layer.params.items()})
    m = to_torch(layers)
    x, lengths = rng.standard_normal((4, 6, D)), np.array([6, 2, 1, 4])
    mask = np.arange(6)[None, :] < lengths[:, None]
    y = x
    for layer in layers:
        y = layer(y, mask=mask)
    out, _ = pad_packed_sequence(
        m(pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), batch_first=True, enforce_sorted=False))[0],
        batch_first=True,
        total_length=6,
    )
    assert np.abs(y - out.detach().numpy()).max() < TOL
    again = from_torch(m)
    for a, b in zip(layers, again if isinstance(again, list) else [again]):
        assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


SEQ_CASES = [(k, bidir, e) for k, bidir in (("lstm", True), ("gru", False), ("rnn_relu", True)) for e in ENGINES]


@pytest.mark.parametrize("kind,bidir,engine", SEQ_CASES, ids=["-".join(map(str, c)) for c in SEQ_CASES])
def test_sequential_from_torch_predicts_like_torch(kind, bidir, engine):
    with recurrent.use_engine(engine):
        _sequential_predicts_like_torch(kind, bidir)


def _sequential_predicts_like_torch(kind, bidir):
    rng = np.random.default_rng(11)
    m = make_module(kind, 3, 5, 2, bidir, True, True, rng)
    x, lengths = rng.standard_normal((5, 7, 3)), np.array([7, 3, 1, 5, 2])
    mask = np.arange(7)[None, :] < lengths[:, None]
    packed = pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, hn = m(packed)
    h_n = (hn[0] if kind == "lstm" else hn).detach().numpy()
    out = pad_packed_sequence(out, batch_first=True, total_length=7)[0].detach().numpy()

    model = sequential_from_torch(m, seed=0)
    assert model.built and model.dtype == np.float64 and len(model.layers) == 2
    assert np.abs(model.predict(x, mask=mask, batch_size=2) - out).max() < TOL
    back = to_torch(model)  # a Sequential of them
    assert all(
        torch.equal(p, dict(back.named_parameters())[n]) for n, p in m.named_parameters() if n.startswith("weight")
    )
    last = sequential_from_torch(m, return_sequences=False).predict(x, mask=mask)  # final h of the top layer
    ref = np.concatenate([h_n[-2], h_n[-1]], axis=-1) if bidir else h_n[-1]
    assert np.abs(last - ref).max() < TOL


@pytest.mark.parametrize("engine", ENGINES)
def test_single_layer_and_float32(engine):
    with recurrent.use_engine(engine):
        _single_layer_and_float32()


def _single_layer_and_float32():
    rng = np.random.default_rng(5)
    m = make_module("lstm", 2, 3, 1, False, True, True, rng, dtype=torch.float32)
    layer = from_torch(m, return_sequences=False, name="enc")
    assert isinstance(layer, LSTM) and layer.name == "enc" and not layer.return_sequences
    assert layer.params["U"].dtype == np.float32 and layer.params["U"].shape == (2, 12)
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    _, (h_n, _) = m(torch.from_numpy(x))
    np.testing.assert_allclose(layer(x), h_n[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert to_torch(layer).weight_ih_l0.dtype == torch.float32


def test_from_torch_rejects_and_warns():
    with pytest.raises(BoucleError, match=r"^module: Embedding has no boucle twin"):
        from_torch(torch.nn.Embedding(2, 3))
    with pytest.raises(BoucleError, match=r"^module: LSTM projections .* got 2$"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(BoucleError, match=r"^module: dtype must be .* got torch.float16$"):
        from_torch(torch.nn.GRU(3, 4, dtype=torch.float16))
    with pytest.warns(UserWarning, match="dropout=0.25 between layers"):
        layers = from_torch(torch.nn.GRU(3, 4, num_layers=2, dropout=0.25))
    assert len(layers) == 2 and layers[1].params["U"].shape == (4, 12)


def _built(layer, D=3):
    layer.build((None, D), 0)
    return layer


@pytest.mark.parametrize(
    "layers,message",
    [
        (lambda: _built(LSTM(4, peephole=True)), r"has no peepholes, expected peephole=False, got True$"),
        (
            lambda: _built(GRU(4)),
            r"only GRU\(reset_after=True\) has a torch twin, got variant='full', reset_after=False$",
        ),
        (lambda: _built(GRU(4, variant="simplified")), r"got variant='simplified', reset_after=False$"),
        (lambda: _built(SimpleRNN(4, activation="sigmoid")), r"'tanh' or 'relu', got activation='sigmoid'$"),
        (lambda: _built(SimpleRNN(4, learn_initial_state=True)), r"learned initial state, .* got True$"),
        (lambda: _built(SimpleRNN(4, go_backwards=True)), r"expected go_backwards=False, got True$"),
        (lambda: _built(Bidirectional(LSTM(4), merge_mode="sum")), r"expected merge_mode='concat', got 'sum'$"),
        (lambda: [_built(LSTM(4)), _built(GRU(4, reset_after=True), 4)], r"a torch stack needs one config .* got"),
        (lambda: [_built(LSTM(4)), _built(LSTM(4), 5)], r"input size of layer 1 must be 4 \(previous output\), got 5$"),
        (lambda: _built(Masking()), r"^layer: Masking has no torch twin"),
        (lambda: LSTM(4), r"layer is not built"),
        (lambda: [], r"^layers: expected at least one recurrent layer, got an empty list$"),
    ],
)
def test_to_torch_errors_are_one_line(layers, message):
    with pytest.raises(BoucleError, match=message) as err:
        to_torch(layers())
    assert "\n" not in str(err.value)


def test_to_torch_warns_about_dropout():
    with pytest.warns(UserWarning, match="training-only"):
        m = to_torch(_built(SimpleRNN(4, dropout=0.5)))
    assert m.dropout == 0
