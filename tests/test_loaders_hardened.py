"""The hardened loader of scenario, sweep and theory files (cmo_sim/_yaml.py).

Hostile and careless files (alias bombs, huge or deeply nested files, unsafe tags, unreadable
paths) are refused quickly, with small memory, as the loader's own ValueError naming the file.
"""

from __future__ import annotations

import errno
import os
import resource
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _budget import examples
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

import cmo_sim
from cmo_sim import ScenarioError, TheoryError
from cmo_sim._errors import MAX_MESSAGE_CHARS
from cmo_sim._yaml import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_yaml_text, read_yaml_file
from cmo_sim.sweep import read_sweep_file
from cmo_sim.testing import check_invariants

ROOT = Path(__file__).resolve().parents[1]
ALLIANCE = ROOT / "scenarios" / "voluntary_alliance.yaml"
_TYPICAL = cmo_sim.load_scenario(ALLIANCE)

#: The three file kinds: loader, its error type, and a small valid file.
KINDS: dict[str, tuple[Callable[[Path], Any], type[ValueError], str]] = {
    "scenario": (cmo_sim.load_scenario, ScenarioError,
                 "name: s\nmembers:\n  - {name: A, size: 100}\n  - {name: B, size: 200}\n"),
    "theory": (cmo_sim.load_theory, TheoryError, "name: t\nextends: default\n"),
    "sweep": (read_sweep_file, ScenarioError,
              f"name: w\nbase: {ALLIANCE}\nsamples: 2\nreplicates: 2\n"
              "vary:\n  history: {low: -0.5, high: 0.5}\n"),
}

#: The "billion laughs": nine levels of nine aliases, 9^9 = 387,420,489 strings once expanded,
#: in 458 bytes (a comment pads it to the size of the bomb in the issue).
_LAUGHS = "".join(
    ['a0: &a0 ["lol"' + ',"lol"' * 8 + "]\n"]
    + [f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]\n" for k in range(1, 9)]
)
BOMB = "# billion laughs" + "!" * (458 - len(_LAUGHS) - 17) + "\n" + _LAUGHS


def refusal(kind: str, path: Path) -> str:
    """The message of the error the kind's loader raises for ``path`` (which must fail)."""
    load, error, _ = KINDS[kind]
    with pytest.raises(error) as excinfo:
        load(path)
    return str(excinfo.value)


def write(tmp_path: Path, text: str, name: str = "file.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_the_valid_example_of_each_kind_loads(kind: str, tmp_path: Path) -> None:
    load, _, text = KINDS[kind]
    assert load(write(tmp_path, text)) is not None


def test_the_bomb_is_the_458_byte_billion_laughs() -> None:
    assert len(BOMB.encode()) == 458
    assert BOMB.count("*a") == 72


@pytest.mark.parametrize("kind", KINDS)
def test_an_alias_bomb_is_refused_at_once_naming_the_file_without_expanding(
        kind: str, tmp_path: Path) -> None:
    path = write(tmp_path, BOMB)
    started = time.perf_counter()
    message = refusal(kind, path)
    assert time.perf_counter() - started < 1.0
    assert message.startswith(f"{path}: refused at line ")
    assert f"more than {MAX_NODES:,} values once aliases are expanded" in message
    assert "lol" not in message and "\n" not in message and len(message) < 300


def test_the_bomb_is_refused_within_a_second_and_little_memory(tmp_path: Path) -> None:
    # Peak Python memory of the refusal (benchmarks/bench_loaders.py measures the process's
    # resident memory in a fresh interpreter).
    path = write(tmp_path, BOMB)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ScenarioError):
            read_yaml_file(path, "scenario")
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 1.0 and peak < 100 * 2**20


