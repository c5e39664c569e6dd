"""Rule and Theory: the context-mechanism-outcome configurations the engine realises."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cmo_sim._errors import TheoryError, closest
from cmo_sim._yaml import load_yaml_text, read_yaml_file
from cmo_sim.core.terms import (
    FORMS,
    MODULATORS,
    REDUCTIONS,
    SITES,
    STATE_INPUTS,
    ContextInfo,
    SiteTerms,
    TermSpec,
    compile_terms,
    parse_condition,
)
from cmo_sim.core.terms import (
    context_level as _context_level,
)
from cmo_sim.scenario import (
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Member,
    Scenario,
    field_bounds,
)

__all__ = ["CONTEXTS", "MECHANISMS", "OUTCOMES", "Rule", "Theory", "check_theory", "load_theory"]

#: Context names of the built-in contexts: the scenario's partnership contexts and member
#: attributes. A theory may declare contexts of its own (``contexts:``).
BUILTIN_CONTEXTS: tuple[str, ...] = PARTNERSHIP_FIELDS + MEMBER_FIELDS
#: Every name a rule may give as its context with the built-in contexts only: the built-in
#: contexts and the state inputs of the sites.
CONTEXTS: frozenset[str] = frozenset(BUILTIN_CONTEXTS) | frozenset(STATE_INPUTS)
#: Mechanisms the sites can realise (a theory may declare more, each tied to its sites).
MECHANISMS: frozenset[str] = frozenset().union(*(s.mechanisms for s in SITES.values()))
#: Outcomes the sites can reach.
OUTCOMES: frozenset[str] = frozenset().union(*(s.outcomes for s in SITES.values()))

_NAME = r"^[a-z][a-z0-9_]*$"


def _as_float(value: Any) -> Any:
    """Python and numpy ints and floats as float; anything else unchanged (then rejected)."""
    if isinstance(value, bool | np.bool_):
        return value
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return value


def _known(value: str, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(
            f"unknown {what} '{value}'{closest(value, allowed)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    return value


class TermModel(BaseModel):
    """What a rule does at one site: where its term enters and how (docs/theory-language.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    site: str
    form: str = "linear"
    centre: float | None = None
    half: float = Field(default=0.25, gt=0.0)
    scale: tuple[str | float, ...] = ()
    modulator: str | None = None
    when: tuple[str, ...] = ()
    target: str = "all"
    reduce: str | None = None

    @field_validator("scale", "when", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(_as_float(v) for v in value)
        if isinstance(value, str | int | float):
            return (_as_float(value),)
        return value

    @field_validator("centre", "half", mode="before")
    @classmethod
    def _floats(cls, value: Any) -> Any:
        return _as_float(value)

    @field_validator("site")
    @classmethod
    def _known_site(cls, value: str) -> str:
        return _known(value, frozenset(SITES), "site")

    @field_validator("form")
    @classmethod
    def _known_form(cls, value: str) -> str:
        return _known(value, frozenset(FORMS), "form")

    @field_validator("modulator")
    @classmethod
    def _known_modulator(cls, value: str | None) -> str | None:
        return None if value is None else _known(value, frozenset(MODULATORS), "modulator")

    @field_validator("when")
    @classmethod
    def _conditions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_condition(text)
        return value

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: tuple[str | float, ...]) -> tuple[str | float, ...]:
        for v in value:
            if isinstance(v, float) and not (math.isfinite(v) and v > 0):
                raise ValueError(f"scale factor {v!r} is not allowed (a baseline constant name "
                                 "or a finite number > 0)")
            if not isinstance(v, str | float):
                raise ValueError(f"scale factor {v!r} is not a baseline name or a number")
        return value

    def spec(self) -> TermSpec:
        """The term as the compiler reads it."""
        return TermSpec(**self.model_dump())


_TERM_FIELDS = tuple(f for f in TermModel.model_fields)


class Rule(BaseModel):
    """One CMO configuration: raising ``context`` moves ``outcome`` by ``sign``, via ``mechanism``.

    ``weight`` (>= 0) is the strength. What the engine does with the rule is its term at
    ``site`` (with ``form``, ``centre``, ``scale``, ``modulator``, ``when``, ``target``,
    ``reduce``), or, for a rule that acts at several sites, the list ``terms``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    id: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    context: str = Field(pattern=_NAME)
    mechanism: str = Field(pattern=_NAME)
    outcome: str
    sign: Literal[-1, 1]
    weight: float = Field(ge=0.0)
    provenance: str = Field(min_length=1)
    note: str = ""
    site: str | None = None
    form: str | None = None
    centre: float | None = None
    half: float | None = None
    scale: tuple[str | float, ...] | None = None
    modulator: str | None = None
    when: tuple[str, ...] | None = None
    target: str | None = None
    reduce: str | None = None
    terms: tuple[TermModel, ...] | None = None

    @field_validator("sign", mode="before")
    @classmethod
    def _integer_sign(cls, value: Any) -> Any:
        # YAML reads 'true' / 'yes' as a bool, which pydantic would take as 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not allowed (allowed: 1 or -1)")
        return value

    @field_validator("weight", "centre", "half", mode="before")
    @classmethod
    def _int_weight(cls, value: Any) -> Any:
        return _as_float(value)

    @field_validator("scale", "when", "terms", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(_as_float(v) for v in value)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return (_as_float(value),)
        return value

    @field_validator("outcome")
    @classmethod
    def _known_outcome(cls, value: str) -> str:
        return _known(value, OUTCOMES, "outcome")

    @model_validator(mode="after")
    def _one_way_of_terms(self) -> Rule:
        inline = {f: getattr(self, f) for f in _TERM_FIELDS if getattr(self, f) is not None}
        if self.terms is not None:
            if inline:
                raise ValueError(
                    f"give either 'terms' or the term fields ({', '.join(sorted(inline))}) at "
                    "the rule's top level, not both"
                )
            if not self.terms:
                raise ValueError("'terms' is empty (a rule needs at least one term)")
        elif self.site is None:
            raise ValueError("no 'site': say where the rule's term enters (or give 'terms')")
        else:
            TermModel.model_validate(inline)  # the same checks as a listed term
        return self

    def term_models(self) -> tuple[TermModel, ...]:
        """The rule's terms (one for a rule written with a top-level ``site``)."""
        if self.terms is not None:
            return self.terms
        inline = {f: getattr(self, f) for f in _TERM_FIELDS if getattr(self, f) is not None}
        return (TermModel.model_validate(inline),)

    def term_specs(self) -> tuple[TermSpec, ...]:
        """The rule's terms as the compiler reads them."""
        return tuple(t.spec() for t in self.term_models())

    @property
    def sites(self) -> tuple[str, ...]:
        """The sites the rule's terms enter."""
        return tuple(t.site for t in self.term_models())

    @property
    def coefficient(self) -> float:
        """The signed strength: ``sign * weight``."""
        return self.sign * self.weight


class ContextModel(BaseModel):
    """A context a theory declares besides the built-in ones."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    name: str = Field(pattern=_NAME)
    level: Literal["partnership", "member"]
    range: tuple[float, float]
    typical: float
    meaning: str = Field(min_length=1)
    provenance: str = Field(min_length=1)

    @field_validator("range", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(_as_float(v) for v in value)
        return value

    @field_validator("typical", mode="before")
    @classmethod
    def _typical(cls, value: Any) -> Any:
        return _as_float(value)

    @model_validator(mode="after")
    def _typical_in_range(self) -> ContextModel:
        low, high = self.range
        if not low < high:
            raise ValueError(f"range [{low}, {high}] is empty (the low end must be below the "
                             "high end)")
        if not low <= self.typical <= high:
            raise ValueError(f"typical {self.typical} is outside the range [{low}, {high}]")
        return self

    def info(self) -> ContextInfo:
        """The context as the compiler reads it."""
        return ContextInfo(self.name, self.level, self.range[0], self.range[1], self.typical,
                           self.meaning, self.provenance)


class MechanismModel(BaseModel):
    """A mechanism a theory declares, with the sites where it can act."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(pattern=_NAME)
    meaning: str = Field(min_length=1)
    sites: tuple[str, ...] = Field(min_length=1)

    @field_validator("sites", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("sites")
    @classmethod
    def _known_sites(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for v in value:
            _known(v, frozenset(SITES), "site")
        return value


def builtin_contexts() -> dict[str, ContextInfo]:
    """The built-in contexts: the scenario's partnership contexts and member attributes."""
    out = {}
    for name in BUILTIN_CONTEXTS:
        member = name in MEMBER_FIELDS
        field = (Member if member else Scenario).model_fields[name]
        bounds = field_bounds(f"members[0].{name}" if member else name)
        low, high = bounds if bounds is not None else (0.0, 1.0)
        out[name] = ContextInfo(
            name, "member" if member else "partnership", low, high, float(field.default),
            field.description or "", "cmo-sim scenario field", boolean=bounds is None,
        )
    return out


#: Appended to the name of a theory changed by :meth:`Theory.with_weights` and friends.
MODIFIED = " (modified)"


class Theory:
    """A programme theory: its contexts, its rules (terms at sites) and baseline constants.

    Immutable: :meth:`without`, :meth:`with_weights`, :meth:`with_baseline` and :meth:`extend`
    return new theories, named ``<name> (modified)`` when they change what the engine runs.
    """

    __slots__ = ("_baseline", "_compiled", "_contexts", "_index", "_mechanisms", "_rules",
                 "name")

    def __init__(self, rules: Iterable[Rule], baseline: Mapping[str, float], name: str = "",
                 contexts: Iterable[ContextModel] = (),
                 mechanisms: Iterable[MechanismModel] = ()):
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._index = {r.id: r for r in self._rules}
        self._baseline = dict(baseline)
        self._contexts: tuple[ContextModel, ...] = tuple(contexts)
        self._mechanisms: tuple[MechanismModel, ...] = tuple(mechanisms)
        self._compiled: dict[str, SiteTerms] | None = None
        self.name = name

    # -- access -------------------------------------------------------------------------------
    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules, in file order."""
        return self._rules

    @property
    def baseline(self) -> dict[str, float]:
        """Baseline constants (intercepts, rates, thresholds) by name; a copy."""
        return dict(self._baseline)

    @property
    def ids(self) -> tuple[str, ...]:
        """Rule ids, in file order."""
        return tuple(self._index)

    @property
    def user_contexts(self) -> tuple[ContextModel, ...]:
        """The contexts the theory declares besides the built-in ones."""
        return self._contexts

    @property
    def mechanisms(self) -> tuple[MechanismModel, ...]:
        """The mechanisms the theory declares besides the built-in ones."""
        return self._mechanisms

    @property
    def contexts(self) -> dict[str, ContextInfo]:
        """Every context a scenario may set under this theory: built-in and declared."""
        out = builtin_contexts()
        out.update({c.name: c.info() for c in self._contexts})
        return out

    def compiled(self) -> dict[str, SiteTerms]:
        """The theory's terms compiled per site (cached)."""
        if self._compiled is None:
            self._compiled = compile_terms(self._rules, self._baseline, self.contexts)
        return self._compiled

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; ``KeyError`` naming the closest id otherwise."""
        try:
            return self._index[rule_id]
        except KeyError:
            raise KeyError(f"no rule '{rule_id}'{closest(rule_id, self._index)}") from None

    def coefficients(self) -> dict[str, float]:
        """``{rule id: sign * weight}``."""
        return {r.id: r.coefficient for r in self._rules}

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of what the engine runs: rules, declared contexts and baseline.

        Every rule's context, outcome, sign, weight and terms enter it, with the declared
        contexts' levels, ranges and typical values, and the baseline. Two theories with the
        same hash give the same results; names, mechanisms, provenance and notes do not enter it.
        """
        rules = [
            {"id": r.id, "context": r.context, "outcome": r.outcome, "sign": r.sign,
             "weight": r.weight, "terms": [t.model_dump() for t in r.term_models()]}
            for r in self._rules
        ]
        contexts = [c.model_dump(include={"name", "level", "range", "typical"})
                    for c in self._contexts]
        data = {"rules": rules, "contexts": contexts, "baseline": self._baseline}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def changes(self, base: Theory | None = None) -> dict[str, Any]:
        """What differs from ``base`` (the default theory when omitted) in what the engine uses.

        Returns ``{"weights": {rule id: [base weight, this weight]}, "signs": {rule id: [base
        sign, this sign]}, "baseline": {constant: [base value, this value]}}``, each empty when
        nothing differs; rules of only one of the two theories are listed under ``"rules"``,
        rules of both whose terms differ under ``"terms"``, declared contexts under
        ``"contexts"``.
        """
        base = load_theory() if base is None else base
        weights, signs, terms = {}, {}, []
        for rule in self._rules:
            other = base._index.get(rule.id)
            if other is None:
                continue
            if other.weight != rule.weight:
                weights[rule.id] = [other.weight, rule.weight]
            if other.sign != rule.sign:
                signs[rule.id] = [other.sign, rule.sign]
            if (other.term_models() != rule.term_models() or other.context != rule.context
                    or other.outcome != rule.outcome):
                terms.append(rule.id)
        baseline = {key: [base._baseline.get(key), value]
                    for key, value in self._baseline.items() if base._baseline.get(key) != value}
        only = sorted(set(self._index) ^ set(base._index))
        out: dict[str, Any] = {"weights": weights, "signs": signs, "baseline": baseline}
        if only:
            out["rules"] = only
        if terms:
            out["terms"] = terms
        contexts = sorted({c.name for c in self._contexts} ^ {c.name for c in base._contexts})
        if contexts:
            out["contexts"] = contexts
        return out

    def record(self) -> dict[str, Any]:
        """How results and stores name the theory: name, content hash, changes from the default."""
        return {"name": self.name, "hash": self.content_hash, "changes": self.changes()}

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self):
        return iter(self._rules)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Theory)
            and self._rules == other._rules
            and self._baseline == other._baseline
            and self._contexts == other._contexts
            and self._mechanisms == other._mechanisms
        )

    def __hash__(self) -> int:
        return hash((self._rules, tuple(sorted(self._baseline.items())), self._contexts))

    def __repr__(self) -> str:
        ablated = sum(r.weight == 0 for r in self._rules)
        return f"Theory({self.name!r}, {len(self._rules)} rules, {ablated} ablated)"

    # -- changed copies -------------------------------------------------------------------------
    def without(self, *rule_ids: str) -> Theory:
        """Ablation: a copy with these rules' weights set to 0 (removing exactly their terms)."""
        return self.with_weights(dict.fromkeys(rule_ids, 0.0))

    def with_weights(self, weights: Mapping[str, float]) -> Theory:
        """A copy with the given rules' weights replaced; unknown ids or bad weights raise."""
        weights = {key: _as_float(value) for key, value in weights.items()}
        for rule_id, weight in weights.items():
            self.rule(rule_id)
            if not isinstance(weight, float):
                raise TheoryError(f"rule {rule_id}: weight {weight!r} is not a number")
            if not math.isfinite(weight) or weight < 0:
                raise TheoryError(
                    f"rule {rule_id}: weight {weight!r} is not allowed (finite and >= 0)"
                )
        rules = [
            r.model_copy(update={"weight": float(weights[r.id])}) if r.id in weights else r
            for r in self._rules
        ]
        return self._derived(rules, self._baseline)

    def with_baseline(self, **values: float) -> Theory:
        """A copy with baseline constants replaced.

        Names must exist; values must be finite and in their documented range
        (:data:`BASELINE_RANGES`).
        """
        baseline = dict(self._baseline)
        for key, value in values.items():
            value = _as_float(value)
            if key not in baseline:
                raise TheoryError(f"baseline: unknown constant '{key}'{closest(key, baseline)}")
            if not isinstance(value, float):
                raise TheoryError(f"baseline.{key}: {value!r} is not a number")
            if not math.isfinite(value):
                raise TheoryError(f"baseline.{key}: {value!r} is not finite")
            try:
                baseline[key] = check_baseline_value(key, value)
            except ValueError as exc:
                raise TheoryError(str(exc)) from None
        return self._derived(self._rules, baseline)

    def extend(self, rules: Iterable[Rule | Mapping[str, Any]] = (),
               contexts: Iterable[ContextModel | Mapping[str, Any]] = (),
               mechanisms: Iterable[MechanismModel | Mapping[str, Any]] = ()) -> Theory:
        """A copy with more rules, contexts and mechanisms, validated as a theory file is."""
        data = self.to_dict()
        data["rules"] += [r.model_dump(exclude_none=True) if isinstance(r, Rule) else dict(r)
                          for r in rules]
        data.setdefault("contexts", [])
        data["contexts"] += [c.model_dump() if isinstance(c, ContextModel) else dict(c)
                             for c in contexts]
        data.setdefault("mechanisms", [])
        data["mechanisms"] += [m.model_dump() if isinstance(m, MechanismModel) else dict(m)
                               for m in mechanisms]
        theory = _parse(data, f"{self.name} (extended)")
        return self._derived(theory._rules, theory._baseline, theory._contexts,
                             theory._mechanisms)

    def _derived(self, rules: Iterable[Rule], baseline: Mapping[str, float],
                 contexts: Iterable[ContextModel] | None = None,
                 mechanisms: Iterable[MechanismModel] | None = None) -> Theory:
        """A changed copy, named ``<name> (modified)`` when the engine would run it differently."""
        theory = Theory(rules, baseline, self.name,
                        self._contexts if contexts is None else contexts,
                        self._mechanisms if mechanisms is None else mechanisms)
        if theory.content_hash != self.content_hash and not self.name.endswith(MODIFIED):
            theory.name = f"{self.name}{MODIFIED}"
        return theory

    # -- export -------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The rule table as a DataFrame, one row per rule (``sites``: where its terms enter)."""
        columns = ["id", "context", "mechanism", "outcome", "sign", "weight", "sites",
                   "provenance", "note"]
        rows = [{**r.model_dump(include=set(columns)), "sites": ", ".join(r.sites)}
                for r in self._rules]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """A mapping that :func:`load_theory` reads back into an equal theory."""
        rules = []
        for r in self._rules:
            data = r.model_dump(exclude_none=True)
            if not data["note"]:
                del data["note"]
            if "terms" in data:
                data["terms"] = [t.model_dump(exclude_defaults=True) for t in r.terms]
            for key in ("scale", "when"):
                if key in data:
                    data[key] = list(data[key])
            rules.append(data)
        out: dict[str, Any] = {"name": self.name}
        if self._contexts:
            out["contexts"] = [{**c.model_dump(), "range": list(c.range)} for c in self._contexts]
        if self._mechanisms:
            out["mechanisms"] = [{**m.model_dump(), "sites": list(m.sites)}
                                 for m in self._mechanisms]
        out["rules"] = rules
        out["baseline"] = dict(self._baseline)
        return out

    def to_yaml(self) -> str:
        """YAML text that :func:`load_theory` reads back into an equal theory."""
        data = self.to_dict()
        for rule in data["rules"]:
            for term in rule.get("terms", []):
                for key in ("scale", "when"):
                    if key in term:
                        term[key] = list(term[key])
        return yaml.safe_dump(data, sort_keys=False, width=100)


