"""Metrics: values on hand-made cases, exact aggregation over batches, masks, lookup, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from boucle import losses, metrics
from boucle.errors import BoucleError

MASK_BT = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])


def _run(metric: metrics.Metric, batches) -> float:
    metric.reset()
    for batch in batches:
        metric.update(*batch)
    return metric.result()


# -- hand-made values --------------------------------------------------------------------
def test_binary_accuracy_by_hand():
    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.9], [0.2], [0.4], [0.6]])
    assert _run(metrics.BinaryAccuracy(), [(y, p)]) == 0.5
    assert _run(metrics.BinaryAccuracy(threshold=0.3), [(y, p)]) == 0.75
    # two outputs per sample: mean over the last axis, then over samples
    y2 = np.array([[1, 0], [1, 1]])
    p2 = np.array([[0.7, 0.1], [0.2, 0.8]])
    assert _run(metrics.BinaryAccuracy(), [(y2, p2)]) == 0.75
    # (B,) labels against a (B, 1) output, and a 1-D output
    assert _run(metrics.BinaryAccuracy(), [(y[:, 0], p)]) == 0.5
    assert _run(metrics.BinaryAccuracy(), [(y[:, 0], p[:, 0])]) == 0.5


def test_binary_accuracy_from_logits_uses_threshold_zero():
    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    logits = np.array([[0.3], [-0.1], [-2.0], [0.2]])
    for name in ("accuracy", "binary_accuracy"):
        m = metrics.get(name, losses.BinaryCrossentropy(from_logits=True))
        assert isinstance(m, metrics.BinaryAccuracy) and m.threshold == 0.0 and m.name == name
        assert _run(m, [(y, logits)]) == 0.5
    assert metrics.get("accuracy", "binary_crossentropy").threshold == 0.5


def test_categorical_and_sparse_accuracy_by_hand():
    p = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    labels = np.array([1, 1, 2, 0])
    assert _run(metrics.CategoricalAccuracy(), [(np.eye(3)[labels], p)]) == 0.5
    assert _run(metrics.SparseCategoricalAccuracy(), [(labels, p)]) == 0.5
    assert _run(metrics.SparseCategoricalAccuracy(), [(labels[:, None], p)]) == 0.5
    assert _run(metrics.SparseCategoricalAccuracy(), [(labels.astype(np.float32), p)]) == 0.5
    # sequences with a step mask: only valid steps count
    p_seq = np.stack([p, p[::-1]], axis=0)  # (2, 4, 3)
    lab_seq = np.stack([labels, labels], axis=0)  # (2, 4)
    mask = np.array([[1, 1, 0, 0], [0, 0, 1, 1]])  # hits: 1, 0 | 0, 0
    assert _run(metrics.SparseCategoricalAccuracy(), [(lab_seq, p_seq, mask)]) == 0.25


def test_accuracy_chosen_from_the_loss_or_the_shapes():
    assert type(metrics.get("accuracy", losses.get("categorical_crossentropy"))) is metrics.CategoricalAccuracy
    assert type(metrics.get("acc", losses.get("sparse_categorical_crossentropy"))) is metrics.SparseCategoricalAccuracy
    assert type(metrics.get("acc", "bce")) is metrics.BinaryAccuracy
    auto = metrics.get("accuracy")
    assert type(auto) is metrics.Accuracy and auto.name == "accuracy"
    assert metrics.get("acc").name == "acc"
    p = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert _run(auto, [(np.array([1, 2]), p)]) == 0.5  # sparse labels
    assert _run(auto, [(np.eye(3)[[1, 0]], p)]) == 1.0  # one-hot
    assert _run(auto, [(np.array([[1.0], [1.0]]), np.array([[0.8], [0.3]]))]) == 0.5  # binary


def test_regression_metrics_by_hand():
    y = np.array([[1.0, 2.0], [0.0, 0.0]])
    p = np.array([[1.5, 2.0], [-1.0, 2.0]])
    assert _run(metrics.get("mse"), [(y, p)]) == pytest.approx((0.25 + 0 + 1 + 4) / 4, abs=1e-15)
    assert _run(metrics.get("mae"), [(y, p)]) == pytest.approx((0.5 + 0 + 1 + 2) / 4, abs=1e-15)
    assert metrics.get("mse").name == "mse" and metrics.get("mean_absolute_error").name == "mean_absolute_error"


# -- exact aggregation ---------------------------------------------------------------------
def _seq_data(seed: int = 0, B: int = 7, T: int = 5, C: int = 4):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, T, C)) * 2
    labels = rng.integers(0, C, (B, T))
    mask = (np.arange(T)[None, :] < rng.integers(0, T + 1, B)[:, None]).astype(np.float64)
    return labels, logits, mask


@pytest.mark.parametrize("name", ["accuracy", "perplexity", "bpc", "mse", "mae"])
def test_unequal_batches_aggregate_to_the_whole_set(name):
    labels, logits, mask = _seq_data()
    C = logits.shape[-1]
    if name in ("mse", "mae"):
        y_true, loss = np.eye(C)[labels], None
    else:
        y_true, loss = labels, losses.SparseCategoricalCrossentropy(from_logits=True)
    metric = metrics.get(name, loss)
    whole = _run(metric, [(y_true, logits, mask)])
    splits = [0, 1, 4, 7]  # batches of 1, 3, 3
    parts = [(y_true[a:b], logits[a:b], mask[a:b]) for a, b in zip(splits, splits[1:])]
    assert abs(_run(metric, parts) - whole) < 1e-12
    # and masked steps are ignored: same as the valid steps alone
    valid = mask.astype(bool)
    assert abs(_run(metric, [(y_true[valid], logits[valid])]) - whole) < 1e-12


def test_perplexity_and_bpc_are_exp_and_bits_of_the_cross_entropy():
    labels, logits, mask = _seq_data(1)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    ce = loss(labels, logits, mask)  # mean nats per valid step
    valid = mask.astype(bool)
    ce_torch = F.cross_entropy(torch.tensor(logits[valid]), torch.tensor(labels[valid])).item()
    assert abs(ce - ce_torch) < 1e-12
    assert abs(_run(metrics.get("perplexity", loss), [(labels, logits, mask)]) - math.exp(ce)) < 1e-12
    assert abs(_run(metrics.get("bpc", loss), [(labels, logits, mask)]) - ce / math.log(2)) < 1e-12
    bits = metrics.get("bits_per_character", loss)
    assert bits.name == "bits_per_character" and isinstance(bits, metrics.BitsPerCharacter)
    # from probabilities, one-hot targets (categorical loss)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    onehot = np.eye(logits.shape[-1])[labels]
    cce = losses.CategoricalCrossentropy()
    assert abs(_run(metrics.get("perplexity", cce), [(onehot, probs, mask)]) - math.exp(ce)) < 1e-12
    # without a loss: sparse vs one-hot read from the shapes, probabilities assumed
    assert abs(_run(metrics.Perplexity(), [(labels, probs, mask)]) - math.exp(ce)) < 1e-12
    assert abs(_run(metrics.BitsPerCharacter(), [(onehot, probs, mask)]) - ce / math.log(2)) < 1e-12
    # a uniform model over C classes has perplexity C and log2(C) bits
    uniform = np.zeros_like(logits)
    assert _run(metrics.Perplexity(from_logits=True), [(labels, uniform)]) == pytest.approx(4.0, rel=1e-14)
    assert _run(metrics.BitsPerCharacter(from_logits=True), [(labels, uniform)]) == pytest.approx(2.0, rel=1e-14)


def test_perplexity_with_binary_cross_entropy():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (6, 1)).astype(float)
    a = rng.standard_normal((6, 1))
    loss = losses.BinaryCrossentropy(from_logits=True)
    assert abs(_run(metrics.get("perplexity", loss), [(y, a)]) - math.exp(loss(y, a))) < 1e-12


def test_masked_steps_do_not_change_the_result():
    labels, logits, mask = _seq_data(3)
    garbage = logits.copy()
    garbage[mask == 0] = 1e3
    for name in ("accuracy", "perplexity", "bpc"):
        m = metrics.get(name, losses.SparseCategoricalCrossentropy(from_logits=True))
        assert _run(m, [(labels, logits, mask)]) == _run(m, [(labels, garbage, mask.astype(bool))])
    # a sample mask (B,) drops whole sequences
    keep = np.array([1, 0, 1, 1, 0, 1, 1])
    m = metrics.get("acc", "sparse_categorical_crossentropy")
    assert _run(m, [(labels, logits, keep)]) == _run(m, [(labels[keep == 1], logits[keep == 1])])


def test_reset_and_empty_results():
    m = metrics.SparseCategoricalAccuracy()
    assert m.result() == 0.0
    m.update(np.array([0]), np.array([[1.0, 0.0]]))
    assert m.result() == 1.0
    m.reset()
    assert m.result() == 0.0
    m.update(np.array([0, 1]), np.array([[1.0, 0.0], [1.0, 0.0]]), mask=np.zeros(2))
    assert m.result() == 0.0
    assert metrics.Perplexity().result() == 0.0


# -- custom callables ------------------------------------------------------------------------
def test_custom_callable_weighted_by_batch_size():
    def mean_pred(y_true, y_pred):  # seed 003's example
        return np.mean(y_pred)

    m = metrics.get(mean_pred)
    assert isinstance(m, metrics.MeanFunction) and m.name == "mean_pred"
    y_pred = np.arange(8.0).reshape(4, 2)
    assert _run(m, [(None, y_pred[:1]), (None, y_pred[1:])]) == pytest.approx(np.mean(y_pred), abs=1e-15)

    def valid_steps(y_true, y_pred, mask=None):
        return 0.0 if mask is None else float(np.sum(mask)) / len(mask)

    m = metrics.get(valid_steps)
    assert _run(m, [(None, np.zeros((2, 3, 1)), MASK_BT[:2]), (None, np.zeros((1, 3, 1)), MASK_BT[2:])]) == 3.0
    # a Loss is a callable too: it becomes a metric named after the loss
    m = metrics.get(losses.get("mse"))
    assert m.name == "mean_squared_error"
    assert _run(m, [(np.zeros((2, 1)), np.ones((2, 1)))]) == 1.0


def test_metric_instances_and_classes_pass_through():
    inst = metrics.Perplexity(from_logits=True, name="ppl")
    assert metrics.get(inst) is inst and inst.name == "ppl"
    assert type(metrics.get(metrics.MeanAbsoluteError)) is metrics.MeanAbsoluteError


# -- errors -------------------------------------------------------------------------------
def _raises(match: str, fn, *args, **kwargs) -> None:
    with pytest.raises(BoucleError, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_identifiers_and_inputs_name_the_argument():
    _raises(r"^metric: expected one of \[.*'accuracy'.*'bpc'.*'perplexity'.*got 'f1'", metrics.get, "f1")
    _raises(r"^metric:", metrics.get, 3)
    _raises(
        r"^metric: 'perplexity' needs a cross-entropy loss, got loss 'mean_squared_error'",
        metrics.get,
        "perplexity",
        "mse",
    )
    _raises(r"^loss:", metrics.get, "accuracy", "hinge")
    _raises(r"^threshold:", metrics.BinaryAccuracy, threshold=float("nan"))
    _raises(r"^kind:", metrics.Perplexity, kind="dense")
    _raises(r"^from_logits:", metrics.Perplexity, from_logits=1)
    _raises(r"^fn:", metrics.MeanFunction, 3)
    _raises(r"^name:", metrics.BinaryAccuracy, name="")
    p = np.array([[0.1, 0.9], [0.6, 0.4]])
    _raises(r"^y_true: expected shape \(2, 2\)", metrics.CategoricalAccuracy().update, np.ones((2, 3)), p)
    _raises(
        r"^y_true: expected class labels in \[0, 2\)", metrics.SparseCategoricalAccuracy().update, np.array([0, 2]), p
    )
    _raises(r"^mask: expected shape \(2,\)", metrics.BinaryAccuracy().update, np.ones((2, 2)), p, np.ones(3))
    _raises(r"^y_pred: expected finite values", metrics.get("mae").update, np.ones((2, 2)), p * np.nan)
