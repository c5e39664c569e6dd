"""Rule and Theory: the context-mechanism-outcome configurations the engine realises."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cmo_sim._errors import TheoryError, closest
from cmo_sim.scenario import MEMBER_FIELDS, PARTNERSHIP_FIELDS

__all__ = ["CONTEXTS", "MECHANISMS", "OUTCOMES", "Rule", "Theory", "check_theory", "load_theory"]

#: Context names a rule may name: scenario contexts, member attributes and the state-derived
#: contexts the step computes (mean trust, task success, cultural distance, ...).
CONTEXTS: frozenset[str] = frozenset(PARTNERSHIP_FIELDS) | frozenset(MEMBER_FIELDS) | {
    "trust",
    "faith",
    "communication",
    "cultural_distance",
    "task_success",
    "task_failure",
    "conflict",
    "destructive_resolution",
    "intra_conflict",
    "inertia",
    "dominance",
    "n_members",
}
MECHANISMS: frozenset[str] = frozenset(
    {
        "synergy",
        "inertia",
        "task_achievement",
        "easier_achievement",
        "lack_of_achievement",
        "conflict",
        "reduced_conflict",
        "coordination",
        "improved_trust",
        "reduced_trust",
        "initial_trust",
        "risk_threshold",
        "trust_building",
        "critical_trust_threshold",
        "faith_collapse",
        "domination",
        "power_imbalance",
        "authenticity",
        "reduced_faith",
        "faith_building",
        "communication",
        "combative_leadership",
        "cultural_integration",
        "task_complexity",
        "intra_conflict",
    }
)
OUTCOMES: frozenset[str] = frozenset(
    {
        "task_achievement",
        "trust",
        "faith",
        "ambition",
        "conflict",
        "communication",
        "shared_vision",
        "dissolution",
        "trust_requirement",
        "intra_conflict",
        "synergy",
    }
)


class Rule(BaseModel):
    """One CMO configuration: raising ``context`` moves ``outcome`` by ``sign``, via ``mechanism``.

    ``weight`` (>= 0) is the strength; the engine applies ``sign * weight``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    id: str = Field(min_length=1, pattern=r"^[a-z_]+\.[a-z_]+$")
    context: str
    mechanism: str
    outcome: str
    sign: Literal[-1, 1]
    weight: float = Field(ge=0.0)
    provenance: str = Field(min_length=1)
    note: str = ""

    @field_validator("sign", mode="before")
    @classmethod
    def _integer_sign(cls, value: Any) -> Any:
        # YAML reads 'true' / 'yes' as a bool, which pydantic would take as 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not allowed (allowed: 1 or -1)")
        return value

    @field_validator("weight", mode="before")
    @classmethod
    def _int_weight(cls, value: Any) -> Any:
        return _as_float(value)

    @field_validator("context")
    @classmethod
    def _known_context(cls, value: str) -> str:
        return _known(value, CONTEXTS, "context")

    @field_validator("mechanism")
    @classmethod
    def _known_mechanism(cls, value: str) -> str:
        return _known(value, MECHANISMS, "mechanism")

    @field_validator("outcome")
    @classmethod
    def _known_outcome(cls, value: str) -> str:
        return _known(value, OUTCOMES, "outcome")

    @property
    def coefficient(self) -> float:
        """The signed strength the engine applies: ``sign * weight``."""
        return self.sign * self.weight


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


#: Appended to the name of a theory changed by :meth:`Theory.with_weights` and friends.
MODIFIED = " (modified)"


