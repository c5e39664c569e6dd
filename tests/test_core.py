"""The numpy core: invariants, batch invariance, common random numbers, ablation."""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
from _budget import examples
from hypothesis import event, given
from hypothesis import strategies as st

import cmo_sim
from cmo_sim.core import StepCache, init, run, step
from cmo_sim.core.step import fixed_terms
from cmo_sim.params import compile_params
from cmo_sim.scenario import MEMBER_FIELDS, PARTNERSHIP_FIELDS, field_bounds
from cmo_sim.testing import scenarios as generated_scenarios

THEORY = cmo_sim.load_theory()
TYPICAL = cmo_sim.load_scenario({"name": "typical", "members": [{}, {}]})


# -- strategies -----------------------------------------------------------------------------------
def _value(name: str, member: bool = False):
    bounds = field_bounds(f"members[0].{name}" if member else name)
    if bounds is None:
        return st.booleans()
    low, high = bounds
    if name == "size":
        return st.floats(1.0, 5.0).map(lambda e: float(10**e))
    return st.floats(low, high, allow_nan=False)


@st.composite
def scenarios(draw, min_members: int = 2, max_members: int = 8):
    n = draw(st.integers(min_members, max_members))
    data = {name: draw(_value(name)) for name in PARTNERSHIP_FIELDS}
    data["members"] = [
        {name: draw(_value(name, member=True)) for name in MEMBER_FIELDS} for _ in range(n)
    ]
    data["lead"] = draw(st.integers(0, n - 1))
    steps = sorted(draw(st.sets(st.integers(0, 40), max_size=3)))
    timeline = []
    for s in steps:
        key = draw(st.sampled_from(PARTNERSHIP_FIELDS + tuple(
            f"members[{draw(st.integers(0, n - 1))}].{m}" for m in MEMBER_FIELDS)))
        member = key.startswith("members[")
        value = draw(_value(key.split(".")[-1] if member else key, member=member))
        timeline.append({"step": s, "changes": {key: value}})
    data["timeline"] = timeline
    data["name"] = "generated"
    return cmo_sim.load_scenario(data)


@st.composite
def theories(draw):
    ids = draw(st.lists(st.sampled_from(THEORY.ids), max_size=8, unique=True))
    scale = {i: THEORY.rule(i).weight * draw(st.floats(0.0, 3.0)) for i in ids[:4]}
    return THEORY.with_weights(scale).without(*ids[4:])


UNIT_FIELDS = ("trust", "faith", "intra_conflict", "culture", "vision", "synergy", "ambition")


def _check_state(state, present):
    for name in UNIT_FIELDS:
        values = getattr(state, name)
        assert np.isfinite(values).all(), name
        assert (values >= 0.0).all() and (values <= 1.0).all(), name
    assert np.isfinite(state.performance).all() and (state.performance >= 0).all()
    assert np.isfinite(state.exit_shock).all()
    assert not (state.active & ~present).any(), "padding members are never active"
    assert (np.diagonal(state.trust, axis1=1, axis2=2) == 0).all()
    assert ((state.dissolved_at >= 0) == state.dissolved).all()
    assert ((state.cause > 0) == state.dissolved).all()
    assert (state.active.sum(axis=1)[~state.dissolved] >= 2).all()


# -- invariants -----------------------------------------------------------------------------------
@examples(60)
@given(scenario=scenarios(), theory=theories(), replicate=st.integers(0, 10**6))
def test_states_stay_in_range_and_dissolution_is_absorbing(scenario, theory, replicate):
    params = compile_params([scenario], replicates=[replicate, replicate + 1], theory=theory)
    state = init(params)
    _check_state(state, params.present)
    for t in range(60):
        before = state
        state = step(state, params, t)
        _check_state(state, params.present)
        gone = before.dissolved
        # Absorbing: a dissolved run's state never changes again.
        assert (state.dissolved[gone]).all()
        for f in dataclasses.fields(state):
            if f.name in ("success", "step_conflicts", "achievement"):
                continue
            now, then = getattr(state, f.name)[gone], getattr(before, f.name)[gone]
            assert np.array_equal(now, then), f.name
        assert not state.success[gone].any() and (state.step_conflicts[gone] == 0).all()
        assert (state.achievement[gone] == 0).all()


