"""No run is lost by accident and no user input gets a traceback: existing checkpoints, the output
lock, outputs and options checked before training, untrusted text and weights, one-line warnings,
and the command line's arguments fuzzed."""

import contextlib
import io as stdio
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import boucle
from boucle.cli import main
from boucle.commands import files as cmd_files
from boucle.data.vocab import Vocabulary
from boucle.errors import BoucleError
from boucle.locks import OutputLock, host
from boucle.models import decoding
from boucle.models.charlm import CharModel
from boucle.models.seq2seq import Seq2Seq

CODE = "".join(f"def f{i % 5}(x, y):\n    return (x + {i % 3}) * y\n\n" for i in range(120))
SMALL = [
    "--layers",
    "1",
    "--hidden",
    "8",
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
    "0",
    "--quiet",
]


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    (d / "a.py").write_text(CODE)
    return d


def train(src, out, *extra):
    return main(["train", str(src), "--out", str(out), *SMALL, *extra])


def run(argv):
    """(exit code, stdout, stderr) of ``main(argv)``."""
    out, err = stdio.StringIO(), stdio.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def one_line_error(code, err, command):
    return code == 2 and err.count("\n") == 1 and err.startswith(f"boucle {command}: error: ")


@pytest.fixture(scope="module")
def trained(src, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    assert train(src, out, "--steps", "3") == 0
    return out


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def write_lock(path, pid, on=None):
    path.write_text(json.dumps({"pid": pid, "host": on or host(), "token": "t", "created": time.time()}))


# ------------------------------------------------------------------ existing checkpoints, --force
def test_train_never_replaces_a_checkpoint_without_resume_or_force(src, tmp_path):
    out = tmp_path / "run"
    assert train(src, out, "--steps", "6") == 0
    before = (out / "model.safetensors").read_bytes()
    code, _, err = run(["train", str(src), "--out", str(out), *SMALL, "--steps", "2"])
    assert (
        one_line_error(code, err, "train")
        and "already exists; pass --resume to continue it or --force to replace it" in err
    )
    assert (out / "model.safetensors").read_bytes() == before and not (out / "model.safetensors.lock").exists()
    code, _, err = run(["train", str(src), "--out", str(out), "--resume", "--force"])
    assert code == 2 and "--force: not allowed with argument --resume" in err
    assert train(src, out, "--steps", "2", "--force") == 0  # asked: replaced by a new 2-step run
    assert boucle.load(out / "model.safetensors").step == 2
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors"]


def test_train_seq2seq_checks_its_output_before_training(tmp_path, monkeypatch):
    import boucle.commands.seq2seq as s2s_cmd

    def no_data(*a, **k):
        raise AssertionError("the data were generated before --out was checked")

    monkeypatch.setattr(s2s_cmd, "dates_dataset", no_data)
    char = tmp_path / "char.safetensors"
    boucle.save(CharModel(Vocabulary("ab"), layers=1, hidden=2, embed=0), char)
    before = char.read_bytes()
    t = ["train-seq2seq", "--task", "dates", "--out"]
    cases = [
        (t + [str(tmp_path / "missing" / "m.safetensors")], "does not exist"),
        (t + [str(tmp_path)], "is a folder"),
        (t + [str(char)], "already exists; pass --force to replace it"),
        (t + [str(tmp_path / "m.safetensors"), "--n-train", "0"], "argument --n-train: expected an int in [1,"),
        (t + [str(tmp_path / "m.safetensors"), "--time-budget", "nan"], "argument --time-budget"),
        (t + [str(tmp_path / "m.safetensors"), "--time-budget", "-1"], "argument --time-budget"),
        (t + [str(tmp_path / "m.safetensors"), "--lr", "nan"], "argument --lr"),
        (t + [str(tmp_path / "m.safetensors"), "--epochs", "0"], "argument --epochs"),
        (t + [str(tmp_path / "m.safetensors"), "--layers", "100000"], "argument --layers"),
    ]
    for argv, message in cases:
        code, _, err = run(argv)
        assert one_line_error(code, err, "train-seq2seq") and message in err, (argv, err)
    assert char.read_bytes() == before
    write_lock(tmp_path / "m.safetensors.lock", os.getpid())
    code, _, err = run(t + [str(tmp_path / "m.safetensors")])
    assert one_line_error(code, err, "train-seq2seq") and f"in use by process {os.getpid()}" in err


def test_train_seq2seq_force_replaces_the_file(tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    boucle.save(CharModel(Vocabulary("ab"), layers=1, hidden=2, embed=0), path)
    assert (
        main(
            [
                "train-seq2seq",
                "--task",
                "addition",
                "--out",
                str(path),
                "--force",
                "--n-train",
                "200",
                "--n-test",
                "20",
                "--epochs",
                "1",
                "--units",
                "4",
                "--embed",
                "2",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    assert isinstance(boucle.load(path), Seq2Seq)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # lock removed


# ------------------------------------------------------------------ the lock
def test_a_live_lock_keeps_a_second_run_out(src, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    lock = out / "model.safetensors.lock"
    for pid, on in ((os.getpid(), None), (dead_pid(), "another-host")):
        write_lock(lock, pid, on)
        code, _, err = run(["train", str(src), "--out", str(out), *SMALL, "--steps", "2"])
        assert one_line_error(code, err, "train"), err
        assert f"is in use by process {pid} on {on or host()}" in err and "lock file" in err
        assert lock.exists() and not (out / "model.safetensors").exists()


def test_a_stale_lock_is_reported_and_taken_over(src, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    pid = dead_pid()
    write_lock(out / "model.safetensors.lock", pid)
    code, _, err = run(["train", str(src), "--out", str(out), *SMALL, "--steps", "2"])
    assert code == 0 and "removed the stale lock" in err and f"of process {pid} on {host()}" in err
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors"]


def test_output_lock_is_exclusive_and_released_only_by_its_owner(tmp_path):
    target = tmp_path / "m.safetensors"
    with OutputLock(target) as a:
        assert a.held and json.loads((tmp_path / "m.safetensors.lock").read_text())["pid"] == os.getpid()
        with pytest.raises(BoucleError, match=f"in use by process {os.getpid()}"):
            OutputLock(target).acquire()
        (tmp_path / "m.safetensors.lock").write_text("{garbled")  # not ours any more: left alone
    assert (tmp_path / "m.safetensors.lock").read_text() == "{garbled"
    with pytest.raises(BoucleError, match="its lock file is unreadable"):
        OutputLock(target).acquire()


def test_taking_over_a_stale_lock_never_removes_a_fresh_one(tmp_path):
    """Two runs find the same stale lock; the first replaces it by its own; the second, which read the
    stale one before, must not remove the first's fresh lock."""
    target = tmp_path / "m.safetensors"
    path = tmp_path / "m.safetensors.lock"
    stale = {"pid": dead_pid(), "host": host(), "token": "old", "created": 1.0}
    first = OutputLock(target)
    path.write_text(json.dumps(stale))
    first.acquire()
    assert first.note and first.held
    fresh = path.read_text()
    with pytest.raises(BoucleError, match=f"in use by process {os.getpid()}"):
        OutputLock(target)._take_over(stale)  # too late: the lock is first's
    assert path.read_text() == fresh and not [p for p in tmp_path.iterdir() if ".stale-" in p.name]
    first.release()
    assert not path.exists()


@pytest.mark.slow
def test_two_train_processes_on_one_output(src, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "boucle", "train", str(src), "--out", str(out), *SMALL]
    first = subprocess.Popen(cmd + ["--time-budget", "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / "model.safetensors").exists() and time.time() - t0 < 60:
        time.sleep(0.05)
    second = subprocess.run(cmd + ["--time-budget", "1", "--force"], capture_output=True, text=True)
    assert second.returncode == 2 and f"in use by process {first.pid}" in second.stderr, second.stderr
    assert first.wait(120) == 0, first.stderr.read()
    assert "done:" in first.stdout.read() and not (out / "model.safetensors.lock").exists()


# ------------------------------------------------------------------ input that used to raise tracebacks
def test_plain_user_input_gets_one_line(src, trained, tmp_path, monkeypatch):
    cases = [
        (["train", str(src), "--glob", "/etc/*", "--out", str(tmp_path / "o")], "train", "glob: invalid pattern"),
        (["train", str(src), "--hidden", "1000000000", "--out", str(tmp_path / "o")], "train", "for its activations"),
        (["train", str(src), "--hidden", "30000", "--out", str(tmp_path / "o")], "train", "needs more than"),
        (["train", str(src), "--layers", "1001", "--out", str(tmp_path / "o")], "train", "argument --layers"),
        (
            ["generate", str(trained), "--prime", "de\udcff"],
            "generate",
            "argument --prime: expected UTF-8 text, got the undecodable byte 0xff at position 2",
        ),
    ]
    for argv, command, message in cases:
        code, _, err = run(argv)
        assert one_line_error(code, err, command) and message in err, (argv, err)
    monkeypatch.setattr(cmd_files, "available_memory", lambda: 10**6)  # a 1 MB machine
    code, _, err = run(["train", str(src), "--out", str(tmp_path / "o"), *SMALL, "--hidden", "200"])
    assert one_line_error(code, err, "train") and "the model has more than" in err and "1.0 MB" in err, err
    assert not (tmp_path / "o").exists()


def test_non_finite_weights_are_refused(trained, tmp_path):
    model = boucle.load(trained / "model.safetensors")
    model.params["lstm_0/U"][0, 0] = np.nan
    bad = tmp_path / "nan" / "model.safetensors"
    bad.parent.mkdir()
    boucle.save(model, bad)
    (tmp_path / "t.txt").write_text(CODE[:500])
    for argv in (["generate", str(bad.parent)], ["evaluate", str(bad), str(tmp_path / "t.txt")]):
        code, out, err = run(argv)
        assert one_line_error(code, err, argv[0]) and "non-finite weights (NaN or Inf) in ['lstm_0/U']" in err
        assert out == ""
    code, out, _ = run(["info", str(bad)])
    assert code == 0 and "warning: the weights hold NaN or Inf" in out


def test_seq2seq_files_with_info_and_translate(tmp_path):
    model = Seq2Seq(
        Vocabulary("0123456789+", specials=True), units=4, embed_dim=3, attention="dot", seed=0, max_target_len=10**9
    )  # a file may say anything here
    (tmp_path / "run").mkdir()
    boucle.save(model, tmp_path / "run" / "model.safetensors")
    code, out, _ = run(["info", str(tmp_path / "run")])
    assert code == 0 and "Seq2Seq" in out and "total" in out
    code, out, _ = run(["translate", str(tmp_path / "run"), "1+2", "--max-len", "3"])  # a run folder
    assert code == 0 and len(out.strip()) <= 3 + 1  # max_len + 1 decoding steps (the last for END)
    assert decoding._check(1, None, 1.0, model)[1] == decoding.MAX_DECODE_LEN  # the file's 10^9: bounded
    code, _, err = run(["translate", str(tmp_path / "run"), "1+2", "--max-len", "1000000000"])
    assert one_line_error(code, err, "translate") and "argument --max-len: expected an int in [1, 10000]" in err
    with pytest.raises(BoucleError, match=r"max_len: expected an int in \[1, 10000\]"):
        model.translate("1+2", max_len=10**9)
    with pytest.raises(BoucleError, match=r"beam_width: expected an int in \[1, 1000\]"):
        model.translate("1+2", beam_width=10**9)
    model.params["output/W"][...] = np.inf
    boucle.save(model, tmp_path / "inf.safetensors")
    code, _, err = run(["translate", str(tmp_path / "inf.safetensors"), "1+2"])
    assert one_line_error(code, err, "translate") and "non-finite weights" in err


def test_warnings_are_one_line_and_floating_point_noise_is_off(trained, monkeypatch):
    import boucle.commands.charlm as charlm_cmd

    def noisy(args):
        np.log(np.zeros(3))  # divide by zero: silenced in commands
        np.ones(2) / np.zeros(2)
        warnings.warn("something\nto say", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(charlm_cmd, "cmd_info", noisy)
    code, _, err = run(["info", str(trained)])
    assert code == 0 and err == "boucle info: warning: something to say\n", err
    assert np.geterr()["divide"] == "warn"  # restored after the command


def test_output_the_terminal_cannot_encode_and_memory_errors_are_one_line(tmp_path, monkeypatch):
    model = CharModel(Vocabulary("aé"), layers=1, hidden=2, embed=0, seed=0)
    boucle.save(model, tmp_path / "m.safetensors")
    ascii_out = stdio.TextIOWrapper(stdio.BytesIO(), encoding="ascii")
    err = stdio.StringIO()
    with contextlib.redirect_stdout(ascii_out), contextlib.redirect_stderr(err):
        code = main(["generate", str(tmp_path / "m.safetensors"), "--prime", "é", "--length", "1"])
    assert code == 1 and err.getvalue().count("\n") == 1 and "set PYTHONIOENCODING=utf-8" in err.getvalue()
    import boucle.commands.charlm as charlm_cmd

    def exhausted(args):
        raise MemoryError("Unable to allocate 8.0 GiB")

    monkeypatch.setattr(charlm_cmd, "cmd_info", exhausted)
    code, _, err = run(["info", str(tmp_path / "m.safetensors")])
    assert code == 1 and err == "boucle info: error: out of memory: Unable to allocate 8.0 GiB\n"


# ------------------------------------------------------------------ fuzz: the command line's arguments
INTS = ["0", "-1", "1", "2", "nan", "inf", "1.5", "", "abc", "1e3", "99999999999999999999", "-0", "\udcff", " 3"]
FLOATS = ["0", "-1", "0.5", "1", "nan", "inf", "-inf", "1e309", "", "abc", "1e-300", "\udcff"]
TEXTS = ["", "def", "é", "\udcff", "\x00", "x" * 300, "--", "-1"]
OPTIONS = {
    "generate": {
        "--prime": TEXTS,
        "--length": ["0", "1", "20", "-5", "nan", "1e9", "abc"],
        "--temperature": FLOATS,
        "--top-k": INTS,
        "--top-p": FLOATS,
        "--seed": INTS,
    },
    "evaluate": {"--batch-size": INTS, "--seq-len": INTS, "--glob": ["*", "/etc/*", "", "**", "[", "../*"]},
    "info": {},
    "translate": {"--beam": INTS, "--max-len": INTS, "--length-penalty": FLOATS, "--unknown": ["error", "unk", "x"]},
}


@st.composite
def command_line(draw, model, s2s, corpus):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    target = draw(
        st.sampled_from([str(s2s if command == "translate" else model), str(corpus), "/nonexistent", str(model.parent)])
    )
    argv = [command, target]
    if command == "evaluate":
        argv.append(draw(st.sampled_from([str(corpus), "/nonexistent", str(model)])))
    if command == "translate":
        argv += draw(st.lists(st.sampled_from(["1+2", "", "9" * 50, "x", "\udcff"]), min_size=0, max_size=2))
    for opt in draw(st.lists(st.sampled_from(sorted(OPTIONS[command]) or ["--help"]), max_size=3, unique=True)):
        argv += [opt] if opt == "--help" else [opt, draw(st.sampled_from(OPTIONS[command][opt]))]
    return argv


def check_command(argv):
    """The property: exit 0, or 2 with one line; never a traceback; bounded time."""
    t0 = time.perf_counter()
    code, _, err = run(argv)
    assert time.perf_counter() - t0 < 10, argv
    assert (
        code == 0 or one_line_error(code, err, argv[0]) or (code == 2 and err.count("\n") == 1 and "error:" in err)
    ), (argv, code, err)


@pytest.fixture(scope="module")
def fuzz_files(trained, tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzzcli")
    s2s = Seq2Seq(Vocabulary("0123456789+", specials=True), units=4, embed_dim=3, seed=0, max_target_len=5)
    boucle.save(s2s, d / "s2s.safetensors")
    (d / "corpus.txt").write_text(CODE[:800])
    return trained / "model.safetensors", d / "s2s.safetensors", d / "corpus.txt"


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_command_line_fast(fuzz_files, data):
    check_command(data.draw(command_line(*fuzz_files)))


@pytest.mark.slow
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_command_line_long(fuzz_files, data):
    check_command(data.draw(command_line(*fuzz_files)))


TRAIN = {
    "--hidden": ["0", "1", "3", "nan", "1000000000", "99999999999999999999", "abc"],
    "--layers": ["0", "1", "2", "1001", "-1"],
    "--embed": ["0", "2", "-1", "1e9"],
    "--seq-len": ["0", "4", "100000", "abc"],
    "--batch-size": ["0", "2", "100000"],
    "--lr": FLOATS,
    "--clip": FLOATS,
    "--dropout": FLOATS,
    "--val-fraction": FLOATS,
    "--seed": INTS,
    "--time-budget": ["0", "-1", "nan", "inf", "0.5"],
    "--val-every": INTS,
    "--cell": ["lstm", "gru", "x"],
    "--optimizer": ["sgd", "adam", "Adam", "x"],
    "--glob": ["*", "/etc/*", "", "["],
    "--val-chars": INTS,
}


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_train_arguments(src, tmp_path, data):
    """``boucle train`` with 0-4 options drawn among bad and good values (1 step of a tiny model)."""
    out = tmp_path / f"run{time.perf_counter_ns()}"
    argv = [
        "train",
        str(src),
        "--out",
        str(out),
        "--steps",
        "1",
        "--quiet",
        "--sample-length",
        "0",
        "--hidden",
        "4",
        "--embed",
        "2",
        "--seq-len",
        "8",
        "--batch-size",
        "2",
    ]
    for opt in data.draw(st.lists(st.sampled_from(sorted(TRAIN)), max_size=4, unique=True)):
        argv += [opt, data.draw(st.sampled_from(TRAIN[opt]))]
    check_command(argv)


def test_resume_checks_the_run_options_stored_in_the_checkpoint(src, tmp_path):
    from model_files import join, split

    out = tmp_path / "run"
    assert train(src, out, "--steps", "2") == 0
    header, meta, body = split((out / "model.safetensors").read_bytes())
    for key, value, message in (
        ("batch_size", "4", "batch_size: expected a positive int, got '4'"),
        ("cell", "tree", "cell: expected one of"),
        ("lr", float("nan"), "lr: expected"),
        (None, None, "is not a checkpoint written by 'boucle train'"),
    ):
        m = json.loads(json.dumps(meta))
        if key is None:
            del m["config"]["training"]["data"]["run"]["seed"]
        else:
            m["config"]["training"]["data"]["run"][key] = value
        (out / "model.safetensors").write_bytes(join(header, m, body))
        code, _, err = run(["train", str(src), "--out", str(out), "--resume"])
        assert one_line_error(code, err, "train") and message in err, err
        assert not (out / "model.safetensors.lock").exists()
