"""Seq2Seq: gradients of the whole encoder–decoder, masking, decoding, files, learning, bad input, CLI."""

import itertools
import warnings

import numpy as np
import pytest

import boucle
from boucle.cli import main as cli
from boucle.data.tasks.translation import addition_dataset, dates_dataset
from boucle.data.vocab import END, PAD, UNK, Vocabulary
from boucle.diagnostics.gradcheck import numerical_gradient, relative_error
from boucle.errors import BoucleError, ModelFileError
from boucle.models.decoding import attention_map, beam_search, decode, greedy_decode, translate
from boucle.models.seq2seq import Seq2Seq
from boucle.schedules import ExponentialDecay

X = np.array([[4, 5, 6, 7, 8], [5, 4, 0, 0, 0], [8, 8, 8, 6, 0]])
Y = np.array([[4, 5, 6, 0], [6, 0, 0, 0], [3, 4, 5, 6]])
CONFIGS = [
    dict(),  # LSTM, no attention: the encoder
    dict(cell="gru", num_layers=2),  # only reaches the loss through
    dict(cell="rnn", attention="dot"),  # the decoder's initial state
    dict(attention="general", num_layers=2),
    dict(bidirectional=True, attention="additive"),  # concat -> Dense bridge
    dict(bidirectional=True, merge="sum", cell="gru", attention="general"),
]


def _random_model(rng, **kw):
    m = Seq2Seq(9, 7, units=5, embed_dim=4, seed=1, dtype="float64", **kw)
    for p in m.params.values():  # O(1) weights: gradients far above the FD noise
        p[...] = rng.standard_normal(p.shape) * 0.5
    return m


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "lstm")
def test_whole_encoder_decoder_gradients(kw, rng):
    m = _random_model(rng, **kw)
    dec_in, target, mask = m.teacher_forcing(Y)

    def loss():
        return m.loss(target, m.forward(X, dec_in, mask)[0], mask)

    logits, _, cache = m.forward(X, dec_in, mask)
    _, dlogits = m.loss.forward_backward(target, logits, mask)
    m.zero_grads()
    m.backward(dlogits, cache)
    analytic = {k: g.copy() for k, g in m.grads.items()}
    check_rng = np.random.default_rng(0)
    for k, p in m.params.items():
        idx = np.arange(p.size) if p.size <= 60 else np.sort(check_rng.choice(p.size, 60, replace=False))
        num = numerical_gradient(loss, p, 1e-5, idx).reshape(-1)[idx]
        assert relative_error(analytic[k].reshape(-1)[idx], num) < 1e-6, k
    enc = [k for k in analytic if k.startswith("enc_")]
    assert enc and all(np.abs(analytic[k]).max() > 1e-4 for k in enc if not k.endswith("/E"))


def test_teacher_forcing_arrays():
    dec_in, target, mask = Seq2Seq.teacher_forcing(Y)
    np.testing.assert_array_equal(dec_in, [[1, 4, 5, 6, 0], [1, 6, 0, 0, 0], [1, 3, 4, 5, 6]])
    np.testing.assert_array_equal(target, [[4, 5, 6, END, 0], [6, END, 0, 0, 0], [3, 4, 5, 6, END]])
    np.testing.assert_array_equal(mask.sum(1), [4, 2, 5])
    with pytest.raises(BoucleError, match="right-padded"):
        Seq2Seq.teacher_forcing(np.array([[4, 0, 5]]))


@pytest.mark.parametrize("kw", [dict(attention="general", bidirectional=True), dict(cell="gru", num_layers=2)])
def test_padding_changes_nothing_on_either_side(kw, rng):
    m = _random_model(rng, **kw)
    dec_in, target, mask = m.teacher_forcing(Y)
    wide_x = np.concatenate([X, np.zeros((3, 4), dtype=X.dtype)], axis=1)  # more source padding
    logits, alpha, _ = m.forward(X, dec_in, mask)
    logits2, _, _ = m.forward(wide_x, dec_in, mask)
    for b in range(3):
        xs, ys = X[b : b + 1, X[b] != PAD], Y[b : b + 1, Y[b] != PAD]  # each pair alone, unpadded
        d1, t1, m1 = m.teacher_forcing(ys)
        alone, a1, _ = m.forward(xs, d1, m1)
        n = m1.sum()
        np.testing.assert_allclose(logits[b, :n], alone[0], atol=1e-12)
        np.testing.assert_allclose(logits2[b, :n], alone[0], atol=1e-12)
        if alpha is not None:
            np.testing.assert_allclose(alpha[b, :n, X[b] != PAD], a1[0].T, atol=1e-12)
            assert np.all(alpha[b, :, X[b] == PAD] == 0)
    # the loss and its gradient ignore what sits in padded decoder inputs
    m.zero_grads()
    loss, dl = m.loss.forward_backward(target, logits, mask)
    m.backward(dl, m.forward(X, dec_in, mask)[2])
    g1 = {k: v.copy() for k, v in m.grads.items()}
    junk = np.where(mask, dec_in, 5)
    logits3, _, cache3 = m.forward(X, junk, mask)
    loss3, dl3 = m.loss.forward_backward(target, logits3, mask)
    m.zero_grads()
    m.backward(dl3, cache3)
    assert loss3 == pytest.approx(loss, abs=1e-13)
    for k in g1:
        np.testing.assert_allclose(m.grads[k], g1[k], atol=1e-12)


