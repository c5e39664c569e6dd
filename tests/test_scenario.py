"""Tests for the scenario schema, the shipped scenario library and their error messages."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from _budget import examples
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

import cmo_sim
from cmo_sim import Scenario, ScenarioError, load_scenario
from cmo_sim.scenario import (
    ENTRY_POINT_PRESETS,
    ENTRY_POINTS,
    MAX_MEMBERS,
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    field_bounds,
)

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
SHIPPED = sorted(SCENARIO_DIR.glob("*.yaml"))
REQUIRED = {
    *(f"entry_{entry}" for entry in ENTRY_POINTS),
    "voluntary_alliance",
    "mandated_merger",
    "buddying",
    "joint_commissioning",
    "aco_alliance",
    "large_network",
    "overambitious_integrated_care",
    "savings_sequestered",
    "leadership_turnover",
}

# Reproducible, database-less property runs: the same examples on every machine and run.
PROPERTY = examples(
    300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def valid_mapping() -> dict[str, Any]:
    """A small valid scenario mapping with a timeline, the base that tests mutate."""
    return {
        "name": "base",
        "description": "A valid dyad used as the base of error tests.",
        "leadership": 0.6,
        "members": [
            {"name": "A", "size": 3000, "resources": 0.5, "culture": 0.4},
            {"name": "B", "size": 2000, "resources": 0.5, "culture": 0.6},
        ],
        "timeline": [{"step": 24, "changes": {"leadership": 0.2}, "note": "turnover"}],
    }


def error_of(data: Any) -> str:
    """Load ``data`` expecting a ScenarioError and return its message."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    return str(info.value)


