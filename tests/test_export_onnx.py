"""ONNX export: the graphs run in onnxruntime and give what boucle gives (float32, max |diff| <= 1e-5).

Sequential models of every exported layer on random shapes and right-padded masks (both GRU
forms, the simplified GRU, peephole LSTM, reverse and bidirectional passes, learned initial
states and zero-length rows), convolutional stacks, the character model's step graph driving a
generation loop that reproduces ``CharModel.sample`` character for character, and the Seq2Seq
encoder and decoder step. onnx and onnxruntime are test dependencies: these tests fail without them.
"""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import boucle
from boucle.cli import main
from boucle.data.tasks.translation import dates_dataset
from boucle.data.vocab import Vocabulary
from boucle.errors import BoucleError
from boucle.export import charmodel_graph, seq2seq_graphs, sequential_graph
from boucle.layers import (
    GRU,
    LSTM,
    Activation,
    AveragePooling1D,
    AveragePooling2D,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling2D,
    Layer,
    Masking,
    MaxPooling1D,
    MaxPooling2D,
    RepeatVector,
    Reshape,
    SimpleRNN,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding2D,
    register,
)
from boucle.models import sampling
from boucle.models.charlm import CharModel
from boucle.models.seq2seq import Seq2Seq

TOL = 1e-5


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run_sequential(model, x, lens=None):
    s = session(sequential_graph(model, sequence_lens=lens is not None))
    feeds = {"x": x} if lens is None else {"x": x, "sequence_lens": lens.astype(np.int32)}
    return s.run(None, feeds)[0]


def padded(rng, B, T, D, lens):
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    for b, n in enumerate(lens):
        x[b, n:] = 0.0
    return x


RECURRENT = {
    "rnn-tanh": lambda: SimpleRNN(5, return_sequences=True),
    "rnn-relu-reverse": lambda: SimpleRNN(5, activation="relu", go_backwards=True, return_sequences=True),
    "rnn-linear": lambda: SimpleRNN(4, activation="linear"),
    "rnn-sigmoid": lambda: SimpleRNN(4, activation="sigmoid", use_bias=False),
    "lstm": lambda: LSTM(6, return_sequences=True),
    "lstm-peephole": lambda: LSTM(6, peephole=True, return_sequences=True),
    "lstm-peephole-reverse": lambda: LSTM(5, peephole=True, go_backwards=True),
    "gru-course": lambda: GRU(5, return_sequences=True),
    "gru-reset-after": lambda: GRU(5, reset_after=True, return_sequences=True),
    "gru-reset-after-reverse": lambda: GRU(5, reset_after=True, go_backwards=True),
    "gru-simplified": lambda: GRU(5, variant="simplified", return_sequences=True),
    "bi-lstm-concat": lambda: Bidirectional(LSTM(4, return_sequences=True)),
    "bi-gru-sum": lambda: Bidirectional(GRU(4, reset_after=True), merge_mode="sum"),
    "bi-gru-course-mul": lambda: Bidirectional(GRU(3, return_sequences=True), merge_mode="mul"),
    "bi-rnn-ave": lambda: Bidirectional(SimpleRNN(3), merge_mode="ave"),
}


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_recurrent_layers_with_masking_match_predict(name):
    rng = np.random.default_rng(sorted(RECURRENT).index(name))
    B, T, D = (int(v) for v in rng.integers(2, 9, 3))
    lens = rng.integers(1, T + 1, B)
    lens[0] = T
    x = padded(rng, B, T, D, lens)
    model = boucle.Sequential(
        [Masking(0.0, input_shape=(None, D)), RECURRENT[name](), Dense(3, activation="softmax")],
        seed=int(rng.integers(1000)),
    )
    want = model.predict(x)
    got = run_sequential(model, x)
    assert got.shape == want.shape and np.abs(got - want).max() <= TOL


@pytest.mark.parametrize(
    "layer",
    [
        lambda: LSTM(5, return_sequences=True, learn_initial_state=True),
        lambda: GRU(4, reset_after=True, learn_initial_state=True, go_backwards=True),
        lambda: Bidirectional(LSTM(3, learn_initial_state=True)),
    ],
)
def test_sequence_lens_input_is_predicts_mask(layer, rng):
    B, T, D = 5, 7, 3
    lens = np.array([7, 0, 3, 1, 5])  # a zero-length row keeps its (learned) initial state
    model = boucle.Sequential([layer(), Dense(2)], seed=3)
    model.build((None, D))
    for l in model.layers[0].layers if isinstance(model.layers[0], Bidirectional) else model.layers[:1]:
        for k in [k for k in l.params if k.endswith("0")]:
            l.params[k][:] = rng.standard_normal(l.params[k].shape)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    want = model.predict(x, mask=np.arange(T)[None] < lens[:, None])
    assert np.abs(run_sequential(model, x, lens) - want).max() <= TOL


