"""Parallel sweeps: workers warmed once, the same results from one worker or two, engine and
trajectory-type arguments checked before any work, float32 trajectories."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cmo_sim
from cmo_sim import Sweep, open_sweep, run_sweep
from cmo_sim.core.runner import run as core_run
from cmo_sim.sweep import _run, executors
from cmo_sim.sweep._run import _tasks, sweep_engines
from cmo_sim.sweep.executors import make_executor, warmed, worker_warmups

ROOT = Path(__file__).resolve().parents[1]
BASE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")


def lhs(replicates: int, samples: int = 4) -> Sweep:
    return Sweep(BASE, vary={"history": (-0.8, 0.8), "leadership": (0.1, 0.9)},
                 design="lhs", samples=samples, replicates=replicates)


def modified(theory: cmo_sim.Theory, by: float = 0.25) -> cmo_sim.Theory:
    """The theory with its first rule's weight changed by ``by``: another content hash."""
    rule = theory.rules[0]
    return theory.with_weights({rule.id: rule.weight + by})


# -- warm-up ---------------------------------------------------------------------------------------
def test_a_process_warms_each_theory_once_per_engine(monkeypatch):
    engines = []
    monkeypatch.setattr(executors._runner, "warm",
                        lambda theory, engine: engines.append((theory.name, engine)),
                        raising=False)
    theory = modified(cmo_sim.load_theory(), by=0.0625)  # new to this process
    before = worker_warmups()[1]
    assert warmed(theory) is theory
    equal = modified(cmo_sim.load_theory(), by=0.0625)  # another object, the same theory
    assert equal is not theory and warmed(equal) is theory
    assert worker_warmups() == (os.getpid(), before + 1)
    assert warmed(theory, "newer") is theory and warmed(equal, "newer") is theory
    assert worker_warmups()[1] == before + 2
    assert engines == [(theory.name, "batch"), (theory.name, "newer")]


