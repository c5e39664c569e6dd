"""Partnership forms and end states: each form's end rules, the end-state definitions, and the
effect of the forms' constants on the outcomes they exist for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cmo_sim
from cmo_sim.core import ends
from cmo_sim.core.runner import run
from cmo_sim.results import END_STATES

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def _scenario(name: str, **changes) -> cmo_sim.Scenario:
    scenario = cmo_sim.load_scenario(SCENARIOS / f"{name}.yaml")
    return scenario.with_values(changes) if changes else scenario


def _run(scenario, runs=300, steps=120, seed=0, theory=None, record=1):
    params = cmo_sim.compile_params([scenario], replicates=runs, seed=seed,
                                    theory=theory or cmo_sim.load_theory())
    return params, run(params, steps, record=record)


# -- each form's end rules --------------------------------------------------------------------
def test_a_merger_loses_no_member_and_ends_only_by_a_de_merger():
    params, out = _run(_scenario("mandated_merger"))
    final = out.final
    assert (final.exits == 0).all() and (final.exit_step == -1).all()
    assert final.active.all()  # the members stay, whatever their trust and faith
    assert final.dissolved.any() and not final.dissolved.all()
    assert (final.ended_at[final.dissolved] == final.dissolved_at[final.dissolved]).all()
    # Most mergers live on below a floor: trust or faith under it, yet in place.
    alive = ~final.dissolved
    assert (final.faith[alive].min(axis=1) < 0.05).mean() > 0.5


def test_contractual_members_leave_only_at_the_end_of_an_agreement():
    for form, period in (("contractual", 36), ("joint_commissioning", 12),
                         ("contractual", 7)):
        scenario = _scenario("aco_alliance", form=form, contract_period=period)
        _, out = _run(scenario, runs=200)
        left = out.final.exit_step[out.final.exit_step >= 0]
        assert left.size > 0
        assert ((left + 1) % period == 0).all(), (form, period)
        assert ((out.final.dissolved_at[out.final.dissolved] + 1) % period == 0).all()


def test_a_fixed_term_ends_every_run_completed_at_its_term_with_its_result():
    scenario = _scenario("buddying", term=18)
    params, out = _run(scenario, runs=400, steps=30)
    final = out.final
    assert final.completed.all() and not final.dissolved.any()
    assert (final.ended_at == 17).all() and (final.exits == 0).all()
    # The result is the definition: at least half of the final year's tasks achieved.
    assert (final.achieved == (final.success_recent >= ends.STRUGGLE_SUCCESS)).all()
    assert 0 < final.achieved.mean() < 1
    # Nothing moves after the term: the state recorded at month 18 is the final one.
    regime = out.trajectories["regime"]
    assert (regime[:, 18:] == ends.COMPLETED).all() and (regime[:, :18] != ends.COMPLETED).all()
    np.testing.assert_array_equal(out.trajectories["performance"][:, 18],
                                  out.trajectories["performance"][:, -1])


def test_a_network_refills_places_left_earlier_and_ends_below_two_members():
    _, out = _run(_scenario("large_network"), runs=200, record=1)
    final = out.final
    assert final.joins.sum() > 0 and final.exits.sum() > 0
    active = out.trajectories["active"]  # [run, step, member]
    joined = active[:, 1:] & ~active[:, :-1]
    left = ~active[:, 1:] & active[:, :-1]
    # No place is taken in the month it was left: a join follows an exit of an earlier month.
    assert not (joined & left).any()
    run_, month, member = np.nonzero(joined)
    for r, t, i in zip(run_[:200], month[:200], member[:200], strict=True):
        assert not active[r, t, i] and active[r, : t + 1, i].any()
    assert int(joined.sum()) == int(final.joins.sum())
    counts = active.sum(axis=2)
    gone = final.dissolved
    assert (counts[gone, -1] < 2).all() and (counts[~gone, -1] >= 2).all()


def test_an_alliance_is_unchanged_by_the_forms():
    # The alliance form is the behaviour before forms: members leave any month, the run
    # dissolves below two members, nothing completes or joins.
    _, out = _run(_scenario("voluntary_alliance"), runs=300)
    final = out.final
    assert not final.completed.any() and (final.joins == 0).all()
    assert (final.dissolved == (final.exits >= 1)).all()  # a dyad ends with its first exit


# -- end states --------------------------------------------------------------------------------
def test_end_states_follow_their_definitions_month_by_month():
    params, out = _run(_scenario("voluntary_alliance"), runs=400, steps=120, seed=3)
    regime = out.trajectories["regime"]
    synergy = out.trajectories["synergy"]
    # Struggling only after a year in place; ended states are absorbing.
    assert not (regime[:, :12] == ends.STRUGGLING).any()
    for code in (ends.DISSOLVED, ends.COMPLETED):
        was = regime == code
        assert (was[:, 1:] >= was[:, :-1]).all()
    # The year's synergy, recomputed from the recorded monthly synergy, decides with the
    # year's successes (successes leave achievement > 0 in their month).
    success = out.trajectories["achievement"] > 0
    year_synergy = np.full(regime.shape[0], params.baseline["synergy_initial"])
    year_success = np.full(regime.shape[0], ends.SUCCESS_RECENT_INITIAL)
    for t in range(1, regime.shape[1]):
        alive = regime[:, t - 1] != ends.DISSOLVED
        year_synergy = np.where(alive, year_synergy + ends.RECENT_WEIGHT
                                * (synergy[:, t] - year_synergy), year_synergy)
        year_success = np.where(alive, year_success + ends.RECENT_WEIGHT
                                * (success[:, t] - year_success), year_success)
        expect = np.where(
            regime[:, t] == ends.DISSOLVED, ends.DISSOLVED,
            np.where((t >= 12) & (year_synergy < 0.5) & (year_success < 0.5),
                     ends.STRUGGLING, ends.THRIVING))
        np.testing.assert_array_equal(regime[:, t], expect, err_msg=f"month {t}")
    summary = cmo_sim.simulate(_scenario("voluntary_alliance"), runs=400, steps=120,
                               seed=3).summary
    last = np.array(END_STATES)[regime[:, -1]]
    assert (summary["end_state"].to_numpy() == last).all()


def test_zero_success_makes_a_partnership_struggle_and_a_fixed_term_fail():
    # A task that never succeeds: synergy low, nothing achieved, so every run in place after
    # a year struggles and every fixed term ends without a turnaround.
    hopeless = cmo_sim.load_theory().with_baseline(success_intercept=-50.0)
    merger = cmo_sim.simulate(_scenario("mandated_merger"), runs=100, steps=60, seed=1,
                              theory=hopeless).summary
    assert set(merger.end_state) <= {"struggling", "dissolved"}
    assert (merger.end_state == "struggling").mean() > 0.5
    buddy = cmo_sim.simulate(_scenario("buddying"), runs=100, steps=24, seed=1,
                             theory=hopeless).summary
    assert (buddy.result == "not_achieved").all()


# -- the forms' constants act on the outcomes they exist for ------------------------------------
@pytest.mark.parametrize(("constant", "scenario", "outcome", "direction"), [
    ("join_intercept", "large_network", "in_place", +1),
    ("demerger_intercept", "mandated_merger", "dissolved", +1),
])
def test_the_forms_constants_move_their_outcome(constant, scenario, outcome, direction):
    # Common random numbers (same seed and replicates): the paired change in the outcome's
    # share, over 400 runs, must exceed its sampling error by far (2 logits is a large change).
    theory = cmo_sim.load_theory()
    shares = []
    for shift in (-1.0, 1.0):
        changed = theory.with_baseline(**{constant: theory.baseline[constant] + shift})
        s = cmo_sim.simulate(_scenario(scenario), runs=400, steps=120, seed=4,
                             theory=changed).summary
        shares.append(s["ended_at"].isna().mean() if outcome == "in_place"
                      else s["dissolved"].mean())
    assert direction * (shares[1] - shares[0]) > 0.05, shares
