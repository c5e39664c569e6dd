"""Trajectories at any scale: float32 records, streaming to a Zarr store, refusals naming it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cmo_sim
from cmo_sim import TooLargeError, open_results, simulate
from cmo_sim._limits import check_simulate

DYAD = cmo_sim.load_scenario({"name": "dyad", "members": [{}, {}]})
TRIAD = cmo_sim.load_scenario({"name": "triad", "members": [{"size": 100}, {"size": 200},
                                                              {"size": 300}]})
FLOATS = ("trust", "faith", "intra_conflict", "synergy", "inertia", "experience", "ambition",
          "achievement", "performance", "vision")


def _assert_float32_of(narrow: cmo_sim.Results, wide: cmo_sim.Results) -> None:
    """``narrow`` holds ``wide``'s float trajectories cast to float32, all else identical."""
    pd.testing.assert_frame_equal(narrow.summary, wide.summary)
    a, b = narrow.trajectories, wide.trajectories
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        if name in FLOATS:
            assert b[name].dtype == np.float64 and a[name].dtype == np.float32, name
            np.testing.assert_array_equal(a[name].values, b[name].values.astype(np.float32))
        else:
            assert a[name].dtype == b[name].dtype, name
            np.testing.assert_array_equal(a[name].values, b[name].values)
    for coord in ("run", "step", "member", "scenario", "replicate"):
        np.testing.assert_array_equal(a[coord].values, b[coord].values)


@pytest.mark.parametrize("record", ["trajectory", 5])
def test_float32_trajectories_are_the_float64_ones_rounded(record) -> None:
    kwargs = dict(runs=150, steps=40, record=record, chunk_runs=128, seed=7)
    wide = simulate([DYAD, TRIAD], **kwargs)
    narrow = simulate([DYAD, TRIAD], trajectory_dtype="float32", **kwargs)
    _assert_float32_of(narrow, wide)
    assert narrow.meta["trajectory_dtype"] == "float32"
    assert "trajectory_dtype" not in wide.meta  # the default's results are unchanged
    assert narrow.trajectories["active"].dtype == np.bool_
    assert narrow.trajectories["regime"].dtype == np.int8
    # The chunk size does not change the record.
    again = simulate([DYAD, TRIAD], **{**kwargs, "chunk_runs": 1000},
                     trajectory_dtype="float32")
    _assert_float32_of(again, wide)


def test_float32_trajectories_stay_float32_in_saved_files(tmp_path) -> None:
    narrow = simulate(TRIAD, runs=20, steps=12, record=1, trajectory_dtype="float32")
    for saved in (narrow.to_zarr(tmp_path / "r.zarr"), narrow.to_parquet(tmp_path / "r")):
        back = open_results(saved)
        for name in FLOATS:
            assert back.trajectories[name].dtype == np.float32, (saved, name)
            np.testing.assert_array_equal(back.trajectories[name].values,
                                          narrow.trajectories[name].values)
        assert back.trajectories["active"].dtype == np.bool_


def test_the_mesa_engine_records_float32_too() -> None:
    kwargs = dict(runs=2, steps=6, record=1, engine="abm")
    _assert_float32_of(simulate(DYAD, trajectory_dtype="float32", **kwargs),
                       simulate(DYAD, **kwargs))


@pytest.mark.parametrize("bad", ["float16", "int64", "double precision", 32, True, None])
def test_a_bad_trajectory_dtype_is_refused_naming_it(bad) -> None:
    with pytest.raises(ValueError, match=r"^trajectory_dtype: .* is not allowed \(allowed: "
                                         r"'float64', 'float32'\)"):
        simulate(DYAD, runs=2, steps=2, record=1, trajectory_dtype=bad)


def test_the_memory_estimate_counts_float32_records() -> None:
    sizes = dict(n_scenarios=1, runs=100_000, members=2, steps=120, every=1, chunk=10_000)
    wide, _ = check_simulate(**sizes)
    narrow, _ = check_simulate(**sizes, value_bytes=4)
    summary_only, _ = check_simulate(**{**sizes, "every": None})
    assert narrow - summary_only == pytest.approx((wide - summary_only) / 2)
    # A limit between the two: float64 is refused, float32 runs.
    limit = (wide + narrow) / 2
    with pytest.raises(TooLargeError):
        check_simulate(**sizes, max_memory=limit)
    check_simulate(**sizes, value_bytes=4, max_memory=limit)
