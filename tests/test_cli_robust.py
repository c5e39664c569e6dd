"""The command line under failure: output paths checked before the work, outputs written whole
or not at all, system errors in one line, and process pools stopped with their parent."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import cmo_sim
from cmo_sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--runs", "20", "--steps", "12", "--quiet"]
OUTPUTS = ("results", "summary_by_scenario.csv", "trajectories.png")


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make any simulation fail the test; the calls are recorded."""
    calls: list[Any] = []

    def simulate(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs)
        raise AssertionError("simulated although the output path was bad")

    monkeypatch.setattr(cmo_sim, "simulate", simulate)
    return calls


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single stderr line of a failed command, without the prefix."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cmo-sim: error: "), err
    return err.removeprefix("cmo-sim: error: ").rstrip("\n")


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders a write left behind (names starting with a dot)."""
    return sorted(p.name for p in folder.rglob(".*"))


# -- output paths are checked before any work -----------------------------------------------------
def test_run_into_an_existing_file_fails_before_simulating(
        tmp_path: Path, no_simulation: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.write_text("mine", encoding="utf-8")
    started = time.perf_counter()
    assert main(["run", "--runs", "20000", "--out", str(target), "--quiet"]) == 1
    assert time.perf_counter() - started < 2.0 and not no_simulation
    assert error_line(capsys) == f"--out: {target} exists and is not a folder"
    assert target.read_text(encoding="utf-8") == "mine"


def test_run_below_a_file_fails_before_simulating(
        tmp_path: Path, no_simulation: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    assert main(["run", *SMALL, "--out", str(blocker / "deeper" / "out")]) == 1
    assert error_line(capsys) == f"--out: {blocker / 'deeper' / 'out'}: {blocker} is not a folder"
    assert not no_simulation


def test_run_into_an_unwritable_folder_fails_before_simulating(
        tmp_path: Path, no_simulation: list[Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: (
        False if Path(path) == locked else real_access(path, mode)))
    assert main(["run", *SMALL, "--out", str(locked / "out")]) == 1
    assert error_line(capsys) == (
        f"--out: {locked / 'out'}: cannot write in {locked} (permission denied)")
    assert main(["run", *SMALL, "--out", str(locked)]) == 1
    assert error_line(capsys) == f"--out: cannot write in {locked} (permission denied)"
    assert not no_simulation


def test_a_folder_that_takes_no_files_despite_its_permissions_is_found_first(
        no_simulation: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    # /proc looks writable to root, but no file can be created in it: a probe file finds out.
    assert main(["run", *SMALL, "--out", "/proc/cmo-sim-out"]) == 1
    assert error_line(capsys).startswith("--out: /proc/cmo-sim-out: cannot write in /proc (")
    assert main(["theory", "graph", "--out", "/proc/cmo-sim-graph.png"]) == 1
    assert error_line(capsys).startswith("--out: /proc/cmo-sim-graph.png: cannot write in /proc (")
    assert not no_simulation


def test_run_with_too_long_a_name_fails_before_simulating(
        tmp_path: Path, no_simulation: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / ("x" * 300)
    assert main(["run", *SMALL, "--out", str(out)]) == 1
    assert error_line(capsys) == f"--out: {out}: a name in the path is longer than 255 bytes"
    deep = Path(*([str(tmp_path)] + ["y" * 200] * 30))
    assert main(["run", *SMALL, "--out", str(deep)]) == 1
    assert error_line(capsys).endswith(": File name too long")
    assert not no_simulation


def test_run_refuses_a_folder_whose_outputs_have_the_wrong_kind(
        tmp_path: Path, no_simulation: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "summary_by_scenario.csv").mkdir()
    assert main(["run", *SMALL, "--out", str(tmp_path)]) == 1
    assert error_line(capsys) == (
        f"--out: {tmp_path / 'summary_by_scenario.csv'} exists and is not a file")
    assert not no_simulation


@pytest.mark.parametrize("command", [
    ["theory", "graph", "--out", "{dir}/theory.txt"],
    ["plot", "{dir}/results", "--out", "{dir}/plot.jpeg"],
    ["discover", "{dir}", "--out", "{dir}/box.txt"],
])
def test_figures_need_a_figure_suffix(command: list[str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")  # for discover
    assert main([part.format(dir=tmp_path) for part in command]) == 1
    assert error_line(capsys).endswith("does not end in .png, .svg or .pdf")


def test_a_figure_into_a_folder_or_below_a_file_fails_before_loading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["theory", "graph", "--out", str(tmp_path)]) == 1
    assert error_line(capsys) == (
        f"--out: {tmp_path} is a directory (give a file name such as box.png)")
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    # The results do not exist: the bad --out is reported first, before anything is opened.
    assert main(["plot", str(tmp_path / "missing"), "--out", str(blocker / "p.png")]) == 1
    assert error_line(capsys) == f"--out: {blocker / 'p.png'}: {blocker} is not a folder"


def test_conformance_checks_its_report_path_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import cmo_sim.analysis

    def conformance(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("ran although the report path was bad")

    monkeypatch.setattr(cmo_sim.analysis, "conformance", conformance)
    assert main(["conformance", "--out", str(tmp_path)]) == 1
    assert error_line(capsys) == f"--out: {tmp_path} is a directory (give a file name)"


def test_a_sweep_store_that_is_a_file_fails_before_reading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store.zarr"
    store.write_text("x", encoding="utf-8")
    assert main(["sweep", str(tmp_path / "no_such_sweep.yaml"), "--store", str(store)]) == 1
    assert error_line(capsys) == (
        f"--store: {store} exists and is not a folder (a store is a folder)")


# -- outputs are written whole or not at all ------------------------------------------------------
def test_run_writes_its_outputs_and_replaces_them_whole(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    assert main(["run", *SMALL, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    mode = (out / "summary_by_scenario.csv").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    (out / "mine.txt").write_text("kept", encoding="utf-8")
    assert main(["run", "--runs", "7", "--steps", "6", "--quiet", "--out", str(out)]) == 0
    assert len(cmo_sim.open_results(out / "results").summary) == 7
    assert (out / "mine.txt").read_text(encoding="utf-8") == "kept"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("code", "exc_type", "reason"), [
    (errno.ENOSPC, OSError, "No space left on device (free some space, or write elsewhere)"),
    (errno.EACCES, PermissionError, "Permission denied"),
    (errno.ENOTDIR, NotADirectoryError, "Not a directory"),
])
def test_a_failure_while_writing_leaves_nothing_and_is_one_line(
        code: int, exc_type: type[OSError], reason: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import matplotlib.figure

    out = tmp_path / "created" / "out"

    def savefig(self: Any, fname: Any, *args: Any, **kwargs: Any) -> None:
        Path(fname).write_bytes(b"half a png")  # a partial file, then the disk fails
        raise exc_type(code, os.strerror(code), str(fname))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    assert main(["run", *SMALL, "--out", str(out)]) == 1
    line = error_line(capsys)
    assert line.endswith(f": {reason}") and "trajectories.png" in line
    assert not (tmp_path / "created").exists()  # not even the folders it made
    assert leftovers(tmp_path) == []


def test_a_failed_run_keeps_the_previous_outputs(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", *SMALL, "--out", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def to_parquet(self: Any, path: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cmo_sim.Results, "to_parquet", to_parquet)
    assert main(["run", "--runs", "9", "--steps", "6", "--quiet", "--out", str(out)]) == 1
    assert "No space left on device" in error_line(capsys)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and leftovers(out) == []


def test_a_figure_that_fails_half_way_leaves_no_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import matplotlib.figure

    target = tmp_path / "graph.png"
    target.write_bytes(b"the old figure")

    def savefig(self: Any, fname: Any, *args: Any, **kwargs: Any) -> None:
        Path(fname).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    assert main(["theory", "graph", "--out", str(target)]) == 1
    assert error_line(capsys) == "No space left on device (free some space, or write elsewhere)"
    assert target.read_bytes() == b"the old figure" and leftovers(tmp_path) == []


def test_a_figure_is_written_and_replaced(tmp_path: Path) -> None:
    target = tmp_path / "figs" / "graph.svg"
    assert main(["theory", "graph", "--out", str(target)]) == 0
    assert target.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert leftovers(tmp_path) == []


def test_memory_error_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def simulate(*args: Any, **kwargs: Any) -> None:
        raise MemoryError

    monkeypatch.setattr(cmo_sim, "simulate", simulate)
    assert main(["run", *SMALL, "--out", str(tmp_path / "o")]) == 1
    assert error_line(capsys).startswith("out of memory (ask for fewer runs, or set "
                                         "CMO_SIM_MAX_MEMORY lower")


# -- process pools stop with their parent ---------------------------------------------------------
def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_sweep(tmp_path: Path, **popen: Any) -> tuple[subprocess.Popen, Path, list[str]]:
    sweep = tmp_path / "long.yaml"
    sweep.write_text(f"base: {ROOT / 'scenarios' / 'voluntary_alliance.yaml'}\n"
                     "replicates: 4000\nsteps: 120\nvary: {history: [-0.5, 0.5]}\n",
                     encoding="utf-8")
    store = tmp_path / "long.parquet"
    command = [sys.executable, "-m", "cmo_sim.cli", "sweep", str(sweep), "--store", str(store),
               "--executor", "processes:1", "--chunk-runs", "100", "--quiet"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             **popen)
    deadline = time.monotonic() + 120
    while not list(store.glob("chunk-*")):  # workers started and a chunk written
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
        time.sleep(0.1)
    return child, store, command


def _stopped_with_its_workers(child: subprocess.Popen, stop: Any, code: int) -> None:
    workers = _children(child.pid)
    assert len(workers) >= 2  # the worker and the resource tracker
    started = time.monotonic()
    stop()
    assert child.wait(timeout=60) == code
    err = child.stderr.read().decode()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "orphaned workers"
    assert time.monotonic() - started < 15
    assert "Traceback" not in err, err


def test_sigterm_stops_a_process_pool_sweep_and_its_workers(tmp_path: Path) -> None:
    child, store, _ = _start_sweep(tmp_path)
    _stopped_with_its_workers(child, lambda: child.send_signal(signal.SIGTERM),
                              128 + signal.SIGTERM)
    # The store stays, unfinished: its finished chunks read back, the others to be resumed.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a chunk file the kill left unrecorded is named
        partial = cmo_sim.open_sweep(store, allow_partial=True)
    assert partial.meta["chunks_finished"] < partial.meta["n_chunks"] == 80


@pytest.mark.slow
def test_ctrl_c_stops_the_pool_quietly_and_the_store_resumes(tmp_path: Path) -> None:
    child, store, command = _start_sweep(tmp_path, start_new_session=True)
    _stopped_with_its_workers(child, lambda: os.killpg(child.pid, signal.SIGINT), 130)
    done = subprocess.run(command[:-5] + ["--quiet"],  # resumed in-process (the local executor)
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(cmo_sim.open_sweep(store).summary) == 8000


@pytest.mark.slow
def test_workers_exit_by_themselves_when_the_parent_is_killed(tmp_path: Path) -> None:
    child, _, _ = _start_sweep(tmp_path)
    _stopped_with_its_workers(child, child.kill, -signal.SIGKILL)


def test_theory_check_keeps_each_problem_to_one_short_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmo_sim._errors import MAX_MESSAGE_CHARS

    big = "[" + ", ".join(["12345678"] * 8000) + "]"
    long = tmp_path / "long.yaml"
    long.write_text(f"name: {big}\nextends: default\n", encoding="utf-8")
    many = tmp_path / "many.yaml"
    many.write_text("name: many\nextends: default\nrules:\n" + "".join(
        f"  - {{id: r{k}, weight: -1}}\n" for k in range(80)), encoding="utf-8")
    assert main(["theory", "check", str(long), str(many)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"FAIL {long}: 'name' must be text")
    assert len(lines[0]) <= MAX_MESSAGE_CHARS + 5
    assert len(lines) == 1 + 50 + 1 and all(line.startswith(f"FAIL {many}: ")
                                            for line in lines[1:])
    assert lines[-1].endswith(" more problems")


@pytest.mark.parametrize("kind", ["parquet", "zarr"])
def test_a_disk_that_fills_during_a_sweep_loses_nothing(kind: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    # The disk fills while the third chunk is being written (half a file on disk): the
    # command prints one line naming the cause, the two finished chunks stay recorded, no
    # temporary file is left, and resuming once space is back gives what an uninterrupted
    # sweep gives.
    import cmo_sim.sweep.store as store_module
    from cmo_sim.sweep import open_sweep

    sweep = tmp_path / "grid.yaml"
    sweep.write_text(f"base: {ROOT / 'scenarios' / 'voluntary_alliance.yaml'}\ndesign: grid\n"
                     "replicates: 4\nvary:\n  history: [-0.5, 0, 0.5]\nsteps: 12\n")
    store, whole = tmp_path / f"s.{kind}", tmp_path / f"whole.{kind}"
    real = store_module._move_into_place
    moved = []

    def full_disk(tmp, target):
        if len(moved) == 2:  # the third chunk is written in full but cannot be moved in
            raise OSError(errno.ENOSPC, "No space left on device")
        moved.append(target)
        return real(tmp, target)

    monkeypatch.setattr(store_module, "_move_into_place", full_disk)
    command = ["sweep", str(sweep), "--store", str(store), "--chunk-runs", "2", "--quiet"]
    assert main(command) == 1
    assert error_line(capsys) == "No space left on device (free some space, or write elsewhere)"
    assert [p.name for p in store.iterdir() if ".tmp-" in p.name] == []
    with pytest.raises(ValueError, match="unfinished|not finished|chunks"):
        open_sweep(store)
    partial = open_sweep(store, allow_partial=True)
    assert len(partial.summary) == 4  # the two finished chunks of two runs
    monkeypatch.setattr(store_module, "_move_into_place", real)
    assert main(command) == 0
    assert main(["sweep", str(sweep), "--store", str(whole), "--chunk-runs", "2",
                 "--quiet"]) == 0
    resumed, uninterrupted = open_sweep(store).summary, open_sweep(whole).summary
    assert resumed.equals(uninterrupted)


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_a_killed_dask_sweep_leaves_no_work_on_the_cluster(stop: str, tmp_path: Path) -> None:
    # The scheduler forgets every task of a sweep whose process was stopped (its client closed
    # on SIGTERM, its connection lost on SIGKILL), so no chunk goes on running for nobody.
    import distributed  # in the test extra

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       protocol="tcp://", dashboard_address=None)
    try:
        scheduler = cluster.scheduler
        sweep = tmp_path / "long.yaml"
        sweep.write_text(f"base: {ROOT / 'scenarios' / 'voluntary_alliance.yaml'}\n"
                         "replicates: 2000\nsteps: 120\nvary: {history: [-0.5, 0.5]}\n",
                         encoding="utf-8")
        store = tmp_path / "long.parquet"
        child = subprocess.Popen(
            [sys.executable, "-m", "cmo_sim.cli", "sweep", str(sweep), "--store", str(store),
             "--executor", f"dask://{scheduler.address.removeprefix('tcp://')}",
             "--chunk-runs", "50", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not list(store.glob("chunk-*")):  # connected, and a chunk came back
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
            time.sleep(0.1)
        assert scheduler.tasks  # chunks in flight
        child.send_signal(getattr(signal, stop))
        child.wait(timeout=60)
        deadline = time.monotonic() + 30
        while scheduler.tasks and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not scheduler.tasks, f"{len(scheduler.tasks)} tasks left on the scheduler"
        assert "Traceback" not in child.stderr.read().decode()
    finally:
        cluster.close()
