"""Every code block of README.md and docs/*.md runs, and shows what it prints.

``tools/doc_blocks.py`` runs a page's blocks in order, as a reader pasting them would (Python
blocks in one ``__main__`` namespace, shell blocks with ``bash -e``, in a fresh folder that
holds the project's scenarios), and compares each block's output with the ``text`` block the
page shows after it. Long blocks carry a size switch (a line ending ``# small: <line>``): the
default suite runs them small, without comparing their output; ``--slow`` runs README.md at
full size. Pages another test already runs at full size, comparing every output, are listed in
``CHECKED_ELSEWHERE``, and the first test makes sure those tests do so.

A ``pip install`` line passes when what it installs is installed (the suite does not reach the
network); README's second set-up command is the one ``.ci/run`` runs, which is where it runs.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import doc_blocks  # noqa: E402

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Pages whose every block another test runs at full size, checking what the page shows.
CHECKED_ELSEWHERE = {
    "docs/own-theory.md": "tests/test_docs_theory.py",
    "docs/model.md": "tests/test_docs_theory.py",
    "docs/dynamics.md": "tests/test_docs_theory.py",
    "docs/calibration.md": "tests/test_calibrate.py",
    "docs/experiments.md": "tests/test_experiments.py",
    "docs/limits.md": "tests/test_fail_fast.py",
    "docs/mesa.md": "tests/test_mesa_conventions.py",
}
#: README's set-up command that runs the test suite: run by .ci/run, not from inside it.
README_TEST_COMMAND = 1


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _runnable(page: Path) -> list[int]:
    found = doc_blocks.blocks(page.read_text(encoding="utf-8"))
    return [k for k, (lang, *_rest) in enumerate(found) if lang in doc_blocks.RUNS]


HERE = [p for p in PAGES if _runnable(p) and _name(p) not in CHECKED_ELSEWHERE]


def test_every_page_with_code_is_run():
    for page in PAGES:
        name = _name(page)
        if name in CHECKED_ELSEWHERE:
            source = (ROOT / CHECKED_ELSEWHERE[name]).read_text(encoding="utf-8")
            assert f'"{page.name}"' in source and "doc_blocks.check(page)" in source, name
    # Every language of a block is either run or known not to be code that runs.
    languages = {lang for page in PAGES
                 for lang, *_ in doc_blocks.blocks(page.read_text(encoding="utf-8"))}
    assert languages <= {*doc_blocks.RUNS, "text", "yaml"}, languages
    assert {_name(p) for p in HERE} >= {"README.md", "docs/conformance.md",
                                        "docs/constants.md", "docs/testing.md"}


@pytest.mark.parametrize("page", HERE, ids=_name)
def test_the_page_runs_and_shows_what_its_blocks_print(page):
    only = set(_runnable(page))
    if page.name == "README.md":
        only.discard(README_TEST_COMMAND)
    assert doc_blocks.check(page, small=True, only=only) == []


@pytest.mark.slow
def test_the_readme_runs_at_full_size():
    page = ROOT / "README.md"
    only = set(_runnable(page)) - {README_TEST_COMMAND}
    assert doc_blocks.check(page, only=only) == []


def test_the_readme_test_command_is_what_ci_runs():
    found = doc_blocks.blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    lang, code, *_ = found[README_TEST_COMMAND]
    assert lang == "bash"
    install, test = (shlex.split(part) for part in code.strip().split("&&"))
    assert install == ["pip", "install", "-e", ".[test]"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"python -m pip install .*-e '\.\[test\]'", ci)
    assert f"\n{' '.join(test)}\n" in ci  # python -m pytest -q, on its own line


def test_a_size_switch_runs_the_small_line_only_when_asked(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(1000)  # small: print(10)\n```\n\n```text\n1000\n```\n",
                    encoding="utf-8")
    assert doc_blocks.check(page) == []
    assert dict(doc_blocks.run(page, small=True)) == {0: "10\n"}
    assert doc_blocks.check(page, small=True) == []  # a switched block's output is not compared
    page.write_text("```python\nprint(1000)\n```\n\n```text\n10\n```\n", encoding="utf-8")
    assert doc_blocks.check(page, small=True)  # an unswitched block's output is


def test_a_pip_line_passes_only_for_what_is_installed(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\npip install -e '.[test]' 'cmo-sim[calibrate]'\n```\n",
                    encoding="utf-8")
    assert doc_blocks.check(page) == []
    page.write_text("```bash\npip install 'no-such-distribution-cmo-sim==1.0'\n```\n",
                    encoding="utf-8")
    with pytest.raises(RuntimeError, match="not installed: no-such-distribution-cmo-sim"):
        doc_blocks.check(page)
