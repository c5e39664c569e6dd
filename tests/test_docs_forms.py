"""docs/forms.md: the shipped scenarios' end states and the calibration, as the page shows them;
the end-state report's requirements on the forms."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import doc_blocks  # noqa: E402
import end_states_report  # noqa: E402

import cmo_sim  # noqa: E402

PAGE = ROOT / "docs" / "forms.md"


def test_the_report_lists_every_shipped_scenario_with_the_form_its_file_gives():
    rows = end_states_report.scenario_rows(runs=60, seed=1)
    forms = {path.stem: cmo_sim.load_scenario(path).form
             for path in (ROOT / "scenarios").glob("*.yaml")}
    assert {r["scenario"]: r["form"] for r in rows} == forms
    for r in rows:
        assert sum(r[state] for state in cmo_sim.results.END_STATES) == pytest.approx(1.0)
        assert r["in_place"] == pytest.approx(r["thriving"] + r["struggling"])
    by = {r["scenario"]: r for r in rows}
    assert by["buddying"]["completed"] == 1.0  # definitional: a fixed term completes
    assert by["mandated_merger"]["exits"] == 0.0  # a merger's members cannot leave
    checks = {what: met for what, _, _, met in end_states_report.checks(rows)}
    assert checks["buddying: ended by its 24-month term"]
    assert checks["mandated merger: ended (de-merged) within ten years"]


@pytest.mark.slow
def test_the_forms_page_runs_and_shows_what_its_blocks_print():
    # Several minutes: 2,000 runs of every shipped scenario, and the shipped calibration.
    assert len(doc_blocks.shown(PAGE)) == 4
    assert doc_blocks.check(PAGE) == []
