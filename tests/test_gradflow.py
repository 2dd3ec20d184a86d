"""Gradient flow through time: ∂E/∂h_t and ∂h_t/∂x_1 against PyTorch autograd (float64),
a closed form for the linear RNN, and the plots."""

from pathlib import Path

import numpy as np
import pytest
import torch

from boucle.diagnostics.gradflow import (
    gradient_flow,
    input_influence,
    plot_gradient_flow,
    plot_influence,
    state_gradients,
)
from boucle.errors import BoucleError
from boucle.layers import GRU, LSTM, Bidirectional, SimpleRNN

B, T, D, H = 2, 7, 3, 4


def _layer(kind: str, seed: int = 0):
    layer = {
        "rnn": lambda: SimpleRNN(H, dtype="float64"),
        "lstm": lambda: LSTM(H, dtype="float64"),
        "gru": lambda: GRU(H, dtype="float64"),
    }[kind]()
    layer.build((T, D), seed)
    rng = np.random.default_rng(seed + 1)  # non-trivial biases
    for v in layer.params.values():
        v[...] = v + 0.3 * rng.standard_normal(v.shape)
    return layer


def _torch_states(kind: str, layer, x: np.ndarray):
    """The course's equations unrolled in torch (row vectors, gate blocks as boucle lays them out)."""
    U, W, b = (torch.tensor(layer.params[k]) for k in ("U", "W", "b"))
    xs = torch.tensor(x, requires_grad=True)
    h = torch.zeros(B, H, dtype=torch.float64)
    c = torch.zeros(B, H, dtype=torch.float64)
    hs, cs = [], []
    for t in range(T):
        xt = xs[:, t]
        if kind == "rnn":
            h = torch.tanh(xt @ U + h @ W + b)
        elif kind == "lstm":
            a = xt @ U + h @ W + b
            i, f, o = (torch.sigmoid(a[:, k * H : (k + 1) * H]) for k in range(3))
            g = torch.tanh(a[:, 3 * H :])
            c = i * g + f * c
            h = o * torch.tanh(c)
        else:
            zr = torch.sigmoid(xt @ U[:, : 2 * H] + h @ W[:, : 2 * H] + b[: 2 * H])
            z, r = zr[:, :H], zr[:, H:]
            g = torch.tanh(xt @ U[:, 2 * H :] + (r * h) @ W[:, 2 * H :] + b[2 * H :])
            h = z * g + (1 - z) * h
        h.retain_grad()
        if kind == "lstm":
            c.retain_grad()
        hs.append(h)
        cs.append(c)
    return xs, hs, cs


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("target", ["last", "all"])
def test_state_gradients_match_torch_autograd(kind, target):
    layer = _layer(kind)
    x = np.random.default_rng(3).standard_normal((B, T, D))
    g = state_gradients(layer, x, target=target, seed=5)
    xs, hs, cs = _torch_states(kind, layer, x)
    r = torch.tensor(g["r"])
    E = (r * hs[-1]).sum() if target == "last" else sum((r[:, t] * hs[t]).sum() for t in range(T))
    E.backward()
    want_h = np.stack([h.grad.numpy() for h in hs], axis=1)  # (B, T, H)
    assert np.abs(g["h"] - want_h).max() < 1e-10
    if kind == "lstm":
        # boucle's ∂E/∂c_t holds h_t fixed (the state is the pair): remove the path c_t → h_t
        want_c = np.stack([c.grad.numpy() for c in cs], axis=1)
        o_tanh = np.stack(
            [(h.grad * (1 - torch.tanh(c) ** 2) * (h / torch.tanh(c))).detach().numpy() for h, c in zip(hs, cs)], axis=1
        )
        assert np.abs(g["c"] - (want_c - o_tanh)).max() < 1e-10
    else:
        assert "c" not in g


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_input_influence_matches_torch_jacobians(kind):
    layer = _layer(kind, seed=2)
    x = np.random.default_rng(4).standard_normal((B, T, D))
    got = input_influence(layer, x, source=1)
    want = np.zeros((B, T))
    xs, hs, _ = _torch_states(kind, layer, x)
    for t in range(T):
        for b in range(B):
            J = torch.stack([torch.autograd.grad(hs[t][b, k], xs, retain_graph=True)[0][b, 1] for k in range(H)])
            want[b, t] = float(torch.linalg.norm(J))  # ‖∂h_t/∂x_1‖_F of sequence b
    assert np.abs(got - want).max() < 1e-10
    assert (got[:, 0] == 0).all()  # h_0 does not see x_1


