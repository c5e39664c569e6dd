"""Sweep designs: factors, unit-hypercube designs (grid, LHS, Sobol/Saltelli, list) and scaling.

A design is held as a unit-hypercube array ``unit: [points, factors]``. :func:`scale` maps it
to factor values: a range factor takes ``low + u (high - low)`` (or the same on a log scale), a
factor with a list of values takes value ``floor(u K)`` of its ``K`` values. Point ``p`` of a
:class:`Sweep` is the base scenario with those values set; its runs are replicates
``0 .. replicates-1`` and replicate ``r`` of every point shares its random numbers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from cmo_sim._errors import ScenarioError, closest
from cmo_sim._limits import check_design
from cmo_sim.scenario import (
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Scenario,
    field_bounds,
    load_scenario,
)

__all__ = ["DESIGNS", "Factor", "Sweep", "parse_factor", "scale", "unit_design"]

Design = Literal["grid", "lhs", "sobol", "morris", "list"]
DESIGNS: tuple[str, ...] = get_args(Design)
#: Levels of each factor's axis in a Morris design (0, 1/3, 2/3, 1 on the unit axis).
MORRIS_LEVELS = 4

#: Paths a sweep may not vary: the sweep names its points and keeps the base's structure.
_STRUCTURE = ("name", "description", "members", "timeline")


@dataclass(frozen=True)
class Factor:
    """One varied scenario field.

    Attributes
    ----------
    path : str
        A partnership context (``"shared_vision"``), ``"entry_point"``, ``"mandated"``,
        ``"lead"`` or a member path (``"members[1].size"``).
    low, high : float or None
        The range of a continuous factor (inclusive).
    log : bool
        Spread a range evenly on a log scale (for sizes).
    values : tuple or None
        The values of a listed (categorical or grid) factor.
    """

    path: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    values: tuple[Any, ...] | None = None

    @property
    def is_range(self) -> bool:
        """True for a continuous range, False for a list of values."""
        return self.values is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able mapping that :func:`parse_factor` reads back into an equal factor."""
        if self.is_range:
            return {"low": self.low, "high": self.high, "log": self.log}
        return {"values": list(self.values)}


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar the scenario schema (strict) accepts."""
    return value.item() if isinstance(value, np.generic) else value


#: Prefixes of theory factors: a rule's weight, or a baseline constant of the theory.
RULE_PREFIX, BASELINE_PREFIX = "rule:", "baseline:"


def theory_factor(path: str) -> tuple[str, str] | None:
    """``("rule", id)`` or ``("baseline", name)`` for a theory factor path, else None."""
    for kind, prefix in (("rule", RULE_PREFIX), ("baseline", BASELINE_PREFIX)):
        if path.startswith(prefix):
            return kind, path[len(prefix):]
    return None


def theory_changes(values: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """The rule weights and baseline constants a design point sets, from its values."""
    weights, baseline = {}, {}
    for path, value in values.items():
        kind = theory_factor(path)
        if kind is not None:
            (weights if kind[0] == "rule" else baseline)[kind[1]] = float(value)
    return weights, baseline


def user_context_factor(path: str) -> tuple[str, str] | None:
    """``(level, name)`` for a factor of a theory's own context, else None.

    Such factors are ``contexts.<name>`` (partnership level) or ``members[i].contexts.<name>``.
    """
    from cmo_sim.scenario import _USER_PATH

    match = _USER_PATH.fullmatch(path)
    if match is None:
        return None
    return ("member" if match.group(1) is not None else "partnership"), match.group(2)


def check_theory_factors(paths: Sequence[str], theory: Any,
                         factors: Sequence[Any] = ()) -> None:
    """Raise ScenarioError for a factor ``theory`` cannot vary.

    That is a rule or baseline constant the theory does not have, or a context it does not
    declare (or values outside the declared range).
    """
    by_path = {f.path: f for f in factors}
    for path in paths:
        user = user_context_factor(path)
        if user is not None:
            level, name = user
            declared = {c.name: c for c in theory.user_contexts}
            info = declared.get(name)
            where = f"vary['{path}']"
            if info is None or info.level != level:
                names = sorted(n for n, c in declared.items() if c.level == level)
                raise ScenarioError(
                    f"{where}: theory {theory.name!r} declares no {level}-level context "
                    f"'{name}'{closest(name, names)} (allowed: {', '.join(names) or 'none'})")
            factor = by_path.get(path)
            if factor is not None:
                low, high = info.range
                values = ([factor.low, factor.high] if factor.values is None
                          else list(factor.values))
                for value in values:
                    if not low <= value <= high:
                        raise ScenarioError(f"{where}: {value:g} is outside the declared range "
                                            f"of '{name}' (allowed: {low:g} .. {high:g})")
            continue
        kind = theory_factor(path)
        if kind is None:
            continue
        known = theory.ids if kind[0] == "rule" else tuple(theory.baseline)
        if kind[1] not in known:
            what = "rule" if kind[0] == "rule" else "baseline constant"
            raise ScenarioError(
                f"vary['{path}']: theory {theory.name!r} has no {what} '{kind[1]}'"
                f"{closest(kind[1], known)}"
            )


def _theory_bounds(path: str) -> tuple[float, float]:
    """Allowed values of a theory factor: weights are >= 0, constants any finite number."""
    return (0.0, math.inf) if path.startswith(RULE_PREFIX) else (-math.inf, math.inf)


def _check_path(path: Any, base: Scenario) -> str:
    if not isinstance(path, str):
        raise ScenarioError(f"vary: {path!r} is not a field path (a string such as 'leadership')")
    where = f"vary['{path}']"
    if theory_factor(path) is not None or user_context_factor(path) is not None:
        return path  # checked against the theory the sweep runs (run_sweep)
    if path in _STRUCTURE:
        raise ScenarioError(
            f"{where}: '{path}' cannot be varied (a sweep names its points and keeps the base's "
            "members and timeline; vary contexts or member attributes)"
        )
    allowed = PARTNERSHIP_FIELDS + ("entry_point", "lead")
    try:
        field_bounds(path)
    except KeyError:
        hint = closest(path, allowed + tuple(f"members[0].{m}" for m in MEMBER_FIELDS))
        raise ScenarioError(
            f"{where}: unknown field path '{path}'{hint} (allowed: a context such as "
            f"{', '.join(allowed[:4])}, ..., entry_point, lead, or members[i].<attribute> "
            f"with attribute one of {', '.join(MEMBER_FIELDS)})"
        ) from None
    if path.startswith("members["):
        index = int(path[len("members[") : path.index("]")])
        if index >= base.n_members:
            raise ScenarioError(
                f"{where}: member index {index} is out of range for base scenario "
                f"'{base.name}' (allowed: 0 .. {base.n_members - 1})"
            )
    return path


def _check_value(where: str, path: str, value: Any, base: Scenario) -> Any:
    value = _plain(value)
    if theory_factor(path) is not None:
        low, high = _theory_bounds(path)
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or not low <= value <= high):
            allowed = "a weight >= 0" if low == 0 else "a finite number"
            raise ScenarioError(f"{where}: {value!r} is not allowed ({allowed})")
        return float(value)
    try:
        base.with_values({path: value})
    except ScenarioError as exc:
        detail = str(exc).split(": ", 1)[-1]  # drop the "<name> (changed)" source
        detail = detail.removeprefix(f"{path}: ")
        raise ScenarioError(f"{where}: {detail}") from None
    return value


def parse_factor(path: Any, spec: Any, base: Scenario) -> Factor:
    """Validate one ``vary`` entry against the base scenario and return its :class:`Factor`.

    Parameters
    ----------
    path : str
        The field path.
    spec : tuple, list or mapping
        ``(low, high)`` or ``(low, high, "log")`` for a continuous range; a list of values for
        a categorical or grid factor; or a mapping ``{low, high, log}`` or ``{values}`` (the
        form sweep files use, where YAML has no tuples).
    base : Scenario
        The base scenario (member indices and values are checked against it).

    Raises
    ------
    ScenarioError
        Naming the path, the value and what is allowed.
    """
    path = _check_path(path, base)
    where = f"vary['{path}']"
    log = False
    if isinstance(spec, Mapping):
        keys = set(spec)
        if keys <= {"low", "high", "log"} and {"low", "high"} <= keys:
            low, high, log = spec["low"], spec["high"], spec.get("log", False)
        elif keys == {"values"}:
            spec = spec["values"]
            if isinstance(spec, tuple):
                spec = list(spec)
        else:
            raise ScenarioError(
                f"{where}: mapping with keys {sorted(map(str, keys))} is not allowed "
                "(allowed: {low, high} with an optional log, or {values})"
            )
    if isinstance(spec, tuple):
        if len(spec) == 3 and spec[2] == "log":
            low, high, log = spec[0], spec[1], True
        elif len(spec) == 2:
            low, high = spec
        else:
            raise ScenarioError(
                f"{where}: {spec!r} is not a range (allowed: (low, high) or (low, high, 'log'); "
                "give a list for a set of values)"
            )
    elif isinstance(spec, list | np.ndarray):
        values = list(spec.tolist() if isinstance(spec, np.ndarray) else spec)
        if not values:
            raise ScenarioError(f"{where}: the list of values is empty (give at least one value)")
        checked = tuple(_check_value(f"{where}[{k}]", path, v, base) for k, v in enumerate(values))
        return Factor(path=path, values=checked)
    elif not isinstance(spec, Mapping):
        raise ScenarioError(
            f"{where}: {spec!r} is not allowed (a range (low, high), (low, high, 'log'), "
            "or a list of values)"
        )
    return _range_factor(where, path, low, high, log)


def _range_factor(where: str, path: str, low: Any, high: Any, log: Any) -> Factor:
    if theory_factor(path) is not None:
        bounds = _theory_bounds(path)
    elif user_context_factor(path) is not None:
        bounds = (-math.inf, math.inf)  # the theory's declared range is checked by run_sweep
    else:
        bounds = field_bounds(path)
    if bounds is None:
        raise ScenarioError(
            f"{where}: '{path}' is not a continuous field, so it takes no range "
            "(give a list of values)"
        )
    if not isinstance(log, bool):
        raise ScenarioError(f"{where}: log {log!r} is not allowed (true or false)")
    allowed = f"allowed: {bounds[0]} .. {bounds[1]}"
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ScenarioError(f"{where}: {name} {value!r} is not a number ({allowed})")
        if not math.isfinite(value):
            raise ScenarioError(f"{where}: {name} {value!r} is not a finite number ({allowed})")
        if not bounds[0] <= value <= bounds[1]:
            raise ScenarioError(f"{where}: {name} {value!r} is out of range ({allowed})")
    low, high = float(low), float(high)
    if low > high:
        raise ScenarioError(f"{where}: low {low} is greater than high {high} (need low < high)")
    if low == high:
        raise ScenarioError(
            f"{where}: the range {low} .. {high} is empty (need low < high; to hold a field "
            "fixed, set it in the base scenario)"
        )
    if log and low <= 0:
        raise ScenarioError(f"{where}: a log-scale range needs low > 0 (got {low})")
    return Factor(path=path, low=low, high=high, log=log)


def scale(unit: np.ndarray, factors: Sequence[Factor]) -> list[np.ndarray]:
    """Map a unit-hypercube design to factor values, one array per factor.

    Parameters
    ----------
    unit : float array ``[points, factors]`` in [0, 1]
    factors : sequence of Factor

    Returns
    -------
    list of arrays ``[points]``: floats for ranges (exactly ``low`` at 0 and ``high`` at 1),
    the listed values otherwise (value ``floor(u K)``, the last one at ``u = 1``).

    Raises
    ------
    ValueError
        If ``unit`` is not a finite 2-d array in [0, 1] with one column per factor.
    """
    unit = np.asarray(unit, dtype=np.float64)
    if unit.ndim != 2 or unit.shape[1] != len(factors):
        raise ValueError(
            f"unit: shape {unit.shape} is not allowed (need [points, {len(factors)}])"
        )
    if not np.isfinite(unit).all() or (unit < 0).any() or (unit > 1).any():
        raise ValueError("unit: values must be finite and in [0, 1]")
    columns = []
    for k, factor in enumerate(factors):
        u = unit[:, k]
        if factor.is_range:
            low, high = factor.low, factor.high
            if factor.log:
                value = np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
            else:
                value = low + u * (high - low)
            value = np.clip(np.where(u == 0.0, low, np.where(u == 1.0, high, value)), low, high)
        else:
            levels = len(factor.values)
            index = np.minimum((u * levels).astype(np.int64), levels - 1)
            value = np.empty(u.size, dtype=object)
            value[:] = [factor.values[i] for i in index]
            if all(isinstance(v, bool) for v in factor.values):
                value = value.astype(bool)
            elif all(isinstance(v, int | float) and not isinstance(v, bool)
                     for v in factor.values):
                value = value.astype(np.float64 if any(isinstance(v, float)
                                                       for v in factor.values) else np.int64)
        columns.append(value)
    return columns


def level_index(unit: np.ndarray, factor: Factor) -> np.ndarray:
    """Index of the listed value each unit coordinate selects (for a factor with values)."""
    levels = len(factor.values)
    return np.minimum((np.asarray(unit) * levels).astype(np.int64), levels - 1)


def unit_design(
    factors: Sequence[Factor],
    design: Design,
    samples: int | None,
    seed: int,
) -> np.ndarray:
    """The unit-hypercube array ``[points, factors]`` of a design.

    grid: the full factorial of every listed value and ``samples`` evenly spaced levels of each
    range (first factor slowest). lhs: ``samples`` points of a Latin hypercube
    (``scipy.stats.qmc``). sobol: SALib's Sobol/Saltelli sample with base ``samples`` (first and
    total order: ``samples * (factors + 2)`` points), which :func:`SALib.analyze.sobol.analyze`
    can analyse. morris: SALib's Morris sample of ``samples`` one-at-a-time trajectories on
    :data:`MORRIS_LEVELS` levels (``samples * (factors + 1)`` points), for
    :func:`SALib.analyze.morris.analyze`. list: point ``k`` takes value ``k`` of every factor's
    list.
    """
    d = len(factors)
    if design == "grid":
        axes = []
        for f in factors:
            if f.is_range:
                axes.append(np.linspace(0.0, 1.0, samples))
            else:
                axes.append((np.arange(len(f.values)) + 0.5) / len(f.values))
        return np.array(list(itertools.product(*axes)), dtype=np.float64).reshape(-1, d)
    if design == "list":
        n = len(factors[0].values)
        return np.repeat(((np.arange(n) + 0.5) / n)[:, None], d, axis=1)
    if design == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d, seed=np.random.default_rng(seed)).random(samples)
    if design == "sobol":
        from SALib.sample import sobol as salib_sobol

        problem = {"num_vars": d, "names": [f.path for f in factors], "bounds": [[0.0, 1.0]] * d}
        unit = salib_sobol.sample(problem, samples, calc_second_order=False, seed=seed)
        return np.clip(unit, 0.0, 1.0)
    if design == "morris":
        from SALib.sample import morris as salib_morris

        problem = {"num_vars": d, "names": [f.path for f in factors], "bounds": [[0.0, 1.0]] * d}
        rng = np.random.default_rng(seed)  # a local generator for SALib's trajectories
        unit = salib_morris.sample(problem, samples, num_levels=MORRIS_LEVELS, seed=rng)
        return np.clip(unit, 0.0, 1.0)
    raise ValueError(f"design: {design!r} is not allowed (allowed: {', '.join(DESIGNS)})")


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: {value!r} is not allowed (an int >= {low})")
    return int(value)


def _check_samples(design: str, samples: Any, factors: Sequence[Factor]) -> int | None:
    ranges = [f.path for f in factors if f.is_range]
    if design == "list":
        if samples is not None:
            raise ValueError(
                "samples: a list design takes no samples (its points are the lists' entries)"
            )
        if ranges:
            raise ScenarioError(
                f"vary['{ranges[0]}']: a list design needs a list of values for every factor, "
                "not a range"
            )
        lengths = {f.path: len(f.values) for f in factors}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{p}: {n}" for p, n in lengths.items())
            raise ScenarioError(
                f"vary: a list design needs lists of one length (got {shown})"
            )
        return None
    if design == "grid":
        if not ranges:
            if samples is not None:
                raise ValueError(
                    "samples: not used by a grid of value lists (give it only with a range)"
                )
            return None
        if samples is None:
            raise ValueError(
                f"samples: a grid with a range ('{ranges[0]}') needs samples, the number of "
                "levels per range (an int >= 2)"
            )
        return _check_int("samples", samples, 2)
    if samples is None:
        what = {"lhs": "points", "morris": "trajectories (an int >= 2)"}.get(
            design, "base samples N (a power of 2 is best)")
        raise ValueError(f"samples: the {design} design needs samples, the number of {what}")
    samples = _check_int("samples", samples, 2 if design in ("lhs", "morris") else 1)
    if design == "sobol" and samples & (samples - 1):
        raise ValueError(
            f"samples: {samples} is not allowed for a Sobol design (a power of 2, e.g. "
            f"{1 << max(samples.bit_length() - 1, 0)} or {1 << samples.bit_length()}, "
            "keeps the Sobol sequence balanced)"
        )
    return samples


class Sweep:
    """A scenario sweep: a base scenario, the factors it varies and a design.

    Parameters
    ----------
    base : Scenario, path or mapping
        The scenario every design point starts from.
    vary : mapping of field path to range or values
        ``{"shared_vision": (0.2, 0.8), "members[1].size": (100, 10000, "log"),
        "entry_point": ["funding_pressure", "innovation"]}``: a tuple is a continuous range
        ``(low, high)`` (add ``"log"`` for a log scale), a list is a set of values. Mappings
        ``{low, high, log}`` and ``{values}`` are accepted too (the sweep-file form).
    design : "grid", "lhs", "sobol", "morris" or "list"
        grid: full factorial (``samples`` levels per range); lhs: ``samples`` Latin-hypercube
        points; sobol: SALib's Sobol/Saltelli sample with base ``samples`` (a power of 2), for
        :func:`cmo_sim.analysis.sobol_indices`; morris: ``samples`` Morris trajectories on four
        levels, for :func:`cmo_sim.analysis.morris_indices`; list: point ``k`` takes value
        ``k`` of every list.
    samples : int, optional
        See ``design``.
    replicates : int
        Runs per design point; replicate ``r`` of every point shares its random numbers.
    design_seed : int
        Seeds the LHS permutation or the Sobol scrambling (not the simulation).

    Notes
    -----
    Varying ``entry_point`` applies that entry point's preset on top of the base scenario
    (review Table 2); factors varied explicitly win over the preset. A factor sets a field's
    value from the start; a change the base's timeline makes to that field later still happens
    at its step. Everything is validated
    here, before any run: unknown paths, empty or reversed ranges and values outside a field's
    range raise :class:`~cmo_sim.ScenarioError` naming the factor.
    """

    def __init__(
        self,
        base: Scenario | str | Mapping,
        *,
        vary: Mapping[str, Any],
        design: Design = "grid",
        samples: int | None = None,
        replicates: int = 32,
        design_seed: int = 0,
        name: str = "sweep",
    ) -> None:
        self._init(base, vary, design, samples, replicates, design_seed, name, unit=None)

    def _init(self, base, vary, design, samples, replicates, design_seed, name, unit) -> None:
        self.base: Scenario = load_scenario(base)
        if design not in DESIGNS:
            raise ValueError(f"design: {design!r} is not allowed (allowed: {', '.join(DESIGNS)})")
        if not isinstance(vary, Mapping) or not vary:
            raise ScenarioError(
                "vary: give a mapping of field paths to ranges or lists of values "
                "(at least one factor)"
            )
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: {name!r} is not allowed (a non-empty string)")
        self.name = name
        self.factors: tuple[Factor, ...] = tuple(
            parse_factor(path, spec, self.base) for path, spec in vary.items()
        )
        self.design: str = design
        self.samples = _check_samples(design, samples, self.factors)
        self.replicates = _check_int("replicates", replicates, 1)
        self.design_seed = _check_int("design_seed", design_seed, 0)
        if unit is None:
            # Refused before it is built if its points would not fit in memory (256 levels
            # of 4 ranges in a grid is 4.3e9 points).
            check_design(design, self.samples,
                         [None if f.is_range else len(f.values) for f in self.factors])
            unit = unit_design(self.factors, design, self.samples, self.design_seed)
        self.unit: np.ndarray = np.asarray(unit, dtype=np.float64)
        self.unit.setflags(write=False)
        columns = scale(self.unit, self.factors)
        self.values = pd.DataFrame(
            {f.path: col for f, col in zip(self.factors, columns, strict=True)},
            index=pd.RangeIndex(self.n_points, name="point"),
        )

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], unit: np.ndarray | None = None) -> Sweep:
        """Rebuild a sweep from :meth:`spec` (and, if given, its stored unit design)."""
        sweep = cls.__new__(cls)
        sweep._init(
            spec["base"], {f["path"]: {k: v for k, v in f.items() if k != "path"}
                           for f in spec["factors"]},
            spec["design"], spec["samples"], spec["replicates"], spec["design_seed"],
            spec.get("name", "sweep"), unit=unit,
        )
        return sweep

    # -- shape ------------------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        """Number of design points."""
        return int(self.unit.shape[0])

    @property
    def n_runs(self) -> int:
        """Number of runs: points x replicates (point-major)."""
        return self.n_points * self.replicates

    @property
    def paths(self) -> tuple[str, ...]:
        """The varied field paths in order."""
        return tuple(f.path for f in self.factors)

    def point_name(self, point: int) -> str:
        """The scenario name of a design point, e.g. ``p000123``."""
        return f"p{int(point):06d}"

    def point_values(self, point: int) -> dict[str, Any]:
        """The factor values of one design point as plain Python values."""
        row = self.values.iloc[int(point)]
        return {path: _plain(row[path]) for path in self.paths}

    def scenario(self, point: int) -> Scenario:
        """The scenario of one design point: the base with the point's values set."""
        if isinstance(point, bool) or not isinstance(point, int | np.integer) or not (
            0 <= point < self.n_points
        ):
            raise ValueError(
                f"point: {point!r} is not allowed (an int in 0 .. {self.n_points - 1})"
            )
        return point_scenario(self.base, self.point_values(point), self.point_name(point))

    def problem(self) -> dict[str, Any]:
        """The SALib problem on the unit hypercube (what the Sobol sample was drawn for)."""
        d = len(self.factors)
        return {"num_vars": d, "names": list(self.paths), "bounds": [[0.0, 1.0]] * d}

    # -- identity ---------------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """A JSON-able description: base scenario, factors, design, samples, replicates."""
        return {
            "name": self.name,
            "base": self.base.to_dict(),
            "factors": [{"path": f.path, **f.to_dict()} for f in self.factors],
            "design": self.design,
            "samples": self.samples,
            "replicates": self.replicates,
            "design_seed": self.design_seed,
        }

    def design_hash(self) -> str:
        """SHA-256 of the unit design array (exact bytes)."""
        unit = np.ascontiguousarray(self.unit, dtype="<f8")
        return hashlib.sha256(unit.tobytes() + str(unit.shape).encode()).hexdigest()

    def __repr__(self) -> str:
        return (
            f"Sweep({self.name!r}, base={self.base.name!r}, design={self.design!r}, "
            f"factors={list(self.paths)}, points={self.n_points}, "
            f"replicates={self.replicates})"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Sweep)
            and _canonical(self.spec()) == _canonical(other.spec())
            and self.design_hash() == other.design_hash()
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking; compare by value only


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def point_scenario(base: Scenario, values: Mapping[str, Any], name: str) -> Scenario:
    """The base scenario with a design point's values.

    An ``entry_point`` value re-applies presets as :meth:`Scenario.with_values` does: the
    contexts the base holds at its own preset's (or the default) value take the new preset's.
    """
    changes = {path: value for path, value in values.items() if theory_factor(path) is None}
    changes["name"] = name
    return base.with_values(changes)
