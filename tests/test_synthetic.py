"""Synthetic sequence tasks: shapes, determinism and the properties that define them."""

import math

import numpy as np
import pytest

from boucle.data.tasks.synthetic import (
    ADDING_BASELINE_MSE,
    MELODY_PATTERNS,
    REBER_SYMBOLS,
    adding_problem,
    copy_baseline,
    copy_task,
    embedded_reber,
    embedded_reber_string,
    is_embedded_reber,
    is_reber,
    melodies,
    reber_next_symbols,
    reber_string,
    sine_mixture,
)
from boucle.errors import BoucleError


def test_adding_problem_markers_targets_and_baseline():
    x, y = adding_problem(4000, 20, seed=0, dtype="float64")
    assert x.shape == (4000, 20, 2) and y.shape == (4000, 1) and x.dtype == np.float64
    marks = x[..., 1]
    assert (marks.sum(1) == 2).all()
    assert (marks[:, :10].sum(1) == 1).all() and (marks[:, 10:].sum(1) == 1).all()  # one marker per half
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * marks).sum(1))
    assert 0 <= x[..., 0].min() and x[..., 0].max() < 1
    # predicting the mean (1.0) scores Var(u1 + u2) = 1/6
    assert abs(np.mean((y - 1.0) ** 2) - ADDING_BASELINE_MSE) < 0.01
    x2, y2 = adding_problem(4000, 20, seed=0, dtype="float64")
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(adding_problem(5, 20, seed=1)[0], adding_problem(5, 20, seed=2)[0])
    assert adding_problem(3, 5, seed=0)[0].dtype == np.float32


def test_copy_task_layout_and_baseline():
    x, y = copy_task(50, length=5, delay=7, n_symbols=4, seed=3)
    assert x.shape == y.shape == (50, 17)
    assert np.array_equal(y[:, -5:], x[:, :5])
    assert (x[:, :5] >= 1).all() and (x[:, :5] <= 4).all()
    assert (x[:, 11] == 5).all() and (np.delete(x[:, 5:], 6, axis=1) == 0).all()  # recall marker only
    assert (y[:, :12] == 0).all()
    assert copy_baseline(5, 7, 4) == pytest.approx(5 * math.log(4) / 17)
    assert np.array_equal(copy_task(3, seed=9)[0], copy_task(3, seed=9)[0])


def test_reber_strings_are_accepted_and_acceptor_rejects_others():
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = reber_string(rng)
        assert is_reber(s) and s[0] == "B" and s[-1] == "E"
        e = embedded_reber_string(rng)
        assert is_embedded_reber(e) and e[1] == e[-2]
    for good in ("BTXSE", "BPVVE", "BTSSXXTVVE", "BPTVPXVVE"):
        assert is_reber(good)
    for bad in ("", "BTE", "BTXS", "BTSSXXTVPE", "BPVVEE", "TXSE", 42):
        assert not is_reber(bad)
    assert is_embedded_reber("BTBTXSETE") and is_embedded_reber("BPBPVVEPE")
    assert not is_embedded_reber("BTBTXSEPE")  # the second symbol must come back
    assert not is_embedded_reber("BTBTXSTE")
    assert len(embedded_reber_string(1, max_length=12)) <= 12


def test_reber_next_symbols_follow_the_grammar():
    assert reber_next_symbols("") == "B"
    assert sorted(reber_next_symbols("B")) == ["P", "T"]
    assert sorted(reber_next_symbols("BT")) == ["B"]
    assert sorted(reber_next_symbols("BTBTS")) == ["S", "X"]
    assert reber_next_symbols("BPBTXSE") == "P"  # the long-range step: only the 2nd symbol tells
    assert reber_next_symbols("BPBTXSEP") == "E"
    assert reber_next_symbols("BPBTXSEPE") == ""
    assert sorted(reber_next_symbols("BTX", embedded=False)) == ["S", "X"]
    for bad in ("X", "BX", "BTBQ", "BTBTXSEX"):
        with pytest.raises(BoucleError, match="prefix"):
            reber_next_symbols(bad)


def test_embedded_reber_dataset_targets_and_mask():
    x, y, mask, strings = embedded_reber(40, seed=5, max_length=25, dtype="float64")
    assert x.shape == y.shape and x.shape[0] == 40 and x.shape[2] == len(REBER_SYMBOLS)
    assert mask.sum(1).tolist() == [len(s) - 1 for s in strings]
    for i, s in enumerate(strings):
        n = len(s) - 1
        assert "".join(REBER_SYMBOLS[k] for k in x[i, :n].argmax(-1)) == s[:-1]
        for t in range(n):
            allowed = {REBER_SYMBOLS[k] for k in np.nonzero(y[i, t])[0]}
            assert allowed == set(reber_next_symbols(s[: t + 1])) and s[t + 1] in allowed
        assert not x[i, n:].any() and not y[i, n:].any()
    again = embedded_reber(40, seed=5, max_length=25)
    assert again[3] == strings