def test_counters_add_up():
    out = run(compile_params([TYPICAL], replicates=2000), 120)
    final = out.final
    assert (final.constructive + final.destructive == final.conflicts).all()
    months = np.where(final.dissolved, final.dissolved_at + 1, 120)
    assert (final.successes + final.failures == months).all()
    assert ((final.exits >= 1) | ~final.dissolved).all()


# -- batch invariance and common random numbers ----------------------------------------------------
def _mixed_scenarios():
    net = cmo_sim.load_scenario(
        {"name": "net", "members": [{"culture": 0.1 * k, "size": 200 * (k + 1)} for k in range(8)],
         "timeline": [{"step": 12, "changes": {"leadership": 0.1}},
                      {"step": 30, "changes": {"members[2].flexibility": 0.9}}]}
    )
    mandated = cmo_sim.load_scenario(
        {"name": "mandated", "entry_point": "policy_directive", "members": [{}, {"size": 9000}]}
    )
    return [TYPICAL, net, mandated]


def test_a_run_is_the_same_alone_and_in_any_batch():
    scenarios_ = _mixed_scenarios()
    batch = cmo_sim.simulate(scenarios_, runs=40, steps=80, seed=7, record=5)
    chunked = cmo_sim.simulate(scenarios_, runs=40, steps=80, seed=7, record=5, chunk_runs=7)
    assert batch.summary.equals(chunked.summary)
    assert batch.trajectories.identical(chunked.trajectories)
    # Shuffled batch, padded to 12 members, through the pure init/step/run directly.
    params = compile_params(scenarios_, replicates=40, seed=7, n_members=12)
    order = np.random.default_rng(1).permutation(params.n_runs)
    shuffled = run(params.take(order), 80, record=5)
    # The first shuffled position of each scenario's runs: one run of each, compared alone.
    positions = [int(np.flatnonzero(params.scenario[order] == s)[0]) for s in range(3)]
    assert {int(params.scenario[order[k]]) for k in positions} == {0, 1, 2}
    for k in positions:
        r = int(order[k])
        scenario = scenarios_[int(params.scenario[r])]
        alone = run(compile_params([scenario], replicates=[int(params.replicate[r])], seed=7), 80,
                    record=5)
        n = scenario.n_members
        assert np.array_equal(alone.final.trust[0], shuffled.final.trust[k, :n, :n])
        assert np.array_equal(alone.final.faith[0], shuffled.final.faith[k, :n])
        assert alone.final.dissolved_at[0] == shuffled.final.dissolved_at[k]
        assert alone.final.performance[0] == shuffled.final.performance[k]
        for name in ("synergy", "performance", "conflict_events"):
            assert np.array_equal(alone.trajectories[name][0], shuffled.trajectories[name][k])
        assert np.array_equal(
            alone.trajectories["trust"][0], shuffled.trajectories["trust"][k, :, :n]
        )
        # The same run inside the compiled (unshuffled, 8-wide) simulate() batch.
        row = batch.summary.iloc[r]
        assert row["performance"] == alone.final.performance[0]


BATCH_STEPS = 48


@examples(40)
@given(
    batch=st.lists(
        generated_scenarios(members=6, timelines=True, entry_points=True, steps=BATCH_STEPS),
        min_size=2, max_size=4,
    ),
    replicates=st.lists(st.integers(0, 10**6), min_size=1, max_size=3, unique=True),
    seed=st.integers(0, 2**64 - 1),
    order=st.randoms(use_true_random=False),
)
def test_every_run_of_a_generated_heterogeneous_batch_is_the_same_alone(
    batch, replicates, seed, order
):
    # Scenarios of different contexts, sizes, member counts and timelines share one padded batch
    # (in a shuffled order); each run must come out bit for bit as it does alone, in every field
    # of its final state and every recorded month. Anything a run reads from its batch-mates
    # (a row index off by the batch position, a width taken from the padding) breaks this.
    params = compile_params(batch, replicates=replicates, seed=seed)
    permutation = list(range(params.n_runs))
    order.shuffle(permutation)
    shuffled = params.take(np.array(permutation))
    together = run(shuffled, BATCH_STEPS, "trajectory")
    for k, r in enumerate(permutation):
        scenario = batch[int(params.scenario[r])]
        n = scenario.n_members
        alone = run(compile_params([scenario], replicates=[int(params.replicate[r])], seed=seed),
                    BATCH_STEPS, "trajectory")
        for f in dataclasses.fields(alone.final):
            mine = getattr(alone.final, f.name)[0]
            theirs = getattr(together.final, f.name)[k]
            if mine.ndim >= 1:
                theirs = theirs[(slice(0, n),) * mine.ndim]
            assert np.array_equal(mine, theirs), (f.name, k)
        assert alone.synergy_mean[0] == together.synergy_mean[k]
        for name, values in alone.trajectories.items():
            theirs = together.trajectories[name][k]
            if values.ndim == 3:
                theirs = theirs[:, :n]
            assert np.array_equal(values[0], theirs, equal_nan=values.dtype.kind == "f"), name
    exits = int(together.final.exits.sum())
    event(f"exits in the batch: {'0' if exits == 0 else '1-4' if exits < 5 else '5+'}")
    event(f"widths: {sorted({s.n_members for s in batch})}")


