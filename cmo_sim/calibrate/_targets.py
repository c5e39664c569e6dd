"""Calibration targets: what was observed, how it is measured in the simulation, and its source.

A target is one number observed about one scenario (a share of partnerships still in place, a
hazard, a median month), with the tolerance within which a simulation counts as matching it
and the source it comes from. Targets come as :class:`Target` objects, mappings, a YAML or
CSV file, or a DataFrame; each is checked field by field, and against the scenarios and the
simulated months, before anything is simulated.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cmo_sim._errors import _InputError, closest
from cmo_sim._yaml import read_yaml_file, show_path

__all__ = ["END_STATES", "MEASURES", "CalibrationError", "Target", "check_targets",
           "load_targets"]


class CalibrationError(_InputError):
    """Calibration targets, priors or settings are not valid.

    The message names the field (``targets[3].month``, ``vary['faith_initial']``), the value
    and what is allowed; it is raised before anything is simulated.
    """


try:  # the engine's end states, once it reports them
    from cmo_sim.results import END_STATES as _ENGINE_END_STATES
except ImportError:  # pragma: no cover - an engine without end states
    _ENGINE_END_STATES = None

#: How a partnership stands at a month: in place and thriving or struggling, or ended
#: (dissolved, or completed its task).
END_STATES: tuple[str, ...] = tuple(_ENGINE_END_STATES or
                                    ("thriving", "struggling", "dissolved", "completed"))

#: The measures a target can observe, and what each is (``m`` is the target's month).
MEASURES: dict[str, str] = {
    "in_place": "share of runs not ended (neither dissolved nor completed) by month m",
    "share": "share of runs in end state `state` at month m",
    "dissolved_by": "share of runs dissolved by month m",
    "hazard": "annual dissolution hazard: runs dissolved in months m-12 .. m-1 among those in "
              "place at month m-12",
    "median_ended": "median month of ending of the runs that ended by month m",
    "achieved": "share of runs that completed a fixed term by month m with its aim achieved "
                "(result achieved: turnaround)",
}
#: Measures whose value is a share in [0, 1].
SHARE_MEASURES = ("in_place", "share", "dissolved_by", "hazard", "achieved")

_FIELDS = ("scenario", "measure", "month", "state", "value", "tolerance", "source")
_REQUIRED = ("scenario", "measure", "month", "value", "tolerance", "source")


def _missing(value: Any) -> bool:
    """None, NaN, or an empty string: a cell left empty in a file."""
    if value is None:
        return True
    if isinstance(value, float | np.floating) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise CalibrationError(f"{where}: {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise CalibrationError(f"{where}: {value!r} is not a finite number")
    return number


def _checked(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The fields of one target, checked and normalised; CalibrationError naming the field."""
    if not isinstance(values, Mapping):
        raise CalibrationError(f"{where}: {values!r} is not a mapping of target fields "
                               f"({', '.join(_FIELDS)})")
    for key in values:
        if key not in _FIELDS:
            raise CalibrationError(f"{where}: unknown field {key!r}{closest(str(key), _FIELDS)} "
                                   f"(allowed: {', '.join(_FIELDS)})")
    for key in _REQUIRED:
        if _missing(values.get(key)):
            raise CalibrationError(f"{where}.{key}: missing (empty or NaN; every target needs "
                                   f"{', '.join(_REQUIRED)})")
    scenario, measure, source = values["scenario"], values["measure"], values["source"]
    for key, text in (("scenario", scenario), ("measure", measure), ("source", source)):
        if not isinstance(text, str):
            raise CalibrationError(f"{where}.{key}: {text!r} is not text")
    if measure not in MEASURES:
        raise CalibrationError(f"{where}.measure: unknown measure {measure!r}"
                               f"{closest(measure, MEASURES)} (allowed: {', '.join(MEASURES)})")
    state = values.get("state")
    if measure == "share":
        if _missing(state):
            raise CalibrationError(f"{where}.state: missing (measure 'share' needs the end "
                                   f"state: one of {', '.join(END_STATES)})")
        if state not in END_STATES:
            raise CalibrationError(f"{where}.state: unknown end state {state!r}"
                                   f"{closest(str(state), END_STATES)} "
                                   f"(allowed: {', '.join(END_STATES)})")
    elif not _missing(state):
        raise CalibrationError(f"{where}.state: {state!r} is given, but only measure 'share' "
                               f"takes a state (this target's measure is {measure!r})")
    else:
        state = None
    month = values["month"]
    if isinstance(month, bool) or not isinstance(month, int | float | np.integer | np.floating):
        raise CalibrationError(f"{where}.month: {month!r} is not a whole number of months")
    if not math.isfinite(float(month)) or float(month) != int(month):
        raise CalibrationError(f"{where}.month: {month!r} is not a whole number of months")
    month = int(month)
    low = 12 if measure == "hazard" else 1
    if month < low:
        why = " (a hazard is over the year ending at the month)" if measure == "hazard" else ""
        raise CalibrationError(f"{where}.month: {month} is not allowed (at least {low}{why})")
    value = _number(f"{where}.value", values["value"])
    if measure in SHARE_MEASURES and not 0.0 <= value <= 1.0:
        raise CalibrationError(f"{where}.value: {value:g} is out of range for measure "
                               f"{measure!r} (a share: 0 .. 1)")
    if measure == "median_ended" and not 0.0 <= value <= month:
        raise CalibrationError(f"{where}.value: {value:g} is out of range for measure "
                               f"'median_ended' (a month: 0 .. {month})")
    tolerance = _number(f"{where}.tolerance", values["tolerance"])
    if tolerance <= 0:
        raise CalibrationError(f"{where}.tolerance: {tolerance:g} is not allowed (an absolute "
                               "tolerance > 0)")
    if not source.strip():
        raise CalibrationError(f"{where}.source: empty (say where the value comes from)")
    return {"scenario": scenario, "measure": measure, "month": month, "state": state,
            "value": value, "tolerance": tolerance, "source": source.strip()}


