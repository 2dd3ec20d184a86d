"""The one training engine: every callback and the divergence policy on every model
(Sequential, CharModel, Seq2Seq, ImageCaptioner), the engine's own bookkeeping, and the command line's exit 2."""

import csv
import math

import numpy as np
import pytest
import safetensors.numpy

import boucle
from boucle.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from boucle.cli import main
from boucle.data.vocab import Vocabulary
from boucle.errors import BoucleError
from boucle.layers import Dense
from boucle.models import CharModel, ImageCaptioner, Seq2Seq, Sequential
from boucle.optimizers import SGD
from boucle.training import History, fit, train_step

TEXT = "def add(a, b):\n    return a + b\n\n" * 40


class Sequence_:
    """Dense regression: 64 samples, one epoch = 4 batches."""

    name = "sequential"

    def __init__(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((64, 3)).astype(np.float32)
        self.y = self.x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
        self.model = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)], seed=0)
        self.model.compile(optimizer=SGD(0.05), loss="mse")

    def fit(self, epochs, callbacks=()):
        return self.model.fit(
            self.x, self.y, batch_size=16, epochs=epochs, validation_split=0.25, callbacks=list(callbacks), verbose=0
        )

    def output_weight(self):
        return self.model.layers[-1].params["W"]


class Chars:
    """A character model: one engine epoch = one reporting interval of 3 steps."""

    name = "char_model"

    def __init__(self):
        self.model = CharModel(Vocabulary.from_text(TEXT), layers=1, hidden=8, embed=4, seed=0)
        self.model.compile(SGD(0.05))

    def fit(self, epochs, callbacks=()):
        return self.model.fit(
            TEXT,
            TEXT[:200],
            steps=self.model.step + 3 * epochs,
            seq_len=8,
            batch_size=4,
            val_every=3,
            sample_every=0,
            callbacks=list(callbacks),
            verbose=0,
        )

    def output_weight(self):
        return self.model.dense.params["W"]


class Pairs:
    """A tiny encoder-decoder copying short id sequences."""

    name = "seq2seq"

    def __init__(self):
        rng = np.random.default_rng(0)
        x = rng.integers(4, 9, (48, 5))
        x[::3, 3:] = 0  # some right padding
        self.x, self.xv = x[:40], x[40:]
        self.model = Seq2Seq(9, units=8, embed_dim=4, seed=0)
        self.model.compile(SGD(0.05))

    def fit(self, epochs, callbacks=()):
        return self.model.fit(
            self.x,
            self.x,
            batch_size=10,
            epochs=epochs,
            validation_data=(self.xv, self.xv),
            callbacks=list(callbacks),
            verbose=0,
        )

    def output_weight(self):
        return self.model.output.params["W"]


class Captions:
    """A tiny image captioner: 8x8 images, one or two captions each."""

    name = "image_captioner"

    def __init__(self):
        rng = np.random.default_rng(0)
        words = ["a red dot", "a blue dot", "two dots", "a dot"]
        self.x = rng.random((48, 8, 8, 3)).astype(np.float32)
        self.caps = [[words[i % 4]] + ([words[(i + 1) % 4]] if i % 3 == 0 else []) for i in range(48)]
        self.model = ImageCaptioner(
            Vocabulary.words(words), (8, 8, 3), filters=(3,), units=8, embed_dim=4, attention="general", seed=0
        )
        self.model.compile(SGD(0.05))

    def fit(self, epochs, callbacks=()):
        return self.model.fit(
            self.x[:40],
            self.caps[:40],
            batch_size=10,
            epochs=epochs,
            validation_data=(self.x[40:], self.caps[40:]),
            callbacks=list(callbacks),
            verbose=0,
        )

    def output_weight(self):
        return self.model.output.params["W"]


MODELS = [Sequence_, Chars, Pairs, Captions]


@pytest.fixture(params=MODELS, ids=lambda c: c.name)
def task(request):
    return request.param()


class Seen(Callback):
    """Records the learning rate at each epoch start and the weights at each epoch end."""

    def __init__(self):
        self.lrs, self.weights, self.logs = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.lrs.append(self.model.optimizer.current_lr())

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.logs.append(dict(logs))


def test_every_model_reports_epoch_logs_and_history(task):
    seen = Seen()
    h = task.fit(3, [seen])
    assert isinstance(h, History) and h is task.model.history
    assert len(h.epoch) == 3
    assert len(h.history["loss"]) == 3 and len(h.history["val_loss"]) == 3
    assert all(math.isfinite(v) for v in h.history["loss"] + h.history["val_loss"])
    assert [l["loss"] for l in seen.logs] == h.history["loss"]
    assert h.step == sorted(h.step) and h.step[-1] == task.model.step and task.model.step > 0


def test_early_stopping_restores_the_best_weights(task):
    seen = Seen()
    es = EarlyStopping(monitor="loss", min_delta=1e9, patience=1, restore_best_weights=True)
    h = task.fit(10, [es, seen])
    assert len(h.history["loss"]) == 2 and es.stopped_epoch == h.epoch[1]  # best at epoch 0, no gain by 1e9
    best = seen.weights[0]
    now = task.model.get_weights()
    assert all(np.array_equal(best[k], now[k]) for k in best)


def test_model_checkpoint_every_epoch_round_trips(task, tmp_path):
    ck = ModelCheckpoint(tmp_path / "ck-{epoch:02d}.safetensors", monitor="val_loss")
    h = task.fit(2, [ck])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"ck-{e + 1:02d}.safetensors" for e in h.epoch]
    back = boucle.load(tmp_path / files[-1])
    mine, theirs = task.model.get_weights(), back.get_weights()
    assert type(back) is type(task.model) and all(np.array_equal(mine[k], theirs[k]) for k in mine)
    assert back.optimizer is not None and back.optimizer.iterations == task.model.optimizer.iterations


