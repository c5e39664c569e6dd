"""Every experiment script runs at small size and writes its figures and Markdown table.

Each test also checks the experiment's headline at a size where it is stable: the claims
checked are large effects (several standard errors at these replicate counts, noted beside
each) or exact consequences of common random numbers.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
NAMES = ("entry_points", "ambition", "basins", "inertia_first", "conflict", "power",
         "mandate_leadership", "timing")


@pytest.fixture
def load(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))

    def load_module(name: str):
        spec = importlib.util.spec_from_file_location(f"experiment_{name}",
                                                      EXPERIMENTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load_module


def _run(load, name: str, tmp_path: Path, *args: str) -> dict:
    module = load(name)
    assert module.__doc__ and "Claim examined" in module.__doc__, name
    out = tmp_path / name
    result = module.main(["--out", str(out), *args])
    report = (out / "results.md").read_text(encoding="utf-8")
    assert report.startswith("# ") and "Command: `python experiments/" in report
    assert re.search(r"^\|.*\|$", report, flags=re.M), "a Markdown table"
    pngs = sorted(out.glob("*.png"))
    assert pngs and all(p.stat().st_size > 5_000 for p in pngs)
    for png in pngs:
        assert f"]({png.name})" in report
    assert list(out.glob("*.csv"))
    return result


def test_every_experiment_is_tested():
    scripts = {p.stem for p in EXPERIMENTS.glob("*.py")} - {"_common", "gallery"}
    assert scripts == set(NAMES)


def test_entry_points(load, tmp_path):
    t = _run(load, "entry_points", tmp_path, "--runs", "60", "--steps", "60")["table"]
    assert len(t) == 7
    # Presets move initial trust by 0.1-0.2; its run-to-run spread is +-0.1 (SE ~0.01 here).
    trust = t["initial trust"]
    assert trust["existing_interdependence"] > trust["none"] + 0.1
    assert trust["policy_directive"] < trust["none"] - 0.1
    assert trust["competitive_threat"] < trust["none"] - 0.1
    assert t.loc["policy_directive", "dissolved"] > t.loc["existing_interdependence",
                                                          "dissolved"] + 0.3


def test_ambition(load, tmp_path):
    result = _run(load, "ambition", tmp_path, "--runs", "150")
    perf = result["table"]["performance"]
    # Both ends lose: at full size performance at -1 is 15 and at +1 52 below the peak; at 150
    # runs a level's mean has SE ~2.5 (seeds 0-3 give gaps of 12-20 and 48-54).
    assert -1.0 < result["best"] < 0.5
    assert perf.max() - perf.loc[-1.0] > 5 and perf.max() - perf.loc[1.0] > 30
    t = result["table"]
    assert t.loc[-1.0, "by faith"] > t.loc[-1.0, "by trust"]  # under-ambition: faith
    assert t.loc[1.0, "by trust"] > 0.9  # over-ambition: trust


def test_basins(load, tmp_path):
    result = _run(load, "basins", tmp_path, "--runs", "100")
    # The threshold lies at a middling initial trust (bins of ~100-170 runs, SE <= 0.05).
    assert 0.4 < result["threshold"] < 0.6
    share = result["table"]["synergy_basin"]
    assert share.iloc[0] < 0.1 and share.iloc[-1] > 0.7
    assert result["middle"] < 0.3  # few runs between the basins


def test_inertia_first(load, tmp_path):
    t = _run(load, "inertia_first", tmp_path, "--runs", "200", "--steps", "60")["table"]
    # Lower initial trust (the cautious dyad's history -0.3) leaves more partnerships stuck in
    # inertia (0.525 against 0.225 of 200 runs: about 6 standard errors apart), and within each
    # scenario the runs stuck in inertia started with less trust than those reaching early
    # synergy (the basin threshold in initial trust).
    stuck, early = "stuck in inertia", "early synergy"
    cautious, typical = "cautious (history -0.3)", "typical"
    assert t.loc[(cautious, stuck), "share"] > t.loc[(typical, stuck), "share"] + 0.15
    for scenario in (typical, cautious):
        assert t.loc[(scenario, stuck), "initial trust"] < t.loc[(scenario, early),
                                                                  "initial trust"]
    # About 13% of cautious dyads (26 of 200) pass through inertia first; 5% would be 10.
    assert t.loc[("cautious (history -0.3)", "inertia first"), "share"] > 0.05
    assert t.loc[("cautious (history -0.3)", "inertia first"),
                 "median months to synergy 0.5"] > 6


def test_conflict(load, tmp_path):
    result = _run(load, "conflict", tmp_path, "--runs", "60", "--steps", "60")
    t = result["table"]
    assert len(t) == 25
    # Both protective contexts at 1 against both at 0: 90 percentage points apart at full size.
    assert t.loc[(1.0, 1.0), "dissolved"] < t.loc[(0.0, 0.0), "dissolved"] - 0.4
    assert t.loc[(1.0, 0.5), "conflicts_per_year"] < t.loc[(0.0, 0.5), "conflicts_per_year"]


def test_power(load, tmp_path):
    t = _run(load, "power", tmp_path, "--runs", "60", "--steps", "60")["table"]
    trust = t["smaller_trust_2y"].unstack("resource_equality")
    # The smaller partner's trust falls with the size ratio and rises with fair sharing
    # (0.13 and 0.3 apart at full size; SE ~0.02 at 60 runs).
    assert trust.loc[1000, 0.5] < trust.loc[1, 0.5] - 0.05
    assert trust.loc[1000, 1.0] > trust.loc[1000, 0.0] + 0.15


def test_mandate_leadership(load, tmp_path):
    t = _run(load, "mandate_leadership", tmp_path, "--runs", "60", "--steps", "36")["table"]
    v, m = t.xs("voluntary"), t.xs("mandated")
    assert (m["initial_trust"] < v["initial_trust"] - 0.1).all()
    # Combative leadership raises shared vision only under a mandate (exactly 0.5 otherwise).
    assert m.loc["combative (0.1)", "vision_2y"] > 0.52
    assert v.loc["combative (0.1)", "vision_2y"] == pytest.approx(0.5)
    assert v.loc["combative (0.1)", "trust_in_lead_2y"] < v.loc["middle (0.5)",
                                                                "trust_in_lead_2y"]


def test_timing(load, tmp_path):
    t = _run(load, "timing", tmp_path, "--runs", "80", "--steps", "72")["table"]
    legal = t.xs("legal agreement")
    # Formal agreements act through initial trust only: signed later, with common random
    # numbers, every run is exactly the run that never signed.
    assert (legal.drop(index=[0, "never"])["vs never"] == 0).all()
    assert legal.loc[0, "vs never"] < 0
    lead = t.xs("leadership change").drop(index="never")
    assert lead.loc[0, "vs never"] < lead.loc[60, "vs never"]  # earlier is better


def test_bad_arguments_exit_with_a_message(load, tmp_path, capsys):
    module = load("timing")
    with pytest.raises(SystemExit) as info:
        module.main(["--runs", "0", "--out", str(tmp_path)])
    assert info.value.code == 2 and "--runs: must be >= 1" in capsys.readouterr().err