# -- loading ----------------------------------------------------------------------------------
_TOP_KEYS = ("name", "version", "extends", "contexts", "mechanisms", "rules", "baseline")


def _expand(data: Mapping[str, Any], source: str, depth: int = 0) -> tuple[Any, list[str]]:
    """``data`` with what it ``extends`` merged in (rules of the same id replaced).

    ``extends: default`` builds on the default theory; a path (relative to the file) on another
    theory file, which may extend in turn.
    """
    base_ref = data.get("extends")
    if base_ref is None:
        return data, []
    if depth > 8:
        return None, [f"{source}: 'extends' goes more than 8 files deep (a cycle?)"]
    if base_ref == "default":
        base, base_source = _default_data(), "default theory"
    elif isinstance(base_ref, str) and base_ref:
        here = Path(source).parent if Path(source).suffix else Path.cwd()
        try:
            base, base_source = _load_yaml(here / base_ref)
        except TheoryError as exc:
            return None, [f"{source}: extends: {exc}"]
        if not isinstance(base, Mapping):
            return None, [f"{base_source}: a theory must be a mapping"]
        base, problems = _expand(base, base_source, depth + 1)
        if problems:
            return None, problems
    else:
        return None, [f"{source}: extends: {base_ref!r} is not allowed ('default' or the path "
                      "of a theory file)"]
    merged = {k: v for k, v in data.items() if k != "extends"}
    own_rules = data.get("rules") or []
    if not isinstance(own_rules, list):
        return None, [f"{source}: 'rules' must be a list of rules"]
    for key in ("contexts", "mechanisms"):
        if not isinstance(data.get(key) or [], list):
            return None, [f"{source}: '{key}' must be a list (got {type(data[key]).__name__})"]
    if not isinstance(data.get("baseline") or {}, Mapping):
        return None, [f"{source}: 'baseline' must be a mapping of constant names to numbers "
                      f"(got {type(data['baseline']).__name__})"]
    for k, r in enumerate(own_rules):
        if isinstance(r, Mapping) and not isinstance(r.get("id"), str | None):
            return None, [f"{source}: rule {k + 1}: field 'id': must be text (got "
                          f"{type(r['id']).__name__})"]
    replaced = {r.get("id"): r for r in own_rules if isinstance(r, Mapping)}
    rules = [replaced.pop(r.get("id"), r) for r in base.get("rules", [])]
    merged["rules"] = rules + [r for r in own_rules
                               if not (isinstance(r, Mapping) and r.get("id") in
                                       {b.get("id") for b in base.get("rules", [])})]
    for key in ("contexts", "mechanisms"):
        merged[key] = list(base.get(key) or []) + list(data.get(key) or [])
    merged["baseline"] = {**(base.get("baseline") or {}), **(data.get("baseline") or {})}
    merged.setdefault("name", base.get("name", source))
    return merged, []


