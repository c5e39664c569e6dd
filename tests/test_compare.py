"""cmo_sim.compare: paired differences on common random numbers, intervals, refusals, plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cmo_sim
from cmo_sim.cli import DEFAULT_SCENARIO

THEORY = cmo_sim.load_theory()
LOW = {"name": "low", "members": [{}, {}], "leadership": 0.2}
HIGH = {"name": "high", "members": [{}, {}], "leadership": 0.8}


def test_two_theories_differ_run_by_run_with_a_t_interval():
    ablated = THEORY.without("trust.success_loop")
    c = cmo_sim.compare(THEORY, ablated, runs=200, steps=60, seed=3,
                        outcomes=["performance", "dissolved"])
    # Independently: the same runs simulated directly, differenced replicate by replicate.
    base = cmo_sim.simulate(DEFAULT_SCENARIO, runs=200, steps=60, seed=3).summary
    other = cmo_sim.simulate(DEFAULT_SCENARIO, runs=200, steps=60, seed=3,
                             theory=ablated).summary
    for outcome in ("performance", "dissolved"):
        d = other[outcome].astype(float).to_numpy() - base[outcome].astype(float).to_numpy()
        half = stats.t.ppf(0.975, 199) * stats.sem(d)
        row = c.table.set_index("outcome").loc[outcome]
        assert row["difference"] == pytest.approx(d.mean(), abs=1e-12)
        assert row["ci_low"] == pytest.approx(d.mean() - half, rel=1e-9)
        assert row["ci_high"] == pytest.approx(d.mean() + half, rel=1e-9)
        assert row["pairs"] == 200
        np.testing.assert_allclose(c.differences[outcome], d)
    # Removing the success arm of the trust-building loop costs performance.
    assert c.table.set_index("outcome").loc["performance", "ci_high"] < 0
    assert c.meta["a"] == "realist-review-default"
    assert c.meta["b"] == "realist-review-default (modified)"


def test_common_random_numbers_make_the_interval_narrower_than_independent_samples():
    c = cmo_sim.compare(LOW, HIGH, runs=300, steps=60)
    row = c.table.set_index("outcome").loc["trust_final"]
    assert row["ci_high"] - row["difference"] < row["independent_ci_half_width"]
    # The same scenario against itself: every pair is identical, the difference exactly 0.
    same = cmo_sim.compare(LOW, LOW, runs=50, steps=24)
    assert (same.table["difference"] == 0).all() and (same.table["ci_high"] == 0).all()


def test_results_are_paired_by_scenario_and_replicate_or_refused():
    a = cmo_sim.simulate(DEFAULT_SCENARIO, runs=40, steps=24, seed=1)
    b = cmo_sim.simulate(DEFAULT_SCENARIO, runs=40, steps=24, seed=1,
                         theory=THEORY.without("faith.trust"))
    c = cmo_sim.compare(a, b, outcomes="faith_final")
    d = b.summary["faith_final"] - a.summary["faith_final"]
    assert c.table["difference"].iloc[0] == pytest.approx(d.mean())
    other_seed = cmo_sim.simulate(DEFAULT_SCENARIO, runs=40, steps=24, seed=2)
    with pytest.raises(ValueError, match=r"not paired.*seed 1 vs 2"):
        cmo_sim.compare(a, other_seed)
    fewer = cmo_sim.simulate(DEFAULT_SCENARIO, runs=30, steps=24, seed=1)
    with pytest.raises(ValueError, match="different scenarios or replicates"):
        cmo_sim.compare(a, fewer)


def test_months_to_dissolution_compare_only_pairs_that_both_dissolved():
    c = cmo_sim.compare(LOW, HIGH, runs=300, steps=60, outcomes=["dissolved_at"])
    a = cmo_sim.simulate(LOW, runs=300, steps=60).summary
    b = cmo_sim.simulate(HIGH, runs=300, steps=60).summary
    both = a["dissolved"] & b["dissolved"]
    assert 0 < both.sum() < 300
    row = c.table.iloc[0]
    assert row["pairs"] == both.sum()
    assert row["difference"] == pytest.approx((b["dissolved_at"] - a["dissolved_at"])[both].mean())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"a": THEORY, "b": LOW}, r"a, b: compare two theories, two scenarios or two Results"),
    ({"a": 3, "b": 4}, r"a, b: 3 is not a Theory, a scenario or Results"),
    ({"a": LOW, "b": HIGH, "outcomes": ["perfomance"]}, r"outcomes: \['perfomance'\] not allowed"),
    ({"a": LOW, "b": HIGH, "level": 1.5}, r"level: 1.5 is not allowed"),
    ({"a": LOW, "b": HIGH, "scenarios": LOW}, r"scenarios: not used when comparing two scen"),
    ({"a": THEORY, "b": THEORY, "theory": THEORY}, r"theory: not used when comparing two theo"),
])
def test_bad_comparisons_are_refused_before_any_run(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cmo_sim.compare(**kwargs)


def test_the_plot_draws_each_difference_and_interval(tmp_path):
    c = cmo_sim.compare(LOW, HIGH, runs=100, steps=36, outcomes=["performance", "trust_final"])
    fig = c.plot()
    fig.savefig(tmp_path / "c.png")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    for ax, (_, row) in zip(visible, c.table.iterrows(), strict=True):
        (points,) = [line for line in ax.lines if line.get_marker() == "o"]
        assert points.get_xdata()[0] == pytest.approx(row["difference"])
        assert "b - a" in ax.get_xlabel()
    with pytest.raises(ValueError, match="not a Comparison"):
        cmo_sim.plot.differences(pd.DataFrame())
