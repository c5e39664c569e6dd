"""The test suite's own guards: --slow really does more, and the engine's known bugs are caught."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from _budget import SLOW_FACTOR, examples
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
TESTS = sorted((ROOT / "tests").glob("test_*.py"))


def _max_examples_overrides(path: Path) -> list[int]:
    """Lines where a test module-level decorator fixes max_examples on hypothesis settings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if node.col_offset:  # a property nested inside a test (e.g. drawn once on purpose)
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            if call is not None and getattr(call.func, "id", "") == "settings" and any(
                keyword.arg == "max_examples" for keyword in call.keywords
            ):
                found.append(decorator.lineno)
    return found


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_property_tests_take_their_example_counts_from_the_profile(path):
    # A fixed @settings(max_examples=...) would keep --slow from raising it.
    assert _max_examples_overrides(path) == []


def test_the_slow_profile_multiplies_every_example_count():
    current = settings.default
    try:
        settings.load_profile("default")
        assert examples(60).max_examples == 60  # the test's own count
        assert examples(60).derandomize is True
        settings.load_profile("slow")
        assert examples(60).max_examples == 60 * SLOW_FACTOR
        assert examples(60).derandomize is False
    finally:
        settings.load_profile("default" if current.derandomize else "slow")


def test_slow_adds_tests_to_the_default_suite():
    def collected(*args: str) -> int:
        done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                               "-p", "no:cacheprovider", *args], cwd=ROOT, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stdout[-2000:]
        return sum(1 for line in done.stdout.splitlines() if "::" in line)

    assert collected("--slow") > collected()


@pytest.mark.slow
def test_every_curated_mutation_is_caught_by_the_default_suite():
    # tools/curated_mutations.py applies each known engine bug in a copy of the project and
    # expects the relevant default tests to fail (a few minutes on two cores).
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "curated_mutations.py")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "SURVIVED" not in done.stdout