@pytest.mark.parametrize("kind", KINDS)
def test_a_50_mb_file_is_refused_unread(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # sparse: 50 MB without writing them
        handle.truncate(50 * 10**6)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    message = refusal(kind, path)
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 20 * 1024  # KiB
    assert message == (f"{path}: the file is 50,000,000 bytes, more than {MAX_FILE_BYTES:,} "
                       f"bytes, the most a {kind} file may have")


def test_a_file_just_under_the_size_limit_is_parsed(tmp_path: Path) -> None:
    text = "name: x\ndescription: '" + "d" * (MAX_FILE_BYTES - 40) + "'\n"
    assert len(text) <= MAX_FILE_BYTES
    data = read_yaml_file(write(tmp_path, text), "scenario")
    assert len(data["description"]) == MAX_FILE_BYTES - 40


@pytest.mark.parametrize("kind", KINDS)
def test_nesting_2000_deep_is_refused_as_the_loaders_error(kind: str, tmp_path: Path) -> None:
    path = write(tmp_path, "name: " + "[" * 2000 + "]" * 2000 + "\n")
    message = refusal(kind, path)
    assert message.startswith(f"{path}: refused at line 1: nested more than {MAX_DEPTH} levels")


def test_nesting_through_aliases_counts() -> None:
    deep = "[" * 40 + "1" + "]" * 40
    assert load_yaml_text(f"a: &a {deep}\n", "x.yaml") is not None
    with pytest.raises(ScenarioError, match=r"x\.yaml: refused at line 2: nested more than 64"):
        load_yaml_text(f"a: &a {deep}\nb: {'[' * 30}*a{']' * 30}\n", "x.yaml")


def test_the_node_count_counts_each_alias_as_its_node() -> None:
    ten = "[" + ", ".join(["1"] * 10) + "]"
    text = f"a: &a {ten}\nb: [{', '.join(['*a'] * 5)}]\n"
    assert load_yaml_text(text, "x.yaml", max_nodes=100)["b"][4] == [1] * 10
    with pytest.raises(ScenarioError, match="more than 60 values"):
        load_yaml_text(text, "x.yaml", max_nodes=60)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"the alias \*a refers to a node that contains it"):
        load_yaml_text("a: &a [1, *a]\n", "x.yaml")


@pytest.mark.parametrize("tag", [
    "!!timestamp 2024-05-01", "!!binary aGVsbG8=", "!!set {a, b}", "!!omap [{a: 1}]",
    "!!pairs [{a: 1}]", "!!python/object/apply:os.getcwd []", "!!python/name:os.system",
    "!!python/tuple [1, 2]", "!local 3", "!<tag:example.com,2024:x> 1",
])
@pytest.mark.parametrize("kind", KINDS)
def test_every_tag_outside_plain_data_is_refused(kind: str, tag: str, tmp_path: Path) -> None:
    path = write(tmp_path, f"name: {tag}\n")
    message = refusal(kind, path)
    shown = tag.split()[0].removeprefix("!<tag:").rstrip(">")
    assert message.startswith(f"{path}: refused at line 1: the tag ")
    assert shown.split(":")[0].lstrip("!") in message and "is not allowed" in message
    assert "mappings, lists, strings, numbers, true/false and null" in message


@pytest.mark.parametrize("tag", ["!!str 5", "!!int '5'", "!!float 1", "!!bool true",
                                 "!!null ''", "!!seq [1]", "!!map {a: 1}"])
def test_plain_data_tags_are_allowed(tag: str) -> None:
    assert "a" in load_yaml_text(f"a: {tag}\n", "x.yaml")


def test_a_date_stays_text(tmp_path: Path) -> None:
    path = write(tmp_path, KINDS["scenario"][2] + "description: 2024-05-01\n")
    assert cmo_sim.load_scenario(path).description == "2024-05-01"
    assert load_yaml_text("a: 2001-12-14t21:59:43.10-05:00\n", "x")["a"] == (
        "2001-12-14t21:59:43.10-05:00")