#: The allowed range of every baseline constant (inclusive). Shares, rates and levels are in
#: [0, 1]; a rate above 1 would move a state past its bounds in one month. Logit intercepts and
#: thresholds have wide bounds that keep exp() finite; slopes and scales are non-negative
#: (a rule's sign says the direction) with bounds far above any sensible value. docs/model.md
#: (6.2) says what each constant is.
BASELINE_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys((
        "trust_initial", "faith_initial", "intra_initial", "synergy_initial", "synergy_rate",
        "ambition_bias_scale", "inertia_discount", "trust_rate", "constructive_gain",
        "destructive_loss", "exit_shock_decay", "domination_rate", "leadership_rate",
        "communication_rate", "vision_rate", "integration_rate", "faith_rate",
        "faith_value_rate", "destructive_faith_loss", "intra_rate", "intra_decay",
        "critical_trust", "critical_faith", "mandated_exit_barrier", "lead_power_bonus",
        "mandate_initial_trust", "dominance_initial_trust", "faith_initial_context",
        "learning_rate", "turnover_faith_loss", "turnover_trust_loss"), (0.0, 1.0)),
    **dict.fromkeys(("trust_initial_noise", "faith_initial_noise"), (0.0, 0.5)),
    **dict.fromkeys(("success_intercept", "conflict_intercept", "turnover_intercept",
                     "synergy_threshold", "demerger_intercept", "join_intercept"),
                    (-50.0, 50.0)),
    **dict.fromkeys(("synergy_steepness", "synergy_effect", "ambition_difficulty",
                     "complexity_difficulty", "complexity_trust_requirement", "loss_aversion",
                     "startup_cost"), (0.0, 50.0)),
    "domination_threshold": (0.0, 2.0),
    "turnover_experience_loss": (0.0, 2.0),
}