def _states_equal(x, y) -> bool:
    return all(np.array_equal(getattr(x, f.name), getattr(y, f.name))
               for f in dataclasses.fields(x))


def _stepped_with_and_without_cache(params, months: int):
    cache = StepCache()
    cached, fresh = init(params), init(params)
    partial_exits = 0
    for t in range(months):
        cached = step(cached, params, t, cache)
        before = fresh
        fresh = step(fresh, params, t)
        assert _states_equal(cached, fresh), f"month {t}"
        # Members who left a partnership that is still going (the cache must notice them).
        partial_exits += int((before.active & ~fresh.active & ~fresh.dissolved[:, None]).sum())
    return fresh, cache, partial_exits


def test_step_cache_changes_nothing_when_members_leave_and_contexts_change():
    """The cached context terms are refreshed on exits, timeline events and new params."""
    network = cmo_sim.load_scenario(
        {"name": "net", "members": [{"culture": 0.1 * k, "size": 200 * (k + 1)} for k in range(8)]}
    )
    # No timeline: one contexts object throughout, so only exits can make the terms stale.
    params = compile_params([network, TYPICAL], replicates=60, seed=11)
    assert params.contexts_at(0) is params.contexts_at(30)
    state, cache, partial_exits = _stepped_with_and_without_cache(params, 60)
    assert partial_exits > 0
    # Params that share this contexts object but not its theory.
    halved = THEORY.with_weights({r.id: 0.5 * r.weight for r in THEORY})
    weaker = dataclasses.replace(params, terms=halved.compiled(), theory=halved)
    assert weaker.contexts_at(60) is params.contexts_at(60)
    assert _states_equal(step(state, weaker, 60, cache), step(state, weaker, 60))
    # Timelines (a contexts object per month) and mandated partnerships.
    params = compile_params(_mixed_scenarios(), replicates=60, seed=11)
    fresh, cache, _ = _stepped_with_and_without_cache(params, 60)
    # The same cache handed other params (a subset: other rows, another contexts object).
    rows = np.flatnonzero(~fresh.dissolved)[::2]
    sub = params.take(rows)
    assert _states_equal(step(fresh.take(rows), sub, 60, cache), step(fresh.take(rows), sub, 60))


def _networks(widths, timeline=()):
    return [cmo_sim.load_scenario(
        {"name": f"net{n}", "form": "network", "lead": n // 2, "timeline": list(timeline),
         "members": [{"culture": (0.37 * k) % 1.0, "size": 150.0 * (k + 1),
                      "resources": 0.3 + 0.05 * (k % 8)} for k in range(n)]})
        for n in widths]


def _fixed_rows_equal(fx, full, rows) -> bool:
    """The per-run arrays and sites of two Fixed agree, bit for bit, in ``rows``."""
    names = [f.name for f in dataclasses.fields(fx)
             if f.name not in ("iu", "ju", "incidence", "needs", "site", "month", "settled",
                               "view")]
    pairs = [(getattr(fx, k), getattr(full, k)) for k in names]
    pairs += [(fx.site[k], full.site[k]) for k in full.site]
    pairs += [(fx.view.state[k], v) for k, v in full.view.state.items()]
    pairs += [(fx.view.targets[k], v) for k, v in full.view.targets.items()]
    pairs += [(fx.view.ease, full.view.ease)]
    return all(np.array_equal(a[rows], b[rows]) for a, b in pairs)


