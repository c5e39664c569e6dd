"""The user reference (docs/reference.md) and the JSON Schema of scenario files, from the code.

Every table is built from where the code defines it: the scenario's pydantic models, the loaded
theory, the sweep-file schema and designs, the summary columns' meanings
(:data:`cmo_sim.results.SUMMARY_FIELDS`), the trajectory variables' descriptions and the
``cmo-sim`` argument parser. Only the meanings of the sweep-file keys and designs, which the
code holds as prose in docstrings, are written here (and a test checks that they cover every
key and design the code knows).

``python tools/user_reference.py --write`` writes the page; ``python tools/user_reference.py``
checks it.
"""

from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cmo_sim._simulate import as_theory
from cmo_sim.core.runner import MEMBER_VARIABLES, TRAJECTORY_VARIABLES
from cmo_sim.core.terms import STATE_INPUTS
from cmo_sim.results import _ATTRS, SUMMARY_COLUMNS, SUMMARY_FIELDS
from cmo_sim.scenario import (
    DEFAULT_CONTRACT_PERIOD,
    ENTRY_POINT_PRESETS,
    ENTRY_POINTS,
    FORMS,
    MAX_MEMBERS,
    MEMBER_FIELDS,
    PARTNERSHIP_FIELDS,
    Member,
    Scenario,
    TimelineEvent,
    field_bounds,
)
from cmo_sim.sweep import designs as _designs
from cmo_sim.sweep._file import _SweepSchema
from cmo_sim.theory._model import BASELINE_RANGES, Theory

__all__ = [
    "DESIGN_MEANINGS",
    "SWEEP_KEY_MEANINGS",
    "cli_section",
    "reference_page",
    "results_section",
    "rules_using",
    "scenario_json_schema",
    "scenario_section",
    "sweep_section",
]

#: JSON Schema dialect of :func:`scenario_json_schema`.
DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: Meaning of every key of a sweep file (the keys are :class:`cmo_sim.sweep._file._SweepSchema`'s
#: fields; tests/test_reference.py checks the two agree).
SWEEP_KEY_MEANINGS: dict[str, str] = {
    "name": "Name of the sweep (default: the file name without `.yaml`). Its design points "
            "are the scenarios `p000000`, `p000001`, ...",
    "description": "Free text about the sweep.",
    "base": "The scenario every design point starts from: a path to a scenario file "
            "(relative to the sweep file) or an inline scenario mapping.",
    "design": "How the design points are chosen (see [Designs](#designs)).",
    "samples": "The design's size (see [Designs](#designs)); a list design takes none, a grid "
               "only when some factor is a range.",
    "replicates": "Runs per design point; replicate r of every point shares its random "
                  "numbers (common random numbers).",
    "design_seed": "Seeds the Latin hypercube, the Sobol scrambling and the Morris "
                   "trajectories (not the simulation).",
    "vary": "The factors: field path -> range or list of values (see "
            "[Vary keys](#vary-keys) and [Vary values](#vary-values)). At least one.",
    "steps": "Months to simulate (`cmo-sim sweep --steps` overrides).",
    "seed": "Random seed of the simulation (`cmo-sim sweep --seed` overrides).",
    "record": "What each run keeps: `summary` (its summary row only), `trajectory` (the "
              "trajectories of every month too) or an integer k >= 1 (every k-th month, "
              "and month 0).",
}

#: Meaning, ``samples`` and number of points of every sweep design (:data:`DESIGNS`).
DESIGN_MEANINGS: dict[str, tuple[str, str, str]] = {
    "grid": ("Full factorial: every listed value of each list factor and `samples` evenly "
             "spaced levels (ends included) of each range, first factor slowest.",
             "levels per range, an integer >= 2; needed when some factor is a range, not "
             "allowed otherwise",
             "product of the levels of every factor"),
    "lhs": ("Latin hypercube sample (scipy.stats.qmc), for scenario discovery and "
            "metamodels.",
            "points, an integer >= 2", "`samples`"),
    "sobol": ("SALib's Sobol/Saltelli sample, for first- and total-order Sobol indices "
              "(`cmo_sim.analysis.sobol_indices`).",
              "base N, a power of 2 (>= 1)", "`samples` x (factors + 2)"),
    "morris": (f"SALib's Morris one-at-a-time trajectories on {_designs.MORRIS_LEVELS} levels "
               "of each factor, for elementary effects (`cmo_sim.analysis.morris_indices`).",
               "trajectories, an integer >= 2", "`samples` x (factors + 1)"),
    "list": ("Point k takes value k of every factor's list: every factor is a list, all of "
             "one length (no ranges).",
             "none (not allowed)", "the length of the lists"),
}

#: Meanings of scenario fields whose pydantic field has no description.
_FIELD_MEANINGS = {
    "name": "Name of the scenario (default: the file name without `.yaml`).",
    "description": "Free text about the scenario.",
    "members": "The member organisations (see [Member attributes](#member-attributes)).",
    "timeline": "Scheduled changes of contexts (see [Timeline events](#timeline-events)).",
    "note": "Free text about the change.",
}

#: Units of trajectory variables whose description does not end with its unit.
_TRAJECTORY_UNITS = {"active": "bool", "regime": "code (see meaning)",
                     "achievement": "ambition units"}


# -- helpers ------------------------------------------------------------------------------------
def _row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(head), "|" + "---|" * len(head), *(_row(r) for r in rows)]


