"""The theory docs: the worked example runs and prints what the page shows; the reference is
generated from the engine's catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import doc_blocks  # noqa: E402
import theory_reference  # noqa: E402


def test_the_own_theory_page_runs_and_shows_what_its_blocks_print():
    page = ROOT / "docs" / "own-theory.md"
    shown = doc_blocks.shown(page)
    assert len(shown) == 7, "every code block but the first (it writes the file) shows its output"
    assert doc_blocks.check(page) == []


def test_the_language_reference_lists_the_catalogue_as_it_is():
    text = theory_reference.PAGE.read_text(encoding="utf-8")
    assert theory_reference.render(text) == text
    for site in ("initial_trust", "trust_change", "trust_floor", "exit_shock"):
        assert f"| `{site}` |" in text


def test_the_readme_theory_example_loads_and_runs():
    import re

    import yaml

    import cmo_sim

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Your own programme theory", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    theory = cmo_sim.load_theory(yaml.safe_load(block))
    assert len(theory) == len(cmo_sim.load_theory()) + 1
    scenario = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
    churn = scenario.with_values({"contexts.liaison_turnover": 0.3})
    low = cmo_sim.simulate(scenario, runs=100, seed=0, theory=theory).summary
    high = cmo_sim.simulate(churn, runs=100, seed=0, theory=theory).summary
    assert high["trust_final"].mean() < low["trust_final"].mean()


def test_the_dynamics_page_shows_the_current_measures():
    page = ROOT / "docs" / "dynamics.md"
    assert list(doc_blocks.shown(page)) == [0, 2]
    assert doc_blocks.check(page) == []


@pytest.mark.slow
def test_the_model_page_runs_and_shows_what_its_blocks_print():
    # About two minutes: the calibration blocks simulate 4,000 runs per constant.
    page = ROOT / "docs" / "model.md"
    assert len(doc_blocks.shown(page)) >= 10
    assert doc_blocks.check(page) == []