@dataclass(frozen=True)
class Target:
    """One observed value that the calibration should reproduce.

    Attributes
    ----------
    scenario : str
        Name of the scenario (``Scenario.name``) the value is about.
    measure : str
        One of :data:`MEASURES`.
    month : int
        The month the value refers to, 1 .. the simulated months (12 or more for ``hazard``).
    value : float
        The observed value: a share in [0, 1], or a month for ``median_ended``.
    tolerance : float
        Absolute; a simulated value within ``value +- tolerance`` matches.
    source : str
        Where the value comes from (citation, data set, expert judgement).
    state : str or None
        For measure ``share`` only: one of :data:`END_STATES`.
    """

    scenario: str
    measure: str
    month: int
    value: float
    tolerance: float
    source: str
    state: str | None = None

    def __post_init__(self) -> None:
        for key, value in _checked(asdict(self), "target").items():
            object.__setattr__(self, key, value)

    def label(self) -> str:
        """A short label: ``scenario: measure[state] @ month``."""
        what = f"share {self.state}" if self.measure == "share" else self.measure
        return f"{self.scenario}: {what} @ {self.month}"


def _from_records(records: Sequence[Any], prefix: str = "",
                  rows: Sequence[int] | None = None) -> list[Target]:
    out = []
    for k, entry in enumerate(records):
        where = f"{prefix}targets[{k}]"
        if rows is not None:
            where = f"{prefix}targets[{k}] (line {rows[k]})"
        if isinstance(entry, Target):
            out.append(entry)
            continue
        try:
            out.append(Target(**_checked(entry, where)))
        except TypeError:  # pragma: no cover - _checked refuses unknown fields first
            raise CalibrationError(f"{where}: not a target") from None
    return out


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a DataFrame as plain mappings (numpy scalars as Python ones, NaN kept)."""
    records = []
    for row in frame.to_dict("records"):
        records.append({str(k): (v.item() if isinstance(v, np.generic) else v)
                        for k, v in row.items()})
    return records


def _read_csv(path: Path, shown: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"scenario": str, "measure": str, "state": str,
                                         "source": str}, skipinitialspace=True)
    except FileNotFoundError:
        raise CalibrationError(f"{shown}: no such targets file") from None
    except IsADirectoryError:
        raise CalibrationError(f"{shown}: no such targets file (this is a directory)") from None
    except OSError as exc:
        raise CalibrationError(f"{shown}: cannot read the targets file "
                               f"({exc.strerror or exc})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise CalibrationError(f"{shown}: not a valid CSV targets file: {first}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def load_targets(targets: Any) -> list[Target]:
    """Targets from a list (of Target or mappings), a YAML or CSV file, or a DataFrame.

    A YAML file is a list of mappings, or a mapping with the list under ``targets:``; a CSV
    file (or DataFrame) has one row per target. The fields: ``scenario``, ``measure``,
    ``month``, ``state`` (measure ``share`` only; empty otherwise), ``value``, ``tolerance``
    and ``source``.

    Raises
    ------
    CalibrationError
        For an unreadable file or a bad field, naming the file, ``targets[i]`` and the field.
    """
    if isinstance(targets, Target):
        return [targets]
    if isinstance(targets, pd.DataFrame):
        unknown = [c for c in targets.columns if c not in _FIELDS]
        if unknown:
            raise CalibrationError(f"targets: unknown column {unknown[0]!r}"
                                   f"{closest(str(unknown[0]), _FIELDS)} "
                                   f"(allowed: {', '.join(_FIELDS)})")
        out = _from_records(_frame_records(targets))
    elif isinstance(targets, str | os.PathLike):
        path = Path(targets)
        shown = show_path(targets)
        prefix = f"{shown}: "
        if path.suffix.lower() == ".csv":
            frame = _read_csv(path, shown)
            unknown = [c for c in frame.columns if c not in _FIELDS]
            if unknown:
                raise CalibrationError(f"{prefix}unknown column {unknown[0]!r}"
                                       f"{closest(unknown[0], _FIELDS)} "
                                       f"(allowed: {', '.join(_FIELDS)})")
            out = _from_records(_frame_records(frame), prefix,
                                rows=list(range(2, len(frame) + 2)))
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = read_yaml_file(path, "targets", CalibrationError)
            if isinstance(data, Mapping):
                extra = [k for k in data if k != "targets"]
                if extra or "targets" not in data:
                    key = extra[0] if extra else None
                    raise CalibrationError(f"{prefix}unknown key {key!r} (a targets file is a "
                                           "list of targets, or has them under 'targets:')")
                data = data["targets"]
            if not isinstance(data, list):
                raise CalibrationError(f"{prefix}expected a list of targets, got "
                                       f"{type(data).__name__}")
            out = _from_records(data, prefix)
        else:
            raise CalibrationError(f"{shown}: a targets file ends in .yaml, .yml or .csv")
    elif isinstance(targets, Sequence) and not isinstance(targets, str | bytes):
        out = _from_records(list(targets))
    else:
        raise CalibrationError(f"targets: give a list of Target or mappings, a YAML or CSV "
                               f"path, or a DataFrame (got {type(targets).__name__})")
    if not out:
        raise CalibrationError("targets: the list is empty (give at least one target)")
    return out


def check_targets(targets: Sequence[Target], scenarios: Sequence[str], steps: int,
                  *, end_states: bool) -> None:
    """CalibrationError for a target the simulation cannot measure.

    That is a scenario not simulated, a month beyond ``steps``, or (when the engine does not
    report ``end_states``) a share of an end state other than dissolved.
    """
    for k, target in enumerate(targets):
        where = f"targets[{k}]"
        if target.scenario not in scenarios:
            raise CalibrationError(
                f"{where}.scenario: unknown scenario {target.scenario!r}"
                f"{closest(target.scenario, scenarios)} (simulated: {', '.join(scenarios)})")
        if target.month > steps:
            raise CalibrationError(f"{where}.month: {target.month} is beyond the simulated "
                                   f"steps ({steps})")
        if target.measure == "share" and target.state != "dissolved" and not end_states:
            raise CalibrationError(f"{where}.state: {target.state!r} cannot be measured: this "
                                   "engine does not report end states (only 'dissolved')")


def targets_frame(targets: Sequence[Target]) -> pd.DataFrame:
    """The targets as a table, one row per target (columns in the file order)."""
    return pd.DataFrame([{f.name: getattr(t, f.name) for f in fields(Target)} for t in targets],
                        columns=["scenario", "measure", "month", "state", "value", "tolerance",
                                 "source"])