# -- the shipped library ------------------------------------------------------------------------
def test_library_holds_the_required_scenarios():
    stems = {path.stem for path in SHIPPED}
    assert len(SHIPPED) >= 14
    assert REQUIRED <= stems, f"missing: {sorted(REQUIRED - stems)}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_loads_with_name_description_and_sources(path: Path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    sentences = re.findall(r"[.!?](\s|$)", scenario.description.strip())
    assert scenario.description.endswith(".") and len(sentences) == 1
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    assert 3 <= len(header) <= 8, f"{path.name}: comment block of {len(header)} lines"
    assert re.search(r"\b(review|seed \d{3})\b", " ".join(header)), "header cites no source"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_round_trips(path: Path, tmp_path: Path):
    scenario = load_scenario(path)
    assert load_scenario(scenario.to_dict()) == scenario
    assert load_scenario(yaml.safe_load(scenario.to_yaml())) == scenario
    copy_path = tmp_path / path.name
    copy_path.write_text(scenario.to_yaml(), encoding="utf-8")
    assert load_scenario(copy_path) == scenario


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_writes_numbers_as_yaml_numbers(path: Path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for member in raw["members"]:
        assert isinstance(member["size"], int | float) and not isinstance(member["size"], bool)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_point_scenarios_use_their_entry_point(entry: str):
    path = SCENARIO_DIR / f"entry_{entry}.yaml"
    scenario = load_scenario(path)
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert written["entry_point"] == scenario.entry_point == entry
    inherited = [k for k in ENTRY_POINT_PRESETS[entry] if k != "members" and k not in written]
    assert inherited, "the file should leave some preset values to the preset"
    for key in inherited:
        assert getattr(scenario, key) == ENTRY_POINT_PRESETS[entry][key], key


def test_voluntary_alliance_is_a_plain_typical_dyad():
    scenario = load_scenario(SCENARIO_DIR / "voluntary_alliance.yaml")
    assert scenario.n_members == 2 and not scenario.mandated and not scenario.timeline
    for field in PARTNERSHIP_FIELDS:
        value = getattr(scenario, field)
        if field in ("history", "ambition_bias"):
            assert abs(value) <= 0.1, field
        elif field not in ("mandated", "threat", "absent_actors"):
            assert 0.4 <= value <= 0.6, field
    sizes = [m.size for m in scenario.members]
    assert max(sizes) / min(sizes) < 1.5


def test_mandated_merger_joins_two_large_trusts():
    scenario = load_scenario(SCENARIO_DIR / "mandated_merger.yaml")
    assert scenario.mandated and scenario.entry_point == "policy_directive"
    assert sorted(m.size for m in scenario.members) == [6000, 8000]


def test_buddying_pairs_a_failing_provider_with_a_stronger_lead():
    scenario = load_scenario(SCENARIO_DIR / "buddying.yaml")
    strong = scenario.members[scenario.lead]
    weak = [m for i, m in enumerate(scenario.members) if i != scenario.lead]
    assert scenario.mandated and scenario.entry_point == "policy_directive"
    assert all(strong.size >= 2 * m.size and strong.resources > m.resources for m in weak)


def test_savings_sequestered_is_led_by_the_larger_managing_partner():
    scenario = load_scenario(SCENARIO_DIR / "savings_sequestered.yaml")
    lead = scenario.members[scenario.lead]
    assert scenario.resource_equality <= 0.2
    assert lead.size == max(m.size for m in scenario.members)


def test_leadership_turnover_turns_combative_at_month_24():
    scenario = load_scenario(SCENARIO_DIR / "leadership_turnover.yaml")
    event = scenario.timeline[0]
    assert scenario.leadership >= 0.7 and not scenario.mandated
    assert event.step == 24 and event.changes["leadership"] <= 0.3


def test_network_alliance_and_ambition_scenarios_have_their_shape():
    assert load_scenario(SCENARIO_DIR / "large_network.yaml").n_members >= 8
    assert 5 <= load_scenario(SCENARIO_DIR / "aco_alliance.yaml").n_members <= 6
    assert load_scenario(SCENARIO_DIR / "overambitious_integrated_care.yaml").ambition_bias >= 0.5
    network = load_scenario(SCENARIO_DIR / "large_network.yaml")
    assert len({m.culture for m in network.members}) >= 5
    assert max(m.size for m in network.members) / min(m.size for m in network.members) > 10


# -- entry-point presets -------------------------------------------------------------------------
def other_value(field: str, value: Any) -> Any:
    """A valid value for ``field`` different from ``value``."""
    if isinstance(value, bool):
        return not value
    low, high = field_bounds(field)
    return low if value != low else high


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_point_preset_sets_its_defaults(entry: str):
    data = valid_mapping()
    del data["members"][0]["resources"], data["members"][1]["resources"]
    scenario = load_scenario({**data, "entry_point": entry})
    preset = ENTRY_POINT_PRESETS[entry]
    assert preset, "a preset must set something"
    for key, value in preset.items():
        if key == "members":
            for member in scenario.members:
                for attr, member_value in value.items():
                    assert getattr(member, attr) == member_value
        else:
            assert getattr(scenario, key) == value, key


@pytest.mark.parametrize(
    ("entry", "key"),
    [(e, k) for e, preset in ENTRY_POINT_PRESETS.items() for k in preset if k != "members"],
)
def test_file_value_overrides_preset_value(entry: str, key: str, tmp_path: Path):
    preset_value = ENTRY_POINT_PRESETS[entry][key]
    wanted = other_value(key, preset_value)
    data = {**valid_mapping(), "entry_point": entry, key: wanted}
    assert getattr(load_scenario(data), key) == wanted
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert getattr(load_scenario(path), key) == wanted


def test_member_value_overrides_member_preset():
    data = {**valid_mapping(), "entry_point": "funding_pressure"}
    data["members"][0]["resources"] = 0.9
    del data["members"][1]["resources"]
    scenario = load_scenario(data)
    preset = ENTRY_POINT_PRESETS["funding_pressure"]["members"]["resources"]
    assert scenario.members[0].resources == 0.9
    assert scenario.members[1].resources == preset != 0.9


def test_without_entry_point_the_schema_defaults_hold():
    scenario = load_scenario(valid_mapping())
    assert scenario.entry_point is None and scenario.mandated is False
    assert scenario.history == 0.0 and scenario.threat == 0.0


# -- with_context -------------------------------------------------------------------------------
def test_with_context_returns_a_changed_copy_and_leaves_the_original():
    original = load_scenario(valid_mapping())
    before = original.to_dict()
    changed = original.with_context(leadership=0.1, mandated=True, **{"members[1].size": 50})
    assert changed is not original
    assert (changed.leadership, changed.mandated, changed.members[1].size) == (0.1, True, 50)
    assert original.to_dict() == before and original.leadership == 0.6
    renamed = original.with_context(**{"members[0].name": "Trust A"}, name="renamed")
    assert (renamed.members[0].name, renamed.name) == ("Trust A", "renamed")


def test_changing_the_entry_point_reapplies_its_preset_to_contexts_left_at_preset_values():
    original = load_scenario(valid_mapping())  # no entry point; leadership set to 0.6
    threat = original.with_context(entry_point="competitive_threat")
    assert threat.threat == 0.5  # the competitive_threat preset (docs/model.md 1.3)
    directive = threat.with_context(entry_point="policy_directive")
    # threat goes back to its default 0; the directive's own values come in, members' too.
    assert (directive.threat, directive.mandated, directive.authenticity) == (0.0, True, 0.4)
    assert [m.priority for m in directive.members] == [0.4, 0.4]
    assert directive.leadership == 0.6  # not in any preset: untouched
    back = directive.with_context(entry_point=None)
    assert back.to_dict() == original.to_dict()


def test_a_value_set_for_the_scenario_survives_an_entry_point_change():
    original = load_scenario({**valid_mapping(), "entry_point": "innovation",
                              "authenticity": 0.9})
    assert (original.authenticity, original.shared_vision) == (0.9, 0.65)
    changed = original.with_values({"entry_point": "funding_pressure", "pace": 0.3,
                                    "members[0].resources": 0.8})
    assert changed.authenticity == 0.9  # differs from the innovation preset's 0.7: kept
    assert changed.shared_vision == 0.5  # the innovation preset's 0.65 goes back to default
    assert changed.pace == 0.3  # given in the same call: wins over the new preset's 0.6
    # members' own resources are 0.5 (the default): the preset's 0.4 applies unless given.
    assert [m.resources for m in changed.members] == [0.8, 0.4]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"leadershp": 0.3}, ["leadershp", "unknown context", "did you mean 'leadership'"]),
        ({"members[0].sise": 9}, ["members[0].sise", "did you mean 'size'"]),
        ({"members[2].size": 9}, ["members[2].size", "member index 2 out of range", "0 .. 1"]),
        ({"leadership": 1.5}, ["leadership", "1.5", "out of range", "0.0 .. 1.0"]),
        ({"history": -3}, ["history", "-3", "out of range", "-1.0 .. 1.0"]),
        ({"leadership": math.nan}, ["leadership", "nan", "not a finite number"]),
        ({"leadership": -math.inf}, ["leadership", "-inf", "not a finite number"]),
        ({"leadership": 10**400}, ["leadership", "out of range"]),
        ({"leadership": "0.5"}, ["leadership", "'0.5'", "not a number"]),
        ({"leadership": True}, ["leadership", "True", "not a number"]),
        ({"mandated": "yes"}, ["mandated", "'yes'", "not a boolean"]),
        ({"members[0].size": 0}, ["members[0].size", "out of range", "1.0 .. 10000000.0"]),
        ({"members[0].name": 5}, ["members[0].name", "wrong type"]),
        ({"lead": 4}, ["lead", "4", "not a member index", "0 .. 1"]),
        ({"entry_point": "inovation"}, ["entry_point", "did you mean 'innovation'"]),
    ],
)
def test_with_context_rejects_bad_names_and_values(changes: dict[str, Any], expected: list[str]):
    original = load_scenario(valid_mapping())
    with pytest.raises(ScenarioError) as info:
        original.with_context(**changes)
    for fragment in expected:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert original == load_scenario(valid_mapping())


