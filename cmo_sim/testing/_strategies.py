"""Hypothesis strategies for scenarios, context changes and theories, valid by construction."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

try:
    from hypothesis import strategies as st
    from hypothesis.strategies import SearchStrategy
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "cmo_sim.testing needs hypothesis: pip install 'cmo-sim[test]'") from exc

from cmo_sim._errors import ScenarioError, closest
from cmo_sim.scenario import (
    ENTRY_POINT_PRESETS,
    ENTRY_POINTS,
    MAX_MEMBERS,
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Scenario,
    field_bounds,
    load_scenario,
)
from cmo_sim.theory import Theory, load_theory

__all__ = ["contexts", "scenarios", "theories"]

#: Member sizes are drawn log-uniformly in this range of staff (10 .. 100,000).
SIZE_RANGE = (10.0, 100_000.0)
#: Latest month at which a generated timeline event happens.
TIMELINE_LAST_STEP = 60
_MEMBER_PATH = re.compile(r"members\[([0-9]+)\]\.(\w+)")


# -- argument handling -----------------------------------------------------------------------------
def _strategy(value: Any) -> SearchStrategy:
    """A strategy as is, a plain value as ``just(value)``."""
    return value if isinstance(value, SearchStrategy) else st.just(value)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    """A plain int in [low, high]; a strategy is checked when drawn."""
    if isinstance(value, SearchStrategy):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: {value!r} is not allowed (an int in {low} .. {high}, "
                         "or a strategy of them)")


def _drawn_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: the strategy drew {value!r} (allowed: an int in "
                         f"{low} .. {high})")
    return value


def _field_kind(key: str) -> str:
    """'context', 'member' (every member's attribute), 'path' (one member's) or 'structure'."""
    if key in PARTNERSHIP_FIELDS:
        return "context"
    if key in MEMBER_FIELDS:
        return "member"
    if key in ("name", "description", "lead"):
        return "structure"
    match = _MEMBER_PATH.fullmatch(key)
    if match and match.group(2) in MEMBER_FIELDS:
        return "path"
    if match:
        attribute = match.group(2)
        raise ValueError(f"{key}: unknown member attribute '{attribute}'"
                         f"{closest(attribute, MEMBER_FIELDS)} (allowed: "
                         f"{', '.join(MEMBER_FIELDS)})")
    allowed = PARTNERSHIP_FIELDS + MEMBER_FIELDS + ("name", "description", "lead")
    raise ValueError(
        f"{key}: unknown field{closest(key, allowed)} (allowed: a partnership context, a member "
        f"attribute for every member, members[i].<attribute>, name, description or lead)"
    )


def _check_value(key: str, value: Any) -> None:
    """Validate a plain fixed value with the scenario schema's own message."""
    if isinstance(value, SearchStrategy):
        return
    kind = _field_kind(key)
    if kind == "structure":
        if key == "lead":
            _check_int("lead", value, 0, MAX_MEMBERS - 1)
        elif not isinstance(value, str):
            raise ValueError(f"{key}: {value!r} is not text")
        return
    path = key if kind != "member" else f"members[0].{key}"
    probe = load_scenario({"name": "check", "members": [{}] * 2})
    try:
        if kind == "path":
            index = int(_MEMBER_PATH.fullmatch(key).group(1))
            if index >= MAX_MEMBERS:
                raise ValueError(f"{key}: member index {index} out of range "
                                 f"(0 .. {MAX_MEMBERS - 1})")
            path = f"members[0].{_MEMBER_PATH.fullmatch(key).group(2)}"
        probe.with_values({path: value})
    except ScenarioError as exc:
        raise ValueError(str(exc).replace("check (changed): ", "").replace(path, key, 1)) from None


def _value(path: str) -> SearchStrategy:
    """Any valid value of a context or member attribute (sizes log-uniform)."""
    name = path.split(".")[-1]
    if name == "size":
        low, high = (math.log10(v) for v in SIZE_RANGE)
        return st.floats(low, high).map(lambda e: round(10.0**e, 1))
    bounds = field_bounds(path)
    if bounds is None:
        return st.booleans()
    return st.floats(bounds[0], bounds[1], allow_nan=False, allow_infinity=False)