def test_per_run_cache_update_is_the_full_recompute_bit_for_bit(monkeypatch):
    """Only runs that gain or lose a member, or whose contexts change, get new terms."""
    timeline = [{"step": 6, "changes": {"leadership": 0.2}},
                {"step": 15, "changes": {"members[1].culture": 0.95}}]
    params = compile_params(_networks((2, 4, 7), timeline) + _networks((5, 16)),
                            replicates=40, seed=3)
    per_run, full = StepCache(), StepCache(per_run=False)
    a = b = init(params)
    for t in range(30):
        a, b = step(a, params, t, per_run), step(b, params, t, full)
        assert _states_equal(a, b), f"month {t}"
        # The kept terms of every run still going are those a full recompute gives.
        alive = ~a.ended
        fresh = fixed_terms(params, params.contexts_at(t + 1), a.active & alive[:, None])
        kept = per_run.get(params, params.contexts_at(t + 1), a.active & alive[:, None], alive)
        assert _fixed_rows_equal(kept, fresh, np.flatnonzero(alive)), f"month {t}"
    assert per_run.counts["per_run"] > 0
    assert per_run.counts["rows"] < full.counts["rows"]
    # Whole runs with trajectories: the runner's cache against one that recomputes fully.
    runner = importlib.import_module("cmo_sim.core.runner")
    mine = run(params, 60, record="trajectory")
    monkeypatch.setattr(runner, "StepCache", lambda: StepCache(per_run=False))
    theirs = run(params, 60, record="trajectory")
    assert _states_equal(mine.final, theirs.final)
    assert np.array_equal(mine.synergy_mean, theirs.synergy_mean)
    for name, values in theirs.trajectories.items():
        assert np.array_equal(mine.trajectories[name], values, equal_nan=True), name


def test_a_run_losing_a_member_recomputes_only_that_run():
    params = compile_params(_networks((8,)), replicates=10, seed=1)
    cache = StepCache()
    state = step(init(params), params, 0, cache)
    assert cache.counts == {"full": 1, "per_run": 0, "rows": 10}
    assert step(state, params, 1, cache) is not None and cache.counts["rows"] == 10
    active = state.active.copy()
    active[3, 5] = False  # run 3 loses member 5
    left = dataclasses.replace(state, active=active)
    assert _states_equal(step(left, params, 1, cache), step(left, params, 1))
    assert cache.counts == {"full": 1, "per_run": 1, "rows": 11}
    # ... and gains it back: again that run alone.
    assert _states_equal(step(state, params, 2, cache), step(state, params, 2))
    assert cache.counts == {"full": 1, "per_run": 2, "rows": 12}


def test_same_seed_same_results_and_replicates_differ():
    a = cmo_sim.simulate(TYPICAL, runs=50, seed=3)
    b = cmo_sim.simulate(TYPICAL, runs=50, seed=3)
    c = cmo_sim.simulate(TYPICAL, runs=50, seed=4)
    assert a.summary.equals(b.summary)
    assert not np.array_equal(a.summary["performance"], c.summary["performance"])
    assert a.summary["performance"].nunique() > 40  # replicates are distinct runs


def test_common_random_numbers_across_scenarios():
    twin = TYPICAL.with_values({"name": "twin"})
    res = cmo_sim.simulate([TYPICAL, twin], runs=100, seed=5)
    first = res.summary[res.summary.scenario == "typical"].reset_index(drop=True)
    second = res.summary[res.summary.scenario == "twin"].reset_index(drop=True)
    columns = ["replicate", "dissolved_at", "performance", "conflicts", "successes"]
    assert first[columns].equals(second[columns])