def test_with_values_rejects_a_non_string_path():
    with pytest.raises(ScenarioError, match="not a field path"):
        load_scenario(valid_mapping()).with_values({3: 0.5})


# -- error messages for bad input --------------------------------------------------------------
def mutate(path: tuple[Any, ...], value: Any = ..., delete: bool = False) -> dict[str, Any]:
    """The valid mapping with the item at ``path`` set to ``value`` (or deleted)."""
    data = valid_mapping()
    target = data
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


BAD_INPUTS = {
    "unknown top-level key": (
        mutate(("leadershp",), 0.5),
        ["leadershp", "unknown key", "did you mean 'leadership'"],
    ),
    "member attribute at top level": (
        mutate(("sise",), 10),
        ["sise", "unknown key", "member attribute 'size'", "members[i]"],
    ),
    "exact member attribute at top level": (
        mutate(("culture",), 0.4),
        ["culture", "unknown key", "'culture' is a member attribute", "members[i]"],
    ),
    "unknown member key": (
        mutate(("members", 1, "sise"), 10),
        ["members[1].sise", "unknown key", "did you mean 'size'"],
    ),
    "unknown timeline key": (
        mutate(("timeline", 0, "chnges"), {}),
        ["timeline[0].chnges", "did you mean 'changes'"],
    ),
    "context above range": (
        mutate(("leadership",), 1.2),
        ["leadership", "1.2", "out of range", "0.0 .. 1.0"],
    ),
    "signed context below range": (
        mutate(("ambition_bias",), -1.5),
        ["ambition_bias", "-1.5", "out of range", "-1.0 .. 1.0"],
    ),
    "member size below range": (
        mutate(("members", 0, "size"), 0),
        ["members[0].size", "out of range", "1.0 .. 10000000.0"],
    ),
    "member attribute above range": (
        mutate(("members", 1, "culture"), 2),
        ["members[1].culture", "out of range"],
    ),
    "huge integer": (mutate(("pace",), 10**400), ["pace", "out of range", "..."]),
    "NaN context": (mutate(("pace",), math.nan), ["pace", "nan", "not a finite number"]),
    "infinite member size": (
        mutate(("members", 0, "size"), math.inf),
        ["members[0].size", "inf", "not a finite number"],
    ),
    "string for a number": (
        mutate(("leadership",), "0.5"),
        ["leadership", "'0.5'", "wrong type", "write numbers unquoted"],
    ),
    "YAML exponent read as text": (
        mutate(("members", 0, "size"), "1e5"),
        ["members[0].size", "'1e5'", "decimal point"],
    ),
    "string for a bool": (mutate(("mandated",), "yes"), ["mandated", "'yes'", "wrong type"]),
    "number for a bool": (mutate(("mandated",), 1), ["mandated", "wrong type"]),
    "float for an integer step": (
        mutate(("timeline", 0, "step"), 2.5),
        ["timeline[0].step", "2.5", "wrong type"],
    ),
    "list for a number": (mutate(("regulation",), [0.5]), ["regulation", "wrong type"]),
    "mapping for a member": (mutate(("members", 0), "A"), ["members[0]", "'A'", "wrong type"]),
    "one member": (mutate(("members",), [{"size": 10}]), ["members: 1 members", "2 .. 16"]),
    "no members": (mutate(("members",), []), ["members: 0 members", "2 .. 16"]),
    "too many members": (
        mutate(("members",), [{"size": 10}] * (MAX_MEMBERS + 1)),
        [f"members: {MAX_MEMBERS + 1} members", "2 .. 16"],
    ),
    "members missing": (mutate(("members",), delete=True), ["members", "missing"]),
    "members not a list": (mutate(("members",), {"size": 1}), ["members", "wrong type"]),
    "negative timeline step": (
        mutate(("timeline", 0, "step"), -1),
        ["timeline[0].step", "-1", "out of range", "0 or more"],
    ),
    "timeline steps not increasing": (
        mutate(
            ("timeline",),
            [
                {"step": 12, "changes": {"pace": 0.2}},
                {"step": 12, "changes": {"pace": 0.3}},
            ],
        ),
        ["timeline[1].step", "12", "strictly increasing"],
    ),
    "timeline steps decreasing": (
        mutate(
            ("timeline",),
            [
                {"step": 30, "changes": {"pace": 0.2}},
                {"step": 6, "changes": {"pace": 0.3}},
            ],
        ),
        ["timeline[1].step", "6", "strictly increasing"],
    ),
    "unknown timeline context": (
        mutate(("timeline", 0, "changes"), {"leadershp": 0.2}),
        ["timeline[0].changes.leadershp", "unknown context", "did you mean 'leadership'"],
    ),
    "timeline member index out of range": (
        mutate(("timeline", 0, "changes"), {"members[2].size": 500}),
        ["timeline[0].changes.members[2].size", "member index 2 out of range", "0 .. 1"],
    ),
    "timeline member attribute unknown": (
        mutate(("timeline", 0, "changes"), {"members[1].sise": 500}),
        ["timeline[0].changes.members[1].sise", "did you mean 'size'"],
    ),
    "timeline value out of range": (
        mutate(("timeline", 0, "changes"), {"leadership": 3}),
        ["timeline[0].changes.leadership", "3", "out of range"],
    ),
    "timeline value NaN": (
        mutate(("timeline", 0, "changes"), {"leadership": math.nan}),
        ["timeline[0].changes.leadership", "not a finite number"],
    ),
    "timeline value huge": (
        mutate(("timeline", 0, "changes"), {"pace": 10**400}),
        ["timeline[0].changes.pace", "out of range"],
    ),
    "timeline without changes": (
        mutate(("timeline", 0, "changes"), {}),
        ["timeline[0].changes", "no changes given"],
    ),
    "timeline change key not text": (
        mutate(("timeline", 0, "changes"), {7: 0.5}),
        ["timeline[0].changes", "key 7", "not a context name"],
    ),
    "unknown entry point": (
        mutate(("entry_point",), "policy_directiv"),
        ["entry_point", "'policy_directiv'", "did you mean 'policy_directive'"],
    ),
    "lead out of range": (mutate(("lead",), 2), ["lead", "2", "not a member index"]),
    "empty name": (mutate(("name",), ""), ["name", "length 0", "at least 1"]),
    "unknown form": (mutate(("form",), "merge"), ["form", "'merge'", "did you mean 'merger'"]),
    "fixed term without a term": (mutate(("form",), "fixed_term"),
                                  ["term: a fixed_term form needs a term"]),
    "term for an alliance": (mutate(("term",), 24),
                             ["term: only a fixed_term form has a term", "'alliance'"]),
    "term not a whole number": ({**mutate(("form",), "fixed_term"), "term": 2.5},
                                ["term", "2.5"]),
    "term of zero": ({**mutate(("form",), "fixed_term"), "term": 0}, ["term", "0"]),
    "contract period for a merger": ({**mutate(("form",), "merger"), "contract_period": 12},
                                     ["contract_period: only the contractual and "
                                      "joint_commissioning forms", "'merger'"]),
}


