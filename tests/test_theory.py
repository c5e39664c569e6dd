"""Tests for the programme theory: the default rule table, its link to the engine, the API."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from _budget import examples
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import cmo_sim.testing as cmo_sim_testing
from cmo_sim import Rule, Theory, TheoryError, load_theory
from cmo_sim import simulate as cmo_sim_simulate
from cmo_sim.theory import CONTEXTS, MECHANISMS, OUTCOMES

ROOT = Path(__file__).resolve().parents[1]
#: The default theory file read as plain YAML: the values the loader must give back.
FILE = yaml.safe_load((ROOT / "cmo_sim" / "theory" / "default.yaml").read_text(encoding="utf-8"))
FILE_WEIGHT = {r["id"]: float(r["weight"]) for r in FILE["rules"]}

#: The sections of the review's Table 3 and how many CMO rows each has (41 in all).
TABLE3_ROWS = {
    "Synergy and collaborative inertia": 4,
    "Task achievement": 7,
    "Conflict": 6,
    "Trust": 8,
    "Power": 3,
    "Faith": 2,
    "Interpersonal communication": 2,
    "Leadership": 3,
    "Cultural integration": 1,
    "Task complexity": 5,
}

# Reproducible, database-less property runs: the same examples on every machine and run.
PROPERTY = examples(60)


@pytest.fixture(scope="module")
def theory() -> Theory:
    return load_theory()


def default_dict() -> dict[str, Any]:
    """A fresh, mutable copy of the default theory as a mapping (the base of error tests)."""
    return copy.deepcopy(load_theory().to_dict())


# -- the default theory ------------------------------------------------------------------------
def test_default_theory_loads_with_unique_well_formed_ids(theory: Theory) -> None:
    assert isinstance(theory, Theory)
    assert theory.name == "realist-review-default"
    assert len(theory) == len(theory.rules) == len(theory.ids) == len(FILE["rules"]) == 87
    assert len(set(theory.ids)) == len(theory.ids)
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", rule_id) for rule_id in theory.ids)
    for rule in theory:
        assert rule.context in CONTEXTS
        assert rule.mechanism in MECHANISMS
        assert rule.outcome in OUTCOMES
        assert rule.sign in (-1, 1)
        # The default theory ablates nothing: every link is switched on.
        assert rule.weight > 0 and math.isfinite(rule.weight)
        assert rule.provenance.strip()
    assert "0 ablated" in repr(theory)


def test_the_theory_cites_the_41_configurations_of_table_3(theory: Theory) -> None:
    # The review's Table 3 lists 41 CMO configurations. Count the distinct ones the rules cite
    # (a one-row section is cited by its name alone) and check them against the section list.
    cited = set()
    for rule in theory:
        for section, row in re.findall(r"Table 3, ([A-Z][A-Za-z &]*[a-z])(?:, row (\d+))?",
                                       rule.provenance):
            if section in TABLE3_ROWS:
                cited.add((section, int(row) if row else 1))
    assert len(cited) == 41, sorted(cited)
    assert {section for section, _ in cited} == set(TABLE3_ROWS)
    assert all(1 <= row <= TABLE3_ROWS[section] for section, row in cited)


@pytest.mark.parametrize("section", list(TABLE3_ROWS))
def test_every_table3_section_is_cited(theory: Theory, section: str) -> None:
    citing = [r.id for r in theory if f"Table 3, {section}" in r.provenance]
    assert citing, f"no rule cites 'Table 3, {section}'"


@pytest.mark.parametrize(("section", "rows"), [(s, n) for s, n in TABLE3_ROWS.items() if n > 1])
def test_every_table3_row_is_cited(theory: Theory, section: str, rows: int) -> None:
    provenance = " | ".join(r.provenance for r in theory)
    for row in range(1, rows + 1):
        assert f"Table 3, {section}, row {row}" in provenance, (section, row)
    # No rule cites a row the review's table does not have.
    assert f"Table 3, {section}, row {rows + 1}" not in provenance


def test_one_rule_per_table3_configuration(theory: Theory) -> None:
    # Counted from default.yaml: 46 rules cite Table 3 (all 41 rows; five rows twice, each by
    # two rules that follow two paths of the same configuration: Synergy row 4 by
    # synergy.communication and communication.strategies, Trust row 1 by
    # trust.destructive_resolution and faith.destructive_conflict, Task achievement row 5 by
    # task.workforce_instability and turnover.workforce_instability, row 6 by task.evaluation
    # and learning.evaluation, row 7 by task.role_clarity and conflict.role_clarity).
    citing = [r.id for r in theory if "Table 3" in r.provenance]
    assert len(citing) >= 41
    assert len(citing) == 46


def test_prose_only_rules_exist(theory: Theory) -> None:
    prose = {r.id for r in theory if r.provenance.startswith(("Prose", "Discussion"))}
    # The review's prose adds CMOs its table lacks (docs/model.md, section 8): information
    # exchange, staff involvement, workforce churn, the faith loop, both origins of
    # dissolution, the trust-building loop and the inverse readings.
    expected = {
        "conflict.information_exchange",
        "intra.staff_involvement",
        "intra.workforce_churn",
        "conflict.workforce_churn",
        "faith.value_realised",
        "dissolution.faith_collapse",
        "trust.success_loop",
        "trust.failure_loop",
        "conflict.lack_of_shared_vision",
        "trust.failed_history",
        "entry.competitive_threat",
    }
    assert expected <= prose


# (rule for the upper half of a context, rule for its lower half)
INVERSE_PAIRS = [
    ("conflict.shared_vision", "conflict.lack_of_shared_vision"),
    ("trust.successful_history", "trust.failed_history"),
    ("synergy.high_trust", "inertia.low_trust"),
    ("trust.constructive_resolution", "trust.destructive_resolution"),
]


@pytest.mark.parametrize(("upper", "lower"), INVERSE_PAIRS)
def test_inverse_readings_are_separate_rules(theory: Theory, upper: str, lower: str) -> None:
    up_rule, down_rule = theory.rule(upper), theory.rule(lower)
    assert up_rule.context == down_rule.context
    assert up_rule.outcome == down_rule.outcome
    assert up_rule.weight > 0 and down_rule.weight > 0
    # Each owns one half of the context's range at the same site, so each direction can be
    # ablated alone.
    (up,), (down,) = up_rule.term_models(), down_rule.term_models()
    assert up.site == down.site and (up.form, down.form) == ("upper", "lower")


# -- the theory and the engine: rules are data, the engine knows no rule -------------------------
ENGINE_DIRS = (ROOT / "cmo_sim" / "core", ROOT / "cmo_sim" / "abm")
B_KEY = re.compile(r'(?:\bb|\bbase|\bbaseline)\["([^"]+)"\]')


def _engine_sources() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for d in ENGINE_DIRS for p in sorted(d.glob("*.py"))}


def test_the_engine_special_cases_no_rule_id(theory: Theory) -> None:
    # Every rule acts through its compiled terms: no engine file names a rule of the theory.
    for path, text in _engine_sources().items():
        named = [rule_id for rule_id in theory.ids if rule_id in text]
        assert named == [], f"{path.name} names {named}"


def test_every_rule_compiles_to_terms_with_the_documented_coefficient(theory: Theory) -> None:
    from cmo_sim.core.terms import SITES

    compiled = theory.compiled()
    baseline = theory.baseline
    for rule in theory:
        terms = [t for site in compiled.values() for t in site.terms if t.rule == rule.id]
        assert len(terms) == len(rule.term_models()) >= 1, rule.id
        # Compiled terms come site by site in catalogue order (a rule's own order within a site).
        models = sorted(rule.term_models(), key=lambda m: list(SITES).index(m.site))
        for term, model in zip(terms, models, strict=True):
            site = SITES[model.site]
            # Coefficient = direction x weight x scale, with the direction sign x polarity of
            # the site towards the declared outcome (a floor's term is a magnitude).
            direction = 1 if site.kind == "floor" else rule.sign * site.outcomes[rule.outcome]
            scale = math.prod(baseline[f] if isinstance(f, str) else f for f in model.scale)
            assert term.coef == pytest.approx(direction * rule.weight * scale, rel=1e-12)
            assert term.site == model.site


def test_every_baseline_constant_is_used_and_no_other(theory: Theory) -> None:
    from cmo_sim.core.terms import SITES

    engine = set()
    for text in _engine_sources().values():
        engine |= set(B_KEY.findall(text))
    scales = {f for r in theory for t in r.term_models() for f in t.scale if isinstance(f, str)}
    intercepts = {s.intercept for s in SITES.values() if isinstance(s.intercept, str)}
    used = engine | scales | intercepts
    assert used - set(theory.baseline) == set()
    assert set(theory.baseline) - used == set()
    assert not set(theory.baseline) & set(theory.ids)


# -- Theory API --------------------------------------------------------------------------------
def test_rule_lookup(theory: Theory) -> None:
    rule = theory.rule("conflict.shared_vision")
    assert isinstance(rule, Rule)
    assert (rule.context, rule.mechanism, rule.outcome) == (
        "shared_vision",
        "reduced_conflict",
        "trust",
    )


def test_rule_lookup_unknown_id_suggests_the_closest(theory: Theory) -> None:
    with pytest.raises(
        KeyError,
        match=r"no rule 'synergy\.hightrust'; did you mean "
        r"'synergy\.high_trust'\?",
    ):
        theory.rule("synergy.hightrust")
    with pytest.raises(KeyError) as excinfo:
        theory.rule("zzzz")
    assert "did you mean" not in str(excinfo.value)


def test_rules_are_frozen(theory: Theory) -> None:
    with pytest.raises(ValidationError):
        theory.rules[0].weight = 0.0  # type: ignore[misc]
    baseline = theory.baseline
    baseline["trust_rate"] = 99.0
    assert theory.baseline["trust_rate"] != 99.0


def test_without_sets_exactly_those_weights_to_zero(theory: Theory) -> None:
    before = theory.to_dict()
    removed = ("conflict.shared_vision", "power.size_domination", "trust.overambition")
    ablated = theory.without(*removed)
    assert ablated is not theory
    assert ablated.ids == theory.ids
    assert ablated.baseline == theory.baseline
    for old, new in zip(theory.rules, ablated.rules, strict=True):
        if old.id in removed:
            assert new.weight == 0.0
            assert new.model_dump(exclude={"weight"}) == old.model_dump(exclude={"weight"})
        else:
            assert new == old
    assert ablated.coefficients()["power.size_domination"] == 0.0
    assert "3 ablated" in repr(ablated)
    # The original is unchanged.
    assert theory.to_dict() == before
    assert theory == load_theory()
    assert ablated != theory


def test_without_nothing_is_an_equal_copy(theory: Theory) -> None:
    assert theory.without() == theory


def test_without_unknown_id_raises_key_error(theory: Theory) -> None:
    with pytest.raises(KeyError, match=r"did you mean 'trust\.overambition'"):
        theory.without("trust.overambitoin")


@PROPERTY
@given(data=st.data())
def test_without_property(data: st.DataObject) -> None:
    theory = load_theory()
    removed = data.draw(st.sets(st.sampled_from(theory.ids), max_size=10))
    ablated = theory.without(*removed)
    weights = {r.id: r.weight for r in ablated}
    assert {i for i, w in weights.items() if w == 0.0} == removed
    assert all(weights[r.id] == r.weight for r in theory if r.id not in removed)


def test_with_weights_replaces_weights(theory: Theory) -> None:
    changed = theory.with_weights({"synergy.faith": 2, "task.evaluation": 0.25})
    assert changed.rule("synergy.faith").weight == 2.0
    assert isinstance(changed.rule("synergy.faith").weight, float)
    assert changed.rule("task.evaluation").weight == 0.25
    assert theory.rule("synergy.faith").weight == FILE_WEIGHT["synergy.faith"]
    assert theory.rule("task.evaluation").weight == FILE_WEIGHT["task.evaluation"]


def test_with_weights_unknown_id_raises_key_error(theory: Theory) -> None:
    with pytest.raises(KeyError, match=r"no rule 'synergy\.fath'; did you mean 'synergy\.faith'"):
        theory.with_weights({"synergy.fath": 1.0})


@pytest.mark.parametrize(
    "weight",
    [-0.1, -1, math.nan, math.inf, -math.inf, True, False, "1.0", None, [1.0]],
    ids=repr,
)
def test_with_weights_rejects_bad_weights(theory: Theory, weight: Any) -> None:
    with pytest.raises(TheoryError, match=r"rule synergy\.faith: weight"):
        theory.with_weights({"synergy.faith": weight})


def test_with_baseline(theory: Theory) -> None:
    changed = theory.with_baseline(trust_rate=0.1, conflict_intercept=-4)
    assert changed.baseline["trust_rate"] == 0.1
    assert changed.baseline["conflict_intercept"] == -4.0
    assert isinstance(changed.baseline["conflict_intercept"], float)
    assert changed.rules == theory.rules
    assert theory.baseline["trust_rate"] == FILE["baseline"]["trust_rate"]
    assert changed != theory


def test_with_baseline_unknown_constant(theory: Theory) -> None:
    with pytest.raises(
        TheoryError,
        match=r"baseline: unknown constant 'trust_rat'; "
        r"did you mean 'trust_rate'\?",
    ):
        theory.with_baseline(trust_rat=0.1)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "0.1", None], ids=repr)
def test_with_baseline_rejects_bad_values(theory: Theory, value: Any) -> None:
    with pytest.raises(TheoryError, match=r"baseline\.trust_rate: "):
        theory.with_baseline(trust_rate=value)


def test_to_frame(theory: Theory) -> None:
    frame = theory.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [
        "id",
        "context",
        "mechanism",
        "outcome",
        "sign",
        "weight",
        "sites",
        "provenance",
        "note",
    ]
    assert frame.loc[frame["id"] == "conflict.accountability", "sites"].item() == (
        "conflict, destructive_buffer")
    assert len(frame) == len(theory)
    assert tuple(frame["id"]) == theory.ids
    assert frame["weight"].tolist() == [r.weight for r in theory]
    assert set(frame["sign"]) == {-1, 1}


def test_coefficients_are_sign_times_weight(theory: Theory) -> None:
    coefficients = theory.coefficients()
    assert tuple(coefficients) == theory.ids
    for rule in theory:
        assert coefficients[rule.id] == rule.sign * rule.weight == rule.coefficient
    assert coefficients["task.intra_conflict"] == -FILE_WEIGHT["task.intra_conflict"]  # sign -1
    assert coefficients["synergy.high_trust"] == FILE_WEIGHT["synergy.high_trust"]  # sign +1


def test_to_yaml_round_trips(theory: Theory, tmp_path: Path) -> None:
    changed = (
        theory.without("faith.trust")
        .with_weights({"synergy.faith": 0.3})
        .with_baseline(trust_rate=0.07)
    )
    for original in (theory, changed):
        path = tmp_path / "theory.yaml"
        path.write_text(original.to_yaml(), encoding="utf-8")
        loaded = load_theory(path)
        assert loaded == original
        assert hash(loaded) == hash(original)
        assert loaded.name == original.name
        assert loaded.ids == original.ids
        assert load_theory(original.to_dict()) == original
    assert load_theory(tmp_path / "theory.yaml") != theory


def test_load_theory_accepts_str_paths(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(load_theory().to_yaml(), encoding="utf-8")
    assert load_theory(str(path)) == load_theory()


# -- load_theory errors ------------------------------------------------------------------------
def _set(index: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["rules"][index].update(fields)

    return mutate


def _duplicate(data: dict[str, Any]) -> None:
    data["rules"].append(dict(data["rules"][5]))


def _rename(data: dict[str, Any]) -> None:
    data["rules"][0]["id"] = "Synergy high trust"


def _context(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        context = {"name": "liaison_turnover", "level": "partnership", "range": [0.0, 1.0],
                   "typical": 0.0, "meaning": "m", "provenance": "p"}
        data["contexts"] = [{**context, **fields}]

    return mutate


def _top(data: dict[str, Any]) -> None:
    data["rule"] = []


def _baseline(data: dict[str, Any]) -> None:
    data["baseline"]["trust_rat"] = 0.1


def _extra_field(data: dict[str, Any]) -> None:
    data["rules"][0]["wieght"] = 1.0


# (mutation, substrings the message must contain). Rule 0 is synergy.high_trust; rule 5 is
# task.unambitious_aims.
BAD_THEORIES = {
    "duplicate id": (_duplicate, ["rule task.unambitious_aims", "duplicate id"]),
    "unknown context": (
        _set(0, context="trsut"),
        [
            "rule synergy.high_trust",
            "field 'context'",
            "unknown context 'trsut'",
            "did you mean 'trust'",
        ],
    ),
    "unknown context far": (
        _set(0, context="qqqqqq"),
        ["rule synergy.high_trust", "field 'context'", "unknown context 'qqqqqq'", "allowed:"],
    ),
    "unknown mechanism": (
        _set(0, mechanism="synergie"),
        ["rule synergy.high_trust", "field 'mechanism'", "did you mean 'synergy'"],
    ),
    "unknown outcome": (
        _set(0, outcome="task_achievment"),
        ["rule synergy.high_trust", "field 'outcome'", "did you mean 'task_achievement'"],
    ),
    "negative weight": (
        _set(0, weight=-0.5),
        ["rule synergy.high_trust", "field 'weight'", "greater than or equal to 0", "-0.5"],
    ),
    "string weight": (_set(0, weight="2.0"), ["rule synergy.high_trust", "field 'weight'"]),
    "sign 0": (_set(0, sign=0), ["rule synergy.high_trust", "field 'sign'", "-1 or 1"]),
    "sign 2": (_set(0, sign=2), ["rule synergy.high_trust", "field 'sign'", "-1 or 1"]),
    "sign -2": (_set(0, sign=-2), ["rule synergy.high_trust", "field 'sign'", "-1 or 1"]),
    "sign string": (_set(0, sign="+1"), ["rule synergy.high_trust", "field 'sign'"]),
    "unknown rule field": (
        _extra_field,
        ["rule synergy.high_trust", "field 'wieght'", "did you mean 'weight'"],
    ),
    "empty provenance": (_set(0, provenance=""), ["rule synergy.high_trust", "'provenance'"]),
    "malformed rule id": (_rename, ["rule Synergy high trust", "field 'id'", "<group>.<name>"]),
    "unknown site": (
        _set(0, site="functionning"),
        ["rule synergy.high_trust", "field 'site'", "did you mean 'functioning'"],
    ),
    "unknown form": (
        _set(0, form="uper"),
        ["rule synergy.high_trust", "field 'form'", "did you mean 'upper'", "allowed:"],
    ),
    "unreachable outcome": (
        _set(0, outcome="shared_vision"),
        ["rule synergy.high_trust", "field 'outcome'", "not reached from site 'functioning'",
         "allowed: synergy, task_achievement"],
    ),
    "state input unknown at the site": (
        _set(0, context="task_success"),
        ["rule synergy.high_trust", "field 'context'", "'task_success' is not known at site "
         "'functioning'"],
    ),
    "condition on an undeclared context": (
        _set(0, when=["turnover > 0.3"]),
        ["rule synergy.high_trust", "field 'when'", "'turnover'", "not a declared context"],
    ),
    "malformed condition": (
        _set(0, when=["trust is low"]),
        ["rule synergy.high_trust", "field 'when'", "not a condition"],
    ),
    "unknown scale constant": (
        _set(0, scale=["trust_rat"]),
        ["rule synergy.high_trust", "field 'scale'", "did you mean 'trust_rate'"],
    ),
    "negative scale": (_set(0, scale=[-2.0]), ["rule synergy.high_trust", "field 'scale'",
                                                "> 0"]),
    "target not at the site": (
        _set(0, target="lead"),
        ["rule synergy.high_trust", "field 'target'", "allowed: all"],
    ),
    "modulator not at the site": (
        _set(0, modulator="distrust_odds"),
        ["rule synergy.high_trust", "field 'modulator'", "not known at site 'functioning'"],
    ),
    "relabelled floor": (
        _set(33, sign=1),
        ["rule dissolution.critical_trust", "floor on trust", "sign -1"],
    ),
    "terms and inline site": (
        _set(0, terms=[{"site": "functioning"}]),
        ["rule synergy.high_trust", "either 'terms' or the term fields"],
    ),
    "typical outside range": (
        _context(typical=2.0),
        ["context liaison_turnover", "typical 2.0 is outside the range [0.0, 1.0]"],
    ),
    "context named like a built-in": (
        _context(name="leadership"),
        ["context leadership", "built-in context"],
    ),
    "context with a bad level": (
        _context(level="pair"),
        ["context liaison_turnover", "field 'level'", "partnership"],
    ),
    "unknown top-level key": (_top, ["unknown key 'rule'", "did you mean 'rules'"]),
    "unknown baseline constant": (
        _baseline,
        ["baseline: unknown constant 'trust_rat'", "did you mean 'trust_rate'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_THEORIES))
def test_load_theory_errors_name_rule_and_field(case: str, tmp_path: Path) -> None:
    mutate, expected = BAD_THEORIES[case]
    data = default_dict()
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(TheoryError) as excinfo:
        load_theory(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for part in expected:
        assert part in message, (part, message)
    # The same mistake given as a mapping gives the same message, from source 'theory'.
    with pytest.raises(TheoryError) as excinfo:
        load_theory(data)
    assert str(excinfo.value).removeprefix("theory: ") == message.removeprefix(f"{path}: ")


@pytest.mark.parametrize("literal", ["true", "yes"])
def test_bool_sign_written_in_yaml_is_rejected(literal: str, tmp_path: Path) -> None:
    text = load_theory().to_yaml()
    bad = re.sub(r"(?m)^(  sign: ).*$", rf"\g<1>{literal}", text, count=1)
    assert f"sign: {literal}" in bad
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(TheoryError, match=r"rule synergy\.high_trust: field 'sign'"):
        load_theory(path)


@pytest.mark.parametrize("literal", [".nan", ".NaN", ".inf", "-.inf", ".Inf"])
def test_non_finite_weight_written_in_yaml(literal: str, tmp_path: Path) -> None:
    text = load_theory().to_yaml()
    # Rule 0 (synergy.high_trust) is the first rule; its weight line is the first one.
    bad = re.sub(r"(?m)^(  weight: ).*$", rf"\g<1>{literal}", text, count=1)
    assert f"weight: {literal}" in bad
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(
        TheoryError,
        match=r"rule synergy\.high_trust: field 'weight': "
        r"Input should be a finite number",
    ):
        load_theory(path)


@pytest.mark.parametrize(
    ("text", "got"), [("- 1\n- 2\n", "list"), ("just text\n", "str"), ("", "NoneType")]
)
def test_non_mapping_document(text: str, got: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TheoryError, match=rf"a theory must be a mapping, got {got}"):
        load_theory(path)


def test_rules_must_be_a_non_empty_list() -> None:
    for rules in ([], None, {"id": "x"}):
        data = default_dict()
        data["rules"] = rules
        with pytest.raises(TheoryError, match=r"'rules' must be a non-empty list"):
            load_theory(data)


def test_rule_that_is_not_a_mapping() -> None:
    data = default_dict()
    data["rules"][3] = ["not", "a", "mapping"]
    with pytest.raises(TheoryError, match=r"rules\[3\] must be a mapping, got list"):
        load_theory(data)


def test_baseline_must_be_a_mapping() -> None:
    data = default_dict()
    data["baseline"] = [0.1]
    with pytest.raises(TheoryError, match=r"'baseline' must be a mapping"):
        load_theory(data)


def test_baseline_may_override_some_constants() -> None:
    data = default_dict()
    data["baseline"] = {"trust_rate": 0.09}
    loaded = load_theory(data)
    assert loaded.baseline["trust_rate"] == 0.09
    assert loaded.baseline["loss_aversion"] == load_theory().baseline["loss_aversion"]


def test_malformed_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nrules:\n  - id: [unclosed\n    weight: 1\n", encoding="utf-8")
    with pytest.raises(TheoryError, match=r"broken\.yaml: not valid YAML at line \d+"):
        load_theory(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(TheoryError, match=r"nowhere\.yaml: no such theory file"):
        load_theory(path)
    with pytest.raises(TheoryError, match=r"no such theory file"):
        load_theory(tmp_path)  # a directory is not a theory file


def test_numpy_number_weights_are_accepted_and_bool_rejected() -> None:
    theory = load_theory()
    changed = theory.with_weights(
        {"synergy.faith": np.int64(2), "task.evaluation": np.float32(0.5)}
    )
    assert changed.rule("synergy.faith").weight == 2.0
    assert changed.rule("task.evaluation").weight == 0.5
    assert changed.with_baseline(trust_rate=np.float32(0.25)).baseline["trust_rate"] == 0.25
    with pytest.raises(TheoryError, match="synergy.faith"):
        theory.with_weights({"synergy.faith": np.bool_(True)})


def test_content_hash_follows_what_the_engine_uses(theory: Theory) -> None:
    import hashlib
    import json

    # The documented definition: SHA-256 of the sorted JSON of every rule's context, outcome,
    # sign, weight and terms, the declared contexts and the baseline.
    rules = [{"id": r.id, "context": r.context, "outcome": r.outcome, "sign": r.sign,
              "weight": r.weight, "terms": [t.model_dump() for t in r.term_models()]}
             for r in theory]
    data = {"rules": rules, "contexts": [], "baseline": theory.baseline}
    expected = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    assert theory.content_hash == expected
    renamed = copy.deepcopy(theory.to_dict())
    renamed["name"] = "another name"
    for rule in renamed["rules"]:
        rule["note"] = "changed words"
    assert load_theory(renamed).content_hash == theory.content_hash  # words do not count
    assert theory.with_weights({"trust.success_loop": 1.1}).content_hash != theory.content_hash


def test_changed_copies_are_named_as_modified_and_list_their_changes(theory: Theory) -> None:
    assert theory.with_weights({"trust.success_loop": 1.0}).name == theory.name  # no change
    ablated = theory.without("faith.trust")
    assert ablated.name == "realist-review-default (modified)"
    assert ablated.without("faith.authenticity").name == ablated.name  # not appended twice
    assert ablated.changes() == {"weights": {"faith.trust": [FILE_WEIGHT["faith.trust"], 0.0]},
                                 "signs": {}, "baseline": {}}
    assert "name: realist-review-default (modified)" in ablated.to_yaml()
    flipped = theory.to_dict()
    flipped["rules"][0]["sign"] = -flipped["rules"][0]["sign"]
    assert load_theory(flipped).changes()["signs"] == {theory.ids[0]: [1, -1]}
    assert theory.with_baseline(loss_aversion=2.0).changes()["baseline"] == {
        "loss_aversion": [FILE["baseline"]["loss_aversion"], 2.0]}


def test_a_key_given_twice_in_a_theory_file_is_refused(tmp_path: Path) -> None:
    text = load_theory().to_yaml().replace("  weight: 2.0\n", "  weight: 2.0\n  weight: 0.0\n", 1)
    assert text.count("weight: 0.0") == 1
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TheoryError, match=r"twice.yaml: not valid YAML at line \d+: duplicate "
                       r"key 'weight' \(first given at line \d+\)"):
        load_theory(path)


@pytest.mark.parametrize(("argument", "message"), [
    ([], "a theory is a path, a mapping or None (the default theory), not list"),
    (3, "a theory is a path, a mapping or None (the default theory), not int"),
])
def test_load_theory_refuses_what_is_not_a_theory(argument: Any, message: str) -> None:
    with pytest.raises(TheoryError) as excinfo:
        load_theory(argument)
    assert str(excinfo.value) == message


def test_a_theory_name_must_be_text() -> None:
    data = load_theory().to_dict()
    data["name"] = [1, 2]
    with pytest.raises(TheoryError, match=r"^theory: 'name' must be text, got \[1, 2\]$"):
        load_theory(data)


@pytest.mark.parametrize("data,field", [
    ({"baseline": 3}, "'baseline' must be a mapping"),
    ({"contexts": "x"}, "'contexts' must be a list"),
    ({"mechanisms": 5}, "'mechanisms' must be a list"),
    ({"rules": [{"id": [1]}]}, "rule 1: field 'id': must be text"),
    ({"rules": [{"id": {"a": 1}}]}, "rule 1: field 'id': must be text"),
], ids=["baseline", "contexts", "mechanisms", "id-list", "id-mapping"])
def test_a_theory_that_extends_another_checks_its_sections_before_merging(data, field) -> None:
    with pytest.raises(TheoryError, match=re.escape(field)):
        load_theory({"name": "t", "extends": "default", **data})


@examples(40, deadline=None)
@given(theory=cmo_sim_testing.theories(ablate=3, rescale=3, scale=(0.0, 3.0), user_contexts=3,
                                       user_rules=12),
       scenario=cmo_sim_testing.scenarios(members=st.integers(2, 4)),
       seed=st.integers(0, 2**32 - 1))
def test_every_theory_that_loads_keeps_states_in_range(theory, scenario, seed) -> None:
    # Whatever a valid theory says (weights rescaled, rules removed, rules of its own at any
    # site), the engine keeps every state in range and free of NaN: check_invariants reads
    # the summary and every recorded month.
    results = cmo_sim_simulate(scenario, runs=4, steps=36, seed=seed, theory=theory,
                               record="trajectory")
    cmo_sim_testing.check_invariants(results)


@pytest.mark.parametrize("key,value", [("synergy_rate", 1e6), ("intra_initial", -1.0),
                                       ("inertia_discount", 5.0), ("trust_rate", -5.0),
                                       ("trust_initial_noise", 0.6), ("startup_cost", -1.0)])
def test_baseline_constants_outside_their_range_are_refused(theory: Theory, key, value) -> None:
    from cmo_sim.theory._model import BASELINE_RANGES

    low, high = BASELINE_RANGES[key]
    message = f"baseline.{key}: {value!r} is out of range (allowed: {low:g} .. {high:g})"
    with pytest.raises(TheoryError, match=re.escape(message)):
        theory.with_baseline(**{key: value})
    with pytest.raises(TheoryError, match=re.escape(message)):
        load_theory({"name": "t", "extends": "default", "baseline": {key: value}})
    assert set(BASELINE_RANGES) == set(theory.baseline)
    assert all(BASELINE_RANGES[k][0] <= v <= BASELINE_RANGES[k][1]
               for k, v in theory.baseline.items())