# -- ablation: a rule's weight 0 removes exactly its link ------------------------------------------
# Scenario contexts and the rules through which each acts. ambition_bias is left out on purpose:
# it shifts agreed aims by definition (baseline ambition_bias_scale), outside any rule.
_EXTRA_PATHS = {
    "resources": ("power.size_domination", "conflict.dominance"),
    # Felt dominance is derived from size and resources (and lead power).
    "size": ("power.size_domination", "conflict.dominance"),
    "culture": ("conflict.cultural_compatibility", "communication.conflicting_cultures"),
    # Combative leadership acts under the condition "mandated" (or "not mandated").
    "mandated": ("leadership.combative_mandated", "leadership.combative_voluntary"),
}
_SKIP = {"ambition_bias", "exit_handling", "lead"}


def _rules_of(context: str) -> tuple[str, ...]:
    own = tuple(r.id for r in THEORY.rules if r.context == context)
    return own + _EXTRA_PATHS.get(context, ())


@pytest.mark.parametrize(
    "context", [c for c in PARTNERSHIP_FIELDS + MEMBER_FIELDS if c not in _SKIP]
)
def test_ablating_a_contexts_rules_makes_it_inert(context):
    if context in MEMBER_FIELDS:
        # culture acts through the distance between members: 0 (both 0.5) against 0.45.
        low_value = {"size": 30.0, "culture": 0.5}.get(context, 0.05)
        high_value = {"size": 50000.0}.get(context, 0.95)
        low = TYPICAL.with_values({f"members[0].{context}": low_value})
        high = TYPICAL.with_values({f"members[0].{context}": high_value})
    elif field_bounds(context) is None:  # a true/false context
        low, high = TYPICAL.with_values({context: False}), TYPICAL.with_values({context: True})
    else:
        lo, hi = field_bounds(context)
        low = TYPICAL.with_values({context: lo + 0.05 * (hi - lo)})
        high = TYPICAL.with_values({context: hi - 0.05 * (hi - lo)})
    columns = [
        "dissolved_at", "performance", "conflicts", "successes", "trust_final", "faith_final"
    ]
    full = cmo_sim.simulate([low.with_values({"name": "low"}), high.with_values({"name": "high"})],
                           runs=200, steps=60, seed=11)
    s = full.summary
    differs = not s[s.scenario == "low"][columns].reset_index(drop=True).equals(
        s[s.scenario == "high"][columns].reset_index(drop=True))
    assert differs, f"{context} has no effect even with every rule in place"
    ablated = THEORY.without(*_rules_of(context))
    res = cmo_sim.simulate([low.with_values({"name": "low"}), high.with_values({"name": "high"})],
                           runs=200, steps=60, seed=11, theory=ablated)
    s = res.summary
    a = s[s.scenario == "low"][columns].reset_index(drop=True)
    b = s[s.scenario == "high"][columns].reset_index(drop=True)
    assert a.equals(b), f"{context} still acts after ablating {_rules_of(context)}"


# -- directional CMO effects with common random numbers --------------------------------------------
def _effect(outcome: str, low, high, runs=600, theory=None, steps=120):
    """Mean paired difference high - low of a summary outcome and its standard error."""
    res = cmo_sim.simulate([low.with_values({"name": "low"}), high.with_values({"name": "high"})],
                           runs=runs, steps=steps, seed=2024, theory=theory)
    s = res.summary
    diff = (s[s.scenario == "high"][outcome].to_numpy(float)
            - s[s.scenario == "low"][outcome].to_numpy(float))
    return diff.mean(), diff.std(ddof=1) / np.sqrt(diff.size)


# (context, low, high, outcome, expected sign, rules that carry it)
EFFECTS = [
    ("shared_vision", 0.5, 0.9, "conflicts", -1, ("conflict.shared_vision",)),
    ("shared_vision", 0.1, 0.5, "conflicts", -1, ("conflict.lack_of_shared_vision",)),
    ("accountability", 0.1, 0.9, "conflicts", -1, ("conflict.accountability",)),
    ("formalisation", 0.1, 0.9, "performance", 1,
     ("trust.legal_agreements", "trust.formal_scaffold", "communication.heavy_process")),
    ("history", 0.0, 0.8, "performance", 1,
     ("trust.successful_history", "learning.successful_history")),
    ("history", -0.8, 0.0, "performance", 1, ("trust.failed_history",)),
    ("conflict_resolution", 0.5, 0.9, "trust_final", 1, ("trust.constructive_resolution",)),
    ("conflict_resolution", 0.1, 0.5, "trust_final", 1, ("trust.destructive_resolution",)),
    ("authenticity", 0.1, 0.9, "faith_final", 1, ("faith.authenticity", "task.authentic_effort")),
    ("stakeholder_involvement", 0.1, 0.9, "faith_final", 1,
     ("faith.stakeholder_involvement", "vision.stakeholder_involvement")),
    ("proximity", 0.1, 0.9, "performance", 1, ("communication.proximity", "learning.proximity")),
    ("threat", 0.0, 0.9, "performance", -1, ("entry.competitive_threat",)),
]


