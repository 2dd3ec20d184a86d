"""Losses: gradients by finite differences, values against PyTorch, masking, stability, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from boucle import losses
from boucle.diagnostics import check_loss_gradients
from boucle.errors import BoucleError

B, T, C = 3, 5, 4
MASK_BT = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=np.float64)
MASK_B = np.array([True, False, True])


def _data(kind: str, from_logits: bool, shape: tuple, seed: int = 0):
    """(y_true, y_pred) in float64 for a loss kind; probabilities stay away from the clip."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape) * 2.0
    if kind == "mse":
        return rng.standard_normal(shape), a
    if kind == "bce":
        y = rng.uniform(0.0, 1.0, shape)  # soft labels exercise both terms
        return y, (a if from_logits else rng.uniform(0.05, 0.95, shape))
    p = np.exp(a) / np.exp(a).sum(-1, keepdims=True)
    labels = rng.integers(0, shape[-1], shape[:-1])
    y_true = labels if kind == "scce" else np.eye(shape[-1])[labels]
    return y_true, (a if from_logits else p)


CLASSES = {
    "mse": losses.MeanSquaredError,
    "bce": losses.BinaryCrossentropy,
    "cce": losses.CategoricalCrossentropy,
    "scce": losses.SparseCategoricalCrossentropy,
}
CASES = [("mse", False), ("bce", False), ("bce", True), ("cce", False), ("cce", True), ("scce", False), ("scce", True)]


def _make(kind: str, from_logits: bool, time_reduction: str = "mean") -> losses.Loss:
    if kind == "mse":
        return losses.MeanSquaredError(time_reduction=time_reduction)
    return CLASSES[kind](from_logits=from_logits, time_reduction=time_reduction)


# -- gradients --------------------------------------------------------------------------
@pytest.mark.parametrize("kind,from_logits", CASES)
@pytest.mark.parametrize("time_reduction", ["mean", "sum"])
@pytest.mark.parametrize("mask", [None, "samples", "steps"])
def test_gradient_sequences(kind, from_logits, time_reduction, mask):
    y_true, y_pred = _data(kind, from_logits, (B, T, C))
    m = {None: None, "samples": MASK_B, "steps": MASK_BT}[mask]
    err = check_loss_gradients(_make(kind, from_logits, time_reduction), y_true, y_pred, m)
    assert err < 1e-6


@pytest.mark.parametrize("kind,from_logits", CASES)
@pytest.mark.parametrize("mask", [None, "samples"])
def test_gradient_per_sample_outputs(kind, from_logits, mask):
    y_true, y_pred = _data(kind, from_logits, (6, C), seed=1)
    m = None if mask is None else np.array([1, 0, 1, 1, 0, 1])
    for tr in ("mean", "sum"):
        assert check_loss_gradients(_make(kind, from_logits, tr), y_true, y_pred, m) < 1e-6


@pytest.mark.parametrize("kind,from_logits", [("mse", False), ("bce", False), ("bce", True)])
def test_gradient_one_dimensional_outputs(kind, from_logits):
    y_true, y_pred = _data(kind, from_logits, (7,), seed=2)
    loss = _make(kind, from_logits)
    assert check_loss_gradients(loss, y_true, y_pred, np.array([1, 1, 0, 1, 0, 1, 1])) < 1e-6
    # (B,) targets against a (B, 1) output: the same loss, as Keras
    v1, g1 = loss.forward_backward(y_true, y_pred[:, None])
    v2, g2 = loss.forward_backward(y_true[:, None], y_pred[:, None])
    assert v1 == v2 and np.array_equal(g1, g2)


def test_gradient_dtype_and_shape_follow_y_pred():
    y_true, y_pred = _data("cce", True, (B, T, C))
    for dtype in (np.float32, np.float64):
        v, g = losses.CategoricalCrossentropy(from_logits=True).forward_backward(y_true, y_pred.astype(dtype), MASK_BT)
        assert isinstance(v, float) and g.shape == y_pred.shape and g.dtype == dtype
    _, g = losses.MeanSquaredError().forward_backward(y_true, y_pred.astype(np.float32))
    assert g.dtype == np.float32