@pytest.mark.parametrize(("data", "expected"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_names_the_field_and_the_problem(data: dict[str, Any], expected: list[str]):
    message = error_of(data)
    assert message.startswith("scenario: ")
    for fragment in expected:
        assert fragment in message, (fragment, message)


def test_a_term_beyond_the_simulated_months_is_refused_before_any_work(monkeypatch):
    buddying = load_scenario(SCENARIO_DIR / "buddying.yaml")
    assert (buddying.form, buddying.term, buddying.exit_period) == ("fixed_term", 24, 0)

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr("cmo_sim._simulate.compile_params", no_work)
    with pytest.raises(cmo_sim.ScenarioError, match="term 24 is beyond the simulated steps "
                                                    r"\(23\)"):
        cmo_sim.simulate(buddying, runs=5, steps=23)
    sweep = cmo_sim.Sweep(base=buddying, vary={"term": [6, 36]}, design="grid")
    with pytest.raises(cmo_sim.ScenarioError, match=r"vary\['term'\]: term 36"):
        cmo_sim.run_sweep(sweep, steps=30)


def test_a_timeline_event_the_run_never_reaches_is_refused_before_any_work(monkeypatch):
    base = load_scenario(valid_mapping())  # leadership falls to 0.2 at month 24

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr("cmo_sim._simulate.compile_params", no_work)
    # Months 0 .. 23 are simulated with steps=24: the event at 24 would never act.
    with pytest.raises(cmo_sim.ScenarioError, match=r"timeline step 24 is at or beyond the "
                                                    r"simulated steps \(24; months 0 to 23\)"):
        cmo_sim.simulate(base, runs=5, steps=24)
    with pytest.raises(cmo_sim.ScenarioError, match="timeline step 24"):
        cmo_sim.run_sweep(cmo_sim.Sweep(base=base, vary={"leadership": [0.3, 0.7]}), steps=10)
    monkeypatch.undo()
    assert len(cmo_sim.simulate(base, runs=2, steps=25).summary) == 2  # month 24 is reached


def test_forms_set_when_members_may_leave():
    base = load_scenario(SCENARIO_DIR / "voluntary_alliance.yaml")
    periods = {form: base.with_values(
        {"form": form, **({"term": 12} if form == "fixed_term" else {})}).exit_period
        for form in cmo_sim.scenario.FORMS}
    assert periods == {"alliance": 1, "network": 1, "merger": 0, "fixed_term": 0,
                       "joint_commissioning": 12, "contractual": 36}
    assert base.with_values({"form": "contractual", "contract_period": 60}).exit_period == 60
    again = load_scenario(base.with_values({"form": "fixed_term", "term": 9}).to_dict())
    assert (again.form, again.term, again.contract_period) == ("fixed_term", 9, None)


def test_several_problems_are_summarised_not_flooded():
    message = error_of(mutate(("members",), [{"size": -1}] * MAX_MEMBERS))
    assert message.startswith("scenario: members[0].size: -1 is out of range")
    assert f"and {MAX_MEMBERS - 1} more" in message and "not shown" in message
    assert len(message) < 1000


@pytest.mark.parametrize("document", [[1, 2], ("a", "b"), 42, 3.5, None])
def test_non_mapping_object_is_rejected(document: Any):
    expected = f"a scenario is a path, a mapping or a Scenario, not {type(document).__name__}"
    assert error_of(document) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- 1\n- 2\n", "a scenario must be a mapping of fields, got list"),
        ("just text\n", "a scenario must be a mapping of fields, got str"),
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
    ],
)
def test_non_mapping_file_is_rejected(text: str, expected: str, tmp_path: Path):
    path = tmp_path / "doc.yaml"
    path.write_text(text, encoding="utf-8")
    message = error_of(path)
    assert message.startswith(str(path)) and expected in message


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmembers:\n  - size: 100\n   - size: 3\n", encoding="utf-8")
    message = error_of(path)
    assert message.startswith(f"{path}: not valid YAML at line 4")


