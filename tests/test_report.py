"""``boucle report``: the measurements behind the page, the page for every kind of model, and the page
opened in a real browser (the distribution's headless Chromium, driven over the DevTools protocol):
no console error, no request but the file itself, the sections in the DOM, no sideways scrolling on a
phone, and a screenshot that is not blank."""

import base64
import io
import math
import re

import numpy as np
import pytest
from browser import Browser
from PIL import Image

import boucle
from boucle.callbacks import History
from boucle.cli import main
from boucle.data.vocab import Vocabulary
from boucle.errors import BoucleError
from boucle.layers import LSTM, Conv2D, Dense, Flatten, MaxPooling2D
from boucle.models.charlm import CharModel
from boucle.models.seq2seq import Seq2Seq
from boucle.report import build_report, write_report
from boucle.report.card import benchmark_ratio
from boucle.report.charlm import gate_saturation, surprisal, text_features, trace, track_cells
from boucle.report.model_sections import default_inputs
from boucle.report.svg import png_data_uri

CODE = "".join(
    f"def f{i % 5}(x, y):\n    s = 'v{i}' + \"w\"  # c\n    return (x + {i % 3}) * y\n\n" for i in range(150)
)


def sections(html: str) -> list[str]:
    return re.findall(r'<section id="([a-z]+)">', html)


def test_text_features():
    text = "def f(x):\n    s = 'a\\'b' + \"c\"  # it's\n    return '''x\ny'''\n"
    f = text_features(text)
    inside = "".join(str(int(v)) for v in f["inside a string"])
    assert inside == "0" * 18 + "11111" + "0000" + "11" + "0" * 21 + "1111110000"
    assert [int(v) for v in f["position in the line"][:12]] == list(range(10)) + [0, 1]
    assert set(f["indentation"][10:52]) == {4.0} and f["indentation"][0] == 0 and f["indentation"][-4] == 0


def test_track_cells_and_gate_saturation(rng):
    T = 500
    feats = {"a": rng.standard_normal(T), "b": np.arange(T) % 17.0}
    cells = rng.standard_normal((T, 6)) * 0.1
    cells[:, 4] += feats["a"]
    cells[:, 1] -= feats["b"] / 17
    found = track_cells(cells, feats, [f"cell {j}" for j in range(6)])
    assert [(f["feature"], f["cell"]) for f in found] == [("a", 4), ("b", 1)]
    assert found[0]["r"] > 0.95 and found[1]["r"] < -0.9
    gates = [{"forget": np.array([[0.05, 0.5], [0.95, 0.5], [0.95, 0.99], [0.5, 0.02]])}]
    left, right = gate_saturation(gates)[0]["forget"]
    assert list(left) == [0.25, 0.25] and list(right) == [0.5, 0.25]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_trace_is_the_model_and_surprisal_its_loss(cell):
    model = CharModel(Vocabulary.from_text(CODE), cell=cell, layers=2, hidden=10, embed=6, seed=2)
    ids = model.vocab.encode(CODE[:300])
    tr = trace(model, ids)
    assert np.abs(tr["logits"] - model.forward(ids[None])[0][0]).max() < 1e-5
    assert len(tr["h"]) == 2 and tr["h"][0].shape == (300, 10) and bool(tr["c"]) == (cell == "lstm")
    bits = surprisal(tr["logits"], ids)  # one row from zero states: evaluate's mean, in bits
    assert bits.mean() == pytest.approx(model.evaluate(ids, batch_size=1, seq_len=400)["bpc"], rel=1e-5)


def test_png_and_benchmark_lookup(tmp_path):
    img = np.linspace(0, 1, 12).reshape(3, 4)
    uri = png_data_uri(img, scale=2)
    got = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert got.shape == (6, 8) and np.array_equal(got[::2, ::2], (img * 255 + 0.5).astype(np.uint8))
    md = tmp_path / "benchmarks.md"
    md.write_text(
        "## Recurrent\n\n**1 thread per library, CPU time**:\n\n"
        "| cell | B | H | boucle train | torch train | ratio | torch loop | ratio |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| LSTM | 32 | 64 | 4 ms | 5 ms | 0.80x | 9 ms | 0.44x |\n"
        "| LSTM | 32 | 256 | 40 ms | 30 ms | 1.33x | 99 ms | 0.40x |\n"
        "| RNN | 32 | 256 | 1 ms | 2 ms | 0.50x | 3 ms | 0.33x |\n"
    )
    model = CharModel(Vocabulary.from_text("abc"), hidden=200, embed=2, layers=1, seed=0)
    assert benchmark_ratio(model, md).startswith("1.33x = boucle 40 ms / torch 30 ms")
    assert benchmark_ratio(boucle.Sequential([Dense(2, input_shape=(3,))]), md).startswith("no recurrent cell")
    assert "not at hand" in benchmark_ratio(model, tmp_path / "missing.md")


