"""Trajectory sweeps to a Zarr store: consolidated chunk by chunk, read back lazily.

Every stored result is compared with the same sweep run in memory in the same test, never
with stored numbers. Memory itself is measured by ``benchmarks/bench_sweep_memory.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr.storage

import cmo_sim
from cmo_sim import Sweep, open_sweep, run_sweep
from cmo_sim.sweep import executors
from cmo_sim.sweep import results as results_module
from cmo_sim.sweep import store as store_module
from cmo_sim.sweep.store import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
BASE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
#: 4 points x 5 replicates in chunks of 8 runs: 3 chunks, two of them splitting a point.
SWEEP = Sweep(BASE, vary={"history": (-0.6, 0.6), "members[1].size": (100, 10000, "log")},
              design="lhs", samples=4, replicates=5)
RUN = {"steps": 12, "record": 3, "progress": False}
CHUNK = 8


@pytest.fixture(scope="module")
def in_memory() -> cmo_sim.SweepResults:
    return run_sweep(SWEEP, **RUN)


@dataclasses.dataclass
class Stored:
    path: Path
    result: cmo_sim.SweepResults
    appended: list[tuple[int, bool, int]]  # each write to the root: runs, first, first run


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Stored:
    path = tmp_path_factory.mktemp("streaming") / "s.zarr"
    appended = []
    real = store_module._append_part

    def append_part(part, target, *, first):
        appended.append((part.sizes["run"], first, int(part["run"][0])))
        real(part, target, first=first)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_module, "_append_part", append_part)
        result = run_sweep(SWEEP, store=path, chunk_runs=CHUNK, **RUN)
    return Stored(path, result, appended)


def on_disk(traj: xr.Dataset) -> list[str]:
    """The trajectory variables still on disk (Dask arrays, not read into memory)."""
    return [str(name) for name, var in traj.data_vars.items() if isinstance(var.data, da.Array)]


def assert_same_trajectories(got: xr.Dataset, expected: xr.Dataset) -> None:
    """Equal values, coordinates and dtypes (a store adds attributes: meanings, what ran)."""
    got = got.compute()  # a copy: the object under test stays lazy
    xr.testing.assert_equal(got, expected)
    assert list(got.data_vars) == list(expected.data_vars)
    assert {n: v.dtype for n, v in got.variables.items()} == {
        n: v.dtype for n, v in expected.variables.items()}


def root_group(path: Path) -> xr.Dataset:
    with xr.open_zarr(path) as ds:
        return ds.load()


# -- the same values as in memory -----------------------------------------------------------------
def test_the_store_holds_the_values_of_the_sweep_run_in_memory(in_memory, stored):
    reopened = open_sweep(stored.path)
    for got in (reopened, stored.result):
        pd.testing.assert_frame_equal(got.summary, in_memory.summary)
        assert_same_trajectories(got.trajectories, in_memory.trajectories)
    xr.testing.assert_identical(reopened.aggregate(), in_memory.aggregate())
    # The root group other tools open: every run, each trajectory as recorded.
    root = root_group(stored.path)
    assert root.sizes["run"] == SWEEP.n_runs == 20
    for name, values in in_memory.trajectories.data_vars.items():
        assert root[f"traj_{name}"].dtype == values.dtype
        np.testing.assert_array_equal(root[f"traj_{name}"].to_numpy(), values.to_numpy())
    np.testing.assert_array_equal(root["performance"].to_numpy(),
                                  in_memory.summary["performance"].to_numpy())


def test_the_root_group_is_written_one_chunk_at_a_time(stored):
    assert stored.appended == [(8, True, 0), (8, False, 8), (4, False, 16)]


# -- lazy reading ---------------------------------------------------------------------------------
class _Reads:
    """Keys of the Zarr files read from disk (zarr's LocalStore) while it is installed."""

    def __init__(self, monkeypatch):
        self.keys: list[str] = []
        real = zarr.storage.LocalStore.get

        async def get(store, key, *args, **kwargs):
            self.keys.append(key)
            return await real(store, key, *args, **kwargs)

        monkeypatch.setattr(zarr.storage.LocalStore, "get", get)

    def data(self, prefix: str) -> list[str]:
        """Keys of data (not metadata) read from variables whose name starts with ``prefix``."""
        return [k for k in self.keys if k.startswith(prefix) and "/c/" in f"/{k}"]


def test_opening_loads_the_summary_and_leaves_trajectories_in_the_store(
        stored, in_memory, monkeypatch):
    reads = _Reads(monkeypatch)
    reopened = open_sweep(stored.path, verify="quick")
    assert isinstance(reopened.summary, pd.DataFrame) and reopened.n_runs == 20
    assert reads.data("performance") and not reads.data("traj_")  # summary read, not these
    assert on_disk(reopened.trajectories) == list(in_memory.trajectories.data_vars)
    trust = reopened.trajectories["trust"].sel(run=slice(0, 6)).to_numpy()  # read when used
    assert reads.data("traj_trust") and not reads.data("traj_faith")
    np.testing.assert_array_equal(trust, in_memory.trajectories["trust"][:7].to_numpy())
    # Verified in full (each chunk hashed), the trajectories are not parsed either.
    assert on_disk(open_sweep(stored.path).trajectories) == list(
        in_memory.trajectories.data_vars)
    assert on_disk(stored.result.trajectories) == list(in_memory.trajectories.data_vars)


def test_a_partial_read_is_lazy_and_leaves_out_the_missing_chunk(stored, tmp_path, in_memory):
    import shutil

    path = tmp_path / "partial.zarr"
    shutil.copytree(stored.path, path)
    shutil.rmtree(path / "chunk-00001.zarr")
    with pytest.warns(cmo_sim.StoreWarning, match=r"left out: chunk-00001\.zarr"):
        partial = open_sweep(path, allow_partial=True, verify="quick")
    assert on_disk(partial.trajectories)
    kept = np.r_[0:8, 16:20]
    assert_same_trajectories(partial.trajectories, in_memory.trajectories.isel(run=kept))
    np.testing.assert_array_equal(partial.summary["run"], kept)


def test_aggregating_point_by_point_gives_the_whole_sweeps_numbers(stored, in_memory,
                                                                     monkeypatch):
    whole = in_memory.aggregate(quantiles=(0.1, 0.5))
    by_point = in_memory.trajectories.astype(np.float64).groupby("point")
    np.testing.assert_array_equal(whole["traj_trust"].sel(statistic="mean"),
                                  by_point.mean("run")["trust"])
    np.testing.assert_array_equal(whole["traj_synergy"].sel(statistic="q10"),
                                  by_point.quantile(0.1, dim="run")["synergy"])
    monkeypatch.setattr(results_module, "AGGREGATE_BLOCK_BYTES", 1)  # one point per block
    reopened = open_sweep(stored.path)
    assert len(results_module._point_blocks(reopened.trajectories)) == SWEEP.n_points
    xr.testing.assert_identical(reopened.aggregate(quantiles=(0.1, 0.5)), whole)
    xr.testing.assert_identical(in_memory.aggregate(quantiles=(0.1, 0.5)), whole)


# -- an interrupted consolidation -----------------------------------------------------------------
def _no_group(path: Path) -> None:
    """The store's root is not a group, and not recorded as one, and no temporary is left."""
    assert not (path / "zarr.json").exists()
    assert "root" not in json.loads((path / MANIFEST).read_text())
    assert not [p.name for p in path.iterdir() if p.name.startswith(".")]
    with pytest.raises(Exception):  # noqa: B017,PT011 - whatever xarray raises for no group
        xr.open_zarr(path)


def test_a_consolidation_stopped_midway_is_redone_to_the_same_store(
        stored, tmp_path, monkeypatch, in_memory):
    path = tmp_path / "s.zarr"
    real = store_module._append_part
    calls = []

    def append_part(part, target, *, first):
        calls.append(first)
        if len(calls) == 3:  # two chunks appended to the group being built
            raise KeyboardInterrupt("stopped while consolidating")  # Ctrl-C
        real(part, target, first=first)

    monkeypatch.setattr(store_module, "_append_part", append_part)
    with pytest.raises(KeyboardInterrupt, match="stopped while consolidating"):
        run_sweep(SWEEP, store=path, chunk_runs=CHUNK, **RUN)
    _no_group(path)
    # The finished chunks are intact and readable.
    pd.testing.assert_frame_equal(open_sweep(path).summary, in_memory.summary)
    monkeypatch.setattr(store_module, "_append_part", real)
    again = run_sweep(SWEEP, store=path, chunk_runs=CHUNK, **RUN)
    assert again.meta["chunks_run"] == 0  # nothing recomputed, only consolidated
    xr.testing.assert_identical(root_group(path), root_group(stored.path))
    assert_same_trajectories(again.trajectories, in_memory.trajectories)


def test_a_consolidation_stopped_while_moving_the_group_into_place(
        stored, tmp_path, monkeypatch):
    path = tmp_path / "s.zarr"
    real = os.replace
    moved = []

    def replace(source, target):
        if (Path(source).parent.name.startswith(".root.tmp-")
                and Path(target).parent == path):  # the group's entries moved into the root
            moved.append(Path(target).name)
            if len(moved) == 5:
                raise OSError(28, "No space left on device")
        real(source, target)

    monkeypatch.setattr(store_module.os, "replace", replace)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(SWEEP, store=path, chunk_runs=CHUNK, **RUN)
    monkeypatch.setattr(store_module.os, "replace", real)
    assert "zarr.json" not in moved  # moved last: never in place before the rest
    _no_group(path)
    run_sweep(SWEEP, store=path, chunk_runs=CHUNK, **RUN)
    xr.testing.assert_identical(root_group(path), root_group(stored.path))


# -- dtypes ---------------------------------------------------------------------------------------
def test_float32_trajectories_stay_float32_in_chunks_root_and_results(tmp_path, monkeypatch,
                                                                       in_memory):
    real = executors.run_chunk

    def run_chunk32(task):
        out = real(task)
        traj = out.trajectories
        floats = {name: traj[name].astype(np.float32) for name in traj.data_vars
                  if traj[name].dtype == np.float64}
        return dataclasses.replace(out, trajectories=traj.assign(floats))

    monkeypatch.setattr(executors, "run_chunk", run_chunk32)
    path = tmp_path / "s32.zarr"
    result = run_sweep(SWEEP, store=path, chunk_runs=CHUNK, **RUN)
    expected = {name: np.float32 if var.dtype == np.float64 else var.dtype
                for name, var in in_memory.trajectories.data_vars.items()}
    assert "trust" in expected and expected["trust"] == np.float32
    root = root_group(path)
    for got in (result, open_sweep(path)):
        assert {n: v.dtype for n, v in got.trajectories.data_vars.items()} == expected
        assert on_disk(got.trajectories)
        for name, values in in_memory.trajectories.data_vars.items():
            np.testing.assert_array_equal(got.trajectories[name].to_numpy(),
                                          values.to_numpy().astype(expected[name]))
            assert root[f"traj_{name}"].dtype == expected[name]
    pd.testing.assert_frame_equal(result.summary, in_memory.summary)
    np.testing.assert_allclose(
        result.aggregate()["traj_trust"].to_numpy(),
        in_memory.aggregate()["traj_trust"].to_numpy(), rtol=1e-6, equal_nan=True)


def test_the_memory_estimate_of_a_sweep_to_a_zarr_store_counts_chunks_not_runs():
    # 10^6 dyads recorded every month: about 30 GiB of record in memory, refused under 8 GiB;
    # to a Zarr store only the chunks being run hold theirs, and the request is accepted.
    from cmo_sim import TooLargeError
    from cmo_sim._limits import check_sweep

    request = dict(n_runs=10**6, n_points=1000, factors=2, members=2, steps=120, every=1,
                   chunk=15_000, max_memory="8GiB", max_time="inf")
    with pytest.raises(TooLargeError):
        check_sweep(**request)
    stored, _ = check_sweep(**request, zarr_store=True)
    assert stored < 8 * 2**30
    halved, _ = check_sweep(**request | {"max_memory": "inf"}, value_bytes=4)
    whole, _ = check_sweep(**request | {"max_memory": "inf"})
    assert halved < 0.6 * whole  # float32 records count half
