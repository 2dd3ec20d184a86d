"""The ``boucle`` command end to end: train -> checkpoint -> generate -> evaluate -> info,
``--resume`` bit-identical, ``python -m boucle``, ``--help``, and every bad input (exit code 2,
one line on stderr, nothing written)."""

import math
import re
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy

import boucle
from boucle.cli import build_parser, main
from boucle.layers import Dense

CODE = "".join(f"def f{i % 5}(x, y):\n    return (x + {i % 3}) * y\n\n" for i in range(120))
SMALL = [
    "--layers",
    "1",
    "--hidden",
    "16",
    "--embed",
    "4",
    "--seq-len",
    "16",
    "--batch-size",
    "4",
    "--val-every",
    "5",
    "--val-fraction",
    "0.1",
    "--sample-length",
    "20",
]


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "a.py").write_text(CODE[:2000])
    (d / "b.py").write_text(CODE[2000:])
    (d / "notes.txt").write_text("not read with --glob '*.py'")
    return d


def train(src, out, *extra):
    return main(["train", str(src), "--glob", "*.py", "--out", str(out), *SMALL, *extra])


def tensors(path):
    return safetensors.numpy.load_file(str(path))


def test_end_to_end(src, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(src, out, "--steps", "10", "--plot") == 0
    text = capsys.readouterr().out
    assert "corpus: 2 files" in text and "step 5: train bpc" in text and "val bpc" in text
    assert "sample at step 10" in text and "done: 10 steps" in text
    assert (out / "model.safetensors").is_file() and not list(out.glob(".*tmp*"))
    assert (out / "bpc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    args = ["generate", str(out), "--prime", "def", "--length", "40", "--seed", "3"]
    assert main(args) == 0
    g1 = capsys.readouterr().out
    assert main(args) == 0 and capsys.readouterr().out == g1  # same seed, same text
    assert g1.startswith("def") and len(g1) == 3 + 40 + 1
    assert main(args[:-1] + ["4"]) == 0 and capsys.readouterr().out != g1
    assert main(["generate", str(out / "model.safetensors"), "--length", "5", "--top-k", "1", "--top-p", "0.5"]) == 0

    assert main(["evaluate", str(out), str(src), "--glob", "*.py"]) == 0
    ev = capsys.readouterr().out
    loss, bpc, ppl = (float(v) for v in re.search(r"loss (\S+) nats/char\s+bpc (\S+)\s+perplexity (\S+)", ev).groups())
    assert bpc == pytest.approx(loss / math.log(2), abs=2e-4) and ppl == pytest.approx(math.exp(loss), rel=1e-3)
    assert f"{len(CODE) - 1:,} characters scored" in ev

    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    for fact in ("1 x LSTM(16)", "parameters", "vocabulary:", "training steps: 10", "Adam", "last validation bpc"):
        assert fact in info


def test_resume_continues_bit_identically(src, tmp_path, capsys):
    # 2 files, 4800 chars, 90 % train: 4 streams x 16 chars = 67 chunks per epoch
    assert train(src, tmp_path / "a", "--steps", "14", "--dropout", "0.1") == 0
    assert train(src, tmp_path / "b", "--steps", "7", "--dropout", "0.1") == 0
    assert train(src, tmp_path / "b", "--steps", "14", "--resume") == 0
    assert "resuming from" in capsys.readouterr().out
    a, b = tensors(tmp_path / "a/model.safetensors"), tensors(tmp_path / "b/model.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("optimizer/") for k in a)
    assert any(k.startswith("states/") for k in a)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    # options that define the run come from the checkpoint; the corpus must be the same
    assert train(src, tmp_path / "b", "--steps", "20", "--resume", "--hidden", "32") == 2
    assert "--hidden 32 differs from the checkpoint's 16" in capsys.readouterr().err
    (src / "b.py").write_text(CODE[2000:] + "# more\n")
    assert train(src, tmp_path / "b", "--steps", "20", "--resume") == 2
    assert "corpus" in capsys.readouterr().err


def test_python_m_boucle(src, tmp_path):
    out = tmp_path / "run"
    assert train(src, out, "--steps", "2", "--quiet") == 0
    run = [sys.executable, "-m", "boucle"]
    r = subprocess.run(run + ["generate", str(out), "--length", "30", "--seed", "1"], capture_output=True, text=True)
    assert r.returncode == 0 and len(r.stdout) == 31
    assert main(["generate", str(out), "--length", "30", "--seed", "1"]) == 0
    r = subprocess.run(run + ["generate", str(out), "--temperature", "-1"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--temperature" in r.stderr
    r = subprocess.run(run + ["--help"], capture_output=True, text=True)
    assert r.returncode == 0 and all(c in r.stdout for c in ("train", "generate", "evaluate", "info"))


def test_threads_option_is_scoped_to_the_command(trained, capsys):
    from boucle import backend

    before = [get() for _, get in backend._openblas_entry_points()]
    with backend.blas_threads(1):
        seen = [get() for _, get in backend._openblas_entry_points()]
    assert seen == [1] * len(before)
    assert [get() for _, get in backend._openblas_entry_points()] == before  # restored
    assert main(["--threads", "1", "info", str(trained)]) == 0
    assert [get() for _, get in backend._openblas_entry_points()] == before
    assert main(["--threads", "0", "info", str(trained)]) == 2
    assert "argument --threads: expected an int >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "generate", "evaluate", "info"])
def test_help_is_complete(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        for opt in action.option_strings:
            assert opt in text
        if action.help and action.option_strings and action.dest != "help":
            assert len(action.help) > 5
    if command == "train":
        for opt in (
            "--cell",
            "--layers",
            "--hidden",
            "--embed",
            "--seq-len",
            "--batch-size",
            "--steps",
            "--epochs",
            "--time-budget",
            "--optimizer",
            "--lr",
            "--clip",
            "--dropout",
            "--val-fraction",
            "--seed",
            "--out",
            "--resume",
            "--plot",
            "--glob",
        ):
            assert opt in text
        assert "standard library" in text


@pytest.fixture
def trained(src, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    assert train(src, out, "--steps", "2", "--quiet") == 0
    return out


def bad_cases(src, tmp, model):
    (tmp / "bad.txt").write_bytes(b"abc\xff\xfe")
    (tmp / "empty.txt").write_text("")
    (tmp / "short.txt").write_text("print(1)\n" * 5)
    (tmp / "accent.txt").write_text("def é(x):\n" * 50)
    (tmp / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    (tmp / "afile").write_text("x")
    seq = boucle.Sequential([Dense(2, input_shape=(3,))], seed=0)
    boucle.save(seq, tmp / "seq.safetensors")
    t = ["train", "--out", str(tmp / "out")]
    return [
        (t + [str(tmp / "bad.txt")], "bad.txt: not UTF-8 text: invalid byte 0xff at byte offset 3"),
        (t + [str(tmp / "empty.txt")], "corpus: no text"),
        (t + [str(tmp / "short.txt")], "fewer than one batch needs"),
        (t + [str(tmp / "missing.txt")], "missing.txt: no such file"),
        (t + [str(src), "--glob", "*.rs"], "no file matching '*.rs'"),
        (t + [str(src), "--hidden", "0"], "argument --hidden: expected an int > 0"),
        (t + [str(src), "--dropout", "1"], "argument --dropout: expected a number in [0, 1)"),
        (t + [str(src), "--val-fraction", "1.5"], "argument --val-fraction"),
        (t + [str(src), "--cell", "lstm2"], "argument --cell: invalid choice"),
        (t + [str(src), "--lr", "-1"], "argument --lr"),
        (t + [str(src), "--time-budget", "0"], "argument --time-budget"),
        (t + [str(src), "--resume"], "--resume: no checkpoint at"),
        (["train", str(src), "--out", str(tmp / "afile")], "--out: "),
        (["generate", str(model), "--prime", "dé"], "--prime: character 'é' (U+00E9) not in the model's vocabulary"),
        (["generate", str(model), "--length", "-5"], "argument --length: expected an int >= 0, got '-5'"),
        (["generate", str(model), "--temperature", "0"], "argument --temperature: expected a finite number > 0"),
        (["generate", str(model), "--top-p", "0"], "argument --top-p: expected a number in (0, 1]"),
        (["generate", str(model), "--top-p", "1.01"], "argument --top-p"),
        (["generate", str(model), "--top-k", "0"], "argument --top-k"),
        (["generate", str(tmp / "nothing.safetensors")], "no model file at"),
        (["generate", str(tmp / "corrupt.safetensors")], "corrupt.safetensors"),
        (["generate", str(tmp / "seq.safetensors")], "expected a character model file, got a Sequential"),
        (["evaluate", str(model), str(tmp / "accent.txt")], "'é' (U+00E9) not in the model's vocabulary"),
        (["evaluate", str(model)], "the following arguments are required: PATH"),
    ]


def test_every_bad_input_exits_2_with_one_line(src, trained, tmp_path, capsys):
    for argv, message in bad_cases(src, tmp_path, trained):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert err.count("\n") == 1 and err.startswith("boucle "), err
        assert not (tmp_path / "out").exists()  # nothing written half-way


def test_plot_without_matplotlib_fails_before_training(src, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert train(src, tmp_path / "run", "--steps", "2", "--plot") == 2
    assert "--plot: matplotlib is not installed; pip install 'boucle[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
