"""Fail fast on size: estimate a request's memory and time, and refuse it before any work.

:func:`cmo_sim.simulate`, :func:`cmo_sim.run_sweep` and :class:`cmo_sim.Sweep` (its design)
estimate, from the numbers alone, the memory and the time a request needs, and raise
:class:`~cmo_sim.TooLargeError` (a ``ValueError``) naming the estimate, the limit and
another way to get the result when it is over a limit.

The limits:

- memory: the ``max_memory=`` argument, else the ``CMO_SIM_MAX_MEMORY`` environment variable,
  else 80% of this machine's memory (or of the container's memory limit). A number of bytes,
  or a number with a unit (``512MB``, ``8GiB``, ``16G``; KB, MB, GB, TB are powers of 1000;
  KiB, MiB, GiB, TiB and K, M, G, T powers of 1024); ``inf`` for no limit.
- time: the ``max_time=`` argument, else the ``CMO_SIM_MAX_TIME`` environment variable, else
  7 days. Seconds, or a number with a unit (``90s``, ``30min``, ``12h``, ``7d``); ``inf``
  for no limit.

The estimates are deliberately simple (arrays of the engine's state, results and records at
8 bytes a value, and a throughput measured on a laptop core); they are meant to be within a
factor of two, which is enough to refuse a request that could never finish.
"""

from __future__ import annotations

import math
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from cmo_sim._errors import TooLargeError

__all__ = [
    "DEFAULT_MAX_TIME",
    "ENV_MAX_MEMORY",
    "ENV_MAX_TIME",
    "check_design",
    "check_simulate",
    "check_sweep",
    "format_bytes",
    "format_seconds",
    "memory_limit",
    "parse_memory",
    "parse_time",
    "time_limit",
]

#: Environment variable holding the memory limit.
ENV_MAX_MEMORY = "CMO_SIM_MAX_MEMORY"
#: Environment variable holding the time limit.
ENV_MAX_TIME = "CMO_SIM_MAX_TIME"
#: Share of the machine's (or container's) memory a request may use by default.
DEFAULT_MEMORY_SHARE = 0.8
#: Default time limit (seconds): a week on one machine.
DEFAULT_MAX_TIME = 7 * 86400.0

_MEMORY_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_NUMBER = r"\s*((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-z]*)\s*"
_MEMORY_FORMS = ("a number of bytes, or a number with a unit such as 512MB, 8GiB or 16G; "
                 "inf for no limit")
_TIME_FORMS = "seconds, or a number with a unit such as 90s, 30min, 12h or 7d; inf for no limit"


def _parse(value: Any, name: str, units: dict[str, int], forms: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not allowed ({forms})")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("inf", "infinity", "none", "unlimited"):
            return math.inf
        match = re.fullmatch(_NUMBER, text)
        if match is None or match.group(2) not in units:
            raise ValueError(f"{name}: {value[:40]!r} is not allowed ({forms})")
        number = float(match.group(1)) * units[match.group(2)]
    else:
        try:
            number = float(value)  # numpy numbers
        except (TypeError, ValueError):
            raise ValueError(f"{name}: {value!r} is not allowed ({forms})") from None
    if math.isnan(number) or number <= 0:
        raise ValueError(f"{name}: {value!r} is not allowed (a positive amount: {forms})")
    return number


def parse_memory(value: Any, name: str = "max_memory") -> float:
    """Bytes from a number of bytes or a text such as ``"8GiB"`` (``inf``: no limit).

    Raises
    ------
    ValueError
        Naming ``name`` and the allowed forms.
    """
    return _parse(value, name, _MEMORY_UNITS, _MEMORY_FORMS)


def parse_time(value: Any, name: str = "max_time") -> float:
    """Seconds from a number of seconds or a text such as ``"12h"`` (``inf``: no limit).

    Raises
    ------
    ValueError
        Naming ``name`` and the allowed forms.
    """
    return _parse(value, name, _TIME_UNITS, _TIME_FORMS)


@cache
def machine_memory() -> int | None:
    """Bytes of memory of this machine, or of the container's limit if lower (None: unknown)."""
    total: int | None = None
    try:
        total = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        total = None
    for limit_file in ("/sys/fs/cgroup/memory.max",
                       "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit() and 0 < int(text) < 2**60:
            total = min(total, int(text)) if total else int(text)
    return total if total and total > 0 else None


def memory_limit(max_memory: Any = None) -> tuple[float, str]:
    """The memory limit in bytes and where it comes from (for messages)."""
    if max_memory is not None:
        return parse_memory(max_memory, "max_memory"), "set by max_memory="
    env = os.environ.get(ENV_MAX_MEMORY, "").strip()
    if env:
        return parse_memory(env, ENV_MAX_MEMORY), f"set by {ENV_MAX_MEMORY}"
    total = machine_memory()
    if total is None:
        return 8.0 * 2**30, "the default for a machine of unknown memory"
    return DEFAULT_MEMORY_SHARE * total, (
        f"{DEFAULT_MEMORY_SHARE:.0%} of this machine's {format_bytes(total)}")


def time_limit(max_time: Any = None) -> tuple[float, str]:
    """The time limit in seconds and where it comes from (for messages)."""
    if max_time is not None:
        return parse_time(max_time, "max_time"), "set by max_time="
    env = os.environ.get(ENV_MAX_TIME, "").strip()
    if env:
        return parse_time(env, ENV_MAX_TIME), f"set by {ENV_MAX_TIME}"
    return DEFAULT_MAX_TIME, "the default"


def format_bytes(n: float) -> str:
    """``1.5 GiB``-style text for a number of bytes."""
    if not math.isfinite(n):
        return "no limit"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:,.0f} {unit}" if value >= 1000 else f"{value:.3g} {unit}"
    return f"{n:.0f} bytes"


def format_seconds(s: float) -> str:
    """``3.2 s``, ``4.5 min``, ``2.1 h``, ``12 days``, ``3,000 years``-style text."""
    if not math.isfinite(s):
        return "no limit"
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            value = s / size
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.2g} {unit}"
    return f"{s:.2g} s"