@pytest.mark.parametrize("context,low,high,outcome,sign,rules", EFFECTS,
                         ids=[f"{e[0]}:{e[1]}-{e[2]}" for e in EFFECTS])
def test_cmo_effect_has_its_sign_and_ablation_removes_it(context, low, high, outcome, sign, rules):
    base = TYPICAL
    mean, se = _effect(outcome, base.with_values({context: low}), base.with_values({context: high}))
    # 600 paired replicates with common random numbers; 3 standard errors keeps the false-alarm
    # rate of each (deterministic, fixed-seed) check near 0.3% were the effect truly zero.
    assert np.sign(mean) == sign and abs(mean) > 3 * se, (mean, se)
    mean0, se0 = _effect(outcome, base.with_values({context: low}),
                         base.with_values({context: high}), theory=THEORY.without(*rules))
    assert mean0 == 0.0 and se0 == 0.0


def test_both_halves_of_a_context_act_only_through_their_own_rule():
    # Removing the upper-half rule leaves the lower half acting, and vice versa.
    upper_off = THEORY.without("conflict.shared_vision")
    mean, se = _effect("conflicts", TYPICAL.with_values({"shared_vision": 0.1}),
                       TYPICAL.with_values({"shared_vision": 0.5}), theory=upper_off)
    assert mean < -3 * se
    mean, se = _effect("conflicts", TYPICAL.with_values({"shared_vision": 0.5}),
                       TYPICAL.with_values({"shared_vision": 0.9}), theory=upper_off)
    assert mean == 0.0


# -- regressions ---------------------------------------------------------------------------------
def test_timeline_change_of_one_context_leaves_others_state_alone():
    # An unrelated leadership change at month 24 must not reset cultural integration, whether
    # the scenario runs alone or beside one whose timeline moves cultures.
    inclusive = cmo_sim.load_scenario({
        "name": "inclusive", "leadership": 0.95,
        "members": [{"culture": 0.2}, {"culture": 0.8}],
        "timeline": [{"step": 24, "changes": {"pace": 0.6}},
                     {"step": 60, "changes": {"members[1].culture": 0.9}}],
    })
    mover = cmo_sim.load_scenario({
        "name": "mover", "members": [{}, {}],
        "timeline": [{"step": 10, "changes": {"members[0].culture": 0.1}}],
    })
    params = compile_params([inclusive], replicates=50, seed=9)
    alone = run(params, 70)
    both = run(compile_params([inclusive, mover], replicates=50, seed=9), 70)
    assert np.array_equal(alone.final.trust, both.final.trust[:50, :2, :2])
    state = init(params)
    distance = np.abs(state.culture[:, 0] - state.culture[:, 1])
    for t in range(30):
        state = step(state, params, t)
        before, distance = distance, np.abs(state.culture[:, 0] - state.culture[:, 1])
        assert (distance <= before + 1e-12).all(), t  # integration only: never reset


def test_mandate_adds_dominance_even_when_the_lead_is_smaller():
    weak_lead = {"name": "weak", "lead": 0, "members": [{"size": 100, "resources": 0.3},
                                                        {"size": 20000, "resources": 0.8}]}
    voluntary = cmo_sim.load_scenario(weak_lead)
    mandated = voluntary.with_values({"name": "mandated", "mandated": True})
    only_hierarchy = THEORY.with_baseline(mandate_initial_trust=0.0, mandated_exit_barrier=0.0)
    state_v = init(compile_params([voluntary], replicates=200, theory=only_hierarchy))
    state_m = init(compile_params([mandated], replicates=200, theory=only_hierarchy))
    # The larger member's trust in the (smaller) lead falls under a mandate; nothing rises.
    assert (state_m.trust[:, 1, 0] < state_v.trust[:, 1, 0]).all()
    assert (state_m.trust <= state_v.trust).all()


