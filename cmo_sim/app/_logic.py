"""What the explorer shows, without Solara: controls, scenarios from them, numbers and figures.

Everything here is plain Python and matplotlib (no pyplot), so it can be tested and reused
without a browser: :func:`apply_values` turns the controls' values into a validated scenario
(or a message), :func:`batch_view` runs the numpy core and summarises it, and the ``*_figure``
functions draw one partnership of the Mesa engine.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from cmo_sim._errors import ScenarioError
from cmo_sim.scenario import (
    ENTRY_POINTS,
    FORMS,
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Scenario,
    field_bounds,
    load_scenario,
)

__all__ = [
    "APP_SCENARIO_ENV",
    "CONTEXT_GROUPS",
    "MEMBER_CONTROLS",
    "BatchView",
    "Snapshot",
    "apply_values",
    "base_scenario",
    "batch_view",
    "default_scenario",
    "faith_figure",
    "figure_png",
    "parse_query",
    "shipped_scenarios",
    "synergy_figure",
    "trust_network_figure",
]

#: Environment variable through which ``cmo-sim app --scenario FILE`` names the start scenario.
APP_SCENARIO_ENV = "CMO_SIM_APP_SCENARIO"

#: The partnership contexts grouped by the section of the review's Table 3 (Aunger et al. 2021)
#: whose rules read them (the rule ids in cmo_sim/theory/default.yaml carry the same names).
CONTEXT_GROUPS: dict[str, tuple[str, ...]] = {
    "Leadership": ("leadership",),
    "Trust": ("history", "formalisation", "conflict_resolution", "ambition_bias"),
    "Conflict": ("accountability", "shared_vision", "information_exchange", "pace",
                 "exit_handling"),
    "Power": ("mandated", "resource_equality"),
    "Faith": ("stakeholder_involvement", "authenticity"),
    "Interpersonal communication": ("proximity", "communication"),
    "Task complexity": ("interoperability", "problem_simplicity", "regulation"),
    "Task achievement and performance": ("evaluation", "role_clarity", "absent_actors"),
    "Point of entry": ("threat",),
}

#: Member attributes the explorer has controls for (the others keep the scenario's values).
MEMBER_CONTROLS = ("size", "resources")

#: Months a fixed-term arrangement runs when the form is switched to fixed_term in the explorer.
DEFAULT_TERM = 60

_SHIPPED = Path(__file__).resolve().parents[2] / "scenarios"


def default_scenario() -> Scenario:
    """The scenario ``cmo-sim run`` uses without files: a typical voluntary dyad."""
    from cmo_sim.cli import DEFAULT_SCENARIO

    return load_scenario(DEFAULT_SCENARIO)


def shipped_scenarios() -> dict[str, Path]:
    """The scenario files shipped with cmo-sim (name -> path), when run from a source tree."""
    if not _SHIPPED.is_dir():
        return {}
    return {p.stem: p for p in sorted(_SHIPPED.glob("*.yaml"))}


def base_scenario(path: str | os.PathLike | None = None) -> tuple[Scenario, str | None]:
    """The scenario to start from, and a message if ``path`` could not be used.

    ``path`` defaults to the environment variable ``CMO_SIM_APP_SCENARIO``; without either,
    the typical voluntary dyad. A file that is missing or fails validation gives the typical
    dyad and the validation message (one paragraph, no traceback).
    """
    if path is None:
        path = os.environ.get(APP_SCENARIO_ENV) or None
    if path is None:
        return default_scenario(), None
    try:
        return load_scenario(path), None
    except ScenarioError as exc:
        return default_scenario(), f"{exc} (showing the typical voluntary dyad instead)"
    except (OSError, ValueError) as exc:
        return default_scenario(), (f"{path}: cannot be read ({exc}); showing the typical "
                                    "voluntary dyad instead")


def _member_path(index: int, attribute: str) -> str:
    return f"members[{index}].{attribute}"


def _coerce(path: str, value: Any) -> Any:
    """A text value (from a query string) as the type the field takes; other values as given."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if path in ("entry_point", "form"):
        return None if text.lower() in ("", "none") and path == "entry_point" else text
    if path == "mandated":
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        return text
    if path in ("term", "contract_period", "lead"):
        try:
            return int(text)
        except ValueError:
            return text
    try:
        return float(text)
    except ValueError:
        return text