def check_baseline_value(key: str, value: Any) -> float:
    """``value`` as a float in the documented range of constant ``key``; ValueError if not."""
    value = _as_float(value)
    if not isinstance(value, float) or not math.isfinite(value):
        raise ValueError(f"baseline.{key}: {value!r} is not a finite number")
    low, high = BASELINE_RANGES[key]
    if not low <= value <= high:
        raise ValueError(f"baseline.{key}: {value!r} is out of range (allowed: {low:g} .. "
                         f"{high:g})")
    return value


@cache
def _default_data() -> dict[str, Any]:
    text = resources.files("cmo_sim.theory").joinpath("default.yaml").read_text("utf-8")
    return load_yaml_text(text, "default theory", TheoryError)


def _parse(data: Any, source: str) -> Theory:
    theory, problems = _read(data, source)
    if problems:
        raise TheoryError(problems[0])
    return theory


def _pydantic_problems(exc: ValidationError, where: str, model: type[BaseModel]) -> list[str]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not field:  # a check across fields: named by the field its message starts with
            first = msg.split(" ", 1)[0]
            field = first if first in model.model_fields else "(whole entry)"
        if err["type"] == "extra_forbidden":
            msg = (f"unknown field{closest(str(err['loc'][-1]), model.model_fields)} "
                   f"(allowed: {', '.join(model.model_fields)})")
        elif err["type"] == "string_pattern_mismatch":
            msg = "must be lower-case letters, digits and underscores, starting with a letter"
            if field == "id":
                msg = "must be '<group>.<name>' in " + msg.replace("must be ", "")
        got = err.get("input")
        if isinstance(got, Mapping) and field in got:
            got = got[field]
        out.append(f"{where}: field '{field}': {msg} (got {got!r})")
    return out


