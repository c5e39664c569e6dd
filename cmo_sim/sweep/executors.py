"""Executors: the same chunks of runs in-process, in a process pool, or as Dask tasks.

A chunk is a contiguous range of run indices over the point-major run order (run ``i`` is
replicate ``i % replicates`` of point ``i // replicates``). :func:`run_chunk` is a pure,
top-level function of its :class:`ChunkTask`, so any executor gives the same numbers: a run's
results depend only on its scenario, the theory, the seed and its replicate index.

Each worker process is warmed once per theory and engine (:func:`warmed`): a process pool's
workers when they start (the pool's initializer), a Dask worker on its first chunk (a cache
per worker process); every chunk after that reuses what was compiled.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
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

from cmo_sim.core import runner as _runner
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
    "warmed",
    "worker_warmups",
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
    engine : str
        The engine that runs the chunk (``"batch"``: the numpy core).
    trajectory_dtype : "float64" or "float32"
        The type of recorded float trajectories.
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
    engine: str = "batch"
    trajectory_dtype: str = "float64"


@dataclass(frozen=True)
class ChunkOutput:
    """A finished chunk: its per-run summary and, when recorded, its trajectories.

    ``worker`` is the process that ran it and the number of warm-ups that process had done
    by then (see :func:`worker_warmups`).
    """

    index: int
    summary: pd.DataFrame
    trajectories: xr.Dataset | None
    worker: tuple[int, int] = (0, 0)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# -- warm workers ---------------------------------------------------------------------------------
#: Theories this process has warmed, by (content hash, name, engine), oldest first: each
#: compiled once and reused by every chunk that runs under it here.
_WARM: dict[tuple[str, str, str], Theory] = {}
#: How many theories a process keeps warm (a sweep over rule weights or baseline constants
#: runs each design point under its own theory: those are not all kept).
WARM_THEORIES = 8
_WARM_LOCK = threading.Lock()  # a Dask worker may run chunks in several threads
_warmups = 0


def warmed(theory: Theory, engine: str = "batch") -> Theory:
    """This process's warmed theory equal to ``theory``, for ``engine``.

    The first call for a theory (by content hash and name) and engine compiles the theory's
    terms and whatever else the engine needs for it (``cmo_sim.core.runner.warm``, when the
    core has one); later calls return that same compiled theory at once. Chunks run under
    the returned theory, so a worker compiles a theory once, however many chunks it runs.
    """
    global _warmups
    key = (theory.content_hash, theory.name, engine)
    with _WARM_LOCK:
        cached = _WARM.get(key)
        if cached is not None:
            return cached
        theory.compiled()
        engine_warm = getattr(_runner, "warm", None)
        if engine_warm is not None:
            engine_warm(theory, engine)
        _warmups += 1
        while len(_WARM) >= WARM_THEORIES:
            del _WARM[next(iter(_WARM))]
        _WARM[key] = theory
        return theory


def worker_warmups() -> tuple[int, int]:
    """``(process id, warm-ups done)``: how many times this process has warmed a theory."""
    return os.getpid(), _warmups


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
        return _run_part(dataclasses.replace(task, theory=warmed(task.theory, task.engine)))
    parts = []
    last_point = (task.stop - 1) // task.replicates
    for point in range(task.first_point, last_point + 1):
        k = point - task.first_point
        weights, baseline = theory_changes(
            {path: _plain(column[k]) for path, column in task.values.items()})
        theory = warmed(task.theory.with_weights(weights).with_baseline(**baseline),
                        task.engine)
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
    return ChunkOutput(task.index, frame, traj, worker_warmups())


def _run_part(task: ChunkTask) -> ChunkOutput:
    """Simulate a chunk of runs that share one theory."""
    params = chunk_params(task)
    if task.engine == "batch":
        output = run(params, task.steps, task.record, trajectory_dtype=task.trajectory_dtype)
    else:
        output = run(params, task.steps, task.record, trajectory_dtype=task.trajectory_dtype,
                     engine=task.engine)
    frame = summarise(params, output, run_offset=task.start)
    frame["point"] = np.arange(task.start, task.stop, dtype=np.int64) // task.replicates
    traj = None
    if output.trajectories is not None:
        traj = trajectories_dataset(params, output, run_offset=task.start,
                                    dtype=task.trajectory_dtype)
        traj = traj.drop_vars("scenario").assign_coords(point=("run", frame["point"].to_numpy()))
    return ChunkOutput(task.index, tidy_chunk(frame), traj, worker_warmups())


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


def _init_worker(parent: int, warm: tuple[Theory, str] | None = None) -> None:
    """Set up a pool worker of cmo-sim's own process pool.

    Ctrl-C reaches every process of the terminal's group: the worker ignores it and leaves the
    parent to stop the pool (without a traceback from each worker); and it exits by itself
    if the parent dies, so no worker outlives a killed sweep. With ``warm`` (a theory and an
    engine), the worker warms them (:func:`warmed`) before its first chunk.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if warm is not None:
        try:
            warmed(*warm)
        except Exception:  # noqa: BLE001 - the first chunk warms again and reports the error
            pass  # (an initializer that raises would break the pool without saying why)


#: The environment pool workers start with, where the caller's sets none of it: one thread
#: per numerical library. Each worker is one of several processes sharing the cores; a
#: library's own threads would compete with the other workers (OpenBLAS's, started by a
#: matrix product of a network's chunk, doubled a worker's CPU time without shortening it).
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                      "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """:data:`WORKER_ENVIRONMENT` in ``os.environ`` while a pool starts its workers."""
    added = [name for name in WORKER_ENVIRONMENT if name not in os.environ]
    os.environ.update({name: WORKER_ENVIRONMENT[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


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
        # still importing does not print its traceback (the parent stops the pool), and the
        # worker environment.
        with _worker_environment():
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


def make_executor(executor: Any, warm: tuple[Theory, str] | None = None) -> Any:
    """Resolve the ``executor`` argument of :func:`cmo_sim.run_sweep`.

    Parameters
    ----------
    executor : str, concurrent.futures.Executor or dask.distributed.Client
        ``"local"`` (in-process), ``"processes"`` (a spawn process pool with one worker per
        core) or ``"processes:N"``, ``"dask://host:port"`` (a Dask scheduler), a
        ``concurrent.futures`` executor, or a ``dask.distributed.Client``.
    warm : (Theory, engine), optional
        What the workers of a pool made here warm as they start. Other workers (a Dask
        worker, a pool given by the caller) warm on their first chunk.

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
                initializer=_init_worker, initargs=(os.getpid(), warm),
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
