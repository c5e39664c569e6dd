"""Executors: the same chunks of runs in-process, in a process pool, or as Dask tasks.

A chunk is a contiguous range of run indices over the point-major run order (run ``i`` is
replicate ``i % replicates`` of point ``i // replicates``). :func:`run_chunk` is a pure,
top-level function of its :class:`ChunkTask`, so any executor gives the same numbers: a run's
results depend only on its scenario, the theory, the seed and its replicate index.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cmo_sim.core.runner import Record, run
from cmo_sim.core.state import CAUSE_NAMES
from cmo_sim.params import Params, compile_params
from cmo_sim.results import SUMMARY_COLUMNS, summarise, trajectories_dataset
from cmo_sim.rng import run_keys
from cmo_sim.scenario import Scenario
from cmo_sim.sweep.designs import point_scenario, theory_changes, theory_factor
from cmo_sim.theory import Theory

__all__ = [
    "CHUNK_COLUMNS",
    "ChunkOutput",
    "ChunkTask",
    "chunk_params",
    "make_executor",
    "run_chunk",
    "tidy_chunk",
]

#: Columns of a chunk's summary table, in order (the design values are joined on reading).
CHUNK_COLUMNS = ("run", "point", "replicate", *SUMMARY_COLUMNS[3:])


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs to compute one chunk (small: no scenario per point).

    Attributes
    ----------
    index : int
        Chunk number.
    start, stop : int
        The run range ``[start, stop)``.
    first_point : int
        The design point of run ``start``.
    values : mapping of path to array
        The factor values of points ``first_point ..`` up to the point of run ``stop - 1``.
    base : Scenario
    replicates, steps, seed : int
    theory : Theory
    record : "summary", "trajectory" or int
    """

    index: int
    start: int
    stop: int
    first_point: int
    values: Mapping[str, np.ndarray]
    base: Scenario
    replicates: int
    steps: int
    seed: int
    theory: Theory
    record: Record


@dataclass(frozen=True)
class ChunkOutput:
    """A finished chunk: its per-run summary and, when recorded, its trajectories."""

    index: int
    summary: pd.DataFrame
    trajectories: xr.Dataset | None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def chunk_params(task: ChunkTask) -> Params:
    """The Params of one chunk's runs, equal to those rows of the whole sweep's Params.

    The chunk's point scenarios are compiled once each (one row per point), then expanded to
    one row per run; each run's replicate index and random key come from its place in the
    point-major run order.
    """
    runs = np.arange(task.start, task.stop, dtype=np.int64)
    point = runs // task.replicates
    n_points = int(point[-1]) - task.first_point + 1
    scenarios = [
        point_scenario(
            task.base,
            {path: _plain(column[k]) for path, column in task.values.items()},
            f"p{task.first_point + k:06d}",
        )
        for k in range(n_points)
    ]
    per_point = compile_params(scenarios, replicates=1, seed=task.seed, theory=task.theory)
    replicate = runs % task.replicates
    rows = per_point.take(point - task.first_point)
    return dataclasses.replace(
        rows, replicate=replicate, keys=run_keys(per_point.seed, replicate)
    )


def tidy_chunk(frame: pd.DataFrame) -> pd.DataFrame:
    """A chunk summary with canonical columns and dtypes (the same from memory or a store)."""
    frame = frame.loc[:, list(CHUNK_COLUMNS)].reset_index(drop=True)
    cause = frame["cause"].astype(str).to_numpy()
    frame["cause"] = pd.Categorical(cause, categories=list(CAUSE_NAMES))
    for column in ("run", "point", "replicate"):
        frame[column] = frame[column].astype(np.int64)
    frame["dissolved"] = frame["dissolved"].astype(bool)
    # Stores written before never-dissolved became missing hold -1 there.
    at = frame["dissolved_at"].astype(np.float64)
    frame["dissolved_at"] = at.where(frame["dissolved"].to_numpy() & (at >= 0))
    return frame


