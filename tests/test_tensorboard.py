"""``callbacks.TensorBoard``: the event files read back (frames and CRCs checked) hold the values the
engine logged — scalars per step and per epoch, learning rate, gradient norm, step time, weight and
gradient histograms, char-model samples — for every model, and ``boucle train --tensorboard``.
tensorboardX is a test dependency: these tests fail without it."""

import math
import struct
from collections import defaultdict

import numpy as np
import pytest
from tensorboardX.crc32c import crc32c
from tensorboardX.proto.event_pb2 import Event

import boucle
from boucle.callbacks import Callback, TensorBoard
from boucle.cli import main
from boucle.data.vocab import Vocabulary
from boucle.errors import BoucleError
from boucle.layers import LSTM, Dense
from boucle.models.charlm import CharModel
from boucle.models.seq2seq import Seq2Seq


def _masked(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(folder):
    """{tag: [(step, value)]}: scalars as floats, histograms as HistogramProto, texts as str."""
    out = defaultdict(list)
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            header = data[pos : pos + 8]
            (n,) = struct.unpack("<Q", header)
            assert struct.unpack("<I", data[pos + 8 : pos + 12])[0] == _masked(header)
            body = data[pos + 12 : pos + 12 + n]
            assert struct.unpack("<I", data[pos + 12 + n : pos + 16 + n])[0] == _masked(body)
            pos += 16 + n
            event = Event.FromString(body)
            for v in event.summary.value:
                if v.HasField("histo"):
                    out[v.tag].append((event.step, v.histo))
                elif v.HasField("tensor") and v.tensor.string_val:
                    out[v.tag].append((event.step, v.tensor.string_val[0].decode()))
                else:
                    out[v.tag].append((event.step, v.simple_value))
    return out


class Record(Callback):
    """What the engine handed the callbacks, and the weights at each step."""

    def __init__(self):
        self.batches, self.epochs, self.weights = [], [], {}

    def on_batch_end(self, batch, logs=None):
        self.batches.append(dict(logs))
        params, grads = self.model.trainable_params()
        self.weights[self.model.step] = (
            {k: v.copy() for k, v in params.items()},
            {k: v.copy() for k, v in grads.items()},
        )

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((self.model.step, dict(logs), self.model.optimizer.current_lr()))


def test_sequential_scalars_and_histograms(tmp_path, rng):
    x = rng.standard_normal((40, 5, 3)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)[:, None]
    model = boucle.Sequential([LSTM(4, input_shape=(5, 3)), Dense(1, activation="sigmoid")], seed=0)
    model.compile(boucle.optimizers.Adam(0.01, clipnorm=0.5), "binary_crossentropy", metrics=["accuracy"])
    rec = Record()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        validation_split=0.2,
        callbacks=[
            TensorBoard(tmp_path, histogram_freq=3),
            rec,
            boucle.callbacks.LearningRateScheduler(lambda e, lr: 0.01 / (e + 1)),
        ],
    )
    ev = read_events(tmp_path)
    steps = [b["step"] for b in rec.batches]
    assert steps == list(range(1, 9))
    for key, tag in (
        ("loss", "batch/loss"),
        ("accuracy", "batch/accuracy"),
        ("grad_norm", "batch/grad_norm"),
        ("time", "batch/step_time"),
    ):
        assert [s for s, _ in ev[tag]] == steps
        np.testing.assert_allclose([v for _, v in ev[tag]], [b[key] for b in rec.batches], rtol=1e-6)
    assert [v for _, v in ev["batch/lr"]] == pytest.approx([0.01] * 4 + [0.005] * 4)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert ev[f"epoch/{key}"] == [(s, pytest.approx(logs[key], rel=1e-6)) for s, logs, _ in rec.epochs]
    assert [v for _, v in ev["epoch/lr"]] == pytest.approx([lr for *_, lr in rec.epochs])
    assert model.history.lr == pytest.approx([lr for *_, lr in rec.epochs])  # the History keeps it too
    for name in model.trainable_params()[0]:
        for kind, which in (("weights", 0), ("gradients", 1)):
            hist = ev[f"{kind}/{name}"]
            assert [s for s, _ in hist] == [3, 6]
            for s, h in hist:
                value = rec.weights[s][which][name]
                assert h.num == value.size and h.min == pytest.approx(value.min(), rel=1e-6)
                assert h.sum == pytest.approx(value.sum(), rel=1e-5, abs=1e-7)  # the gradient before clipping


def test_char_model_samples_and_seq2seq(tmp_path):
    text = "def f(x):\n    return x + 1\n" * 40
    model = CharModel(Vocabulary.from_text(text), hidden=8, embed=4, layers=1, seed=0)
    seen = []

    class Sample(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.model.step, self.model.sample(30, temperature=0.5, seed=self.model.step)))

    model.fit(
        text,
        text[:200],
        steps=6,
        val_every=3,
        seq_len=8,
        batch_size=4,
        verbose=0,
        callbacks=[TensorBoard(tmp_path / "char", sample_length=30, sample_temperature=0.5), Sample()],
    )
    ev = read_events(tmp_path / "char")
    assert [s for s, _ in ev["samples/text_summary"]] == [3, 6]
    for (step, txt), (s2, want) in zip(ev["samples/text_summary"], seen):
        assert step == s2 and txt.endswith("\n".join("    " + line for line in want.split("\n")))
    assert [s for s, _ in ev["epoch/val_bpc"]] == [3, 6] and [s for s, _ in ev["batch/bpc"]] == list(range(1, 7))
    assert ev["epoch/val_bpc"][-1][1] == pytest.approx(model.history.history["val_bpc"][-1], rel=1e-6)

    s2s = Seq2Seq(12, units=4, embed_dim=3, seed=0)
    s2s.compile("adam")
    x = np.random.default_rng(0).integers(3, 12, (16, 5))
    s2s.fit(x, batch_size=8, epochs=2, verbose=0, callbacks=[TensorBoard(tmp_path / "s2s", update_freq=2)])
    ev = read_events(tmp_path / "s2s")
    assert [s for s, _ in ev["batch/accuracy"]] == [2, 4] and [s for s, _ in ev["epoch/loss"]] == [2, 4]
    assert ev["epoch/loss"][-1][1] == pytest.approx(s2s.history.history["loss"][-1], rel=1e-6)


def test_bad_arguments(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(BoucleError, match="exists and is not a folder"):
        TensorBoard(tmp_path / "f")
    with pytest.raises(BoucleError, match="histogram_freq"):
        TensorBoard(tmp_path, histogram_freq=-1)


def test_train_command_writes_tensorboard_events(tmp_path, capsys):
    src = tmp_path / "a.py"
    src.write_text("".join(f"def f{i % 5}(x):\n    return x * {i % 7}\n" for i in range(200)))
    board = tmp_path / "tb"
    assert (
        main(
            [
                "train",
                str(src),
                "--out",
                str(tmp_path / "run"),
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
                "--steps",
                "4",
                "--val-every",
                "2",
                "--sample-length",
                "12",
                "--quiet",
                "--tensorboard",
                str(board),
            ]
        )
        == 0
    )
    ev = read_events(board)
    assert [s for s, _ in ev["samples/text_summary"]] == [2, 4] and [s for s, _ in ev["batch/loss"]] == [1, 2, 3, 4]
    assert [s for s, _ in ev["weights/lstm_0/U"]] == [2, 4] and all(math.isfinite(v) for _, v in ev["epoch/val_bpc"])
    model = boucle.load(tmp_path / "run" / "model.safetensors")
    assert model.data["env"]["threads"] == 1 and model.history.lr == pytest.approx([5e-3, 5e-3])
