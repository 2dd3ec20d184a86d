"""Character models (seed 002, "RNNs Génératifs"): data, the model, its gradient, sampling,
resuming bit-identically, and learning."""

import math
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import boucle
from boucle.data.text import TextStream, builtin_files, eval_chunks, find_files, load_corpus, read_text, split_ids
from boucle.data.vocab import Vocabulary
from boucle.diagnostics import numerical_gradient, relative_error
from boucle.errors import BoucleError
from boucle.models.charlm import CharModel
from boucle.models.sampling import check_sampling, distribution, draw
from boucle.optimizers import SGD, Adam

TEXT = "def add(a, b):\n    return a + b\n\n" * 40


def small_model(cell="lstm", embed=4, layers=2, dropout=0.0, dtype="float32", seed=0, text=TEXT):
    return CharModel(
        Vocabulary.from_text(text),
        cell=cell,
        layers=layers,
        hidden=8,
        embed=embed,
        dropout=dropout,
        seed=seed,
        dtype=dtype,
    )


# ---------------------------------------------------------------- data
def test_read_text_names_file_and_byte_offset(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes(b"abc\n" + "café".encode("latin-1"))
    with pytest.raises(BoucleError, match=r"latin1\.txt: not UTF-8 text: invalid byte 0xe9 at byte offset 7"):
        read_text(p)
    with pytest.raises(BoucleError, match="no such file"):
        load_corpus([tmp_path / "missing.txt"])
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(BoucleError, match="corpus: no text"):
        load_corpus([tmp_path / "empty.txt"])


def test_builtin_corpus_is_the_stdlib_py_files_sorted():
    files = builtin_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    assert files == sorted(
        root / n for n in __import__("os").listdir(root) if n.endswith(".py") and (root / n).is_file()
    )
    assert len(files) > 50 and all(f.parent == root for f in files)
    assert files == sorted(files)


def test_folders_use_the_glob_sorted(tmp_path):
    (tmp_path / "b.py").write_text("b")
    (tmp_path / "a.py").write_text("a")
    (tmp_path / "c.txt").write_text("c")
    assert [f.name for f in find_files([tmp_path], "*.py")] == ["a.py", "b.py"]
    assert load_corpus([tmp_path]).text == "abc"
    with pytest.raises(BoucleError, match="no file matching"):
        find_files([tmp_path], "*.rs")


def test_vocabulary_round_trip_and_unknown_characters():
    v = Vocabulary.from_text("hello, wörld")
    ids = v.encode("wörld")
    assert ids.dtype == np.int64 and v.decode(ids) == "wörld"
    assert Vocabulary.from_config(v.get_config()) == v
    assert v.chars == sorted(v.chars)
    with pytest.raises(BoucleError, match=r"prime: characters 'x' \(U\+0078\), 'é' \(U\+00E9\) not in"):
        v.encode("hexé", "prime")


def test_split_keeps_the_end_for_validation():
    ids = np.arange(100)
    tr, va = split_ids(ids, 0.1)
    assert np.array_equal(tr, np.arange(90)) and np.array_equal(va, np.arange(90, 100))
    assert len(split_ids(ids, 0.0)[1]) == 0
    with pytest.raises(BoucleError, match="val_fraction"):
        split_ids(ids, 1.0)


def test_stream_chunks_are_consecutive_and_targets_shifted():
    ids = np.arange(1000)
    s = TextStream(ids, batch_size=4, seq_len=10)
    rng = np.random.default_rng(0)
    x0, y0, new0 = s.next_batch(rng)
    x1, y1, new1 = s.next_batch(rng)
    assert new0 and not new1
    assert np.array_equal(y0[:, :-1], x0[:, 1:])
    assert np.array_equal(x1[:, 0], (x0[:, -1] + 1) % 1000)  # row b continues its own text
    assert np.array_equal(np.sort((x0[:, 0] - x0[0, 0]) % 1000), np.arange(4) * 250)  # rows L apart
    state = s.state_dict()
    t = TextStream(ids, batch_size=4, seq_len=10)
    t.load_state_dict(state)
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(30):  # across an epoch boundary
        a, b = s.next_batch(r1), t.next_batch(r2)
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert s.epoch == 1 and s.chunks_per_epoch == 24
    with pytest.raises(BoucleError, match="fewer than one batch needs"):
        TextStream(np.arange(40), batch_size=4, seq_len=10)


def test_eval_chunks_score_every_transition_once():
    ids = np.arange(53)
    seen = []
    for x, y, m in eval_chunks(ids, batch_size=4, seq_len=5):
        assert np.array_equal(y[m], x[m] + 1)
        seen.extend(x[m].tolist())
    assert sorted(seen) == list(range(52))


# ---------------------------------------------------------------- the model
@pytest.mark.parametrize("cell,embed", [("lstm", 4), ("gru", 0), ("rnn", 3)])
def test_stepper_equals_the_layer_forward(cell, embed):
    m = small_model(cell, embed, dtype="float64")
    ids = m.vocab.encode(TEXT[:30])[None].repeat(2, axis=0)  # (2, 30)
    ids[1] = ids[1][::-1]
    logits, _, final = m.forward(ids)
    step = m.stepper()
    states = step.zero_states(2)
    for t in range(ids.shape[1]):
        lt, states = step(ids[:, t], states)
        np.testing.assert_allclose(lt, logits[:, t], rtol=0, atol=1e-12)
    for a, b in zip(states, final):
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell,embed", [("gru", 0), ("rnn", 3)])
def test_every_cell_trains_and_round_trips(cell, embed, tmp_path):
    m = small_model(cell, embed, dropout=0.1)
    before = m.evaluate(TEXT[:300])["loss"]
    m.fit(TEXT, steps=30, seq_len=8, batch_size=4, optimizer=Adam(1e-2, clipnorm=5.0), verbose=0)
    assert m.evaluate(TEXT[:300])["loss"] < before
    boucle.save(m, tmp_path / "m.safetensors")
    assert boucle.load(tmp_path / "m.safetensors").sample(30, seed=0) == m.sample(30, seed=0)


def test_gradient_of_the_loss_through_the_carried_state_float64():
    """d loss / d θ through embedding, 2 stacked LSTMs (started from carried states) and the output."""
    m = small_model("lstm", 3, dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.integers(0, len(m.vocab), (2, 5))
    y = rng.integers(0, len(m.vocab), (2, 5))
    m.states = [tuple(rng.standard_normal((2, 8)) * 0.5 for _ in range(2)) for _ in range(2)]

    def loss():
        return m._loss(y, m.forward(x, m.states)[0])

    logits, cache, _ = m.forward(x, m.states, training=True)
    _, d = m._loss.forward_backward(y, logits)
    for l in m.layers:
        l.zero_grads()
    m.backward(d, cache)
    grads = m.grads
    for name, p in m.params.items():
        idx = rng.choice(p.size, size=min(p.size, 12), replace=False)
        num = numerical_gradient(loss, p, index=idx).reshape(-1)[idx]
        assert relative_error(grads[name].reshape(-1)[idx], num) < 1e-6, name


def test_the_carried_state_is_the_previous_batch_final_state():
    """Truncated BPTT by behaviour: the second train_step's loss is the loss of a forward pass
    started from the first step's final states (computed before its update), and differs from
    a pass started from zeros."""
    m = small_model("lstm", 3, dtype="float64")
    m.compile(SGD(0.5))
    rng = np.random.default_rng(0)
    x1, y1, x2, y2 = (rng.integers(0, len(m.vocab), (3, 6)) for _ in range(4))
    _, _, final1 = m.forward(x1)  # before the first update
    m.train_step(x1, y1)
    for carried, want in zip(m.states, final1):
        for a, b in zip(carried, want):
            np.testing.assert_array_equal(a, b)
    expected = m._loss(y2, m.forward(x2, m.states)[0])  # the updated weights, carried states
    from_zeros = m._loss(y2, m.forward(x2)[0])
    assert m.train_step(x2, y2) == pytest.approx(expected, rel=1e-13, abs=0)
    assert abs(expected - from_zeros) > 1e-6


def test_evaluate_does_not_depend_on_the_chunk_length():
    """The state is carried across chunks, so every character is scored with its whole left context."""
    m = small_model("gru", 3, dtype="float64")
    m.fit(TEXT, steps=5, seq_len=8, batch_size=4, verbose=0)
    scores = [m.evaluate(TEXT[:400], batch_size=3, seq_len=n)["bpc"] for n in (5, 17, 400)]
    assert scores == pytest.approx([scores[0]] * 3, rel=1e-12, abs=0)
    assert m.evaluate(TEXT[:400], batch_size=5, seq_len=17)["bpc"] != pytest.approx(scores[0], rel=1e-9)


def test_output_bias_starts_at_the_unigram_distribution():
    m = small_model()
    counts = np.bincount(m.vocab.encode(TEXT), minlength=len(m.vocab)) + 1.0
    p = counts / counts.sum()
    unigram_bits = -(np.bincount(m.vocab.encode(TEXT[1:]), minlength=len(m.vocab)) * np.log2(p)).sum() / (len(TEXT) - 1)
    assert m.evaluate(TEXT)["bpc"] == pytest.approx(math.log2(len(m.vocab)), abs=0.05)
    m.init_output_bias(TEXT)
    assert np.allclose(m.dense.params["b"], np.log(p))
    assert m.evaluate(TEXT)["bpc"] == pytest.approx(unigram_bits, abs=0.05)


def test_save_load_round_trip_and_generation_identical(tmp_path):
    m = small_model()
    m.fit(TEXT, steps=3, seq_len=8, batch_size=4, verbose=0)
    boucle.save(m, tmp_path / "m.safetensors", include_optimizer=True)
    n = boucle.load(tmp_path / "m.safetensors")
    assert isinstance(n, CharModel) and n.step == 3 and n.vocab == m.vocab
    assert all(np.array_equal(v, n.get_weights()[k]) for k, v in m.get_weights().items())
    assert n.sample(40, seed=3) == m.sample(40, seed=3)
    assert n.evaluate(TEXT[:200]) == m.evaluate(TEXT[:200])
    assert "2 x LSTM(8)" in n.describe() and "training steps: 3" in n.describe()


def test_bad_arguments():
    v = Vocabulary.from_text("ab")
    with pytest.raises(BoucleError, match="cell"):
        CharModel(v, cell="transformer")
    with pytest.raises(BoucleError, match="embed"):
        CharModel(v, embed=-1)
    with pytest.raises(BoucleError, match="dropout"):
        CharModel(v, dropout=1.0)
    m = CharModel(v, hidden=4, embed=2, layers=1, seed=0)
    with pytest.raises(BoucleError, match="fewer than one batch"):
        m.fit("ab" * 10, steps=1, seq_len=8, batch_size=4, verbose=0)
    with pytest.raises(BoucleError, match="not in the model's vocabulary"):
        m.fit("abc" * 100, steps=1, verbose=0)
    with pytest.raises(BoucleError, match="time_budget"):
        m.fit("ab" * 100, time_budget=0, seq_len=4, batch_size=2, verbose=0)
    for kw, match in [
        ({"temperature": 0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": 0}, "top_k"),
    ]:
        with pytest.raises(BoucleError, match=match):
            m.sample(5, **kw)
    with pytest.raises(BoucleError, match="length"):
        m.sample(-1)
    with pytest.raises(BoucleError, match="prime"):
        m.sample(5, prime="z")


def test_diverging_run_stops_with_a_clear_message():
    m = small_model(layers=1)
    m.fit(TEXT, steps=2, seq_len=8, batch_size=4, optimizer=SGD(0.1), verbose=0)
    m.dense.params["W"][0, 0] = np.inf
    before = m.get_weights()
    with pytest.warns(
        RuntimeWarning, match=r"the loss is nan at epoch 1, batch 1 \(step 3\); that step was not applied"
    ):
        h = m.fit(TEXT, steps=5, seq_len=8, batch_size=4, verbose=0)
    assert m.step == 2 and "the weights are those of step 2" in h.stopped_reason
    after = m.get_weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # the bad step was not applied


# ---------------------------------------------------------------- sampling
def test_distribution_temperature_top_k_top_p():
    a = np.array([2.0, 1.0, 0.5, -1.0, 0.0])
    p1 = distribution(a)
    np.testing.assert_allclose(p1, np.exp(a) / np.exp(a).sum(), rtol=1e-14)
    ent = [-(p * np.log(np.maximum(p, 1e-300))).sum() for p in (distribution(a, t) for t in (2.0, 1.0, 0.5, 0.1))]
    assert ent == sorted(ent, reverse=True)  # colder = sharper
    assert distribution(a, 1e-3)[0] > 0.999
    p2 = distribution(a, top_k=2)
    assert np.count_nonzero(p2) == 2 and p2[0] > p2[1] > 0 and p2.sum() == pytest.approx(1.0)
    p3 = distribution(a, top_p=0.7)  # p1 = .56 .21 .13 ...: keep 2
    assert np.count_nonzero(p3) == 2 and p3[[0, 1]].sum() == pytest.approx(1.0)
    assert np.array_equal(distribution(a, top_p=1e-9), np.eye(5)[0])
    assert np.array_equal(distribution(a, top_k=1), np.eye(5)[0])
    rng = np.random.default_rng(0)
    counts = np.bincount([draw(p1, rng) for _ in range(4000)], minlength=5) / 4000
    np.testing.assert_allclose(counts, p1, atol=0.03)
    with pytest.raises(BoucleError, match="top_p"):
        check_sampling(top_p=0)


def greedy(m, prime, n):
    """Arg max decoding with the layer forward (reference for top_k=1 and tiny top_p)."""
    text = prime
    for _ in range(n):
        logits = m.forward(m.vocab.encode(text)[None])[0]
        text += m.vocab.chars[int(np.argmax(logits[0, -1]))]
    return text[len(prime) :]


def test_sampling_determinism_and_greedy_limits():
    m = small_model()
    m.fit(TEXT, steps=40, seq_len=16, batch_size=4, verbose=0)
    a = m.sample(60, prime="def", temperature=1.0, seed=7)
    assert a == m.sample(60, prime="def", temperature=1.0, seed=7)
    assert a != m.sample(60, prime="def", temperature=1.0, seed=8)
    g = greedy(m, "def", 25)
    assert m.sample(25, prime="def", top_k=1, seed=1) == g == m.sample(25, prime="def", top_k=1, seed=2)
    assert m.sample(25, prime="def", top_p=1e-6, seed=3) == g
    assert m.sample(25, prime="def", temperature=1e-4, seed=4) == g
    assert m.sample(0) == ""


# ---------------------------------------------------------------- resume and learning
def run(tmp_path, total, stop_at=None, dropout=0.2):
    """Train to `total` steps; with `stop_at`, save at that step, reload from the file and continue."""
    m = small_model(dropout=dropout, seed=3)
    kw = dict(seq_len=8, batch_size=4, val_every=5, sample_every=0, verbose=0)
    if stop_at is None:
        m.fit(TEXT, TEXT[:300], steps=total, optimizer=Adam(1e-2, clipnorm=1.0), **kw)
        return m
    m.fit(TEXT, TEXT[:300], steps=stop_at, optimizer=Adam(1e-2, clipnorm=1.0), **kw)
    boucle.save(m, tmp_path / "ckpt.safetensors", include_optimizer=True)
    m = boucle.load(tmp_path / "ckpt.safetensors")
    m.fit(TEXT, TEXT[:300], steps=total, **kw)
    return m


def test_resume_equals_uninterrupted_bit_identical(tmp_path):
    # 1280 chars, B=4, T=8: 39 chunks per epoch, so the run crosses an epoch boundary after the resume
    a = run(tmp_path, 45)
    b = run(tmp_path, 45, stop_at=23)
    assert a.step == b.step == 45
    wa, wb = a.get_weights(), b.get_weights()
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert a.history.history["val_bpc"][-1] == b.history.history["val_bpc"][-1]  # the final validation
    assert b.history.step == [5, 10, 15, 20, 23, 25, 30, 35, 40, 45]  # one lifetime record, resumed
    assert a.stream_state == b.stream_state


@pytest.mark.slow
def test_learns_a_repetitive_text():
    """1-layer LSTM(32) on a 9-character cycle: val bpc below 0.25 within 150 steps (from log2 9 ≈ 3.17)."""
    text = "abcdefgh\n" * 300
    m = CharModel(Vocabulary.from_text(text), layers=1, hidden=32, embed=8, seed=0)
    assert m.evaluate(text[2400:])["bpc"] == pytest.approx(math.log2(9), abs=0.05)
    h = m.fit(
        text[:2400],
        text[2400:],
        steps=150,
        seq_len=16,
        batch_size=8,
        val_every=50,
        optimizer=Adam(1e-2, clipnorm=5.0),
        sample_every=0,
        verbose=0,
    )
    assert h.step[-1] == 150 and h.history["val_bpc"][-1] < 0.25
    assert m.sample(18, prime="abc", temperature=0.5, seed=0) == "defgh\nabcdefgh\nabc"
    r = m.evaluate(text[2400:])
    assert r["bpc"] == pytest.approx(r["loss"] / math.log(2)) and r["perplexity"] == pytest.approx(math.exp(r["loss"]))
