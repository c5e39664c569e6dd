"""The user reference (docs/reference.md) and the JSON Schema of scenario files.

The page must be what the code generates, and must name everything the code knows: the
expected names come from the models, a real simulation, the shipped files and the command's
own ``--help``, not from the generator.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import sys
from pathlib import Path

import pytest
import yaml
from _own_theory import OWN_THEORY

from cmo_sim._reference import (
    DESIGN_MEANINGS,
    SWEEP_KEY_MEANINGS,
    reference_page,
    rules_using,
    scenario_json_schema,
)
from cmo_sim.scenario import Member, Scenario, TimelineEvent, load_scenario
from cmo_sim.sweep._file import _SweepSchema
from cmo_sim.sweep.designs import DESIGNS
from cmo_sim.theory import load_theory

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference.md"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SWEEPS = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
sys.path.insert(0, str(ROOT / "tools"))
import user_reference  # noqa: E402


def _jsonschema():
    """The jsonschema package (the ``test`` extra installs it)."""
    import jsonschema

    return jsonschema


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def _section(page: str, heading: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = page.index(f"\n{heading}\n")
    rest = page[start + len(heading) + 2:]
    ends = [m.start() for m in re.finditer(r"^(#+) ", rest, flags=re.M)
            if len(m.group(1)) <= len(level)]
    return rest[: ends[0]] if ends else rest


def _first_cells(text: str) -> list[str]:
    """The code-quoted names in the first column of the section's tables."""
    return re.findall(r"^\| `([^`]+)` \|", text, flags=re.M)


# -- the page is the generated text -------------------------------------------------------------
def test_the_committed_page_is_the_generated_text(page):
    assert page == reference_page(), "run: python tools/user_reference.py --write"


def test_the_tool_checks_and_writes_the_page(tmp_path, monkeypatch):
    with contextlib.redirect_stdout(io.StringIO()):
        assert user_reference.main([]) == 0
        target = tmp_path / "reference.md"
        target.write_text("stale\n", encoding="utf-8")
        monkeypatch.setattr(user_reference, "PAGE", target)
        assert user_reference.main([]) == 1
        assert user_reference.main(["--write"]) == 0
        assert user_reference.main([]) == 0
    assert target.read_text(encoding="utf-8") == reference_page()


# -- everything the code knows is on the page ---------------------------------------------------
@pytest.mark.parametrize(("model", "heading"), [
    (Scenario, "### Scenario fields"), (Member, "### Member attributes"),
    (TimelineEvent, "### Timeline events")])
def test_every_scenario_field_has_a_row_with_a_meaning(page, model, heading):
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r"^\| `([^`]+)` \| ([^|]*) \|", _section(page, heading), flags=re.M)}
    assert set(rows) == set(model.model_fields)
    assert all(text.strip() for text in rows.values()), "every field says what it is"


def test_every_context_lists_the_rules_that_take_it_as_their_context(page):
    theory = load_theory()
    table = _section(page, "### Scenario fields") + _section(page, "### Member attributes")
    for rule in theory.rules:
        name = rule.context
        if name in Scenario.model_fields or name in Member.model_fields:
            row = re.search(rf"^\| `{name}` \|.*$", table, flags=re.M).group(0)
            assert f"`{rule.id}`" in row, (name, rule.id)