# ----------------------------------------------------------------------------- decoding
def test_greedy_equals_beam_width_one_and_brute_force_beam(rng):
    m = Seq2Seq(9, 6, units=6, embed_dim=4, seed=3, attention="general", dtype="float64", max_target_len=3)
    for p in m.params.values():
        p[...] = rng.standard_normal(p.shape) * 0.8
    x = np.array([[4, 5, 6], [7, 0, 0], [8, 6, 0], [5, 5, 5]])
    greedy, g_scores, _ = greedy_decode(m, x, 3)
    beam1, b_scores = beam_search(m, x, 1, 3, length_penalty=0.0)
    assert all(np.array_equal(a, b) for a, b in zip(greedy, beam1))
    np.testing.assert_allclose(b_scores, g_scores, atol=1e-12)
    assert [list(r) for r in decode(m, x)] == [list(r) for r in decode(m, x, beam_width=1)]
    # a beam as wide as the whole search space finds the most probable output exactly
    emit = [END, 3, 4, 5]  # PAD and START are never emitted
    best = []
    for b in range(len(x)):
        scores = {}
        for L in range(0, 4):
            for seq in itertools.product([3, 4, 5], repeat=L):
                scores[seq] = _log_prob(m, x[b : b + 1], list(seq) + ([END] if L < 4 else []))
        for seq in itertools.product([3, 4, 5], repeat=4):  # unfinished at max_len + 1 steps
            scores[seq] = _log_prob(m, x[b : b + 1], list(seq))
        best.append(max(scores, key=scores.get))
    wide, _ = beam_search(m, x, len(emit) ** 4, 3, length_penalty=0.0)
    assert [tuple(w) for w in wide] == best


def test_wide_beam_with_the_default_length_penalty_equals_brute_force():
    """With the default length penalty (α = 1: mean log-probability per token, END counted), a
    beam as wide as the search space returns argmax S(y) / |y| over every possible output."""
    m = Seq2Seq(9, 6, units=6, embed_dim=4, seed=5, attention="dot", dtype="float64", max_target_len=3)
    rng = np.random.default_rng(3)  # weights where α = 0 and α = 1 disagree
    for p in m.params.values():
        p[...] = rng.standard_normal(p.shape) * 0.8
    x = np.array([[4, 5, 6], [7, 0, 0], [8, 6, 0], [5, 5, 5], [6, 4, 0]])
    best, best_score = [], []
    for b in range(len(x)):
        scores = {}
        for L in range(0, 4):  # L tokens, then END: |y| = L + 1
            for seq in itertools.product([3, 4, 5], repeat=L):
                scores[seq] = _log_prob(m, x[b : b + 1], list(seq) + [END]) / (L + 1)
        for seq in itertools.product([3, 4, 5], repeat=4):  # unfinished after max_len + 1 steps
            scores[seq] = _log_prob(m, x[b : b + 1], list(seq)) / 4
        best.append(max(scores, key=scores.get))
        best_score.append(scores[best[-1]])
    wide, got = beam_search(m, x, 4**4, 3)  # default length_penalty=1.0
    assert [tuple(w) for w in wide] == best
    np.testing.assert_allclose(got, best_score, rtol=0, atol=1e-12)
    raw, _ = beam_search(m, x, 4**4, 3, length_penalty=0.0)
    assert any(tuple(a) != tuple(b) for a, b in zip(raw, wide))  # the penalty changes some answers


def _log_prob(m, x, seq):
    memory, mask, states, _ = m.encode(x)
    tok, total = 1, 0.0
    for t in seq:
        logp, states, _ = m.decode_step(np.array([tok]), states, memory, mask)
        total += logp[0, t]
        tok = t
    return total


