"""Sensitivity analysis: Sobol indices and elementary effects through sweeps and SweepResults."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cmo_sim
from cmo_sim import Sweep, SweepResults, open_sweep, run_sweep
from cmo_sim.analysis import (
    SobolConvergenceWarning,
    delta_indices,
    elementary_effects,
    morris_indices,
    pawn_indices,
    rbd_fast_indices,
    sensitivity,
    sobol_indices,
)

ROOT = Path(__file__).resolve().parents[1]
BASE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
UNIT = {"shared_vision": (0.0, 1.0), "leadership": (0.0, 1.0), "communication": (0.0, 1.0)}

# Ishigami-Homma (a = 7, b = 0.1) on [-pi, pi]^3: analytic first-order and total indices.
ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])


def results_of(sweep: Sweep, outcome: np.ndarray, name: str) -> SweepResults:
    """SweepResults whose runs (one replicate per point) carry a known test function."""
    frame = pd.DataFrame({"run": np.arange(sweep.n_points), "point": np.arange(sweep.n_points),
                          "replicate": 0, name: outcome})
    return SweepResults(sweep, frame)


def ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + 7.0 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_recover_ishigami():
    sweep = Sweep(BASE, vary=UNIT, design="sobol", samples=2048, replicates=1)
    x = -np.pi + 2.0 * np.pi * sweep.values[list(UNIT)].to_numpy()
    table = sobol_indices(results_of(sweep, ishigami(x), "ishigami"), "ishigami")
    assert list(table.index) == list(UNIT)
    np.testing.assert_allclose(table["S1"], ISHIGAMI_S1, atol=0.04)
    np.testing.assert_allclose(table["ST"], ISHIGAMI_ST, atol=0.04)
    for name, truth in (("S1", ISHIGAMI_S1), ("ST", ISHIGAMI_ST)):
        assert (table[f"{name}_low"] <= truth).all() and (truth <= table[f"{name}_high"]).all()
        assert (table[f"{name}_conf"] > 0).all() and (table[f"{name}_conf"] < 0.1).all()
    assert table.attrs["outcome"] == "ishigami" and table.attrs["conf_level"] == 0.95


@pytest.mark.filterwarnings("ignore::cmo_sim.analysis.SobolConvergenceWarning")
def test_sobol_indices_are_reproducible_and_seeded_locally():
    sweep = Sweep(BASE, vary=UNIT, design="sobol", samples=256, replicates=1)
    x = -np.pi + 2.0 * np.pi * sweep.values[list(UNIT)].to_numpy()
    res = results_of(sweep, ishigami(x), "ishigami")
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - read only, to check it
    first, again = sobol_indices(res, "ishigami"), sobol_indices(res, "ishigami")
    other = sobol_indices(res, "ishigami", seed=5)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_series_equal(first["S1"], other["S1"])  # the estimate does not resample
    assert not np.array_equal(first["S1_conf"], other["S1_conf"])
    untouched = np.random.get_state()[1]  # noqa: NPY002 - SALib must not draw from it
    np.testing.assert_array_equal(untouched, state)


def test_elementary_effects_of_a_known_function_on_grid_and_sobol_designs():
    vary = {"shared_vision": (0.2, 0.8), "leadership": [0.1, 0.5, 0.9], "pace": (0.0, 1.0)}
    grid = Sweep(BASE, vary=vary, samples=4, replicates=1)
    v = grid.values
    table = elementary_effects(
        results_of(grid, 3.0 * v.shared_vision + v.leadership ** 2, "y"), "y")
    # Linear in shared_vision: 3 x the range 0.6 everywhere; leadership: steps 0.24 and 0.56
    # per half of its axis; pace: no effect.
    assert table.loc["shared_vision", "mu_star"] == pytest.approx(1.8)
    assert table.loc["shared_vision", "sigma"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["leadership", "mu"] == pytest.approx((0.48 + 1.12) / 2)
    assert table.loc["pace", "mu_star"] == 0.0
    assert table["n"].tolist() == [3 * 3 * 4, 4 * 2 * 4, 4 * 3 * 3]

    sobol = Sweep(BASE, vary={"shared_vision": (0.2, 0.8), "pace": (0.0, 1.0)},
                  design="sobol", samples=64, replicates=1)
    radial = elementary_effects(results_of(sobol, -2.0 * sobol.values.shared_vision, "y"), "y")
    assert radial.loc["shared_vision", "mu"] == pytest.approx(-1.2)
    assert radial.loc["pace", "mu_star"] == 0.0
    assert radial["n"].tolist() == [64, 64]


def test_model_sensitivity_through_a_real_sweep_and_its_store(tmp_path):
    # An ablated context is inert: with common random numbers its indices are exactly zero.
    theory = cmo_sim.load_theory().without("communication.proximity", "learning.proximity")
    sweep = Sweep(BASE, vary={"proximity": (0.0, 1.0), "history": (-0.8, 0.8),
                              "leadership": (0.1, 0.9)},
                  design="sobol", samples=32, replicates=8)
    res = run_sweep(sweep, steps=48, theory=theory, progress=False, store=tmp_path / "s.zarr")
    with pytest.warns(SobolConvergenceWarning):  # 32 base samples: wide intervals, said so
        table = sobol_indices(res, "performance")
    assert table.loc["proximity", "ST"] == 0.0 and table.loc["proximity", "S1"] == 0.0
    assert table.loc["history", "ST"] > 0.2  # prior collaboration drives initial trust
    assert table["ST"].between(0.0, 1.5).all()
    with pytest.warns(SobolConvergenceWarning):
        reopened = sobol_indices(open_sweep(tmp_path / "s.zarr"), "performance")
    pd.testing.assert_frame_equal(reopened, table)
    effects = elementary_effects(res, "performance")
    assert effects.loc["proximity", "mu_star"] == 0.0
    assert effects.loc["history", "mu"] > 0.0  # better history, better performance


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r, g: sobol_indices(g, "performance"), r"need a Sobol design .*not 'grid'"),
        (lambda r, g: sobol_indices(r, "perfomance"), r"outcome: 'perfomance' is not allowed"),
        (lambda r, g: sobol_indices(r, "constant"), r"'constant' is 1.0 at every design point"),
        (lambda r, g: sobol_indices(r, "performance", conf_level=1.5), r"conf_level: 1.5"),
        (lambda r, g: sobol_indices(r, "performance", num_resamples=1), r"num_resamples: 1"),
        (lambda r, g: sobol_indices(r.summary, "performance"), r"is not SweepResults"),
        (lambda r, g: elementary_effects(r, "performance", conf_level=0), r"conf_level: 0"),
    ],
)
def test_sensitivity_errors_name_the_problem(call, message):
    sobol = Sweep(BASE, vary={"history": (-0.5, 0.5)}, design="sobol", samples=4, replicates=1)
    frame = pd.DataFrame({"point": np.arange(sobol.n_points),
                          "performance": np.arange(sobol.n_points, dtype=float),
                          "constant": 1.0})
    grid = Sweep(BASE, vary={"history": (-0.5, 0.5)}, samples=3, replicates=1)
    grid_results = SweepResults(grid, frame.iloc[:3])
    with pytest.raises(ValueError, match=message):
        call(SweepResults(sobol, frame), grid_results)


def test_elementary_effects_need_one_at_a_time_steps():
    lhs = Sweep(BASE, vary={"history": (-0.5, 0.5)}, design="lhs", samples=8, replicates=1)
    res = results_of(lhs, np.arange(8.0), "y")
    with pytest.raises(ValueError, match=r"one-at-a-time steps, a grid or a Sobol design"):
        elementary_effects(res, "y")


def test_dissolved_at_without_dissolutions_is_reported():
    sweep = Sweep(BASE, vary={"history": (-0.5, 0.5)}, design="sobol", samples=4, replicates=1)
    frame = pd.DataFrame({"point": np.arange(sweep.n_points), "dissolved_at": np.nan})
    with pytest.raises(ValueError, match=r"dissolved_at is defined only for runs that dissolved"):
        sobol_indices(SweepResults(sweep, frame), "dissolved_at")


# -- methods for every design ---------------------------------------------------------------------
def _linear_and_square(sweep: Sweep) -> SweepResults:
    """y = 3 u1 + u2**2 of the unit coordinates; u3 inert. First-order indices, analytically:
    Var(3 u1) = 0.75 and Var(u2**2) = 1/5 - 1/9 = 4/45, so S1 = (0.894, 0.106, 0)."""
    u = sweep.values[list(UNIT)].to_numpy()
    return results_of(sweep, 3.0 * u[:, 0] + u[:, 1] ** 2, "y")


LINEAR_SQUARE_S1 = np.array([0.75, 4 / 45, 0.0]) / (0.75 + 4 / 45)


def test_random_design_methods_recover_known_first_order_indices():
    sweep = Sweep(BASE, vary=UNIT, design="lhs", samples=4096, replicates=1)
    res = _linear_and_square(sweep)
    # RBD-FAST and the delta method's S1 both estimate the analytic first-order indices
    # (4,096 points: bootstrap half-widths of 0.005-0.03).
    np.testing.assert_allclose(rbd_fast_indices(res, "y")["S1"], LINEAR_SQUARE_S1, atol=0.02)
    delta = delta_indices(res, "y")
    np.testing.assert_allclose(delta["S1"], LINEAR_SQUARE_S1, atol=0.02)
    # Moment-independent measures rank the factors as the variance does, the inert one last.
    for table, column in ((delta, "delta_raw"), (pawn_indices(res, "y"), "median")):
        assert list(table[column].sort_values(ascending=False).index) == list(UNIT), column
        assert table.loc["communication", column] < 0.1
    x = -np.pi + 2.0 * np.pi * sweep.values[list(UNIT)].to_numpy()
    ishigami_res = results_of(sweep, ishigami(x), "y")
    np.testing.assert_allclose(rbd_fast_indices(ishigami_res, "y")["S1"], ISHIGAMI_S1, atol=0.03)


def test_random_design_methods_leave_the_global_generator_alone():
    sweep = Sweep(BASE, vary=UNIT, design="lhs", samples=256, replicates=1)
    res = _linear_and_square(sweep)
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - read only, to check it
    first = delta_indices(res, "y", seed=3)
    pd.testing.assert_frame_equal(first, delta_indices(res, "y", seed=3))
    assert not first["S1_conf"].equals(delta_indices(res, "y", seed=4)["S1_conf"])
    pawn_indices(res, "y")
    rbd_fast_indices(res, "y")
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_morris_design_and_screen():
    sweep = Sweep(BASE, vary=UNIT, design="morris", samples=20, replicates=1)
    assert sweep.n_points == 20 * (len(UNIT) + 1)
    levels = np.unique(sweep.unit)
    np.testing.assert_allclose(levels, [0, 1 / 3, 2 / 3, 1])  # four levels on each unit axis
    table = morris_indices(_linear_and_square(sweep), "y")
    # A linear effect of 3 on the unit axis is 3 at every step; the inert factor is exactly 0.
    assert table.loc["shared_vision", "mu_star"] == pytest.approx(3.0)
    assert table.loc["shared_vision", "sigma"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["communication", "mu_star"] == 0.0
    # u**2 has effects 2u + 2/3 from levels u in {0, 1/3}: between 2/3 and 4/3.
    assert 2 / 3 <= table.loc["leadership", "mu_star"] <= 4 / 3
    assert table.attrs["method"] == "morris"


def test_sobol_indices_warn_when_unconverged():
    import warnings

    small = Sweep(BASE, vary=UNIT, design="sobol", samples=16, replicates=1)
    x = -np.pi + 2.0 * np.pi * small.values[list(UNIT)].to_numpy()
    with pytest.warns(SobolConvergenceWarning, match=r"base samples 16; about \d+ base samples"):
        sobol_indices(results_of(small, ishigami(x), "y"), "y")
    large = Sweep(BASE, vary=UNIT, design="sobol", samples=2048, replicates=1)
    x = -np.pi + 2.0 * np.pi * large.values[list(UNIT)].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SobolConvergenceWarning)
        sobol_indices(results_of(large, ishigami(x), "y"), "y")  # every half-width < 0.1


@pytest.mark.parametrize(("design", "samples", "method"), [
    ("sobol", 16, "sobol"), ("morris", 4, "morris"), ("grid", 3, "elementary_effects"),
    ("lhs", 64, "delta"),
])
def test_sensitivity_picks_the_method_of_the_design(design, samples, method):
    import warnings

    sweep = Sweep(BASE, vary=UNIT, design=design, samples=samples, replicates=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SobolConvergenceWarning)
        table = sensitivity(_linear_and_square(sweep), "y")
    assert table.attrs["method"] == method
    assert list(table.index) == list(UNIT)


def test_each_method_names_what_fits_a_design_it_cannot_use():
    lhs = _linear_and_square(Sweep(BASE, vary=UNIT, design="lhs", samples=64, replicates=1))
    with pytest.raises(ValueError, match=r"not 'lhs'; for this design use delta_indices"):
        sobol_indices(lhs, "y")
    with pytest.raises(ValueError, match=r"not 'lhs'; for this design use delta_indices"):
        elementary_effects(lhs, "y")
    with pytest.raises(ValueError, match=r"Morris design .* not 'lhs'"):
        morris_indices(lhs, "y")
    listed = Sweep(BASE, vary={"leadership": [0.1, 0.9], "pace": [0.2, 0.8]}, design="list",
                   replicates=1)
    res = results_of(listed, np.array([0.0, 1.0]), "y")
    with pytest.raises(ValueError, match="a list design moves every factor together"):
        sensitivity(res, "y")
    with pytest.raises(ValueError, match="a list design moves every factor together"):
        delta_indices(res, "y")
    with pytest.raises(ValueError, match=r"method: 'fast' is not allowed"):
        sensitivity(lhs, "y", method="fast")
    with pytest.raises(ValueError, match=r"slices: 40 slices need at least 80 design points"):
        pawn_indices(lhs, "y", slices=40)