def _check_value(path: str, value: Any) -> str | None:
    """A message if ``value`` is not allowed at ``path`` (before the scenario checks it)."""
    if path == "entry_point":
        if value is not None and value not in ENTRY_POINTS:
            return (f"entry_point: {value!r} is not an entry point (allowed: "
                    f"{', '.join(ENTRY_POINTS)}, or none)")
        return None
    if path == "form":
        if value not in FORMS:
            return f"form: {value!r} is not a form (allowed: {', '.join(FORMS)})"
        return None
    if path == "mandated":
        return None if isinstance(value, bool) else f"mandated: {value!r} is not true or false"
    if path in ("term", "contract_period", "lead"):
        return None  # the scenario's own validation names what is allowed
    try:
        bounds = field_bounds(path)
    except KeyError:
        allowed = ", ".join(PARTNERSHIP_FIELDS)
        return (f"{path}: not a context the explorer knows (partnership contexts: {allowed}; "
                f"member attributes: members[i].{{{', '.join(MEMBER_FIELDS)}}})")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{path}: {value!r} is not a number"
    if not math.isfinite(float(value)):
        return f"{path}: {value!r} is not a finite number"
    if bounds is not None and not bounds[0] <= float(value) <= bounds[1]:
        return f"{path}: {value:g} is outside its range {bounds[0]:g} .. {bounds[1]:g}"
    return None


def apply_values(base: Scenario, values: Mapping[str, Any]) -> tuple[Scenario | None, str | None]:
    """The scenario ``base`` with ``values`` set, or ``(None, message)`` if one is not allowed.

    ``values`` maps field paths (``"leadership"``, ``"members[1].size"``, ``"entry_point"``,
    ``"form"``, ``"mandated"``) to values; text values (from a query string) are converted to
    the field's type. Switching the form to ``fixed_term`` gives it a term of 60 months unless
    ``values`` has one; switching away drops the term. Never raises for a bad value: the
    message names the field, the value and what is allowed.
    """
    changes: dict[str, Any] = {}
    for path, value in values.items():
        if not isinstance(path, str):
            return None, f"{path!r} is not a field name"
        value = _coerce(path, value)
        message = _check_value(path, value)
        if message is not None:
            return None, message
        changes[path] = value
    form = changes.get("form", base.form)
    if form == "fixed_term" and base.term is None and "term" not in changes:
        changes["term"] = DEFAULT_TERM
    if form != "fixed_term" and base.term is not None:
        changes["term"] = None
    if form not in ("contractual", "joint_commissioning") and base.contract_period is not None:
        changes["contract_period"] = None
    if "entry_point" in changes:  # presets follow the entry point; apply it first
        changes = {"entry_point": changes.pop("entry_point"), **changes}
    try:
        return base.with_values(changes), None
    except ScenarioError as exc:
        return None, " ".join(str(exc).split())
    except (ValueError, TypeError) as exc:  # anything the scenario refuses
        return None, f"{', '.join(map(str, values))}: {' '.join(str(exc).split())}"


def parse_query(search: str | None) -> dict[str, str]:
    """The field values of a URL query string (``leadership=0.8&form=merger``)."""
    if not search:
        return {}
    return {key: value for key, value in parse_qsl(search.lstrip("?"), keep_blank_values=True)}


def control_values(scenario: Scenario) -> dict[str, Any]:
    """The value of every control of the explorer for ``scenario`` (path -> value)."""
    values: dict[str, Any] = {"entry_point": scenario.entry_point, "form": scenario.form}
    for name in PARTNERSHIP_FIELDS:
        values[name] = getattr(scenario, name)
    for i, member in enumerate(scenario.members):
        for attribute in MEMBER_CONTROLS:
            values[_member_path(i, attribute)] = getattr(member, attribute)
    return values


# -- the numpy core's batch view ---------------------------------------------------------------
@dataclass(frozen=True)
class BatchView:
    """The batch view of one scenario: its key numbers and its figures (PNG bytes)."""

    runs: int
    steps: int
    shares: dict[str, float]
    trust_median: float
    synergy_median: float
    seconds: float
    png: bytes = field(repr=False)
    end_states_png: bytes = field(repr=False, default=b"")

    def text(self) -> str:
        """The key numbers on one line (what the page shows and the browser test reads)."""
        parts = [f"share {state} {share:.1%}" for state, share in self.shares.items()]
        return (f"{', '.join(parts)}; median trust at month {self.steps} "
                f"{self.trust_median:.3f}, median synergy {self.synergy_median:.3f}")


def batch_view(scenario: Scenario, *, runs: int = 1000, steps: int = 120, seed: int = 0,
               dpi: int = 80) -> BatchView:
    """Simulate ``runs`` partnerships of ``scenario`` with the numpy core and summarise them."""
    from matplotlib.figure import Figure

    from cmo_sim import plot, simulate
    from cmo_sim.core.ends import END_STATES

    start = time.perf_counter()
    results = simulate(scenario, runs=runs, steps=steps, seed=seed, record="trajectory")
    traj = results.trajectories
    final = traj["regime"].isel(step=-1).values
    shares = {state: float(np.mean(final == k)) for k, state in enumerate(END_STATES)}
    trust = traj["trust"].isel(step=-1).mean("member", skipna=True).values
    synergy = traj["synergy"].isel(step=-1).values
    fans = Figure(figsize=(7.6, 3.0), dpi=dpi)
    axes = fans.subplots(1, 2)
    plot.trajectories(results, ("trust", "synergy"), ax=axes)
    for panel in axes:
        if panel.get_legend() is not None:
            panel.get_legend().remove()
    axes[0].set_title("trust (median; 50% and 90% of runs)", fontsize=9)
    axes[1].set_title("synergy (median; 50% and 90% of runs)", fontsize=9)
    fans.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.28)
    ends = Figure(figsize=(5.0, 3.0), dpi=dpi)
    panel = ends.subplots()
    plot.end_states(results, ax=panel)
    panel.set_title(f"share of the {runs:,} runs in each end state", fontsize=9)
    ends.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.8)
    return BatchView(runs=runs, steps=steps, shares=shares,
                     trust_median=float(np.nanmedian(trust)),
                     synergy_median=float(np.nanmedian(synergy)),
                     png=figure_png(fans), end_states_png=figure_png(ends),
                     seconds=time.perf_counter() - start)


