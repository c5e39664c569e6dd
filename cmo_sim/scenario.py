"""Scenarios: the context of one partnership, validated on load.

A scenario holds the partnership-level contexts, 2 to 16 member organisations with their own
attributes, and an optional timeline of context changes. The six entry points of the review's
Table 2 are presets: naming one fills in defaults that the file may override.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cmo_sim._errors import ScenarioError, closest
from cmo_sim._yaml import read_yaml_file

__all__ = [
    "ENTRY_POINTS",
    "ENTRY_POINT_PRESETS",
    "FORMS",
    "MAX_MEMBERS",
    "MEMBER_FIELDS",
    "PARTNERSHIP_FIELDS",
    "Member",
    "Scenario",
    "TimelineEvent",
    "check_steps",
    "check_theory_contexts",
    "field_bounds",
    "load_scenario",
]

MAX_MEMBERS = 16

EntryPoint = Literal[
    "funding_pressure",
    "existing_interdependence",
    "competitive_threat",
    "market_opportunity",
    "policy_directive",
    "innovation",
]
ENTRY_POINTS: tuple[str, ...] = get_args(EntryPoint)

PartnershipForm = Literal[
    "alliance",
    "network",
    "merger",
    "fixed_term",
    "joint_commissioning",
    "contractual",
]
#: Partnership forms, each with its own end rules (docs/model.md, "Forms and end states").
FORMS: tuple[str, ...] = get_args(PartnershipForm)
#: Months between the exit points of the forms that have them, unless the scenario says.
DEFAULT_CONTRACT_PERIOD = {"contractual": 36, "joint_commissioning": 12}
#: The longest term or contract period a scenario may give (100 years).
MAX_TERM = 1200

_FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def _unit(default: float, description: str) -> Any:
    return Field(default=default, ge=0.0, le=1.0, description=description)


def _signed(default: float, description: str) -> Any:
    return Field(default=default, ge=-1.0, le=1.0, description=description)


class Member(BaseModel):
    """One member organisation of a partnership."""

    model_config = _FROZEN

    name: str = Field(default="", max_length=80, description="Display name.")
    size: float = Field(
        default=1000.0, ge=1.0, le=1e7, description="Staff head-count (1 .. 10 million)."
    )
    resources: float = _unit(0.5, "Capacity to give the partnership (Pereira 2022: resourcing).")
    flexibility: float = _unit(0.5, "Organisational flexibility (review: Flexibility).")
    workforce_stability: float = _unit(0.5, "0 high churn .. 1 stable workforce.")
    staff_involvement: float = _unit(0.5, "Involvement of staff in partnership decisions.")
    priority: float = _unit(
        0.5, "Priority the member's own organisation gives the partnership's work (0 none .. 1 "
             "top); Zwisler et al. 2024: the work 'not a priority to some concerned'.")
    culture: float = _unit(0.5, "Cultural position; distance between members is conflict-prone.")
    contexts: dict[str, float] = Field(
        default_factory=dict,
        description="Values of member-level contexts the theory declares (name -> value).",
    )

    @field_validator("contexts", mode="before")
    @classmethod
    def _user_contexts(cls, value: Any) -> Any:
        return _user_values(value)


class TimelineEvent(BaseModel):
    """A scheduled change of contexts that takes effect at the start of ``step``."""

    model_config = _FROZEN

    step: int = Field(ge=0, description="Month (step index) at which the change takes effect.")
    changes: dict[str, Any] = Field(
        min_length=1,
        description="Context name -> new value; member attributes as 'members[i].field'.",
    )
    note: str = Field(default="", max_length=300)


class Scenario(BaseModel):
    """The context of one partnership: what the realist review calls C.

    All continuous contexts lie in [0, 1] with 0.5 typical, except ``history`` and
    ``ambition_bias`` which lie in [-1, 1] with 0 neutral.
    """

    model_config = _FROZEN

    name: str = Field(default="scenario", min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    entry_point: EntryPoint | None = Field(
        default=None, description="Review Table 2 entry point; a preset of defaults."
    )
    mandated: bool = Field(default=False, description="Partnering imposed by a policy directive.")
    form: PartnershipForm = Field(
        default="alliance",
        description="The partnership's form, which sets how it can end: alliance, network, "
        "merger, fixed_term, joint_commissioning or contractual.")
    term: int | None = Field(
        default=None, ge=1, le=MAX_TERM,
        description="fixed_term only: months until the planned end of the arrangement.")
    contract_period: int | None = Field(
        default=None, ge=1, le=MAX_TERM,
        description="contractual and joint_commissioning only: months between the points at "
        "which a member may leave (default 36 and 12).")
    lead: int = Field(
        default=0, ge=0, description="Index of the lead (hierarchically senior) member."
    )
    history: float = _signed(0.0, "Prior collaboration: -1 failed .. 0 none .. 1 successful.")
    threat: float = _unit(0.0, "Partnering out of fear of competitors or markets (0 none).")
    formalisation: float = _unit(0.5, "Legal agreements and formal contracts.")
    shared_vision: float = _unit(0.5, "Congruence of aims and vision.")
    accountability: float = _unit(0.5, "Governance, accountability and conflict preparedness.")
    conflict_resolution: float = _unit(0.5, "0 destructive (domination) .. 1 constructive.")
    leadership: float = _unit(0.5, "0 combative .. 1 collaborative and inclusive.")
    proximity: float = _unit(0.5, "Geographical proximity of the partners.")
    interoperability: float = _unit(0.5, "Interoperable information systems.")
    information_exchange: float = _unit(0.5, "Information exchanged as required.")
    communication: float = _unit(0.5, "Appropriate interpersonal communication strategies.")
    stakeholder_involvement: float = _unit(0.5, "Involvement of stakeholders.")
    authenticity: float = _unit(0.5, "Real need behind the partnership (0 done for show).")
    ambition_bias: float = _signed(0.0, "Aims set below (-1) or above (+1) what trust supports.")
    problem_simplicity: float = _unit(0.5, "Simplicity of the problem the partnership solves.")
    regulation: float = _unit(0.5, "Favourability of the regulatory environment.")
    resource_equality: float = _unit(0.5, "Fair sharing of gains (0 kept by one partner).")
    pace: float = _unit(0.5, "Pace of development: 0 slow .. 1 brisk.")
    evaluation: float = _unit(0.5, "Ongoing evaluation.")
    role_clarity: float = _unit(0.5, "Clarity of roles.")
    absent_actors: float = _unit(0.1, "Share of key actors missing from the table.")
    exit_handling: float = _unit(0.5, "How a leaving member exits: 0 improper .. 1 proper.")
    contexts: dict[str, float] = Field(
        default_factory=dict,
        description="Values of partnership-level contexts the theory declares (name -> value).",
    )
    members: tuple[Member, ...] = Field(min_length=2, max_length=MAX_MEMBERS)
    timeline: tuple[TimelineEvent, ...] = Field(default=())

    @field_validator("contexts", mode="before")
    @classmethod
    def _user_contexts(cls, value: Any) -> Any:
        return _user_values(value)

    @field_validator("members", "timeline", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _check_cross_fields(self) -> Scenario:
        n = len(self.members)
        if self.form == "fixed_term" and self.term is None:
            raise ValueError("term: a fixed_term form needs a term (the months until its "
                             "planned end, an integer >= 1)")
        if self.form != "fixed_term" and self.term is not None:
            raise ValueError(f"term: only a fixed_term form has a term (form is "
                             f"'{self.form}')")
        if self.contract_period is not None and self.form not in DEFAULT_CONTRACT_PERIOD:
            raise ValueError(
                f"contract_period: only the {' and '.join(DEFAULT_CONTRACT_PERIOD)} forms have "
                f"exit points (form is '{self.form}')")
        if self.lead >= n:
            raise ValueError(f"lead: {self.lead} is not a member index (allowed: 0 .. {n - 1})")
        previous = -1
        for k, event in enumerate(self.timeline):
            if event.step <= previous:
                raise ValueError(
                    f"timeline[{k}].step: {event.step} is not after the previous event's step "
                    f"{previous} (steps must be strictly increasing)"
                )
            previous = event.step
            for key, value in event.changes.items():
                _check_change(f"timeline[{k}].changes.{key}", key, value, n)
        return self

    # -- convenience -------------------------------------------------------------------------
    @property
    def n_members(self) -> int:
        """Number of member organisations."""
        return len(self.members)

    @property
    def exit_period(self) -> int:
        """Months between the points at which members may leave (1: any month; 0: never)."""
        if self.form in ("merger", "fixed_term"):
            return 0
        if self.form in DEFAULT_CONTRACT_PERIOD:
            return self.contract_period or DEFAULT_CONTRACT_PERIOD[self.form]
        return 1

    def with_context(self, **changes: Any) -> Scenario:
        """Return a copy with partnership contexts (or ``members[i].field`` paths) changed.

        Raises
        ------
        ScenarioError
            If a name is not a context or member path, or a value is of the wrong type or out
            of range. The original scenario is never modified.
        """
        return self.with_values(changes)

    def with_values(self, changes: Mapping[str, Any]) -> Scenario:
        """Return a validated copy with values set at field paths like ``members[1].size``.

        Changing ``entry_point`` re-applies presets: every context and member attribute that
        either the old or the new entry point's preset sets, and that is not itself among
        ``changes``, follows the change when it still holds the old preset's value (or the
        default, where the old preset does not set it): it takes the new preset's value (or
        the default). A value that differs from the old preset's was set for this scenario
        and is kept.

        Raises
        ------
        ScenarioError
            Naming the path, the value and what is allowed.
        """
        source = f"{self.name} (changed)"
        data = self.model_dump(mode="python")
        data["members"] = [dict(m) for m in data["members"]]
        entry = changes.get("entry_point", self.entry_point)
        if entry != self.entry_point and (entry is None or entry in ENTRY_POINT_PRESETS):
            _switch_preset(data, self.entry_point, entry, set(changes))
        for path, value in changes.items():
            if not isinstance(path, str):
                raise ScenarioError(f"{source}: {path!r} is not a field path (a string)")
            try:
                _check_change(path, path, value, len(data["members"]), allow_structure=True)
            except ValueError as exc:
                raise ScenarioError(f"{source}: {exc}") from None
            user = _USER_PATH.fullmatch(path)
            member = _MEMBER_PATH.fullmatch(path)
            if user and user.group(1) is not None:
                target = data["members"][int(user.group(1))]
                target["contexts"] = {**target.get("contexts", {}), user.group(2): value}
            elif user:
                data["contexts"] = {**data.get("contexts", {}), user.group(2): value}
            elif member:
                data["members"][int(member.group(1))][member.group(2)] = value
            else:
                data[path] = value
        return _validate(data, source=source)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that :func:`load_scenario` accepts and that gives an equal scenario."""
        data = self.model_dump(mode="json")
        if not data["contexts"]:
            del data["contexts"]
        for key in ("term", "contract_period"):
            if data[key] is None:
                del data[key]
        data["members"] = [{k: v for k, v in m.items() if not (k == "contexts" and not v)}
                           for m in data["members"]]
        data["timeline"] = [
            {k: v for k, v in ev.items() if not (k == "note" and v == "")}
            for ev in data["timeline"]
        ]
        if not data["timeline"]:
            del data["timeline"]
        return data

    def to_yaml(self) -> str:
        """YAML text that :func:`load_scenario` reads back into an equal scenario."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def check_steps(scenario: Scenario, steps: int) -> None:
    """ScenarioError if the scenario schedules anything the ``steps`` simulated months miss.

    A timeline event at month ``steps`` or later would never take effect, and a fixed-term
    scenario's term beyond ``steps`` would never be reached.
    """
    late = [event.step for event in scenario.timeline if event.step >= steps]
    if late:
        raise ScenarioError(
            f"scenario '{scenario.name}': timeline step {late[0]} is at or beyond the simulated "
            f"steps ({steps}; months 0 to {steps - 1}): its changes would never take effect "
            f"(simulate at least {late[0] + 1} months, or move the event earlier)")
    if scenario.term is not None and scenario.term > steps:
        raise ScenarioError(
            f"scenario '{scenario.name}': term {scenario.term} is beyond the simulated steps "
            f"({steps}): the arrangement would never reach its planned end (simulate at least "
            f"{scenario.term} months, or shorten the term)")


PARTNERSHIP_FIELDS: tuple[str, ...] = tuple(
    name
    for name in Scenario.model_fields
    if name not in {"name", "description", "entry_point", "members", "timeline", "lead",
                    "contexts", "form", "term", "contract_period"}
)
MEMBER_FIELDS: tuple[str, ...] = tuple(
    n for n in Member.model_fields if n not in ("name", "contexts"))
#: Fields ``with_values`` may change besides the contexts (the model validates them).
_STRUCTURE = ("name", "description", "entry_point", "lead", "form", "term", "contract_period")
_MEMBER_PATH = re.compile(r"members\[([0-9]+)\]\.(\w+)")
#: A theory's own contexts: ``contexts.<name>`` or ``members[i].contexts.<name>``.
_USER_PATH = re.compile(r"(?:members\[([0-9]+)\]\.)?contexts\.([a-z][a-z0-9_]*)")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _user_values(value: Any) -> Any:
    """A mapping of a theory's context names to finite numbers.

    The names and ranges are checked against the theory when the scenario is run or loaded
    with one.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"{_show(value)} is not a mapping of context names to values")
    out = {}
    for key, v in value.items():
        if not isinstance(key, str) or not _NAME.fullmatch(key):
            raise ValueError(f"key {_show(key)} is not a context name (lower-case letters, "
                             "digits and underscores)")
        if isinstance(v, bool):
            v = float(v)
        if not isinstance(v, int | float):
            raise ValueError(f"{key}: {_show(v)} is not a number")
        if not math.isfinite(float(v)):
            raise ValueError(f"{key}: {_show(v)} is not a finite number (NaN and infinity are "
                             "not allowed)")
        out[key] = float(v)
    return out