def test_unclosed_bracket_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "unclosed.yaml"
    path.write_text("name: x\nleadership: 0.5\nmembers: [{size: 1}, {size: 2}\n", encoding="utf-8")
    message = error_of(path)
    assert str(path) in message and re.search(r"line [34]\b", message)


def test_duplicate_key_in_file_is_rejected_with_both_lines(tmp_path: Path):
    path = tmp_path / "dup.yaml"
    path.write_text(
        "name: x\nleadership: 0.9\nmembers: [{size: 1}, {size: 2}]\nleadership: 0.1\n",
        encoding="utf-8",
    )
    message = error_of(path)
    assert "line 4" in message and "duplicate key 'leadership'" in message
    assert "first given at line 2" in message


def test_duplicate_key_in_a_flow_mapping_is_rejected(tmp_path: Path):
    path = tmp_path / "dup_flow.yaml"
    path.write_text("members: [{size: 1, size: 2}, {size: 3}]\n", encoding="utf-8")
    assert "duplicate key 'size'" in error_of(path)


def test_yaml_merge_keys_are_still_allowed(tmp_path: Path):
    path = tmp_path / "merge.yaml"
    path.write_text(
        "members:\n  - &m {size: 100, culture: 0.2}\n  - {<<: *m, size: 200}\n", encoding="utf-8"
    )
    scenario = load_scenario(path)
    assert scenario.members[1].size == 200 and scenario.members[1].culture == 0.2


