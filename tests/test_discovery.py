"""Scenario discovery: PRIM and CART boxes over sweeps, the rules behind them, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cmo_sim
from cmo_sim import Sweep, SweepResults, run_sweep
from cmo_sim.analysis import discover
from cmo_sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
VARY = {"history": (-1.0, 1.0), "leadership": (0.0, 1.0), "pace": (0.0, 1.0),
        "proximity": (0.0, 1.0), "entry_point": ["innovation", "policy_directive"]}
#: The planted box: the outcome happens exactly when 0.2 < history < 0.6 and leadership < 0.4.
PLANTED = {"history": (0.2, 0.6), "leadership": (0.0, 0.4)}


def planted_results(method_points: int = 2000) -> SweepResults:
    sweep = Sweep(BASE, vary=VARY, design="lhs", samples=method_points, replicates=1)
    v = sweep.values
    inside = ((v.history > 0.2) & (v.history < 0.6) & (v.leadership < 0.4)).to_numpy()
    frame = pd.DataFrame({"run": np.arange(sweep.n_points), "point": np.arange(sweep.n_points),
                          "replicate": 0, "dissolved": inside.astype(float)})
    return SweepResults(sweep, frame)


@pytest.fixture(scope="module")
def planted():
    return planted_results()


@pytest.mark.parametrize("method", ["prim", "cart"])
def test_the_first_box_recovers_a_planted_box(planted, method):
    found = discover(planted, "dissolved", threshold=0.5, method=method)
    box = found.boxes[0]
    assert set(box.limits.index) == set(PLANTED)
    for factor, (low, high) in PLANTED.items():
        # Each limit within 0.05 of the planted one (2,000 LHS points: about 0.001 apart).
        assert box.limits.loc[factor, "lower"] == pytest.approx(low, abs=0.05)
        assert box.limits.loc[factor, "upper"] == pytest.approx(high, abs=0.05)
    assert box.density > 0.95 and box.coverage > 0.9
    # The box is tied to the rules whose contexts bound it.
    assert box.rules["history"] == ["trust.successful_history", "trust.failed_history",
                                    "learning.successful_history"]
    assert "leadership.collaborative" in box.rules["leadership"]
    # Feature scoring ranks the two planted factors first.
    assert set(found.feature_scores.index[:2]) == set(PLANTED)
    assert found.meta["of_interest"] == pytest.approx(planted.summary["dissolved"].mean())


def test_prim_gives_its_peeling_trajectory(planted):
    found = discover(planted, "dissolved", threshold=0.5)
    t = found.trajectory
    assert list(t.columns) == ["coverage", "density", "mass", "res_dim"]
    # From the whole space (coverage 1, density = share of interest) to the chosen box.
    assert t["coverage"].iloc[0] == 1.0 and t["mass"].iloc[0] == 1.0
    assert t["density"].iloc[0] == pytest.approx(found.meta["of_interest"])
    assert (np.diff(t["mass"].to_numpy()) <= 0).all()
    assert t["density"].iloc[-1] == pytest.approx(found.boxes[0].density)


def test_a_categorical_factor_bounds_a_box():
    sweep = Sweep(BASE, vary=VARY, design="lhs", samples=600, replicates=1)
    v = sweep.values
    hit = ((v.entry_point == "policy_directive") & (v.pace > 0.5)).to_numpy()
    res = SweepResults(sweep, pd.DataFrame({"run": np.arange(600), "point": np.arange(600),
                                            "replicate": 0, "dissolved": hit.astype(float)}))
    box = discover(res, "dissolved", threshold=0.5).boxes[0]
    assert box.limits.loc["entry_point", "values"] == ["policy_directive"]
    assert box.limits.loc["pace", "lower"] == pytest.approx(0.5, abs=0.05)
    assert box.rules["entry_point"] == ["entry.competitive_threat",
                                        "entry.regulatory_environment"]


def test_discovery_on_a_real_sweep_per_point_and_per_run(tmp_path):
    sweep = Sweep(BASE, vary={"history": (-1.0, 1.0), "shared_vision": (0.0, 1.0)},
                  design="lhs", samples=60, replicates=10)
    res = run_sweep(sweep, steps=60, progress=False)
    by_point = discover(res, "dissolved", threshold=0.5)
    # Partnerships with a failed history dissolve: the box bounds history from above.
    assert by_point.boxes[0].limits.loc["history", "upper"] < 0.3
    by_run = discover(res, "dissolved", threshold=0.5, per="run")
    assert by_run.meta["cases"] == 600 and by_run.meta["per"] == "run"
    fig = by_point.plot()
    fig.savefig(tmp_path / "box.png")
    assert len(fig.axes) >= 2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"threshold": 2.0}, r"threshold: dissolved above 2.0 selects no point"),
    ({"threshold": -1.0}, r"threshold: dissolved above -1.0 selects every point"),
    ({"threshold": 0.5, "per": "pair"}, r"per: 'pair' is not allowed"),
    ({"threshold": 0.5, "method": "forest"}, r"method: 'forest' is not allowed"),
    ({"threshold": float("nan")}, r"threshold: nan is not a finite number"),
    ({"threshold": 0.5, "density": 1.5}, r"density: 1.5 is not allowed"),
])
def test_bad_discoveries_are_refused(planted, kwargs, message):
    with pytest.raises(ValueError, match=message):
        discover(planted, "dissolved", **kwargs)


def test_unknown_outcome_names_the_allowed_ones(planted):
    with pytest.raises(ValueError, match=r"outcome: 'dissolve' is not allowed"):
        discover(planted, "dissolve", threshold=0.5)


def test_cli_discover_prints_boxes_rules_and_scores(tmp_path, capsys):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": "d", "base": str(ROOT / "scenarios" / "voluntary_alliance.yaml"),
        "design": "lhs", "samples": 40, "replicates": 6, "steps": 36,
        "vary": {"history": {"low": -1.0, "high": 1.0}, "leadership": {"low": 0, "high": 1}},
    }))
    store = tmp_path / "s.parquet"
    assert main(["sweep", str(path), "--store", str(store), "--quiet"]) == 0
    capsys.readouterr()
    out_png = tmp_path / "box.png"
    assert main(["discover", str(store), "--threshold", "0.3", "--out", str(out_png)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dissolved above 0.3: ")
    assert "box 1: " in out and "feature scores (extra trees):" in out
    assert out_png.is_file()
    assert main(["discover", str(tmp_path / "nothing")]) == 1
    assert "no sweep store here" in capsys.readouterr().err
    assert main(["discover", str(store), "--out", str(tmp_path / "box.txt")]) == 1
    assert "does not end in .png" in capsys.readouterr().err

