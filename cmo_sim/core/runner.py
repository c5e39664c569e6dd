"""The time loop and recording, layered over the pure ``init`` / ``step``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from cmo_sim.core.ends import regime
from cmo_sim.core.mechanisms import msum
from cmo_sim.core.state import State
from cmo_sim.core.step import StepCache, init, step
from cmo_sim.params import Params

__all__ = [
    "RUN_ENGINES", "RunOutput", "TRAJECTORY_DTYPES", "TRAJECTORY_VARIABLES",
    "check_trajectory_dtype",
    "by_run", "record_buffers", "record_steps", "run", "validate_record", "warm",
]

Record = Literal["summary", "trajectory"] | int

#: Trajectory variables: per member ``[runs, steps, members]`` or per run ``[runs, steps]``.
MEMBER_VARIABLES = ("trust", "faith", "intra_conflict", "active")
RUN_VARIABLES = (
    "synergy", "inertia", "experience", "ambition", "achievement", "performance",
    "conflict_events", "vision", "regime",
)
TRAJECTORY_VARIABLES = MEMBER_VARIABLES + RUN_VARIABLES
#: Allowed storage types of the float trajectory variables (bool and int ones are unchanged).
TRAJECTORY_DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class RunOutput:
    """Final state, per-run accumulators and (optionally) recorded trajectories of one batch."""

    final: State
    synergy_mean: np.ndarray
    steps_recorded: np.ndarray | None
    trajectories: dict[str, np.ndarray] | None
    steps: int = 0


def validate_record(record: Record, steps: int) -> int | None:
    """Recording interval in steps (None for summary only); ValueError for bad values."""
    if record == "summary":
        return None
    if record == "trajectory":
        return 1
    if isinstance(record, bool) or not isinstance(record, int | np.integer):
        raise ValueError(
            f"record: {record!r} is not allowed "
            "(allowed: 'summary', 'trajectory', or an int k >= 1)"
        )
    if record < 1:
        raise ValueError(f"record: {record} is not allowed (every k steps needs k >= 1)")
    if record > steps:
        raise ValueError(
            f"record: every {record} months is more than the {steps} simulated months, so only "
            f"the initial state would be recorded (allowed: 1 to {steps})")
    return int(record)


def check_trajectory_dtype(trajectory_dtype: str | np.dtype | type) -> np.dtype:
    """The numpy dtype of float trajectories; ValueError for anything but float64 or float32."""
    dtype = None
    if isinstance(trajectory_dtype, str | np.dtype | type):
        try:
            dtype = np.dtype(trajectory_dtype)
        except TypeError:
            dtype = None
    if dtype is None or dtype.name not in TRAJECTORY_DTYPES:
        raise ValueError(
            f"trajectory_dtype: {trajectory_dtype!r} is not allowed "
            f"(allowed: {', '.join(repr(d) for d in TRAJECTORY_DTYPES)})")
    return dtype


def record_steps(steps: int, every: int) -> np.ndarray:
    """The recorded step labels: 0 (initial state) and every ``every``-th month up to ``steps``."""
    return np.array([0] + [t for t in range(1, steps + 1) if t % every == 0], dtype=np.int64)


def _trust_weights(present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the trust a member gives to the other original members, and their count.

    They are fixed for a set of runs, so the runner computes them once per working set.
    """
    n = present.shape[1]
    pw = present.astype(np.float64)
    return pw[:, None, :] * (1.0 - np.eye(n)), np.maximum(msum(pw)[:, None] - 1.0, 1.0)