def test_model_checkpoint_best_only_keeps_improving_epochs(task, tmp_path):
    ck = ModelCheckpoint(tmp_path / "best-{epoch:02d}.safetensors", monitor="loss", save_best_only=True)
    h = task.fit(4, [ck])
    losses = h.history["loss"]
    improving = [i for i, v in enumerate(losses) if v == min(losses[: i + 1])]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"best-{h.epoch[i] + 1:02d}.safetensors" for i in improving]


def test_csv_logger_writes_a_row_per_epoch(task, tmp_path):
    path = tmp_path / "log.csv"
    task.fit(3, [CSVLogger(path)])
    rows = list(csv.reader(path.open()))
    assert rows[0][0] == "epoch" and {"loss", "val_loss"} <= set(rows[0]) and len(rows) == 4
    col = rows[0].index("loss")
    assert [float(r[col]) for r in rows[1:]] == task.model.history.history["loss"]


def test_learning_rate_scheduler_and_plateau(task):
    seen = Seen()
    task.fit(3, [LearningRateScheduler(lambda e, lr: 0.1 * 0.5**e), seen])  # a fresh model: epochs 0, 1, 2
    assert seen.lrs == pytest.approx([0.1, 0.05, 0.025])
    start = task.model.optimizer.current_lr()
    task.fit(3, [ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9)])
    assert task.model.optimizer.current_lr() == pytest.approx(start / 4)  # cut after epochs 2 and 3


def test_divergence_policy_is_the_same_on_every_model(task):
    task.fit(1)
    task.output_weight()[0, 0] = np.inf  # the next forward pass overflows
    before, step = task.model.get_weights(), task.model.step
    with pytest.warns(
        RuntimeWarning,
        match=r"^training stopped: the loss is (nan|inf) at epoch \d+, batch 1 "
        rf"\(step {step + 1}\); that step was not applied, the weights are "
        rf"those of step {step}; lower the learning rate",
    ):
        h = task.fit(3)
    assert h.stopped_reason.startswith("training stopped: the loss is") and task.model.step == step
    after = task.model.get_weights()
    assert all(np.array_equal(before[k], after[k], equal_nan=True) for k in before)
    assert len(h.epoch) >= 1 and not math.isfinite(h.history["loss"][-1])  # the epoch ended, no good step in it


def test_terminate_on_nan_given_by_the_user_replaces_the_default(task):
    task.output_weight()[0, 0] = np.nan
    mine = TerminateOnNaN()
    with pytest.warns(RuntimeWarning, match="training stopped"):
        task.fit(2, [mine])
    assert mine.model is task.model and task.model.history.stopped_reason and task.model.step == 0


def test_a_gradient_that_overflows_is_refused_too():
    t = Sequence_()
    t.model.layers[0].params["W"][...] = 0.0  # h = 0, so y_pred = 0 and the loss is finite...
    t.model.layers[1].params["W"][...] = 3e38  # ... but dJ/dh = dJ/dy W^T overflows float32
    t.y[...] = 100.0
    r = train_step(t.model, (t.x[:16], t.y[:16], None))
    assert math.isfinite(r.loss) and not math.isfinite(r.grad_norm) and not r.applied and t.model.step == 0


def test_engine_limits_and_bad_arguments():
    t = Sequence_()
    batches = [(t.x[:16], t.y[:16], None)] * 5
    h = fit(t.model, lambda epoch: batches, steps=7, verbose=0)
    assert t.model.step == 7 and h.epoch == [0, 1] and h.step == [5, 7]  # stops inside the 2nd epoch
    h = fit(t.model, lambda epoch: batches if epoch < 2 else [], epochs=None, verbose=0)
    assert h.epoch == [0, 1] and t.model.step == 17  # an empty epoch ends training
    for kw, match in [
        ({"epochs": -1}, "epochs"),
        ({"steps": 1.5}, "steps"),
        ({"time_budget": 0}, "time_budget"),
        ({"callbacks": [print]}, "callbacks"),
    ]:
        with pytest.raises(BoucleError, match=match):
            fit(t.model, lambda epoch: batches, verbose=0, **kw)
    fresh = Sequential([Dense(1, input_shape=(3,))], seed=0)
    with pytest.raises(BoucleError, match="compile"):
        train_step(fresh, batches[0])


def test_command_line_exits_2_with_the_divergence_message(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text(TEXT)
    out = tmp_path / "run"
    args = [
        "train",
        str(src),
        "--out",
        str(out),
        "--layers",
        "1",
        "--hidden",
        "8",
        "--embed",
        "4",
        "--seq-len",
        "8",
        "--batch-size",
        "4",
        "--val-every",
        "5",
        "--quiet",
    ]
    assert main(args + ["--steps", "2"]) == 0
    ckpt = out / "model.safetensors"
    tensors = safetensors.numpy.load_file(str(ckpt))
    meta = safetensors.safe_open(str(ckpt), "np").metadata()
    tensors["dense/W"][0, 0] = np.inf
    safetensors.numpy.save_file(tensors, str(ckpt), metadata=meta)
    capsys.readouterr()
    assert main(args + ["--steps", "4", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("boucle train: error: training stopped: the loss is")
    assert "(step 3)" in err and "holds the weights of step 2" in err