def test_every_summary_column_and_trajectory_variable_is_described(page):
    import cmo_sim

    results = cmo_sim.simulate(ROOT / "scenarios" / "voluntary_alliance.yaml", runs=2, steps=3,
                               record="trajectory", progress=False)
    summary = _section(page, "### Summary columns")
    rows = {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(
        r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|$", summary, flags=re.M)}
    assert set(results.summary.columns) <= set(rows)
    assert "point" in rows, "a sweep's design point"
    assert all(meaning.strip() and unit.strip() for meaning, unit in rows.values())
    assert "`dissolved_at` is missing (NaN)" in summary
    trajectories = _section(page, "### Trajectory variables")
    assert set(results.trajectories.data_vars) == set(_first_cells(trajectories))
    for row in re.findall(r"^\| `[^`]+` \|.*$", trajectories, flags=re.M):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert all(cells) and cells[-1] != "—", f"a meaning and a unit: {row}"
    for coordinate in results.trajectories.coords:
        assert f"`{coordinate}`" in trajectories


def test_every_sweep_key_design_and_vary_key_is_on_the_page(page):
    keys = _first_cells(_section(page, "### Keys"))
    assert set(keys) == set(_SweepSchema.model_fields) == set(SWEEP_KEY_MEANINGS)
    assert set(DESIGN_MEANINGS) == set(DESIGNS)
    assert set(_first_cells(_section(page, "### Designs"))) == set(DESIGNS)
    vary = set(_first_cells(_section(page, "### Vary keys")))
    assert {"rule:<id>", "baseline:<name>", "contexts.<name>",
            "members[i].contexts.<name>"} <= vary
    for path in SWEEPS:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(data) <= set(keys), path.name
        for factor in data["vary"]:
            assert re.sub(r"members\[[0-9]+\]", "members[i]", factor) in vary, factor
    theory = load_theory()
    assert set(_first_cells(_section(page, "### Rule ids (`rule:<id>`)"))) == set(theory.ids)
    baseline = _section(page, "### Baseline constants (`baseline:<name>`)")
    assert set(_first_cells(baseline)) == set(theory.baseline)


def test_every_command_and_option_is_on_the_page(page):
    from cmo_sim.cli import main

    def helped(*words: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            main([*words, "--help"])
        return out.getvalue()

    def commands(words: tuple[str, ...]):
        text = helped(*words)
        names = re.findall(r"^    ([a-z][a-z-]*)(?: |$)", text, flags=re.M)
        if not names:
            yield words, text
            return
        for name in names:
            yield from commands((*words, name))

    found = list(commands(()))
    assert len(found) >= 10
    for words, text in found:
        section = _section(page, f"### `cmo-sim {' '.join(words)}`")
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text)) - {"--help"}
        for option in options:
            assert f"`{option}" in section, (words, option)


# -- the JSON Schema ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def validator():
    jsonschema = _jsonschema()
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_schema_accepts_every_shipped_scenario(validator, path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(validator.iter_errors(data)) == []


BASE = {"members": [{"size": 500}, {"size": 2000}]}


def _with(path: str, value) -> dict:
    """BASE with ``value`` set at a dotted path (list indices as numbers)."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    target = data
    for part in parents:
        if isinstance(target, list):
            target = target[int(part)]
        else:
            target = target.setdefault(part, {})
    target[last] = value
    return data


# Cases on which the schema and cmo-sim's own validation (with the default theory) must agree.
CASES = {
    "minimal": BASE,
    "every context set": {**BASE, "leadership": 0.9, "history": -1, "mandated": True,
                          "ambition_bias": 1.0, "entry_point": "innovation"},
    "unknown key": _with("leadersip", 0.5),
    "member attribute at the top": _with("size", 100.0),
    "unknown member key": _with("members.0.sise", 100),
    "context above its range": _with("leadership", 1.5),
    "signed context below its range": _with("history", -1.01),
    "member size too small": _with("members.0.size", 0.5),
    "member size too large": _with("members.0.size", 2e7),
    "text for a number": _with("leadership", "high"),
    "text for a switch": _with("mandated", "yes"),
    "unknown entry point": _with("entry_point", "funding"),
    "unknown form": _with("form", "marriage"),
    "fixed term with a term": {**BASE, "form": "fixed_term", "term": 24},
    "fixed term without a term": _with("form", "fixed_term"),
    "term of an alliance": _with("term", 24),
    "contract period of a contract": {**BASE, "form": "contractual", "contract_period": 24},
    "contract period of a merger": {**BASE, "form": "merger", "contract_period": 24},
    "one member": {"members": [{}]},
    "seventeen members": {"members": [{}] * 17},
    "no members": {"name": "x"},
    "empty name": _with("name", ""),
    "own context the theory does not declare": _with("contexts", {"liaison": 0.3}),
    "member context the theory does not declare": _with("members.1.contexts", {"x": 0.3}),
    "timeline change": _with("timeline", [{"step": 12, "changes": {
        "leadership": 0.2, "members[1].priority": 0.9, "mandated": False}}]),
    "timeline change out of range": _with("timeline", [{"step": 12, "changes": {
        "leadership": 1.2}}]),
    "timeline change of an unknown context": _with("timeline", [{"step": 1, "changes": {
        "leadersip": 0.2}}]),
    "timeline change of an unknown attribute": _with("timeline", [{"step": 1, "changes": {
        "members[0].sise": 200}}]),
    "timeline change of a member name": _with("timeline", [{"step": 1, "changes": {
        "members[0].name": "A"}}]),
    "timeline event without changes": _with("timeline", [{"step": 1, "changes": {}}]),
    "timeline event with an unknown key": _with("timeline", [{"step": 1, "when": 2,
                                                              "changes": {"pace": 0.2}}]),
}


def _loads(data) -> bool:
    try:
        load_scenario(data, theory=load_theory())
    except Exception:  # noqa: BLE001 - any refusal counts
        return False
    return True


@pytest.mark.parametrize("name", CASES)
def test_the_schema_agrees_with_the_scenario_validation(validator, name):
    data = CASES[name]
    assert validator.is_valid(data) == _loads(data), name


def test_the_schema_rejects_an_unknown_key_and_an_out_of_range_context(validator):
    unknown = next(validator.iter_errors(_with("leadersip", 0.5)))
    assert "leadersip" in unknown.message
    out_of_range = next(validator.iter_errors(_with("shared_vision", 1.5)))
    assert list(out_of_range.path) == ["shared_vision"]


def test_the_schema_takes_the_contexts_a_theory_declares():
    jsonschema = _jsonschema()
    theory = load_theory(OWN_THEORY)
    validator = jsonschema.Draft202012Validator(scenario_json_schema(theory))
    good = _with("contexts", {"liaison_turnover": 0.4})
    good["members"][0]["contexts"] = {"formal_process": 1.5}
    good["timeline"] = [{"step": 3, "changes": {"contexts.liaison_turnover": 0.9,
                                                "members[1].contexts.formal_process": 2.0}}]
    assert validator.is_valid(good) and _loads_with(good, theory)
    for bad in (_with("contexts", {"liaison_turnover": 1.5}),
                _with("contexts", {"formal_process": 0.5}),
                _with("members.0.contexts", {"formal_process": 2.5}),
                _with("timeline", [{"step": 1, "changes": {"contexts.formal_process": 1}}])):
        assert not validator.is_valid(bad) and not _loads_with(bad, theory), bad
    assert rules_using(theory)["liaison_turnover"] == ["liaison.turnover_resets"]
    assert "`liaison_turnover`" in reference_page(theory)


def _loads_with(data, theory) -> bool:
    try:
        load_scenario(data, theory=theory)
    except Exception:  # noqa: BLE001 - any refusal counts
        return False
    return True
