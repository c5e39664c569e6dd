"""Scenario discovery over a sweep: the circumstances in which an outcome happens.

PRIM (with its peeling trajectory), CART and feature scoring come from the EMA Workbench's
analysis modules (``pip install 'cmo-sim[discovery]'``); this module prepares a sweep's design
values and a yes/no outcome for them and returns what they find as plain data, each box tied to
the CMO rules whose contexts bound it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cmo_sim.sweep.designs import theory_factor
from cmo_sim.sweep.results import SweepResults
from cmo_sim.theory import Theory, load_theory

__all__ = ["Discovery", "DiscoveryBox", "discover"]

Per = Literal["point", "run"]


@dataclass(frozen=True)
class DiscoveryBox:
    """One box of contexts: where the outcome happens more often than elsewhere.

    Attributes
    ----------
    limits : pandas.DataFrame
        One row per restricted factor: ``lower`` and ``upper`` (numeric factors), ``values``
        (the allowed levels of a listed factor), and PRIM's quasi-p-value ``qp`` (the larger of
        the lower and upper limit's; NaN from CART).
    coverage : float
        Share of all the cases of interest that lie in the box.
    density : float
        Share of the cases in the box that are of interest.
    mass : float
        Share of all cases in the box.
    rules : dict of str to list of str
        For each restricted factor, the ids of the theory's rules whose context it is.
    """

    limits: pd.DataFrame
    coverage: float
    density: float
    mass: float
    rules: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = []
        for factor, row in self.limits.iterrows():
            if isinstance(row.get("values"), list | tuple):
                parts.append(f"{factor} in {{{', '.join(map(str, row['values']))}}}")
            else:
                parts.append(f"{row['lower']:.3g} <= {factor} <= {row['upper']:.3g}")
        return (f"{' and '.join(parts) or '(whole space)'}: coverage {self.coverage:.2f}, "
                f"density {self.density:.2f}, mass {self.mass:.2f}")


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` returns.

    Attributes
    ----------
    boxes : list of DiscoveryBox
        PRIM's chosen box first (or CART's leaves of interest, densest first).
    trajectory : pandas.DataFrame or None
        PRIM's peeling trajectory: ``coverage``, ``density``, ``mass``, ``res_dim`` of every
        box from the whole space to the chosen one (``None`` for CART).
    feature_scores : pandas.Series
        Each factor's importance for the outcome (extra-trees feature scoring), highest first.
    meta : dict
        Outcome, threshold, direction, cases (points or runs), share of interest, method.
    """

    boxes: list[DiscoveryBox]
    trajectory: pd.DataFrame | None
    feature_scores: pd.Series
    meta: dict[str, Any]

    def plot(self, ax: Any = None):
        """The peeling trajectory (PRIM) and the chosen box's limits."""
        from cmo_sim.plot import discovery

        return discovery(self, ax=ax)


def _import_ema():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the Workbench warns about optional extras
            from ema_workbench.analysis import cart, feature_scoring, prim
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "scenario discovery needs the EMA Workbench: pip install 'cmo-sim[discovery]'"
        ) from exc
    return prim, cart, feature_scoring


def _cases(results: SweepResults, outcome: str, per: Per) -> tuple[pd.DataFrame, np.ndarray]:
    """Design values (one row per case) and the outcome per case."""
    design = results.design.copy()
    if per == "point":
        y = results.point_means(outcome)
        x = design.reset_index(drop=True)
    else:
        y = results.outcome_values(outcome).to_numpy(dtype=np.float64)
        x = design.loc[results.summary["point"].to_numpy()].reset_index(drop=True)
    for column in x.columns:
        if x[column].dtype == object or isinstance(x[column].dtype, pd.CategoricalDtype):
            x[column] = x[column].astype("category")
    return x, y


def _rules_for(factors: Sequence[str], theory: Theory) -> dict[str, list[str]]:
    rules = {}
    for factor in factors:
        kind = theory_factor(factor)
        if kind is not None:
            rules[factor] = [kind[1]] if kind[0] == "rule" else []
            continue
        context = factor.rsplit(".", 1)[-1]
        if context == "entry_point":
            rules[factor] = [r.id for r in theory if r.id.startswith("entry.")]
        else:
            rules[factor] = [r.id for r in theory if r.context == context]
    return rules