class Theory:
    """A programme theory: an ordered set of rules with weights, plus baseline constants.

    Immutable: :meth:`without`, :meth:`with_weights` and :meth:`with_baseline` return new
    theories, named ``<name> (modified)`` when they change what the engine runs.
    """

    __slots__ = ("_baseline", "_index", "_rules", "name")

    def __init__(self, rules: Iterable[Rule], baseline: Mapping[str, float], name: str = ""):
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._index = {r.id: r for r in self._rules}
        self._baseline = dict(baseline)
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

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; ``KeyError`` naming the closest id otherwise."""
        try:
            return self._index[rule_id]
        except KeyError:
            raise KeyError(f"no rule '{rule_id}'{closest(rule_id, self._index)}") from None

    def coefficients(self) -> dict[str, float]:
        """``{rule id: sign * weight}``, what the engine multiplies each term by."""
        return {r.id: r.coefficient for r in self._rules}

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of what the engine uses: every rule's coefficient and the baseline.

        Two theories with the same hash give the same results; names, provenance and notes do
        not enter it.
        """
        data = {"coef": self.coefficients(), "baseline": self._baseline}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def changes(self, base: Theory | None = None) -> dict[str, dict[str, list[float]]]:
        """What differs from ``base`` (the default theory when omitted) in what the engine uses.

        Returns ``{"weights": {rule id: [base weight, this weight]}, "signs": {rule id: [base
        sign, this sign]}, "baseline": {constant: [base value, this value]}}``, each empty when
        nothing differs; rules of only one of the two theories are listed under ``"rules"``.
        """
        base = load_theory() if base is None else base
        weights, signs = {}, {}
        for rule in self._rules:
            other = base._index.get(rule.id)
            if other is None:
                continue
            if other.weight != rule.weight:
                weights[rule.id] = [other.weight, rule.weight]
            if other.sign != rule.sign:
                signs[rule.id] = [other.sign, rule.sign]
        baseline = {key: [base._baseline.get(key), value]
                    for key, value in self._baseline.items() if base._baseline.get(key) != value}
        only = sorted(set(self._index) ^ set(base._index))
        out: dict[str, Any] = {"weights": weights, "signs": signs, "baseline": baseline}
        if only:
            out["rules"] = only
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
        )

    def __hash__(self) -> int:
        return hash((self._rules, tuple(sorted(self._baseline.items()))))

    def __repr__(self) -> str:
        ablated = sum(r.weight == 0 for r in self._rules)
        return f"Theory({self.name!r}, {len(self._rules)} rules, {ablated} ablated)"

    # -- changed copies -------------------------------------------------------------------------
    def without(self, *rule_ids: str) -> Theory:
        """Ablation: a copy with these rules' weights set to 0 (removing exactly those links)."""
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
        """A copy with baseline constants replaced (names must exist; values finite)."""
        baseline = dict(self._baseline)
        for key, value in values.items():
            value = _as_float(value)
            if key not in baseline:
                raise TheoryError(f"baseline: unknown constant '{key}'{closest(key, baseline)}")
            if not isinstance(value, float):
                raise TheoryError(f"baseline.{key}: {value!r} is not a number")
            if not math.isfinite(value):
                raise TheoryError(f"baseline.{key}: {value!r} is not finite")
            baseline[key] = float(value)
        return self._derived(self._rules, baseline)

    def _derived(self, rules: Iterable[Rule], baseline: Mapping[str, float]) -> Theory:
        """A changed copy, named ``<name> (modified)`` when the engine would run it differently."""
        theory = Theory(rules, baseline, self.name)
        if theory.content_hash != self.content_hash and not self.name.endswith(MODIFIED):
            theory.name = f"{self.name}{MODIFIED}"
        return theory

    # -- export -------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The rule table as a DataFrame, one row per rule."""
        columns = ["id", "context", "mechanism", "outcome", "sign", "weight", "provenance", "note"]
        return pd.DataFrame([r.model_dump() for r in self._rules], columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """A mapping that :func:`load_theory` reads back into an equal theory."""
        rules = []
        for r in self._rules:
            data = r.model_dump()
            if not data["note"]:
                del data["note"]
            rules.append(data)
        return {"name": self.name, "rules": rules, "baseline": dict(self._baseline)}

    def to_yaml(self) -> str:
        """YAML text that :func:`load_theory` reads back into an equal theory."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, width=100)


# -- loading ----------------------------------------------------------------------------------
_TOP_KEYS = ("name", "version", "rules", "baseline")


@cache
def _default_data() -> dict[str, Any]:
    text = resources.files("cmo_sim.theory").joinpath("default.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _parse(data: Any, source: str) -> Theory:
    theory, problems = _read(data, source)
    if problems:
        raise TheoryError(problems[0])
    return theory


def _read(data: Any, source: str) -> tuple[Theory | None, list[str]]:
    """The theory in ``data`` and every problem found in it (one message each)."""
    if not isinstance(data, Mapping):
        return None, [f"{source}: a theory must be a mapping, got {type(data).__name__}"]
    problems = [
        f"{source}: unknown key '{key}'{closest(str(key), _TOP_KEYS)} "
        f"(allowed: {', '.join(_TOP_KEYS)})"
        for key in data if key not in _TOP_KEYS
    ]
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        return None, [*problems, f"{source}: 'rules' must be a non-empty list of rules"]
    default = _default_data()
    known_ids = [r["id"] for r in default["rules"]]
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
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "(rule)"
                msg = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown field{closest(field, Rule.model_fields)}"
                problems.append(f"{source}: rule {label}: field '{field}': {msg} "
                                f"(got {err.get('input')!r})")
            if isinstance(raw.get("id"), str):
                seen.add(raw["id"])  # listed, if not valid: not also reported as missing
            continue
        if rule.id in seen:
            problems.append(f"{source}: rule {rule.id}: duplicate id")
            continue
        seen.add(rule.id)
        if rule.id not in known_ids:
            problems.append(f"{source}: rule {rule.id}: the engine realises no rule with this id"
                            f"{closest(rule.id, known_ids)}")
            continue
        rules.append(rule)
    missing = [i for i in known_ids if i not in seen]
    if missing:
        problems.append(
            f"{source}: rules missing: {', '.join(missing)} (every rule the engine realises must "
            "be listed; give weight 0 to remove a link)"
        )
    baseline = dict(default["baseline"])
    raw_baseline = data.get("baseline", {}) or {}
    if not isinstance(raw_baseline, Mapping):
        problems.append(f"{source}: 'baseline' must be a mapping of constant names to numbers")
        raw_baseline = {}
    theory = Theory(rules, baseline, str(data.get("name", source)))
    for key, value in raw_baseline.items():
        try:
            theory = theory.with_baseline(**{str(key): value})
        except TheoryError as exc:
            problems.append(f"{source}: {exc}")
    if problems:
        return None, problems
    theory.name = str(data.get("name", source))  # a file's own values are not "modified"
    return theory, []


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
    file = Path(path)
    if not file.is_file():
        raise TheoryError(f"{file}: no such theory file")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TheoryError(f"{file}: cannot read the file ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise TheoryError(f"{file}: not valid YAML{where}") from None
    return data, str(file)


def load_theory(path: str | Path | Mapping[str, Any] | None = None) -> Theory:
    """Load a programme theory; with no argument, the review's default theory.

    Raises
    ------
    TheoryError
        For duplicate ids, unknown context/mechanism/outcome names, negative or non-finite
        weights, missing rules or unknown baseline constants, naming the rule and the field.
    """
    if path is None:
        return _parse(_default_data(), "default theory")
    if isinstance(path, Mapping):
        return _parse(path, "theory")
    data, source = _load_yaml(path)
    return _parse(data, source)
