"""Searches: spaces, seeds, failures, resume, the command line, and real clusters on 127.0.0.1.

The cluster tests start a ``distributed.LocalCluster`` of two worker processes (and a
two-process pool) and compare every trial's record with the serial backend's, bit for bit.
"""

import json
from pathlib import Path

import distributed  # noqa: F401 - the cluster tests need Dask: fail, not skip, without it
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boucle.cli import main as boucle_main
from boucle.errors import BoucleError
from boucle.search import Space, config_rng, identical, load_spec, make_backend, parse_spec, run_search, trial_seed
from boucle.search.backends import map_ordered

OBJ = str(Path(__file__).with_name("search_objectives.py"))


def _spec(tmp, **kw):
    raw = {
        "objective": f"{OBJ}:quadratic",
        "method": "grid",
        "metric": "loss",
        "space": {"x": [0.0, 0.2, 0.3, 0.5, 0.9]},
        **kw,
    }
    return parse_spec(raw, base=tmp)


def test_space_sampling_grid_and_seeds():
    space = Space.parse(
        {
            "sr": ["loguniform", 1e-2, 10],
            "lr": ["uniform", 0.1, 1.0],
            "n": ["int", 2, 4],
            "cell": ["choice", "lstm", "gru"],
            "bs": [16, 32],
            "ridge": 1e-6,
        }
    )
    draws = [space.sample(config_rng(7, i)) for i in range(200)]
    assert draws[3] == space.sample(config_rng(7, 3))  # a configuration is its index's
    assert all(1e-2 <= d["sr"] <= 10 and 0.1 <= d["lr"] <= 1 and d["n"] in (2, 3, 4) for d in draws)
    assert {d["cell"] for d in draws} == {"lstm", "gru"} and {d["ridge"] for d in draws} == {1e-6}
    logs = np.log10([d["sr"] for d in draws])
    assert -2 <= logs.min() < -1.5 and 0.5 < logs.max() <= 1  # log-uniform covers the decades
    # the seeds are SeedSequence(root).spawn children
    child = np.random.SeedSequence(7).spawn(2)[1].spawn(3)[2]
    assert trial_seed(7, 2) == int(child.generate_state(1)[0]) != trial_seed(7, 1)
    grid = Space.parse({"a": [1, 2], "b": ["x", "y", "z"], "c": True}).grid()
    assert len(grid) == 6 and grid[1] == {"a": 1, "b": "y", "c": True}
    with pytest.raises(BoucleError, match=r"space.sr: a grid needs a list of values"):
        space.grid()
    with pytest.raises(BoucleError, match=r"space.sr: expected 0 < low"):
        Space.parse({"sr": ["loguniform", 0, 1]})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=8,
)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json, max_size=4), st.integers(0, 3))
def test_any_space_either_parses_or_raises_a_one_line_error(raw, index):
    try:
        space = Space.parse(raw)
    except BoucleError as e:
        assert "\n" not in str(e) and str(e).startswith("space")
        return
    config = space.sample(config_rng(0, index))
    assert set(config) == set(raw) and config == space.sample(config_rng(0, index))