def test_embedding_mask_zero_and_stacked_layers(rng):
    ids = rng.integers(1, 12, (6, 9))
    for b, n in enumerate([9, 1, 4, 7, 2, 5]):
        ids[b, n:] = 0
    model = boucle.Sequential(
        [
            Embedding(12, 5, mask_zero=True, input_shape=(None,)),
            Bidirectional(GRU(4, return_sequences=True, reset_after=True)),
            Dropout(0.3),
            LSTM(6, peephole=True, return_sequences=True),
            Dense(4),
            Activation("tanh"),
        ],
        seed=5,
    )
    proto = sequential_graph(model)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert np.abs(session(proto).run(None, {"x": ids})[0] - model.predict(ids)).max() <= TOL


def test_convolutional_stack(rng):
    model = boucle.Sequential(
        [
            Conv2D(4, 3, strides=2, padding="same", activation="relu", input_shape=(9, 9, 2)),
            BatchNormalization(),
            MaxPooling2D(2, padding="same"),
            Conv2D(3, (2, 3), dilation_rate=(1, 2), padding="same"),
            AveragePooling2D(2, strides=1, padding="same"),
            UpSampling2D((2, 3)),
            ZeroPadding2D(((1, 0), (2, 1))),
            Conv2DTranspose(2, 3, strides=2, padding="same"),
            Conv2DTranspose(2, 2, strides=3, padding="valid"),
            GlobalMaxPooling2D(keepdims=True),
            Flatten(),
            Dense(6, activation="sigmoid"),
            RepeatVector(2),
            Reshape((4, 3)),
        ],
        seed=4,
    )
    bn = model.layers[1]
    bn.buffers["moving_mean"][:] = rng.standard_normal(4)
    bn.buffers["moving_variance"][:] = rng.uniform(0.5, 2.0, 4)
    x = rng.standard_normal((3, 9, 9, 2)).astype(np.float32)
    assert np.abs(run_sequential(model, x) - model.predict(x)).max() <= TOL
    seq = boucle.Sequential(
        [
            Conv1D(4, 3, padding="causal", dilation_rate=2, input_shape=(10, 2)),
            MaxPooling1D(3, padding="same"),
            UpSampling1D(2),
            AveragePooling1D(2),
            Conv1D(2, 2),
            GlobalAveragePooling1D(),
        ],
        seed=6,
    )
    x = rng.standard_normal((4, 10, 2)).astype(np.float32)
    assert np.abs(run_sequential(seq, x) - seq.predict(x)).max() <= TOL


TEXT = "def f(x):\n    return 'a' + x  # \"q\"\n" * 30


@pytest.mark.parametrize("cell, embed", [("lstm", 8), ("gru", 0), ("rnn", 6)])
def test_char_model_step_graph_reproduces_sample(cell, embed):
    model = CharModel(Vocabulary.from_text(TEXT), cell=cell, layers=2, hidden=12, embed=embed, seed=1)
    model.fit(TEXT, steps=4, seq_len=16, batch_size=4, verbose=0)
    proto = charmodel_graph(model)
    assert json.loads({p.key: p.value for p in proto.metadata_props}["boucle.vocabulary"]) == model.vocab.get_config()
    s = session(proto)
    names = [i.name for i in s.get_inputs()]
    n_states = 2 * (2 if cell == "lstm" else 1)
    assert names[0] == "ids" and len(names) == 1 + n_states
    states = {n: np.zeros((1, 12), np.float32) for n in names[1:]}
    rng, nxt, chars = np.random.default_rng(7), model.vocab.index["\n"], []
    for _ in range(120):  # the course's loop: each drawn character fed back
        logits, *new = s.run(None, {"ids": np.array([nxt]), **states})
        states = dict(zip(names[1:], new))
        nxt = sampling.draw(sampling.distribution(logits[0], 0.8), rng)
        chars.append(model.vocab.chars[nxt])
    assert "".join(chars) == model.sample(120, temperature=0.8, seed=7)
    ids = np.array([3, 0, 5])  # one batched step from random states: the logits
    st = [
        tuple(np.random.default_rng(k).standard_normal((3, 12)).astype(np.float32) for _ in r.state_names)
        for k, r in enumerate(model.rnns)
    ]
    want, new_states = model.stepper()(ids, st)
    got = s.run(None, {"ids": ids, **dict(zip(names[1:], [a for layer in st for a in layer]))})
    assert np.abs(got[0] - want).max() <= TOL
    assert max(np.abs(a - b).max() for a, b in zip(got[1:], [a for layer in new_states for a in layer])) <= TOL


