"""Sweep files (YAML): the base scenario, the factors, the design and run settings.

Example::

    name: trust_vs_ambition
    base: ../voluntary_alliance.yaml      # relative to this file, or an inline scenario
    design: grid                          # grid | lhs | sobol | morris | list
    samples: 5                            # grid: levels per range; lhs: points; sobol: base N
    replicates: 200
    vary:
      history: {low: -0.8, high: 0.8}     # a range (add log: true for a log scale)
      ambition_bias: [-0.4, 0.0, 0.4]     # a list of values
    steps: 120                            # optional run settings
    seed: 0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmo_sim._errors import ScenarioError, closest
from cmo_sim._yaml import read_yaml_file, show_path
from cmo_sim.core.runner import Record
from cmo_sim.scenario import load_scenario
from cmo_sim.sweep.designs import Sweep

__all__ = ["SweepFile", "load_sweep", "read_sweep_file"]


class _SweepSchema(BaseModel):
    """The fields of a sweep file."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(default="sweep", min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    base: str | dict[str, Any]
    design: Literal["grid", "lhs", "sobol", "morris", "list"] = "grid"
    samples: int | None = Field(default=None, ge=1)
    replicates: int = Field(default=32, ge=1)
    design_seed: int = Field(default=0, ge=0)
    vary: dict[str, Any] = Field(min_length=1)
    steps: int = Field(default=120, ge=1)
    seed: int = Field(default=0, ge=0, le=2**64 - 1)
    record: Literal["summary", "trajectory"] | int = "summary"


@dataclass(frozen=True)
class SweepFile:
    """A validated sweep file: the sweep and its run settings."""

    sweep: Sweep
    steps: int
    seed: int
    record: Record
    description: str = ""


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()) if not str(p).startswith(("function",)))
    kind = error.get("type", "")
    value = error.get("input")
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        allowed = tuple(_SweepSchema.model_fields)
        return f"unknown key '{key}'{closest(key, allowed)} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return f"{loc}: required field is missing"
    text = repr(value)
    text = text if len(text) <= 60 else text[:56] + " ..."
    return f"{loc}: {text} is not allowed ({error.get('msg', 'invalid value')})"


def read_sweep_file(path: str | os.PathLike) -> SweepFile:
    """Read and validate a sweep file.

    The base scenario may be a path (relative to the sweep file) or an inline mapping; every
    factor is checked against it (see :class:`~cmo_sim.Sweep`).

    Raises
    ------
    ScenarioError
        Naming the file, the field and what is allowed.
    """
    data = read_yaml_file(path, "sweep")
    path = Path(path)
    if not isinstance(data, Mapping):
        raise ScenarioError(
            f"{path}: a sweep file is a mapping with at least 'base' and 'vary' "
            f"(got {type(data).__name__})"
        )
    if "name" not in data:
        data = {"name": path.stem, **data}
    try:
        spec = _SweepSchema.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ScenarioError(f"{path}: {problems[0]}{more}") from None
    if isinstance(spec.record, int) and spec.record < 1:
        raise ScenarioError(
            f"{path}: record: {spec.record} is not allowed ('summary', 'trajectory' or k >= 1)"
        )
    base: Any = spec.base
    if isinstance(base, str):
        base_path = Path(base) if Path(base).is_absolute() else path.parent / base
        try:
            base = load_scenario(base_path)
        except ScenarioError as exc:
            raise ScenarioError(f"{show_path(path)}: base: {exc}") from None
    else:
        try:
            base = load_scenario(base)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: base: {str(exc).removeprefix('scenario: ')}") from None
    try:
        sweep = Sweep(
            base, vary=spec.vary, design=spec.design, samples=spec.samples,
            replicates=spec.replicates, design_seed=spec.design_seed, name=spec.name,
        )
    except ValueError as exc:  # ScenarioError included
        raise ScenarioError(f"{path}: {exc}") from None
    return SweepFile(sweep, spec.steps, spec.seed, spec.record, spec.description)


def load_sweep(path: str | os.PathLike) -> Sweep:
    """The :class:`~cmo_sim.Sweep` of a sweep file (see :func:`read_sweep_file`)."""
    return read_sweep_file(path).sweep
