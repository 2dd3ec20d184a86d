"""Every example in examples/ runs with small settings and learns above a stated bound."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"boucle_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_genre_many_to_one_learns_the_genres():
    ex = load("genre_many_to_one")
    res = ex.run(n=300, epochs=10, lr=0.1, seed=0)
    assert res["params"] == 13 * 100 + 100 + (100 * 100 + 100 * 100 + 100) + 100 * 3 + 3  # the slide's model
    assert res["test_accuracy"] >= 0.75, res  # chance: 1/3
    model = ex.build()
    assert [type(l).__name__ for l in model.layers] == ["Dense", "SimpleRNN", "Dense"]
    assert model.layers[1].return_sequences is False and model.optimizer.__class__.__name__ == "SGD"


def test_uea_classifier_on_a_generated_ts_fixture(tmp_path):
    ex = load("uea_classifier")
    train = ex.make_fixture(str(tmp_path / "f_TRAIN.ts"), 90, seed=0)
    test = ex.make_fixture(str(tmp_path / "f_TEST.ts"), 60, seed=1)
    res = ex.run(train, test, cell="lstm", units=16, epochs=8, seed=0)
    assert res["lengths"] == (8, 30) and res["channels"] == 3 and res["classes"] == 3
    assert res["test_accuracy"] >= 0.8, res  # chance: 1/3
    res_gru = ex.run(train, test, cell="gru", units=16, epochs=8, seed=0)
    assert res_gru["test_accuracy"] >= 0.8, res_gru


def test_uea_classifier_main_with_files(tmp_path, capsys):
    ex = load("uea_classifier")
    tr = ex.make_fixture(str(tmp_path / "a_TRAIN.ts"), 30, seed=2)
    te = ex.make_fixture(str(tmp_path / "a_TEST.ts"), 15, seed=3)
    res = ex.main(["--train", tr, "--test", te, "--epochs", "1", "--units", "4"])
    assert 0.0 <= res["test_accuracy"] <= 1.0 and "test accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_tagger_uni_and_bidirectional_beat_the_majority_class():
    ex = load("tagger_many_to_many")
    res = ex.run(max_chars=2500, epochs=6, units_bi=16, batch_size=16, seed=0)
    assert abs(res["uni"]["params"] - res["bi"]["params"]) / res["bi"]["params"] < 0.05  # equal size
    for tag in ("uni", "bi"):
        assert res[tag]["accuracy"] >= res["majority"] + 0.1, (tag, res[tag]["accuracy"], res["majority"])
        per = res[tag]["per_class"]
        assert set(per) == {"space", "name", "keyword", "string", "comment", "number", "op"}
        assert per["space"] > 0.5 and per["string"] > 0.5


@pytest.mark.slow
def test_melody_one_to_many_generates_the_melodies():
    ex = load("melody_one_to_many")
    res = ex.run(steps=200, units=32, seed=0)
    assert res["note_accuracy"] >= 0.8, res  # chance: 1/28 per note
    assert res["melody_accuracy"] >= 0.5, res
    assert len(res["example"]["generated"]) == 8


@pytest.mark.slow
def test_forecast_beats_persistence_one_step():
    ex = load("forecast")
    res = ex.run(n_steps=600, days=240, window=16, horizon=8, units=16, epochs=6, seed=0)
    mg, csv = res["mackey_glass"], res["csv"]
    assert mg["one_step_rmse"] < 0.8 * mg["persistence_one_step_rmse"], mg
    assert mg["multi_step_rmse"] < mg["persistence_multi_step_rmse"], mg
    assert csv["one_step_rmse"] < 0.8 * csv["persistence_one_step_rmse"], csv
    assert len(mg["rmse_by_step"]) == 8 and all(math.isfinite(v) for v in mg["rmse_by_step"])


def test_forecast_recursive_feeds_predictions_back():
    ex = load("forecast")

    class Echo:  # predicts "the last value + 1"
        def predict(self, x, batch_size=None):
            return x[:, -1, :] + 1.0

    out = ex.recursive_forecast(Echo(), np.zeros((2, 3, 1)), horizon=4)
    np.testing.assert_array_equal(out, [[1, 2, 3, 4], [1, 2, 3, 4]])


@pytest.mark.parametrize(
    "name", ["genre_many_to_one", "uea_classifier", "tagger_many_to_many", "melody_one_to_many", "forecast"]
)
def test_every_example_has_main_and_a_docstring(name):
    ex = load(name)
    assert callable(ex.main) and callable(ex.run) and ex.__doc__.strip()


@pytest.mark.slow
def test_word_embeddings_compares_three_embeddings(tmp_path):
    from boucle.data.english import Passage
    from boucle.data.loaders import WordVectors, save_vectors
    from boucle.data.tasks.docstrings import PACKAGES

    ex = load("word_embeddings")
    rng = np.random.default_rng(0)
    words = {p: [f"{p}word{i}" for i in range(6)] for p in PACKAGES}
    common = ["the", "a", "of", "return", "value"]
    passages = [
        Passage(" ".join(rng.choice(words[p] + common, 8)), f"{p}/m.py", 1, "docstring")
        for p in PACKAGES
        for _ in range(40)
    ]
    w2v, seconds = ex.train_word2vec([q.text for q in passages], epochs=5, dim=8, min_count=1, verbose=0)
    vecs = w2v.word_vectors()
    path = save_vectors(WordVectors(vecs.words, vecs.vectors + 0.01), tmp_path / "v.txt", "glove")
    res = ex.compare(w2v, str(path), epochs=6, lm_epochs=1, passages=passages)
    assert list(res["rows"]) == ["random", "boucle skip-gram", "GloVe 6B (pretrained)"]
    assert res["rows"]["GloVe 6B (pretrained)"]["oov"] == 0 and res["majority"] < 0.3
    assert res["rows"]["random"]["accuracy"] >= 0.8, res  # chance: 1/8
    for name, row in res["rows"].items():
        assert row["accuracy"] > res["majority"] + 0.1 and row["perplexity"] < res["vocab"], (name, row)
