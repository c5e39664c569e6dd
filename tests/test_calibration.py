"""Calibration of the default theory and the emergent behaviour docs/model.md section 7 describes.

Each statistical check uses fixed seeds (so it is deterministic) and enough replicates that the
tolerance, stated beside it, is several standard errors wide.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import cmo_sim
from cmo_sim.cli import DEFAULT_SCENARIO

ROOT = Path(__file__).resolve().parents[1]
RUNS = 2000
THEORY = cmo_sim.load_theory()


@pytest.fixture(scope="module")
def dyads():
    voluntary = cmo_sim.load_scenario(DEFAULT_SCENARIO)
    mandated = voluntary.with_values({"name": "mandated", "mandated": True})
    shipped = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
    return cmo_sim.simulate([voluntary, mandated, shipped], runs=RUNS, seed=1, record=6)


def _share(summary, scenario, column="dissolved"):
    return summary.loc[summary.scenario == scenario, column].mean()


@pytest.mark.parametrize("scenario", ["typical_voluntary_dyad", "voluntary_alliance"])
def test_typical_voluntary_dyad_dissolves_in_30_to_70_percent(dyads, scenario):
    rate = _share(dyads.summary, scenario)
    se = np.sqrt(rate * (1 - rate) / RUNS)  # about 0.011 at 2,000 runs
    # Reported alliance failure rates lie in 30-70%; the whole 3-SE interval must lie inside.
    assert 0.30 < rate - 3 * se and rate + 3 * se < 0.70, rate


def test_mandated_starts_lower_and_dissolves_or_stalls_more(dyads):
    s, traj = dyads.summary, dyads.trajectories
    initial = traj["trust"].sel(step=0).mean("member")
    voluntary = initial.where(traj.scenario == "typical_voluntary_dyad", drop=True).mean()
    mandated = initial.where(traj.scenario == "mandated", drop=True).mean()
    assert float(mandated) < float(voluntary) - 0.05
    failed = s.dissolved | (s.synergy_final < 0.3)  # dissolved, or stalled in inertia
    by = failed.groupby(s.scenario).mean()
    se = np.sqrt(0.25 / RUNS)
    assert by["mandated"] > by["typical_voluntary_dyad"] + 4 * se


def test_initial_trust_decides_how_a_partnership_fares():
    # "Start on the right foot": initial trust set through history (-1 .. 1). Dissolution
    # falls like a switch, steeply around a middling initial trust and flat far from it, and
    # the share of runs that spend their life in synergy (mean synergy >= 0.7) rises with it.
    base = cmo_sim.load_scenario(DEFAULT_SCENARIO)
    levels = np.round(np.linspace(-1.0, 1.0, 11), 2)
    scenarios = [base.with_values({"name": f"h{h}", "history": float(h)}) for h in levels]
    res = cmo_sim.simulate(scenarios, runs=1000, seed=4, record=120)
    initial = res.trajectories["trust"].sel(step=0).mean("member")
    trust0 = np.array([float(initial.where(initial.scenario == f"h{h}", drop=True).mean())
                       for h in levels])
    s = res.summary
    gone = np.array([s.loc[s.scenario == f"h{h}", "dissolved"].mean() for h in levels])
    synergy = np.array([(s.loc[s.scenario == f"h{h}", "synergy_mean"] >= 0.7).mean()
                        for h in levels])
    assert np.all(np.diff(trust0) > 0)
    # Shares come from 1,000 runs each (SE <= 0.016): the bounds are far outside that.
    assert gone[0] > 0.9 and gone[-1] < 0.1
    assert synergy[0] < 0.05 and synergy[-1] > 0.6
    assert np.all(np.diff(synergy) > -0.03)  # rising, up to sampling noise
    # The 50% crossing of dissolution lies at a middling initial trust (0.4 .. 0.6) ...
    crossing = float(np.interp(0.5, gone[::-1], trust0[::-1]))
    assert 0.4 < crossing < 0.6, crossing
    # ... and the fall is steepest there: at least three times the slope at the top end.
    slopes = -np.diff(gone) / np.diff(trust0)
    steepest = int(np.argmax(slopes))
    assert 0.35 < trust0[steepest] < 0.6
    assert slopes[steepest] > 3 * slopes[-1]


@pytest.fixture(scope="module")
def typical_months():
    """4,000 typical voluntary dyads, every month recorded."""
    return cmo_sim.simulate(cmo_sim.load_scenario(DEFAULT_SCENARIO), runs=4000, seed=1,
                            record="trajectory").trajectories


def test_some_dyads_stall_in_inertia_for_a_year_before_reaching_synergy(typical_months):
    # Synergy starts at 0.5 and moves towards its target by synergy_rate of the gap a month,
    # so a run below 0.45 through months 1-12 had a low target all year (the start-up cost of
    # learning to work together, and low trust), not merely a low start. Some typical dyads
    # do this and still reach synergy later.
    assert THEORY.baseline["synergy_initial"] > 0.45  # not the initial condition
    synergy = typical_months["synergy"].values
    stalled_then_synergy = (synergy[:, 1:13].max(axis=1) < 0.45) & (synergy[:, 13:].max(axis=1)
                                                                       > 0.75)
    # Measured 5.3% (211 of 4,000 runs). At least 100: were the true share 2.5%, the count
    # would reach 100 with probability below 0.1% (binomial SE 10 around a mean of 100 is
    # not the case here: the bound is the measured count minus more than 10 SE).
    assert stalled_then_synergy.sum() >= 100, stalled_then_synergy.sum()


def test_trust_goes_up_and_down(typical_months):
    # Mean trust of a typical dyad is not monotone: counted from month 1 (after the initial
    # draw), it rises by at least 0.1 from a low and falls by at least 0.1 from its peak in a
    # quarter of the runs or more (a model with monotone trust has none).
    trust = typical_months["trust"].mean("member").values[:, 1:]
    peak = np.nanargmax(trust, axis=1)
    rise = np.array([np.nanmax(row) - np.nanmin(row[: k + 1]) for row, k in zip(trust, peak,
                                                                              strict=True)])
    fall = np.array([np.nanmax(row) - np.nanmin(row[k:]) for row, k in zip(trust, peak,
                                                                         strict=True)])
    share = ((rise > 0.1) & (fall > 0.1)).mean()
    assert share > 0.25 + 3 * np.sqrt(0.25 * 0.75 / len(trust)), share


def test_trust_and_faith_diverge_and_both_origins_of_dissolution_occur():
    # Trusting partners with an inauthentic, stakeholder-free partnership: faith collapses
    # while trust stays high (the review's intra-organisational origin of dissolution).
    hollow = cmo_sim.load_scenario({
        "name": "hollow", "history": 0.6, "formalisation": 0.8, "authenticity": 0.1,
        "stakeholder_involvement": 0.1,
        "members": [{"staff_involvement": 0.1}, {"staff_involvement": 0.1}],
    })
    res = cmo_sim.simulate(hollow, runs=500, seed=2)
    s = res.summary
    by_faith = s[s.cause == "faith"]
    assert len(by_faith) > 0.5 * len(s)
    assert (by_faith.trust_final - by_faith.faith_final).mean() > 0.2
    # And distrust with faith intact: a failed history of conflict but an authentic mission.
    distrust = cmo_sim.load_scenario({
        "name": "distrust", "history": -0.8, "shared_vision": 0.2, "authenticity": 0.9,
        "stakeholder_involvement": 0.9, "members": [{}, {}],
    })
    s = cmo_sim.simulate(distrust, runs=500, seed=2).summary
    by_trust = s[s.cause == "trust"]
    assert len(by_trust) > 0.5 * len(s)
    assert (by_trust.faith_final - by_trust.trust_final).mean() > 0.2


def test_under_and_over_ambition_both_hurt_performance():
    # The review: modest, realistic aims build trust; aims far below or above what trust
    # supports both lose (little worth achieving; failure). Performance is an inverted U.
    base = cmo_sim.load_scenario(DEFAULT_SCENARIO)
    levels = {"under": -1.0, "modest": -0.3, "over": 0.5}
    scenarios = [base.with_values({"name": k, "ambition_bias": v}) for k, v in levels.items()]
    s = cmo_sim.simulate(scenarios, runs=1000, seed=3).summary
    perf = s.groupby("scenario").performance
    mean, se = perf.mean(), perf.std() / np.sqrt(1000)
    for extreme in ("under", "over"):
        # 3 combined standard errors: a deterministic check with ~0.1% false-alarm odds.
        assert mean["modest"] - mean[extreme] > 3 * (se["modest"] + se[extreme]), extreme
    # Under-ambition loses through faith (little worth achieving), over-ambition through trust.
    causes = s.groupby("scenario").cause.value_counts().unstack(fill_value=0)
    assert causes.loc["under", "faith"] > causes.loc["under", "trust"]
    assert causes.loc["over", "trust"] > causes.loc["over", "faith"]


# -- the timing of dissolution ---------------------------------------------------------------------
# The share dissolved hardly depends on the exit thresholds (a partnership that falls towards a
# threshold keeps falling), but *when* it dissolves does. DOCUMENTED_TIMING holds the timings
# stated in docs/model.md section 6.3 (`python tools/dissolution_timing.py`: 50,000 runs, seed
# 1), for three dyads in which each exit threshold matters: critical_trust in the typical dyad,
# the mandated exit barrier in the mandated one, critical_faith in a hollow partnership (low
# authenticity and involvement) whose members leave for faith. The test reproduces them on
# other random numbers (seed 2): two independent estimates differ by sampling error alone with
# standard error sqrt(2) x SE, and the tolerance is three of those. A 15% change of the trust or
# the faith floor moves at least one statistic further (checked below); one of the mandated
# exit barrier does not.
TIMING_RUNS = 50_000
TIMING_SEED = 2


def _load_timing_tool():
    """tools/dissolution_timing.py: the dyads and the statistics the docs quote."""
    spec = importlib.util.spec_from_file_location("dissolution_timing",
                                                  ROOT / "tools" / "dissolution_timing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TIMING = _load_timing_tool()
#: Documented timing (docs/model.md 6.3): (mean month of dissolution among dissolved runs, its
#: standard error at 50,000 runs, annual dissolution hazard in years 1-5).
DOCUMENTED_TIMING = {
    "typical voluntary": (40.02, 0.24, (0.1013, 0.0791, 0.0442, 0.0366, 0.0414)),
    "typical, mandated": (18.58, 0.13, (0.4502, 0.2577, 0.1296, 0.0778, 0.0537)),
    # Every hollow dyad has dissolved by the end of year 4: none is at risk in year 5.
    "hollow": (19.95, 0.02, (0.0462, 0.7478, 0.9735, 1.0, float("nan"))),
}
assert set(DOCUMENTED_TIMING) == set(TIMING.SCENARIOS)
#: Which exit threshold each dyad guards.
THRESHOLDS = {threshold: name for name, threshold in TIMING.GUARDS.items()}


def _timing(name, theory=None):
    _, mean_month, _, hazards = TIMING.timing(name, TIMING_RUNS, TIMING_SEED, theory)
    return mean_month, hazards


def _timing_departures(name, theory=None):
    """The statistics of ``name`` further from the documented ones than sampling explains."""
    mean_month, hazards = _timing(name, theory)
    documented_mean, se, documented_hazards = DOCUMENTED_TIMING[name]
    off = []
    if abs(mean_month - documented_mean) > 3 * np.sqrt(2) * se:
        off.append(f"mean month {mean_month:.2f} (documented {documented_mean})")
    for y, ((hazard, at_risk), expected) in enumerate(zip(hazards, documented_hazards,
                                                          strict=True)):
        if np.isnan(expected) or not at_risk:
            if not (np.isnan(expected) and not at_risk):
                off.append(f"year {y + 1}: {at_risk} runs at risk (documented: "
                           f"{'none' if np.isnan(expected) else 'some'})")
            continue
        # Binomial standard error of an annual hazard among the runs at risk that year.
        tolerance = 3 * np.sqrt(2 * expected * (1 - expected) / at_risk)
        if abs(hazard - expected) > tolerance:
            off.append(f"year {y + 1} hazard {hazard:.4f} (documented {expected}, "
                       f"tolerance {tolerance:.4f})")
    return off


@pytest.mark.parametrize("name", list(DOCUMENTED_TIMING))
def test_dissolution_timing_matches_the_documented_calibration(name):
    assert _timing_departures(name) == []


#: The mandated exit barrier is not pinned by the timing: a 15% change of it moves the mandated
#: dyad's mean month of dissolution from 18.58 to 18.67 (x 0.85) or 18.43 (x 1.15), within
#: sampling error (SE 0.13; docs/model.md 6.3), since a destructive conflict takes a mandated
#: pair's trust below either floor at once.
PINNED = [t for t in THRESHOLDS if t != "mandated_exit_barrier"]


@pytest.mark.parametrize("factor", [0.85, 1.15])
@pytest.mark.parametrize("threshold", PINNED)
def test_a_15_percent_change_of_an_exit_threshold_breaks_the_timing_check(threshold, factor):
    theory = cmo_sim.load_theory()
    changed = theory.with_baseline(**{threshold: theory.baseline[threshold] * factor})
    assert _timing_departures(THRESHOLDS[threshold], changed), (threshold, factor)
