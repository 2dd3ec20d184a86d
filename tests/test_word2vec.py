"""Skip-gram with negative sampling: the hand-written gradient against finite differences,
the pairs and noise words, learning a known co-occurrence structure, files, bad input."""

import contextlib

import numpy as np
import pytest

import boucle
from boucle.data.skipgram import SkipGramData, keep_probabilities, noise_distribution
from boucle.data.vocab import Vocabulary
from boucle.diagnostics import numerical_gradient, relative_error
from boucle.errors import BoucleError
from boucle.models import Word2Vec
from boucle.ops.word2vec import scatter_rows, sgns_backward, sgns_forward
from boucle.training import EarlyStopping, TerminateOnNaN


@contextlib.contextmanager
def one_line_error(match: str):
    with pytest.raises(BoucleError, match=match) as info:
        yield info
    assert "\n" not in str(info.value), str(info.value)


def _batch(B=6, K=4, D=5, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((B, D)) * scale,
        rng.standard_normal((B, D)) * scale,
        rng.standard_normal((B, K, D)) * scale,
    )


@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0])
def test_sgns_gradient_matches_finite_differences(scale):
    v, up, un = _batch(scale=scale)
    loss, cache = sgns_forward(v, up, un)
    grads = sgns_backward(cache)
    for arr, g in zip((v, up, un), grads):
        num = numerical_gradient(lambda: sgns_forward(v, up, un)[0], arr)
        assert relative_error(g, num) < 1e-7


def test_sgns_known_values_and_overflow():
    v, up, un = np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 2, 3))
    assert sgns_forward(v, up, un)[0] == pytest.approx(3 * np.log(2.0))  # σ(0) = 1/2, K = 2
    big = np.full((1, 1), 40.0)
    loss, cache = sgns_forward(big, big, -big[:, None, :])  # s_o = 1600, s_k = -1600
    assert loss == pytest.approx(0.0, abs=1e-12) and all(np.isfinite(g).all() for g in sgns_backward(cache))
    loss, _ = sgns_forward(big, -big, big[:, None, :])  # both wrong: J = 3200
    assert loss == pytest.approx(3200.0)


def test_gradient_check_catches_a_wrong_gradient():
    v, up, un = _batch()
    _, cache = sgns_forward(v, up, un)
    dv, dup, dun = sgns_backward(cache)
    num = numerical_gradient(lambda: sgns_forward(v, up, un)[0], un)
    assert relative_error(-dun, num) > 1.0  # a sign error in the noise term is caught


def test_scatter_rows_accumulates_repeated_ids():
    g = np.zeros((5, 2))
    scatter_rows(g, np.array([3, 1, 3, 3]), np.arange(8.0).reshape(4, 2))
    np.testing.assert_array_equal(g, [[0, 0], [2, 3], [0, 0], [0 + 4 + 6, 1 + 5 + 7], [0, 0]])


def test_model_gradient_on_the_tables_with_repeated_words():
    """The model's backward (gather, op, scatter) against finite differences on E and C, float64."""
    v = Vocabulary.words("a b c d e a b a", specials=True)
    m = Word2Vec(v, dim=3, negative=2, seed=0, dtype="float64")
    m.context.params["E"][...] = np.random.default_rng(1).standard_normal(m.context.params["E"].shape)
    batch = (np.array([4, 5, 4]), np.array([5, 4, 6]), np.array([[6, 4], [7, 7], [5, 8]]))
    m.zero_grads()
    m.train_backward(m.train_forward(batch).cache)
    for layer in m.layers:
        E = layer.params["E"]
        num = numerical_gradient(lambda: m.train_forward(batch).loss, E)
        assert relative_error(layer.grads["E"], num) < 1e-7


def test_subsampling_and_noise_follow_the_counts():
    counts = np.array([0, 0, 0, 0, 1000, 10, 1])
    keep = keep_probabilities(counts, 1e-2)
    f = 1000 / 1011
    assert keep[4] == pytest.approx((np.sqrt(f / 1e-2) + 1) * 1e-2 / f) and keep[5] == keep[6] == 1.0
    assert keep[:4].tolist() == [1.0] * 4 and keep_probabilities(counts, 0).tolist() == [1.0] * 7
    p = noise_distribution(counts, 0.75)
    assert p[:4].sum() == 0 and p[4] / p[5] == pytest.approx(100**0.75)


def test_pairs_stay_in_the_window_and_the_document():
    docs = [np.arange(4, 10), np.arange(10, 14)]
    data = SkipGramData(docs, np.ones(14, int), window=2, negative=3, sample=0, batch_size=7)
    rng = np.random.default_rng(0)
    c, o = data.pairs(rng)
    assert len(c) and np.all(np.abs(c - o) <= 2) and np.all(c != o)
    assert not np.any((c < 10) != (o < 10))  # no pair crosses the two documents
    epoch = data.epoch(rng)
    batches = list(epoch)
    assert len(batches) == len(epoch) and sum(len(b[0]) for b in batches) == len(epoch.centers)
    assert all(len(b[0]) == 7 for b in batches[:-1])
    for cc, _oo, neg in batches:
        assert neg.shape == (len(cc), 3) and neg.min() >= 0 and neg.max() < 14


