"""Sweeps: designs, validation, executors, chunking, stores, resume after SIGKILL, CLI."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

import cmo_sim
from cmo_sim import ScenarioError, Sweep, SweepResults, open_sweep, run_sweep
from cmo_sim.cli import main
from cmo_sim.params import compile_params
from cmo_sim.sweep import read_sweep_file, scale
from cmo_sim.sweep.executors import ChunkTask, chunk_params
from cmo_sim.sweep.store import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
SWEEP_FILES = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
BASE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
QUICK = {"steps": 30, "progress": False}


def small_sweep(replicates: int = 6) -> Sweep:
    """8 grid points over a context, a member size (log) and a categorical entry point."""
    return Sweep(
        BASE,
        vary={"history": (-0.6, 0.6), "members[1].size": (100, 10000, "log"),
              "entry_point": ["innovation", "policy_directive"]},
        design="grid", samples=2, replicates=replicates,
    )


def reference(sweep: Sweep, **kwargs) -> pd.DataFrame:
    return run_sweep(sweep, **{**QUICK, **kwargs}).summary


# -- designs -------------------------------------------------------------------------------------
def test_grid_is_full_factorial_and_covers_bounds_exactly():
    sweep = Sweep(BASE, vary={"history": (-0.7, 0.3), "shared_vision": [0.2, 0.9]},
                  design="grid", samples=5, replicates=2)
    values = sweep.values
    assert sweep.n_points == 10 and sweep.n_runs == 20
    assert values["history"].min() == -0.7 and values["history"].max() == 0.3
    assert np.allclose(np.unique(values["history"]), np.linspace(-0.7, 0.3, 5))
    assert sorted(values["shared_vision"].unique()) == [0.2, 0.9]
    assert len(values.drop_duplicates()) == 10  # every combination once
    assert list(values.index) == list(range(10))


def test_log_range_is_geometric_and_exact_at_the_ends():
    sweep = Sweep(BASE, vary={"members[1].size": (100, 10000, "log")}, samples=3, replicates=1)
    sizes = sweep.values["members[1].size"].to_numpy()
    assert sizes[0] == 100.0 and sizes[-1] == 10000.0
    assert sizes[1] == pytest.approx(1000.0, rel=1e-12)


def test_lhs_puts_one_point_in_every_stratum_of_every_range():
    n = 40
    sweep = Sweep(BASE, vary={"history": (-1.0, 1.0), "leadership": (0.1, 0.9),
                              "entry_point": ["innovation", "funding_pressure"]},
                  design="lhs", samples=n, replicates=1)
    assert sweep.n_points == n
    for path, (low, high) in (("history", (-1.0, 1.0)), ("leadership", (0.1, 0.9))):
        column = sweep.values[path].to_numpy()
        assert column.min() >= low and column.max() <= high
        strata = np.floor((column - low) / (high - low) * n).astype(int)
        assert sorted(strata) == list(range(n))
    assert (sweep.values["entry_point"].value_counts() == n // 2).all()


def test_sobol_design_is_salibs_sample_scaled():
    from SALib.sample import sobol as salib_sobol

    vary = {"shared_vision": (0.2, 0.8), "leadership": (0.0, 1.0), "pace": (0.1, 0.5)}
    sweep = Sweep(BASE, vary=vary, design="sobol", samples=16, replicates=1, design_seed=3)
    assert sweep.n_points == 16 * (3 + 2)
    unit = salib_sobol.sample(sweep.problem(), 16, calc_second_order=False, seed=3)
    np.testing.assert_array_equal(sweep.unit, unit)
    np.testing.assert_allclose(sweep.values["shared_vision"], 0.2 + 0.6 * unit[:, 0])
    for path, (low, high) in vary.items():
        assert sweep.values[path].between(low, high).all()
    again = Sweep(BASE, vary=vary, design="sobol", samples=16, replicates=1, design_seed=3)
    other = Sweep(BASE, vary=vary, design="sobol", samples=16, replicates=1, design_seed=4)
    assert again == sweep and other != sweep


def test_list_design_zips_the_lists():
    sweep = Sweep(BASE, vary={"leadership": [0.2, 0.5, 0.8], "mandated": [True, False, True]},
                  design="list", replicates=1)
    assert sweep.values["leadership"].tolist() == [0.2, 0.5, 0.8]
    assert sweep.values["mandated"].tolist() == [True, False, True]


def test_point_scenarios_carry_values_and_entry_point_presets():
    sweep = Sweep(BASE, vary={"entry_point": ["innovation", "policy_directive"],
                              "shared_vision": [0.3]}, replicates=1)
    innovation, directive = sweep.scenario(0), sweep.scenario(1)
    assert (innovation.name, directive.name) == ("p000000", "p000001")
    assert innovation.entry_point == "innovation" and directive.mandated is True
    assert innovation.problem_simplicity == 0.35  # from the innovation preset
    assert innovation.shared_vision == 0.3  # a varied factor wins over the preset
    # A sweep over entry_point alone varies every context its presets set (no silent no-op).
    only = Sweep(BASE, vary={"entry_point": ["competitive_threat", "funding_pressure"]},
                 replicates=1)
    assert (only.scenario(0).threat, only.scenario(1).threat) == (0.5, BASE.threat)
    assert only.scenario(1).pace == 0.6 and only.scenario(0).pace == BASE.pace
    assert directive.members[1].size == BASE.members[1].size
    size = Sweep(BASE, vary={"members[1].size": [250.0]}, replicates=1).scenario(0)
    assert size.members[1].size == 250.0 and size.members[0].size == BASE.members[0].size


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vary": {"histroy": (0, 1)}}, r"vary\['histroy'\]: unknown field path .*did you mean"),
        ({"vary": {"members[2].size": (10, 100)}}, r"member index 2 is out of range"),
        ({"vary": {"members[0].sise": (10, 100)}}, r"unknown field path 'members\[0\].sise'"),
        ({"vary": {"timeline": [1]}}, r"'timeline' cannot be varied"),
        ({"vary": {"history": (0.5, 0.5)}}, r"range 0.5 .. 0.5 is empty"),
        ({"vary": {"history": (0.5, -0.5)}}, r"low 0.5 is greater than high -0.5"),
        ({"vary": {"shared_vision": (0.2, 1.5)}}, r"high 1.5 is out of range \(allowed: 0.0"),
        ({"vary": {"members[1].size": (0, 100)}}, r"low 0 is out of range \(allowed: 1.0"),
        ({"vary": {"history": (-0.5, 0.5, "log")}}, r"log-scale range needs low > 0"),
        ({"vary": {"history": (-0.5, float("nan"))}}, r"high nan is not a finite number"),
        ({"vary": {"leadership": [0.2, 1.2]}}, r"vary\['leadership'\]\[1\]: 1.2 is out of range"),
        ({"vary": {"entry_point": ["innovaton"]}}, r"vary\['entry_point'\]\[0\].*innovation"),
        ({"vary": {"leadership": []}}, r"the list of values is empty"),
        ({"vary": {"mandated": (0, 1)}}, r"'mandated' is not a continuous field"),
        ({"vary": {"history": "high"}}, r"vary\['history'\]: 'high' is not allowed"),
        ({"vary": {}}, r"vary: give a mapping"),
        ({"vary": {"history": [0, 1]}}, r"samples: not used by a grid of value lists"),
        ({"vary": {"history": [0, 1]}, "design": "list"}, r"a list design takes no samples"),
        ({"vary": {"history": (0, 1)}, "samples": None}, r"samples: a grid with a range"),
        ({"vary": {"history": (0, 1)}, "design": "lhs", "samples": None},
         r"samples: the lhs design needs"),
        ({"vary": {"history": (0, 1)}, "design": "sobol", "samples": 12},
         r"samples: 12 is not allowed for a Sobol design"),
        ({"vary": {"history": [0, 1], "pace": [0.5]}, "design": "list", "samples": None},
         r"lists of one length \(got history: 2, pace: 1\)"),
        ({"vary": {"history": (0, 1)}, "design": "list", "samples": None},
         r"a list design needs a list"),
        ({"vary": {"history": [0, 1]}, "design": "fractal"}, r"design: 'fractal' is not allowed"),
        ({"vary": {"history": (0, 1)}, "replicates": 0}, r"replicates: 0 is not allowed"),
    ],
)
def test_bad_sweeps_are_refused_before_any_run(kwargs, message):
    arguments = {"design": "grid", "samples": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        Sweep(BASE, **arguments)


def test_scenario_errors_are_scenario_errors():
    with pytest.raises(ScenarioError):
        Sweep(BASE, vary={"shared_vision": (0.2, 1.5)}, samples=3)


def test_scale_rejects_bad_unit_arrays():
    factors = small_sweep().factors
    with pytest.raises(ValueError, match=r"unit: shape \(4, 2\)"):
        scale(np.zeros((4, 2)), factors)
    with pytest.raises(ValueError, match=r"finite and in \[0, 1\]"):
        scale(np.full((2, 3), 1.5), factors)


# -- running --------------------------------------------------------------------------------------
def test_sweep_runs_equal_the_core_on_the_point_scenarios():
    sweep = small_sweep(replicates=5)
    res = run_sweep(sweep, **QUICK)
    assert isinstance(res, SweepResults) and res.n_runs == 40
    direct = cmo_sim.simulate([sweep.scenario(p) for p in range(sweep.n_points)], runs=5,
                              steps=QUICK["steps"]).summary
    for column in direct.columns.drop(["scenario", "cause"]):
        np.testing.assert_array_equal(res.summary[column].to_numpy(), direct[column].to_numpy(),
                                      err_msg=column)
    assert res.summary["cause"].astype(str).tolist() == direct["cause"].tolist()
    assert res.summary["point"].tolist() == list(np.repeat(np.arange(8), 5))


def test_chunk_params_equal_the_rows_of_the_whole_batch():
    sweep = small_sweep(replicates=4)
    theory = cmo_sim.load_theory()
    scenarios = [sweep.scenario(p) for p in range(sweep.n_points)]
    whole = compile_params(scenarios, replicates=4, seed=11, theory=theory)
    start, stop = 6, 23  # starts and ends inside points
    first, last = start // 4, (stop - 1) // 4
    task = ChunkTask(
        index=0, start=start, stop=stop, first_point=first,
        values={p: sweep.values[p].to_numpy()[first : last + 1] for p in sweep.paths},
        base=sweep.base, replicates=4, steps=10, seed=11, theory=theory, record="summary",
    )
    chunk = chunk_params(task)
    rows = whole.take(slice(start, stop))
    for name in ("replicate", "keys", "present", "lead"):
        np.testing.assert_array_equal(getattr(chunk, name), getattr(rows, name), err_msg=name)
    for name, values in rows.contexts.values.items():
        np.testing.assert_array_equal(chunk.contexts.values[name], values, err_msg=name)
    names = np.array(chunk.scenario_names)[chunk.scenario]
    assert list(names) == list(np.array(whole.scenario_names)[rows.scenario])


def test_results_do_not_depend_on_chunk_size():
    sweep = small_sweep(replicates=5)
    ref = reference(sweep)
    for chunk in (1, 7, 40):
        pd.testing.assert_frame_equal(reference(sweep, chunk_runs=chunk), ref)


def test_summary_has_design_columns_and_tidy_dtypes():
    res = run_sweep(small_sweep(replicates=3), **QUICK)
    s = res.summary
    assert list(s.columns[:6]) == ["run", "point", "replicate", "history", "members[1].size",
                                   "entry_point"]
    np.testing.assert_array_equal(s["history"], res.design["history"].to_numpy()[s["point"]])
    assert list(s["replicate"][:6]) == [0, 1, 2, 0, 1, 2]
    assert s["cause"].dtype == "category" and set(s["cause"]) <= {"none", "trust", "faith"}


def test_common_random_numbers_across_points():
    # An ablated context (both of proximity's rules) leaves every run of every replicate
    # exactly as it was.
    theory = cmo_sim.load_theory().without("communication.proximity", "learning.proximity")
    sweep = Sweep(BASE, vary={"proximity": (0.0, 1.0)}, samples=3, replicates=8)
    s = run_sweep(sweep, theory=theory, **QUICK).summary
    outcomes = ["performance", "trust_final", "dissolved_at"]
    by_point = [s[s.point == p][outcomes].to_numpy() for p in range(3)]
    np.testing.assert_array_equal(by_point[0], by_point[1])
    np.testing.assert_array_equal(by_point[0], by_point[2])


def test_aggregate_by_point_mean_and_quantiles():
    res = run_sweep(small_sweep(replicates=6), **QUICK)
    agg = res.aggregate()
    assert agg.sizes == {"point": 8, "statistic": 4}
    assert list(agg.statistic.values) == ["mean", "q05", "q50", "q95"]
    s = res.summary
    np.testing.assert_allclose(agg["performance"].sel(statistic="mean"),
                               s.groupby("point")["performance"].mean())
    np.testing.assert_allclose(agg["trust_final"].sel(statistic="q95"),
                               s.groupby("point")["trust_final"].quantile(0.95))
    np.testing.assert_allclose(agg["dissolved"].sel(statistic="mean"),
                               s.groupby("point")["dissolved"].mean())
    assert (agg["runs"] == 6).all()
    np.testing.assert_array_equal(agg["history"], res.design["history"])
    assert agg["entry_point"].values.tolist() == res.design["entry_point"].tolist()
    # dissolved_at is summarised over the dissolved runs only (a run that lasted has no month):
    # NaN at a point where none dissolved, and unaffected by the -1 of the runs that lasted.
    month = s["dissolved_at"].where(s["dissolved"]).groupby(s["point"]).mean()
    mixed = s.groupby("point")["dissolved"].mean().between(0.01, 0.99)
    assert mixed.any()  # some point has both dissolved runs and runs that lasted
    np.testing.assert_allclose(agg["dissolved_at"].sel(statistic="mean"),
                               month.reindex(range(8)).to_numpy())
    assert (agg["dissolved_at"].sel(statistic="q05").values[mixed.to_numpy()] >= 0).all()
    with pytest.raises(ValueError, match="quantiles"):
        res.aggregate(quantiles=(1.5,))


def test_trajectories_are_recorded_and_aggregated(tmp_path):
    sweep = small_sweep(replicates=4)
    res = run_sweep(sweep, record=10, chunk_runs=5, **QUICK)
    traj = res.trajectories
    assert traj.sizes == {"run": 32, "step": 4, "member": 2}
    assert traj["point"].values.tolist() == res.summary["point"].tolist()
    agg = res.aggregate()
    assert agg["traj_trust"].dims == ("point", "statistic", "step", "member")
    first = traj["synergy"].where(traj["point"] == 2, drop=True)
    np.testing.assert_allclose(agg["traj_synergy"].sel(point=2, statistic="mean"),
                               first.mean("run"))
    stored = run_sweep(sweep, record=10, chunk_runs=7, store=tmp_path / "t.zarr", **QUICK)
    xr.testing.assert_equal(stored.trajectories.reset_coords(drop=True),
                            traj.reset_coords(drop=True))
    pd.testing.assert_frame_equal(stored.summary, res.summary)


def test_progress_bar_reports_runs(capsys):
    run_sweep(small_sweep(replicates=2), steps=5, progress=True)
    err = capsys.readouterr().err
    assert "16/16" in err and "run/s" in err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, r"steps: 0 is not allowed"),
        ({"record": "all"}, r"record: 'all' is not allowed"),
        ({"chunk_runs": 0}, r"chunk_runs: 0 is not allowed"),
        ({"seed": -1}, r"seed: -1 is out of range"),
        ({"executor": "threads"}, r"executor: 'threads' is not allowed"),
        ({"executor": "processes:0"}, r"processes:N needs N >= 1"),
        ({"theory": 3}, r"theory: 3 is not a Theory"),
    ],
)
def test_bad_run_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_sweep(small_sweep(replicates=1), **{**QUICK, **kwargs})


# -- executors: one contract, every executor -------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")  # in the test extra: always installed
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def executor_reference():
    sweep = Sweep(BASE, vary={"history": (-0.8, 0.8), "leadership": (0.1, 0.9)},
                  design="lhs", samples=12, replicates=7)
    return sweep, run_sweep(sweep, record=15, **QUICK)


@pytest.mark.parametrize("executor", ["local", "processes", "dask"])
def test_executors_agree_exactly(executor, executor_reference, request):
    sweep, ref = executor_reference
    if executor == "dask":
        executor = request.getfixturevalue("dask_client")
        assert len(executor.scheduler_info()["workers"]) == 2
    res = run_sweep(sweep, record=15, executor=executor, chunk_runs=11, **QUICK)
    pd.testing.assert_frame_equal(res.summary, ref.summary)
    xr.testing.assert_equal(res.trajectories, ref.trajectories)


def test_dask_address_string_and_store(dask_client, executor_reference, tmp_path):
    sweep, ref = executor_reference
    address = dask_client.scheduler.address.removeprefix("tcp://")
    res = run_sweep(sweep, executor=f"dask://{address}", store=tmp_path / "d.parquet",
                    chunk_runs=13, **QUICK)
    pd.testing.assert_frame_equal(res.summary, ref.summary)
    assert len(list((tmp_path / "d.parquet").glob("chunk-*.parquet"))) == 7


# -- stores ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["s.zarr", "s.parquet", "plain_directory"])
def test_store_round_trip_and_resume_of_missing_chunks(tmp_path, name):
    sweep = small_sweep(replicates=4)
    ref = reference(sweep)
    path = tmp_path / name
    res = run_sweep(sweep, store=path, chunk_runs=5, **QUICK)
    pd.testing.assert_frame_equal(res.summary, ref)
    chunks = sorted(p for p in path.iterdir() if p.name.startswith("chunk-"))
    assert len(chunks) == 7 and res.meta["chunks_run"] == 7
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["chunk_runs"] == 5 and manifest["seed"] == 0 and manifest["steps"] == 30
    pd.testing.assert_frame_equal(open_sweep(path).summary, ref)
    assert open_sweep(path).sweep == sweep

    for chunk in (chunks[2], chunks[5]):  # lose two chunks: only they are run again
        if chunk.is_dir():
            import shutil

            shutil.rmtree(chunk)
        else:
            chunk.unlink()
    with pytest.raises(ValueError, match=r"unfinished \(5 of 7 chunks\)"):
        open_sweep(path)
    partial = open_sweep(path, allow_partial=True)
    assert partial.n_runs == ref.shape[0] - 10
    again = run_sweep(sweep, store=path, **QUICK)  # chunk size taken from the store
    assert again.meta["chunks_run"] == 2
    pd.testing.assert_frame_equal(again.summary, ref)
    assert run_sweep(sweep, store=path, **QUICK).meta["chunks_run"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": 1}, r"seed differs \(store: 0, this run: 1\)"),
        ({"steps": 31}, r"steps differs \(store: 30, this run: 31\)"),
        ({"theory": "ablated"}, r"theory differs"),
        ({"chunk_runs": 6}, r"chunk_runs differs \(store: 5, this run: 6\)"),
        ({"sweep": "replicates"}, r"replicates differ \(store: 4, this run: 5\)"),
        ({"sweep": "base"}, r"base scenario differs in leadership"),
        ({"sweep": "range"}, r"factors differ .*design values differ"),
    ],
)
def test_mismatched_stores_are_refused(tmp_path, change, message):
    sweep = small_sweep(replicates=4)
    path = tmp_path / "s.parquet"
    run_sweep(sweep, store=path, chunk_runs=5, **QUICK)
    before = sorted(os.listdir(path))
    kwargs = {**QUICK, "store": path}
    if change.get("theory"):
        kwargs["theory"] = cmo_sim.load_theory().without("trust.success_loop")
    elif change.get("sweep") == "replicates":
        sweep = small_sweep(replicates=5)
    elif change.get("sweep") == "base":
        sweep = Sweep(BASE.with_values({"leadership": 0.9}), vary=dict(
            (f.path, (f.low, f.high, "log") if f.log else (f.low, f.high) if f.is_range
             else list(f.values)) for f in sweep.factors), samples=2, replicates=4)
    elif change.get("sweep") == "range":
        sweep = Sweep(BASE, vary={"history": (-0.5, 0.6)}, samples=2, replicates=4)
    else:
        kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        run_sweep(sweep, **kwargs)
    assert sorted(os.listdir(path)) == before  # nothing mixed in


def test_store_path_that_is_not_a_store_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"is not a cmo-sim sweep store .*notes.txt"):
        run_sweep(small_sweep(1), store=tmp_path / "data", **QUICK)
    with pytest.raises(ValueError, match=r"Parquet store holds per-run summaries only"):
        run_sweep(small_sweep(1), store=tmp_path / "p", record="trajectory", **QUICK)
    with pytest.raises(FileNotFoundError, match="no sweep store"):
        open_sweep(tmp_path / "nothing")


KILL_SCRIPT = """
import json, sys
from cmo_sim import Sweep, run_sweep
spec = json.loads(sys.argv[1])
run_sweep(Sweep.from_spec(spec), steps=60, store=sys.argv[2], chunk_runs=40, progress=False)
"""


def test_sweep_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    sweep = Sweep(BASE, vary={"history": (-0.8, 0.8), "leadership": (0.2, 0.8)},
                  design="grid", samples=8, replicates=50)  # 3200 runs, 80 chunks
    store = tmp_path / "killed.zarr"
    child = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, json.dumps(sweep.spec()),
                              str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(store.glob("chunk-*.zarr")):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "no chunk written in time"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    finished = len(list(store.glob("chunk-*.zarr")))
    assert 1 <= finished < 80
    resumed = run_sweep(sweep, steps=60, store=store, progress=False)
    assert resumed.meta["chunks_run"] == 80 - finished
    assert not [p for p in store.iterdir() if p.name.startswith(".")]  # temporaries cleaned
    uninterrupted = run_sweep(sweep, steps=60, progress=False)
    pd.testing.assert_frame_equal(resumed.summary, uninterrupted.summary)


# A child process that dies by SIGKILL in the middle of writing its third chunk: the chunk's file
# is written, then damaged (a Parquet file cut to half its bytes, a Zarr chunk missing its data
# files) and the process kills itself before the write returns. Only an atomic write (temporary
# name, then rename) keeps that half chunk from being taken for a finished one.
MID_WRITE_KILL_SCRIPT = """
import json, os, signal, sys
from pathlib import Path
import pyarrow.parquet as pq
import xarray as xr
from cmo_sim import Sweep, run_sweep