# -- contracts the engine comparison cannot see ---------------------------------------------------
def test_recorded_trajectories_keep_their_types():
    # Membership is a flag and conflicts a count in every recorded month, as in the state.
    out = run(compile_params([TYPICAL], replicates=3), 12, "trajectory")
    assert out.trajectories["active"].dtype == np.bool_
    assert out.trajectories["conflict_events"].dtype == np.int64
    assert out.trajectories["trust"].dtype == np.float64


def test_a_scheduled_shared_vision_resets_the_vision_once_then_it_moves_on():
    # Combative leadership in a mandated, low-trust partnership raises shared vision month by
    # month; a timeline change sets it at its month only, and it moves on from there.
    mandated = cmo_sim.load_scenario({
        "name": "m", "mandated": True, "leadership": 0.05, "history": 0.0,
        "members": [{}, {}], "timeline": [{"step": 5, "changes": {"shared_vision": 0.2}}],
    })
    params = compile_params([mandated], replicates=100)
    out = run(params, 12, "trajectory")
    alive = out.trajectories["active"][:, 12].sum(axis=1) >= 2  # still going at month 12
    assert alive.sum() >= 20, alive.sum()
    vision = out.trajectories["vision"][alive]
    # Month 6 holds the state after step 5: reset to 0.2, then nudged up by at most
    # vision_rate x 2 x 0.45 x 2 x 0.5 = 0.027 (mean trust >= 0) in that step.
    assert np.all((vision[:, 6] >= 0.2) & (vision[:, 6] <= 0.2 + 0.027))
    moved = vision[:, 12] > vision[:, 6]
    assert moved.mean() > 0.5, moved.mean()  # it keeps rising after the change


def test_compile_params_refuses_bad_arguments_with_their_messages():
    with pytest.raises(ValueError, match=r"^scenarios: at least one scenario is needed$"):
        compile_params([], replicates=2)
    with pytest.raises(ValueError,
                       match=r"^scenarios: 'x' is not a Scenario \(use load_scenario\)$"):
        compile_params(["x"], replicates=2)
    with pytest.raises(ValueError, match=r"^replicates: give a positive count or a non-empty list"):
        compile_params([TYPICAL], replicates=[])
    with pytest.raises(ValueError, match=r"^n_members: 1 is less than the largest scenario \(2\)$"):
        compile_params([TYPICAL], replicates=1, n_members=1)


def test_cultural_convergence_never_overshoots_the_centre():
    # culture_pull is clipped to at most 1: members move at most all the way to their common
    # centre, never past it, however strong a theory makes inclusive integration.
    scenario = cmo_sim.load_scenario({"name": "c", "leadership": 1.0, "history": 0.8,
                                      "members": [{"culture": 0.1}, {"culture": 0.9}]})
    strong = THEORY.with_weights({"culture.inclusive_integration": 40.0})  # pull 1.2 unclipped
    params = compile_params([scenario], replicates=4, theory=strong)
    state = step(init(params), params, 0)
    np.testing.assert_allclose(state.culture, 0.5)  # at the centre after one month


def test_a_timeline_change_of_one_members_attribute_reaches_that_member_only():
    scenario = cmo_sim.load_scenario({
        "name": "t", "members": [{"flexibility": 0.2}, {"flexibility": 0.3}, {}],
        "timeline": [{"step": 3, "changes": {"members[1].flexibility": 0.9}},
                     {"step": 6, "changes": {"leadership": 0.1}}],
    })
    params = compile_params([scenario], replicates=2)
    before, after, later = (params.contexts_at(t) for t in (2, 3, 6))
    np.testing.assert_array_equal(before.flexibility[0], [0.2, 0.3, 0.5])
    np.testing.assert_array_equal(after.flexibility[0], [0.2, 0.9, 0.5])
    np.testing.assert_array_equal(later.flexibility[0], [0.2, 0.9, 0.5])  # it stays changed
    assert later.leadership[0] == 0.1 and after.leadership[0] == 0.5
    np.testing.assert_array_equal(params.contexts.flexibility[0], [0.2, 0.3, 0.5])