def figure_png(fig) -> bytes:
    """A matplotlib Figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# -- one partnership of the Mesa engine --------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """The state of one partnership after a month: what the over-time chart draws."""

    step: int
    synergy: float
    faith: tuple[float, ...]
    trust: tuple[float, ...]


def snapshot(model) -> Snapshot:
    """Synergy, each member's faith and mean trust given, after the model's latest month."""
    members = model.members
    return Snapshot(
        step=int(model.steps),
        synergy=float(model.synergy),
        faith=tuple(float(m.faith) for m in members),
        trust=tuple(float(np.mean(list(m.trust.values()))) if m.trust else float("nan")
                    for m in members),
    )


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def trust_network_figure(model, *, dpi: int = 80):
    """The members on a circle; an arrow i -> j whose width is i's trust in j.

    Node colour is the member's faith; a member that has left is drawn hollow and grey.
    """
    from matplotlib.cm import viridis
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    members = model.members
    n = len(members)
    angles = (np.pi if n == 2 else np.pi / 2) - 2 * np.pi * np.arange(n) / n
    xy = np.column_stack([np.cos(angles), np.sin(angles)]) * (0.0 if n == 1 else 1.0)
    flat = n == 2
    fig = Figure(figsize=(4.6, 2.4 if flat else 4.0), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    for i, member in enumerate(members):
        for j, value in member.trust.items():
            if not (member.active and members[j].active):
                continue
            arrow = FancyArrowPatch(
                xy[i], xy[j], connectionstyle="arc3,rad=0.18", arrowstyle="-|>",
                mutation_scale=12, linewidth=0.5 + 7.0 * float(value), color="#4477AA",
                alpha=0.75, shrinkA=18, shrinkB=18)
            ax.add_patch(arrow)
            if n <= 4:
                middle = (xy[i] + xy[j]) / 2
                normal = np.array([xy[j][1] - xy[i][1], xy[i][0] - xy[j][0]])
                normal = normal / (np.linalg.norm(normal) or 1.0)
                x, y = middle + 0.14 * normal
                ax.text(x, y, f"{value:.2f}", fontsize=8, ha="center", va="center")
    for i, member in enumerate(members):
        colour = viridis(float(member.faith)) if member.active else "white"
        ax.scatter(*xy[i], s=700, color=colour, edgecolor="black" if member.active else "grey",
                   linewidth=1.2, zorder=3)
        label = _short(member.name) + ("" if member.active else " (left)")
        ax.annotate(label, xy[i], xytext=(0, -26), textcoords="offset points", ha="center",
                    fontsize=8, color="black" if member.active else "grey")
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(*((-0.75, 0.6) if flat else (-1.5, 1.4)))
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"trust network, month {model.steps} (arrow width = trust; colour = faith)",
                 fontsize=9)
    return fig


def faith_figure(model, *, dpi: int = 80):
    """Each member's faith in the partnership (bars)."""
    from matplotlib.figure import Figure

    members = model.members
    fig = Figure(figsize=(4.0, 0.6 + 0.42 * len(members)), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    names = [_short(m.name) for m in members]
    faith = [float(m.faith) for m in members]
    colours = ["#228833" if m.active else "#BBBBBB" for m in members]
    ax.barh(range(len(members)), faith, color=colours)
    ax.set_yticks(range(len(members)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    for k, value in enumerate(faith):
        ax.text(min(value + 0.02, 0.9), k, f"{value:.2f}", va="center", fontsize=8)
    ax.set_xlabel("faith in the partnership [0-1] (grey: the member has left)", fontsize=8)
    ax.tick_params(labelsize=8)
    return fig


def synergy_figure(history: list[Snapshot], *, dpi: int = 80):
    """Synergy and inertia (1 - synergy) and mean trust over the months stepped so far."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 2.6), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    months = [s.step for s in history]
    synergy = np.array([s.synergy for s in history])
    trust = np.array([np.nanmean(s.trust) if s.trust else np.nan for s in history])
    ax.plot(months, synergy, color="#228833", label="synergy")
    ax.plot(months, 1 - synergy, color="#EE6677", label="inertia")
    ax.plot(months, trust, color="#4477AA", linestyle=":", label="mean trust")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(12, months[-1] if months else 12))
    ax.set_xlabel("month", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncols=3)
    return fig