# -- scenarios -------------------------------------------------------------------------------------
def scenarios(
    *,
    members: int | SearchStrategy[int] = 4,
    entry_points: bool | Sequence[str] | SearchStrategy = False,
    timelines: bool | int | SearchStrategy = False,
    **fixed: Any,
) -> SearchStrategy[Scenario]:
    """Scenarios valid by construction: every context and member attribute drawn in range.

    Parameters
    ----------
    members : int or strategy
        The largest number of members (2 .. 16): each scenario has 2 .. ``members`` members. A
        strategy draws the exact number.
    entry_points : bool, sequence of names, or strategy
        ``False``: no entry point. ``True``: any of the six entry points of the review's Table 2
        or none. A sequence: one of these names. When an entry point is drawn, the contexts its
        preset sets are left to the preset (unless fixed).
    timelines : bool, int or strategy
        ``False``: no timeline. ``True`` or an int ``k``: up to 3 (or ``k``) scheduled changes of
        one context or member attribute each, at months 0 .. 60.
    **fixed : value or strategy
        Fixed contexts: a partnership context (``leadership=0.9``), a member attribute set for
        every member (``flexibility=st.floats(0.6, 1)``), one member's attribute
        (``**{"members[1].size": 50_000.0}``), ``lead``, ``name`` or ``description``. Plain values
        are validated now; values drawn from strategies are validated when drawn.

    Raises
    ------
    ValueError
        For an unknown field (naming it, with the closest valid name), an out-of-range value or
        a bad argument.
    """
    _check_int("members", members, 2, MAX_MEMBERS)
    if not isinstance(entry_points, SearchStrategy):
        if entry_points is True:
            entry_points = st.sampled_from((None, *ENTRY_POINTS))
        elif entry_points is False or entry_points is None:
            entry_points = st.just(None)
        elif isinstance(entry_points, Sequence) and not isinstance(entry_points, str):
            unknown = [e for e in entry_points if e not in ENTRY_POINTS]
            if unknown or not entry_points:
                bad = unknown[0] if unknown else "(empty)"
                raise ValueError(
                    f"entry_points: {bad!r} is not an entry point"
                    f"{closest(str(bad), ENTRY_POINTS)} (allowed: {', '.join(ENTRY_POINTS)})")
            entry_points = st.sampled_from(tuple(entry_points))
        else:
            raise ValueError(f"entry_points: {entry_points!r} is not allowed (True, False, a "
                             "list of entry-point names, or a strategy)")
    if not isinstance(timelines, SearchStrategy):
        if isinstance(timelines, bool):
            timelines = st.just(3 if timelines else 0)
        else:
            _check_int("timelines", timelines, 0, 20)
            timelines = st.just(timelines)
    for key, value in fixed.items():
        _check_value(key, value)
    # The lead and every member named by a path must exist: at least index + 1 members.
    needed = [int(m.group(1)) + 1 for m in map(_MEMBER_PATH.fullmatch, fixed) if m]
    if isinstance(fixed.get("lead"), int):
        needed.append(fixed["lead"] + 1)
    if needed:
        least = max(needed)
        if isinstance(members, int) and not isinstance(members, bool) and members < least:
            raise ValueError(f"members: {members} is too few for the fixed fields (a member "
                             f"index or lead needs at least {least} members)")
        if isinstance(members, int) and not isinstance(members, bool):
            members = st.integers(least, members)
        else:
            members = members.filter(lambda n: n >= least)
    elif isinstance(members, int) and not isinstance(members, bool):
        members = st.integers(2, members)
    return _scenarios(members, entry_points, timelines, dict(fixed))


@st.composite
def _scenarios(draw, members, entry_points, timelines, fixed) -> Scenario:
    n = _drawn_int("members", draw(members), 2, MAX_MEMBERS)
    entry = draw(entry_points)
    if entry is not None and entry not in ENTRY_POINTS:
        raise ValueError(f"entry_points: the strategy drew {entry!r} (allowed: "
                         f"{', '.join(ENTRY_POINTS)} or None)")
    preset = ENTRY_POINT_PRESETS.get(entry, {}) if entry else {}
    preset_members = preset.get("members", {})
    data: dict[str, Any] = {"name": "generated"}
    if entry:
        data["entry_point"] = entry
    for name in PARTNERSHIP_FIELDS:
        if name in fixed:
            data[name] = draw(_strategy(fixed[name]))
        elif name not in preset:
            data[name] = draw(_value(name))
    data["members"] = []
    for i in range(n):
        member = {}
        for name in MEMBER_FIELDS:
            path = f"members[{i}].{name}"
            if path in fixed:
                member[name] = draw(_strategy(fixed[path]))
            elif name in fixed:
                member[name] = draw(_strategy(fixed[name]))
            elif name not in preset_members:
                member[name] = draw(_value(path))
        data["members"].append(member)
    data["lead"] = draw(_strategy(fixed["lead"])) if "lead" in fixed else draw(
        st.integers(0, n - 1))
    for key in ("name", "description"):
        if key in fixed:
            data[key] = draw(_strategy(fixed[key]))
    k = _drawn_int("timelines", draw(timelines), 0, 20)
    if k:
        # Fixed fields stay fixed: the timeline changes only the others.
        free_contexts = tuple(f for f in PARTNERSHIP_FIELDS if f not in fixed)
        free_attributes = tuple(a for a in MEMBER_FIELDS
                                if a not in fixed and not any(f.endswith(f".{a}") for f in fixed))
        events = []
        for month in sorted(draw(st.sets(st.integers(0, TIMELINE_LAST_STEP), max_size=k))):
            if free_attributes and (not free_contexts or draw(st.booleans())):
                path = f"members[{draw(st.integers(0, n - 1))}]." + draw(
                    st.sampled_from(free_attributes))
            elif free_contexts:
                path = draw(st.sampled_from(free_contexts))
            else:
                break
            events.append({"step": month, "changes": {path: draw(_value(path))}})
        data["timeline"] = events
    try:
        return load_scenario(data)
    except ScenarioError as exc:  # only a fixed value drawn from a user's strategy can do this
        raise ValueError(f"scenarios: a drawn fixed value is not valid: {exc}") from None


