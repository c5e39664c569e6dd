"""The open theory language: a theory's own contexts and rules, compiled into both engines."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cmo_sim
from cmo_sim import ScenarioError, TheoryError
from cmo_sim.analysis import conformance
from cmo_sim.sweep import Sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import reference_runs  # noqa: E402

DEFAULT = cmo_sim.load_theory()
ALLIANCE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")

TURNOVER = {"name": "liaison_turnover", "level": "partnership", "range": [0.0, 1.0],
            "typical": 0.0, "meaning": "Share of liaison posts changing hands in a year.",
            "provenance": "Zwisler et al. 2024"}
PROCESS = {"name": "formal_process", "level": "member", "range": [0.0, 1.0], "typical": 0.5,
           "meaning": "Weight of formal process in a member's partnership work.",
           "provenance": "Pereira 2022"}
RESETS = {"id": "liaison.turnover_resets", "context": "liaison_turnover",
          "mechanism": "reduced_trust", "outcome": "trust", "sign": -1, "weight": 1.0,
          "site": "trust_change", "scale": [0.05], "modulator": "distrust_odds",
          "provenance": "Zwisler et al. 2024"}
COMPENSATES = {"id": "process.compensates", "context": "formal_process",
               "mechanism": "coordination", "outcome": "task_achievement", "sign": 1,
               "weight": 1.0, "site": "task_logit", "when": ["trust < 0.45"],
               "provenance": "Pereira 2022"}
THEORY = DEFAULT.extend(rules=[RESETS, COMPENSATES], contexts=[TURNOVER, PROCESS])


def _summary(scenario, theory, runs=200, **kw):
    return cmo_sim.simulate(scenario, runs=runs, seed=3, theory=theory, **kw).summary


# -- the default theory, written as terms, runs the model it ran before ---------------------------
def test_the_default_theory_reproduces_the_reference_runs():
    # tests/data holds 3,200 ten-year runs (every shipped scenario) written by the engine in
    # which each rule was a hand-written expression. Terms add the same numbers in another
    # order, so values agree to rounding; every discrete event is the same.
    summary, monthly = reference_runs.current()
    diffs = reference_runs.differences(summary, monthly)
    discrete = ["run", "scenario", "replicate", "n_members", "dissolved", "dissolved_at", "cause",
                "members_final", "conflicts", "constructive", "destructive", "successes",
                "failures", "dominations", "exits", "monthly conflict_events", "monthly step"]
    assert {k: diffs[k] for k in discrete} == dict.fromkeys(discrete, 0.0)
    # Cumulative performance (sums of ~100 monthly values of order 1) carries the largest
    # rounding: 1e-12 is ~10,000 ulp of it, far below any behavioural difference.
    assert max(diffs.values()) < 1e-12, diffs


# -- a theory's own contexts and rules -------------------------------------------------------------
def test_an_unset_context_runs_at_its_typical_value():
    typical = ALLIANCE.with_values({"contexts.liaison_turnover": 0.0,
                                    "members[0].contexts.formal_process": 0.5})
    pd.testing.assert_frame_equal(_summary(ALLIANCE, THEORY), _summary(typical, THEORY))


def test_a_rule_of_ones_own_acts_and_ablating_it_removes_exactly_its_term():
    high = ALLIANCE.with_values({"contexts.liaison_turnover": 0.8})
    low, raised = _summary(ALLIANCE, THEORY), _summary(high, THEORY)
    # Liaison turnover resets relationships: trust ends lower, more partnerships dissolve.
    assert raised["trust_final"].mean() < low["trust_final"].mean() - 0.05
    assert raised["dissolved"].mean() > low["dissolved"].mean()
    # Without the rule the context is inert, and the theory runs exactly as the default one.
    ablated = THEORY.without("liaison.turnover_resets", "process.compensates")
    pd.testing.assert_frame_equal(_summary(high, ablated), _summary(ALLIANCE, DEFAULT))


def test_a_condition_confines_a_rule_to_its_configuration():
    # process.compensates acts only where trust is below 0.45: in a high-trust alliance more
    # formal process changes nothing, in a low-trust one it raises performance.
    high_trust = ALLIANCE.with_values({"history": 1.0, "formalisation": 0.5})
    low_trust = ALLIANCE.with_values({"history": -1.0})
    formal = {f"members[{i}].contexts.formal_process": 1.0 for i in range(2)}
    informal = {f"members[{i}].contexts.formal_process": 0.0 for i in range(2)}

    def gain(scenario):
        a = _summary(scenario.with_values(formal), THEORY, steps=24)
        b = _summary(scenario.with_values(informal), THEORY, steps=24)
        return (a["performance"] - b["performance"]).mean()

    assert gain(low_trust) > 0.5
    assert abs(gain(high_trust)) < 0.05 * gain(low_trust)


def test_timelines_change_a_theorys_own_contexts():
    raw = ALLIANCE.to_dict()
    raw["timeline"] = [{"step": 24, "changes": {"contexts.liaison_turnover": 0.9}}]
    later = cmo_sim.load_scenario(raw, theory=THEORY)
    with pytest.raises(cmo_sim.ScenarioError, match="timeline step 24"):
        _summary(later, THEORY, steps=24)  # months 0 .. 23: the change would never act
    longer = (_summary(later, THEORY, steps=60), _summary(ALLIANCE, THEORY, steps=60))
    assert longer[0]["trust_final"].mean() < longer[1]["trust_final"].mean()


@pytest.mark.parametrize(("changes", "message"), [
    ({"contexts": {"liason_turnover": 0.2}},
     "contexts.liason_turnover: the theory declares no context 'liason_turnover'; did you mean "
     "'liaison_turnover'?"),
    ({"contexts": {"liaison_turnover": 1.5}},
     "contexts.liaison_turnover: 1.5 is out of range (allowed: 0 .. 1)"),
    ({"contexts": {"formal_process": 0.2}},
     "contexts.formal_process: 'formal_process' is a member-level context (set it under "
     "members[i].contexts)"),
    ({"timeline": [{"step": 5, "changes": {"contexts.liaison_turnover": -1.0}}]},
     "timeline[0].changes.contexts.liaison_turnover: -1 is out of range (allowed: 0 .. 1)"),
])
def test_a_scenario_value_the_theory_does_not_allow_is_refused(changes, message):
    raw = {**ALLIANCE.to_dict(), **changes}
    with pytest.raises(ScenarioError, match="^scenario: ") as info:
        cmo_sim.load_scenario(raw, theory=THEORY)
    assert message in str(info.value)
    scenario = cmo_sim.load_scenario(raw)  # without a theory, the names are not checked yet
    with pytest.raises(ScenarioError) as info:
        cmo_sim.simulate(scenario, runs=2, theory=THEORY)
    assert message in str(info.value)


def test_the_default_theory_refuses_a_context_it_does_not_declare():
    scenario = ALLIANCE.with_values({"contexts.liaison_turnover": 0.3})
    with pytest.raises(ScenarioError, match="declares no context 'liaison_turnover'"):
        cmo_sim.simulate(scenario, runs=2)


# -- honest labels ---------------------------------------------------------------------------------
def test_a_label_the_site_cannot_reach_is_refused():
    data = DEFAULT.to_dict()
    rule = next(r for r in data["rules"] if r["id"] == "synergy.high_trust")
    rule["outcome"] = "dissolution"
    with pytest.raises(TheoryError) as info:
        cmo_sim.load_theory(data)
    text = str(info.value)
    assert "rule synergy.high_trust: field 'outcome'" in text
    assert "'dissolution' is not reached from site 'functioning'" in text
    assert "allowed: synergy, task_achievement" in text


def test_relabelling_a_rule_changes_what_it_does_and_the_report_shows_it():
    # conflict.slow_pace says "a brisker pace raises trust" (by lowering conflict). Relabelled
    # "a brisker pace raises conflict", the same site runs the term the other way, and
    # conformance finds the relabelled claim true of the relabelled theory.
    data = DEFAULT.to_dict()
    rule = next(r for r in data["rules"] if r["id"] == "conflict.slow_pace")
    rule["outcome"] = "conflict"
    relabelled = cmo_sim.load_theory(data)
    term = [t for t in relabelled.compiled()["conflict"].terms if t.rule == "conflict.slow_pace"]
    original = [t for t in DEFAULT.compiled()["conflict"].terms if t.rule == "conflict.slow_pace"]
    assert term[0].coef == -original[0].coef != 0
    report = conformance(relabelled, rules=["conflict.slow_pace"], replicates=60,
                         backgrounds=4, steps=48)
    row = report.table.iloc[0]
    assert row["measure"] == "conflict_rate" and row["effect"] > 0 and row["pass"]


# -- conformance, sweeps and stores for a theory of one's own --------------------------------------
def test_conformance_tests_a_theorys_own_rules():
    report = conformance(THEORY, rules=["liaison.turnover_resets", "process.compensates"],
                         replicates=60, backgrounds=4, steps=60)
    t = report.table.set_index("rule")
    assert t.loc["liaison.turnover_resets", "manipulation"] == "liaison_turnover 0.1 -> 0.9"
    assert t.loc["process.compensates", "manipulation"].endswith("(acting where trust < 0.45)")
    assert t["pass"].all() and t["ablation_pass"].all()
    assert t.loc["liaison.turnover_resets", "ablation"] == "removed"


def test_a_sweep_varies_a_theorys_contexts_and_weights_and_its_store_keeps_the_theory(tmp_path):
    sweep = Sweep(ALLIANCE, vary={"contexts.liaison_turnover": (0.0, 0.8),
                                  "rule:liaison.turnover_resets": (0.5, 2.0)},
                  design="lhs", samples=4, replicates=8)
    store = tmp_path / "s.zarr"
    result = run_sweep(sweep, theory=THEORY, store=store, progress=False)
    assert result.meta["theory_hash"] == THEORY.content_hash
    assert set(result.summary["point"]) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="theory differs"):
        run_sweep(sweep, theory=THEORY.with_weights({"trust.success_loop": 0.5}), store=store,
                  progress=False)
    with pytest.raises(ScenarioError, match="declares no partnership-level context"):
        run_sweep(sweep, progress=False)
    outside = Sweep(ALLIANCE, vary={"contexts.liaison_turnover": (0.0, 3.0)}, design="lhs",
                    samples=2, replicates=2)
    with pytest.raises(ScenarioError, match="outside the declared range"):
        run_sweep(outside, theory=THEORY, progress=False)


def test_an_extended_theory_round_trips_through_yaml(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(THEORY.to_yaml(), encoding="utf-8")
    loaded = cmo_sim.load_theory(path)
    assert loaded == THEORY and loaded.content_hash == THEORY.content_hash
    assert [c.name for c in loaded.user_contexts] == ["liaison_turnover", "formal_process"]
    assert np.isclose(loaded.rule("liaison.turnover_resets").weight, 1.0)


def test_explain_cites_a_theorys_own_rules():
    # Replicate 0 of this churning alliance dissolves in month 15 with liaison
    # turnover as the largest push down on the leaving member's trust.
    churning = ALLIANCE.with_values({"contexts.liaison_turnover": 0.9})
    explanation = cmo_sim.explain(churning, seed=0, replicate=0, theory=THEORY)
    exit_row = explanation.events[explanation.events["mechanism"] == "exit"].iloc[0]
    assert exit_row["driver"] == "liaison.turnover_resets"
    assert "liaison.turnover_resets" in exit_row["detail"]
    assert ("liaison turnover acting through reduced trust (liaison.turnover_resets)"
            in explanation.story)
    cited = {r for rules in explanation.events["rules"] for r in rules.split(", ") if r}
    assert cited <= set(THEORY.ids)


# -- the trust account -----------------------------------------------------------------------------
def test_the_trust_account_adds_up_to_the_change_of_trust():
    # Every month each pair's change of trust is split between its parts, so in a dyad that
    # stays together the account sums to the change of mean trust over the run (independently
    # read from the recorded trajectory).
    results = cmo_sim.simulate(ALLIANCE, runs=300, steps=60, seed=4, record="trajectory")
    s = results.summary
    kept = ~s["dissolved"].to_numpy()
    assert kept.sum() > 50
    trust = results.trajectories["trust"].mean("member").to_numpy()
    change = (trust[:, -1] - trust[:, 0])[kept]
    columns = [c for c in s.columns if c.startswith(("trust_lost_", "trust_gained_"))]
    assert len(columns) == 6
    account = s.loc[kept, columns].sum(axis=1).to_numpy()
    np.testing.assert_allclose(account, change, atol=1e-12)
    assert (s[[c for c in columns if "lost" in c]] <= 0).all().all()
    assert (s[[c for c in columns if "gained" in c]] >= 0).all().all()


def test_the_trust_account_names_what_moved_trust():
    # Without the rules that read the task's outcome, no trust moves through it; without
    # conflict (its hazard at its floor), none through conflict resolutions.
    task_rules = [r.id for r in DEFAULT if any(
        t.account == "task" for site in DEFAULT.compiled().values() for t in site.terms
        if t.rule == r.id and t.site == "trust_change")]
    assert set(task_rules) == {"trust.success_loop", "trust.failure_loop",
                               "power.unequal_resources"}
    s = _summary(ALLIANCE, DEFAULT.without(*task_rules), steps=60)
    assert (s["trust_lost_task"] == 0).all() and (s["trust_gained_task"] == 0).all()
    calm = DEFAULT.with_baseline(conflict_intercept=-50.0)
    s = _summary(ALLIANCE, calm, steps=60)
    assert (s["trust_lost_conflict"] == 0).all() and (s["conflicts"] == 0).all()
    explanation = cmo_sim.explain(ALLIANCE, seed=0, replicate=1)
    row = explanation.summary
    assert (f"lost to conflicts {abs(row['trust_lost_conflict']):.2f}, the task's outcome "
            f"{abs(row['trust_lost_task']):.2f}") in explanation.story


def test_levers_pull_a_theorys_own_contexts():
    from cmo_sim.analysis import levers

    churning = ALLIANCE.with_values({"contexts.liaison_turnover": 0.6})
    report = levers(churning, {"stop turnover": {"contexts.liaison_turnover": 0.0}}, at=[0, 24],
                    runs=300, steps=60, theory=THEORY)
    t = report.table.set_index(["month", "outcome"])
    # Stopping liaison turnover at the start keeps partnerships together; later, less so.
    assert t.loc[(0, "dissolved"), "effect"] < -0.1
    assert t.loc[(0, "dissolved"), "ci_high"] < 0
    assert t.loc[(0, "dissolved"), "effect"] < t.loc[(24, "dissolved"), "effect"]