def test_sine_mixture():
    a = sine_mixture(300, components=2, period_range=(10, 20), seed=4)
    assert a.shape == (300, 1) and np.array_equal(a, sine_mixture(300, components=2, period_range=(10, 20), seed=4))
    assert np.abs(a).max() <= 2.0
    spec = np.abs(np.fft.rfft(a[:, 0]))
    k = int(np.argmax(spec[1:])) + 1  # the strongest frequency bin
    assert 9 <= 300 / k <= 21
    with pytest.raises(BoucleError, match="period_range"):
        sine_mixture(10, period_range=(5, 1))


def test_melodies_are_transposed_patterns():
    c, y, info = melodies(64, seed=2, dtype="float64")
    assert c.shape == (64, 12 + len(MELODY_PATTERNS) + 2) and y.shape == (64, 8)
    assert (c.sum(1) == 3).all() and y.min() >= 0 and y.max() < info["n_notes"]
    pats = list(MELODY_PATTERNS.values())
    for i in range(64):
        notes = y[i, ::-1] if info["directions"][i] else y[i]
        assert tuple(notes - info["keys"][i]) == pats[info["pattern_ids"][i]]
        assert c[i, info["keys"][i]] == 1
    assert np.array_equal(melodies(5, seed=2)[1], melodies(5, seed=2)[1])
    with pytest.raises(BoucleError, match="patterns"):
        melodies(3, patterns=["jazz"])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: adding_problem(0, 10), "n: expected an int >= 1, got 0"),
        (lambda: adding_problem(3, 1), "T: expected an int >= 2, got 1"),
        (lambda: copy_task(3, length=True), "length"),
        (lambda: adding_problem(3, 5, seed=-1), "seed"),
        (lambda: embedded_reber_string(0, max_length=5), "max_length"),
    ],
)
def test_bad_arguments_raise_one_line_errors(call, match):
    with pytest.raises(BoucleError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- Python-source tagging

from boucle.data.tasks.tagging import (  # noqa: E402
    TAG_CLASSES,
    char_vocabulary,
    python_tagging_data,
    stdlib_sources,
    tag_python_source,
    tagging_windows,
)


def _classes(text):
    """One letter per character: _ space, n name, k keyword, s string, c comment, # number, o op."""
    return "".join("_nksc#o"[k] for k in tag_python_source(text))


def test_tag_python_source_labels_every_character():
    src = 'if x1 == 0x1F:  # hi\n    y = f"a{b}" + None\n'
    assert _classes(src) == "kk_nn_oo_####o__cccc_" + "____n_o_sssssss_o_kkkk_"
    got = dict(zip(range(len(src)), tag_python_source(src)))
    names = [TAG_CLASSES[got[i]] for i in range(len(src))]
    assert names[0] == names[1] == "keyword" and names[3] == names[4] == "name"
    assert names[src.index("0x1F")] == "number" and names[src.index("==")] == "op"
    assert {names[i] for i in range(src.index("#"), src.index("\n"))} == {"comment"}
    assert {names[i] for i in range(src.index('f"'), src.index('" +') + 1)} == {"string"}  # f-string whole
    assert names[src.index("None")] == "keyword" and names[src.index("    y")] == "space"
    assert len(tag_python_source("")) == 0


def test_tag_python_source_errors_name_source_and_line():
    with pytest.raises(BoucleError, match=r"f\.py:2: cannot tokenize as Python"):
        tag_python_source('x = 1\ny = """open\n', "f.py")
    with pytest.raises(BoucleError, match="text: expected a str"):
        tag_python_source(b"x = 1")


def test_tagging_windows_and_stdlib_data():
    data = tagging_windows([("a.py", "x = 1\n" * 5)], seq_len=8, stride=8)
    assert data.x.shape == (4, 8) and data.mask.sum() == 30 and not data.x[~data.mask].any()
    assert data.vocab["<pad>"] == 0 and data.vocab["<unk>"] == 1
    assert tagging_windows(["é = 1\n"], 4, vocab=char_vocabulary(["x = 1\n"])).x[0, 0] == 1  # unknown char
    train, test = python_tagging_data(seq_len=32, max_chars=600)
    assert train.x.shape[1] == 32 and test.vocab is train.vocab
    assert set(np.unique(train.y[train.mask])) <= set(range(len(TAG_CLASSES)))
    srcs = stdlib_sources(("keyword.py", "json.py"), max_chars=4000)  # json is a package
    assert [n for n, _ in srcs] == ["keyword.py", "json.py"] and all(0 < len(t) <= 4000 for _, t in srcs)
    with pytest.raises(BoucleError, match="cannot read"):
        stdlib_sources(("no_such_module.py",))
    with pytest.raises(BoucleError, match="test_files"):
        python_tagging_data(files=("keyword.py",), test_files=1)
