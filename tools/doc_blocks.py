"""Run the code blocks of a docs page in order and check (or write) their shown output.

A page's ``python`` blocks run in one namespace (named ``__main__``, as a script pasted from
the page would be), ``bash`` and ``sh`` blocks as shell commands, all in a fresh working
directory that holds the project's data and scripts (``scenarios/``, ``calibration/``,
``tools/``, ``experiments/``, ``benchmarks/``, as a checkout does),
with ``ROOT`` (the project root) known to Python blocks and ``$ROOT`` to shell blocks. A
``text`` block right after a code block shows that block's output:
``python tools/doc_blocks.py PAGE --write`` rewrites those blocks from a run, and
``python tools/doc_blocks.py PAGE`` exits 1 when a block fails or its output differs from what
the page shows (the test suite runs the check).

The size switch: a line of a code block that ends in a comment ``# small: <line>`` runs as
``<line>`` with ``--small`` (the default test suite runs long pages so), and as written
otherwise; outputs of blocks that hold such a line are then not compared, since they are
shown at full size. ``python tools/doc_blocks.py PAGE --small`` runs a page small.
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
#: The size switch at the end of a line: ``<full> # small: <small>``.
SMALL = re.compile(r"^(?P<indent>[ \t]*)(?P<full>.*?)[ \t]+#[ \t]*small:[ \t]*(?P<small>.*)$",
                   re.M)
#: Folders of the project a page's blocks find in their working directory (by relative path,
#: as a reader working in a checkout does).
SHARED = ("scenarios", "calibration", "tools", "experiments", "benchmarks")
#: Languages whose blocks run.
RUNS = ("python", "bash", "sh")


def sized(code: str, small: bool) -> str:
    """``code`` with each size-switched line as it runs at the chosen size."""
    if not small:
        return code
    return SMALL.sub(lambda m: m.group("indent") + m.group("small"), code)


def switched(code: str) -> bool:
    """Whether ``code`` holds a size-switched line."""
    return SMALL.search(code) is not None


def blocks(text: str) -> list[tuple[str, str, int, int]]:
    """``(language, code, start, end)`` of every fenced block, in order."""
    return [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(text)]


def pip_install(args: list[str]) -> int:
    """What a page's ``pip install ...`` line asks for, checked against what is installed.

    The blocks run where the project is installed already and without the network, so a
    ``pip install`` line passes when every requirement it names is in place (this project with
    the extras asked for, or a distribution at the version asked for) and fails, naming what
    is missing, otherwise. Shell blocks find this check as ``pip`` on their path.
    """
    from importlib.metadata import PackageNotFoundError, metadata, version

    from packaging.requirements import Requirement

    if args[:1] != ["install"]:
        print(f"pip {' '.join(args)}: only 'pip install' lines run in the docs", file=sys.stderr)
        return 1
    wanted: list[Requirement] = []
    for arg in args[1:]:
        if arg.startswith("-") and arg != "-e":
            continue
        if arg == "-e":
            continue
        name = arg
        if arg.startswith("."):  # the project itself, with extras: .[test]
            name = "cmo-sim" + arg[1:]
        wanted.append(Requirement(name))
    own = metadata("cmo-sim").get_all("Requires-Dist") or []
    missing = []
    while wanted:
        req = wanted.pop()
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            missing.append(str(req))
            continue
        if req.specifier and installed not in req.specifier:
            missing.append(f"{req} (installed: {installed})")
        if req.name == "cmo-sim":
            for line in own:
                dep = Requirement(line)
                extras = [e for e in req.extras if dep.marker and dep.marker.evaluate(
                    {"extra": e})]
                if extras or dep.marker is None:
                    wanted.append(Requirement(str(dep).split(";")[0]))
    if missing:
        print(f"pip install: not installed: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def _pip_shim(folder: Path) -> Path:
    """A ``pip`` command in ``folder`` that runs :func:`pip_install`."""
    shim = folder / "pip"
    shim.write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" "{Path(__file__)}" --pip "$@"\n',
                    encoding="utf-8")
    shim.chmod(0o755)
    return folder


def run(page: Path, *, small: bool = False, env: dict[str, str] | None = None,
        only: set[int] | None = None) -> list[tuple[int, str]]:
    """Run the page's code blocks; ``(index of the block, its output)`` for each.

    ``small`` applies the size switch; ``env`` adds to the environment of shell blocks;
    ``only`` runs only the blocks of these indices.
    """
    found = blocks(page.read_text(encoding="utf-8"))
    outputs = []
    namespace: dict = {"__name__": "__main__", "ROOT": ROOT}
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as tools:
        os.chdir(work)
        for name in SHARED:  # the project's data, as in a checkout the reader works in
            os.symlink(ROOT / name, Path(work) / name)
        path = f"{_pip_shim(Path(tools))}{os.pathsep}{os.environ.get('PATH', '')}"
        try:
            for k, (lang, code, _, _) in enumerate(found):
                if only is not None and k not in only:
                    continue
                code = sized(code, small)
                if lang == "python":
                    buffer = io.StringIO()
                    with contextlib.redirect_stdout(buffer):
                        exec(compile(code, f"{page.name} block {k}", "exec"), namespace)
                    outputs.append((k, buffer.getvalue()))
                elif lang in ("bash", "sh"):
                    done = subprocess.run(["bash", "-e", "-c", code], capture_output=True,
                                          text=True,
                                          env={**os.environ, "ROOT": str(ROOT), "PATH": path,
                                               **(env or {})})
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
        if lang in RUNS and nxt[0] == "text" and nxt[2] - end <= 1:
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


def check(page: Path, *, small: bool = False, env: dict[str, str] | None = None,
          only: set[int] | None = None) -> list[str]:
    """Every difference between a block's output and what the page shows.

    With ``small``, a block run smaller than the page shows it (a size-switched line) is run
    but its output is not compared.
    """
    found = blocks(page.read_text(encoding="utf-8"))
    results = dict(run(page, small=small, env=env, only=only))
    return [f"{page.name} block {k}: the page shows\n{want}\nbut the block prints\n{results[k]}"
            for k, want in shown(page).items()
            if k in results and not (small and switched(found[k][1])) and results[k] != want]


def main(argv: list[str]) -> int:
    """Check (or with ``--write``, rewrite; ``--small``, run small) the page named first."""
    if argv[:1] == ["--pip"]:
        return pip_install(argv[1:])
    page = Path(argv[0])
    if argv[1:2] == ["--write"]:
        write(page)
        return 0
    problems = check(page, small="--small" in argv[1:])
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