# -- the estimates --------------------------------------------------------------------------------
def _sizes() -> dict[str, int]:
    """Counts the estimates depend on, read from the engine so they follow its changes."""
    from cmo_sim.core.runner import MEMBER_VARIABLES, RUN_VARIABLES
    from cmo_sim.params import CONTEXT_NAMES, MEMBER_NAMES
    from cmo_sim.results import SUMMARY_COLUMNS

    return {"contexts": len(CONTEXT_NAMES), "member_contexts": len(MEMBER_NAMES),
            "summary": len(SUMMARY_COLUMNS), "member_vars": len(MEMBER_VARIABLES),
            "run_vars": len(RUN_VARIABLES)}


def working_bytes_per_run(members: int) -> int:
    """Bytes of engine state per run of a chunk (the chunk-size budget's own figure)."""
    return 8 * (40 * members * members + 40 * members + 60)


def seconds_per_run_step(members: int, engine: str = "batch") -> float:
    """Rough seconds per run and month (measured on one laptop core; quadratic in members)."""
    if engine == "abm":
        return (250.0 + 14.0 * members * members) * 1e-6
    # The fused engine is faster; the numpy core's figure bounds it.
    return (0.2 + 0.17 * members * members) * 1e-6


def _recorded(steps: int, every: int | None) -> int:
    return steps // every + 1 if every else 0


