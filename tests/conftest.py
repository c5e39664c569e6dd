"""Shared test options: long runs are deselected unless ``--slow`` is given."""

from __future__ import annotations

import os

import pytest
from _budget import DEFAULT_EXAMPLES, SLOW_FACTOR
from hypothesis import Phase, settings

# Default: the same examples on every machine and run, no example database. --slow: ten times
# the examples of every property test (tests take their counts from _budget.examples), drawn
# afresh each run.
settings.register_profile("default", deadline=None, derandomize=True, database=None,
                          max_examples=DEFAULT_EXAMPLES)
settings.register_profile("slow", deadline=None, derandomize=False, database=None,
                          max_examples=DEFAULT_EXAMPLES * SLOW_FACTOR)
# Under mutation testing (mutmut sets MUTANT_UNDER_TEST) every property test runs a tenth of
# its examples: thousands of mutants each run the fast selection, and a mutant that changes the
# numbers fails on the first few examples. A failure is not shrunk to its simplest example
# (only the verdict counts), which would take longer than the mutant's time limit
# (docs/testing.md, "Mutation testing").
settings.register_profile("mutation", deadline=None, derandomize=True, database=None,
                          max_examples=DEFAULT_EXAMPLES // SLOW_FACTOR,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("mutation" if "MUTANT_UNDER_TEST" in os.environ else "default")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow", action="store_true", default=False,
        help="also run long property runs and statistical checks (marked slow)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--slow"):
        settings.load_profile("slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    slow = [item for item in items if "slow" in item.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "slow" not in item.keywords]