# -- context changes -------------------------------------------------------------------------------
def contexts(
    *,
    names: Sequence[str] | SearchStrategy | None = None,
    min_size: int = 1,
    max_size: int | None = None,
) -> SearchStrategy[dict[str, Any]]:
    """Changes of partnership contexts: ``{name: value}`` with every value in its range.

    Apply one with ``scenario.with_values(change)``.

    Parameters
    ----------
    names : sequence of context names, or strategy of lists of names, optional
        The contexts that may change (default: every partnership context).
    min_size, max_size : int
        How many contexts one change sets (default 1 .. all of ``names``).

    Raises
    ------
    ValueError
        For an unknown context name (with the closest valid name) or bad sizes.
    """
    if isinstance(names, SearchStrategy):
        chosen = names
    else:
        pool = tuple(PARTNERSHIP_FIELDS if names is None else names)
        if isinstance(names, str) or not pool:
            raise ValueError(f"names: {names!r} is not allowed (a non-empty list of context names)")
        for name in pool:
            if name not in PARTNERSHIP_FIELDS:
                hint = closest(name, PARTNERSHIP_FIELDS)
                if not hint and name in MEMBER_FIELDS:
                    hint = f"; '{name}' is a member attribute (use scenarios({name}=...))"
                raise ValueError(f"names: unknown context '{name}'{hint} "
                                 f"(allowed: {', '.join(PARTNERSHIP_FIELDS)})")
        top = len(pool) if max_size is None else max_size
        _check_int("min_size", min_size, 0, len(pool))
        _check_int("max_size", top, max(min_size, 0), len(pool))
        chosen = st.lists(st.sampled_from(pool), min_size=min_size, max_size=top, unique=True)
    return _contexts(chosen)


@st.composite
def _contexts(draw, chosen) -> dict[str, Any]:
    out = {}
    for name in draw(chosen):
        if name not in PARTNERSHIP_FIELDS:
            raise ValueError(f"names: the strategy drew unknown context {name!r}"
                             f"{closest(str(name), PARTNERSHIP_FIELDS)}")
        out[name] = draw(_value(name))
    return out


# -- theories --------------------------------------------------------------------------------------
def theories(
    *,
    base: Theory | str | Mapping | None = None,
    ablate: int | SearchStrategy[int] = 4,
    rescale: int | SearchStrategy[int] = 4,
    scale: tuple[float, float] = (0.0, 3.0),
    rules: Sequence[str] | None = None,
) -> SearchStrategy[Theory]:
    """Variants of a programme theory: some rules ablated, some weights rescaled.

    Parameters
    ----------
    base : Theory, path or mapping, optional
        The theory varied (default: the review's).
    ablate : int or strategy
        Up to this many rules set to weight 0 (a strategy draws the exact number).
    rescale : int or strategy
        Up to this many other rules with their weight multiplied by a factor in ``scale``.
    scale : (low, high)
        Range of the weight multipliers (finite, 0 <= low <= high).
    rules : sequence of rule ids, optional
        Only these rules are ablated or rescaled (default: all).

    Raises
    ------
    ValueError
        For an unknown rule id (with the closest id) or bad counts or ranges.
    """
    theory = base if isinstance(base, Theory) else load_theory(base)
    pool = tuple(theory.ids if rules is None else rules)
    if isinstance(rules, str) or not pool:
        raise ValueError(f"rules: {rules!r} is not allowed (a non-empty list of rule ids)")
    for rule_id in pool:
        if rule_id not in theory.ids:
            raise ValueError(f"rules: unknown rule '{rule_id}'{closest(rule_id, theory.ids)}")
    _check_int("ablate", ablate, 0, len(pool))
    _check_int("rescale", rescale, 0, len(pool))
    if (not isinstance(scale, tuple | list) or len(scale) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in scale)
            or not all(math.isfinite(v) for v in scale) or not 0 <= scale[0] <= scale[1]):
        raise ValueError(f"scale: {scale!r} is not allowed (finite (low, high), 0 <= low <= high)")
    n_ablate = st.integers(0, ablate) if isinstance(ablate, int) else ablate
    n_rescale = st.integers(0, rescale) if isinstance(rescale, int) else rescale
    return _theories(theory, pool, n_ablate, n_rescale, (float(scale[0]), float(scale[1])))


@st.composite
def _theories(draw, theory, pool, n_ablate, n_rescale, scale) -> Theory:
    k_ablate = _drawn_int("ablate", draw(n_ablate), 0, len(pool))
    k_rescale = _drawn_int("rescale", draw(n_rescale), 0, len(pool) - k_ablate)
    ids = draw(st.lists(st.sampled_from(pool), min_size=k_ablate + k_rescale,
                        max_size=k_ablate + k_rescale, unique=True))
    factors = {i: draw(st.floats(*scale)) for i in ids[k_ablate:]}
    weights = {i: theory.rule(i).weight * f for i, f in factors.items()}
    return theory.with_weights(weights).without(*ids[:k_ablate])