@pytest.mark.parametrize(("kind", "text"), [
    ("scenario", "name: s\nmembers: [{size: 1}, {size: 2}]\nname: t\n"),
    ("theory", "name: t\nextends: default\nrules:\n  - {id: a.b, weight: 1, weight: 2}\n"),
    ("sweep", f"base: {ALLIANCE}\nvary: {{history: [0, 1]}}\nreplicates: 2\nreplicates: 3\n"),
])
def test_a_key_given_twice_is_refused_in_every_kind(kind: str, text: str,
                                                    tmp_path: Path) -> None:
    message = refusal(kind, write(tmp_path, text))
    assert "not valid YAML at line " in message and "duplicate key" in message
    assert "(first given at line " in message


def test_merge_keys_still_work_and_may_be_overridden() -> None:
    data = load_yaml_text("x: &x {a: 1, b: 2}\ny: {<<: *x, b: 3}\n", "x.yaml")
    assert data["y"] == {"a": 1, "b": 3}


@pytest.mark.parametrize("kind", KINDS)
def test_path_problems_are_the_loaders_error_naming_the_path(kind: str,
                                                             tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert refusal(kind, missing) == f"{missing}: no such {kind} file"
    assert refusal(kind, tmp_path) == f"{tmp_path}: no such {kind} file (this is a directory)"
    plain = write(tmp_path, "a: 1\n", "plain.yaml")
    below = plain / "x.yaml"
    assert refusal(kind, below) == (
        f"{below}: no such {kind} file (a part of the path is not a directory)")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert refusal(kind, fifo) == (
        f"{fifo}: not a regular file (a {kind} file is a YAML text file)")
    long = tmp_path / ("x" * 5000 + ".yaml")
    message = refusal(kind, long)
    assert message.endswith(f": cannot read the {kind} file (the path is too long)")
    assert message.startswith(str(tmp_path)) and len(message) < 400
    assert refusal(kind, tmp_path / "a\0b.yaml").endswith(
        f"a\\x00b.yaml: not a valid path for a {kind} file")


@pytest.mark.parametrize("kind", KINDS)
def test_permission_denied_is_the_loaders_error(kind: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, KINDS[kind][2])

    def denied(name: Any, limit: int) -> bytes:
        raise PermissionError(errno.EACCES, "Permission denied", name)

    monkeypatch.setattr("cmo_sim._yaml._read_bytes", denied)
    assert refusal(kind, path) == f"{path}: cannot read the {kind} file (permission denied)"


@pytest.mark.parametrize("kind", KINDS)
def test_text_that_is_not_utf8_or_has_control_characters(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    assert refusal(kind, path) == f"{path}: not UTF-8 text (byte 9 cannot be read)"
    path.write_bytes(b"name: a\x00b\n")
    assert refusal(kind, path).startswith(f"{path}: not valid YAML: unacceptable character")


def test_an_integer_of_5000_digits_is_the_loaders_error(tmp_path: Path) -> None:
    message = refusal("scenario", write(tmp_path, "name: x\npace: " + "9" * 5000 + "\n"))
    assert message.startswith(f"{tmp_path / 'file.yaml'}: not valid YAML: ")
    assert len(message) < 400


@pytest.mark.parametrize(("kind", "template"), [
    ("scenario", "name: s\nmembers: {big}\n"),
    ("theory", "name: {big}\nextends: default\n"),
    ("sweep", f"base: {ALLIANCE}\nvary: {{{{history: {{big}}}}}}\ndesign: list\n"),
])
def test_messages_stay_short_whatever_the_file_holds(kind: str, template: str,
                                                     tmp_path: Path) -> None:
    # 8,000 values in one field (about 80,000 characters if a message quoted them all): the
    # message is cut to MAX_MESSAGE_CHARS, keeping the start that names the file and field.
    big = "[" + ", ".join(["12345678"] * 8000) + "]"
    path = write(tmp_path, template.format(big=big))
    message = refusal(kind, path)
    field = {"scenario": "members[0]", "theory": "'name'", "sweep": "vary['history']"}[kind]
    assert message.startswith(f"{path}: {field}") and len(message) <= MAX_MESSAGE_CHARS


def test_an_input_error_keeps_its_message_to_the_limit() -> None:
    message = str(TheoryError("theory.yaml: rule r: field 'x': " + "v" * 10**6 + " (end)"))
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.startswith("theory.yaml: rule r: field 'x': vvv") and message.endswith("(end)")


def test_the_cli_reports_a_bomb_in_one_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from cmo_sim.cli import main

    path = write(tmp_path, BOMB)
    assert main(["scenario", "check", str(path)]) == 1
    assert main(["theory", "check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(line.startswith(f"FAIL {path}: refused") for line in out)


# -- fuzzing: every rejection is a ValueError naming the file ------------------------------------
_KEYS = {
    "scenario": ["name", "members", "size", "pace", "leadership", "entry_point", "timeline",
                 "contexts", "history", "mandated", "description", "step", "set"],
    "theory": ["name", "extends", "rules", "id", "weight", "sign", "site", "context",
               "baseline", "contexts", "version", "mechanisms", "form", "scale"],
    "sweep": ["name", "base", "vary", "design", "samples", "replicates", "steps", "seed",
              "record", "low", "high", "log", "values", "design_seed"],
}
_SCALARS = st.sampled_from([
    "1", "-1", "0.5", "1e999", ".nan", ".inf", "-.inf", "~", "null", "yes", "no", "true",
    "'x'", '"y"', "2024-05-01", "0x1F", "0o17", "1_000", "12:30", "default", "grid", "sobol",
    "[]", "{}", "''", "=", "<<", str(ALLIANCE), "../nowhere.yaml", "9" * 40, "é", "\u2028",
    "!!timestamp 2024-01-01", "!!binary aGk=", "!!python/none ''", "!x 1", "&a 1", "*a",
    "[1, [2, [3]]]", "{a: 1, a: 2}", "[*a, *a]", "- 1", "? x", "|\n  text", "%", "@", "`",
])


_ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["default", "grid", "lhs", "sobol", "morris", "list", "summary",
                     "trajectory", "upper", "linear", "trust", "synergy", "funding_pressure",
                     str(ALLIANCE), "nowhere.yaml", ""]),
)
_VALUES = st.recursive(_ODD, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
        ["low", "high", "log", "values", "name", "size", "step", "set", "id", "weight"])),
        inner, max_size=4)), max_leaves=10)