def _entries(data: Mapping, key: str, model: type[BaseModel], source: str,
             problems: list[str]) -> list[Any]:
    """Validate the list ``data[key]`` of ``model`` entries; problems are appended."""
    raw = data.get(key) or []
    if not isinstance(raw, list):
        problems.append(f"{source}: '{key}' must be a list")
        return []
    out, seen = [], set()
    for k, item in enumerate(raw):
        name = item.get("name", f"{key}[{k}]") if isinstance(item, Mapping) else f"{key}[{k}]"
        where = f"{source}: {key[:-1]} {name}"
        if not isinstance(item, Mapping):
            problems.append(f"{source}: {key}[{k}] must be a mapping, got {type(item).__name__}")
            continue
        try:
            entry = model.model_validate(dict(item))
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, where, model))
            continue
        if entry.name in seen:
            problems.append(f"{where}: duplicate name")
            continue
        seen.add(entry.name)
        out.append(entry)
    return out


def _read(data: Any, source: str) -> tuple[Theory | None, list[str]]:
    """The theory in ``data`` and every problem found in it (one message each)."""
    if not isinstance(data, Mapping):
        return None, [f"{source}: a theory must be a mapping, got {type(data).__name__}"]
    problems = [
        f"{source}: unknown key '{key}'{closest(str(key), _TOP_KEYS)} "
        f"(allowed: {', '.join(_TOP_KEYS)})"
        for key in data if key not in _TOP_KEYS
    ]
    if "name" in data and not isinstance(data["name"], str):
        problems.append(f"{source}: 'name' must be text, got {data['name']!r}")
    if problems:
        return None, problems
    data, problems = _expand(data, source)
    if problems:
        return None, problems
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        return None, [*problems, f"{source}: 'rules' must be a non-empty list of rules"]
    contexts = _entries(data, "contexts", ContextModel, source, problems)
    builtin = builtin_contexts()
    for c in contexts:
        if c.name in builtin or c.name in STATE_INPUTS:
            problems.append(f"{source}: context {c.name}: field 'name': '{c.name}' is a built-in "
                            "context or state input (give the theory's context its own name)")
    mechanisms = _entries(data, "mechanisms", MechanismModel, source, problems)
    late: list[str] = []  # baseline problems, reported after the rules' (file order)
    baseline = dict(_default_data()["baseline"])
    raw_baseline = data.get("baseline", {}) or {}
    if not isinstance(raw_baseline, Mapping):
        late.append(f"{source}: 'baseline' must be a mapping of constant names to numbers")
        raw_baseline = {}
    for key, value in raw_baseline.items():
        value = _as_float(value)
        if key not in baseline:
            late.append(f"{source}: baseline: unknown constant '{key}'{closest(key, baseline)}"
                            f" (allowed: {', '.join(baseline)})")
        else:
            try:
                baseline[key] = check_baseline_value(key, value)
            except ValueError as exc:
                late.append(f"{source}: {exc}")
    known = {**builtin, **{c.name: c.info() for c in contexts}}
    site_mechanisms = {name: set(site.mechanisms) for name, site in SITES.items()}
    for m in mechanisms:
        for site in m.sites:
            site_mechanisms[site].add(m.name)
    rules: list[Rule] = []
    seen: set[str] = set()
    for k, raw in enumerate(raw_rules):
        label = raw.get("id", f"rules[{k}]") if isinstance(raw, Mapping) else f"rules[{k}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{source}: rules[{k}] must be a mapping, got {type(raw).__name__}")
            continue
        try:
            rule = Rule.model_validate(dict(raw))
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, f"{source}: rule {label}", Rule))
            if isinstance(raw.get("id"), str):
                seen.add(raw["id"])
            continue
        if rule.id in seen:
            problems.append(f"{source}: rule {rule.id}: duplicate id")
            continue
        seen.add(rule.id)
        found = _check_rule(rule, known, site_mechanisms, baseline)
        problems.extend(f"{source}: rule {rule.id}: {p}" for p in found)
        if not found:
            rules.append(rule)
    problems += late
    if problems:
        return None, problems
    theory = Theory(rules, baseline, str(data.get("name", source)), contexts, mechanisms)
    return theory, []


