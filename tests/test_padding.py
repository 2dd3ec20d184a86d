"""pad_sequences, bucket_batches, and the Masking / RepeatVector layers."""

import numpy as np
import pytest

from boucle.data.padding import bucket_batches, pad_sequences
from boucle.diagnostics import check_gradients
from boucle.errors import BoucleError
from boucle.layers.recurrent import LSTM
from boucle.layers.sequence import Masking, RepeatVector


# ------------------------------------------------------------------ pad_sequences
def test_pad_token_ids_post_and_pre():
    seqs = [[1, 2, 3], [4], [], [5, 6]]
    x, m = pad_sequences(seqs)
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, 0, 0], [0, 0, 0], [5, 6, 0]])
    np.testing.assert_array_equal(m, x != 0)
    assert x.dtype == np.int64 and m.dtype == bool
    x, m = pad_sequences(seqs, padding="pre", value=-1)
    np.testing.assert_array_equal(x, [[1, 2, 3], [-1, -1, 4], [-1, -1, -1], [-1, 5, 6]])
    np.testing.assert_array_equal(m, x != -1)


def test_truncating_and_maxlen():
    seqs = [np.arange(1, 6), np.array([7, 8])]
    x, m = pad_sequences(seqs, maxlen=3)
    np.testing.assert_array_equal(x, [[1, 2, 3], [7, 8, 0]])
    x, _ = pad_sequences(seqs, maxlen=3, truncating="pre")
    np.testing.assert_array_equal(x, [[3, 4, 5], [7, 8, 0]])
    x, m = pad_sequences(seqs, maxlen=4, truncating="pre", padding="pre")
    np.testing.assert_array_equal(x, [[2, 3, 4, 5], [0, 0, 7, 8]])
    np.testing.assert_array_equal(m.sum(1), [4, 2])


def test_pad_feature_sequences(rng):
    seqs = [rng.standard_normal((n, 3)) for n in (4, 1, 0, 2)]
    x, m = pad_sequences(seqs, dtype="float64")
    assert x.shape == (4, 4, 3) and x.dtype == np.float64
    np.testing.assert_array_equal(m.sum(1), [4, 1, 0, 2])
    for s, row, mr in zip(seqs, x, m):
        np.testing.assert_array_equal(row[mr], s)
        assert np.all(row[~mr] == 0)
    assert pad_sequences(seqs)[0].dtype == np.float32  # the float default
    x, m = pad_sequences([rng.standard_normal((2, 3)), []])  # [] = an empty sequence
    assert x.shape == (2, 2, 3) and not m[1].any()


def test_pad_then_lstm_ignores_padding(rng):
    seqs = [rng.standard_normal((n, 2)) for n in (5, 2, 3)]
    x, m = pad_sequences(seqs, padding="pre", dtype="float64")
    layer = LSTM(3, dtype="float64")
    layer.build((None, 2), 0)
    y = layer(x, mask=m)
    for s, yb in zip(seqs, y):
        np.testing.assert_allclose(yb, layer(s[None])[0], rtol=1e-12)


def test_pad_errors():
    for kwargs, pattern in [
        (dict(seqs=[]), r"seqs: expected a non-empty list"),
        (dict(seqs=[np.zeros((2, 3)), np.zeros((2, 4))]), r"seqs\[1\]: expected feature size 3"),
        (dict(seqs=[np.zeros((2, 3)), np.zeros(2)]), r"seqs\[1\]: expected a 2-D sequence"),
        (dict(seqs=[np.zeros((2, 3, 1))]), r"1-D or 2-D"),
        (dict(seqs=[[1, 2]], maxlen=0), r"maxlen: expected a positive int or None, got 0"),
        (dict(seqs=[[1, 2]], padding="end"), r"padding: expected one of \['post', 'pre'\], got 'end'"),
        (dict(seqs=[[1, 2]], truncating="middle"), r"truncating: expected one of"),
    ]:
        with pytest.raises(BoucleError, match=pattern):
            pad_sequences(**kwargs)


# ------------------------------------------------------------------ bucket_batches
def test_buckets_cover_every_index_once_with_similar_lengths(rng):
    lengths = rng.integers(1, 200, size=103)
    batches = list(bucket_batches(lengths, 10, rng=0))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(103))
    assert [len(b) for b in batches].count(10) == 10
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[b]) for b in np.array_split(rng.permutation(103), 11)])
    assert spread < random_spread / 4  # sorted batches hold similar lengths