def test_linear_rnn_closed_form_and_vanishing():
    """h_t = h_{t-1} W + x_t U: ∂E/∂h_t = r (W^T)^(T-1-t), ∂h_t/∂x_0 = U W^t."""
    layer = SimpleRNN(H, activation="linear", use_bias=False, dtype="float64")
    layer.build((T, D), 0)
    layer.params["W"][...] = 0.5 * np.linalg.qr(np.random.default_rng(0).standard_normal((H, H)))[0]  # ‖W‖ = 0.5
    x = np.random.default_rng(1).standard_normal((B, T, D))
    g = state_gradients(layer, x, seed=0)
    norms = np.linalg.norm(g["h"], axis=-1)
    np.testing.assert_allclose(norms[:, :-1] / norms[:, 1:], 0.5, rtol=1e-12)  # halves at every step back
    infl = input_influence(layer, x)
    np.testing.assert_allclose(
        infl[0],
        [np.linalg.norm(layer.params["U"] @ np.linalg.matrix_power(layer.params["W"], t)) for t in range(T)],
        rtol=1e-12,
    )


def test_masked_steps_pass_gradients_through():
    layer = _layer("gru")
    x = np.random.default_rng(0).standard_normal((1, T, D))
    mask = np.ones((1, T), bool)
    mask[0, 3] = False  # an interior padded step
    g = state_gradients(layer, x, mask=mask, seed=1)["h"]
    np.testing.assert_allclose(g[0, 2], g[0, 3], rtol=1e-12)  # the padded step carries h_2 unchanged
    assert np.all(input_influence(layer, x, mask=mask)[0, 1:] > 0)


def test_gradient_flow_shows_decay_and_plots(tmp_path):
    res = gradient_flow(T=30, units=8, batch=2, seed=0)
    assert set(res) == {"SimpleRNN", "LSTM", "GRU"}
    for r in res.values():
        assert r["dE_dh"].shape == (30,) and r["influence"].shape == (30,)
        assert r["dE_dh"][0] < 1e-2 * r["dE_dh"][-1]  # the signal fades going back in time
        assert r["influence"][-1] < 1e-2 * r["influence"][0]
    assert "dE_dc" in res["LSTM"]
    for path in (plot_gradient_flow(res, tmp_path / "flow.png"), plot_influence(res, tmp_path / "shade" / "i.png")):
        data = Path(path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_bad_inputs():
    layer = _layer("rnn")
    with pytest.raises(BoucleError, match=r"x: expected shape \(B, T >= 1, 3\)"):
        state_gradients(layer, np.zeros((2, 5, 4)))
    with pytest.raises(BoucleError, match="target"):
        state_gradients(layer, np.zeros((2, 5, 3)), target="first")
    with pytest.raises(BoucleError, match="projection"):
        state_gradients(layer, np.zeros((2, 5, 3)), projection=np.zeros((3, 4)))
    with pytest.raises(BoucleError, match="source"):
        input_influence(layer, np.zeros((2, 5, 3)), source=5)
    with pytest.raises(BoucleError, match="not built"):
        state_gradients(LSTM(3), np.zeros((1, 2, 3)))
    with pytest.raises(BoucleError, match="SimpleRNN, LSTM or GRU"):
        state_gradients(Bidirectional(GRU(2)), np.zeros((1, 2, 3)))
    with pytest.raises(BoucleError, match="cells"):
        gradient_flow(cells=["Transformer"], T=3)
