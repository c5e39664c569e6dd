"""``cmo_sim.testing``: strategies valid by construction, invariant checks that catch breaks,
``assert_effect`` with common random numbers, and the docs page's example, executed."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from _budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import cmo_sim
import cmo_sim.testing
from cmo_sim.scenario import ENTRY_POINTS, PARTNERSHIP_FIELDS, field_bounds
from cmo_sim.testing import (
    assert_effect,
    check_invariants,
    contexts,
    scenarios,
    theories,
)

ROOT = Path(__file__).resolve().parents[1]
THEORY = cmo_sim.load_theory()


def test_public_names():
    public = {n for n in dir(cmo_sim.testing) if not n.startswith("_")}
    assert public == set(cmo_sim.testing.__all__)
    assert sorted(cmo_sim.testing.__all__) == [
        "Effect", "assert_effect", "check_invariants", "contexts", "scenarios", "theories",
        "theory_contexts"]


# -- strategies -----------------------------------------------------------------------------------
@examples(60)
@given(scenario=scenarios(members=6, entry_points=True, timelines=True))
def test_scenarios_are_valid_and_in_range(scenario):
    assert isinstance(scenario, cmo_sim.Scenario)
    assert 2 <= scenario.n_members <= 6 and 0 <= scenario.lead < scenario.n_members
    assert cmo_sim.load_scenario(scenario.to_dict()) == scenario  # round-trips validation
    for name in PARTNERSHIP_FIELDS:
        bounds = field_bounds(name)
        if bounds:
            assert bounds[0] <= getattr(scenario, name) <= bounds[1], name
    for member in scenario.members:
        assert 10.0 <= member.size <= 100_000.0
    assert len(scenario.timeline) <= 3
    assert scenario.entry_point in (None, *ENTRY_POINTS)


def test_scenarios_cover_the_space():
    seen = {"members": set(), "entry": set(), "timeline": set(), "big": False, "small": False}

    @examples(150)
    @given(scenario=scenarios(members=5, entry_points=True, timelines=True))
    def collect(scenario):
        seen["members"].add(scenario.n_members)
        seen["entry"].add(scenario.entry_point)
        seen["timeline"].add(len(scenario.timeline))
        sizes = [m.size for m in scenario.members]
        seen["big"] |= max(sizes) > 10_000
        seen["small"] |= min(sizes) < 100

    collect()
    assert seen["members"] == {2, 3, 4, 5}
    assert len(seen["entry"]) >= 5 and None in seen["entry"]
    assert 0 in seen["timeline"] and len(seen["timeline"]) >= 3  # none, and 1-3 events
    assert seen["big"] and seen["small"]  # log-uniform sizes reach both ends


@examples(40)
@given(data=st.data())
def test_fixed_values_and_strategies_are_respected(data):
    scenario = data.draw(scenarios(
        members=st.just(3), leadership=0.9, flexibility=st.floats(0.6, 1.0), timelines=True,
        **{"members[1].size": 50_000.0}))
    assert scenario.n_members == 3 and scenario.leadership == 0.9
    assert all(0.6 <= m.flexibility <= 1.0 for m in scenario.members)
    assert scenario.members[1].size == 50_000.0
    for event in scenario.timeline:  # a fixed field is never changed by the timeline
        assert "leadership" not in event.changes
        assert not any(k.endswith(".flexibility") or k.endswith(".size")
                       for k in event.changes)


@examples(30)
@given(scenario=scenarios(entry_points=["policy_directive"]))
def test_an_entry_points_preset_sets_its_contexts(scenario):
    assert scenario.entry_point == "policy_directive"
    assert scenario.mandated and scenario.authenticity == 0.4
    assert scenario.stakeholder_involvement == 0.4


@pytest.mark.parametrize("kwargs,message", [
    ({"leadershp": 0.9}, "leadershp: unknown field; did you mean 'leadership'?"),
    ({"leadership": 1.5}, "leadership: 1.5 is out of range (allowed: 0.0 .. 1.0)"),
    ({"flexibility": -0.1}, "flexibility: -0.1 is out of range"),
    ({"members[1].sise": 3.0}, "unknown member attribute 'sise'; did you mean 'size'?"),
    ({"size": 0.0}, "size: 0.0 is out of range"),
    ({"mandated": "yes"}, "mandated: 'yes' is not a boolean"),
    ({"members": 1}, "members: 1 is not allowed"),
    ({"members": 17}, "members: 17 is not allowed"),
    ({"members": 2, "members[3].size": 10.0}, "members: 2 is too few"),
    ({"entry_points": ["policy_directiv"]}, "did you mean 'policy_directive'?"),
    ({"entry_points": "innovation"}, "entry_points: 'innovation' is not allowed"),
    ({"timelines": -1}, "timelines: -1 is not allowed"),
])
def test_scenarios_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        scenarios(**kwargs)


def test_a_bad_value_from_a_users_strategy_is_reported_when_drawn():
    strategy = scenarios(leadership=st.just(2.0))

    @settings(max_examples=1)
    @given(data=st.data())
    def draw(data):
        with pytest.raises(ValueError, match=r"drawn fixed value.*leadership.*out of range"):
            data.draw(strategy)

    draw()


@examples(40)
@given(change=contexts(names=["pace", "history", "mandated"], max_size=2),
       scenario=scenarios(members=3))
def test_contexts_are_valid_changes(change, scenario):
    assert 1 <= len(change) <= 2 and set(change) <= {"pace", "history", "mandated"}
    changed = scenario.with_values(change)
    for name, value in change.items():
        assert getattr(changed, name) == value


def test_contexts_bad_arguments():
    with pytest.raises(ValueError, match="'flexibility' is a member attribute"):
        contexts(names=["flexibility"])
    with pytest.raises(ValueError, match="did you mean 'leadership'"):
        contexts(names=["leadershp"])
    with pytest.raises(ValueError, match="max_size: 5 is not allowed"):
        contexts(names=["pace"], max_size=5)


@examples(40)
@given(theory=theories(ablate=st.integers(1, 3), rescale=2, scale=(0.5, 2.0)))
def test_theories_ablate_and_rescale(theory):
    weights = {r.id: r.weight for r in theory.rules}
    default = {r.id: r.weight for r in THEORY.rules}
    zeroed = [i for i in weights if weights[i] == 0 and default[i] > 0]
    changed = [i for i in weights if weights[i] != default[i]]
    assert 1 <= len(zeroed) <= 3 and len(changed) <= len(zeroed) + 2
    for i in set(changed) - set(zeroed):
        assert 0.5 * default[i] - 1e-12 <= weights[i] <= 2.0 * default[i] + 1e-12


def test_theories_bad_arguments():
    with pytest.raises(ValueError, match="did you mean 'trust.success_loop'"):
        theories(rules=["trust.sucess_loop"])
    with pytest.raises(ValueError, match="scale"):
        theories(scale=(2.0, 1.0))
    with pytest.raises(ValueError, match="ablate: 99 is not allowed"):
        theories(ablate=99)


# -- check_invariants -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results():
    net = cmo_sim.load_scenario({"name": "net", "members": [{}, {}, {"size": 20_000}, {}],
                                 "leadership": 0.2, "history": -0.4})
    return cmo_sim.simulate([net, {"name": "dyad", "members": [{}, {}]}], runs=60, steps=48,
                            seed=3, record="trajectory")


def test_check_invariants_passes_on_simulated_results(results):
    assert results.summary.dissolved.any() and not results.summary.dissolved.all()
    check_invariants(results)
    check_invariants(cmo_sim.Results(results.summary, None, results.meta))  # summary only


def _broken(results, summary=None, **variables):
    traj = results.trajectories.copy(deep=True)
    for name, edit in variables.items():
        traj[name] = edit(traj[name].copy())
    return dataclasses.replace(results, summary=summary if summary is not None
                               else results.summary.copy(), trajectories=traj)


def test_check_invariants_lists_every_violation(results):
    summary = results.summary.copy()
    summary.loc[0, "trust_final"] = 1.5
    summary.loc[1, "faith_final"] = np.nan
    summary.loc[2, "constructive"] += 1
    dead = int(summary.index[summary.dissolved][0])
    run_dead = int(summary.loc[dead, "run"])
    at = int(summary.loc[dead, "dissolved_at"])

    def move_after_dissolution(v):
        v.loc[{"run": run_dead}] = v.sel(run=run_dead).where(v.step <= at + 1, 0.99)
        return v

    broken = _broken(results, summary=summary, synergy=move_after_dissolution)
    with pytest.raises(AssertionError) as info:
        check_invariants(broken)
    text = str(info.value)
    assert text.startswith("5 invariant(s) violated")
    assert "trust_final outside [0, 1]: 1 run(s), e.g. run 0" in text
    assert "faith_final is NaN or infinite: 1 run(s), e.g. run 1" in text
    assert "constructive + destructive resolutions differ from conflicts" in text
    assert f"trajectory synergy changes after dissolution: 1 run(s), e.g. run {run_dead}" in text
    assert "inertia differs from 1 - synergy" in text


def test_check_invariants_catches_returning_members_and_falling_performance(results):
    def rejoin(v):
        v[:, -1, :] = True
        v[:, 0, :] = False
        return v

    def fall(v):
        v[0, -1] = -1.0
        return v

    with pytest.raises(AssertionError, match="a member that left is active again"):
        check_invariants(_broken(results, active=rejoin))
    with pytest.raises(AssertionError, match="trajectory performance falls"):
        check_invariants(_broken(results, performance=fall))
    with pytest.raises(ValueError, match="is not Results"):
        check_invariants(results.summary)


# -- assert_effect --------------------------------------------------------------------------------
def test_assert_effect_returns_the_estimate_when_the_direction_holds():
    effect = assert_effect("accountability", "conflicts", "decrease", low=0.1, high=0.9,
                           replicates=100, steps=60)
    # The same estimate from a direct paired simulation (same seed: replicate r shares its
    # random numbers between the two sides).
    from cmo_sim.cli import DEFAULT_SCENARIO

    base = cmo_sim.load_scenario(DEFAULT_SCENARIO)
    sides = [base.with_values({"name": name, "accountability": value})
             for name, value in (("low", 0.1), ("high", 0.9))]
    conflicts = cmo_sim.simulate(sides, runs=100, steps=60, seed=0).summary["conflicts"]
    diff = conflicts.to_numpy(dtype=float).reshape(2, 100)
    diff = diff[1] - diff[0]
    half = stats.t.ppf(0.975, 99) * stats.sem(diff)
    assert effect.mean == pytest.approx(diff.mean(), rel=1e-12)
    assert effect.low == pytest.approx(diff.mean() - half, rel=1e-9)
    assert effect.high == pytest.approx(diff.mean() + half, rel=1e-9)
    assert "accountability" in str(effect) and "95% CI" in str(effect)
    # A member attribute is set for every member; several bases are averaged.
    bases = [{"name": "a", "members": [{}, {}]}, {"name": "b", "history": 0.3,
                                                  "members": [{}, {}, {}]}]
    effect = assert_effect("flexibility", "performance", 1, base=bases, replicates=60, steps=48)
    assert effect.low > 0


def test_assert_effect_fails_with_estimate_and_interval():
    with pytest.raises(AssertionError, match=r"to decrease performance, but it goes the other "
                                             r"way: .*\+\d.*95% CI"):
        assert_effect("evaluation", "performance", "decrease", replicates=60, steps=48)
    # No effect at all: a context the theory no longer uses (neither of its two rules).
    with pytest.raises(AssertionError, match=r"interval includes 0.*\+0 \(95% CI \+0 \.\. \+0"):
        assert_effect("evaluation", "performance", "increase", replicates=30, steps=24,
                      theory=THEORY.without("task.evaluation", "learning.evaluation"))


def test_assert_effect_holds_the_context_through_the_timeline():
    # The base's timeline would set pace to 0 at month 0; the effect still shows because the
    # tested context is held at low / high for the whole run.
    base = {"name": "t", "members": [{}, {}], "timeline": [
        {"step": 0, "changes": {"pace": 0.0, "leadership": 0.7}}]}
    effect = assert_effect("pace", "conflicts", "decrease", base=base, replicates=100, steps=60)
    assert effect.high < 0


def test_assert_effect_bad_arguments():
    with pytest.raises(ValueError, match="did you mean 'accountability'"):
        assert_effect("acountability", "conflicts", "decrease")
    with pytest.raises(ValueError, match="did you mean 'performance'"):
        assert_effect("accountability", "performence", "decrease")
    with pytest.raises(ValueError, match="direction: 'down' is not allowed"):
        assert_effect("accountability", "conflicts", "down")
    with pytest.raises(ValueError, match="one number per run"):
        assert_effect("accountability", lambda r: [1.0], "decrease", replicates=4, steps=6)


# -- the docs page's example, executed -------------------------------------------------------------
def test_docs_testing_example_runs_and_its_tests_pass():
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the page has one executable example"
    namespace: dict = {"__name__": "docs_testing_example"}
    exec(compile(blocks[0], "docs/testing.md", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert len(tests) == 2
    for test in tests:
        test()  # hypothesis runs each property; a counterexample raises