@pytest.mark.parametrize(
    "kw",
    [
        dict(attention="general"),
        dict(attention="additive", bidirectional=True, num_layers=2),
        dict(attention="dot", cell="gru"),
        dict(cell="rnn", bidirectional=True, merge="sum"),
    ],
)
def test_seq2seq_encoder_and_decoder_step(kw):
    data = dates_dataset(200, 20, seed=0)
    model = Seq2Seq(data.source_vocab, data.target_vocab, units=12, embed_dim=6, seed=0, **kw)
    enc, dec = (session(p) for p in seq2seq_graphs(model))
    x = model.source_ids(data.x_test[:6])
    memory, mask, init, _ = model.encode(x)
    e = enc.run(None, {"source": x})
    flat = [s for layer in init for s in layer]
    assert np.abs(e[0] - memory).max() <= TOL and np.array_equal(e[1], mask)
    assert len(e) == 2 + len(flat) and max(np.abs(a - b).max() for a, b in zip(e[2:], flat)) <= TOL
    enc_names = [o.name for o in enc.get_outputs()]
    states, tokens = dict(zip(enc_names[2:], e[2:])), np.full(len(x), 1)
    boucle_states = init
    for _ in range(4):  # greedy steps, each side from its own states
        lp, boucle_states, alpha = model.decode_step(tokens, boucle_states, memory, mask)
        out = dec.run(None, {"token": tokens, "memory": e[0], "source_mask": e[1], **states})
        assert np.abs(out[0] - lp).max() <= TOL
        if alpha is not None:
            assert np.abs(out[-1] - alpha).max() <= TOL
        states = dict(zip(enc_names[2:], out[1 : 1 + len(states)]))
        tokens = lp.argmax(-1)


@register
class Doubler(Layer):
    """A user's layer with no ONNX converter."""

    def forward(self, x, mask=None, training=False):
        return 2 * np.asarray(x), None


def test_unsupported_layers_and_models_are_one_line_errors(tmp_path):
    model = boucle.Sequential([Dense(3, input_shape=(4,)), Doubler(name="twice")], seed=0)
    with pytest.raises(BoucleError, match=r"layer 'twice' \(Doubler\) has no ONNX converter") as e:
        boucle.export_onnx(model, tmp_path / "m.onnx")
    assert "\n" not in str(e.value)
    with pytest.raises(BoucleError, match="stateful=True"):
        boucle.export_onnx(boucle.Sequential([LSTM(3, stateful=True, input_shape=(4, 2))]), tmp_path / "m.onnx")
    with pytest.raises(BoucleError, match="expected a Sequential, CharModel or Seq2Seq, got ESN"):
        boucle.export_onnx(boucle.reservoir.ESN(10, seed=0), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_export_command(tmp_path, capsys, rng):
    model = boucle.Sequential([Masking(input_shape=(None, 3)), GRU(4, reset_after=True), Dense(2)], seed=2)
    boucle.save(model, tmp_path / "m.safetensors")
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "m.safetensors"), str(out), "--sequence-lens"]) == 0
    assert "wrote" in capsys.readouterr().out
    x, lens = rng.standard_normal((3, 5, 3)).astype(np.float32), np.array([5, 2, 4], np.int32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": x, "sequence_lens": lens})
    assert np.abs(got[0] - model.predict(x, mask=np.arange(5)[None] < lens[:, None])).max() <= TOL
    assert main(["export", str(tmp_path / "m.safetensors"), str(out)]) == 2  # never overwritten silently
    assert "already exists" in capsys.readouterr().err
    s2s = Seq2Seq(20, units=4, embed_dim=3, seed=0)
    boucle.save(s2s, tmp_path / "s.safetensors")
    assert main(["export", str(tmp_path / "s.safetensors"), str(tmp_path / "s.onnx")]) == 0
    assert (tmp_path / "s.encoder.onnx").is_file() and (tmp_path / "s.decoder.onnx").is_file()
