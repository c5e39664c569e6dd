"""Write (or check) the generated part of docs/theory-language.md from the theory catalogue.

``python tools/theory_reference.py`` rewrites the text between the markers
``<!-- catalogue: start -->`` and ``<!-- catalogue: end -->``; ``--check`` exits 1 when the page
differs from the catalogue (tests/test_docs_theory.py runs the check).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cmo_sim.core.terms import FORMS, MODULATORS, REDUCTIONS, SITES, STATE_INPUTS
from cmo_sim.theory._model import builtin_contexts

PAGE = Path(__file__).resolve().parents[1] / "docs" / "theory-language.md"
START, END = "<!-- catalogue: start -->", "<!-- catalogue: end -->"


def _row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def catalogue() -> str:
    """The generated reference: sites, state inputs, forms, modulators, reductions, contexts."""
    out = ["### Sites", "",
           "Where a term enters, its shape (one value per run, member, ordered pair i -> j or "
           "unordered pair), its intercept, unit, what it does, the outcomes it reaches (+: "
           "raising the site raises the outcome), the mechanisms that may act there, the state "
           "inputs it can read, its modulators and targets.", "",
           _row(["site", "shape", "intercept", "unit", "what it is", "outcomes (polarity)",
                 "mechanisms", "state inputs", "modulators", "targets"]),
           "|" + "---|" * 10]
    for s in SITES.values():
        outcomes = ", ".join(f"{o} ({'+' if p > 0 else '-'})" for o, p in s.outcomes.items())
        inputs = ", ".join(sorted(s.inputs)) if s.stage == "month" or s.inputs else ""
        out.append(_row([f"`{s.name}`", s.shape, s.intercept, s.unit,
                         s.meaning + (f" Floor on {s.compares}." if s.kind == "floor" else ""),
                         outcomes, ", ".join(sorted(s.mechanisms)), inputs,
                         ", ".join(sorted(s.modulators)), ", ".join(s.targets)]))
    out += ["", "### State inputs", "",
            "Quantities of the month a term can read as its context (or in a condition), at "
            "the sites that list them. A state input without a value of the site's shape reads "
            "its run value.", "",
            _row(["input", "shapes", "neutral (default centre)", "meaning"]), "|---|---|---|---|"]
    for i in STATE_INPUTS.values():
        out.append(_row([f"`{i.name}`", ", ".join(sorted(i.shapes)), f"{i.neutral:g}",
                         i.meaning]))
    out += ["", "### Forms", "", _row(["form", "value"]), "|---|---|"]
    out += [_row([f"`{name}`", text]) for name, text in FORMS.items()]
    out += ["", "### Modulators", "", "Each is never negative.", "",
            _row(["modulator", "shapes", "computed from", "meaning"]), "|---|---|---|---|"]
    for m in MODULATORS.values():
        out.append(_row([f"`{m.name}`", ", ".join(sorted(m.shapes)), m.needs or "contexts",
                         m.meaning]))
    out += ["", "### Reductions", "",
            "How a member-level context reaches a site (`reduce`); the first is the default.",
            "", _row(["site shape", "reductions"]), "|---|---|"]
    out += [_row([shape, ", ".join(r)]) for shape, r in REDUCTIONS.items()]
    out += ["", "### Built-in contexts", "",
            "What a scenario sets (a theory may declare more). Terms read `size` normalised, "
            "`clip(log10(size) / 5, 0, 1)`; conditions compare it in staff.", "",
            _row(["context", "level", "range", "typical", "meaning"]), "|---|---|---|---|---|"]
    for c in builtin_contexts().values():
        rng = "false, true" if c.boolean else f"{c.low:g} .. {c.high:g}"
        out.append(_row([f"`{c.name}`", c.level, rng, f"{c.typical:g}", c.meaning]))
    return "\n".join(out)


def render(text: str) -> str:
    """The page ``text`` with its generated section replaced by the current catalogue."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{catalogue()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    """Rewrite the page, or with ``--check`` exit 1 if it is out of date."""
    text = PAGE.read_text(encoding="utf-8")
    new = render(text)
    if argv[:1] == ["--check"]:
        if new != text:
            print(f"{PAGE} is out of date: run python tools/theory_reference.py")
            return 1
        return 0
    PAGE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