def check_theory_contexts(scenario: Scenario, contexts: Mapping[str, Any],
                          source: str | None = None) -> None:
    """Check the scenario's own contexts (and timeline changes of them) against a theory's.

    ``contexts`` maps each context the theory declares to its info (``level``, ``low``,
    ``high``). Raises :class:`ScenarioError` naming the scenario, the path, the value and what
    is allowed: an undeclared name (with the closest declared one), a context set at the wrong
    level, or a value outside the declared range.
    """
    source = source or scenario.name
    builtin = set(PARTNERSHIP_FIELDS) | set(MEMBER_FIELDS)
    own = {n: c for n, c in contexts.items() if n not in builtin}

    def check(path: str, name: str, value: float, level: str) -> None:
        info = own.get(name)
        names = sorted(n for n, c in own.items() if c.level == level)
        if info is None:
            allowed = ", ".join(names) if names else "none: the theory declares no " + (
                f"{level}-level context of its own")
            raise ScenarioError(f"{source}: {path}: the theory declares no context '{name}'"
                                f"{closest(name, names)} (allowed: {allowed})")
        if info.level != level:
            where = "members[i].contexts" if info.level == "member" else "contexts"
            raise ScenarioError(f"{source}: {path}: '{name}' is a {info.level}-level context "
                                f"(set it under {where})")
        if not info.low <= value <= info.high:
            raise ScenarioError(f"{source}: {path}: {value:g} is out of range (allowed: "
                                f"{info.low:g} .. {info.high:g})")

    for name, value in scenario.contexts.items():
        check(f"contexts.{name}", name, value, "partnership")
    for i, member in enumerate(scenario.members):
        for name, value in member.contexts.items():
            check(f"members[{i}].contexts.{name}", name, value, "member")
    for k, event in enumerate(scenario.timeline):
        for key, value in event.changes.items():
            match = _USER_PATH.fullmatch(key)
            if match:
                level = "member" if match.group(1) is not None else "partnership"
                check(f"timeline[{k}].changes.{key}", match.group(2), float(value), level)