def _snapshot(state: State, present: np.ndarray, months: int,
              weights: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The trajectory variables of a state after ``months`` months.

    ``trust`` is the mean trust each member gives to the other original members; rows of
    members that have left stay as they were when they left (``active`` says who is in).
    Arrays may be the state's own: the caller copies them into its record at once.
    ``weights`` are :func:`_trust_weights` of ``present`` if the caller keeps them.
    """
    mask, partners = weights if weights is not None else _trust_weights(present)
    given = msum(state.trust * mask) / partners
    return {
        "trust": np.where(present, given, np.nan),
        "faith": np.where(present, state.faith, np.nan),
        "intra_conflict": np.where(present, state.intra_conflict, np.nan),
        "active": state.active,
        "synergy": state.synergy,
        "inertia": 1.0 - state.synergy,
        "experience": state.experience,
        "ambition": state.ambition,
        "achievement": state.achievement,
        "performance": state.performance,
        "conflict_events": state.step_conflicts,
        "vision": state.vision,
        "regime": regime(state.dissolved, state.completed, state.synergy_recent,
                         state.success_recent, months),
    }


def _record_shape(n_recorded: int, snapshot: np.ndarray) -> tuple[int, ...]:
    """Shape of a variable's record: ``[steps, runs]`` or ``[steps, members, runs]``."""
    return (n_recorded,) + snapshot.shape[1:][::-1] + snapshot.shape[:1]


def record_buffers(params: Params, n_recorded: int,
                   trajectory_dtype: str | np.dtype = "float64") -> dict[str, np.ndarray]:
    """Empty record arrays for the runs of ``params``, as :func:`run` lays them out.

    A variable's record is ``[recorded steps(, members), runs]``: each month's snapshot is
    one contiguous write per variable (and member). :func:`by_run` gives the
    ``[runs, steps(, members)]`` view of it. :func:`run` records into them (``out=``, a
    slice of them along runs, the last axis, for each chunk), so a caller holding the whole
    record needs no copy of each chunk's.
    """
    float_dtype = check_trajectory_dtype(trajectory_dtype)
    one = params.take(slice(0, 1))
    first = _snapshot(init(one), one.present, 0)
    return {
        k: np.empty(_record_shape(n_recorded, v)[:-1] + (params.n_runs,),
                    dtype=float_dtype if v.dtype.kind == "f" else v.dtype)
        for k, v in first.items()
    }


def by_run(buffers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``[runs, steps(, members)]`` views of records laid out as :func:`run` keeps them."""
    return {k: np.moveaxis(v, -1, 0) for k, v in buffers.items()}


def _put(full: State, rows: np.ndarray, part: State) -> State:
    """``full`` with ``rows`` replaced by ``part`` (arrays are updated in place: runner-owned)."""
    for f in fields(full):
        getattr(full, f.name)[rows] = getattr(part, f.name)
    return full


#: The working set is compacted when fewer than this share of its runs are still in place.
COMPACT_BELOW = 0.95


#: The engines :func:`run` steps with: the numpy step, or the fused kernel.
RUN_ENGINES = ("batch", "fused")


def _stepper(engine: str):
    """The month function of ``engine``.

    The pure numpy step, or the fused kernel computing in the arrays of the state it is given
    (the runner owns its working state).
    """
    if engine == "batch":
        return step
    if engine == "fused":
        from cmo_sim.core import fused

        fused.require()
        return fused.advance
    raise ValueError(f"engine: {engine!r} is not allowed (allowed: {', '.join(RUN_ENGINES)})")


def warm(theory, engine: str = "batch") -> None:
    """Make ready what ``engine`` needs for ``theory``.

    The first chunk a worker runs then does not pay for it: the theory's terms are compiled
    and, for the fused engine, its kernel is compiled (or loaded from the cache) by running one
    partnership for one month.
    """
    _stepper(engine)
    theory.compiled()
    if engine == "fused":
        from cmo_sim.params import compile_params
        from cmo_sim.scenario import load_scenario

        one = load_scenario({"name": "warm-up", "members": [{}, {}]}, theory=theory)
        run(compile_params([one], replicates=1, seed=0, theory=theory), 1, engine=engine)


def run(params: Params, steps: int, record: Record = "summary", *,
        trajectory_dtype: str | np.dtype = "float64",
        out: dict[str, np.ndarray] | None = None, engine: str = "batch") -> RunOutput:
    """Run every run of ``params`` for ``steps`` months, recording as asked.

    Dissolution and completion are absorbing and an ended run's state is frozen, so the loop
    stops computing ended runs: every few steps it drops them from the working set (their
    final state is kept aside). Each run's numbers are the same either way; only the work shrinks.

    Float trajectory variables are kept as ``trajectory_dtype`` (float64 or float32: each
    value is computed in float64 and rounded once). The record is laid out as
    :func:`record_buffers` makes it, so a month's snapshot is one contiguous write per
    variable; the returned arrays are ``[runs, steps(, members)]`` views of it. ``out`` (from
    :func:`record_buffers`, or a slice of them along runs) is recorded into instead of new
    arrays.
    """
    every = validate_record(record, steps)
    float_dtype = check_trajectory_dtype(trajectory_dtype)
    advance = _stepper(engine)
    full = init(params)
    rows = np.arange(params.n_runs)
    synergy_sum = np.zeros(params.n_runs)
    alive_steps = np.zeros(params.n_runs)
    work_params = params
    recorded = record_steps(steps, every) if every else None
    buffers: dict[str, np.ndarray] | None = None
    frozen: list[tuple[np.ndarray, dict[str, np.ndarray], int]] = []
    weights = None
    if recorded is not None:
        first = _snapshot(full, params.present, 0)
        if out is None:
            buffers = {
                k: np.empty(_record_shape(recorded.size, v),
                            dtype=float_dtype if v.dtype.kind == "f" else v.dtype)
                for k, v in first.items()
            }
        else:
            buffers = {k: out[k] for k in first}
            for k, v in first.items():
                want = _record_shape(recorded.size, v)
                if buffers[k].shape != want:
                    raise ValueError(f"out: {k} has shape {buffers[k].shape}, not {want}")
        for k, v in first.items():
            buffers[k][0] = v.T
        weights = _trust_weights(params.present)
    if engine == "fused":
        from cmo_sim.core import fused

        if fused.fixed_membership(params):
            # No member can leave a partnership that goes on: whole spans of months per call,
            # the kernel writing the record.
            into = buffers
            if buffers is not None and not all(b.flags.c_contiguous for b in buffers.values()):
                # A chunk's slice of a larger record: the kernel writes contiguous arrays.
                into = {k: np.empty(b.shape, dtype=b.dtype) for k, b in buffers.items()}
                for k, b in buffers.items():
                    into[k][0] = b[0]
            fused.run_spans(params, steps, full, synergy_sum, alive_steps,
                            None if into is None else (into, every))
            if into is not buffers:
                for k, b in buffers.items():
                    b[...] = into[k]
            return _finish(full, steps, synergy_sum, alive_steps, recorded, buffers, [])
        work = State(**{f.name: getattr(full, f.name).copy() for f in fields(full)})
    else:
        work = full.take(slice(None))
    slot = 1
    cache = StepCache()
    for t in range(steps):
        alive = ~work.ended
        if rows.size and alive.sum() < COMPACT_BELOW * rows.size:
            gone = ~alive
            _put(full, rows[gone], work.take(gone))
            if buffers is not None:
                snap = _snapshot(work.take(gone), params.present[rows[gone]], t)
                snap["conflict_events"][:] = 0  # a dissolved partnership has no more events
                snap["achievement"][:] = 0.0
                frozen.append((rows[gone], snap, slot))
            rows = rows[alive]
            work, work_params = work.take(alive), params.take(rows)
            cache.narrow(alive, work_params)
            alive = alive[alive]
            if buffers is not None:
                weights = _trust_weights(work_params.present)
        if rows.size == 0:
            break
        work = advance(work, work_params, t, cache)
        synergy_sum[rows] += np.where(alive, work.synergy, 0.0)
        alive_steps[rows] += alive
        if buffers is not None and slot < recorded.size and recorded[slot] == t + 1:
            whole = rows.size == params.n_runs  # rows is sorted: all runs, in order
            for k, v in _snapshot(work, work_params.present, t + 1, weights).items():
                if whole:
                    buffers[k][slot] = v.T
                elif v.ndim == 1:
                    buffers[k][slot, rows] = v
                else:  # a member at a time: a one-dimensional scatter each
                    for j in range(v.shape[1]):
                        buffers[k][slot, j, rows] = v[:, j]
            slot += 1
    _put(full, rows, work)
    return _finish(full, steps, synergy_sum, alive_steps, recorded, buffers, frozen)


def _finish(full: State, steps: int, synergy_sum, alive_steps, recorded, buffers,
            frozen) -> RunOutput:
    # Per-month fields of a run ended before the last month read as they would after one
    # more month as an ended run (no task, no conflict, no achievement), however early the
    # working set dropped it.
    done = full.ended & (full.ended_at < steps - 1)
    full.success[done] = False
    full.step_conflicts[done] = 0
    full.achievement[done] = 0.0
    if buffers is not None:
        for gone_rows, snap, from_slot in frozen:
            for k, v in snap.items():
                buffers[k][from_slot:, ..., gone_rows] = v.T[None]
    return RunOutput(
        final=full,
        synergy_mean=synergy_sum / np.maximum(alive_steps, 1.0),
        steps_recorded=recorded,
        trajectories=None if buffers is None else by_run(buffers),
        steps=steps,
    )
