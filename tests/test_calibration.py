"""Calibration of the default theory and the emergent behaviour MODEL.md requires.

Each statistical check uses fixed seeds (so it is deterministic) and enough replicates that the
tolerance, stated beside it, is several standard errors wide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cmo_sim
from cmo_sim.cli import DEFAULT_SCENARIO

ROOT = Path(__file__).resolve().parents[1]
RUNS = 2000


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


def test_two_basins_with_an_initial_trust_threshold(dyads):
    s = dyads.summary
    mean_synergy = s.loc[s.scenario == "typical_voluntary_dyad", "synergy_mean"].to_numpy()
    # Bimodal: few runs spend their life in the middle ground between the basins.
    middle = ((mean_synergy > 0.4) & (mean_synergy < 0.6)).mean()
    tails = ((mean_synergy <= 0.3) | (mean_synergy >= 0.7)).mean()
    assert tails > 3 * middle, (tails, middle)


def test_initial_trust_threshold_between_the_basins():
    # Initial trust set through history (-1 .. 1); the share of runs reaching the synergy basin
    # rises like a switch: steeply around a threshold, flat far from it.
    base = cmo_sim.load_scenario(DEFAULT_SCENARIO)
    levels = np.round(np.linspace(-1.0, 1.0, 11), 2)
    scenarios = [base.with_values({"name": f"h{h}", "history": float(h)}) for h in levels]
    res = cmo_sim.simulate(scenarios, runs=1000, seed=4, record=120)
    initial = res.trajectories["trust"].sel(step=0).mean("member")
    trust0 = np.array([float(initial.where(initial.scenario == f"h{h}", drop=True).mean())
                       for h in levels])
    s = res.summary
    share = np.array([(s.loc[s.scenario == f"h{h}", "synergy_mean"] >= 0.7).mean()
                      for h in levels])
    assert np.all(np.diff(trust0) > 0)
    assert share[0] < 0.1 and share[-1] > 0.8  # both basins are reached
    # The 50% crossing lies at a middling initial trust (between 0.4 and 0.6) ...
    crossing = float(np.interp(0.5, share, trust0))
    assert 0.4 < crossing < 0.6, crossing
    # ... and the rise is steepest there: at least three times the slope at the top end.
    # (Shares come from 1,000 runs each, SE <= 0.016: far below the slopes compared.)
    slopes = np.diff(share) / np.diff(trust0)
    steepest = int(np.argmax(slopes))
    assert 0.35 < trust0[steepest] < 0.6
    assert slopes[steepest] > 3 * slopes[-1]


def test_inertia_before_synergy_and_ups_and_downs(dyads):
    traj = dyads.trajectories
    synergy = traj["synergy"].values
    # Some runs start in inertia (first year below 0.45) and reach synergy later (> 0.75).
    early = synergy[:, 1:3].max(axis=1) < 0.45
    later = synergy[:, 4:].max(axis=1) > 0.75
    assert (early & later).sum() >= 20
    # Trajectories go up and down: runs whose trust both rose and fell by 0.1 from a turning point.
    trust = traj["trust"].mean("member").values
    rise_then_fall = [
        np.nanmax(row) - np.nanmin(row[: int(np.nanargmax(row)) + 1]) > 0.1
        and np.nanmax(row) - np.nanmin(row[int(np.nanargmax(row)):]) > 0.1
        for row in trust
    ]
    assert sum(rise_then_fall) >= 20


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