def test_clipped_probabilities_have_zero_gradient():
    y_true = np.array([[1.0, 0.0]])
    _, g = losses.BinaryCrossentropy().forward_backward(y_true, np.array([[0.0, 1.0]]))
    assert np.array_equal(g, np.zeros((1, 2)))
    _, g = losses.CategoricalCrossentropy().forward_backward(y_true, np.array([[0.0, 1.0]]))
    assert np.array_equal(g, np.zeros((1, 2)))
    v = losses.BinaryCrossentropy()(y_true, np.array([[0.0, 1.0]]))
    assert v == pytest.approx(-math.log(1e-7), rel=1e-6)  # clip at eps = 1e-7


# -- values against PyTorch (float64) ----------------------------------------------------
def _t(a):
    return torch.tensor(np.asarray(a))


def _torch_value_and_grad(fn, y_pred):
    x = _t(y_pred).requires_grad_(True)
    out = fn(x)
    out.backward()
    return out.item(), x.grad.numpy()


@pytest.mark.parametrize("shape", [(6, C), (B, T, C)])
def test_values_and_gradients_match_torch(shape):
    cases = []
    y, a = _data("mse", False, shape)
    cases.append((losses.MeanSquaredError(), y, a, lambda x, y=y: F.mse_loss(x, _t(y))))
    y, p = _data("bce", False, shape)
    cases.append((losses.BinaryCrossentropy(), y, p, lambda x, y=y: F.binary_cross_entropy(x, _t(y))))
    y, a = _data("bce", True, shape)
    cases.append(
        (losses.BinaryCrossentropy(from_logits=True), y, a, lambda x, y=y: F.binary_cross_entropy_with_logits(x, _t(y)))
    )

    def cl(x):  # torch wants the class axis second
        return x if x.ndim == 2 else x.permute(0, 2, 1)

    rng = np.random.default_rng(3)
    soft = rng.dirichlet(np.ones(C), size=shape[:-1])  # probabilities as targets
    _, a = _data("cce", True, shape)
    cases.append(
        (losses.CategoricalCrossentropy(from_logits=True), soft, a, lambda x: F.cross_entropy(cl(x), cl(_t(soft))))
    )
    y, p = _data("cce", False, shape)
    # on the simplex cross_entropy(log p, y) is the same value; its gradient differs off the
    # simplex (log_softmax renormalises p), so the gradient reference is nll_loss(log p)
    assert abs(losses.CategoricalCrossentropy()(y, p) - F.cross_entropy(cl(torch.log(_t(p))), cl(_t(y))).item()) < 1e-12
    k_true = _t(y.argmax(-1))
    cases.append((losses.CategoricalCrossentropy(), y, p, lambda x: F.nll_loss(cl(torch.log(x)), k_true)))
    labels, a = _data("scce", True, shape)
    cases.append(
        (
            losses.SparseCategoricalCrossentropy(from_logits=True),
            labels,
            a,
            lambda x: F.cross_entropy(cl(x), _t(labels)),
        )
    )
    cases.append(
        (
            losses.SparseCategoricalCrossentropy(),
            labels,
            np.exp(a) / np.exp(a).sum(-1, keepdims=True),
            lambda x: F.nll_loss(cl(torch.log(x)), _t(labels)),
        )
    )
    for loss, y_true, y_pred, fn in cases:
        v, g = loss.forward_backward(y_true, y_pred)
        tv, tg = _torch_value_and_grad(fn, y_pred)
        assert abs(v - tv) < 1e-12, loss
        assert np.abs(g - tg).max() < 1e-12, loss
        assert loss(y_true, y_pred) == v


def test_time_sum_matches_torch_sum_over_batch():
    labels, a = _data("scce", True, (B, T, C))
    v, g = losses.SparseCategoricalCrossentropy(from_logits=True, time_reduction="sum").forward_backward(labels, a)
    tv, tg = _torch_value_and_grad(lambda x: F.cross_entropy(x.permute(0, 2, 1), _t(labels), reduction="sum") / B, a)
    assert abs(v - tv) < 1e-12 and np.abs(g - tg).max() < 1e-12
    mean = losses.SparseCategoricalCrossentropy(from_logits=True)(labels, a)
    assert v == pytest.approx(T * mean, rel=1e-13)


def test_seed_003_binary_cross_entropy_by_hand():
    h = np.array([[0.9], [0.2], [0.6]])
    y = np.array([[1.0], [0.0], [1.0]])
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3
    assert abs(losses.get("bce")(y, h) - expected) < 1e-15
    assert abs(losses.get("mse")(y, h) - (0.01 + 0.04 + 0.16) / 3) < 1e-15