def _check_rule(rule: Rule, contexts: Mapping[str, ContextInfo],
                site_mechanisms: Mapping[str, set[str]], baseline: Mapping[str, float]
                ) -> list[str]:
    """What a rule's terms cannot do as declared: one message per problem, naming the field."""
    out = []
    many = rule.terms is not None
    for k, term in enumerate(rule.term_models()):
        at = f"terms[{k}]." if many else ""
        site = SITES[term.site]
        reach = site.outcomes
        if rule.outcome not in reach:
            out.append(f"field 'outcome': {rule.outcome!r} is not reached from site "
                       f"'{site.name}' (allowed: {', '.join(reach)})")
        if rule.mechanism not in site_mechanisms[site.name]:
            hint = closest(rule.mechanism, site_mechanisms[site.name])
            allowed = ", ".join(sorted(site_mechanisms[site.name]))
            out.append(f"field 'mechanism': {rule.mechanism!r} does not act at site '{site.name}'"
                       f"{hint} (allowed: {allowed}; or declare it under 'mechanisms' with this "
                       "site)")
        level = _context_level(rule.context, site, contexts)
        if level is None and site.kind != "floor":
            names = sorted(set(contexts) | set(site.inputs))
            state = STATE_INPUTS.get(rule.context)
            why = (f"the state input {rule.context!r} is not known at site '{site.name}'"
                   if state is not None else f"unknown context {rule.context!r}"
                   f"{closest(rule.context, names)}")
            out.append(f"field 'context': {why} (allowed: the theory's contexts or "
                       f"{', '.join(sorted(site.inputs))})")
        if site.kind == "floor":
            if rule.context != site.compares or rule.outcome != "dissolution" or rule.sign != -1:
                out.append(f"field '{at}site': a '{site.name}' rule is a floor on "
                           f"{site.compares}: it needs context '{site.compares}', outcome "
                           "'dissolution' and sign -1")
            if term.form != "constant":
                out.append(f"field '{at}form': a floor's term is a magnitude (allowed: constant)")
        if term.target not in site.targets:
            out.append(f"field '{at}target': {term.target!r} is not allowed at site "
                       f"'{site.name}' (allowed: {', '.join(site.targets)})")
        if term.modulator is not None:
            mod = MODULATORS[term.modulator]
            shaped = site.shape in mod.shapes or "run" in mod.shapes
            if (term.modulator not in site.modulators or not shaped
                    or (mod.needs is not None and mod.needs not in site.inputs)):
                allowed = sorted(m for m in site.modulators
                                 if {site.shape, "run"} & MODULATORS[m].shapes)
                out.append(f"field '{at}modulator': {term.modulator!r} is not known at site "
                           f"'{site.name}' (allowed: {', '.join(allowed)})")
        if term.reduce is not None:
            allowed_r = REDUCTIONS[site.shape]
            if level != "member":
                out.append(f"field '{at}reduce': only a member-level context is reduced "
                           f"({rule.context!r} is not one)")
            elif term.reduce not in allowed_r:
                out.append(f"field '{at}reduce': {term.reduce!r} is not allowed at a "
                           f"{site.shape} site (allowed: {', '.join(allowed_r)})")
        for factor in term.scale:
            if isinstance(factor, str) and factor not in baseline:
                out.append(f"field '{at}scale': unknown baseline constant {factor!r}"
                           f"{closest(factor, baseline)}")
        for text in term.when:
            cond = parse_condition(text)
            if _context_level(cond.context, site, contexts) is None:
                out.append(f"field '{at}when': condition '{text}' names {cond.context!r}, which "
                           f"is not a declared context nor known at site '{site.name}'"
                           f"{closest(cond.context, set(contexts) | set(site.inputs))}")
    return out


