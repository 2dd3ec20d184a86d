"""boucle.ops.attention: gradients by finite differences, masking by value, parity with torch autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from boucle.diagnostics.gradcheck import numerical_gradient, relative_error
from boucle.errors import BoucleError
from boucle.ops import attention as A

B, TY, TX, HQ, HE, AU = 3, 4, 5, 6, 6, 7
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1]], dtype=bool)


def _setup(score, rng, hq=HQ, he=HE):
    q = rng.standard_normal((B, TY, hq))
    e = rng.standard_normal((B, TX, he))
    p = {k: rng.standard_normal(s) * 0.7 for k, s in A.param_shapes(score, hq, he, AU).items()}
    return q, e, p


@pytest.mark.parametrize("score", A.SCORES)
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_finite_differences(score, masked, rng):
    he = HE if score == "dot" else HE + 2
    q, e, p = _setup(score, rng, he=he)
    mask = MASK if masked else None
    R = rng.standard_normal((B, TY, he))  # dL/dcontext
    S = rng.standard_normal((B, TY, TX))  # dL/dalpha (the plotted weights are differentiable too)

    def loss():
        c, a, _ = A.attention_forward(score, p, q, e, mask)
        return float(np.sum(R * c) + np.sum(S * a))

    _, _, cache = A.attention_forward(score, p, q, e, mask)
    dq, de, grads = A.attention_backward(p, R, cache, d_alpha=S)
    assert relative_error(dq, numerical_gradient(loss, q)) < 1e-6
    assert relative_error(de, numerical_gradient(loss, e)) < 1e-6
    assert set(grads) == set(p)
    for k in p:
        assert relative_error(grads[k], numerical_gradient(loss, p[k])) < 1e-6, k


@pytest.mark.parametrize("score", A.SCORES)
def test_padding_changes_nothing(score, rng):
    q, e, p = _setup(score, rng)
    c, a, cache = A.attention_forward(score, p, q, e, MASK)
    assert np.all(a[~np.broadcast_to(MASK[:, None, :], a.shape)] == 0.0)  # exactly zero weight on padding
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-12)
    e2 = e.copy()
    e2[~MASK] = rng.standard_normal(e2[~MASK].shape) * 100  # garbage at padded steps
    c2, a2, cache2 = A.attention_forward(score, p, q, e2, MASK)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_allclose(c, c2, atol=1e-12)
    # each sequence alone (its valid steps only) gives the same context
    for b in range(B):
        keep = MASK[b]
        cb, ab, _ = A.attention_forward(score, p, q[b : b + 1], e[b : b + 1, keep], None)
        np.testing.assert_allclose(cb[0], c[b], atol=1e-12)
        np.testing.assert_allclose(ab[0], a[b][:, keep], atol=1e-12)
    # and no gradient reaches the padded encoder steps
    _, de, _ = A.attention_backward(p, rng.standard_normal(c.shape), cache)
    assert np.all(de[~MASK] == 0.0)


def test_all_padding_row_gives_zero_context_not_nan(rng):
    q, e, p = _setup("general", rng)
    mask = MASK.copy()
    mask[1] = False
    c, a, cache = A.attention_forward("general", p, q, e, mask)
    assert np.isfinite(c).all() and np.isfinite(a).all()
    assert np.all(a[1] == 0) and np.all(c[1] == 0)
    dq, de, g = A.attention_backward(p, np.ones_like(c), cache)
    assert np.isfinite(dq).all() and np.all(dq[1] == 0) and np.all(de[1] == 0)


def _torch_attention(score, p, q, e, mask):
    qt, et = torch.tensor(q, requires_grad=True), torch.tensor(e, requires_grad=True)
    pt = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    if score == "dot":
        s = qt @ et.transpose(1, 2)
    elif score == "general":
        s = (qt @ pt["W_a"]) @ et.transpose(1, 2)
    else:
        s = torch.tanh((qt @ pt["W_q"])[:, :, None, :] + (et @ pt["W_k"])[:, None, :, :]) @ pt["v"]
    s = s.masked_fill(~torch.tensor(mask)[:, None, :], float("-inf"))
    a = torch.softmax(s, dim=-1)
    return qt, et, pt, a, a @ et


@pytest.mark.parametrize("score", A.SCORES)
def test_parity_with_torch_autograd(score, rng):
    q, e, p = _setup(score, rng)
    mask = MASK.copy()
    mask[2, 0] = True  # torch's softmax needs a valid step per row
    c, a, cache = A.attention_forward(score, p, q, e, mask)
    R = rng.standard_normal(c.shape)
    dq, de, grads = A.attention_backward(p, R, cache)
    qt, et, pt, at, ct = _torch_attention(score, p, q, e, mask)
    (ct * torch.tensor(R)).sum().backward()
    assert np.abs(a - at.detach().numpy()).max() < 1e-12
    assert np.abs(c - ct.detach().numpy()).max() < 1e-12
    assert np.abs(dq - qt.grad.numpy()).max() < 1e-12
    assert np.abs(de - et.grad.numpy()).max() < 1e-12
    for k in p:
        assert np.abs(grads[k] - pt[k].grad.numpy()).max() < 1e-12, k


def test_dot_equals_torch_scaled_dot_product_attention_with_scale_one(rng):
    q, e, p = _setup("dot", rng)
    mask = MASK.copy()
    mask[2, 0] = True
    c, _, _ = A.attention_forward("dot", p, q, e, mask)
    ref = F.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(e), torch.tensor(e), attn_mask=torch.tensor(mask)[:, None, :], scale=1.0
    )
    assert np.abs(c - ref.numpy()).max() < 1e-12


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(BoucleError, match="dot") as err:
        A.param_shapes("dot", 4, 8)
    assert "\n" not in str(err.value)
    with pytest.raises(BoucleError, match="score must be one of"):
        A.param_shapes("cosine", 4, 4)
    with pytest.raises(BoucleError, match="score must be one of"):
        A.attention_forward("cosine", {}, np.zeros((1, 1, 2)), np.zeros((1, 1, 2)))
    assert A.param_shapes("additive", 4, 6) == {"W_q": (4, 4), "W_k": (6, 4), "v": (4,)}
