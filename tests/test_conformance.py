"""Conformance of the default theory: every rule's direction, and ablation removing its effect.

The whole report runs once per session at the library's default size (8 backgrounds x 200
paired replicates, 60 months: about 15 s on two cores). With fixed seeds it is deterministic;
at this size every direction check passes with its effect at least 4.5 standard errors from
zero, so a small change of the engine does not flip a verdict by chance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import cmo_sim
from cmo_sim.analysis import ConformanceReport, conformance
from cmo_sim.analysis._conformance import (
    MEASURES,
    PROBES,
    TABLE_COLUMNS,
    background_scenarios,
)

THEORY = cmo_sim.load_theory()
#: Rules whose ablation check fails with the default theory (none: every rule passes).
KNOWN_ABLATION_FAILURES: set[str] = set()


@pytest.fixture(scope="module")
def report() -> ConformanceReport:
    return conformance(seed=0)


def test_every_rule_has_a_probe_and_a_known_measure():
    assert set(PROBES) == set(THEORY.ids)
    for rule_id, probe in PROBES.items():
        assert probe.measure in MEASURES, rule_id
        assert probe.low != probe.high, rule_id


def test_table_has_one_row_per_rule_with_the_documented_columns(report):
    t = report.table
    assert list(t.columns) == list(TABLE_COLUMNS)
    assert list(t["rule"]) == list(THEORY.ids)
    signs = {r.id: r.sign for r in THEORY.rules}
    assert (t["sign"] == t["rule"].map(signs)).all()
    assert report.meta["replicates"] == 200 and report.meta["backgrounds"] == 8
    assert len(report.backgrounds) == 8
    assert len(report.per_background) == 8 * len(THEORY)


def test_every_rule_of_the_default_theory_has_its_stated_direction(report):
    t = report.table
    failing = t.loc[~t["pass"], ["rule", "effect", "ci_low", "ci_high"]]
    assert failing.empty, failing.to_string()
    # The interval excludes zero on the rule's side.
    assert ((t["sign"] > 0) == (t["ci_low"] > 0)).all()
    assert ((t["sign"] < 0) == (t["ci_high"] < 0)).all()


def test_ablating_each_rule_removes_its_effect_or_its_share(report):
    t = report.table
    failing = set(t.loc[~t["ablation_pass"], "rule"])
    # Equality, not inclusion: a rule that starts passing is news too (update the docs).
    assert failing == KNOWN_ABLATION_FAILURES, t[~t["ablation_pass"]].to_string()
    # Rules that are the only path from their manipulation lose the effect entirely.
    sole = t[t["via"] == ""]
    assert (sole["ablation"] == "removed").all(), sole.to_string()
    assert (sole["effect_ablated"].abs() < 0.2 * sole["effect"].abs()).all()
    # A "share" verdict means the ablation moved the effect towards zero, significantly.
    shared = t[t["ablation"] == "share"]
    assert len(shared) > 0
    assert (shared["share_ci_low"] > 0).all(), shared.to_string()


def test_a_flipped_sign_flips_the_effect_and_an_inert_rule_fails():
    # The engine applies a rule's stated sign: flipping it in a theory file flips the measured
    # effect (the claim and the behaviour move together, so the flipped rule still passes its
    # own direction check). A rule with weight 0 has no effect and fails.
    # Evaluation also acts through learning.evaluation; with that path switched off the
    # measured effect is task.evaluation's alone.
    data = THEORY.without("learning.evaluation").to_dict()
    for rule in data["rules"]:
        if rule["id"] == "task.evaluation":
            rule["sign"] = -rule["sign"]
    flipped = cmo_sim.load_theory(data)
    rep = conformance(flipped, rules=["task.evaluation"], replicates=40, backgrounds=4, steps=24)
    row = rep.table.iloc[0]
    assert row["sign"] == -1 and row["effect"] < 0 and row["ci_high"] < 0
    assert bool(row["pass"])  # the engine applies the stated sign: effect follows the theory
    # An inert rule (weight 0) cannot pass: no effect, interval [0, 0].
    inert = conformance(THEORY.without("task.evaluation", "learning.evaluation"),
                        rules=["task.evaluation"],
                        replicates=40, backgrounds=4, steps=24)
    row = inert.table.iloc[0]
    assert row["effect"] == 0.0 and not bool(row["pass"])
    assert not inert.passed and list(inert.failures["rule"]) == ["task.evaluation"]


def test_effects_are_paired_with_common_random_numbers():
    # A manipulation with no effect (low == high) gives exactly zero with common random numbers.
    from cmo_sim.analysis._conformance import _paired_effect

    probe = PROBES["task.evaluation"]
    same = type(probe)(probe.manipulation, probe.setter, 0.5, 0.5, probe.measure)
    est = _paired_effect(same, background_scenarios(3, seed=1), THEORY, replicates=20,
                         steps=12, seed=1, level=0.95)
    assert est.mean == 0.0 and est.low == 0.0 and est.high == 0.0


def test_backgrounds_are_reproducible_and_spread_around_the_typical_dyad():
    a = background_scenarios(6, seed=3)
    b = background_scenarios(6, seed=3)
    c = background_scenarios(6, seed=4)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert [s.to_dict() for s in a] != [s.to_dict() for s in c]
    # Typical 0.5 +- 0.2 for contexts; members add a jitter of +- 0.05.
    contexts = np.array([[s.leadership, s.pace, s.history + 0.5] for s in a])
    members = np.array([[m.flexibility for m in s.members] for s in a])
    assert ((contexts >= 0.3 - 1e-9) & (contexts <= 0.7 + 1e-9)).all()
    assert ((members >= 0.25 - 1e-9) & (members <= 0.75 + 1e-9)).all()
    assert contexts.std(axis=0).min() > 0.02 and members.std() > 0.02  # they do vary
    for s in a:  # members move together, with a small individual jitter
        assert abs(s.members[0].culture - s.members[1].culture) <= 0.1 + 1e-9
        assert not s.mandated and s.n_members == 2


def test_to_markdown_reports_counts_failures_and_every_rule(report):
    text = report.to_markdown()
    t = report.table
    assert f"direction: **{int(t['pass'].sum())} of {len(t)} pass**" in text
    assert f"ablation: **{int(t['ablation_pass'].sum())} of {len(t)} pass**" in text
    for rule_id in THEORY.ids:
        assert f"`{rule_id}`" in text
    assert "Rules failing a check" not in text
    table_lines = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(table_lines) == len(THEORY)
    assert all(line.count(" | ") == 12 for line in table_lines)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="replicates: 1 is not allowed"):
        conformance(replicates=1)
    with pytest.raises(ValueError, match="level: 1.5"):
        conformance(level=1.5)
    with pytest.raises(ValueError, match="backgrounds: 0"):
        conformance(backgrounds=0)
    with pytest.raises(KeyError, match="did you mean 'task.evaluation'"):
        conformance(rules=["task.evalution"])
    with pytest.raises(ValueError, match="theory"):
        conformance(theory=42)


@pytest.mark.parametrize("rule_id", ["task.resourcing", "synergy.faith"])
def test_per_background_effects_and_interval_match_a_direct_paired_simulation(report, rule_id):
    # Recompute one rule's effect from scratch: simulate each background's low and high scenario
    # on the same seed (so replicate r shares its random numbers), difference the summaries'
    # performance, and average: per background over replicates, and per replicate over
    # backgrounds for the t interval the report gives.
    from scipy import stats

    meta, probe = report.meta, PROBES[rule_id]
    assert probe.measure == "performance"
    reps = meta["replicates"]
    diffs, downstream = [], []
    for background in report.backgrounds:
        low, high = probe.scenarios(background)
        res = cmo_sim.simulate([low, high], runs=reps, steps=meta["steps"], seed=meta["seed"],
                               theory=THEORY)
        performance = res.summary["performance"].to_numpy().reshape(2, reps)
        diffs.append(performance[1] - performance[0])
        dissolved = res.summary["dissolved"].to_numpy(float).reshape(2, reps)
        downstream.append(dissolved[1] - dissolved[0])
    diffs = np.array(diffs)  # [backgrounds, replicates]
    reported = report.per_background.query("rule == @rule_id").sort_values("background")
    np.testing.assert_allclose(reported["effect"].to_numpy(), diffs.mean(axis=1), rtol=1e-12,
                               atol=1e-12)
    per_replicate = diffs.mean(axis=0)
    half = stats.t.ppf(0.5 + meta["level"] / 2, reps - 1) * stats.sem(per_replicate)
    row = report.table.set_index("rule").loc[rule_id]
    assert row["effect"] == pytest.approx(per_replicate.mean(), rel=1e-12, abs=1e-12)
    assert row["ci_low"] == pytest.approx(per_replicate.mean() - half, rel=1e-9)
    assert row["ci_high"] == pytest.approx(per_replicate.mean() + half, rel=1e-9)
    agree = report.table["backgrounds_agree"]
    assert ((agree >= 0) & (agree <= 1)).all() and math.isclose(agree.max(), 1.0)
    # The downstream effect (share dissolved) comes from the same runs, estimated the same way.
    per_replicate = np.array(downstream).mean(axis=0)
    half = stats.t.ppf(0.5 + meta["level"] / 2, reps - 1) * stats.sem(per_replicate)
    assert row["downstream_effect"] == pytest.approx(per_replicate.mean(), abs=1e-12)
    assert row["downstream_ci_high"] == pytest.approx(per_replicate.mean() + half, rel=1e-9)


def test_every_rule_is_measured_downstream_and_small_effects_are_flagged(report):
    t = report.table
    assert (t["downstream"] == "dissolved").all()
    includes_zero = (t["downstream_share_ci_low"] <= 0) & (t["downstream_share_ci_high"] >= 0)
    small = t["downstream_share"].abs() < 0.01
    assert ((t["downstream_flag"] != "") == (includes_zero | small)).all()
    assert (t.loc[includes_zero, "downstream_flag"] == "interval includes 0").all()
    text = report.to_markdown()
    flagged = t[t["downstream_flag"] != ""]
    assert f"{len(t) - len(flagged)} of {len(t)} rules' own part is at least 0.01" in text
    for rule in flagged["rule"]:
        assert f"`{rule}` (" in text


def test_analysis_exports_exactly_its_public_names():
    import types

    import cmo_sim.analysis as analysis

    public = {name for name, value in vars(analysis).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public == set(analysis.__all__)
    assert {"conformance", "ConformanceReport"} <= public


@pytest.mark.slow
def test_every_rule_passes_both_checks_at_the_documented_full_size():
    # docs/conformance.md's full run: 16 backgrounds x 1,000 replicates, 120 months.
    full = conformance(replicates=1000, backgrounds=16, steps=120, seed=0)
    assert full.passed, full.failures[["rule", "effect", "ci_low", "ci_high"]].to_string()