def test_failures_are_recorded_and_the_search_goes_on(tmp_path):
    spec = _spec(tmp_path, space={"x": [0.0, 0.2, 0.3, 0.9, 0.31], "sleep": [0.0]})
    res = run_search(spec, make_backend("serial"), out=tmp_path / "s", progress=False)
    status = {r["config"]["x"]: (r["status"], r["error"]) for r in res.records}
    assert status[0.0][0] == "diverged" and "loss is nan" in status[0.0][1]
    assert status[0.9] == ("error", "ValueError: x too large: 0.9")
    assert status[0.2][0] == status[0.3][0] == status[0.31][0] == "ok"
    assert res.best["config"]["x"] == 0.3
    lines = (tmp_path / "s" / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["metrics"] == {"loss": "nan"}
    assert "| 1 | c0002 | 0.3 |" in (tmp_path / "s" / "report.md").read_text()
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert best["space"] == {"x": 0.3, "sleep": 0.0} and best["method"] == "grid"
    # a trial that runs past its deadline is stopped and recorded
    slow = _spec(tmp_path, space={"x": [0.3], "sleep": [5.0]}, timeout=0.2)
    rec = run_search(slow, make_backend("serial"), out=tmp_path / "t", progress=False).records[0]
    assert rec["status"] == "timeout" and rec["seconds"] < 2


def test_resume_after_an_interrupted_search_runs_only_the_missing_trials(tmp_path):
    calls = tmp_path / "calls.txt"
    spec = _spec(
        tmp_path,
        space={
            "x": [0.1, 0.2, 0.3, 0.4, 0.5],
            "calls": str(calls),
            "interrupt_at": 0.4,
            "marker": str(tmp_path / "interrupted"),
        },
    )
    with pytest.raises(KeyboardInterrupt):
        run_search(spec, make_backend("serial"), out=tmp_path / "s", progress=False)
    assert len((tmp_path / "s" / "trials.jsonl").read_text().splitlines()) == 3
    with open(tmp_path / "s" / "trials.jsonl", "a") as f:  # a line cut short by a crash
        f.write('{"key": "c0003-s0", "config_ind')
    with pytest.raises(BoucleError, match="already holds a search; pass --resume"):
        run_search(spec, make_backend("serial"), out=tmp_path / "s", progress=False)
    res = run_search(spec, make_backend("serial"), out=tmp_path / "s", resume=True, progress=False)
    assert res.ran == 2 and calls.read_text().split() == ["0.1", "0.2", "0.3", "0.4", "0.4", "0.5"]
    lines = (tmp_path / "s" / "trials.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [f"c000{i}-s0" for i in range(5)]
    fresh = run_search(spec, make_backend("serial"), out=tmp_path / "fresh", progress=False)
    assert identical(res.records, fresh.records)
    other = _spec(tmp_path, space={"x": [0.1]})
    with pytest.raises(BoucleError, match="--resume: the spec differs"):
        run_search(other, make_backend("serial"), out=tmp_path / "s", resume=True, progress=False)


def test_spec_errors_are_one_line(tmp_path, capsys):
    def run(spec: dict, *extra: str) -> str:
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(spec))
        assert boucle_main(["search", str(path), "--out", str(tmp_path / "o"), "--quiet", *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("boucle search: error: ")
        return err

    good = {"recipe": "esn-mackey-glass", "trials": 2}
    assert "recipe: expected one of ['char-model', 'esn-mackey-glass', 'uea-classifier'], got 'esn'" in run(
        {**good, "recipe": "esn"}
    )
    assert "space: expected at least one hyper-parameter, got an empty space" in run({**good, "space": {}})
    assert "trials: expected a positive int, got -3" in run({**good, "trials": -3})
    assert "spec: unknown setting 'trails'" in run({"recipe": "esn-mackey-glass", "trails": 2})
    assert "method: 'halving' needs a recipe that trains in epochs" in run({**good, "method": "halving"})
    assert "scheduler: cannot reach tcp://127.0.0.1:9 within 0.5 s" in run(
        {**good, "connect_timeout": 0.5}, "--scheduler", "tcp://127.0.0.1:9"
    )
    (tmp_path / "bad.toml").write_text("trials = [")
    assert boucle_main(["search", str(tmp_path / "bad.toml")]) == 2
    assert "is not valid TOML" in capsys.readouterr().err


def test_without_dask_the_scheduler_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    with pytest.raises(BoucleError, match=r"--scheduler needs Dask distributed.*pip install 'boucle\[distributed\]'"):
        make_backend(scheduler="tcp://127.0.0.1:8786")


def test_command_line_search_writes_the_folder(tmp_path, capsys):
    spec = tmp_path / "quad.toml"
    spec.write_text(
        f'objective = "{OBJ}:quadratic"\nmethod = "random"\ntrials = 4\nseeds = 2\nmetric = "loss"\n'
        '[space]\nx = ["uniform", 0.1, 0.8]\n'
    )
    assert boucle_main(["search", str(spec), "--backend", "serial", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "8 trials (8 run now, 0 failed) on serial" in out and "| rank | config | x | loss (mean of 2) |" in out
    records = [json.loads(line) for line in (tmp_path / "o" / "trials.jsonl").read_text().splitlines()]
    assert {r["seed"] for r in records} == {trial_seed(0, 0), trial_seed(0, 1)}  # the same seeds for every config
    for name in ("report.md", "best.json", "metric_vs_params.png", "best_so_far.png", "search.json"):
        assert (tmp_path / "o" / name).stat().st_size > 0
    assert (
        boucle_main(
            [
                "search",
                str(tmp_path / "o" / "best.json"),
                "--backend",
                "serial",
                "--quiet",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    assert "2 trials (2 run now, 0 failed)" in capsys.readouterr().out


# ---------------------------------------------------------------- backends, clusters (slow)
ESN_SPACE = {
    "spectral_radius": ["loguniform", 0.1, 2],
    "leak_rate": ["loguniform", 0.05, 1],
    "input_scaling": ["loguniform", 0.2, 5],
    "ridge": ["loguniform", 1e-8, 1e-2],
    "units": 30,
}


@pytest.mark.slow
def test_dask_cluster_equals_serial_even_when_a_worker_is_killed(tmp_path, capsys):
    space = {**ESN_SPACE, "marker": str(tmp_path / "killed"), "kill": True}
    raw = {
        "objective": f"{OBJ}:esn_kill_once",
        "method": "random",
        "trials": 6,
        "seed": 3,
        "metric": "val_nrmse",
        "space": space,
    }
    (tmp_path / "spec.json").write_text(json.dumps(raw))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        assert (
            boucle_main(
                [
                    "search",
                    str(tmp_path / "spec.json"),
                    "--scheduler",
                    cluster.scheduler_address,
                    "--out",
                    str(tmp_path / "dask"),
                    "--quiet",
                ]
            )
            == 0
        )
    assert "6 trials (6 run now, 0 failed) on dask tcp://127.0.0.1:" in capsys.readouterr().out
    assert (tmp_path / "killed").exists()  # a worker died mid-trial ...
    on_dask = [json.loads(line) for line in (tmp_path / "dask" / "trials.jsonl").read_text().splitlines()]
    assert len(on_dask) == 6 and all(r["status"] == "ok" for r in on_dask)  # ... and its trial ran again
    serial = run_search(parse_spec(raw), make_backend("serial"), out=tmp_path / "serial", progress=False)
    assert identical(on_dask, serial.records)


@pytest.mark.slow
def test_process_pool_equals_serial_even_when_a_worker_is_killed(tmp_path):
    space = {**ESN_SPACE, "marker": str(tmp_path / "killed"), "kill": True}
    spec = parse_spec(
        {
            "objective": f"{OBJ}:esn_kill_once",
            "method": "random",
            "trials": 6,
            "seed": 4,
            "metric": "val_nrmse",
            "space": space,
        }
    )
    with make_backend("processes", workers=2) as pool:
        on_pool = run_search(spec, pool, out=tmp_path / "pool", progress=False)
    assert (tmp_path / "killed").exists() and all(r["status"] == "ok" for r in on_pool.records)
    serial = run_search(spec, make_backend("serial"), out=tmp_path / "serial", progress=False)
    assert identical(on_pool.records, serial.records)
    assert map_ordered(make_backend("serial"), pow, [(2, 3), (3, 2)]) == [8, 9]


@pytest.mark.slow
def test_successive_halving_reads_the_engines_epoch_logs(tmp_path):
    spec = parse_spec(
        {
            "recipe": "uea-classifier",
            "method": "halving",
            "trials": 4,
            "seed": 0,
            "space": {
                "cell": ["lstm", "gru"],
                "units": ["int", 3, 8],
                "lr": ["loguniform", 1e-3, 3e-2],
                "n_train": 40,
                "n_test": 20,
            },
            "halving": {"eta": 2, "min_budget": 1, "max_budget": 4},
            "keep_models": True,
        }
    )
    res = run_search(spec, make_backend("serial"), out=tmp_path / "h", progress=False)
    rungs = [[r for r in res.records if r["rung"] == k] for k in range(3)]
    assert [len(r) for r in rungs] == [4, 2, 1] and [r[0]["budget"] for r in rungs] == [1, 2, 4]
    for r in res.records:  # one reported value per epoch trained
        assert r["status"] == "ok" and len(r["curve"]) == r["budget"] == r["metrics"]["epochs"]
        assert r["curve"][-1] == r["metrics"]["val_accuracy"]
        assert (tmp_path / "h" / r["model_file"]).stat().st_size > 0
    promoted = {r["config_index"] for r in rungs[1]}
    ranked = sorted(rungs[0], key=lambda r: (-r["curve"][-1], r["config_index"]))
    assert promoted == {r["config_index"] for r in ranked[:2]}
    # a promoted configuration retrains from scratch: its first epochs repeat exactly
    first = {r["config_index"]: r["curve"] for r in rungs[1]}
    assert all(first[i][:1] == next(r["curve"] for r in rungs[0] if r["config_index"] == i) for i in first)
    best = json.loads((tmp_path / "h" / "best.json").read_text())
    assert best["space"]["epochs"] == 4 and best["recipe"] == "uea-classifier"


@pytest.mark.slow
def test_char_model_recipe_reports_every_interval(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("def f(x):\n    return x + 1\n" * 300)
    spec = parse_spec(
        {
            "recipe": "char-model",
            "method": "grid",
            "seed": 0,
            "space": {
                "hidden": [8],
                "lr": 1e-2,
                "seq_len": 16,
                "batch_size": 4,
                "steps": 40,
                "val_every": 20,
                "chars": 5000,
                "embed": 4,
                "paths": str(text),
            },
        }
    )
    rec = run_search(spec, make_backend("serial"), out=tmp_path / "c", progress=False).records[0]
    assert rec["status"] == "ok" and rec["metrics"]["steps"] == 40 and len(rec["curve"]) == 2
    assert rec["metrics"]["val_bpc"] < 4.0  # below the uniform 15-symbol 3.9 bpc ...
    assert rec["curve"][1] < rec["curve"][0]  # ... and learning


@pytest.mark.slow
def test_vanishing_study_on_workers_equals_serial(tmp_path):
    from boucle.experiments.vanishing import StudyConfig, run_study

    cfg = StudyConfig(
        lengths=(10,),
        cells=("rnn_tanh", "gru"),
        clips=(None, 1.0),
        seeds=1,
        max_steps=100,
        eval_every=25,
        val_size=32,
        reber_cells=("gru",),
        reber_seeds=2,
        reber_steps=25,
    )

    def timeless(res):
        return [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")} for r in res["runs"]]

    serial = run_study(cfg, log=None)
    with make_backend("processes", workers=2) as pool:
        parallel = run_study(cfg, tmp_path / "p", log=None, backend=pool)
    assert timeless(parallel) == timeless(serial) and len(serial["runs"]) == 6
    assert parallel["gradflow"] == serial["gradflow"] and parallel["summary"] == serial["summary"]
    assert [json.loads(line)["cell"] for line in (tmp_path / "p" / "runs.jsonl").read_text().splitlines()] == [
        "rnn_tanh",
        "rnn_tanh",
        "gru",
        "gru",
        "gru",
        "gru",
    ]  # recorded in the grid's order
    assert (
        boucle_main(
            [
                "experiment",
                "vanishing",
                "--quick",
                "--lengths",
                "10",
                "--steps",
                "30",
                "--seeds",
                "1",
                "--reber-seeds",
                "1",
                "--out",
                str(tmp_path / "q"),
                "--backend",
                "dask",
                "--workers",
                "2",
            ]
        )
        == 0
    )


def test_example_specs_parse():
    folder = Path(__file__).resolve().parents[1] / "examples" / "searches"
    specs = {p.stem: load_spec(p) for p in sorted(folder.glob("*.toml"))}
    assert set(specs) == {"esn-mackey-glass", "uea-cells", "char-model-halving"}
    assert specs["esn-mackey-glass"].trials == 200 and specs["char-model-halving"].method == "halving"