def _num(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _code(values) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _allowed(prop: Mapping[str, Any]) -> str:
    """A JSON Schema property as a short phrase: its type, range and length limits."""
    if "anyOf" in prop:
        parts = [p for p in prop["anyOf"] if p.get("type") != "null"]
        text = " or ".join(_allowed(p) for p in parts)
        if len(parts) < len(prop["anyOf"]):
            text += ", or none (`null`)"
        return text
    if "enum" in prop:
        return "one of " + _code(prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "$ref" in prop:
        return f"a {prop['$ref'].rsplit('/', 1)[-1]} mapping"
    kind = prop.get("type")
    if kind == "boolean":
        return "`true` or `false`"
    if kind in ("number", "integer"):
        word = "a number" if kind == "number" else "an integer"
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is not None and high is not None:
            return f"{_num(low)} .. {_num(high)}" + (" (integer)" if kind == "integer" else "")
        if low is not None:
            return f"{word} >= {_num(low)}"
        return word
    if kind == "string":
        low, high = prop.get("minLength"), prop.get("maxLength")
        if high is not None:
            return f"text of {low or 0} .. {high} characters"
        return "text"
    if kind == "array":
        items = _allowed(prop.get("items", {}))
        low, high = prop.get("minItems"), prop.get("maxItems")
        count = (f"{low} .. {high} " if high is not None
                 else f"{low} or more " if low else "")
        return f"a list of {count}items, each {items}"
    if kind == "object":
        return "a mapping"
    return "any"


def _typical(name: str, prop: Mapping[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in prop:
        return "empty"
    value = prop["default"]
    if value is None:
        return "none"
    if value in ((), [], {}):
        return "empty"
    if value == "":
        return '""'
    return _num(value) if not isinstance(value, str) else f"`{value}`"


def rules_using(theory: Theory | str | Path | None = None, *,
                state: bool = False) -> dict[str, list[str]]:
    """Ids of the rules that read each context (or, with ``state``, each state input).

    A rule reads a name as the input of one of its terms or in a ``when`` condition, resolved
    as the engine resolves it: at a month site a state input wins over a context of the same
    name (``communication``, ``shared_vision``).

    Parameters
    ----------
    theory : Theory or path, optional
        Default: the review's theory.
    state : bool
        False: the scenario's contexts (and the theory's own); True: the state inputs.

    Returns
    -------
    dict
        Name -> rule ids in theory order (names no rule reads are absent).
    """
    theory = as_theory(theory)
    order = {rule.id: k for k, rule in enumerate(theory.rules)}
    found: dict[str, set[str]] = {}
    for table in theory.compiled().values():
        for term in table.terms:
            reads = [(term.input, term.level)] + [(c[0], c[1]) for c in term.conditions]
            for name, level in reads:
                if level == "constant":  # a constant term: about its input, reading no value
                    level = "partnership" if name in theory.contexts else "state"
                if (level == "state") == state:
                    found.setdefault(name, set()).add(term.rule)
    return {name: sorted(ids, key=order.__getitem__) for name, ids in found.items()}


def _rules_cell(name: str, using: Mapping[str, list[str]],
                state: Mapping[str, list[str]] | None = None) -> str:
    direct = ", ".join(f"`{r}`" for r in using.get(name, ()))
    if state and name in STATE_INPUTS and state.get(name):
        through = (f"through the state input `{name}`: "
                   + ", ".join(f"`{r}`" for r in state[name]))
        return f"{direct}; {through}" if direct else through
    return direct or "—"


# -- the JSON Schema of scenario files ---------------------------------------------------------
def _strip(prop: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prop.items() if k not in ("default", "title")}


def _own_contexts(contexts, level: str) -> dict[str, Any]:
    """The schema of a ``contexts:`` mapping: the theory's declared contexts of ``level``."""
    declared = [c for c in contexts if c.level == level]
    text = (f"Values of the {level}-level contexts the theory declares (name -> value)."
            if declared else f"The theory declares no {level}-level context: leave this out.")
    return {
        "type": "object",
        "description": text,
        "properties": {
            c.name: {"type": "number", "minimum": c.range[0], "maximum": c.range[1],
                     "description": f"{c.meaning} Typical {_num(c.typical)}."}
            for c in declared
        },
        "additionalProperties": False,
    }


def _changes(schema: Mapping[str, Any], contexts) -> dict[str, Any]:
    """The schema of a timeline event's ``changes``: context paths -> values in their range."""
    member = schema["$defs"]["Member"]["properties"]
    index = r"members\[[0-9]+\]\."
    patterns = {f"^{index}{name}$": _strip(member[name]) for name in MEMBER_FIELDS}
    for c in contexts:
        where = index if c.level == "member" else ""
        patterns[f"^{where}contexts\\.{c.name}$"] = {
            "type": "number", "minimum": c.range[0], "maximum": c.range[1],
            "description": c.meaning}
    return {
        "type": "object",
        "description": "Context path -> new value: a partnership context, "
                       "'members[i].<attribute>', 'contexts.<name>' or "
                       "'members[i].contexts.<name>' for a context the theory declares.",
        "minProperties": 1,
        "properties": {name: _strip(schema["properties"][name]) for name in PARTNERSHIP_FIELDS},
        "patternProperties": patterns,
        "additionalProperties": False,
    }


def scenario_json_schema(theory: Theory | str | Path | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of scenario files, for editors to validate and complete.

    Built from :class:`~cmo_sim.scenario.Scenario`'s ``model_json_schema()``: every field with
    its meaning, type, range and default; unknown keys are refused. Added to it: the
    ``contexts:`` mappings (of the scenario and of each member) take the contexts ``theory``
    declares, with their ranges; timeline ``changes`` take context paths with the range of
    each; a ``fixed_term`` form needs a ``term`` and only the contract forms take a
    ``contract_period``. Left to cmo-sim's own check: that ``lead`` and timeline member
    indices name members, and that timeline steps increase.

    Parameters
    ----------
    theory : Theory or path, optional
        The theory whose own contexts the scenario may set. Default: the review's theory,
        which declares none.

    Returns
    -------
    dict
        The schema (JSON-able).
    """
    contexts = as_theory(theory).user_contexts
    schema = copy.deepcopy(Scenario.model_json_schema())
    schema = {"$schema": DRAFT, "title": "cmo-sim scenario", **schema}
    schema["properties"]["contexts"] = _own_contexts(contexts, "partnership")
    schema["$defs"]["Member"]["properties"]["contexts"] = _own_contexts(contexts, "member")
    schema["$defs"]["TimelineEvent"]["properties"]["changes"] = _changes(schema, contexts)
    contract = sorted(DEFAULT_CONTRACT_PERIOD)
    schema["allOf"] = [
        {"if": {"properties": {"form": {"const": "fixed_term"}}, "required": ["form"]},
         "then": {"required": ["term"], "properties": {"term": {"type": "integer"}}},
         "else": {"properties": {"term": {"type": "null"}}}},
        {"if": {"properties": {"form": {"enum": contract}}, "required": ["form"]},
         "else": {"properties": {"contract_period": {"type": "null"}}}},
    ]
    return schema


# -- sections -----------------------------------------------------------------------------------
def _meaning(name: str, prop: Mapping[str, Any]) -> str:
    return prop.get("description") or _FIELD_MEANINGS.get(name, "")


def _field_rows(model, schema: Mapping[str, Any], using, state) -> list[list[Any]]:
    rows = []
    props, required = schema["properties"], set(schema.get("required", ()))
    for name in model.model_fields:
        prop = props[name]
        rows.append([f"`{name}`", _meaning(name, prop), _allowed(prop),
                     _typical(name, prop, name in required), _rules_cell(name, using, state)])
    return rows


def scenario_section(theory: Theory | str | Path | None = None) -> str:
    """Markdown: scenario fields, member attributes, timeline events, forms and entry points.

    Also the contexts the theory declares and the state inputs, each with the rules of
    ``theory`` that read it.
    """
    theory = as_theory(theory)
    using, state = rules_using(theory), rules_using(theory, state=True)
    schema = scenario_json_schema(theory)
    head = ["field", "meaning", "allowed", "typical (default)", "rules that read it"]
    out = ["## Scenario files", "",
           "A scenario file is a YAML mapping of the fields below. Unknown keys are refused. "
           f"Rules are those of the theory `{theory.name}` that read the field as the input "
           "of a term or test it in a condition (`when`).", "",
           "### Scenario fields", ""]
    out += _table(head, _field_rows(Scenario, schema, using, state))
    member = schema["$defs"]["Member"]
    out += ["", "### Member attributes", "",
            f"Each item of `members` ({schema['properties']['members']['minItems']} to "
            f"{MAX_MEMBERS} of them) is a "
            "mapping of these attributes; member i is `members[i]` in timeline changes and "
            "sweeps.", ""]
    out += _table(head, _field_rows(Member, member, using, state))
    event = schema["$defs"]["TimelineEvent"]
    out += ["", "### Timeline events", "",
            "Each item of `timeline` changes contexts from the start of its month; steps must "
            "increase from one event to the next.", ""]
    out += _table(head[:4], [r[:4] for r in _field_rows(TimelineEvent, event, using, state)])
    out += ["", "Keys of `changes`: a partnership context (" + _code(PARTNERSHIP_FIELDS[:3]) +
            ", ...), `members[i].<attribute>` with attribute one of " + _code(MEMBER_FIELDS) +
            ", `contexts.<name>` or `members[i].contexts.<name>` for a context the theory "
            "declares; each value within the field's range."]
    out += ["", "### Forms", "",
            "The form (`form`) sets when members may leave and what ends a run (docs/model.md, "
            "Forms and end states).", ""]
    rows = []
    for form in FORMS:
        extra = {"term": 12} if form == "fixed_term" else {}
        s = Scenario(form=form, members=(Member(), Member()), **extra)
        period = s.exit_period
        leave = ("never (no exit points)" if period == 0 else "any month" if period == 1
                 else f"every {period} months (`contract_period`)")
        needs = "`term`" if form == "fixed_term" else (
            "`contract_period` (optional)" if form in DEFAULT_CONTRACT_PERIOD else "—")
        rows.append([f"`{form}`", leave, needs])
    out += _table(["form", "members may leave", "takes"], rows)
    out += ["", "### Entry points", "",
            "Naming an `entry_point` (review Table 2) fills in these defaults; values the file "
            "gives win. Member attributes apply to every member. Changing `entry_point` later "
            "(`with_values`, `with_context`, a sweep) moves every value these presets set that "
            "still holds the old entry point's value (or the default) to the new one's; a value "
            "that differs was set for the scenario and is kept (docs/model.md, 1.3).", ""]
    rows = []
    for entry in ENTRY_POINTS:
        preset = dict(ENTRY_POINT_PRESETS[entry])
        members = preset.pop("members", {})
        values = [f"{k}: {_num(v)}" for k, v in preset.items()]
        values += [f"members[i].{k}: {_num(v)}" for k, v in members.items()]
        rows.append([f"`{entry}`", ", ".join(values)])
    out += _table(["entry point", "defaults"], rows)
    out += ["", "### Contexts the theory declares", ""]
    declared = theory.user_contexts
    if declared:
        out += ["Set under `contexts:` (partnership level) or `members[i].contexts:` (member "
                "level).", ""]
        out += _table(["context", "level", "meaning", "allowed", "typical", "rules that read it"],
                      [[f"`{c.name}`", c.level, c.meaning,
                        f"{_num(c.range[0])} .. {_num(c.range[1])}", _num(c.typical),
                        _rules_cell(c.name, using)] for c in declared])
    else:
        out += [f"The theory `{theory.name}` declares no contexts of its own, so `contexts:` "
                "and `members[i].contexts:` stay empty with it. A theory that declares some "
                "(docs/theory-language.md) lets scenarios set them there, within the declared "
                "range."]
    out += ["", "### State inputs the rules read", "",
            "Besides the contexts above, rules read quantities of the simulated month (or "
            "derived from the members' attributes, e.g. `cultural_distance` from `culture`, "
            "`dominance` from `size` and `resources`).", ""]
    rows = [[f"`{i.name}`", i.meaning, _rules_cell(i.name, state)]
            for i in STATE_INPUTS.values()]
    out += _table(["input", "meaning", "rules that read it"], rows)
    return "\n".join(out)


def _vary_rows(theory: Theory) -> list[list[Any]]:
    using, state = rules_using(theory), rules_using(theory, state=True)
    props = Scenario.model_json_schema()["properties"]
    member_props = Member.model_json_schema()["properties"]
    rows = []

    def add(key: str, name: str, prop: Mapping[str, Any], bounds) -> None:
        takes = "range or list" if bounds is not None else "list"
        rows.append([f"`{key}`", takes, _allowed(prop), _meaning(name, prop),
                     _rules_cell(name, using, state)])

    structure = set(_designs._STRUCTURE) | {"contexts"}
    for name in Scenario.model_fields:
        if name not in structure:
            add(name, name, props[name], field_bounds(name))
    for name in Member.model_fields:
        if name != "contexts":
            path = f"members[0].{name}"
            add(f"members[i].{name}", name, member_props[name],
                field_bounds(path) if name != "name" else None)
    rows.append(["`contexts.<name>`", "range or list",
                 "within the context's declared range",
                 "A partnership-level context the theory declares.", "—"])
    rows.append(["`members[i].contexts.<name>`", "range or list",
                 "within the context's declared range",
                 "A member-level context the theory declares.", "—"])
    rows.append([f"`{_designs.RULE_PREFIX}<id>`", "range or list", "a weight >= 0",
                 "The weight of the theory's rule `<id>` (0 removes the rule).", "the rule"])
    rows.append([f"`{_designs.BASELINE_PREFIX}<name>`", "range or list",
                 "a number within the constant's range (below)",
                 "The theory's baseline constant `<name>` (docs/model.md).", "—"])
    return rows


def sweep_section(theory: Theory | str | Path | None = None) -> str:
    """Markdown: sweep-file keys, designs, vary keys and values, rule ids, baseline constants."""
    theory = as_theory(theory)
    schema = _SweepSchema.model_json_schema()
    required = set(schema.get("required", ()))
    rows = []
    for name in _SweepSchema.model_fields:
        prop = schema["properties"][name]
        allowed = _allowed(prop)
        if name == "record":
            allowed = "`summary`, `trajectory` or an integer >= 1"
        elif name == "base":
            allowed = "a path (text) or a scenario mapping"
        elif name == "vary":
            allowed = "a mapping of 1 or more factors"
        rows.append([f"`{name}`", SWEEP_KEY_MEANINGS[name], allowed,
                     _typical(name, prop, name in required)])
    out = ["## Sweep files", "",
           "A sweep file (`cmo-sim sweep FILE`, `cmo_sim.sweep.load_sweep`) is a YAML mapping "
           "of these keys; unknown keys are refused. Example: "
           "`scenarios/sweeps/trust_vs_ambition.yaml`.", "",
           "### Keys", ""]
    out += _table(["key", "meaning", "allowed", "default"], rows)
    out += ["", "### Designs", "",
            "Run `replicates` runs at each point; the number of runs is points x replicates.", ""]
    out += _table(["design", "what it is", "samples", "points"],
                  [[f"`{d}`", *DESIGN_MEANINGS[d]] for d in _designs.DESIGNS])
    out += ["", "### Vary keys", "",
            "Each key of `vary` is a field path of the base scenario, a context the theory "
            "declares, or a theory factor. Not variable: " + _code(
                sorted(set(_designs._STRUCTURE))) + " (a sweep names its points and keeps the "
            "base's members and timeline). Member index i must name a member of the base. "
            "A factor sets its field from month 0; the base's timeline still changes it "
            "later. Varying `entry_point` re-applies presets as `Scenario.with_values` "
            "does (see Entry points above).", ""]
    out += _table(["key", "takes", "allowed", "meaning", "rules that read it"],
                  _vary_rows(theory))
    out += ["", "### Vary values", "",
            "A range spreads a continuous factor between its ends; a list gives its values "
            "(the only way for a switch, a choice or an integer field).", "",
            "| form | meaning |", "|---|---|",
            "| `{low: 0.2, high: 0.8}` | a range, low < high, both within the field's range |",
            "| `{low: 100, high: 10000, log: true}` | a range spread on a log scale (low > 0) |",
            "| `[-0.4, 0.0, 0.4]` or `{values: [-0.4, 0.0, 0.4]}` | a list of values |"]
    out += ["", "### Rule ids (`rule:<id>`)", "",
            f"The rules of the theory `{theory.name}` with their default weights "
            "(`cmo-sim theory show` prints the full table).", ""]
    out += _table(["rule", "context", "mechanism", "outcome", "sign", "weight"],
                  [[f"`{r.id}`", r.context, r.mechanism, r.outcome, f"{r.sign:+d}",
                    _num(r.weight)] for r in theory.rules])
    out += ["", "### Baseline constants (`baseline:<name>`)", "",
            f"The baseline constants of the theory `{theory.name}`, their values and allowed "
            "ranges (docs/model.md says what each is).", ""]
    out += _table(["constant", "value", "allowed"],
                  [[f"`{k}`", _num(v), "{} .. {}".format(*map(_num, BASELINE_RANGES[k]))
                    if k in BASELINE_RANGES else "a finite number"]
                   for k, v in theory.baseline.items()])
    return "\n".join(out)


def _trajectory_unit(name: str) -> tuple[str, str]:
    """A trajectory variable's meaning and unit, split from its description."""
    text = _ATTRS[name]
    match = re.search(r"\s*(\[[^\]]*\]|\(count\))$", text)
    if match:
        return text[: match.start()], match.group(1).strip("()")
    unit = _TRAJECTORY_UNITS.get(name) or SUMMARY_FIELDS.get(name, ("", ""))[1]
    return text, unit


def results_section() -> str:
    """Markdown: every summary column and trajectory variable with its meaning and unit."""
    columns = list(SUMMARY_COLUMNS) + [c for c in SUMMARY_FIELDS if c not in SUMMARY_COLUMNS]
    rows = []
    for name in columns:
        meaning, unit = SUMMARY_FIELDS[name]
        if name not in SUMMARY_COLUMNS:
            meaning += " (sweeps only)"
        rows.append([f"`{name}`", meaning, unit or "—"])
    out = ["## Results", "",
           "### Summary columns", "",
           "`Results.summary` (and `summary.parquet`, a sweep store's summary) has one row per "
           "run. Conventions: a month is a 0-based step; `dissolved_at` is missing (NaN) for "
           "runs that did not dissolve and `ended_at` for runs still in place, so a mean over "
           "either is over the runs that ended; `result` is empty unless a fixed-term "
           "arrangement completed; `cause` is `none` for runs that did not dissolve; "
           "replicate r of every scenario or design point shares its random numbers. A sweep "
           "store adds one column per `vary` key holding the point's value (a factor "
           "`members[1].size` is the column `members[1].size`). Stores write each column's "
           "meaning and unit as Parquet field metadata or Zarr attributes.", ""]
    out += _table(["column", "meaning", "unit"], rows)
    rows = []
    for name in TRAJECTORY_VARIABLES:
        meaning, unit = _trajectory_unit(name)
        dims = "run, step, member" if name in MEMBER_VARIABLES else "run, step"
        rows.append([f"`{name}`", dims, meaning, unit or "—"])
    out += ["", "### Trajectory variables", "",
            "Recorded with `record=\"trajectory\"` (or every k months with `record=k`; "
            "`cmo-sim run --every`): `Results.trajectories` is an xarray Dataset with "
            "dimensions `run`, `step` (months; 0 is the initial state; unit months) and "
            "`member` (member index), and coordinates `scenario` and `replicate` per run "
            "(`point` too in a sweep). Per-member values of members not present are missing "
            "(NaN). In a Zarr store each variable is named `traj_<name>`; in Parquet, "
            "`trajectories.parquet` holds the per-run variables and `members.parquet` the "
            "per-member ones.", ""]
    out += _table(["variable", "dims", "meaning", "unit"], rows)
    from cmo_sim.cli import RUN_TABLE_COLUMNS

    out += ["", "### The table of `cmo-sim run`", "",
            "`cmo-sim run` prints one row per scenario (and writes it to "
            "`summary_by_scenario.csv`):", ""]
    out += _table(["column", "meaning", "unit"],
                  [[f"`{k}`", meaning, unit] for k, (meaning, unit) in RUN_TABLE_COLUMNS.items()])
    return "\n".join(out)


def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            return [(name, sub, helps.get(name, "")) for name, sub in action.choices.items()]
    return []


def _commands(parser: argparse.ArgumentParser, prefix: str):
    """(name, parser, help) of every command that runs something, depth first."""
    for name, sub, text in _subcommands(parser):
        full = f"{prefix} {name}"
        children = list(_commands(sub, full))
        if children:
            yield from children
        else:
            yield full, sub, text


def _default(action: argparse.Action) -> str:
    if not action.option_strings and action.nargs in ("*", "?"):
        return "optional" if action.default in (None, [], ()) else f"`{_num(action.default)}`"
    if action.required:
        return "required"
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    value = action.default
    if value is None or value in ((), []):
        return "—"
    if isinstance(value, list | tuple):
        return " ".join(_num(v) for v in value)
    return f"`{_num(value)}`"


def cli_section(parser: argparse.ArgumentParser | None = None) -> str:
    """Markdown: every ``cmo-sim`` command with its arguments, defaults and help."""
    if parser is None:
        from cmo_sim.cli import _parser

        parser = _parser()
    prog = parser.prog
    commands = list(_commands(parser, prog))
    out = ["## Command line", "",
           f"`{prog} COMMAND --help` prints the same. Every command takes `-h`/`--help`; "
           f"`{prog} --version` prints the version. Usage mistakes exit with status 1.", ""]
    out += _table(["command", "what it does"],
                  [[f"`{name}`", text] for name, _, text in commands])
    for name, sub, _text in commands:
        formatter = sub._get_formatter()
        out += ["", f"### `{name}`", ""]
        if sub.description:
            out += [sub.description, ""]
        rows = []
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            invocation = formatter._format_action_invocation(action)
            if not action.option_strings and action.nargs in ("*", "+"):
                invocation += " ..."
            meaning = formatter._expand_help(action) if action.help else "—"
            rows.append([f"`{invocation}`", _default(action), meaning])
        out += _table(["argument", "default", "meaning"], rows)
    return "\n".join(out)


def _has_schema_command(parser: argparse.ArgumentParser) -> bool:
    return any(name.endswith(" scenario schema") for name, _, _ in _commands(parser, "cmo-sim"))


def reference_page(theory: Theory | str | Path | None = None,
                   parser: argparse.ArgumentParser | None = None) -> str:
    """The whole user reference (docs/reference.md) as Markdown text."""
    if parser is None:
        from cmo_sim.cli import _parser

        parser = _parser()
    schema_hint = ("`cmo-sim scenario schema`" if _has_schema_command(parser) else
                   "`cmo_sim._reference.scenario_json_schema()`")
    intro = [
        "# User reference",
        "",
        "<!-- Generated by tools/user_reference.py: do not edit by hand. -->",
        "",
        "Everything a cmo-sim user can set or read, in one place: scenario fields and "
        "contexts, sweep-file keys, result columns and the command line. The page is "
        "generated from the code (the scenario's pydantic models, the loaded default theory, "
        "the sweep-file schema, the results' column meanings and the `cmo-sim` argument "
        "parser) by `python tools/user_reference.py --write`; `python "
        "tools/user_reference.py` and tests/test_reference.py check that it is up to date.",
        "",
        f"Editors can validate and complete scenario files with the JSON Schema that "
        f"{schema_hint} gives (draft 2020-12): save it as, say, `scenario.schema.json` and "
        "put `# yaml-language-server: $schema=scenario.schema.json` at the top of a scenario "
        "file (VS Code's YAML extension reads it).",
        "",
        "Contents: [Scenario files](#scenario-files), [Sweep files](#sweep-files), "
        "[Results](#results), [Command line](#command-line).",
    ]
    parts = ["\n".join(intro), scenario_section(theory), sweep_section(theory),
             results_section(), cli_section(parser)]
    return "\n\n".join(parts) + "\n"
