"""Run the code blocks of a docs page in order and check (or write) their shown output.

A page's ``python`` blocks run in one namespace, ``bash`` blocks as shell commands, both in a
fresh working directory with ``ROOT`` (the project root) known to Python blocks and ``$ROOT``
to shell blocks. A ``text`` block right after a code block shows that block's output:
``python tools/doc_blocks.py PAGE --write`` rewrites those blocks from a run, and
``python tools/doc_blocks.py PAGE`` exits 1 when a block fails or its output differs from what
the page shows (the test suite runs the check).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```(\w+)\n(.*?)```\n", re.S)


def blocks(text: str) -> list[tuple[str, str, int, int]]:
    """``(language, code, start, end)`` of every fenced block, in order."""
    return [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(text)]


def run(page: Path) -> list[tuple[int, str]]:
    """Run the page's code blocks; ``(index of the block, its output)`` for each."""
    found = blocks(page.read_text(encoding="utf-8"))
    outputs = []
    namespace: dict = {"__name__": f"docs_{page.stem}", "ROOT": ROOT}
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)
        try:
            for k, (lang, code, _, _) in enumerate(found):
                if lang == "python":
                    buffer = io.StringIO()
                    with contextlib.redirect_stdout(buffer):
                        exec(compile(code, f"{page.name} block {k}", "exec"), namespace)
                    outputs.append((k, buffer.getvalue()))
                elif lang == "bash":
                    done = subprocess.run(["bash", "-e", "-c", code], capture_output=True,
                                          text=True, env={**os.environ, "ROOT": str(ROOT)})
                    if done.returncode:
                        raise RuntimeError(f"{page.name} block {k} failed:\n{done.stderr}")
                    outputs.append((k, done.stdout))
        finally:
            os.chdir(here)
    return outputs


def shown(page: Path) -> dict[int, str]:
    """The output each code block shows (the ``text`` block right after it)."""
    found = blocks(page.read_text(encoding="utf-8"))
    out = {}
    for k, (lang, _, _, end) in enumerate(found[:-1]):
        nxt = found[k + 1]
        if lang in ("python", "bash") and nxt[0] == "text" and nxt[2] - end <= 1:
            out[k] = nxt[1]
    return out


def write(page: Path) -> None:
    """Rewrite the output blocks of ``page`` from a run of its code blocks."""
    text = page.read_text(encoding="utf-8")
    found = blocks(text)
    results = dict(run(page))
    has = shown(page)
    for k in sorted(has, reverse=True):
        _, _, start, end = found[k + 1]
        text = text[:start] + f"```text\n{results[k]}```\n" + text[end:]
    page.write_text(text, encoding="utf-8")


def check(page: Path) -> list[str]:
    """Every difference between a block's output and what the page shows."""
    results = dict(run(page))
    return [f"{page.name} block {k}: the page shows\n{want}\nbut the block prints\n{results[k]}"
            for k, want in shown(page).items() if results[k] != want]


def main(argv: list[str]) -> int:
    """Check (or with ``--write``, rewrite) the page named by the first argument."""
    page = Path(argv[0])
    if argv[1:2] == ["--write"]:
        write(page)
        return 0
    problems = check(page)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