def run_chunk(task: ChunkTask) -> ChunkOutput:
    """Simulate one chunk of runs (a top-level function: safe for spawn and Dask workers).

    When the sweep varies the theory (``rule:<id>`` weights or ``baseline:<name>`` constants),
    each design point runs under its own theory, so the chunk runs point by point; a run's
    numbers are the same either way.
    """
    if not any(theory_factor(path) for path in task.values):
        return _run_part(task)
    parts = []
    last_point = (task.stop - 1) // task.replicates
    for point in range(task.first_point, last_point + 1):
        k = point - task.first_point
        weights, baseline = theory_changes(
            {path: _plain(column[k]) for path, column in task.values.items()})
        theory = task.theory.with_weights(weights).with_baseline(**baseline)
        parts.append(_run_part(dataclasses.replace(
            task,
            start=max(task.start, point * task.replicates),
            stop=min(task.stop, (point + 1) * task.replicates),
            first_point=point,
            values={path: column[k:k + 1] for path, column in task.values.items()},
            theory=theory,
        )))
    frame = tidy_chunk(pd.concat([part.summary for part in parts], ignore_index=True))
    traj = None
    if parts[0].trajectories is not None:
        traj = xr.concat([part.trajectories for part in parts], dim="run")
    return ChunkOutput(task.index, frame, traj)


def _run_part(task: ChunkTask) -> ChunkOutput:
    """Simulate a chunk of runs that share one theory."""
    params = chunk_params(task)
    output = run(params, task.steps, task.record)
    frame = summarise(params, output, run_offset=task.start)
    frame["point"] = np.arange(task.start, task.stop, dtype=np.int64) // task.replicates
    traj = None
    if output.trajectories is not None:
        traj = trajectories_dataset(params, output, run_offset=task.start)
        traj = traj.drop_vars("scenario").assign_coords(point=("run", frame["point"].to_numpy()))
    return ChunkOutput(task.index, tidy_chunk(frame), traj)


# -- executors ------------------------------------------------------------------------------------
class _Local:
    """Chunks one after another in this process."""

    workers = 1

    def map(self, tasks: Iterable[ChunkTask]) -> Iterator[ChunkOutput]:
        for task in tasks:
            yield run_chunk(task)

    def close(self) -> None:
        pass


#: Seconds between a pool worker's checks that the process that started it is alive.
PARENT_CHECK_SECONDS = 0.5