def discover(
    results: SweepResults,
    outcome: str,
    *,
    threshold: float,
    above: bool = True,
    per: Per = "point",
    method: Literal["prim", "cart"] = "prim",
    density: float = 0.8,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
    theory: Theory | None = None,
    seed: int = 0,
) -> Discovery:
    """Find the contexts in which ``outcome`` is above (or below) ``threshold``.

    Parameters
    ----------
    results : SweepResults
        A sweep (any design; LHS spreads the cases best).
    outcome : str
        A numeric summary column, e.g. ``"dissolved"``.
    threshold : float
        A case is of interest when its value is above ``threshold`` (or below, ``above=False``).
    per : "point" or "run"
        ``"point"``: each design point is a case, its value the mean over its replicates (e.g.
        the share dissolved); ``"run"``: each run is a case with its own value.
    method : "prim" or "cart"
        PRIM (Friedman & Fisher 1999), or a classification tree's leaves.
    density : float
        PRIM: peel until the box's density (share of cases of interest) reaches this.
    peel_alpha, mass_min : float
        PRIM: share of cases peeled per step; smallest box (share of cases).
    theory : Theory, optional
        Whose rules to name for each restricting factor (the default theory otherwise).
    seed : int
        Seeds the extra-trees feature scoring (its own generator).

    Raises
    ------
    ValueError
        For an unknown outcome, a threshold that selects no case or every case, or a bad
        option; ImportError naming the extra when the EMA Workbench is missing.
    """
    if not isinstance(results, SweepResults):
        raise ValueError(f"results: {results!r} is not SweepResults (from cmo_sim.run_sweep)")
    if per not in ("point", "run"):
        raise ValueError(f"per: {per!r} is not allowed (allowed: 'point', 'run')")
    if method not in ("prim", "cart"):
        raise ValueError(f"method: {method!r} is not allowed (allowed: 'prim', 'cart')")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(
            threshold):
        raise ValueError(f"threshold: {threshold!r} is not a finite number")
    for name, value, low, high in (("density", density, 0.0, 1.0),
                                   ("peel_alpha", peel_alpha, 0.0, 0.5),
                                   ("mass_min", mass_min, 0.0, 1.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
            raise ValueError(f"{name}: {value!r} is not allowed (a number in ({low}, {high}))")
    theory = load_theory() if theory is None else theory
    x, values = _cases(results, outcome, per)
    known = np.isfinite(values)
    if not known.all():
        x, values = x[known].reset_index(drop=True), values[known]
    y = values > threshold if above else values < threshold
    share = float(y.mean()) if y.size else 0.0
    side = "above" if above else "below"
    if y.sum() == 0 or y.all():
        raise ValueError(
            f"threshold: {outcome} {side} {threshold} selects {'no' if y.sum() == 0 else 'every'}"
            f" {per} ({outcome} ranges {np.min(values):.3g} .. {np.max(values):.3g} over the "
            f"{len(values)} {per}s); choose a threshold inside that range"
        )
    prim, cart, feature_scoring = _import_ema()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, _ = feature_scoring.get_ex_feature_scores(
            x, y.astype(int), random_state=int(seed))
    scores = scores.iloc[:, 0].sort_values(ascending=False)
    scores.name = "feature_score"
    trajectory = None
    if method == "prim":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = prim.Prim(x, y, threshold=float(density), peel_alpha=float(peel_alpha),
                              mass_min=float(mass_min))
            box = found.find_box()
        trajectory = box.peeling_trajectory[["coverage", "density", "mass", "res_dim"]].copy()
        i = len(box.box_lims) - 1
        boxes = [_prim_box(box, i, x, theory)]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = cart.CART(x, y, mass_min=float(mass_min))
            tree.build_tree()
        boxes = _cart_boxes(tree, x, y, theory)
    ranges = {str(c): (float(x[c].min()), float(x[c].max())) for c in x.columns
              if not isinstance(x[c].dtype, pd.CategoricalDtype)}
    meta = {"outcome": outcome, "threshold": float(threshold), "above": bool(above),
            "per": per, "cases": int(len(y)), "of_interest": share, "method": method,
            "ranges": ranges}
    return Discovery(boxes, trajectory, scores, meta)


def _restricted(limits: pd.DataFrame, x: pd.DataFrame) -> list[str]:
    """Factors whose limits are narrower than the data's range."""
    out = []
    for column in x.columns:
        if isinstance(x[column].dtype, pd.CategoricalDtype):
            allowed = limits.loc[0, column]
            if set(allowed) != set(x[column].cat.categories):
                out.append(column)
        elif limits.loc[0, column] > x[column].min() or limits.loc[1, column] < x[column].max():
            out.append(column)
    return out


def _limits_frame(limits: pd.DataFrame, x: pd.DataFrame, qp: dict | None) -> pd.DataFrame:
    rows = {}
    for column in _restricted(limits, x):
        if isinstance(x[column].dtype, pd.CategoricalDtype):
            rows[column] = {"lower": np.nan, "upper": np.nan,
                            "values": sorted(map(str, limits.loc[0, column]))}
        else:
            rows[column] = {"lower": float(limits.loc[0, column]),
                            "upper": float(limits.loc[1, column]), "values": None}
        rows[column]["qp"] = float(max(qp[column])) if qp and column in qp else np.nan
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["lower", "upper", "values", "qp"])
    frame.index.name = "factor"
    return frame


def _prim_box(box: Any, i: int, x: pd.DataFrame, theory: Theory) -> DiscoveryBox:
    stats = box.peeling_trajectory.iloc[i]
    limits = _limits_frame(box.box_lims[i], x, box.qp[i])
    return DiscoveryBox(limits, float(stats["coverage"]), float(stats["density"]),
                        float(stats["mass"]), _rules_for(list(limits.index), theory))


def _cart_boxes(tree: Any, x: pd.DataFrame, y: np.ndarray, theory: Theory) -> list:
    boxes = []
    total = y.sum()
    for limits in tree.boxes:
        inside = np.ones(len(x), dtype=bool)
        for column in x.columns:
            if isinstance(x[column].dtype, pd.CategoricalDtype):
                inside &= x[column].isin(list(limits.loc[0, column])).to_numpy()
            else:
                inside &= ((x[column] >= limits.loc[0, column])
                           & (x[column] <= limits.loc[1, column])).to_numpy()
        if not inside.any():
            continue
        frame = _limits_frame(limits, x, None)
        density = float(y[inside].mean())
        boxes.append(DiscoveryBox(frame, float(y[inside].sum() / total), density,
                                  float(inside.mean()), _rules_for(list(frame.index), theory)))
    of_interest = [b for b in boxes if b.density > y.mean()]
    return sorted(of_interest, key=lambda b: (-b.density, -b.coverage))