def check_theory(path: str | Path | Mapping[str, Any]) -> list[str]:
    """Every problem of a theory file or mapping, one message each (empty when it loads).

    Unlike :func:`load_theory`, which stops at the first problem, this reads on and reports
    them all (``cmo-sim theory check``).
    """
    if isinstance(path, Mapping):
        return _read(path, "theory")[1]
    try:
        data, source = _load_yaml(path)
    except TheoryError as exc:
        return [str(exc)]
    return _read(data, source)[1]


def _load_yaml(path: str | Path) -> tuple[Any, str]:
    # The hardened loader (cmo_sim._yaml): plain data only, a key given twice refused (the
    # plain safe loader keeps the last, so a rule's second 'weight:' would silently win),
    # limits on size, nesting and aliases, and every path problem as a TheoryError.
    return read_yaml_file(path, "theory", TheoryError), str(Path(path))


def load_theory(path: str | Path | Mapping[str, Any] | None = None) -> Theory:
    """Load a programme theory; with no argument, the review's default theory.

    Raises
    ------
    TheoryError
        For anything the theory cannot run (an unknown site, form, context or outcome, a
        duplicate id, a negative or non-finite weight, ...), naming the rule and the field;
        and for an argument that is not a path, a mapping or None.
    """
    if path is None:
        return _parse(_default_data(), "default theory")
    if isinstance(path, Mapping):
        return _parse(path, "theory")
    if not isinstance(path, str | os.PathLike):
        raise TheoryError(f"a theory is a path, a mapping or None (the default theory), not "
                          f"{type(path).__name__}")
    data, source = _load_yaml(path)
    return _parse(data, source)