def _watch_parent(parent: int) -> None:
    """Exit the worker once its parent is gone (however it died: SIGKILL included)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _init_worker(parent: int) -> None:
    """Set up a pool worker of cmo-sim's own process pool.

    Ctrl-C reaches every process of the terminal's group: the worker ignores it and leaves the
    parent to stop the pool (without a traceback from each worker); and it exits by itself
    if the parent dies, so no worker outlives a killed sweep.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class _Futures:
    """Chunks on a ``concurrent.futures`` executor, a bounded number in flight."""

    def __init__(self, pool: cf.Executor, workers: int, owned: bool) -> None:
        self.pool, self.workers, self.owned = pool, workers, owned
        self._unfinished = False  # a map was left part-way (an error or an interruption)

    def map(self, tasks: Iterable[ChunkTask]) -> Iterator[ChunkOutput]:
        pending: set[cf.Future] = set()
        queue = iter(tasks)
        window = 2 * self.workers
        self._unfinished = True
        try:
            for task in queue:
                pending.add(self._submit(task))
                if len(pending) >= window:
                    done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            while pending:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    yield future.result()
            self._unfinished = False
        finally:
            for future in pending:
                future.cancel()

    def _submit(self, task: ChunkTask) -> cf.Future:
        if not (self.owned and isinstance(self.pool, cf.ProcessPoolExecutor)):
            return self.pool.submit(run_chunk, task)
        # A submission may start a worker: it inherits SIGINT ignored, so a Ctrl-C while it is
        # still importing does not print its traceback (the parent stops the pool).
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            return self.pool.submit(run_chunk, task)
        try:
            return self.pool.submit(run_chunk, task)
        finally:
            signal.signal(signal.SIGINT, previous)

    def close(self) -> None:
        """Shut an owned pool down; after an interruption, stop its running chunks at once."""
        if not self.owned:
            return
        if self._unfinished:
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """Chunks as Dask tasks (``client.submit``), gathered as they complete."""

    def __init__(self, client: Any, owned: bool) -> None:
        self.client, self.owned = client, owned
        self.workers = max(1, sum(client.nthreads().values()))

    def map(self, tasks: Iterable[ChunkTask]) -> Iterator[ChunkOutput]:
        from distributed import as_completed

        queue = iter(tasks)
        live = {}
        for task in itertools.islice(queue, 2 * self.workers):
            future = self._submit(task)
            live[future.key] = future
        if not live:
            return
        completed = as_completed(list(live.values()))
        try:
            for future in completed:
                output = future.result()
                live.pop(future.key, None)
                future.release()
                yield output
                task = next(queue, None)
                if task is not None:
                    future = self._submit(task)
                    live[future.key] = future
                    completed.add(future)
        finally:
            for future in live.values():
                future.cancel()

    def _submit(self, task: ChunkTask) -> Any:
        # A fresh key per submission: a result held from another sweep can never be reused.
        return self.client.submit(run_chunk, task, pure=False)

    def close(self) -> None:
        if self.owned:
            self.client.close()


def _is_dask_client(executor: Any) -> bool:
    if not type(executor).__module__.startswith("distributed"):
        return False  # without importing Dask for the other executors
    from distributed import Client

    return isinstance(executor, Client)


def make_executor(executor: Any) -> Any:
    """Resolve the ``executor`` argument of :func:`cmo_sim.run_sweep`.

    Parameters
    ----------
    executor : str, concurrent.futures.Executor or dask.distributed.Client
        ``"local"`` (in-process), ``"processes"`` (a spawn process pool with one worker per
        core) or ``"processes:N"``, ``"dask://host:port"`` (a Dask scheduler), a
        ``concurrent.futures`` executor, or a ``dask.distributed.Client``.

    Raises
    ------
    ValueError
        For an executor that is none of these.
    """
    allowed = "'local', 'processes', 'processes:N', 'dask://host:port', or a dask Client"
    if isinstance(executor, str):
        if executor == "local":
            return _Local()
        if executor == "processes" or executor.startswith("processes:"):
            count = executor.partition(":")[2]
            if count and not (count.isdigit() and int(count) >= 1):
                raise ValueError(
                    f"executor: {executor!r} is not allowed (processes:N needs N >= 1)"
                )
            workers = int(count) if count else (os.cpu_count() or 1)
            pool = cf.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(os.getpid(),),
            )
            return _Futures(pool, workers, owned=True)
        if executor.startswith("dask://"):
            address = executor.removeprefix("dask://")
            if not address:
                raise ValueError(f"executor: {executor!r} names no scheduler (dask://host:port)")
            try:
                from distributed import Client
            except ImportError:
                raise ValueError(
                    "executor: Dask is not installed (pip install 'cmo-sim[distributed]')"
                ) from None
            try:
                client = Client(f"tcp://{address}", timeout="10s")
            except OSError as exc:
                raise ValueError(
                    f"executor: cannot reach the Dask scheduler at {address} ({exc})"
                ) from None
            return _Dask(client, owned=True)
        raise ValueError(f"executor: {executor!r} is not allowed (allowed: {allowed})")
    if _is_dask_client(executor):
        return _Dask(executor, owned=False)
    if isinstance(executor, cf.Executor):
        workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        return _Futures(executor, int(workers), owned=False)
    raise ValueError(f"executor: {executor!r} is not allowed (allowed: {allowed})")
