"""``simulate``: the public entry point over the engines."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cmo_sim._limits import check_simulate
from cmo_sim.core.runner import (
    Record,
    by_run,
    check_trajectory_dtype,
    record_buffers,
    record_steps,
    run,
    validate_record,
)
from cmo_sim.params import compile_params
from cmo_sim.results import (
    Results,
    atomic_dir,
    open_zarr_results,
    summarise,
    trajectories_dataset,
    trajectory_arrays,
    trajectory_arrays_dataset,
)
from cmo_sim.rng import normalise_seed
from cmo_sim.scenario import Scenario, check_steps, load_scenario
from cmo_sim.theory import Theory, load_theory

__all__ = ["ENGINES", "as_scenarios", "default_chunk_runs", "simulate"]

#: The engines, which give the same results: the numpy core, the fused numba kernel (the
#: ``fast`` extra) and the Mesa agent-based reference.
ENGINES = ("batch", "fused", "abm")
#: Memory the batch engine aims to use per chunk of runs, in bytes.
CHUNK_MEMORY_BUDGET = 256 * 2**20


def as_scenarios(scenarios: Any) -> list[Scenario]:
    """Normalise one scenario, path, mapping, or a list of them, to a list of Scenario."""
    if isinstance(scenarios, Scenario | str | os.PathLike | Mapping):
        scenarios = [scenarios]
    if not isinstance(scenarios, Sequence) or isinstance(scenarios, str | bytes):
        raise ValueError(
            "scenarios: give a Scenario, a path, a mapping, or a list of them "
            f"(got {type(scenarios).__name__})"
        )
    out = [load_scenario(s) for s in scenarios]
    if not out:
        raise ValueError("scenarios: the list is empty")
    names = [s.name for s in out]
    if len(set(names)) != len(names):  # keep rows distinguishable in the summary
        out = [
            s if names.count(s.name) == 1 else s.with_values({"name": f"{s.name}#{k}"})
            for k, s in enumerate(out)
        ]
    return out


def default_chunk_runs(n_members: int, steps: int, every: int | None) -> int:
    """Runs per chunk so that one chunk's arrays stay within the memory budget."""
    per_run = 8 * (40 * n_members * n_members + 40 * n_members + 60)
    if every:
        per_run += 8 * (steps // every + 1) * (4 * n_members + 8)
    return int(max(256, min(65536, CHUNK_MEMORY_BUDGET // per_run)))


def _progress(total: int, enabled: bool | None, desc: str):
    if enabled is None:
        enabled = total >= 200_000 and sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", unit_scale=True, leave=False)


def as_theory(theory: Theory | str | os.PathLike | None, error: type = ValueError) -> Theory:
    """``theory`` as a Theory: the default for None, loaded for a path; ``error`` otherwise."""
    if theory is None or isinstance(theory, str | os.PathLike):
        return load_theory(theory)
    if not isinstance(theory, Theory):
        raise error(f"theory: {theory!r} is not a Theory or a path to a theory file")
    return theory


def simulate(
    scenarios: Scenario | str | Path | Mapping | Sequence,
    *,
    runs: int = 100,
    steps: int = 120,
    seed: Any = 0,
    theory: Theory | str | Path | None = None,
    engine: Literal["batch", "fused", "abm"] = "batch",
    record: Record = "summary",
    chunk_runs: int | None = None,
    progress: bool | None = None,
    max_memory: int | float | str | None = None,
    max_time: int | float | str | None = None,
    trajectory_dtype: Literal["float64", "float32"] = "float64",
    store: str | os.PathLike | None = None,
) -> Results:
    """Simulate ``runs`` replicates of each scenario for ``steps`` months.

    Parameters
    ----------
    scenarios : Scenario, path, mapping, or a list of them
    runs : int
        Replicates per scenario; replicate ``r`` of every scenario shares its random numbers
        (common random numbers), so scenario differences are estimated with little noise.
    steps : int
        Months to simulate (120 is ten years).
    seed : int, numpy SeedSequence or Generator
    theory : Theory or path, optional
        The programme theory; the review's default when omitted.
    engine : "batch", "fused" or "abm"
        The vectorised numpy engine; the fused engine, the same month compiled by numba into
        one loop per run (several times faster on large batches, about 5 s to compile a theory
        the first time on a machine; needs the ``fast`` extra); or the Mesa agent-based
        reference engine (far slower; for looking at a few partnerships closely). All three
        give the same results.
    record : "summary", "trajectory" or int k
        Keep only the per-run summary, every month, or every k months.
    chunk_runs : int, optional
        Runs per chunk (default: sized to a memory budget). Results do not depend on it.
    progress : bool, optional
        Show a progress bar (default: for large work on a terminal).
    max_memory : int, float or str, optional
        Refuse the request, before any work, if its estimated memory is larger: bytes or a
        text such as ``"8GiB"`` (``"inf"``: no limit). Default: the ``CMO_SIM_MAX_MEMORY``
        environment variable, else 80% of this machine's (or container's) memory.
    max_time : int, float or str, optional
        Likewise for the estimated time on one core: seconds or a text such as ``"12h"``.
        Default: the ``CMO_SIM_MAX_TIME`` environment variable, else 7 days.
    trajectory_dtype : "float64" or "float32"
        Type of the recorded float variables (trust, faith, synergy, ...); ``"float32"``
        halves their memory and files, each value being the float64 one rounded once. Bool
        and integer variables (active, conflict_events, regime) and the summary are unchanged.
    store : path, optional
        Write each chunk's summary and trajectories to this Zarr store as soon as it is run
        (the store :meth:`Results.to_zarr` writes), so memory holds one chunk's record however
        many runs are asked for. The store appears at ``path`` only once complete (an existing
        one is then replaced); a failed or stopped run leaves none. The Results returned read
        it: the summary is loaded, the trajectories are read lazily, as they are used.

    Returns
    -------
    Results

    Raises
    ------
    ValueError
        For a bad argument, naming it and what is allowed; a
        :class:`~cmo_sim.TooLargeError` (a ValueError) for a request over the memory or
        time limit, giving the estimate, the limit and how to get the result in parts.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine: {engine!r} is not allowed (allowed: {', '.join(ENGINES)})")
    if engine == "fused":
        from cmo_sim.core import fused

        fused.require()
    for name, value, low in (("runs", runs, 1), ("steps", steps, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name}: {value!r} is not allowed (an int >= {low})")
    if chunk_runs is not None and (
        isinstance(chunk_runs, bool) or not isinstance(chunk_runs, int | np.integer)
        or chunk_runs < 1
    ):
        raise ValueError(f"chunk_runs: {chunk_runs!r} is not allowed (an int >= 1)")
    every = validate_record(record, steps)
    float_dtype = check_trajectory_dtype(trajectory_dtype)
    seed_int = normalise_seed(seed)
    theory = as_theory(theory)
    scenario_list = as_scenarios(scenarios)
    for scenario in scenario_list:
        check_steps(scenario, int(steps))
    width = max(s.n_members for s in scenario_list)
    chunk = int(chunk_runs or default_chunk_runs(width, steps, every))
    if store is not None and not isinstance(store, str | os.PathLike):
        raise ValueError(f"store: {store!r} is not allowed (a path for a Zarr store)")
    check_simulate(n_scenarios=len(scenario_list), runs=int(runs), members=width,
                   steps=int(steps), every=every, chunk=chunk, engine=engine,
                   max_memory=max_memory, max_time=max_time,
                   value_bytes=float_dtype.itemsize, store=store is not None)
    meta = {
        "engine": engine,
        "seed": seed_int,
        "steps": int(steps),
        "runs_per_scenario": int(runs),
        "record": record if isinstance(record, str) else int(record),
        **({"trajectory_dtype": float_dtype.name} if float_dtype.name != "float64" else {}),
        "theory": theory.name,
        "theory_hash": theory.content_hash,
        "theory_changes": theory.changes(),
        "scenarios": [s.to_dict() for s in scenario_list],
    }
    params = compile_params(scenario_list, replicates=int(runs), seed=seed_int, theory=theory)
    recorded = record_steps(int(steps), every) if every else None
    # In memory, the whole record, [recorded steps(, members), runs]: the batch engine records
    # each chunk straight into its slice of it. To a store, each chunk's own record.
    whole = (record_buffers(params, recorded.size, float_dtype)
             if recorded is not None and store is None else None)

    def chunks():
        """Run the chunks in order: (runs, first run, output) of each."""
        if engine == "abm":
            from cmo_sim.abm import run_abm  # Mesa is imported only here
        bar = _progress(params.n_runs, progress, "simulating")
        try:
            for start in range(0, params.n_runs, chunk):
                sub = params.take(slice(start, start + chunk))
                stop = start + sub.n_runs
                if engine == "abm":
                    out = run_abm(sub, steps, record)
                    if whole is not None:
                        part = trajectory_arrays(out.trajectories, params.n_members,
                                                 float_dtype)
                        for name, values in part.items():
                            by_run(whole)[name][start:stop] = values
                else:
                    into = None if whole is None else {
                        name: values[..., start:stop] for name, values in whole.items()}
                    out = run(sub, steps, record, trajectory_dtype=float_dtype, out=into,
                              engine=engine)
                yield sub, start, out
                if bar is not None:
                    bar.update(sub.n_runs)
        finally:
            if bar is not None:
                bar.close()

    if store is not None:
        path, summary = _write_store(Path(store), chunks(), meta, float_dtype)
        return open_zarr_results(path, lazy=True, summary=summary)
    summary = pd.concat([summarise(sub, out, run_offset=start) for sub, start, out in chunks()],
                        ignore_index=True)
    traj = None
    if whole is not None:  # [runs, steps(, members)] views of the step-by-step record
        traj = trajectory_arrays_dataset(params, by_run(whole), recorded)
    return Results(summary, traj, meta)


def _write_store(path: Path, chunks, meta: dict[str, Any],
                 float_dtype: np.dtype) -> tuple[Path, pd.DataFrame]:
    """Write each chunk's summary and trajectories to the Zarr store ``path`` as it is run.

    Returns the store's path and its summary (kept as it is written: the same table, and
    less memory than reading it back).

    The store is the one :meth:`Results.to_zarr` writes, built in a temporary sibling and
    moved into place once every chunk is in it: a store at ``path`` is always complete (an
    existing one is replaced only then), whenever the run fails or is stopped.
    """
    summaries = []

    def write(tmp: Path) -> None:
        target = tmp / "store.zarr"
        for sub, start, out in chunks:
            summary = summarise(sub, out, run_offset=start)
            summaries.append(summary)
            traj = (trajectories_dataset(sub, out, run_offset=start, dtype=float_dtype)
                    if out.trajectories is not None else None)
            dataset = Results(summary, traj, meta).to_dataset()
            del out, traj
            if start == 0:
                dataset.to_zarr(target, mode="w", consolidated=False)
            else:
                dataset.to_zarr(target, append_dim="run", consolidated=False)

    path = atomic_dir(path, write, inner="store.zarr")
    return path, pd.concat(summaries, ignore_index=True)