def _field_names(kind: str) -> list[str]:
    from cmo_sim.scenario import Member, Scenario

    if kind == "scenario":
        return list(Scenario.model_fields)
    if kind == "theory":
        return ["name", "version", "extends", "contexts", "mechanisms", "rules", "baseline"]
    return _KEYS["sweep"] + list(Scenario.model_fields)[:6] + list(Member.model_fields)[:3]


@st.composite
def structured_files(draw: st.DrawFn, kind: str) -> str:
    """Valid YAML of the kind's shape: the valid example with fields changed, added, dropped."""
    import yaml

    data = yaml.safe_load(KINDS[kind][2])
    fields = _field_names(kind)
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.one_of(st.sampled_from(fields), st.text(min_size=1, max_size=8)))
        if draw(st.integers(0, 4)) == 0:
            data.pop(key, None)
        elif kind == "theory" and key in _MERGED and draw(st.booleans()):
            # Well-shaped containers half the time, so their contents are fuzzed too.
            data[key] = draw(st.dictionaries(st.text(max_size=8), _VALUES, max_size=3)
                             if key == "baseline" else st.lists(_VALUES, max_size=3))
        else:
            data[key] = draw(_VALUES)
    if kind == "scenario" and draw(st.booleans()):
        member = {"name": "M", "size": 100, draw(st.sampled_from(fields[:3] + ["size", "culture",
                  "resources", "priority", "contexts"])): draw(_VALUES)}
        data["members"] = [member, {"size": draw(_VALUES)}]
    if kind == "theory" and draw(st.booleans()):
        rule = dict(draw(st.sampled_from(_DEFAULT_RULES)))
        for _ in range(draw(st.integers(1, 3))):
            rule[draw(st.sampled_from(sorted(rule) + ["modulator", "conditions", "scale",
                                                      "forms", "sites"]))] = draw(_VALUES)
        if draw(st.booleans()):
            rule["id"] = "fuzz.rule"
        data["rules"] = [rule]
    if kind == "sweep" and draw(st.booleans()):
        data["vary"] = {draw(st.sampled_from(["history", "pace", "members[1].size",
                                              "entry_point", "leadership", "nothing"])):
                        draw(_VALUES)}
        data["design"] = draw(st.sampled_from(["grid", "lhs", "sobol", "morris", "list"]))
        data["samples"] = draw(st.one_of(st.none(), st.integers(-2, 10**9)))
    return yaml.safe_dump(data, allow_unicode=True)


