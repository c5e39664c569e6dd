"""``run_sweep`` and ``open_sweep``: chunks of runs, any executor, an optional resumable store."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cmo_sim import _simulate
from cmo_sim._errors import ScenarioError
from cmo_sim._limits import check_sweep, working_bytes_per_run
from cmo_sim._simulate import as_theory, default_chunk_runs
from cmo_sim.core.runner import Record, check_trajectory_dtype, validate_record
from cmo_sim.rng import normalise_seed
from cmo_sim.scenario import check_steps
from cmo_sim.sweep.designs import Sweep, check_theory_factors
from cmo_sim.sweep.executors import (
    CHUNK_COLUMNS,
    ChunkOutput,
    ChunkTask,
    make_executor,
    tidy_chunk,
)
from cmo_sim.sweep.results import SweepResults
from cmo_sim.sweep.store import (
    DESIGN,
    MANIFEST,
    STORE_VERSION,
    StoreIntegrityError,
    StoreProblem,
    StoreWarning,
    SweepStore,
    Verify,
    _difference,
    _InBackground,
    check_verify,
    store_format,
)
from cmo_sim.theory import Theory

__all__ = ["open_sweep", "run_sweep"]

#: Smallest default chunk: below this, per-step overhead outweighs the vectorised work.
MIN_DEFAULT_CHUNK = 2048
#: The numpy core's default chunks hold about this many bytes of state (by the memory
#: budget's figure per run): larger chunks are slower per run. Measured on one core, 120
#: months: 65,536 dyads took 1.17x the time per run of 16,384, 11,413 eight-member networks
#: 1.19x that of 2,048, 2,048 sixteen-member networks 1.47x that of 256. The fused engine
#: keeps only the memory budget (its time per run falls with larger chunks).
CHUNK_STATE_BYTES = 40 * 2**20


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: {value!r} is not allowed (an int >= {low})")
    return int(value)


def _default_chunk(sweep: Sweep, steps: int, every: int | None, workers: int,
                   engine: str = "batch") -> int:
    """Runs per chunk: within the memory budget, fast, and the same number for every worker.

    Chunks are at most the memory budget's size and, for the numpy core, about
    :data:`CHUNK_STATE_BYTES`; at least four per worker where that leaves them
    :data:`MIN_DEFAULT_CHUNK` runs or more. Their number is then rounded up to a multiple of
    the workers, with the runs shared evenly, so that no worker is left running the last
    chunk alone.
    """
    members = sweep.base.n_members
    cap = default_chunk_runs(members, steps, every)
    if engine == "batch":
        cap = min(cap, max(256, CHUNK_STATE_BYTES // working_bytes_per_run(members)))
    workers = max(workers, 1)
    share = math.ceil(sweep.n_runs / (4 * workers))
    size = min(cap, max(min(MIN_DEFAULT_CHUNK, cap), share))
    n_chunks = math.ceil(sweep.n_runs / size)
    n_chunks = math.ceil(n_chunks / workers) * workers
    return int(max(1, math.ceil(sweep.n_runs / n_chunks)))


def sweep_engines() -> tuple[str, ...]:
    """The engines a sweep can run on (``simulate``'s engines but the Mesa one)."""
    return tuple(engine for engine in _simulate.ENGINES if engine != "abm")


def _check_engine(engine: Any) -> str:
    allowed = sweep_engines()
    if not isinstance(engine, str) or engine not in allowed:
        raise ValueError(
            f"engine: {engine!r} is not allowed (allowed: {', '.join(map(repr, allowed))})")
    if engine == "fused":  # before any work: one line naming the engine that can run
        from cmo_sim.core import fused

        fused.require()
    return engine


#: Settings a store's manifest records that make chunks differ, with the value a store that
#: does not record them was made with; a resumed store made with another is refused.
_SETTINGS = (("trajectory_dtype", "float64"), ("engine", "batch"))


def _check_settings(store: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """Refuse to resume a store made with another trajectory dtype or engine."""
    path = Path(store)
    if not (path / MANIFEST).is_file():
        return
    try:
        stored = SweepStore.open(path).manifest
    except ValueError:
        return  # preparing the store says what is wrong with its manifest
    diffs = [_difference(name, stored.get(name, default), manifest[name])
             for name, default in _SETTINGS if stored.get(name, default) != manifest[name]]
    if diffs:
        raise ValueError(
            f"store: {path} was made by a different sweep ({'; '.join(diffs)}); it is not "
            "resumed or mixed: use a new store path, or run the sweep that made it")


def _tasks(
    sweep: Sweep, indices: list[int], chunk: int, steps: int, seed: int, theory: Theory,
    record: Record, engine: str = "batch", trajectory_dtype: str = "float64",
) -> Iterator[ChunkTask]:
    replicates = sweep.replicates
    for index in indices:
        start = index * chunk
        stop = min(start + chunk, sweep.n_runs)
        first, last = start // replicates, (stop - 1) // replicates
        values = {
            path: sweep.values[path].to_numpy()[first : last + 1] for path in sweep.paths
        }
        yield ChunkTask(
            index=index, start=start, stop=stop, first_point=first, values=values,
            base=sweep.base, replicates=replicates, steps=steps, seed=seed, theory=theory,
            record=record, engine=engine, trajectory_dtype=trajectory_dtype,
        )


def _progress(total: int, done: int, enabled: bool, name: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=f"sweep {name}", unit="run",
                smoothing=0.1)


def _assemble(
    sweep: Sweep, parts: list[tuple[pd.DataFrame, xr.Dataset | None]], meta: dict[str, Any]
) -> SweepResults:
    summary = (
        pd.concat([p[0] for p in parts], ignore_index=True)
        if parts else tidy_chunk(pd.DataFrame({c: [] for c in CHUNK_COLUMNS}))
    )
    # The design values as columns, where SweepResults puts them, into the table just made
    # (SweepResults would copy the whole table first: seconds for 10^6 runs).
    point = summary["point"].to_numpy()
    if not len(point) or (point.min() >= 0 and point.max() < sweep.n_points):
        at = list(summary.columns).index("point") + (2 if "replicate" in summary else 1)
        for offset, path in enumerate(p for p in sweep.paths if p not in summary):
            summary.insert(at + offset, path, sweep.values[path].to_numpy()[point])
    trajs = [p[1] for p in parts if p[1] is not None]
    traj = xr.concat(trajs, dim="run") if trajs else None
    return SweepResults(sweep, summary, traj, meta)


def run_sweep(
    sweep: Sweep,
    *,
    steps: int = 120,
    seed: Any = 0,
    theory: Theory | str | os.PathLike | None = None,
    executor: Any = "local",
    store: str | os.PathLike | None = None,
    record: Record = "summary",
    chunk_runs: int | None = None,
    progress: bool = True,
    max_memory: int | float | str | None = None,
    max_time: int | float | str | None = None,
    verify: Verify = "full",
    engine: str = "batch",
    trajectory_dtype: str = "float64",
) -> SweepResults:
    """Run every design point of a sweep, ``sweep.replicates`` times each.

    Parameters
    ----------
    sweep : Sweep
    steps : int
        Months per run.
    seed : int, numpy SeedSequence or Generator
        With the replicate index, it keys each run's random numbers; replicate ``r`` of every
        design point shares them (common random numbers).
    theory : Theory or path, optional
        The programme theory (the review's default when omitted).
    executor : str, concurrent.futures.Executor or dask.distributed.Client
        ``"local"`` (in-process), ``"processes"`` or ``"processes:N"`` (a process pool on this
        machine), ``"dask://host:port"`` or a ``dask.distributed.Client`` (chunks as Dask tasks;
        workers need only this package installed). Results do not depend on it. Process
        pools start workers with "spawn": a script that uses them needs the usual
        ``if __name__ == "__main__":`` guard.
    store : path, optional
        A directory (``.zarr`` for Zarr, otherwise Parquet) to which each finished chunk is
        written atomically and recorded (run range, rows, size, SHA-256). Running the same
        sweep again with the same store runs only the missing chunks, and recomputes any that
        are damaged, missing, duplicated or foreign (with a :class:`StoreWarning` naming
        them); a store made by a different sweep, theory, seed, steps, record or chunk size is
        refused with a ValueError naming what differs. The run holds the store's lock: a
        second writer is refused with :class:`StoreLockedError`.
    record : "summary", "trajectory" or int k
        Per-run summaries only, or also trajectories every month or every k months (these need
        a Zarr store when a store is used).
    chunk_runs : int, optional
        Runs per chunk (default: within a memory budget, near the size the engine runs
        fastest, and the same number of chunks for every worker; a resumed store keeps its
        own). Results do not depend on it.
    progress : bool
        Show a progress bar with runs done, rate and time left.
    max_memory : int, float or str, optional
        Refuse the sweep, before any work, if its estimated memory (results read back,
        chunks in flight, the design) is larger: bytes or a text such as ``"8GiB"``
        (``"inf"``: no limit). Default: the ``CMO_SIM_MAX_MEMORY`` environment variable, else
        80% of this machine's (or container's) memory.
    max_time : int, float or str, optional
        Likewise for the estimated time over the executor's workers: seconds or a text such
        as ``"12h"``. Default: the ``CMO_SIM_MAX_TIME`` environment variable, else 7 days.
    verify : "full" or "quick"
        How a resumed store's chunks are checked before the run: ``"full"`` compares each
        chunk's SHA-256 with its record (any changed byte is found), ``"quick"`` only its size
        and run range. The results read back are checked for identity and runs either way.
    engine : str
        The engine that runs each chunk: one of ``simulate``'s engines but ``"abm"`` (the
        Mesa engine is for single partnerships, not sweeps); ``"batch"`` is the numpy core.
        Each worker prepares the engine for the theory once, before its first chunk.
    trajectory_dtype : "float64" or "float32"
        The type of recorded float trajectories (float32 halves them; each value is
        computed in float64 and rounded once). Bools, integers and the summary are unchanged.
        A store keeps its own: resuming it with another is refused.

    Returns
    -------
    SweepResults
        Read back from the store when one is given.

    Raises
    ------
    StoreLockedError
        If another process is writing the store (a ValueError).
    ValueError
        For bad arguments or a mismatched store, before any run starts; a
        :class:`~cmo_sim.TooLargeError` for a sweep over the memory or time limit.
    """
    if not isinstance(sweep, Sweep):
        raise ValueError(f"sweep: {sweep!r} is not a Sweep (build one with cmo_sim.Sweep)")
    steps = _check_int("steps", steps, 1)
    every = validate_record(record, steps)
    record = record if isinstance(record, str) else int(record)
    if chunk_runs is not None:
        chunk_runs = _check_int("chunk_runs", chunk_runs, 1)
    if not isinstance(progress, bool):
        raise ValueError(f"progress: {progress!r} is not allowed (True or False)")
    verify = check_verify(verify)
    engine = _check_engine(engine)
    dtype_name = check_trajectory_dtype(trajectory_dtype).name
    seed_int = normalise_seed(seed)
    check_sweep(  # before any work: the estimate against the limits
        n_runs=sweep.n_runs, n_points=sweep.n_points, factors=len(sweep.paths),
        members=sweep.base.n_members, steps=steps, every=every,
        chunk=chunk_runs or default_chunk_runs(sweep.base.n_members, steps, every),
        executor=executor, max_memory=max_memory, max_time=max_time,
        value_bytes=np.dtype(dtype_name).itemsize,
        zarr_store=store is not None and store_format(store) == "zarr",
    )
    theory = as_theory(theory)
    check_theory_factors(sweep.paths, theory, sweep.factors)
    check_steps(sweep.base, steps)
    if "term" in sweep.paths:
        longest = int(max(sweep.values["term"]))
        if longest > steps:
            raise ScenarioError(
                f"vary['term']: term {longest} is beyond the simulated steps ({steps}): those "
                f"points would never reach their planned end (simulate at least {longest} "
                "months)")
    label = executor if isinstance(executor, str) else type(executor).__name__
    runner = make_executor(executor, warm=(theory, engine))
    bar = None
    target = None
    try:
        try:
            chunk = chunk_runs or _default_chunk(sweep, steps, every, runner.workers,
                                                   engine)
            manifest = {
                "cmo_sim_sweep_store": STORE_VERSION,
                "format": store_format(store) if store is not None else None,
                "sweep": sweep.spec(),
                "design_hash": sweep.design_hash(),
                "n_points": sweep.n_points,
                "n_runs": sweep.n_runs,
                "steps": steps,
                "seed": seed_int,
                "theory": theory.record(),
                "record": record,
                "trajectory_dtype": dtype_name,
                "engine": engine,
                "chunk_runs": chunk,
                "n_chunks": math.ceil(sweep.n_runs / chunk),
            }
            done: list[int] = []
            if store is not None:
                _check_settings(store, manifest)
                target = SweepStore.prepare(
                    store, manifest, sweep.unit, chunk_runs_given=chunk_runs is not None
                )
                manifest, chunk = target.manifest, target.chunk_runs
                done = target.resume(verify)
            n_chunks = int(manifest["n_chunks"])
            todo = sorted(set(range(n_chunks)) - set(done))
            done_runs = sum(min(chunk, sweep.n_runs - i * chunk) for i in done)
            bar = _progress(sweep.n_runs, done_runs, progress, sweep.name)
            outputs: dict[int, ChunkOutput] = {}
            tasks = _tasks(sweep, todo, chunk, steps, seed_int, theory, record, engine,
                           dtype_name)
            for output in runner.map(tasks):
                if target is not None:
                    target.write(output, design=sweep.values)
                else:
                    outputs[output.index] = output
                if bar is not None:
                    bar.update(len(output.summary))
        finally:
            if bar is not None:
                bar.close()
            runner.close()
        meta = {
            "steps": steps,
            "seed": seed_int,
            "theory": theory.name,
            "theory_hash": manifest["theory"]["hash"],
            "theory_changes": theory.changes(),
            "record": record,
            "trajectory_dtype": dtype_name,
            "engine": engine,
            "chunk_runs": chunk,
            "n_chunks": n_chunks,
            "chunks_run": len(todo),
            "executor": label,
            "store": str(Path(store).resolve()) if store is not None else None,
        }
        if target is not None:
            if len(target.finished()) == n_chunks and not target.consolidated:
                target.consolidate(sweep.values)
            # Chunks were checked by resume (at the level asked) or just written: read back
            # with the checks every read makes (identity, index, runs), not checksums again.
            return _read_store(target, sweep, meta, range(n_chunks), checksum=False)
    finally:
        if target is not None:
            target.release()
    parts = [(outputs[i].summary, outputs[i].trajectories) for i in range(n_chunks)]
    return _assemble(sweep, parts, meta)


def _read_store(store: SweepStore, sweep: Sweep, meta: dict[str, Any], indices,
                *, checksum: bool) -> SweepResults:
    """The chunks ``indices`` of a store, each checked; StoreIntegrityError naming any bad."""
    parts, problems = [], []
    for index in indices:
        result = store.load(index, checksum=checksum)
        if isinstance(result, StoreProblem):
            problems.append(result)
        else:
            parts.append(result)
    if problems:
        raise StoreIntegrityError(store.path, problems)
    return _assemble(sweep, parts, meta)


def open_sweep(
    path: str | os.PathLike, *, allow_partial: bool = False, verify: Verify = "full",
) -> SweepResults:
    """Reopen the results of a sweep store written by :func:`run_sweep`, checked.

    Parameters
    ----------
    path : path
        The store directory.
    allow_partial : bool
        Return the finished chunks of an unfinished sweep instead of raising; chunks recorded
        as finished whose files are gone (or present but unrecorded) are then left out with a
        :class:`StoreWarning` naming them. Any other damage still raises.
    verify : "full" or "quick"
        Always checked: the manifest (identity, chunk count, each chunk's record), that every
        recorded chunk exists with its recorded size, that no chunk file is unrecorded or
        foreign to the store, and that each chunk read is this store's chunk holding exactly
        its runs. ``"full"`` (the default) also compares the SHA-256 of each chunk, and of
        each file of a Zarr store's root group, with the manifest: any changed byte is found.
        ``"quick"`` skips the checksums.

    Raises
    ------
    FileNotFoundError
        If ``path`` holds no sweep store.
    StoreIntegrityError
        If the store is damaged: the message and ``.problems`` name each damaged, missing,
        duplicated, foreign or unrecorded chunk file (a ValueError; running the same sweep
        on the store repairs it).
    ValueError
        If chunks are missing (and ``allow_partial`` is false).
    """
    if not isinstance(allow_partial, bool):
        raise ValueError(f"allow_partial: {allow_partial!r} is not allowed (True or False)")
    verify = check_verify(verify)
    store = SweepStore.open(path)
    manifest = store.manifest
    try:
        sweep = Sweep.from_spec(manifest["sweep"], unit=store.unit())
    except Exception as exc:  # noqa: BLE001 - a damaged design or spec fails in many ways
        raise StoreIntegrityError(path, [StoreProblem(
            DESIGN, "design", f"cannot rebuild the sweep from it and the manifest "
            f"({type(exc).__name__}: {str(exc)[:120]})")]) from None
    problems = []
    if sweep.design_hash() != manifest.get("design_hash"):
        problems.append(StoreProblem(DESIGN, "design", "does not match the manifest's design "
                                     "hash"))
    problems.extend(store.layout_problems(sweep.n_runs))
    if problems:
        raise StoreIntegrityError(path, problems)
    legacy = manifest.get("cmo_sim_sweep_store") == 1
    if legacy:
        warnings.warn(
            f"store {path}: written by a cmo-sim that kept no chunk records (store version "
            "1): each chunk's runs are checked, its content is not; run the same sweep on it "
            "to record checksums", StoreWarning, stacklevel=2)
    # The root group of a Zarr store (not read here, but what other tools open) is checked in
    # a thread while the chunks are read: its files are few and large, hashing them releases
    # the GIL.
    root = _InBackground(store.root_problems, verify)
    found = store.inspect("quick", sizes=False)  # load checks sizes from what it reads
    parts, read_problems = [], []
    for index in found.finished:
        result = store.load(index, checksum=verify == "full" and not legacy)
        if isinstance(result, StoreProblem):
            read_problems.append(result)
        else:
            parts.append(result)
    read_problems.extend(root.result())
    absent = [p for p in found.problems if p.kind in ("missing", "unrecorded")]
    damaged = [p for p in found.problems if p.kind not in ("missing", "unrecorded")]
    damaged += read_problems
    n_chunks = store.n_chunks
    if damaged or (absent and not allow_partial):
        advice = None
        if absent or found.pending:
            advice = (
                f"the sweep is unfinished ({n_chunks - len(absent) - len(found.pending)} of "
                f"{n_chunks} chunks): run the same sweep again on this store to recompute "
                "the others" + ("" if damaged else ", or pass allow_partial=True"))
        raise StoreIntegrityError(path, damaged + absent, advice)
    if absent:
        warnings.warn(
            f"store {path}: reading the intact chunks only; left out: "
            + "; ".join(str(p) for p in absent), StoreWarning, stacklevel=2)
    if found.pending and not allow_partial:
        raise ValueError(
            f"{path}: the sweep is unfinished ({len(found.finished)} of {n_chunks} chunks); "
            "resume it with run_sweep(..., store=...) or pass allow_partial=True"
        )
    meta = {
        "steps": manifest["steps"],
        "seed": manifest["seed"],
        "theory": manifest["theory"]["name"],
        "theory_hash": manifest["theory"]["hash"],
        "theory_changes": manifest["theory"].get("changes"),
        "record": manifest["record"],
        "trajectory_dtype": manifest.get("trajectory_dtype", "float64"),
        "engine": manifest.get("engine", "batch"),
        "chunk_runs": store.chunk_runs,
        "n_chunks": n_chunks,
        "chunks_finished": len(parts),
        "verified": verify,
        "store": str(Path(path).resolve()),
    }
    return _assemble(sweep, parts, meta)
