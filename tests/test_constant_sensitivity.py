"""tools/constant_sensitivity.py: every baseline constant is a factor, within its documented
range, and the Sobol analysis runs end to end at a tiny size (docs/constants.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import cmo_sim
from cmo_sim.theory._model import BASELINE_RANGES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import constant_sensitivity as cs  # noqa: E402


def test_every_baseline_constant_of_the_default_theory_is_a_factor():
    theory = cmo_sim.load_theory()
    vary = cs.factors(theory)
    assert list(vary) == [f"baseline:{name}" for name in theory.baseline]
    # A constant with a documented range but missing from the theory (or the reverse) would
    # escape the analysis.
    assert {path.removeprefix("baseline:") for path in vary} == set(BASELINE_RANGES)


def test_ranges_follow_the_rule_and_respect_baseline_ranges():
    theory = cmo_sim.load_theory()
    for path, (low, high) in cs.factors(theory).items():
        name = path.removeprefix("baseline:")
        default = theory.baseline[name]
        bound_low, bound_high = BASELINE_RANGES[name]
        assert bound_low <= low < high <= bound_high, name
        assert low <= default <= high, name
        scale = max(abs(default), 1.0) if cs.sign_can_flip(name, default) else abs(default)
        assert low == pytest.approx(max(default - 0.2 * scale, bound_low)), name
        assert high == pytest.approx(min(default + 0.2 * scale, bound_high)), name
    # The intercepts and the synergy threshold can change sign: absolute half-widths.
    for name in ("conflict_intercept", "turnover_intercept", "synergy_threshold"):
        assert cs.sign_can_flip(name, theory.baseline[name])
    assert not cs.sign_can_flip("trust_rate", theory.baseline["trust_rate"])


def test_ranges_follow_moved_defaults_and_are_clipped():
    theory = cmo_sim.load_theory().with_baseline(
        conflict_intercept=0.0, critical_trust=0.9, trust_initial=0.0, synergy_threshold=-3.0)
    vary = cs.factors(theory)
    assert vary["baseline:conflict_intercept"] == pytest.approx((-0.2, 0.2))
    assert vary["baseline:critical_trust"] == pytest.approx((0.72, 1.0))  # clipped at 1
    assert vary["baseline:trust_initial"] == pytest.approx((0.0, 0.2))  # 0: absolute, clipped
    assert vary["baseline:synergy_threshold"] == pytest.approx((-3.6, -2.4))


def test_the_analysis_runs_on_every_constant_at_a_tiny_size():
    theory = cmo_sim.load_theory()
    result = cs.analyse(ROOT / "scenarios" / "voluntary_alliance.yaml", samples=2,
                        replicates=4, steps=24, theory=theory)
    n = len(theory.baseline)
    assert result["points"] == 2 * (n + 2)
    assert result["runs"] == 4 * 2 * (n + 2)
    assert list(result["tables"]) == list(cs.OUTCOMES)
    for table in result["tables"].values():
        assert list(table.index) == list(theory.baseline)
        assert list(table.columns) == ["S1", "S1_conf", "ST", "ST_conf"]
    # Dissolution and performance vary across the points, so they get finite indices.
    for outcome in ("dissolved", "performance"):
        assert np.isfinite(result["tables"][outcome]["ST"]).all(), outcome
    assert 0.0 <= result["means"]["struggling"] <= 1.0
    table = cs.markdown(result, theory)
    rows = table.splitlines()[2:]
    assert len(rows) == n
    assert sorted(row.split(" | ")[0].strip("| `") for row in rows) == sorted(theory.baseline)