@st.composite
def yaml_texts(draw: st.DrawFn, kind: str) -> str:
    """Text that is often YAML, sometimes not: keys of the kind, odd values, mutations."""
    keys = st.one_of(st.sampled_from(_KEYS[kind]), st.text(min_size=1, max_size=6))
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        indent = " " * draw(st.sampled_from([0, 0, 0, 2, 4, 1]))
        form = draw(st.integers(0, 3))
        if form == 0:
            lines.append(f"{indent}{draw(keys)}: {draw(_SCALARS)}")
        elif form == 1:
            lines.append(f"{indent}- {draw(_SCALARS)}")
        elif form == 2:
            values = draw(st.lists(_SCALARS, max_size=4))
            lines.append(f"{indent}{draw(keys)}: [{', '.join(values)}]")
        else:
            lines.append(f"{indent}{draw(keys)}:")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):  # start from the valid example instead, then damage it
        text = KINDS[kind][2] + text
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        junk = draw(st.text(max_size=3))
        text = text[:at] + junk + text[at + draw(st.integers(0, 3)):]
    return text


def any_file(kind: str) -> st.SearchStrategy[str]:
    """Half structured (mostly valid YAML, exercising validation), half raw text."""
    return st.one_of(structured_files(kind), yaml_texts(kind))


_DEFAULT_RULES = cmo_sim.load_theory().to_dict()["rules"][:20]
#: Sections a theory that extends another merges with the other's.
_MERGED = ("baseline", "contexts", "mechanisms")


def _fuzz(kind: str, text: str, tmp_path: Path, simulate: bool = False) -> None:
    load, error, _ = KINDS[kind]
    path = tmp_path / f"fuzz-{kind}.yaml"
    try:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    except UnicodeEncodeError:
        path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        loaded = load(path)
    except ValueError as exc:
        message = str(exc)
        assert str(path) in message, message
        assert len(message) <= MAX_MESSAGE_CHARS
        if kind == "theory":  # the sweep and scenario loaders share ScenarioError
            assert isinstance(exc, TheoryError), repr(exc)
        return
    if simulate and kind != "sweep":
        # An accepted scenario or theory simulates within the invariants.
        scenario, theory = (loaded, None) if kind == "scenario" else (_TYPICAL, loaded)
        check_invariants(cmo_sim.simulate(scenario, runs=2, steps=12, seed=0, theory=theory,
                                          record="trajectory"))


@pytest.mark.parametrize("kind", KINDS)
@examples(100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_files_are_loaded_or_refused_with_a_value_error_naming_the_file(
        kind: str, data: st.DataObject, tmp_path: Path) -> None:
    _fuzz(kind, data.draw(any_file(kind)), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@examples(1000, deadline=None,  # 10,000 under --slow, the only profile that runs it
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_ten_thousand_fuzzed_files_per_kind_load_or_are_refused_and_simulate_in_range(
        kind: str, data: st.DataObject, tmp_path: Path) -> None:
    _fuzz(kind, data.draw(any_file(kind)), tmp_path, simulate=True)
