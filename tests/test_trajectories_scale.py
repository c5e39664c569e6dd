"""Trajectories at any scale: float32 records, streaming to a Zarr store, refusals naming it."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import xarray as xr

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


# -- streaming to a store -------------------------------------------------------------------------
@pytest.mark.parametrize(("record", "dtype"), [("trajectory", "float64"), (4, "float32"),
                                               ("summary", "float64")])
def test_a_stored_run_equals_the_run_in_memory(tmp_path, record, dtype) -> None:
    kwargs = dict(runs=130, steps=30, record=record, chunk_runs=100, seed=11,
                  trajectory_dtype=dtype)
    in_memory = simulate([DYAD, TRIAD], **kwargs)
    stored = simulate([DYAD, TRIAD], store=tmp_path / "out.zarr", **kwargs)
    assert (tmp_path / "out.zarr").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]  # no temporaries left
    pd.testing.assert_frame_equal(stored.summary, in_memory.summary)
    assert stored.meta == in_memory.meta
    if record == "summary":
        assert stored.trajectories is None
        return
    # Read lazily: nothing of the trajectories is in memory until used.
    assert all(not isinstance(v.variable._data, np.ndarray)
               for v in stored.trajectories.data_vars.values())
    xr.testing.assert_equal(stored.trajectories.load(), in_memory.trajectories)
    for name, values in in_memory.trajectories.data_vars.items():
        assert stored.trajectories[name].dtype == values.dtype, name
        assert stored.trajectories[name].attrs["description"] == values.attrs["description"]
    # The same store as Results.to_zarr writes, opened the same way.
    written = open_results(in_memory.to_zarr(tmp_path / "written.zarr"))
    xr.testing.assert_identical(open_results(tmp_path / "out.zarr").trajectories,
                                written.trajectories)
    pd.testing.assert_frame_equal(open_results(tmp_path / "out.zarr").summary, written.summary)


def test_streaming_holds_one_chunk_of_trajectories(tmp_path) -> None:
    simulate(DYAD, runs=10, steps=3, record=1, store=tmp_path / "warm.zarr")  # imports
    tracemalloc.start()
    try:
        results = simulate(DYAD, runs=3000, steps=36, record=1, chunk_runs=300,
                           store=tmp_path / "big.zarr")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole = results.trajectories.nbytes  # what the record would take in memory
    chunk = whole / 10
    assert whole > 12 * 2**20
    # Ten chunks: the peak is a few chunks' worth (the chunk's record, its copy being written,
    # the summary), far below the whole record.
    assert peak < whole / 2, (peak, whole)
    assert peak < 4 * chunk + 4 * 2**20, (peak, chunk)
    assert results.n_runs == 3000 and results.trajectories.sizes["run"] == 3000


class _Stop(Exception):
    pass


def test_a_failed_run_leaves_no_store_and_keeps_the_old_one(tmp_path, monkeypatch) -> None:
    path = tmp_path / "out.zarr"
    old = simulate(DYAD, runs=30, steps=6, record=1, store=path)
    from cmo_sim import _simulate

    real, calls = _simulate.summarise, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise _Stop
        return real(*args, **kwargs)

    monkeypatch.setattr(_simulate, "summarise", failing)
    with pytest.raises(_Stop):
        simulate(TRIAD, runs=500, steps=6, record=1, chunk_runs=100, store=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]
    back = open_results(path)
    pd.testing.assert_frame_equal(back.summary, old.summary)
    assert back.trajectories.sizes["run"] == 30
    monkeypatch.undo()
    with pytest.raises(_Stop):  # a first run that fails leaves nothing at all
        monkeypatch.setattr(_simulate, "summarise", failing)
        calls.clear()
        simulate(TRIAD, runs=500, steps=6, record=1, chunk_runs=100,
                 store=tmp_path / "new.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]


@pytest.mark.parametrize("bad", [3, ["out.zarr"], True])
def test_a_bad_store_is_refused_naming_it(bad) -> None:
    with pytest.raises(ValueError, match=r"^store: .* is not allowed \(a path for a Zarr store"):
        simulate(DYAD, runs=2, steps=2, record=1, store=bad)


def test_a_store_request_is_estimated_by_its_chunk() -> None:
    sizes = dict(n_scenarios=1, runs=10**6, members=2, steps=120, every=1, chunk=15_000)
    in_memory, _ = check_simulate(**sizes, max_memory="inf")
    streamed, _ = check_simulate(**sizes, store=True, max_memory="inf")
    assert in_memory > 10 * 2**30  # the record alone: 10^6 runs x 121 months
    assert streamed < 2 * 2**30


# -- refusals name the streaming alternative -------------------------------------------------------
def test_a_record_too_large_for_memory_names_the_store_and_float32() -> None:
    with pytest.raises(TooLargeError) as excinfo:
        simulate(DYAD, runs=10**6, record="trajectory", max_memory="10GiB")
    message = str(excinfo.value)
    assert message.startswith("record: 1,000,000 runs of up to 2 members over 120 months "
                              "recording every month needs about ")
    assert "more than the memory limit of 10 GiB" in message
    assert "store='runs.zarr' writes each chunk to a Zarr store as it is run" in message
    assert "trajectory_dtype='float32' halves the trajectories (about " in message
    assert "record less (record='summary'" in message
    # The alternatives it names fit: each estimate it gives is below the limit.
    alternatives = message.split("store='runs.zarr'")[1].split(". Or")[0]
    named = re.findall(r"([0-9.]+) (MiB|GiB)", alternatives)
    assert len(named) == 3
    assert all(unit == "MiB" or float(n) < 10 for n, unit in named)
    sizes = dict(n_scenarios=1, runs=10**6, members=2, steps=120, every=1, chunk=15_000,
                 max_memory="10GiB")
    check_simulate(**sizes, store=True)
    check_simulate(**sizes, store=True, value_bytes=4)
    check_simulate(**sizes, value_bytes=4)
    # Already float32: only the store is named.
    with pytest.raises(TooLargeError) as excinfo:
        simulate(DYAD, runs=10**6, record="trajectory", max_memory="4GiB",
                 trajectory_dtype="float32")
    assert "store='runs.zarr'" in str(excinfo.value)
    assert "trajectory_dtype=" not in str(excinfo.value)


def test_the_store_it_names_runs_within_the_limit(tmp_path) -> None:
    with pytest.raises(TooLargeError, match="store='runs.zarr'"):
        simulate(DYAD, runs=3000, steps=60, record=1, max_memory="20MB", chunk_runs=500)
    # A chunk too large for the limit is named as such.
    with pytest.raises(TooLargeError, match=r"a smaller chunk_runs \(chunk_runs=[0-9,]+ fits\)"):
        simulate(DYAD, runs=3000, steps=60, record=1, max_memory="20MB",
                 store=tmp_path / "runs.zarr")
    assert not (tmp_path / "runs.zarr").exists()
    results = simulate(DYAD, runs=3000, steps=60, record=1, max_memory="20MB",
                       chunk_runs=500, store=tmp_path / "runs.zarr")
    assert results.trajectories.sizes["run"] == 3000


def test_a_summary_too_large_does_not_name_the_store() -> None:
    for kwargs in ({}, {"store": "never.zarr", "record": 1}):
        with pytest.raises(TooLargeError) as excinfo:
            simulate(DYAD, runs=10**9, **kwargs)
        assert str(excinfo.value).startswith("runs: ")
        assert "store=" not in str(excinfo.value)
