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
    DEFAULT_CONTRACT_PERIOD,
    ENTRY_POINT_PRESETS,
    ENTRY_POINTS,
    FORMS,
    MAX_MEMBERS,
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Scenario,
    field_bounds,
    load_scenario,
)
from cmo_sim.theory import Theory, load_theory

__all__ = ["contexts", "scenarios", "theories", "theory_contexts"]

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
    forms: bool = False,
    steps: int = 120,
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
        one context or member attribute each, at months 0 .. 60 (and before ``steps``).
    forms : bool
        ``False``: every scenario is an alliance. ``True``: any partnership form, with a term
        (1 .. 60 months, and at most ``steps``) for a fixed-term arrangement and a contract
        period (1 .. 36 months) for the forms that have one.
    steps : int
        The months the scenarios will be simulated for (default 120): timeline events and
        terms are drawn within them, since a simulation refuses a scenario whose timeline or
        term lies beyond its steps.
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
    if not isinstance(forms, bool):
        raise ValueError(f"forms: {forms!r} is not allowed (True or False)")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: {steps!r} is not allowed (an int >= 1)")
    return _scenarios(members, entry_points, timelines, dict(fixed), forms, steps)


@st.composite
def _scenarios(draw, members, entry_points, timelines, fixed, forms=False,
               steps=120) -> Scenario:
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
    if forms:
        form = draw(st.sampled_from(FORMS))
        data["form"] = form
        if form == "fixed_term":
            data["term"] = draw(st.integers(1, min(60, steps)))
        elif form in DEFAULT_CONTRACT_PERIOD and draw(st.booleans()):
            data["contract_period"] = draw(st.integers(1, 36))
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
        last = min(TIMELINE_LAST_STEP, steps - 1)
        for month in sorted(draw(st.sets(st.integers(0, last), max_size=k))):
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
    user_contexts: int | SearchStrategy[int] = 0,
    user_rules: int | SearchStrategy[int] = 0,
) -> SearchStrategy[Theory]:
    """Variants of a programme theory: some rules ablated, some weights rescaled, new ones.

    With ``user_contexts`` and ``user_rules``, the theory also declares contexts of its own
    (partnership or member level, with their ranges and typical values) and rules of its own:
    at any site, on any context the site can read (declared, built-in or a state input), with
    any form, centre, modulator, condition, target and reduction the site allows, and an
    outcome the site reaches. Every generated theory is built through
    :meth:`cmo_sim.Theory.extend`, so it is valid as a theory file is.

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
    user_contexts : int or strategy
        Up to this many contexts of the theory's own (0 .. 6).
    user_rules : int or strategy
        Up to this many rules of the theory's own (0 .. 40), named ``user.rule_<k>``.

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
    _check_int("user_contexts", user_contexts, 0, 6)
    _check_int("user_rules", user_rules, 0, 40)
    n_ablate = st.integers(0, ablate) if isinstance(ablate, int) else ablate
    n_rescale = st.integers(0, rescale) if isinstance(rescale, int) else rescale
    n_contexts = st.integers(0, user_contexts) if isinstance(user_contexts, int) else user_contexts
    n_rules = st.integers(0, user_rules) if isinstance(user_rules, int) else user_rules
    return _theories(theory, pool, n_ablate, n_rescale, (float(scale[0]), float(scale[1])),
                     n_contexts, n_rules)


@st.composite
def _theories(draw, theory, pool, n_ablate, n_rescale, scale, n_contexts, n_rules) -> Theory:
    k_ablate = _drawn_int("ablate", draw(n_ablate), 0, len(pool))
    k_rescale = _drawn_int("rescale", draw(n_rescale), 0, len(pool) - k_ablate)
    ids = draw(st.lists(st.sampled_from(pool), min_size=k_ablate + k_rescale,
                        max_size=k_ablate + k_rescale, unique=True))
    factors = {i: draw(st.floats(*scale)) for i in ids[k_ablate:]}
    weights = {i: theory.rule(i).weight * f for i, f in factors.items()}
    varied = theory.with_weights(weights).without(*ids[:k_ablate])
    k_contexts = _drawn_int("user_contexts", draw(n_contexts), 0, 6)
    k_rules = _drawn_int("user_rules", draw(n_rules), 0, 40)
    if not k_contexts and not k_rules:
        return varied
    contexts = [draw(_user_context(f"user_{k}")) for k in range(k_contexts)]
    known = {**varied.contexts, **{c["name"]: _Info(c) for c in contexts}}
    rules = [draw(_user_rule(f"user.rule_{k}", known)) for k in range(k_rules)]
    return varied.extend(rules=rules, contexts=contexts)


#: Typical size of a term at each site (scale of generated rules): logits and levels take
#: terms of order 1, monthly changes terms of order the baseline rates.
_SITE_MAGNITUDE = {
    "initial_trust": 0.2, "initial_faith": 0.2, "lead_power": 0.2, "complexity": 0.5,
    "communication": 0.5, "functioning": 1.0, "risk_tolerance": 0.5, "task_logit": 1.0,
    "conflict": 1.0, "resolution": 0.5, "destructive_buffer": 0.5, "trust_change": 0.05,
    "faith_change": 0.05, "intra_rise": 1.0, "intra_decay": 1.0, "vision_change": 0.05,
    "culture_pull": 0.05, "exit_shock": 1.0, "trust_floor": 0.2, "faith_floor": 0.2,
    "achievement_value": 0.5, "exit_ease": 0.5, "initial_experience": 0.3, "turnover": 1.0,
    "learning": 0.05, "demerger": 1.0, "joining": 1.0,
}


class _Info:
    """What the rule generator needs of a declared context."""

    def __init__(self, data: Mapping[str, Any]):
        self.level = data["level"]
        self.low, self.high = data["range"]


@st.composite
def _user_context(draw, name: str) -> dict[str, Any]:
    low, high = draw(st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.0, 10.0)]))
    typical = draw(st.floats(low, high))
    return {"name": name, "level": draw(st.sampled_from(["partnership", "member"])),
            "range": [low, high], "typical": typical, "meaning": "generated",
            "provenance": "generated by cmo_sim.testing.theories"}


def _readable(site, known: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(name, level)`` of everything a term at ``site`` can read."""
    from cmo_sim.core.terms import STATE_INPUTS

    out = []
    for name in sorted(known):
        state = STATE_INPUTS.get(name)
        if state is not None and name in site.inputs:
            continue  # read as the state input below
        out.append((name, known[name].level))
    for name in sorted(site.inputs):
        shapes = STATE_INPUTS[name].shapes
        if site.shape in shapes or "run" in shapes:
            out.append((name, "state"))
    return out