calls = {"n": 0}

def dies_on_third(write, damage):
    def wrapped(self, path, *args, **kwargs):
        result = write(self, path, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            damage(Path(path))
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapped

def cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

def drop_data_files(path):
    for entry in sorted(path.rglob("c")):  # Zarr v3 chunk-key folders
        for item in entry.rglob("*"):
            if item.is_file():
                item.unlink()

pq.write_table = dies_on_third(pq.write_table, cut_in_half)
xr.Dataset.to_zarr = dies_on_third(xr.Dataset.to_zarr, drop_data_files)
spec = json.loads(sys.argv[1])
run_sweep(Sweep.from_spec(spec), steps=24, store=sys.argv[2], chunk_runs=8, progress=False)
"""


@pytest.mark.parametrize("name", ["killed.parquet", "killed.zarr"])
def test_a_kill_in_the_middle_of_a_chunk_write_loses_nothing(tmp_path, name):
    sweep = small_sweep(replicates=5)  # 40 runs, 5 chunks of 8
    store = tmp_path / name
    child = subprocess.run([sys.executable, "-c", MID_WRITE_KILL_SCRIPT, json.dumps(sweep.spec()),
                            str(store)], capture_output=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    assert len(list(store.glob("chunk-*"))) == 2  # chunks 0 and 1 finished before the kill
    resumed = run_sweep(sweep, steps=24, store=store, progress=False)
    assert resumed.meta["chunks_run"] == 3
    assert not [p for p in store.iterdir() if p.name.startswith(".")]  # half chunk cleaned
    uninterrupted = run_sweep(sweep, steps=24, chunk_runs=8, progress=False)
    pd.testing.assert_frame_equal(resumed.summary, uninterrupted.summary)
    pd.testing.assert_frame_equal(open_sweep(store).summary, uninterrupted.summary)


# -- sweep files and the command line -------------------------------------------------------------
@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_shipped_sweep_files_are_valid(path):
    spec = read_sweep_file(path)
    assert spec.sweep.base.name == "voluntary_alliance"
    assert spec.sweep.n_points >= 20 and spec.steps == 120


def write_sweep_file(tmp_path: Path, **changes) -> Path:
    data = {"name": "tiny", "base": str(ROOT / "scenarios" / "voluntary_alliance.yaml"),
            "design": "grid", "samples": 3, "replicates": 4, "steps": 12,
            "vary": {"history": {"low": -0.5, "high": 0.5}, "ambition_bias": [-0.2, 0.2]},
            **changes}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_cli_sweep_runs_and_resumes(tmp_path, capsys):
    path = write_sweep_file(tmp_path)
    store = tmp_path / "out.zarr"
    assert main(["sweep", str(path), "--store", str(store), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "sweep tiny: 6 points x 4 replicates = 24 runs, grid design" in out
    assert "elementary effects of dissolved" in out and "history" in out
    assert open_sweep(store).n_runs == 24
    assert main(["sweep", str(path), "--store", str(store), "--quiet"]) == 0
    assert "(1 already there, 0 run now)" in capsys.readouterr().out
    assert main(["sweep", str(path), "--store", str(store), "--seed", "3", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cmo-sim: error: store:") and "seed differs" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"desgn": "grid"}, "unknown key 'desgn'; did you mean 'design'?"),
        ({"vary": {"histroy": {"low": 0, "high": 1}}}, "vary['histroy']: unknown field path"),
        ({"vary": {"history": {"low": 0.5, "high": 2}}}, "high 2 is out of range"),
        ({"replicates": "many"}, "replicates: 'many' is not allowed"),
        ({"base": "missing.yaml"}, "no such scenario file"),
        ({"record": 0}, "record: 0 is not allowed"),
    ],
)
def test_cli_sweep_file_errors_are_one_line(tmp_path, capsys, changes, message):
    path = write_sweep_file(tmp_path, **changes)
    assert main(["sweep", str(path), "--store", str(tmp_path / "s"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cmo-sim: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()


def test_cli_sweep_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--store" in out and "--executor" in out and "dask://host:port" in out


def test_store_refusal_messages_show_each_difference_exactly():
    # The words of a refused resume, built by hand from the documented format: JSON values
    # (sorted keys), cut to 70 characters with " ...", the theory by its first 12 hex digits.
    from cmo_sim.sweep.store import _difference, _show

    assert _show({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}'
    long = list(range(40))
    text = _show(long)
    assert len(text) == 70 and text.endswith(" ...") and text.startswith("[0, 1, 2, 3")
    assert text[:-4] == json.dumps(long)[:66]
    assert _show("x" * 68) == json.dumps("x" * 68)  # 70 characters: not cut
    assert _show("x" * 69).endswith(" ...")
    assert _difference("seed", 0, 1) == "seed differs (store: 0, this run: 1)"
    assert _difference("factors", ["a"], ["b"]) == 'factors differ (store: ["a"], this run: ["b"])'
    assert _difference("replicates", 4, 5) == "replicates differ (store: 4, this run: 5)"
    assert _difference("samples", 2, 3) == "samples differ (store: 2, this run: 3)"
    assert _difference("base scenario", {"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 9, "d": 3}) == (
        "base scenario differs in b, c, d")
    assert _difference("theory", "0123456789abcdef", "fedcba9876543210") == (
        "theory differs (store: 0123456789ab, this run: fedcba987654)")
    assert _difference("design values", [0.1], [0.2]) == (
        "design values differ (the design was generated differently)")
    # A base scenario that is not a mapping on both sides is shown like any other value.
    assert _difference("base scenario", None, {"a": 1}) == (
        'base scenario differs (store: null, this run: {"a": 1})')


def test_sweep_results_and_store_record_the_theory(tmp_path):
    theory = cmo_sim.load_theory().without("trust.success_loop")
    path = tmp_path / "t.parquet"
    res = run_sweep(small_sweep(replicates=1), store=path, theory=theory, **QUICK)
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["theory"] == {"name": "realist-review-default (modified)",
                                  "hash": theory.content_hash,
                                  "changes": {"weights": {"trust.success_loop": [1.0, 0.0]},
                                              "signs": {}, "baseline": {}}}
    for meta in (res.meta, open_sweep(path).meta):
        assert meta["theory"] == "realist-review-default (modified)"
        assert meta["theory_hash"] == theory.content_hash
        assert meta["theory_changes"]["weights"] == {"trust.success_loop": [1.0, 0.0]}


# -- theory factors --------------------------------------------------------------------------------
def test_a_sweep_can_vary_rule_weights_and_baseline_constants(tmp_path):
    sweep = Sweep(BASE, vary={"rule:trust.success_loop": (0.5, 2.0),
                              "baseline:loss_aversion": [1.5, 2.0], "leadership": (0.2, 0.8)},
                  design="grid", samples=2, replicates=5)
    res = run_sweep(sweep, store=tmp_path / "t.zarr", chunk_runs=7, **QUICK)  # chunks split points
    theory = cmo_sim.load_theory()
    for point in (0, 5, 7):
        values = res.sweep.values.iloc[point]
        point_theory = theory.with_weights(
            {"trust.success_loop": float(values["rule:trust.success_loop"])}
        ).with_baseline(loss_aversion=float(values["baseline:loss_aversion"]))
        direct = cmo_sim.simulate(BASE.with_values({"leadership": float(values["leadership"])}),
                                  runs=5, seed=0, theory=point_theory, **QUICK).summary
        mine = res.summary[res.summary["point"] == point]
        for column in ("performance", "trust_final", "dissolved_at", "conflicts"):
            np.testing.assert_array_equal(mine[column].to_numpy(), direct[column].to_numpy())
    # The weight matters: the loop's success arm at 2.0 against 0.5, other factors alike.
    means = res.summary.groupby("point")["performance"].mean()
    assert means[5] > means[1]
    pd.testing.assert_frame_equal(open_sweep(tmp_path / "t.zarr").summary, res.summary)


@pytest.mark.parametrize(("vary", "message"), [
    ({"rule:trust.sucess_loop": (0.5, 2.0)},
     r"vary\['rule:trust.sucess_loop'\]: theory 'realist-review-default' has no rule "
     r"'trust.sucess_loop'; did you mean 'trust.success_loop'\?"),
    ({"baseline:loss_aversio": (1.0, 2.0)}, r"no baseline constant 'loss_aversio'; did you mean"),
    ({"rule:trust.success_loop": (-1.0, 2.0)},
     r"low -1.0 is out of range \(allowed: 0.0 \.\. inf\)"),
    ({"rule:trust.success_loop": [1.0, -0.5]}, r"\[1\]: -0.5 is not allowed \(a weight >= 0\)"),
    ({"baseline:loss_aversion": [1.0, float("nan")]}, r"nan is not allowed \(a finite number\)"),
])
def test_bad_theory_factors_are_refused(vary, message, tmp_path):
    # Values are checked when the sweep is made; names against the theory it runs, before any
    # run (a sweep may vary the rules of a theory of one's own).
    with pytest.raises(ScenarioError, match=message):
        sweep = Sweep(BASE, vary=vary, samples=2, replicates=2)
        run_sweep(sweep, store=tmp_path / "s.zarr", progress=False)
    assert not (tmp_path / "s.zarr").exists()


def test_theory_factors_are_checked_against_the_sweeps_theory():
    sweep = Sweep(BASE, vary={"rule:trust.success_loop": (0.5, 2.0)}, samples=2, replicates=2)
    theory = cmo_sim.load_theory()
    renamed = theory.to_dict()
    renamed["name"] = "mine"
    with pytest.raises(ScenarioError, match=r"theory 'mine' has no baseline constant 'nope'"):
        from cmo_sim.sweep.designs import check_theory_factors

        check_theory_factors(["baseline:nope"], cmo_sim.load_theory(renamed))
    assert run_sweep(sweep, theory=theory, **QUICK).n_runs == 4


def test_sweep_files_take_theory_factors(tmp_path):
    path = write_sweep_file(tmp_path, vary={"rule:conflict.task_failure": {"low": 0.0,
                                                                            "high": 2.0}})
    spec = read_sweep_file(path)
    assert spec.sweep.paths == ("rule:conflict.task_failure",)
    res = run_sweep(spec.sweep, steps=12, progress=False)
    assert res.sweep.values["rule:conflict.task_failure"].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(("design", "samples", "title"), [
    ("lhs", 24, "delta indices (moment-independent) of performance"),
    ("morris", 4, "Morris screen of performance"),
    ("sobol", 8, "Sobol indices of performance"),
])
def test_cli_sweep_prints_the_sensitivity_of_its_design(tmp_path, capsys, design, samples, title):
    path = write_sweep_file(tmp_path, design=design, samples=samples, replicates=3)
    assert main(["sweep", str(path), "--store", str(tmp_path / "s.parquet"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert title in out
    if design == "sobol":  # 8 base samples: the intervals are wide, and the output says so
        assert "note: Sobol indices of 'performance' look unconverged" in out


READ_WITHOUT_CMO_SIM = """
import json, sys
import pyarrow.parquet as pq
import zarr
assert "cmo_sim" not in sys.modules
table = pq.read_table(sys.argv[1])
fields = {f.name: {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
          for f in table.schema}
sweep = json.loads(table.schema.metadata[b"cmo_sim_sweep"])
group = zarr.open_group(sys.argv[2], mode="r")
print(json.dumps({"columns": table.column_names, "fields": fields,
                  "history": table.column("history").to_pylist(),
                  "point": table.column("point").to_pylist(), "factors": sweep["sweep"]["factors"],
                  "zarr_units": dict(group["performance"].attrs),
                  "zarr_history": group["history"][:].tolist()}))
assert "cmo_sim" not in sys.modules
"""


def test_sweep_chunks_describe_themselves_to_other_tools(tmp_path):
    sweep = small_sweep(replicates=2)
    run_sweep(sweep, store=tmp_path / "s.parquet", chunk_runs=16, **QUICK)
    run_sweep(sweep, store=tmp_path / "s.zarr", chunk_runs=16, **QUICK)
    done = subprocess.run([sys.executable, "-c", READ_WITHOUT_CMO_SIM,
                           str(tmp_path / "s.parquet" / "chunk-00000.parquet"),
                           str(tmp_path / "s.zarr" / "chunk-00000.zarr")],
                          capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    # Each run carries its point's design values, and every column its meaning and unit.
    assert {"history", "members[1].size", "entry_point"} <= set(seen["columns"])
    expected = sweep.values["history"].to_numpy()[np.array(seen["point"])]
    np.testing.assert_allclose(seen["history"], expected)
    assert seen["fields"]["performance"] == {
        "description": "cumulative achievement discounted by inertia", "units": "ambition units"}
    assert seen["fields"]["dissolved_at"]["units"] == "month"
    assert "sweep factor 'history'" in seen["fields"]["history"]["description"]
    assert [f["path"] for f in seen["factors"]] == list(sweep.paths)
    assert seen["zarr_units"]["units"] == "ambition units"
    np.testing.assert_allclose(seen["zarr_history"], expected)
    # cmo-sim reads the same stores back unchanged.
    pd.testing.assert_frame_equal(open_sweep(tmp_path / "s.parquet").summary,
                                  open_sweep(tmp_path / "s.zarr").summary)


def test_store_path_refusals_say_why_in_full(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match=rf"^store: {afile} exists and is not a directory$"):
        run_sweep(small_sweep(1), store=afile, **QUICK)
    path = tmp_path / "s.parquet"
    run_sweep(small_sweep(1), store=path, **QUICK)
    with pytest.raises(ValueError) as refused:
        run_sweep(small_sweep(1), store=path, seed=5, **QUICK)
    assert str(refused.value) == (
        f"store: {path} was made by a different sweep (seed differs (store: 0, this run: 5)); "
        "it is not resumed or mixed: use a new store path, or run the sweep that made it")


def test_a_finished_zarr_store_is_one_group_xarray_opens(tmp_path):
    import warnings

    import xarray as xr

    sweep = Sweep(BASE, vary={"leadership": (0.2, 0.8), "members[1].size": (100, 10000, "log")},
                  design="lhs", samples=5, replicates=6)
    store = tmp_path / "s.zarr"
    result = run_sweep(sweep, store=store, record="trajectory", chunk_runs=7, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to unconsolidated metadata
        ds = xr.open_zarr(store).load()
    assert ds.sizes["run"] == sweep.n_runs == 30
    summary = result.summary.set_index("run")
    # The design's factors are coordinates: each run carries its point's values.
    for factor in ("leadership", "members[1].size"):
        assert factor in ds.coords
        expected = sweep.values.loc[summary["point"].to_numpy(), factor].to_numpy()
        np.testing.assert_array_equal(ds[factor].to_numpy(), expected)
    np.testing.assert_array_equal(ds["performance"].to_numpy(),
                                  summary["performance"].to_numpy())
    assert ds["performance"].attrs["units"] == "ambition units"
    assert ds["traj_synergy"].dims == ("run", "step")
    assert json.loads(ds.attrs["cmo_sim_sweep"])["theory"]["hash"] == result.meta["theory_hash"]
    # An interrupted write of the root group is redone when the sweep is run again.
    (store / "zarr.json").unlink()
    run_sweep(sweep, store=store, record="trajectory", chunk_runs=7, progress=False)
    assert xr.open_zarr(store)["performance"].sizes["run"] == 30
