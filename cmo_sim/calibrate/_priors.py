"""The calibrated parameters: baseline constants and rule weights, each with a uniform prior."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmo_sim._errors import closest
from cmo_sim.calibrate._targets import CalibrationError
from cmo_sim.theory import Theory
from cmo_sim.theory._model import BASELINE_RANGES

__all__ = ["Prior", "apply", "check_vary"]

RULE_PREFIX, BASELINE_PREFIX = "rule:", "baseline:"


@dataclass(frozen=True)
class Prior:
    """A uniform prior on one parameter.

    Attributes
    ----------
    name : str
        As the caller wrote it: a baseline constant (``faith_initial`` or
        ``baseline:faith_initial``) or a rule weight (``rule:<id>``).
    kind : str
        ``"baseline"`` or ``"rule"``.
    key : str
        The constant's name or the rule's id.
    low, high : float
        The bounds, ``low < high``.
    """

    name: str
    kind: str
    key: str
    low: float
    high: float


def _bound(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise CalibrationError(f"{where}: {value!r} is not a number")
    if not math.isfinite(float(value)):
        raise CalibrationError(f"{where}: {value!r} is not finite")
    return float(value)


def check_vary(vary: Any, theory: Theory) -> list[Prior]:
    """The priors of ``vary``; CalibrationError naming the entry for anything the theory lacks.

    Names are baseline constants (plain, or with the prefix ``baseline:``) and rule weights
    (``rule:<id>``); each maps to ``(low, high)`` with ``low < high``, both finite, within the
    constant's documented range (:data:`cmo_sim.theory._model.BASELINE_RANGES`) or, for a
    weight, ``>= 0``.
    """
    if not isinstance(vary, Mapping) or not vary:
        raise CalibrationError("vary: give a mapping of at least one parameter to (low, high), "
                               "e.g. {'faith_initial': (0.4, 0.8)}")
    priors = []
    for name, bounds in vary.items():
        where = f"vary[{name!r}]"
        if not isinstance(name, str):
            raise CalibrationError(f"{where}: a parameter is named by a string")
        if name.startswith(RULE_PREFIX):
            kind, key = "rule", name[len(RULE_PREFIX):]
            if key not in theory.ids:
                raise CalibrationError(f"{where}: theory {theory.name!r} has no rule {key!r}"
                                       f"{closest(key, theory.ids)}")
            allowed = (0.0, math.inf)
        else:
            kind, key = "baseline", name.removeprefix(BASELINE_PREFIX)
            if key not in theory.baseline:
                choices = list(theory.baseline) + [RULE_PREFIX + i for i in theory.ids]
                raise CalibrationError(
                    f"{where}: theory {theory.name!r} has no baseline constant {key!r}"
                    f"{closest(key, choices)} (allowed: a baseline constant, or "
                    "'rule:<id>' for a rule's weight)")
            allowed = BASELINE_RANGES.get(key, (-math.inf, math.inf))
        if (isinstance(bounds, str | bytes | Mapping) or not hasattr(bounds, "__len__")
                or len(bounds) != 2):
            raise CalibrationError(f"{where}: {bounds!r} is not a pair (low, high)")
        low, high = _bound(f"{where}.low", bounds[0]), _bound(f"{where}.high", bounds[1])
        if low >= high:
            raise CalibrationError(f"{where}: low {low:g} is not below high {high:g}")
        what = "weight" if kind == "rule" else f"baseline.{key}"
        for side, value in (("low", low), ("high", high)):
            if not allowed[0] <= value <= allowed[1]:
                shown = (f"{allowed[0]:g} .. {allowed[1]:g}" if math.isfinite(allowed[1])
                         else f">= {allowed[0]:g}")
                raise CalibrationError(f"{where}.{side}: {value:g} is outside the allowed "
                                       f"range of {what} (allowed: {shown})")
        priors.append(Prior(name, kind, key, low, high))
    keys = [(p.kind, p.key) for p in priors]
    for k, item in enumerate(keys):
        if item in keys[:k]:
            raise CalibrationError(f"vary[{priors[k].name!r}]: the same parameter is varied "
                                   "twice")
    return priors


def apply(theory: Theory, priors: list[Prior], values: Mapping[str, float]) -> Theory:
    """``theory`` with the parameters set to ``values`` (keyed by prior name)."""
    baseline = {p.key: float(values[p.name]) for p in priors if p.kind == "baseline"}
    weights = {p.key: float(values[p.name]) for p in priors if p.kind == "rule"}
    if baseline:
        theory = theory.with_baseline(**baseline)
    if weights:
        theory = theory.with_weights(weights)
    return theory