# -- masking ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind,from_logits", CASES)
def test_masked_mean_equals_loss_on_valid_subset(kind, from_logits):
    y_true, y_pred = _data(kind, from_logits, (B, T, C), seed=4)
    valid = MASK_BT.astype(bool)
    loss = _make(kind, from_logits)
    v = loss(y_true, y_pred, MASK_BT)
    assert abs(v - loss(y_true[valid], y_pred[valid])) < 1e-12
    # sample mask
    v = loss(y_true, y_pred, MASK_B)
    assert abs(v - loss(y_true[MASK_B], y_pred[MASK_B])) < 1e-12
    # "sum": each sequence alone, summed over its valid steps, averaged over the batch
    lsum = _make(kind, from_logits, "sum")
    per_seq = [lsum(y_true[b : b + 1, :n], y_pred[b : b + 1, :n]) for b, n in enumerate(MASK_BT.sum(1).astype(int))]
    assert abs(lsum(y_true, y_pred, MASK_BT) - np.mean(per_seq)) < 1e-12


@pytest.mark.parametrize("kind,from_logits", CASES)
@pytest.mark.parametrize("time_reduction", ["mean", "sum"])
def test_masked_positions_get_exactly_zero_gradient(kind, from_logits, time_reduction):
    y_true, y_pred = _data(kind, from_logits, (B, T, C), seed=5)
    garbage = y_pred.copy()
    pad = ~MASK_BT.astype(bool)
    garbage[pad] = 0.5 if not from_logits and kind != "mse" else 123.0
    loss = _make(kind, from_logits, time_reduction)
    v0, g0 = loss.forward_backward(y_true, y_pred, MASK_BT)
    v1, g1 = loss.forward_backward(y_true, garbage, MASK_BT.astype(bool))
    assert v0 == pytest.approx(v1, abs=1e-14)
    assert np.all(g1[pad] == 0.0) and np.all(g0[pad] == 0.0)
    assert np.abs(g1[~pad]).max() > 0