def test_file_errors_name_the_file_and_field(tmp_path: Path):
    path = tmp_path / "bad_value.yaml"
    path.write_text("members: [{size: 1}, {size: 2}]\npace: 7\n", encoding="utf-8")
    message = error_of(path)
    assert message.startswith(f"{path}: pace: 7 is out of range")


def test_file_without_name_takes_its_stem(tmp_path: Path):
    path = tmp_path / "nameless.yaml"
    path.write_text("members: [{size: 1}, {size: 2}]\n", encoding="utf-8")
    assert load_scenario(path).name == "nameless"


def test_unsafe_yaml_tags_are_refused(tmp_path: Path):
    path = tmp_path / "tag.yaml"
    path.write_text("name: !!python/object/apply:os.getcwd []\nmembers: [{}, {}]\n")
    message = error_of(path)
    assert str(path) in message and "line 1" in message


def test_missing_file_and_directory_are_reported(tmp_path: Path):
    missing = tmp_path / "nowhere.yaml"
    assert error_of(missing) == f"{missing}: no such scenario file"
    assert error_of(str(missing)) == f"{missing}: no such scenario file"
    assert "is a directory" in error_of(tmp_path)


def test_a_scenario_is_returned_as_is():
    scenario = load_scenario(valid_mapping())
    assert load_scenario(scenario) is scenario