def field_bounds(path: str) -> tuple[float, float] | None:
    """Return the allowed (low, high) of a numeric context or member attribute.

    Parameters
    ----------
    path : str
        A partnership context (``"leadership"``) or a member path (``"members[1].size"``).

    Returns
    -------
    tuple of float or None
        The inclusive bounds, or None for a bool or a field without two numeric bounds.

    Raises
    ------
    KeyError
        If ``path`` names no field.
    """
    member = _MEMBER_PATH.fullmatch(path)
    field = Member.model_fields.get(member.group(2)) if member else Scenario.model_fields.get(path)
    if field is None:
        raise KeyError(path)
    if field.annotation is bool:
        return None
    low = high = None
    for meta in field.metadata:
        low = getattr(meta, "ge", low) if getattr(meta, "ge", None) is not None else low
        high = getattr(meta, "le", high) if getattr(meta, "le", None) is not None else high
    return (float(low), float(high)) if low is not None and high is not None else None


def _check_change(where: str, key: str, value: Any, n_members: int, *, allow_structure=False):
    """Validate one ``key: value`` of a timeline change (or a ``with_values`` path)."""
    user = _USER_PATH.fullmatch(key)
    if user:
        if user.group(1) is not None and int(user.group(1)) >= n_members:
            raise ValueError(f"{where}: member index {user.group(1)} out of range "
                             f"(0 .. {n_members - 1})")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: {_show(value)} is not a number")
        if not math.isfinite(float(value)):
            raise ValueError(f"{where}: {_show(value)} is not a finite number (NaN and "
                             "infinity are not allowed)")
        return
    member = _MEMBER_PATH.fullmatch(key)
    if member:
        index, attr = int(member.group(1)), member.group(2)
        if index >= n_members:
            raise ValueError(f"{where}: member index {index} out of range (0 .. {n_members - 1})")
        if attr not in MEMBER_FIELDS and not (allow_structure and attr == "name"):
            raise ValueError(
                f"{where}: unknown member attribute '{attr}'{closest(attr, MEMBER_FIELDS)} "
                f"(allowed: {', '.join(MEMBER_FIELDS)})"
            )
        if attr == "name":
            return  # a text field: the model validates it
        path = key
    else:
        allowed = PARTNERSHIP_FIELDS + (
            _STRUCTURE if allow_structure else ()
        )
        if key not in allowed:
            raise ValueError(
                f"{where}: unknown context '{key}'{closest(key, allowed)} "
                f"(allowed: {', '.join(PARTNERSHIP_FIELDS)}, members[i].<attribute>, or "
                "contexts.<name> for a context the theory declares)"
            )
        path = key
        if key in _STRUCTURE:
            return
    bounds = field_bounds(path)
    if bounds is None:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: {_show(value)} is not a boolean (allowed: true or false)")
        return
    allowed = f"allowed: {bounds[0]} .. {bounds[1]}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: {_show(value)} is not a number ({allowed})")
    # Check finiteness before the range: NaN fails every comparison, and math.isfinite would
    # overflow on an int too large for a float, which the range check handles exactly.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"{where}: {_show(value)} is not a finite number (NaN and infinity are not allowed)"
        )
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{where}: {_show(value)} is out of range ({allowed})")