@pytest.mark.parametrize("kind,from_logits", CASES)
@pytest.mark.parametrize("time_reduction", ["mean", "sum"])
def test_all_masked_gives_zero_loss_and_gradient(kind, from_logits, time_reduction):
    y_true, y_pred = _data(kind, from_logits, (B, T, C))
    loss = _make(kind, from_logits, time_reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for m in (np.zeros((B, T)), np.zeros(B, dtype=bool)):
            v, g = loss.forward_backward(y_true, y_pred, m)
            assert v == 0.0 and g.shape == y_pred.shape and not g.any()
        assert loss(y_true[:0], y_pred[:0]) == 0.0  # empty batch


# -- stability ---------------------------------------------------------------------------
def test_huge_logits_are_finite_and_exact():
    a = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    y = np.array([[0.0, 1.0], [0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, g = losses.CategoricalCrossentropy(from_logits=True).forward_backward(y, a)
        assert v == 1000.0 and np.array_equal(g, np.array([[0.5, -0.5], [0.0, 0.0]]))
        v, g = losses.SparseCategoricalCrossentropy(from_logits=True).forward_backward(np.array([1, 1]), a)
        assert v == 1000.0 and np.array_equal(g, np.array([[0.5, -0.5], [0.0, 0.0]]))
        v, g = losses.BinaryCrossentropy(from_logits=True).forward_backward(y, a)
        assert v == 500.0 and np.array_equal(g, np.array([[0.25, -0.25], [0.0, 0.0]]))
        for loss in (losses.BinaryCrossentropy(), losses.CategoricalCrossentropy()):
            v, g = loss.forward_backward(y, np.array([[1.0, 0.0], [0.0, 1.0]]))
            assert math.isfinite(v) and np.all(np.isfinite(g))
        rng = np.random.default_rng(0)
        big = rng.choice([-1000.0, 1000.0], size=(B, T, C)).astype(np.float32)
        for kind, fl in CASES:
            if fl:
                y_true, _ = _data(kind, True, (B, T, C))
                v, g = _make(kind, True).forward_backward(y_true, big, MASK_BT)
                assert math.isfinite(v) and np.all(np.isfinite(g))


# -- lookup and config ---------------------------------------------------------------------
def test_get_names_instances_and_config_round_trip():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get("bce"), losses.BinaryCrossentropy)
    assert isinstance(losses.get("binary_crossentropy"), losses.BinaryCrossentropy)
    assert isinstance(losses.get("categorical_crossentropy"), losses.CategoricalCrossentropy)
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    assert losses.get("bce").name == "binary_crossentropy"
    inst = losses.CategoricalCrossentropy(from_logits=True, time_reduction="sum")
    assert losses.get(inst) is inst
    cfg = inst.get_config()
    assert cfg == {"name": "categorical_crossentropy", "from_logits": True, "time_reduction": "sum"}
    for back in (losses.Loss.from_config(cfg), losses.CategoricalCrossentropy.from_config(cfg), losses.get(cfg)):
        assert type(back) is losses.CategoricalCrossentropy and back.get_config() == cfg
    assert losses.MeanSquaredError().get_config() == {"name": "mean_squared_error", "time_reduction": "mean"}
    assert losses.MeanSquaredError().from_logits is False
    assert losses.get(losses.BinaryCrossentropy).get_config()["from_logits"] is False


def _raises(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(BoucleError, match=match) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_bad_identifiers_and_options():
    msg = _raises(r"^loss: .*'mse'", losses.get, "cross_entropy")
    assert "sparse_categorical_crossentropy" in msg and "cross_entropy'" in msg
    _raises(r"^loss:", losses.get, 3)
    _raises(r"^time_reduction: .*'mean'.*got 'median'", losses.CategoricalCrossentropy, time_reduction="median")
    _raises(r"^from_logits:", losses.BinaryCrossentropy, from_logits="yes")
    _raises(r"^config\['name'\]", losses.Loss.from_config, {"name": "hinge"})
    _raises(r"^config\['name'\]", losses.BinaryCrossentropy.from_config, {"name": "mean_squared_error"})
    _raises(r"^config: .*unknown \['alpha'\]", losses.get, {"name": "mse", "alpha": 1})
    _raises(r"^config: .*unknown \['from_logits'\]", losses.get, {"name": "mse", "from_logits": True})


def test_bad_inputs_name_the_argument():
    y_true, y_pred = _data("cce", True, (B, T, C))
    cce = losses.CategoricalCrossentropy(from_logits=True)
    _raises(r"^y_true: expected shape \(3, 5, 4\).*got \(3, 5, 3\)", cce, y_true[..., :3], y_pred)
    _raises(r"^mask: expected shape \(3,\) or \(3, 5\).*got \(3, 4\)", cce, y_true, y_pred, np.ones((B, T - 1)))
    _raises(r"^mask: expected shape", cce, y_true, y_pred, np.ones((B, T, C)))
    _raises(r"^mask: expected values 0 .* or 1", cce, y_true, y_pred, 2 * MASK_BT)
    bad = y_pred.copy()
    bad[0, 1, 2] = np.nan
    bad[1, 1, 2] = np.inf
    _raises(r"^y_pred: expected finite values, got 2 NaN/Inf", cce, y_true, bad)
    bad_true = y_true.copy()
    bad_true[0, 0, 0] = -np.inf
    _raises(r"^y_true: expected finite values, got 1", cce, bad_true, y_pred)
    _raises(r"^y_pred: expected an array of shape \(B, C\)", cce, np.ones(3), np.ones(3))
    _raises(r"^y_pred: expected a numeric array", cce, y_true, np.full((B, C), "a"))
    _raises(r"^y_true: expected a numeric array", losses.get("mse"), np.full((B, C), "a"), np.ones((B, C)))
    _raises(r"^y_true: expected shape \(6,\)", losses.get("mse"), np.ones(5), np.ones(6))

    labels, a = _data("scce", True, (B, T, C))
    scce = losses.SparseCategoricalCrossentropy(from_logits=True)
    too_big = labels.copy()
    too_big[0, 0] = 4
    _raises(
        r"^y_true: expected class labels in \[0, 4\) \(y_pred.shape\[-1\] = 4\), got values in \[0, 4\]",
        scce,
        too_big,
        a,
    )
    _raises(r"^y_true: expected class labels in \[0, 4\).*got values in \[-1,", scce, labels - 1 - labels.min(), a)
    _raises(r"^y_true: expected integer class labels, got non-integer values \(e.g. 2.5\)", scce, labels + 0.5, a)
    _raises(r"^y_true: expected integer class labels, got dtype", scce, labels.astype(str), a)
    _raises(r"^y_true: expected integer labels of shape \(3, 5\)", scce, labels[:, :2], a)
    nan_labels = labels.astype(float)
    nan_labels[0, 0] = np.nan
    _raises(r"^y_true: expected finite values", scce, nan_labels, a)
    # labels given as integral floats or with a trailing axis of 1 are accepted
    assert scce(labels.astype(np.float32), a) == scce(labels, a) == scce(labels[..., None], a)
