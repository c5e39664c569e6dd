"""The theory docs: the worked example runs and prints what the page shows; the reference is
generated from the engine's catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

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
