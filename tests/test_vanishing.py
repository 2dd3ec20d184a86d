"""The vanishing-gradient study on a reduced grid: equal sizes, learning, divergence, report, CLI."""

import argparse
import csv
import json
import math

import pytest

from boucle.cli import main as boucle_main
from boucle.commands.experiment import add_commands
from boucle.errors import BoucleError
from boucle.experiments.vanishing import (
    KINDS,
    StudyConfig,
    adding_run,
    param_count,
    reber_run,
    run_study,
    summarize,
    units_for_budget,
)


def test_equal_parameter_counts():
    sizes = {k: param_count(k, units_for_budget(k, 1233, 2, 1), 2, 1) for k in KINDS}
    assert sizes["lstm"] == 1233  # LSTM(16) → Dense(1): 4·16·19 + 17
    assert all(abs(v - 1233) / 1233 < 0.05 for v in sizes.values()), sizes
    assert units_for_budget("rnn_tanh", 1233, 2, 1) == 33 and units_for_budget("gru", 1233, 2, 1) == 19
    with pytest.raises(BoucleError, match="cell: expected one of"):
        param_count("transformer", 4, 2, 1)


@pytest.mark.slow
def test_gated_cell_solves_a_short_adding_problem():
    cfg = StudyConfig(max_steps=800, eval_every=50, val_size=128)
    r = adding_run("gru", 10, 0, 1.0, cfg)
    assert r["solved"] and r["steps_to_solve"] <= 800 and r["final_mse"] < 0.01, r
    assert r["params"] == param_count("gru", r["units"], 2, 1) and not r["diverged"]
    assert r["curve"][-1] == [r["steps_to_solve"], r["final_mse"]] and r["max_grad_norm"] > 0


def test_divergence_is_detected_and_reported():
    cfg = StudyConfig(max_steps=60, eval_every=20, val_size=32, learning_rate=1e3)
    r = adding_run("rnn_relu", 50, 0, None, cfg)
    assert r["diverged"] and not r["solved"] and r["diverged_at"] <= 60
    rows = summarize([r, dict(r, seed=1, diverged=False, max_grad_norm=1.0, final_mse=0.2)])
    assert rows[0]["diverged"] == 1 and rows[0]["runs"] == 2 and rows[0]["success_rate"] == 0


def test_reber_run_record():
    cfg = StudyConfig(reber_steps=25, reber_max_length=20)
    r = reber_run("lstm", 0, cfg)
    assert r["task"] == "reber" and 0 <= r["exact"] <= 1 and 0 <= r["penultimate"] <= 1
    assert r["params"] == param_count("lstm", r["units"], 7, 7)


@pytest.mark.slow
def test_run_study_writes_tables_and_plots(tmp_path):
    cfg = StudyConfig(
        lengths=(10,),
        cells=("rnn_tanh", "gru"),
        clips=(None, 1.0),
        seeds=2,
        max_steps=600,
        eval_every=50,
        val_size=64,
        reber_cells=("rnn_tanh",),
        reber_seeds=1,
        reber_steps=25,
    )
    res = run_study(cfg, tmp_path / "out", log=None)
    assert len([r for r in res["runs"] if r["task"] == "adding"]) == 2 * 2 * 2
    rows = {(r["cell"], r["clip"]): r for r in res["summary"]}
    assert rows[("gru", 1.0)]["success_rate"] == 1.0  # GRU solves T = 10 on both seeds
    assert set(res["gradflow"]["init"]) == {"rnn_tanh", "gru"} and len(res["gradflow"]["init"]["gru"]["dE_dh"]) == 10
    out = tmp_path / "out"
    for name in (
        "results.json",
        "adding.csv",
        "reber.csv",
        "results.md",
        "success.png",
        "curves.png",
        "gradflow.png",
        "influence.png",
    ):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["lengths"] == [10] and len(data["runs"]) == 9
    table = list(csv.DictReader((out / "adding.csv").read_text().splitlines()))
    assert len(table) == 4 and {r["clip"] for r in table} == {"none", "1"}
    md = (out / "results.md").read_text()
    assert "| cell | units | params | clip | T = 10 |" in md and "| GRU | 19 | 1274 | 1 | 2/2 (" in md
    assert "Embedded Reber" in md
    assert all(math.isfinite(r["mean_final_mse"]) for r in res["summary"])


@pytest.mark.slow
def test_cli_registers_experiment_vanishing(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="boucle")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "experiment",
            "vanishing",
            "--quick",
            "--out",
            str(tmp_path / "q"),
            "--lengths",
            "10",
            "--steps",
            "40",
            "--seeds",
            "1",
            "--reber-seeds",
            "1",
        ]
    )
    assert args.lengths == (10,) and args.steps == 40
    assert args.func(args) == 0
    assert "results.md" in capsys.readouterr().out and (tmp_path / "q" / "adding.csv").exists()
    with pytest.raises(SystemExit):
        parser.parse_args(["experiment", "vanishing", "--lengths", "1,x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["experiment", "vanishing", "--seeds", "0"])


def test_bad_study_arguments(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BoucleError, match="out: cannot create folder"):
        run_study(StudyConfig.quick(), blocker / "sub", log=None)
    with pytest.raises(BoucleError, match="lengths: expected an int >= 2, got 1"):
        run_study(StudyConfig(lengths=(1,)), None, log=None)
    assert boucle_main(["experiment", "vanishing", "--out", str(blocker / "sub"), "--quick"]) == 2
