"""Recurrent layers learn what a dense net cannot, on padded variable-length batches."""

import numpy as np
import pytest

import boucle
from boucle.data import pad_sequences
from boucle.layers import GRU, LSTM, Bidirectional, Dense, Flatten


def parity_data(n, rng, max_len=10):
    """Bit strings of length 1..max_len, label = parity of the number of ones.

    Padding uses the value 1 so a model that ignored the mask would count it.
    """
    seqs = [rng.integers(0, 2, rng.integers(1, max_len + 1)).astype(np.float32)[:, None] for _ in range(n)]
    x, mask = pad_sequences(seqs, maxlen=max_len, value=1.0)
    y = np.array([s.sum() % 2 for s in seqs], dtype=np.float32)[:, None]
    return x, mask, y


def _fit(model, x, y, mask=None, epochs=30):
    model.compile(optimizer=boucle.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, mask=mask, batch_size=32, epochs=epochs, verbose=0)
    return model


@pytest.mark.slow
def test_lstm_learns_parity_on_padded_batches_where_a_dense_net_fails():
    rng = np.random.default_rng(0)
    x, m, y = parity_data(1000, rng)
    xt, mt, yt = parity_data(500, rng)
    lstm = _fit(boucle.Sequential([LSTM(16, input_shape=(10, 1)), Dense(1, activation="sigmoid")], seed=0), x, y, m)
    assert lstm.evaluate(xt, yt, mask=mt)["accuracy"] >= 0.98
    # the dense net sees the padded bits and the mask as features, and the same training budget
    feats, feats_t = np.concatenate([x, m[..., None]], -1), np.concatenate([xt, mt[..., None]], -1)
    mlp = _fit(
        boucle.Sequential(
            [Flatten(input_shape=(10, 2)), Dense(64, activation="tanh"), Dense(1, activation="sigmoid")], seed=0
        ),
        feats,
        y,
    )
    assert mlp.evaluate(feats_t, yt)["accuracy"] < 0.85


@pytest.mark.slow
def test_bidirectional_gru_learns_parity_with_mask():
    rng = np.random.default_rng(1)
    x, m, y = parity_data(800, rng, max_len=8)
    xt, mt, yt = parity_data(300, rng, max_len=8)
    model = _fit(
        boucle.Sequential([Bidirectional(GRU(8), input_shape=(8, 1)), Dense(1, activation="sigmoid")], seed=0),
        x,
        y,
        m,
        epochs=40,
    )
    assert model.evaluate(xt, yt, mask=mt)["accuracy"] >= 0.95