def test_scenario_error_is_a_value_error():
    assert issubclass(ScenarioError, ValueError)
    with pytest.raises(ValueError, match="leadership"):
        load_scenario(mutate(("leadership",), 9))


def test_scenarios_are_frozen():
    scenario = load_scenario(valid_mapping())
    with pytest.raises(ValueError):
        scenario.leadership = 0.1  # type: ignore[misc]
    assert scenario.leadership == 0.6


def test_field_bounds_report_ranges_and_unknown_paths():
    assert field_bounds("leadership") == (0.0, 1.0)
    assert field_bounds("history") == (-1.0, 1.0)
    assert field_bounds("members[3].size") == (1.0, 1e7)
    assert field_bounds("mandated") is None
    with pytest.raises(KeyError):
        field_bounds("trust")


# -- property: malformed input gives a ScenarioError, never another exception -------------------
KEYS = sorted({*Scenario.model_fields, "sise", "leadershp", "trust", "", "members[0].size"})
MEMBER_KEYS = sorted({"name", *MEMBER_FIELDS, "sise", "power"})
CHANGE_KEYS = sorted(
    {
        *PARTNERSHIP_FIELDS,
        "lead",
        "name",
        "leadershp",
        "members[0].size",
        "members[1].culture",
        "members[9].size",
        "members[0].sise",
        "members[-1].size",
        "members[x].size",
        "members[0]",
    }
)

special = st.sampled_from(
    [math.nan, math.inf, -math.inf, 10**400, -(10**400), -1, 2, 1e7 + 1, "0.5", True, None]
)
CHANGE_KEYS_VALID = sorted(
    {*(k for k in PARTNERSHIP_FIELDS if k != "mandated"), "members[0].size", "members[1].culture"}
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1.0, max_value=1.0),
    st.text(max_size=8),
    st.sampled_from(["0.5", "1e5", "yes", "true", *ENTRY_POINTS, "inovation"]),
    special,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 3)), inner, max_size=3),
    ),
    max_leaves=6,
)
any_key = st.one_of(st.sampled_from(KEYS), st.text(max_size=10), st.integers(-2, 2), st.none())


unit = st.floats(0.0, 1.0)
valid_member = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=10),
        "size": st.floats(1.0, 1e6),
        **{attr: unit for attr in MEMBER_FIELDS if attr != "size"},
    },
)
# Mostly plausible values, so that examples often get past field validation and reach the
# cross-field checks (lead, timeline order, timeline changes); sometimes anything at all.
plausible = st.one_of(unit, st.integers(0, 40), special, values)


@st.composite
def members_lists(draw: st.DrawFn) -> Any:
    """A members value: a list of random length, mostly of valid or near-valid members."""
    if draw(st.integers(0, 9)) == 0:
        return draw(values)
    length = draw(st.one_of(st.integers(2, 4), st.integers(0, MAX_MEMBERS + 3)))
    members = []
    for _ in range(length):
        roll = draw(st.integers(0, 9))
        if roll < 7:
            members.append(draw(valid_member))
        elif roll < 9:
            members.append(draw(st.dictionaries(st.sampled_from(MEMBER_KEYS), plausible)))
        else:
            members.append(draw(values))
    return members