def _span(name: str, level: str, known: Mapping[str, Any]) -> tuple[float, float]:
    if level == "state":
        return (0.0, 1.0)
    info = known[name]
    return (float(info.low), float(info.high))


@st.composite
def _user_rule(draw, rule_id: str, known: Mapping[str, Any]) -> dict[str, Any]:
    from cmo_sim.core.terms import CONDITION_OPS, FORMS, MODULATORS, REDUCTIONS, SITES

    sums = sorted(n for n, s in SITES.items() if s.kind == "sum")
    name = draw(st.sampled_from(sums + ["trust_floor", "faith_floor"]))
    site = SITES[name]
    rule: dict[str, Any] = {"id": rule_id, "provenance": "generated by cmo_sim.testing",
                            "weight": draw(st.floats(0.0, 1.0)), "site": name,
                            "mechanism": draw(st.sampled_from(sorted(site.mechanisms))),
                            "scale": [_SITE_MAGNITUDE[name]]}
    if site.kind == "floor":
        rule.update(context=site.compares, outcome="dissolution", sign=-1, form="constant")
        if draw(st.booleans()):
            rule["modulator"] = "exit_ease"
        return rule
    readable = _readable(site, known)
    context, level = draw(st.sampled_from(readable))
    low, high = _span(context, level, known)
    rule.update(context=context, outcome=draw(st.sampled_from(sorted(site.outcomes))),
                sign=draw(st.sampled_from([-1, 1])), form=draw(st.sampled_from(list(FORMS))))
    if draw(st.booleans()):
        rule["centre"] = draw(st.floats(low, high))
    if rule["form"] == "saturating":
        rule["half"] = draw(st.floats(0.05, 1.0))
    modulators = sorted(
        m for m in site.modulators
        if (site.shape in MODULATORS[m].shapes or "run" in MODULATORS[m].shapes)
        and (MODULATORS[m].needs is None or MODULATORS[m].needs in site.inputs))
    if modulators and draw(st.booleans()):
        rule["modulator"] = draw(st.sampled_from(modulators))
    if draw(st.booleans()):
        cond, cond_level = draw(st.sampled_from(readable))
        c_low, c_high = _span(cond, cond_level, known)
        if cond == "size":
            c_low, c_high = 10.0, 100_000.0
        if cond == "n_members":
            c_low, c_high = 2.0, 16.0
        rule["when"] = [f"{cond} {draw(st.sampled_from(CONDITION_OPS))} "
                        f"{draw(st.floats(c_low, c_high)):.6g}"]
    if len(site.targets) > 1 and draw(st.booleans()):
        rule["target"] = draw(st.sampled_from(site.targets))
    if level == "member" and draw(st.booleans()):
        rule["reduce"] = draw(st.sampled_from(REDUCTIONS[site.shape]))
    return rule


@st.composite
def theory_contexts(draw, scenario: Scenario, theory: Theory) -> Scenario:
    """``scenario`` with values drawn in range for the contexts ``theory`` declares.

    Member-level contexts are drawn per member; contexts left out run at their typical value.
    """
    changes: dict[str, Any] = {}
    for context in theory.user_contexts:
        low, high = context.range
        if context.level == "partnership":
            if draw(st.booleans()):
                changes[f"contexts.{context.name}"] = draw(st.floats(low, high))
        else:
            for i in range(scenario.n_members):
                if draw(st.booleans()):
                    changes[f"members[{i}].contexts.{context.name}"] = draw(st.floats(low, high))
    return scenario.with_values(changes) if changes else scenario
