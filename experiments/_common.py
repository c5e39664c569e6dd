"""Shared helpers of the experiment scripts: arguments, output folder, tables and figures.

Every experiment is ``python experiments/<name>.py [--out DIR] [--runs N] [--steps T]
[--seed S] [--docs-img DIR]``: it writes its figures (PNG) and ``results.md`` (the claim, the
command, a Markdown table) into ``--out`` (default ``experiments/out/<name>/``, not committed).
``--docs-img`` also writes a small copy of the main figure there (how docs/img/ was made).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import cmo_sim  # noqa: E402
from cmo_sim.cli import DEFAULT_SCENARIO  # noqa: E402
from cmo_sim.plot import PALETTE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Width and byte budget of the small copies written to docs/img.
DOCS_WIDTH_PX = 760
DOCS_DPI = 80
DOCS_MAX_BYTES = 90_000

__all__ = ["PALETTE", "Experiment", "markdown_table", "mean_ci", "months_in_place", "plt",
           "share_ci", "typical"]


def typical(**changes: Any) -> cmo_sim.Scenario:
    """The typical voluntary dyad of ``cmo-sim run`` (two members of 1,500 and 1,200 staff)."""
    base = cmo_sim.load_scenario(DEFAULT_SCENARIO)
    return base.with_values(changes) if changes else base


def mean_ci(values: Any) -> tuple[float, float]:
    """Mean and the half-width of its normal 95% interval."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return (float(v.mean()) if v.size else math.nan), math.nan
    return float(v.mean()), float(1.96 * v.std(ddof=1) / math.sqrt(v.size))


def share_ci(flags: Any) -> tuple[float, float]:
    """A share and the half-width of its normal 95% interval."""
    f = np.asarray(flags, dtype=float)
    p = float(f.mean())
    return p, float(1.96 * math.sqrt(max(p * (1 - p), 0.0) / max(f.size, 1)))


def months_in_place(summary: pd.DataFrame, steps: int) -> np.ndarray:
    """Months each run was in place: ``dissolved_at + 1`` if dissolved, else ``steps``."""
    return np.where(summary["dissolved"], summary["dissolved_at"].to_numpy(float) + 1,
                    steps).astype(float)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A Markdown table of ``frame`` (index included when it is named)."""
    data = frame.reset_index() if frame.index.name or isinstance(frame.index, pd.MultiIndex) \
        else frame
    header = [str(c) for c in data.columns]

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            if not math.isfinite(value):
                return ""
            return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in data.itertuples(
        index=False)]
    return "\n".join(lines)


class Experiment:
    """Arguments, output folder and report of one experiment script."""

    def __init__(self, name: str, doc: str, argv: Sequence[str] | None, *, runs: int = 1000,
                 steps: int = 120):
        parser = argparse.ArgumentParser(
            prog=f"experiments/{name}.py", description=doc.split("\n\n")[0],
            formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "out" / name,
                            help="output folder (default: %(default)s)")
        parser.add_argument("--runs", type=int, default=runs,
                            help="replicates per scenario (default: %(default)s)")
        parser.add_argument("--steps", type=int, default=steps,
                            help="months simulated (default: %(default)s)")
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument("--docs-img", type=Path, default=None,
                            help="also write a small copy of the main figure into this folder")
        args = parser.parse_args(argv)
        for option in ("runs", "steps"):
            if getattr(args, option) < 1:
                parser.error(f"--{option}: must be >= 1")
        self.name, self.doc, self.args = name, doc, args
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        self.sections: list[str] = []
        self.figures: list[Path] = []
        self.command = " ".join(
            ["python", f"experiments/{name}.py"] + [str(a) for a in (argv if argv is not None
                                                                      else sys.argv[1:])])

    @property
    def runs(self) -> int:
        return int(self.args.runs)

    @property
    def steps(self) -> int:
        return int(self.args.steps)

    @property
    def seed(self) -> int:
        return int(self.args.seed)

    def simulate(self, scenarios, **kwargs) -> cmo_sim.Results:
        """``cmo_sim.simulate`` with this experiment's runs, steps and seed."""
        return cmo_sim.simulate(scenarios, runs=self.runs, steps=self.steps, seed=self.seed,
                                **kwargs)

    def table(self, title: str, frame: pd.DataFrame, note: str = "", digits: int = 3) -> None:
        """Add a titled Markdown table (and a note under it) to the report."""
        self.sections.append(f"## {title}\n\n{markdown_table(frame, digits)}\n"
                             + (f"\n{note}\n" if note else ""))
        frame.to_csv(self.out / f"{_slug(title)}.csv")

    def text(self, title: str, body: str) -> None:
        """Add a titled paragraph to the report."""
        self.sections.append(f"## {title}\n\n{body}\n")

    def figure(self, fig, filename: str, *, main: bool = False) -> Path:
        """Save ``fig`` into the output folder (and a small copy to --docs-img if ``main``)."""
        path = self.out / filename
        fig.savefig(path, dpi=110, bbox_inches="tight")
        self.figures.append(path)
        if main and self.args.docs_img is not None:
            self.args.docs_img.mkdir(parents=True, exist_ok=True)
            _save_small(fig, self.args.docs_img / f"exp_{self.name}.png")
        plt.close(fig)
        return path

    def finish(self) -> Path:
        """Write ``results.md`` and print where everything went."""
        seconds = time.perf_counter() - self.started
        claim = self.doc.strip().split("\n\n")
        body = [p for p in claim[1:] if not p.startswith("Usage")]
        head = [f"# {claim[0]}", "", "\n\n".join(body), "",
                f"Command: `{self.command}` ({self.runs} replicates per scenario, "
                f"{self.steps} months, seed {self.seed}; {seconds:.0f} s).", ""]
        figures = [f"![{p.stem}]({p.name})" for p in self.figures]
        text = "\n".join(head) + "\n" + "\n".join(self.sections) + "\n" + "\n".join(figures) + "\n"
        report = self.out / "results.md"
        report.write_text(text, encoding="utf-8")
        print(f"wrote {report} and {len(self.figures)} figure(s) into {self.out} "
              f"({seconds:.0f} s)")
        return report


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")[:60]


def _save_small(fig, path: Path) -> Path:
    """Save ``fig`` about 760 px wide, reduced to a small palette if larger than the budget."""
    width, height = fig.get_size_inches()
    fig.set_size_inches(DOCS_WIDTH_PX / DOCS_DPI, height * DOCS_WIDTH_PX / DOCS_DPI / width)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DOCS_DPI, bbox_inches="tight")
    data = buffer.getvalue()
    if len(data) > DOCS_MAX_BYTES:
        try:
            from PIL import Image
        except ImportError:  # keep the full-colour copy
            Image = None
        if Image is not None:
            image = Image.open(io.BytesIO(data)).convert("RGB")
            out = io.BytesIO()
            image.quantize(colors=64).save(out, format="PNG", optimize=True)
            data = out.getvalue()
    path.write_bytes(data)
    return path
