"""Write (or check) docs/reference.md, the user reference generated from the code.

``python tools/user_reference.py --write`` rewrites the page from ``cmo_sim._reference``;
``python tools/user_reference.py`` (no option) exits 1 when the page differs from the generated
text (tests/test_reference.py runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cmo_sim._reference import reference_page

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def main(argv: list[str] | None = None) -> int:
    """Write the page with ``--write``; otherwise exit 1 if it is missing or out of date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite docs/reference.md")
    args = parser.parse_args(argv)
    text = reference_page()
    if args.write:
        PAGE.write_text(text, encoding="utf-8")
        print(f"wrote {PAGE}")
        return 0
    if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != text:
        print(f"{PAGE} is out of date: run python tools/user_reference.py --write")
        return 1
    print(f"{PAGE} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