def test_pool_workers_warm_once_each_in_their_initializer():
    theory = cmo_sim.load_theory()
    other = modified(theory)
    sweep = lhs(replicates=10)
    chunk = 5
    indices = list(range(sweep.n_runs // chunk))
    parent_blas = os.getenv("OPENBLAS_NUM_THREADS")
    pool = make_executor("processes:2", warm=(theory, "batch"))
    try:
        # Chunks under another theory first: each worker has warmed the pool's theory as it
        # started (1) and warms this one on its first chunk only (2), whatever its count.
        first = list(pool.map(_tasks(sweep, indices, chunk, 6, 0, other, "summary")))
        then = list(pool.map(_tasks(sweep, indices, chunk, 6, 0, theory, "summary")))
        # The workers started with one thread per numerical library; this process is as it was.
        blas = [pool.pool.submit(os.getenv, "OPENBLAS_NUM_THREADS") for _ in range(4)]
        assert [future.result() for future in blas] == ["1"] * 4
        assert os.getenv("OPENBLAS_NUM_THREADS") == parent_blas
    finally:
        pool.close()
    pids = {out.worker[0] for out in first + then}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert [out.worker[1] for out in first] == [2] * len(indices)
    # Then the pool's theory: warm already, nothing more to warm on a worker that ran the
    # first chunks (2); a worker that started too late to run any has warmed it only (1).
    ran_first = {out.worker[0] for out in first}
    assert [out.worker[1] for out in then] == [
        2 if out.worker[0] in ran_first else 1 for out in then]


def test_dask_workers_warm_once_each(tmp_path):
    distributed = pytest.importorskip("distributed")
    theory = modified(cmo_sim.load_theory(), by=0.125)  # new to this process
    sweep = lhs(replicates=10)
    before = worker_warmups()[1]
    # Threads of this process: two chunks at a time share (and lock) one cache.
    with (distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                   dashboard_address=None, silence_logs=logging.ERROR) as cluster,
          distributed.Client(cluster) as client):
        outputs = list(make_executor(client).map(
            _tasks(sweep, list(range(8)), 5, 6, 0, theory, "summary")))
    assert {out.worker for out in outputs} == {(os.getpid(), before + 1)}


# -- the same results, whatever the workers -----------------------------------------------------
def test_one_and_two_process_workers_give_identical_results():
    sweep = lhs(replicates=2500, samples=4)  # 10,000 runs: several default chunks each
    local = run_sweep(sweep, steps=12, progress=False)
    one = run_sweep(sweep, steps=12, progress=False, executor="processes:1")
    two = run_sweep(sweep, steps=12, progress=False, executor="processes:2")
    assert one.meta["n_chunks"] >= 2 and two.meta["n_chunks"] >= 4
    pd.testing.assert_frame_equal(one.summary, local.summary)
    pd.testing.assert_frame_equal(two.summary, local.summary)


# -- arguments -------------------------------------------------------------------------------------
def _no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(_run, "make_executor", refuse)


@pytest.mark.parametrize("engine", ["abm", "fast", "", None, 3])
def test_bad_engines_are_refused_before_any_work(engine, monkeypatch, tmp_path):
    _no_work(monkeypatch)
    allowed = ", ".join(repr(e) for e in sweep_engines())
    store = tmp_path / "s.parquet"
    with pytest.raises(ValueError) as caught:
        run_sweep(lhs(2), steps=6, progress=False, engine=engine, store=store)
    assert str(caught.value) == f"engine: {engine!r} is not allowed (allowed: {allowed})"
    assert not store.exists()


def test_engines_are_simulates_but_the_mesa_one(monkeypatch):
    assert sweep_engines() == tuple(e for e in cmo_sim._simulate.ENGINES if e != "abm")
    assert "batch" in sweep_engines() and "abm" not in sweep_engines()
    monkeypatch.setattr(cmo_sim._simulate, "ENGINES", ("batch", "abm", "newer"))
    assert sweep_engines() == ("batch", "newer")


@pytest.mark.parametrize("dtype", ["float16", "int64", "f4x", None, 32])
def test_bad_trajectory_dtypes_are_refused_before_any_work(dtype, monkeypatch, tmp_path):
    _no_work(monkeypatch)
    store = tmp_path / "s.zarr"
    with pytest.raises(ValueError) as caught:
        run_sweep(lhs(2), steps=6, progress=False, record="trajectory",
                  trajectory_dtype=dtype, store=store)
    assert str(caught.value) == (f"trajectory_dtype: {dtype!r} is not allowed "
                                 "(allowed: 'float64', 'float32')")
    assert not store.exists()


def test_chunks_pass_another_engine_to_the_core(monkeypatch):
    calls = []

    def spy(params, steps, record, **kwargs):
        calls.append(dict(kwargs))
        kwargs.pop("engine", None)
        return core_run(params, steps, record, **kwargs)

    monkeypatch.setattr(executors, "run", spy)
    theory = cmo_sim.load_theory()
    sweep = lhs(3)
    for engine in ("batch", "newer"):
        task = next(_tasks(sweep, [0], 4, 5, 0, theory, "summary", engine, "float32"))
        monkeypatch.setattr(executors._runner, "warm", lambda theory, engine: None,
                            raising=False)
        executors.run_chunk(task)
    assert calls == [{"trajectory_dtype": "float32"},
                     {"trajectory_dtype": "float32", "engine": "newer"}]


# -- float32 trajectories --------------------------------------------------------------------------
def test_float32_trajectories_are_float64_ones_rounded_once(tmp_path):
    sweep = lhs(replicates=5)
    kwargs = {"steps": 12, "progress": False, "record": "trajectory", "chunk_runs": 7}
    wide = run_sweep(sweep, **kwargs)
    narrow = run_sweep(sweep, trajectory_dtype="float32", executor="processes:2", **kwargs)
    stored = run_sweep(sweep, trajectory_dtype="float32", store=tmp_path / "s.zarr", **kwargs)
    assert narrow.meta["trajectory_dtype"] == "float32" == stored.meta["trajectory_dtype"]
    assert wide.meta["trajectory_dtype"] == "float64"
    pd.testing.assert_frame_equal(narrow.summary, wide.summary)
    floats = 0
    for result in (narrow, stored):
        for name, values in wide.trajectories.data_vars.items():
            got = result.trajectories[name].values
            if values.dtype.kind == "f":
                floats += 1
                assert got.dtype == np.float32, name
                np.testing.assert_array_equal(got, values.values.astype(np.float32),
                                              err_msg=name)
            else:
                assert got.dtype == values.dtype, name
                np.testing.assert_array_equal(got, values.values, err_msg=name)
    assert floats >= 20
    assert open_sweep(tmp_path / "s.zarr").meta["trajectory_dtype"] == "float32"


def test_a_store_is_resumed_only_with_its_trajectory_dtype(tmp_path):
    sweep = lhs(replicates=3)
    store = tmp_path / "s.zarr"
    run_sweep(sweep, steps=6, progress=False, record="trajectory", store=store,
              trajectory_dtype="float32")
    with pytest.raises(ValueError) as caught:
        run_sweep(sweep, steps=6, progress=False, record="trajectory", store=store)
    assert str(caught.value) == (
        f"store: {store} was made by a different sweep (trajectory_dtype differs (store: "
        '"float32", this run: "float64")); it is not resumed or mixed: use a new store path, '
        "or run the sweep that made it")
    again = run_sweep(sweep, steps=6, progress=False, record="trajectory", store=store,
                      trajectory_dtype=np.float32)
    assert again.meta["chunks_run"] == 0