def test_report_of_each_model_kind(tmp_path, rng):
    from boucle.data.tasks.translation import dates_dataset

    d = dates_dataset(300, 20, seed=0)
    s2s = Seq2Seq(d.source_vocab, d.target_vocab, units=8, embed_dim=4, attention="general", seed=0)
    assert default_inputs(s2s) and all(isinstance(t, str) for t in default_inputs(s2s))
    html = build_report(s2s, inputs=["12 mai 2001"])
    assert sections(html) == ["card", "attention"] and "12 mai 2001 →" in html and "<rect" in html

    esn = boucle.reservoir.ESN(40, spectral_radius=0.9, seed=0)
    u = rng.uniform(-1, 1, (300, 1))
    esn.fit(u[:-1], u[1:])
    html = build_report(esn, data={"x": u[:-1], "y": u[1:]})
    assert sections(html) == ["card", "reservoir", "prediction", "memory"]
    assert "all 40 eigenvalues" in html and "|λ| = 0.9" in html and "MC = Σ_k MC_k" in html

    cnn = boucle.Sequential(
        [
            Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
            MaxPooling2D(),
            Flatten(),
            Dense(2, activation="softmax"),
        ],
        seed=0,
    )
    cnn.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    x, y = rng.random((16, 8, 8, 1)).astype(np.float32), np.eye(2)[rng.integers(0, 2, 16)]
    cnn.fit(x, y, epochs=3, verbose=0, validation_split=0.25)
    assert write_report(cnn, tmp_path / "cnn.html", data={"x": x[:1]}) == str(tmp_path / "cnn.html")
    html = (tmp_path / "cnn.html").read_text()
    assert sections(html) == ["card", "curves", "cnn"]
    assert html.count("data:image/png;base64,") == 4 + 1 + 4  # filters, the input, its maps
    assert "val_accuracy" in html and "learning rate" in html
    with pytest.raises(BoucleError, match=r"expected images of shape \(8, 8, 1\)"):
        build_report(cnn, data={"x": rng.random((1, 9, 9, 1))})


def test_curves_without_a_recorded_learning_rate():
    model = boucle.Sequential([LSTM(2, input_shape=(3, 1))])
    model.history = History({"loss": [1.0, 0.5]}, [0, 1], [4, 8])  # a history from an older file
    html = build_report(model)
    assert "was not recorded" in html and sections(html) == ["card", "curves"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small `boucle train` run (its corpus in its own folder), and its report."""
    root = tmp_path_factory.mktemp("report")
    (root / "src").mkdir()
    (root / "src" / "code.py").write_text(CODE)
    out = root / "run"
    assert (
        main(
            [
                "train",
                str(root / "src"),
                "--out",
                str(out),
                "--layers",
                "1",
                "--hidden",
                "16",
                "--embed",
                "4",
                "--seq-len",
                "16",
                "--batch-size",
                "8",
                "--steps",
                "30",
                "--val-every",
                "10",
                "--val-fraction",
                "0.2",
                "--quiet",
                "--sample-length",
                "0",
            ]
        )
        == 0
    )
    assert main(["report", str(out), "-o", str(root / "report.html")]) == 0
    return root


def test_report_command(run, capsys):
    html = (run / "report.html").read_text()
    assert sections(html) == ["card", "curves", "samples", "surprisal", "cells", "gates", "gradient"]
    assert "the run&#x27;s validation split" in html and "inside a string: layer 1, cell" in html
    assert html.count("<svg") >= 4 and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert main(["report", str(run / "run"), "-o", str(run / "report.html")]) == 2  # never overwritten
    assert "already exists" in capsys.readouterr().err
    assert main(["report", str(run / "run"), "-o", str(run / "r2.html"), "--text", str(run / "src" / "code.py")]) == 0
    assert "(from the given text;" in (run / "r2.html").read_text()
    assert main(["report", str(run / "nothing"), "-o", str(run / "r3.html")]) == 2


def test_report_in_chromium(run):
    url = (run / "report.html").as_uri()
    with Browser() as b:
        for width, mobile in ((1280, False), (390, True)):  # a desktop, then a phone
            b.open(url, width=width, height=900, mobile=mobile)
            assert b.errors == []
            assert all(u == url or u.startswith("data:") for u in b.requests), b.requests  # nothing fetched
            ids = b.evaluate("[...document.querySelectorAll('main > section')].map(s => s.id)")
            assert ids == ["card", "curves", "samples", "surprisal", "cells", "gates", "gradient"]
            assert b.evaluate("document.querySelectorAll('svg').length") >= 4
            assert b.evaluate("document.querySelector('#surprisal pre.text').textContent.length") > 100
            assert b.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
            widest = b.evaluate(
                "Math.max(...[...document.querySelectorAll('svg')].map(s => s.getBoundingClientRect().right))"
            )
            assert widest <= width
            png = np.asarray(Image.open(io.BytesIO(b.screenshot())).convert("RGB"), dtype=np.float64)
            assert png.shape[:2] == (900, width)
            colours = len(np.unique(png.reshape(-1, 3) // 8, axis=0))
            assert png.std() > 20 and colours > 20 and not math.isnan(png.mean())  # not blank
        bad = run / "bad.html"  # the negative control: the checks can fail
        bad.write_text("<p>x</p><img src='https://example.invalid/a.png'><script>console.error('e'); nope()</script>")
        b.open(bad.as_uri())
        assert len(b.errors) >= 2 and any(u.startswith("https://") for u in b.requests)
