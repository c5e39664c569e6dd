"""Tests for the ``cmo-sim`` command line, run in-process through ``cmo_sim.cli.main``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cmo_sim import load_theory
from cmo_sim.cli import DEFAULT_SCENARIO, main

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))
SMALL = ["--runs", "20", "--steps", "24", "--quiet"]


def broken_scenario(tmp_path: Path) -> Path:
    """A scenario file with one unknown key (``leadershp``), otherwise valid."""
    data = yaml.safe_load((SCENARIOS / "voluntary_alliance.yaml").read_text(encoding="utf-8"))
    data["leadershp"] = data.pop("leadership")
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# -- run ------------------------------------------------------------------------------------------
def test_run_default_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    assert main(["run", *SMALL, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "20 runs, 24 months, seed 0" in printed.out
    assert DEFAULT_SCENARIO["name"] in printed.out
    for column in ("dissolved", "by_trust", "by_faith", "performance", "trust_final"):
        assert column in printed.out
    assert printed.err == ""  # --quiet: no progress bar

    summary = pd.read_parquet(out / "results" / "summary.parquet")
    assert len(summary) == 20
    assert set(summary["scenario"]) == {DEFAULT_SCENARIO["name"]}
    table = pd.read_csv(out / "summary_by_scenario.csv", index_col="scenario")
    assert list(table.index) == [DEFAULT_SCENARIO["name"]]
    assert table.loc[DEFAULT_SCENARIO["name"], "runs"] == 20
    assert table.loc[DEFAULT_SCENARIO["name"], "dissolved"] == pytest.approx(
        summary["dissolved"].mean())
    png = (out / "trajectories.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000


def test_run_refuses_a_recording_interval_beyond_the_steps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 500 > 24 months: only month 0 would be recorded, a blank figure.
    out = tmp_path / "o"
    assert main(["run", *SMALL, "--every", "500", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "every 500 months is more than the 24 simulated months" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_run_is_reproducible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tables = []
    for name in ("a", "b"):
        assert main(["run", *SMALL, "--seed", "7", "--out", str(tmp_path / name)]) == 0
        capsys.readouterr()
        tables.append(pd.read_csv(tmp_path / name / "summary_by_scenario.csv"))
    pd.testing.assert_frame_equal(tables[0], tables[1])


def test_run_two_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [SCENARIOS / "voluntary_alliance.yaml", SCENARIOS / "mandated_merger.yaml"]
    out = tmp_path / "o"
    assert main(["run", *map(str, files), *SMALL, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "40 runs" in printed
    assert "voluntary_alliance" in printed
    assert "mandated_merger" in printed
    table = pd.read_csv(out / "summary_by_scenario.csv", index_col="scenario")
    assert list(table.index) == ["voluntary_alliance", "mandated_merger"]
    assert table["runs"].tolist() == [20, 20]


def test_run_broken_scenario_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = broken_scenario(tmp_path)
    out = tmp_path / "o"
    assert main(["run", str(bad), *SMALL, "--out", str(out)]) == 1
    printed = capsys.readouterr()
    lines = printed.err.strip().splitlines()
    assert len(lines) == 1, printed.err
    assert lines[0].startswith("cmo-sim: error: ")
    assert str(bad) in lines[0]
    assert "leadershp" in lines[0]
    assert "Traceback" not in printed.err
    assert printed.out == ""
    assert not out.exists()


def test_run_broken_theory_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = load_theory().to_dict()
    data["rules"][0]["weight"] = -1.0
    theory = tmp_path / "theory.yaml"
    theory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out = tmp_path / "o"
    assert main(["run", *SMALL, "--theory", str(theory), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "synergy.high_trust" in err and "'weight'" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--runs", "0"), ("--runs", "-3"), ("--runs", "many"), ("--steps", "0"), ("--seed", "-1")],
)
def test_bad_numbers_are_usage_errors(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["run", option, value, "--out", str(tmp_path / "o")])
    assert excinfo.value.code != 0
    err = capsys.readouterr().err
    assert "usage: cmo-sim run" in err
    assert f"argument {option}" in err
    assert not (tmp_path / "o").exists()


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main([])
    assert excinfo.value.code != 0
    assert "usage: cmo-sim" in capsys.readouterr().err


# -- theory show ---------------------------------------------------------------------------------
def test_theory_show(capsys: pytest.CaptureFixture[str]) -> None:
    theory = load_theory()
    assert main(["theory", "show"]) == 0
    printed = capsys.readouterr().out
    for rule_id in theory.ids:
        assert rule_id in printed
    assert f"{len(theory)} rules ({theory.name})" in printed
    assert "provenance" not in printed
    assert "Table 3" not in printed


def test_theory_show_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    theory = load_theory()
    assert main(["theory", "show", "--provenance"]) == 0
    printed = capsys.readouterr().out
    assert "provenance" in printed
    for rule in theory:
        assert rule.id in printed
        # Long provenances are cut at 90 characters; their start is always shown.
        assert rule.provenance[:60] in printed
    assert f"{len(theory)} rules" in printed


def test_theory_show_custom_theory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = load_theory().without("faith.trust").to_dict()
    data["name"] = "my-ablation"
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert main(["theory", "show", "--theory", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "(my-ablation)" in printed
    row = next(line for line in printed.splitlines() if line.strip().startswith("faith.trust"))
    weight, sites = row.split()[-2:]  # weight, then the sites
    assert float(weight) == 0.0 and sites == "faith_change"


# -- scenario check ------------------------------------------------------------------------------
def test_scenario_check_shipped(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(SHIPPED) >= 16
    assert main(["scenario", "check", *map(str, SHIPPED)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(SHIPPED)
    for path, line in zip(SHIPPED, lines, strict=True):
        assert line.startswith("ok ")
        assert str(path) in line


def test_scenario_check_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = broken_scenario(tmp_path)
    good = SCENARIOS / "buddying.yaml"
    assert main(["scenario", "check", str(good), str(bad)]) == 1
    printed = capsys.readouterr()
    lines = printed.out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ok ") and str(good) in lines[0]
    assert lines[1].startswith("FAIL ")
    assert str(bad) in lines[1]
    assert "leadershp" in lines[1]
    assert "did you mean 'leadership'" in lines[1]
    assert "Traceback" not in printed.out + printed.err


# -- the installed console script ----------------------------------------------------------------
def test_console_script_help() -> None:
    script = Path(sys.executable).parent / "cmo-sim"
    command = str(script) if script.exists() else shutil.which("cmo-sim")
    assert command is not None, "the cmo-sim console script is not installed"
    done = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: cmo-sim" in done.stdout
    for command_name in ("run", "theory", "scenario"):
        assert command_name in done.stdout


# -- plot, theory graph, explain -------------------------------------------------------------------
def _png_ok(path: Path) -> bool:
    import matplotlib.image as mpimg

    return path.is_file() and float(mpimg.imread(path).std()) > 0


def _pixels(path: Path) -> bytes:
    import matplotlib.image as mpimg

    return mpimg.imread(path).tobytes()


def test_plot_every_results_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    assert main(["run", "--runs", "30", "--steps", "24", "--out", str(out), "--quiet"]) == 0
    pictures = {}
    for kind in ("trajectories", "compare", "survival", "end_states", "partnership"):
        target = tmp_path / f"{kind}.png"
        assert main(["plot", str(out / "results"), "--kind", kind, "--out", str(target)]) == 0
        assert _png_ok(target), kind
        pictures[kind] = _pixels(target)
    # Each kind draws its own figure (an ignored --kind would give five equal pictures).
    assert len(set(pictures.values())) == 5
    # The run's output folder itself opens as its results: the same picture.
    assert main(["plot", str(out), "--kind", "survival", "--out", str(tmp_path / "f.png")]) == 0
    assert _pixels(tmp_path / "f.png") == pictures["survival"]
    capsys.readouterr()
    # Sweep-only kinds on plain results: one clear line, exit 1, no file.
    assert main(["plot", str(out / "results"), "--kind", "regime_map",
                 "--out", str(tmp_path / "r.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a sweep store" in err
    assert not (tmp_path / "r.png").exists()


def test_plot_regime_map_from_a_sweep_store(tmp_path: Path) -> None:
    sweep = tmp_path / "grid.yaml"
    sweep.write_text(
        f"name: grid\nbase: {ROOT / 'scenarios' / 'voluntary_alliance.yaml'}\ndesign: grid\n"
        "samples: 3\nreplicates: 8\nvary:\n  history: {low: -0.5, high: 0.5}\n"
        "  shared_vision: {low: 0.2, high: 0.8}\nsteps: 24\n"
    )
    store = tmp_path / "s.zarr"
    assert main(["sweep", str(sweep), "--store", str(store), "--quiet"]) == 0
    target = tmp_path / "regime.png"
    assert main(["plot", str(store), "--kind", "regime_map", "--out", str(target)]) == 0
    assert _png_ok(target)


def test_a_sweep_records_trajectories_on_request_and_plots_by_design_point(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cmo_sim

    sweep = tmp_path / "grid.yaml"  # the file asks for summaries only (no record: key)
    sweep.write_text(f"base: {ROOT / 'scenarios' / 'voluntary_alliance.yaml'}\ndesign: grid\n"
                     "replicates: 6\nvary:\n  leadership: [0.2, 0.8]\nsteps: 12\n")
    store = tmp_path / "s.zarr"
    assert main(["sweep", str(sweep), "--store", str(store), "--quiet", "--record", "3"]) == 0
    traj = cmo_sim.open_sweep(store).trajectories
    assert traj["step"].values.tolist() == [0, 3, 6, 9, 12]
    for kind in ("trajectories", "survival", "end_states", "compare"):
        target = tmp_path / f"{kind}.png"
        assert main(["plot", str(store), "--kind", kind, "--out", str(target)]) == 0, kind
        assert _png_ok(target)
    from cmo_sim import plot

    legend = plot.trajectories(cmo_sim.open_sweep(store)).axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["leadership=0.2", "leadership=0.8"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["sweep", str(sweep), "--store", str(tmp_path / "t.zarr"), "--record", "0"])
    assert exited.value.code == 1
    assert "summary, trajectory, or a whole number k >= 1" in capsys.readouterr().err


def test_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fragment in ("replicates per scenario (default: 1000)", "months (default 120)",
                     "record every k months (default: 1)", "output folder (default ./out)"):
        assert fragment in text, fragment


def test_scenario_schema_is_written_and_validates_the_shipped_scenarios(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import jsonschema

    target = tmp_path / "scenario.schema.json"
    assert main(["scenario", "schema", "--out", str(target)]) == 0
    schema = json.loads(target.read_text(encoding="utf-8"))
    capsys.readouterr()
    assert main(["scenario", "schema"]) == 0  # to standard output: the same schema
    assert json.loads(capsys.readouterr().out) == schema
    validator = jsonschema.Draft202012Validator(schema)
    data = yaml.safe_load((SCENARIOS / "voluntary_alliance.yaml").read_text(encoding="utf-8"))
    assert not list(validator.iter_errors(data))
    data["leadership"] = 1.5  # contexts lie in [0, 1]
    assert list(validator.iter_errors(data))


def test_theory_graph_and_unknown_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target, full = tmp_path / "theory.png", tmp_path / "full.png"
    assert main(["theory", "graph", "--out", str(target), "--without", "trust.success_loop"]) == 0
    assert main(["theory", "graph", "--out", str(full)]) == 0
    assert _png_ok(target) and _png_ok(full)
    assert _pixels(target) != _pixels(full)  # the ablated rule's edge is drawn differently
    assert main(["theory", "graph", "--out", str(tmp_path / "x.png"), "--without",
                 "trust.sucess_loop"]) == 1
    err = capsys.readouterr().err
    assert "trust.success_loop" in err and err.count("\n") == 1  # the suggestion, one line
    assert not (tmp_path / "x.png").exists()


def test_explain_tells_the_story_the_summary_reports(capsys: pytest.CaptureFixture[str]) -> None:
    import cmo_sim

    # The batch engine's summary picks a dissolved run; the Mesa engine's story must agree.
    summary = cmo_sim.simulate(cmo_sim.load_scenario(DEFAULT_SCENARIO), runs=20, seed=0).summary
    row = summary[summary.dissolved].iloc[0]
    assert main(["explain", "--replicate", str(int(row["replicate"])), "--seed", "0"]) == 0
    story = capsys.readouterr().out
    assert f"month {int(row['dissolved_at'])}" in story
    assert f"{row['cause']} collapse" in story


def test_usage_errors_exit_with_code_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["plot", "x", "--kind", "pie"])
    assert excinfo.value.code == 1
    assert "invalid choice: 'pie'" in capsys.readouterr().err


# -- conformance ----------------------------------------------------------------------------------
def test_conformance_writes_a_report_and_lists_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports" / "conformance.md"
    small = ["--replicates", "40", "--backgrounds", "3", "--steps", "24", "--quiet"]
    assert main(["conformance", *small, "--rules", "task.evaluation", "conflict.slow_pace",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 rules: direction 2 pass, ablation 2 pass" in printed
    text = out.read_text(encoding="utf-8")
    assert "`task.evaluation`" in text and "`conflict.slow_pace`" in text
    assert "3 background scenarios x 40 replicates" in text
    # A theory in which the rule is switched off fails its check: printed as a FAIL line.
    # (pace acts through conflict.slow_pace alone, so switched off it has no effect at all.)
    theory = load_theory().without("conflict.slow_pace")
    path = tmp_path / "inert.yaml"
    path.write_text(theory.to_yaml(), encoding="utf-8")
    out.unlink()
    assert main(["conformance", *small, "--rules", "conflict.slow_pace", "--theory", str(path),
                 "--out", str(out)]) == 2  # a rule failed; the report is still written
    printed = capsys.readouterr().out
    assert "direction 0 pass" in printed and "FAIL conflict.slow_pace: direction" in printed
    assert "`conflict.slow_pace`" in out.read_text(encoding="utf-8")
    # Mistakes: one line, exit 1.
    assert main(["conformance", "--rules", "task.evalution", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'task.evaluation'" in err
    with pytest.raises(SystemExit) as excinfo:
        main(["conformance", "--replicates", "0"])
    assert excinfo.value.code == 1


def test_theory_check_reports_every_problem_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from cmo_sim import load_theory

    data = load_theory().to_dict()
    data["rules"][0]["weight"] = -1.0            # a negative weight
    data["rules"][1]["context"] = "trusst"       # an unknown context
    data["rules"].append(dict(data["rules"][2]))  # a duplicate id
    data["baseline"] = {"trust_rat": 0.1}        # an unknown constant
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    good = tmp_path / "good.yaml"
    good.write_text(load_theory().to_yaml())
    assert main(["theory", "check", str(good), str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"ok   {good}: realist-review-default (87 rules)"
    problems = lines[1:]
    assert len(problems) == 4 and all(line.startswith(f"FAIL {bad}: ") for line in problems)
    first, second, third = (data["rules"][k]["id"] for k in range(3))
    assert f"rule {first}: field 'weight'" in problems[0]
    assert f"rule {second}: field 'context': unknown context 'trusst'" in problems[1]
    assert f"rule {third}: duplicate id" in problems[2]
    assert "unknown constant 'trust_rat'; did you mean 'trust_rate'?" in problems[3]
    assert main(["theory", "check", str(good)]) == 0


def test_theory_show_takes_the_file_as_an_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cmo_sim import load_theory

    path = tmp_path / "mine.yaml"
    path.write_text(load_theory().without("faith.trust").to_yaml().replace(
        "name: realist-review-default (modified)", "name: mine"))
    assert main(["theory", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "87 rules (mine)"
    row = next(line for line in out.splitlines() if line.split()[:1] == ["faith.trust"])
    weight, sites = row.split()[-2:]
    assert float(weight) == 0.0 and sites == "faith_change"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"cmo-sim {version('cmo-sim')}"


def test_output_cut_short_by_its_reader_ends_quietly() -> None:
    import subprocess
    import sys

    # The reader of the output goes away before anything is written (as `| head` does once
    # it has its lines): writing raises BrokenPipeError, and the command stops quietly.
    child = subprocess.Popen([sys.executable, "-m", "cmo_sim.cli", "theory", "show"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_sweep_verify_option_reaches_the_resume(tmp_path: Path, monkeypatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import cmo_sim.sweep as sweep_module

    sweep = tmp_path / "grid.yaml"
    sweep.write_text(f"base: {ROOT / 'scenarios' / 'voluntary_alliance.yaml'}\ndesign: grid\n"
                     "replicates: 2\nvary:\n  history: [0, 0.5]\nsteps: 6\n")
    seen = []
    real = sweep_module.run_sweep

    def spy(*args, **kwargs):
        seen.append(kwargs["verify"])
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_sweep", spy)
    store = tmp_path / "s.parquet"
    assert main(["sweep", str(sweep), "--store", str(store), "--quiet"]) == 0
    assert main(["sweep", str(sweep), "--store", str(store), "--quiet", "--verify", "quick"]) == 0
    assert seen == ["full", "quick"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["sweep", str(sweep), "--store", str(store), "--verify", "fast"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "--verify" in err and "'fast'" in err and "full" in err


def test_every_column_of_the_run_table_is_explained(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from cmo_sim.cli import RUN_TABLE_COLUMNS

    buddying = str(SCENARIOS / "buddying.yaml")  # completes: the table gains 'completed'
    assert main(["run", buddying, "--runs", "10", "--steps", "30", "--quiet",
                 "--out", str(tmp_path / "o")]) == 0
    assert "median_month: among the runs that dissolved" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "o" / "summary_by_scenario.csv", index_col=0)
    assert set(table.columns) <= set(RUN_TABLE_COLUMNS) and "completed" in table.columns
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    for column in RUN_TABLE_COLUMNS:
        assert f"| `{column}` |" in reference, column
