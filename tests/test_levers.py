"""Levers: context changes made part-way through a partnership, ranked on common random numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import cmo_sim
from cmo_sim import ScenarioError
from cmo_sim.analysis import levers
from cmo_sim.cli import DEFAULT_SCENARIO, main

BASE = cmo_sim.load_scenario(DEFAULT_SCENARIO)


def test_each_effect_is_the_paired_difference_with_a_change_on_the_timeline():
    report = levers(BASE, [{"leadership": 0.9}], at=[12], runs=200, steps=60, seed=2,
                    outcomes=["performance"])
    # Independently: the scenario with leadership raised at month 12, against the unchanged one.
    data = BASE.to_dict()
    data["timeline"] = [{"step": 12, "changes": {"leadership": 0.9}}]
    changed = cmo_sim.simulate(cmo_sim.load_scenario(data), runs=200, steps=60, seed=2).summary
    plain = cmo_sim.simulate(BASE, runs=200, steps=60, seed=2).summary
    d = changed["performance"].to_numpy() - plain["performance"].to_numpy()
    row = report.table.iloc[0]
    assert row["effect"] == pytest.approx(d.mean())
    half = stats.t.ppf(0.975, 199) * stats.sem(d)
    assert row["ci_high"] - row["effect"] == pytest.approx(half)
    # Before month 12 nothing differs, so pairing removes most of the noise: the interval is
    # at least three times narrower than two independent samples would give.
    assert row["independent_ci_half_width"] > 3 * half


def test_levers_are_ranked_by_the_first_outcome_in_its_better_direction():
    report = levers(BASE, {"collaborative leader": {"leadership": 0.9},
                           "combative leader": {"leadership": 0.1}},
                    at=[0, 24], runs=300, steps=60, outcomes=["dissolved", "performance"])
    ranking = report.ranking
    assert list(ranking["rank"]) == [1, 2, 3, 4]
    assert (np.diff(ranking["effect"].to_numpy()) >= 0).all()  # lower dissolution first
    assert ranking.iloc[0]["lever"] == "collaborative leader"
    assert ranking.iloc[0]["month"] == 0  # the earlier, the more it does
    worst = ranking.iloc[-1]
    assert worst["lever"] == "combative leader" and worst["ci_low"] > 0


def test_a_change_merges_with_an_event_already_on_the_timeline():
    data = BASE.to_dict()
    data["timeline"] = [{"step": 6, "changes": {"pace": 0.2}}]
    with_event = cmo_sim.load_scenario(data)
    report = levers(with_event, [{"leadership": 0.9}], at=[6], runs=50, steps=24)
    assert len(report.table) == 2  # one lever x one month x two outcomes


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"changes": [{"leadershp": 0.9}]}, ScenarioError, r"changes\['leadershp=0.9'\]: .*leadership"),
    ({"changes": [{"leadership": 1.5}]}, ScenarioError, r"leadership"),
    ({"changes": [{"leadership": 0.9}], "at": [24]}, ValueError, r"at: month 24 is not allowed"),
    ({"changes": [{"leadership": 0.9}], "outcomes": ["dissolve"]}, ValueError, r"outcomes:"),
    ({"changes": []}, ValueError, r"changes: give a list"),
    ({"changes": [{"leadership": 0.9}], "at": [-1]}, ValueError, r"at: month -1"),
])
def test_bad_levers_are_refused_before_any_run(kwargs, error, message):
    kwargs = {"at": [0], **kwargs}
    with pytest.raises(error, match=message):
        levers(BASE, steps=24, runs=5, **kwargs)


def test_cli_levers(tmp_path, capsys):
    out = tmp_path / "levers.png"
    assert main(["levers", "--change", "leadership=0.9", "--change",
                 "conflict_resolution=0.9,accountability=0.8", "--at", "0", "12", "--runs", "100",
                 "--steps", "36", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ranked by dissolved" in text
    assert "conflict_resolution=0.9, accountability=0.8" in text
    assert out.is_file()
    with pytest.raises(SystemExit) as exited:
        main(["levers", "--change", "leadership", "--runs", "5"])
    assert exited.value.code == 1
    assert "is not 'context=value'" in capsys.readouterr().err
