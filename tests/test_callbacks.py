"""Callbacks: early stopping, checkpoints, learning-rate control, CSV logs, NaN termination."""

import csv

import numpy as np
import pytest

import boucle
from boucle import Sequential
from boucle.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from boucle.layers import Dense


def data(rng, n=64):
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32))


def model(lr=0.01, optimizer="sgd"):
    m = Sequential([Dense(4, activation="tanh", input_shape=(3,), name="h"), Dense(1, name="o")], seed=0)
    m.compile(
        optimizer=boucle.optimizers.get(optimizer)
        if lr is None
        else {"sgd": boucle.optimizers.SGD, "adam": boucle.optimizers.Adam}[optimizer](lr),
        loss="mse",
    )
    return m


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append((epoch, dict(logs)))


def test_early_stopping_restores_best(rng):
    x, y = data(rng)
    xv, yv = data(rng, 16)
    m = model(lr=0.5)  # too high: validation loss will not keep improving
    rec = Recorder()
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = m.fit(x, y, epochs=60, validation_data=(xv, yv), callbacks=[es, rec], verbose=0)
    vals = h.history["val_loss"]
    assert len(vals) < 60 and es.stopped_epoch is not None
    best = int(np.argmin(vals))
    assert es.best_epoch == best and len(vals) == best + 1 + 2  # patience=2 epochs after the best
    assert m.evaluate(xv, yv)["loss"] == pytest.approx(vals[best], rel=1e-5)


def test_early_stopping_min_delta_and_mode(rng):
    x, y = data(rng)
    m = model(lr=1e-6)  # barely moves: improvements below min_delta
    es = EarlyStopping(monitor="loss", min_delta=1.0, patience=1)
    h = m.fit(x, y, epochs=20, callbacks=[es], verbose=0)
    assert len(h.history["loss"]) == 2  # epoch 0 sets the best, epoch 1 fails to improve by 1.0
    with pytest.raises(boucle.BoucleError, match="mode"):
        EarlyStopping(mode="sideways")


def test_model_checkpoint_best_only(rng, tmp_path):
    x, y = data(rng)
    m = model(lr=0.05)
    ck = ModelCheckpoint(tmp_path / "best-{epoch:02d}.safetensors", monitor="loss", save_best_only=True)
    weights = []

    class Keep(Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights.append(self.model.get_weights())

    h = m.fit(x, y, epochs=4, callbacks=[ck, Keep()], verbose=0)
    files = sorted(p.name for p in tmp_path.iterdir())
    improving = [i for i, v in enumerate(h.history["loss"]) if v == min(h.history["loss"][: i + 1])]
    assert files == [f"best-{i + 1:02d}.safetensors" for i in improving]
    for i in improving:  # each file holds the weights of its epoch
        saved = boucle.load(tmp_path / f"best-{i + 1:02d}.safetensors").get_weights()
        assert all(np.array_equal(saved[k], weights[i][k]) for k in saved)


def test_learning_rate_scheduler_and_plateau(rng):
    x, y = data(rng)
    m = model(lr=0.1)
    seen = []

    class LR(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(self.model.optimizer.current_lr())

    m.fit(x, y, epochs=3, callbacks=[LearningRateScheduler(lambda e, lr: 0.1 * 0.5**e), LR()], verbose=0)
    assert seen == pytest.approx([0.1, 0.05, 0.025])

    m = model(lr=1e-9)  # no progress: the plateau callback must cut the rate
    rp = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1.0)
    m.fit(x, y, epochs=5, callbacks=[rp], verbose=0)
    assert m.optimizer.current_lr() < 1e-9 / 2 * 1.0001
    with pytest.raises(boucle.BoucleError, match="factor"):
        ReduceLROnPlateau(factor=1.5)


def test_csv_logger(rng, tmp_path):
    x, y = data(rng)
    m = model()
    path = tmp_path / "log.csv"
    m.fit(x, y, epochs=3, validation_split=0.25, callbacks=[CSVLogger(path)], verbose=0)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["epoch", "loss", "val_loss"] and len(rows) == 4
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    m.fit(x, y, epochs=1, callbacks=[CSVLogger(path, append=True)], verbose=0)
    assert len(list(csv.reader(path.open()))) == 5


def test_terminate_on_nan_is_on_by_default(rng):
    x, y = data(rng)
    y = y * 1e30  # squared error overflows float32 -> inf loss on the first batch
    m = model(lr=0.01)
    before = m.get_weights()
    with pytest.warns(RuntimeWarning, match=r"loss is (inf|nan) at epoch 1, batch 1"):
        h = m.fit(x, y, epochs=5, verbose=0)
    assert h.stopped_reason is not None and len(h.history["loss"]) == 1
    after = m.get_weights()
    assert all(np.isfinite(v).all() for v in after.values())
    assert all(np.array_equal(before[k], after[k]) for k in before)  # the bad step was not applied
    assert isinstance(TerminateOnNaN(), Callback)
