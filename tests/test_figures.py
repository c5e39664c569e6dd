"""The numbers the README's figures show are the model's numbers today.

``python experiments/gallery.py`` draws the README figures into docs/img and writes the numbers
each one shows (quantiles of the fan charts, shares in place, end-state shares, the regime
map's cells, the theory graph's size) to docs/img/figures.json. The test recomputes those
numbers from fresh simulations (not the pixels) with the recorded settings: the runs are
seeded, so any difference means the model changed and the figures must be redrawn.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "img" / "figures.json"


def _gallery():
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "experiments" / "gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_readme_figure_exists_and_its_numbers_are_current():
    gallery = _gallery()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in gallery.README_FIGURES:
        assert f"docs/img/{name}.png" in readme, name
        assert (ROOT / "docs" / "img" / f"{name}.png").is_file(), name
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    args = argparse.Namespace(**committed["settings"])
    fresh = gallery.figure_numbers(*gallery.readme_results(args))
    hint = "the figure no longer shows the model's numbers; redraw with python tools/figures.py"
    # Rounded to 4 places when written; a seeded run reproduces them exactly, so the
    # tolerance only absorbs the rounding.
    for figure in ("trajectories", "survival", "end_states", "theory_graph"):
        assert fresh[figure] == pytest.approx(committed[figure], abs=1e-4), f"{figure}: {hint}"
    cells = committed["regime_map"]
    assert {k: v[0] for k, v in fresh["regime_map"].items()} == {
        k: v[0] for k, v in cells.items()}, f"regime_map: {hint}"
    assert {k: v[1] for k, v in fresh["regime_map"].items()} == pytest.approx(
        {k: v[1] for k, v in cells.items()}, abs=1e-4), f"regime_map: {hint}"