# ----------------------------------------------------------------------------- a trained model
@pytest.fixture(scope="module")
def dates_model():
    """A reduced dates model trained in CI time (5 epochs of 6000 pairs: ~6 s CPU, ~25 s on loaded shared cores)."""
    data = dates_dataset(6000, 400, seed=1)
    m = Seq2Seq(data.source_vocab, data.target_vocab, units=64, embed_dim=16, attention="general", seed=0)
    m.compile(boucle.optimizers.Adam(ExponentialDecay(8e-3, 0.6, 6000 // 32), clipnorm=5.0))
    m.fit(data.x_train, data.y_train, batch_size=32, epochs=5, verbose=0)
    return m, data


@pytest.mark.slow
def test_reduced_dates_model_learns(dates_model):
    m, data = dates_model
    logs = m.evaluate(data.x_test, data.y_test)
    assert logs["exact_match"] >= 0.9  # held-out calendar dates, greedy decoding (0.97 measured)
    assert logs["accuracy"] >= 0.99
    assert m.evaluate(data.x_test, data.y_test, beam_width=3)["exact_match"] >= logs["exact_match"]
    assert m.translate("lundi 21 août 2017") == "2017-08-21"
    src, out, alpha = attention_map(m, "21/08/2017")
    assert out == "2017-08-21" and alpha.shape == (11, 10)
    np.testing.assert_allclose(alpha.sum(1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_save_load_identical_decodes(dates_model, tmp_path):
    m, data = dates_model
    path = tmp_path / "dates.safetensors"
    boucle.save(m, path, include_optimizer=True)
    m2 = boucle.load(path)
    assert isinstance(m2, Seq2Seq) and m2.get_config() == m.get_config()
    texts = data.x_test[:40]
    assert translate(m2, texts) == translate(m, texts)
    assert translate(m2, texts, beam_width=3) == translate(m, texts, beam_width=3)
    x = m.source_ids(texts)
    d, t, k = m.teacher_forcing(m.target_ids(data.y_test[:40]))
    np.testing.assert_array_equal(m.forward(x, d, k)[0], m2.forward(x, d, k)[0])
    assert m2.optimizer is not None and m2.optimizer.iterations == m.optimizer.iterations
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelFileError):
        boucle.load(tmp_path / "cut.safetensors")


@pytest.mark.slow
def test_cli_translate(dates_model, tmp_path, capsys):
    m, _ = dates_model
    path = str(tmp_path / "dates.safetensors")
    boucle.save(m, path)
    assert cli(["translate", path, "21 août 2017", "Aug 21, 2017", "--beam", "3"]) == 0
    assert capsys.readouterr().out.split() == ["2017-08-21", "2017-08-21"]
    bad = [
        ([path, "21 août 2017", "--beam", "0"], "argument --beam: expected an int in [1, 1000]"),
        ([path, "21 août 2017 §"], "unknown ['§']"),
        ([path, ""], "non-empty"),
        ([path, "x" * 200], "at most"),
        ([str(tmp_path / "missing.safetensors"), "1/2/2000"], "no model file"),
    ]
    for args, msg in bad:
        assert cli(["translate", *args]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert cli(["translate", path, "21 août 2017 §", "--unknown", "unk"]) == 0
    seq = boucle.Sequential([boucle.layers.Dense(2, input_shape=(3,))])
    boucle.save(seq, tmp_path / "seq.safetensors")
    assert cli(["translate", str(tmp_path / "seq.safetensors"), "1/2/2000"]) == 2
    assert "expected a Seq2Seq" in capsys.readouterr().err


@pytest.mark.slow
def test_bad_input_one_line_errors(dates_model):
    m, _ = dates_model
    cases = [
        (lambda: m.translate("21 août 2017 ¤"), r"unknown \['¤'\] at position\(s\) \[13\]"),
        (lambda: m.translate(""), "non-empty"),
        (lambda: m.translate("1" * (m.max_source_len + 1)), "at most"),
        (lambda: m.translate("21 août 2017", beam_width=0), "beam_width"),
        (lambda: m.translate("21 août 2017", beam_width=-2), "beam_width"),
        (lambda: m.translate("21 août 2017", max_len=0), "max_len"),
        (lambda: m.translate("21 août 2017", length_penalty=-1.0), "length_penalty"),
        (lambda: m.translate("21 août 2017", unknown="drop"), "unknown"),
        (lambda: decode(m, np.array([[999]])), r"token ids in \[0"),
        (lambda: m.fit(["1/1/2000"], ["2000-01-01", "2000-01-02"]), "expected 1 targets"),
        (lambda: Seq2Seq(10, 10, attention="dot", bidirectional=True), "dot"),
        (lambda: Seq2Seq(10, 10, cell="lstmm"), "cell"),
        (lambda: Seq2Seq(2, 10), "source_vocab"),
        (lambda: Seq2Seq(10, 10).translate("abc"), "character vocabularies"),
    ]
    for fn, msg in cases:
        with pytest.raises(BoucleError, match=msg) as err:
            fn()
        assert "\n" not in str(err.value)
    out = m.translate("21 août 2017 ¤", unknown="unk")  # ¤ becomes <unk>
    assert isinstance(out, str) and len(out) == 10
    assert m.source_vocab.encode("21 ¤", unknown="unk")[-1] == UNK
    with pytest.warns(UserWarning, match="truncated"):
        m.translate("21/08/2017" + " " * m.max_source_len, too_long="truncate")


# ----------------------------------------------------------------------------- training options
def test_autoencoder_is_one_line_and_learns_to_copy():
    vocab = Vocabulary("abcde", specials=True)
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcde"), rng.integers(2, 6))) for _ in range(1500)]
    fresh = ["".join(rng.choice(list("abcde"), rng.integers(2, 6))) for _ in range(200)]
    ae = Seq2Seq.autoencoder(vocab, units=48, embed_dim=16, attention="general", seed=0)
    ae.compile(boucle.optimizers.Adam(1e-2, clipnorm=5.0))
    hist = ae.fit(words, epochs=4, batch_size=32, verbose=0)  # y omitted: target = source
    assert hist.history["loss"][-1] < 0.05 * hist.history["loss"][0]
    assert ae.evaluate(fresh)["exact_match"] >= 0.95
    assert ae.translate("abcde") == "abcde"
    memory, mask, states, _ = ae.encode(ae.source_ids(["abc", "edcba"]))
    assert states[0][0].shape == (2, 48)  # the code of each sequence


def test_scheduled_sampling_and_determinism():
    data = addition_dataset(600, 50, digits=2, seed=0)

    def run(p):
        m = Seq2Seq(data.source_vocab, data.target_vocab, units=16, embed_dim=8, seed=5)
        m.compile(boucle.optimizers.Adam(1e-2))
        h = m.fit(data.x_train, data.y_train, epochs=2, verbose=0, scheduled_sampling=p)
        return m, h

    a, ha = run(lambda epoch: 0.5 * epoch)
    b, hb = run(lambda epoch: 0.5 * epoch)
    c, hc = run(0.0)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)  # same seed, same run
    assert ha.history["loss"][0] == hc.history["loss"][0]  # p = 0 in epoch 0
    assert not np.array_equal(a.params["output/W"], c.params["output/W"])  # p = 0.5 in epoch 1
    assert ha.history["loss"][1] < ha.history["loss"][0]
    with pytest.raises(BoucleError, match="scheduled_sampling"):
        c.fit(data.x_train, data.y_train, epochs=1, verbose=0, scheduled_sampling=1.5)
    with pytest.raises(BoucleError, match="compile"):
        Seq2Seq(10, 10).fit(np.array([[4, 5]]), np.array([[4]]))


def test_datasets_hold_out_dates_and_questions():
    d = dates_dataset(3000, 500, seed=2)
    assert not set(d.y_train) & set(d.y_test)  # held-out calendar dates
    assert all(len(y) == 10 and y[4] == "-" for y in d.y_test)
    assert dates_dataset(50, 10, seed=2).x_train == dates_dataset(50, 10, seed=2).x_train
    assert all(d.source_vocab.encode(t).size for t in d.x_train + d.x_test)
    a = addition_dataset(3000, 300, seed=1)
    assert not set(a.x_train) & set(a.x_test)
    assert all(int(q.split("+")[0]) + int(q.split("+")[1]) == int(s) for q, s in zip(a.x_test, a.y_test))
    v = Vocabulary("ab", specials=True)
    assert v.decode(v.encode("ba").tolist() + [END, 4]) == "ba" and len(v) == 6
    with pytest.raises(BoucleError, match="n_train"):
        dates_dataset(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert v.encode("ab", max_len=2).tolist() == [4, 5]


def test_cli_train_seq2seq_then_translate(tmp_path, capsys):
    path = str(tmp_path / "add.safetensors")
    assert (
        cli(
            [
                "train-seq2seq",
                "--task",
                "addition",
                "--out",
                path,
                "--n-train",
                "300",
                "--n-test",
                "40",
                "--epochs",
                "1",
                "--units",
                "8",
                "--embed",
                "4",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    assert "exact match" in capsys.readouterr().out
    assert cli(["translate", path, "12+3", "--beam", "2"]) == 0
    assert capsys.readouterr().out.strip().isdigit()
    assert cli(["train-seq2seq", "--task", "dates", "--out", path, "--units", "0"]) == 2
    assert "argument --units: expected an int > 0, got '0'" in capsys.readouterr().err


def test_examples_run_with_small_settings(tmp_path):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    for name, args in (
        (
            "dates",
            [
                "--n-train",
                "300",
                "--n-test",
                "30",
                "--epochs",
                "1",
                "--units",
                "16",
                "--beam",
                "2",
                "--plot",
                str(tmp_path / "att.png"),
                "--out",
                str(tmp_path / "d.safetensors"),
                "--verbose",
                "0",
            ],
        ),
        (
            "addition",
            ["--n-train", "300", "--n-test", "30", "--epochs", "1", "--units", "16", "--beam", "2", "--verbose", "0"],
        ),
    ):
        spec = importlib.util.spec_from_file_location(f"boucle_example_{name}", root / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        res = module.main(args)
        assert 0.0 <= res["exact_match_greedy"] <= 1.0 and res["epochs"] == 1
    assert (tmp_path / "att.png").stat().st_size > 1000 and (tmp_path / "d.safetensors").exists()


def test_config_round_trip_and_unknown_keys():
    m = Seq2Seq(
        Vocabulary("abc", specials=True),
        12,
        units=8,
        bidirectional=True,
        attention="additive",
        attention_units=5,
        seed=1,
    )
    m2 = Seq2Seq.from_config(m.get_config())
    assert m2.get_config() == m.get_config()
    assert all(np.array_equal(m.params[k], m2.params[k]) for k in m.params)  # same seed, same weights
    with pytest.raises(BoucleError, match=r"unknown \['colour'\]"):
        Seq2Seq.from_config({**m.get_config(), "colour": "red"})


def test_max_lengths_limit_inference_not_training():
    m = Seq2Seq(12, 12, units=8, embed_dim=4, seed=0)
    m.compile("adam")
    m.fit(np.array([[4, 5, 6]]), np.array([[7, 8]]), verbose=0)
    assert (m.max_source_len, m.max_target_len) == (3, 2)
    m.fit(np.array([[4, 5, 6, 7, 8]]), np.array([[7, 8, 9]]), verbose=0)  # longer data: allowed
    assert (m.max_source_len, m.max_target_len) == (5, 3)
    assert m.evaluate(np.array([[4, 5, 6, 7, 8, 9]]), np.array([[7]]))["loss"] > 0
    with pytest.raises(BoucleError, match="at most 5 tokens"):
        decode(m, np.array([[4, 5, 6, 7, 8, 9]]))
    assert len(decode(m, np.array([[4, 5]]), max_len=2)[0]) <= 2  # decoding limit


@pytest.mark.parametrize("name", ["lstm_bi_concat_additive", "gru_bi_sum_general_words"])
def test_files_written_before_the_encoder_decoder_split_load_and_decode_the_same(name):
    """Files (and outputs) written by boucle before Seq2Seq became an encoder + the shared decoder
    (tests/fixtures/seq2seq_v1/make.py): same config format, same tensors, same numbers bit for bit."""
    from pathlib import Path

    folder = Path(__file__).resolve().parent / "fixtures" / "seq2seq_v1"
    m = boucle.load(folder / f"seq2seq_{name}.safetensors")
    want = np.load(folder / f"seq2seq_{name}.npz")
    assert isinstance(m, Seq2Seq) and m.optimizer is not None
    logits, alpha, _ = m.forward(want["x"], want["dec_in"], want["mask"])
    np.testing.assert_array_equal(logits, want["logits"])
    np.testing.assert_array_equal(alpha, want["alpha"])
    greedy, g_scores, _ = greedy_decode(m, want["x"], 6)
    beam, b_scores = beam_search(m, want["x"], 3, 6)
    for got, ref in ((greedy, want["greedy"]), (beam, want["beam"])):
        assert [list(r) for r in got] == [list(r[r != PAD]) for r in ref]
    np.testing.assert_array_equal(g_scores, want["greedy_scores"])
    np.testing.assert_array_equal(b_scores, want["beam_scores"])