def _topics(n_docs=1500, seed=0):
    """Four topics of five words; a document draws 8 words from one topic."""
    rng = np.random.default_rng(seed)
    topics = [[f"{t}{i}" for i in range(5)] for t in "pqrs"]
    return topics, [" ".join(rng.choice(topics[rng.integers(4)], 8)) for _ in range(n_docs)]


def test_learns_a_known_co_occurrence_structure():
    topics, texts = _topics()
    vocab = Vocabulary.words(texts)
    m = Word2Vec(vocab, dim=10, window=3, negative=4, sample=0, seed=0)
    hist = m.fit(texts, epochs=3, batch_size=256, optimizer=boucle.optimizers.Adam(1e-2), verbose=0)
    assert hist.history["loss"][-1] < 0.8 * hist.history["loss"][0]
    for topic in topics:
        for w in topic:
            assert {n for n, _ in m.nearest(w, 4)} == set(topic) - {w}, (w, m.nearest(w, 4))
    assert m.similarity("p0", "p1") > 0.5 > m.similarity("p0", "q0")


def test_analogy_and_nearest_exclude_their_words():
    topics, texts = _topics(300)
    m = Word2Vec(Vocabulary.words(texts), dim=4, seed=0)
    m.fit(texts, epochs=1, verbose=0)
    got = [w for w, _ in m.analogy("p0", "p1", "q0", k=5)]
    assert not {"p0", "p1", "q0"} & set(got) and len(got) == 5
    assert all(w not in ("<pad>", "<unk>") for w, _ in m.nearest("p0", 25))
    with one_line_error("word: 'zzz' is not in the vocabulary of 20 words"):
        m.nearest("zzz")
    with one_line_error("k: expected a positive int, got 0"):
        m.nearest("p0", 0)


def test_save_load_and_resume_through_the_engine(tmp_path):
    topics, texts = _topics(200)
    m = Word2Vec(Vocabulary.words(texts), dim=4, seed=3)
    m.fit(texts, epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="loss", patience=0), TerminateOnNaN()])
    boucle.save(m, tmp_path / "w.safetensors", include_optimizer=True)
    back = boucle.load(tmp_path / "w.safetensors")
    assert back.vocab == m.vocab and back.vocab.counts.tolist() == m.vocab.counts.tolist()
    np.testing.assert_array_equal(back.vectors, m.vectors)
    m.fit(texts, epochs=1, verbose=0)
    back.fit(texts, epochs=1, verbose=0)
    np.testing.assert_array_equal(back.vectors, m.vectors)  # resumes bit-identically
    assert len(back.history.epoch) == 2 and back.step == m.step


def test_divergence_is_refused_by_the_engine():
    topics, texts = _topics(100)
    m = Word2Vec(Vocabulary.words(texts), dim=4, seed=0)
    m.context.params["E"][4] = np.inf
    before = m.vectors
    with pytest.warns(boucle.errors.DivergenceWarning, match="the loss is nan"):
        hist = m.fit(texts, epochs=2, verbose=0)
    assert hist.stopped_reason and "loss" in hist.stopped_reason
    np.testing.assert_array_equal(m.vectors, before)


def test_bad_input_gets_one_line_errors():
    with one_line_error("texts: expected at least one word, got none"):
        Vocabulary.words([])
    with one_line_error("texts: expected at least one word, got none"):
        Vocabulary.words(["", "  ", "\n"])
    with one_line_error("vocab: expected at least 2 words to tell apart, got 1"):
        Word2Vec(Vocabulary.words("spam spam spam"))
    with one_line_error("vocab: expected a word Vocabulary"):
        Word2Vec(Vocabulary.from_text("abc"))
    m = Word2Vec(Vocabulary.words("spam eggs"), dim=2)
    with one_line_error("texts: expected at least 2 words of the vocabulary, got 0"):
        m.fit(["ham ham"], verbose=0)
    with one_line_error("texts: expected a list of texts"):
        m.fit("spam eggs", verbose=0)
    with one_line_error("dim: expected a positive int, got 0"):
        Word2Vec(Vocabulary.words("spam eggs"), dim=0)
    with one_line_error("sample: expected a float >= 0"):
        Word2Vec(Vocabulary.words("spam eggs"), sample=-1)
    with one_line_error("window: expected a positive int"):
        SkipGramData([np.array([4, 5])], np.ones(6, int), window=0)