def _fits(limit: float, per_unit: float, units: int) -> int:
    """How many of ``units`` fit in ``limit`` bytes at ``per_unit`` each (at least 1)."""
    if not math.isfinite(limit):
        return units
    return max(1, min(units, int(limit // max(per_unit, 1.0))))


def _kept(every: int | None) -> str:
    if not every:
        return ""
    return " recording every month" if every == 1 else f" recording every {every:,} months"


def _refuse(fields: tuple[str, str], request: str, memory: float, seconds: float, *,
            max_memory: Any, max_time: Any, memory_fix: str, time_fix: str) -> None:
    """Raise TooLargeError if ``memory`` or ``seconds`` is over its limit.

    ``fields`` names the argument a message leads with: for memory, then for time.
    """
    mem_limit, mem_source = memory_limit(max_memory)
    time_max, time_source = time_limit(max_time)
    need = f"about {format_bytes(memory)} of memory" + (
        f" and roughly {format_seconds(seconds)}" if seconds > 0 else "")
    if memory > mem_limit:
        raise TooLargeError(
            f"{fields[0]}: {request} needs {need} (estimated), more than the memory limit of "
            f"{format_bytes(mem_limit)} ({mem_source}; max_memory= or the {ENV_MAX_MEMORY} "
            f"environment variable changes it). {memory_fix}")
    if seconds > time_max:
        raise TooLargeError(
            f"{fields[1]}: {request} needs {need} (estimated), more than the time limit of "
            f"{format_seconds(time_max)} ({time_source}; max_time= or the {ENV_MAX_TIME} "
            f"environment variable changes it). {time_fix}")


def check_simulate(*, n_scenarios: int, runs: int, members: int, steps: int,
                   every: int | None, chunk: int, engine: str = "batch",
                   max_memory: Any = None, max_time: Any = None,
                   value_bytes: int = 8, store: bool = False) -> tuple[float, float]:
    """Refuse a :func:`cmo_sim.simulate` request over a limit; return (bytes, seconds).

    ``value_bytes`` is the size of a recorded float value (8, or 4 for float32 trajectories).
    The record is held whole (the batch engine records into it; the Mesa engine also holds
    one chunk's record while it is being run); with ``store``, one chunk's record at a time
    (and its copy being written), the summary of every run being read back at the end.

    Raises
    ------
    TooLargeError
        Naming the estimate, the limit and the alternatives.
    """
    sizes = _sizes()
    n_runs = n_scenarios * runs
    params = 8 * (sizes["contexts"] + sizes["member_contexts"] * members + 4) + members
    summary = 2 * (8 * sizes["summary"] + 16)  # the chunks' frames, then their concatenation
    def estimate(value_bytes: int, store: bool) -> tuple[int, float]:
        """Bytes per run held to the end, and the request's bytes."""
        record = value_bytes * _recorded(steps, every) * (sizes["member_vars"] * members
                                                          + sizes["run_vars"])
        if store:
            return params + summary, n_runs * (params + summary) + min(chunk, n_runs) * (
                working_bytes_per_run(members) + 2 * record)
        per_run = params + summary + record
        return per_run, n_runs * per_run + min(chunk, n_runs) * (
            working_bytes_per_run(members) + (record if engine == "abm" else 0))

    per_run, memory = estimate(value_bytes, store)
    seconds = n_runs * steps * seconds_per_run_step(members, engine)
    fits = _fits(memory_limit(max_memory)[0], per_run * n_scenarios, runs)
    each = f" of each of {n_scenarios} scenarios ({n_runs:,} runs)" if n_scenarios > 1 else ""
    request = (f"{runs:,} runs{each} of up to {members} members over {steps:,} months"
               f"{_kept(every)}")
    in_memory_record = bool(every) and not store and per_run > params + summary
    streaming = ""
    if in_memory_record:
        streaming = (
            "Stream the trajectories to disk instead: store='runs.zarr' writes each chunk to "
            "a Zarr store as it is run and returns them read from it, in about "
            f"{format_bytes(estimate(value_bytes, True)[1])} of memory (one chunk's "
            "trajectories at a time)" + (
                "; trajectory_dtype='float32' halves the trajectories (about "
                f"{format_bytes(estimate(4, False)[1])} in memory, "
                f"{format_bytes(estimate(4, True)[1])} with a store)"
                if value_bytes > 4 else "") + ". Or s")
    chunk_fix = ""
    if store and every and math.isfinite(memory_limit(max_memory)[0]):
        # Held to the end: the summary; while a chunk runs: its state and trajectories.
        spare = memory_limit(max_memory)[0] - n_runs * per_run
        per_chunk_run = estimate(value_bytes, True)[1] - n_runs * per_run
        chunk_fits = int(spare * min(chunk, n_runs) // max(per_chunk_run, 1))
        if 1 <= chunk_fits < min(chunk, n_runs):
            chunk_fix = (f"Give a smaller chunk_runs (chunk_runs={chunk_fits:,} fits): a "
                         "store holds one chunk's trajectories at a time. Or s")
    memory_fix = (
        f"{chunk_fix or streaming or 'S'}imulate fewer runs at a time (runs={fits:,} fits), "
        "calling simulate again with another seed for more" + (
            "; or record less (record='summary', or every k months with record=k)"
            if every else "") + ".")
    time_fix = ("Simulate fewer runs or months (steps=120 is ten years), or several smaller "
                "requests" + (" with the batch engine" if engine == "abm" else "") + ".")
    fields = ("record" if in_memory_record else "runs",
              "steps" if steps > 1200 else "runs")
    _refuse(fields, request, memory, seconds,
            max_memory=max_memory, max_time=max_time, memory_fix=memory_fix,
            time_fix=time_fix)
    return memory, seconds


def design_points(design: str, samples: int | None, levels: list[int | None]) -> int:
    """Design points from the design, ``samples`` and each factor's number of listed values.

    ``levels`` holds, per factor, the number of listed values, or None for a range.
    """
    d = len(levels)
    if design == "grid":
        return math.prod(samples if n is None else n for n in levels) if levels else 0
    if design == "list":
        return int(levels[0] or 0) if levels else 0
    if design == "lhs":
        return int(samples or 0)
    if design == "sobol":
        return int(samples or 0) * (d + 2)
    if design == "morris":
        return int(samples or 0) * (d + 1)
    return 0


def check_design(design: str, samples: int | None, levels: list[int | None],
                 max_memory: Any = None) -> int:
    """Refuse a design whose points would not fit in memory; return its number of points.

    Raises
    ------
    TooLargeError
        Naming the number of points, the estimate, the limit and the alternatives.
    """
    n_points = design_points(design, samples, levels)
    d = len(levels)
    memory = n_points * (64 + 48 * d)  # the unit design, the values, building them
    if design == "grid" and samples is not None:
        shape = " x ".join(f"{samples:,}" if n is None else f"{n:,}" for n in levels)
        request = f"a grid of {shape} = {n_points:,} points"
        fix = ("Give fewer samples (a grid's levels multiply: every range gets samples "
               "levels), or use design: lhs or sobol, whose points grow with samples alone "
               "(a Sobol design's samples is its base N).")
    else:
        request = f"a {design} design of {n_points:,} points"
        fix = "Give fewer samples (or shorter value lists)."
    _refuse(("samples", "samples"), request, memory, 0.0, max_memory=max_memory, max_time=None,
            memory_fix=fix, time_fix=fix)
    return n_points


def _workers(executor: Any) -> tuple[int, int]:
    """Workers holding a chunk in this machine's memory, and workers sharing the time."""
    cores = os.cpu_count() or 1
    if isinstance(executor, str):
        if executor == "local":
            return 1, 1
        if executor.startswith("processes"):
            count = executor.partition(":")[2]
            n = int(count) if count.isdigit() and int(count) >= 1 else cores
            return n, n
        return 0, cores  # a Dask scheduler: chunks run elsewhere
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, int) and workers >= 1:
        return workers, workers
    return 0, cores


def check_sweep(*, n_runs: int, n_points: int, factors: int, members: int, steps: int,
                every: int | None, chunk: int, executor: Any = "local",
                max_memory: Any = None, max_time: Any = None, value_bytes: int = 8,
                zarr_store: bool = False) -> tuple[float, float]:
    """Refuse a :func:`cmo_sim.run_sweep` request over a limit; return (bytes, seconds).

    ``value_bytes`` is the size of a recorded float value (8, or 4 for float32 trajectories).
    With ``zarr_store`` the trajectories go to the store a chunk at a time and are read from it
    lazily, so only the chunks being run hold their record in memory.

    Raises
    ------
    TooLargeError
        Naming the estimate, the limit and the alternatives.
    """
    sizes = _sizes()
    local, sharing = _workers(executor)
    summary = 2 * (8 * (sizes["summary"] + factors) + 16)
    record = 2 * value_bytes * _recorded(steps, every) * (sizes["member_vars"] * members
                                                          + sizes["run_vars"])
    params = 8 * (sizes["contexts"] + sizes["member_contexts"] * members + 4) + members
    in_flight = max(local, 1) * min(chunk, n_runs) * (working_bytes_per_run(members) + params
                                                      + (record if zarr_store else 0))
    kept = summary if zarr_store else summary + record
    memory = n_runs * kept + in_flight + n_points * (64 + 48 * factors)
    seconds = n_runs * steps * seconds_per_run_step(members) / max(sharing, 1)
    replicates = max(1, n_runs // max(n_points, 1))
    per_run = kept
    fits = _fits(memory_limit(max_memory)[0], per_run * n_points, replicates)
    request = (f"{n_points:,} design points x {replicates:,} replicates = {n_runs:,} runs "
               f"of {members} members over {steps:,} months{_kept(every)}")
    memory_fix = (
        f"Give fewer replicates (replicates={fits:,} fits) or design points "
        "(samples)" + ("; or record less (record='summary', or every k months)" if every
                       else "") + ". A store (store=...) keeps finished chunks on disk so a "
        "sweep can be run and resumed in parts.")
    time_fix = ("Give fewer replicates, design points (samples) or months, or run it on more "
                "workers (executor='processes', or a Dask cluster); with a store it can be "
                "stopped and resumed.")
    fields = ("replicates" if replicates > 1 else "samples",
              "steps" if steps > 1200 else "replicates" if replicates > 1 else "samples")
    _refuse(fields, request, memory, seconds,
            max_memory=max_memory, max_time=max_time, memory_fix=memory_fix,
            time_fix=time_fix)
    return memory, seconds