def test_buckets_are_deterministic_from_the_rng():
    lengths = np.repeat([3, 5, 9], 8)
    a = [b.tolist() for b in bucket_batches(lengths, 4, rng=np.random.default_rng(1))]
    b = [b.tolist() for b in bucket_batches(lengths, 4, rng=1)]
    c = [b.tolist() for b in bucket_batches(lengths, 4, rng=2)]
    assert a == b and a != c
    ordered = list(bucket_batches(lengths, 4, shuffle=False))
    assert [lengths[b].max() for b in ordered] == sorted(lengths[b].max() for b in ordered)
    np.testing.assert_array_equal(np.concatenate(ordered), np.argsort(lengths, kind="stable"))


def test_bucket_width_groups_lengths():
    lengths = np.array([1, 2, 3, 4, 11, 12, 13, 14])
    for batch in bucket_batches(lengths, 4, rng=0, bucket_width=10):
        assert len(set(lengths[batch] // 10)) == 1


def test_bucket_errors():
    for args, kwargs, pattern in [
        (([], 2), {}, r"lengths: expected a non-empty"),
        (([1, -1], 2), {}, r"lengths"),
        (([1.5, 2], 2), {}, r"lengths"),
        (([1, 2], 0), {}, r"batch_size: expected a positive int, got 0"),
        (([1, 2], 2), {"bucket_width": 0}, r"bucket_width: expected a positive int or None"),
    ]:
        with pytest.raises(BoucleError, match=pattern):
            bucket_batches(*args, **kwargs)


# ------------------------------------------------------------------ Masking, RepeatVector
def test_masking_layer_mask_values_and_gradient(rng):
    x = rng.standard_normal((3, 4, 2))
    x[0, 2:] = 0.0
    x[2, 0] = 0.0
    x[1, 1, 0] = 0.0  # one zero feature: still valid
    layer = Masking(0.0, dtype="float64")
    layer.build((4, 2), 0)
    m = layer.compute_mask(x, None)
    np.testing.assert_array_equal(m, [[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1]])
    y = layer(x)
    np.testing.assert_array_equal(y[~m], 0)
    np.testing.assert_array_equal(y[m], x[m])
    x[0, 2:] = -1.0  # any mask_value
    assert not Masking(-1.0).compute_mask(x, None)[0, 2:].any()
    assert check_gradients(layer, rng.standard_normal((3, 4, 2)))["input"] < 1e-6
    with pytest.raises(BoucleError, match="x must be 3-D"):
        layer.forward(np.zeros((3, 4)))
    with pytest.raises(BoucleError, match="Masking: mask_value: expected a number"):
        Masking("pad")


def test_masking_feeds_a_recurrent_layer(rng):
    x = rng.standard_normal((2, 5, 3))
    x[1, 3:] = 0.0
    masking, lstm = Masking(), LSTM(4, dtype="float64")
    masking.build((5, 3), 0)
    lstm.build((5, 3), 0)
    y = lstm(masking(x), mask=masking.compute_mask(x, None))
    np.testing.assert_allclose(y[1], lstm(x[1:, :3])[0], rtol=1e-6)


def test_repeat_vector(rng):
    layer = RepeatVector(3, dtype="float64")
    layer.build((2,), 0)
    x = rng.standard_normal((4, 2))
    y = layer(x)
    assert y.shape == (4, 3, 2) and layer.compute_output_shape((2,)) == (3, 2)
    np.testing.assert_array_equal(y[:, 2], x)
    assert layer.compute_mask(x, np.ones((4, 3), bool)) is None
    assert check_gradients(layer, x)["input"] < 1e-6
    np.testing.assert_array_equal(layer.backward(np.ones((4, 3, 2)), None), np.full((4, 2), 3.0))
    assert RepeatVector.from_config(layer.get_config()).n == 3
    with pytest.raises(BoucleError, match="RepeatVector: n: expected a positive int, got 0"):
        RepeatVector(0)
    with pytest.raises(BoucleError, match="x must be 2-D"):
        layer.forward(np.zeros((4, 3, 2)))