@st.composite
def timelines(draw: st.DrawFn) -> Any:
    """A timeline value: a list of (mostly) event-like mappings with random content."""
    if draw(st.integers(0, 9)) == 0:
        return draw(values)
    events = []
    step = draw(st.integers(-2, 3))
    for _ in range(draw(st.integers(0, 4))):
        step += draw(st.integers(-2, 24))
        roll = draw(st.integers(0, 9))
        if roll < 8:
            keys = st.sampled_from(CHANGE_KEYS if roll < 4 else CHANGE_KEYS_VALID)
            changes = draw(st.dictionaries(keys, unit, min_size=1, max_size=3))
            if draw(st.booleans()):  # one bad or borderline value
                changes[draw(keys)] = draw(plausible)
        else:
            changes = draw(values)
        event: Any = {"step": step, "changes": changes}
        if draw(st.integers(0, 4)) == 0:
            event[draw(st.sampled_from(["note", "extra", "step", "changes"]))] = draw(values)
        events.append(event if draw(st.integers(0, 9)) else draw(values))
    return events


MUTATIONS = ["set", "set_plausible", "delete", "members", "member", "lead", *["timeline"] * 3]


@st.composite
def malformed_mappings(draw: st.DrawFn) -> dict[Any, Any]:
    """A valid mapping put through a few random mutations."""
    data: dict[Any, Any] = copy.deepcopy(valid_mapping())
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "set":
            data[draw(any_key)] = draw(values)
        elif kind == "set_plausible":
            data[draw(st.sampled_from(KEYS))] = draw(plausible)
        elif kind == "delete" and data:
            del data[draw(st.sampled_from(sorted(data, key=repr)))]
        elif kind == "members":
            data["members"] = draw(members_lists())
        elif kind == "member" and isinstance(data.get("members"), list) and data["members"]:
            index = draw(st.integers(0, len(data["members"]) - 1))
            if isinstance(data["members"][index], dict):
                data["members"][index][draw(st.sampled_from(MEMBER_KEYS))] = draw(plausible)
        elif kind == "lead":
            data["lead"] = draw(st.integers(-1, MAX_MEMBERS + 1))
        elif kind == "timeline":
            data["timeline"] = draw(timelines())
    return data


def assert_loads_or_scenario_error(data: Any) -> None:
    try:
        scenario = load_scenario(data)
    except ScenarioError as exc:
        assert str(exc).strip(), "empty error message"
        return
    assert isinstance(scenario, Scenario)
    assert load_scenario(scenario.to_dict()) == scenario


@PROPERTY
@given(malformed_mappings())
def test_malformed_mappings_raise_only_scenario_errors(data: dict[Any, Any]):
    assert_loads_or_scenario_error(data)


@PROPERTY
@given(malformed_mappings())
def test_malformed_yaml_files_raise_only_scenario_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("prop") / "scenario.yaml"
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:  # e.g. a key YAML cannot represent: nothing to write
        text = "members: [{}, {}]\n"
    path.write_text(text, encoding="utf-8")
    assert_loads_or_scenario_error(path)


@examples(150, suppress_health_check=PROPERTY.suppress_health_check)
@given(st.text(max_size=200))
def test_arbitrary_text_files_raise_only_scenario_errors(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("text") / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    assert_loads_or_scenario_error(path)


@PROPERTY
@given(st.dictionaries(st.sampled_from(CHANGE_KEYS), values, min_size=1, max_size=3))
def test_with_values_raises_only_scenario_errors(changes: dict[str, Any]):
    original = load_scenario(valid_mapping())
    try:
        changed = original.with_values(changes)
    except ScenarioError as exc:
        assert str(exc).startswith("base (changed): ")
    else:
        assert isinstance(changed, Scenario)
    assert original == load_scenario(valid_mapping())


@PROPERTY
@given(
    st.sampled_from(KEYS),
    st.one_of(plausible, values),
    st.sampled_from(CHANGE_KEYS),
    st.one_of(special, plausible),
    st.integers(-1, 30),
)
def test_single_bad_values_raise_only_scenario_errors(key, value, change_key, change, step):
    # One field and one timeline change at a time, so that the cross-field checks (which run
    # only once every field is valid) see every kind of value.
    assert_loads_or_scenario_error({**valid_mapping(), key: value})
    timeline = [
        {"step": 12, "changes": {"pace": 0.4}},
        {"step": step, "changes": {change_key: change}},
    ]
    assert_loads_or_scenario_error({**valid_mapping(), "timeline": timeline})