def _show(value: Any, limit: int = 60) -> str:
    """Repr of a value for an error message, shortened so a huge input cannot flood it."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


# -- entry-point presets (review Table 2 and its "Point of entry" prose) ------------------------
ENTRY_POINT_PRESETS: dict[str, dict[str, Any]] = {
    # Partnering to avoid a financial or resource shortfall: stretched resources, brisk pace.
    # As for market and innovation entries, the review has initial trust set by the regulatory
    # environment and the history of collaboration, which the scenario's own values give.
    "funding_pressure": {"pace": 0.6, "members": {"resources": 0.4}},
    # A natural evolution of existing arrangements: a positive relationship already exists.
    "existing_interdependence": {"history": 0.5, "shared_vision": 0.6, "formalisation": 0.6},
    # Partnering out of fear of losing position: lower initial trust (less than a mandate).
    "competitive_threat": {"threat": 0.5},
    # Partnering to secure an advantage: a clear shared aim, some ambition.
    "market_opportunity": {"shared_vision": 0.6, "ambition_bias": 0.1},
    # Mandated partnering (buddying, forced merger): power imbalance, and initial trust lowered
    # "drastically" (the review), through the mandate itself (power.mandated_imbalance).
    "policy_directive": {"mandated": True, "authenticity": 0.4, "stakeholder_involvement": 0.4,
                         "members": {"priority": 0.4}},
    # A goal the organisations cannot reach alone: authentic, visionary, hard problem.
    "innovation": {
        "authenticity": 0.7,
        "shared_vision": 0.65,
        "ambition_bias": 0.15,
        "problem_simplicity": 0.35,
    },
}


def _apply_preset(data: dict[str, Any]) -> dict[str, Any]:
    entry = data.get("entry_point")
    if entry is None or not isinstance(entry, str) or entry not in ENTRY_POINT_PRESETS:
        return data  # validation reports an unknown entry point with the allowed values
    preset = dict(ENTRY_POINT_PRESETS[entry])
    member_defaults = preset.pop("members", {})
    merged = {**preset, **data}
    members = data.get("members")
    if member_defaults and isinstance(members, list | tuple):
        merged["members"] = [
            {**member_defaults, **m} if isinstance(m, Mapping) else m for m in members
        ]
    return merged


def _switch_preset(data: dict[str, Any], old: str | None, new: str | None,
                   explicit: set[str]) -> None:
    """Move the values an entry point's preset gave from ``old``'s preset to ``new``'s.

    A value still equal to what ``old`` gives (its preset's value, else the field's default)
    takes what ``new`` gives; any other value, and any path in ``explicit``, is kept.
    """
    before = dict(ENTRY_POINT_PRESETS.get(old, {})) if old else {}
    after = dict(ENTRY_POINT_PRESETS.get(new, {})) if new else {}
    member_before, member_after = before.pop("members", {}), after.pop("members", {})
    for key in before.keys() | after.keys():
        default = Scenario.model_fields[key].default
        if key not in explicit and data[key] == before.get(key, default):
            data[key] = after.get(key, default)
    for i, member in enumerate(data["members"]):
        for attr in member_before.keys() | member_after.keys():
            default = Member.model_fields[attr].default
            if (f"members[{i}].{attr}" not in explicit
                    and member[attr] == member_before.get(attr, default)):
                member[attr] = member_after.get(attr, default)


# -- loading -------------------------------------------------------------------------------------
def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union", "literal[")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _allowed_for(loc: tuple[Any, ...]) -> tuple[str, ...]:
    if len(loc) >= 3 and loc[0] == "members":
        return tuple(Member.model_fields)
    if len(loc) >= 3 and loc[0] == "timeline":
        return tuple(TimelineEvent.model_fields)
    return tuple(Scenario.model_fields)


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    path = _format_loc(loc)
    kind = error.get("type", "")
    value = error.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_for(loc)
        hint = closest(key, allowed)
        if not hint and len(loc) == 1:
            # A member attribute written at the top level (e.g. 'size' or 'sise').
            near = closest(key, MEMBER_FIELDS)
            if key in MEMBER_FIELDS:
                hint = f"; '{key}' is a member attribute: set it under members[i]"
            elif near:
                attr = near.split("'")[1]
                hint = f"; did you mean the member attribute '{attr}' (set it under members[i])?"
        return f"{path}: unknown key '{key}'{hint} (allowed: {', '.join(allowed)})"
    if kind == "invalid_key":
        where = _format_loc(loc[:-1])
        allowed = _allowed_for(loc)
        return f"{where}: key {_show(value)} is not a field name (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return f"{path}: required field is missing"
    if kind == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ")
    ctx = error.get("ctx") or {}
    shown = _show(value)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        field = _field_for(loc)
        bounds = _bounds_text(field)
        return f"{path}: {shown} is out of range (allowed: {bounds})"
    if kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        # pydantic rejects ints too large for a float as "not a number": they are out of range.
        return f"{path}: {shown} is out of range (allowed: {_bounds_text(_field_for(loc))})"
    if kind == "finite_number":
        return f"{path}: {shown} is not a finite number (NaN and infinity are not allowed)"
    if kind == "literal_error":
        allowed = ctx.get("expected", "")
        names = FORMS if path == "form" else ENTRY_POINTS
        hint = closest(value, names) if isinstance(value, str) else ""
        return f"{path}: {shown} is not allowed{hint} (allowed: {allowed})"
    if kind in ("too_short", "too_long") and loc and loc[0] == "members" and len(loc) == 1:
        n = len(value) if hasattr(value, "__len__") else value
        return f"members: {n} members given (allowed: 2 .. {MAX_MEMBERS})"
    if kind == "too_short" and loc and loc[-1] == "changes":
        return f"{path}: no changes given (a timeline event changes at least one context)"
    if kind in ("string_too_short", "string_too_long"):
        low, high = ctx.get("min_length"), ctx.get("max_length")
        limit = f"at least {low}" if low is not None else f"at most {high}"
        return f"{path}: text of length {len(value)} (allowed length: {limit})"
    if kind == "string_type" and loc and loc[-1] == "[key]":
        where = _format_loc(loc[:-2])
        return (
            f"{where}: key {shown} is not a context name (write a context name such as "
            "'leadership' or a member path such as 'members[0].size')"
        )
    if kind.endswith("_type") or kind.endswith("_parsing"):
        hint = ""
        if isinstance(value, str):
            try:
                float(value)
                hint = "; write numbers unquoted"
                if re.fullmatch(r"[+-]?[0-9]+[eE][+-]?[0-9]+", value.strip()):
                    hint += f" (YAML reads {value.strip()} as text: write it with a decimal point)"
            except ValueError:
                pass
        return f"{path}: {shown} has the wrong type ({error.get('msg', '')}){hint}"
    return f"{path}: {error.get('msg', 'invalid value')} (got {shown})"


def _is_spurious_length(error: dict[str, Any]) -> bool:
    # pydantic counts only the valid items of a tuple; a members list of the right length
    # with one bad member is reported by that member's own error.
    value = error.get("input")
    return (
        error.get("type") in ("too_short", "too_long")
        and tuple(error.get("loc", ())) == ("members",)
        and hasattr(value, "__len__")
        and 2 <= len(value) <= MAX_MEMBERS
    )


def _field_for(loc: tuple[Any, ...]) -> Any:
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None
    model = {"members": Member, "timeline": TimelineEvent}.get(names[0], Scenario)
    return model.model_fields.get(names[-1])


def _bounds_text(field: Any) -> str:
    if field is None:
        return "see the field's description"
    low = high = None
    for meta in field.metadata:
        if getattr(meta, "ge", None) is not None:
            low = meta.ge
        if getattr(meta, "le", None) is not None:
            high = meta.le
    if high is None:
        return f"{low} or more"
    return f"{low} .. {high}"


def _more(problems: list[str], shown: int = 3) -> str:
    """Summarise further problems after the first, listing at most ``shown`` of them."""
    if not problems:
        return ""
    rest = f"; ... {len(problems) - shown} not shown" if len(problems) > shown else ""
    return f" (and {len(problems)} more: " + "; ".join(problems[:shown]) + rest + ")"


def _validate(data: Any, *, source: str) -> Scenario:
    if not isinstance(data, Mapping):
        raise ScenarioError(
            f"{source}: a scenario must be a mapping of fields, got {type(data).__name__}"
        )
    data = {str(k) if not isinstance(k, str) else k: v for k, v in data.items()}
    try:
        return Scenario.model_validate(_apply_preset(dict(data)))
    except ValidationError as exc:
        errors = [e for e in exc.errors() if not _is_spurious_length(e)]
        problems = [_describe(e) for e in errors or exc.errors()]
        raise ScenarioError(f"{source}: {problems[0]}{_more(problems[1:])}") from None
    except (TypeError, ValueError) as exc:  # odd inputs pydantic itself cannot describe
        raise ScenarioError(f"{source}: {exc}") from None


def load_scenario(source: str | Path | Mapping[str, Any] | Scenario,
                  theory: Any = None) -> Scenario:
    """Load and validate a scenario from a YAML file, a mapping, or return a Scenario as is.

    With ``theory`` (a :class:`cmo_sim.Theory`), the scenario's own contexts (``contexts:``
    and ``members[i].contexts:``, and timeline changes of them) are checked against the
    contexts the theory declares: names, levels and ranges.

    Raises
    ------
    ScenarioError
        Naming the file, the field path, the value and what is allowed.
    """
    scenario = _load(source)
    if theory is not None:
        label = (str(source) if isinstance(source, str | Path)
                 else "scenario" if isinstance(source, Mapping) else None)
        check_theory_contexts(scenario, theory.contexts, label)
    return scenario


def _load(source: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return _validate(source, source="scenario")
    if not isinstance(source, str | Path):
        raise ScenarioError(
            f"a scenario is a path, a mapping or a Scenario, not {type(source).__name__}"
        )
    path = Path(source)
    data = read_yaml_file(path, "scenario")
    if data is None:
        raise ScenarioError(f"{path}: the file is empty (a scenario needs at least 'members')")
    if isinstance(data, Mapping) and "name" not in data:
        data = {"name": path.stem, **data}
    return _validate(data, source=str(path))

