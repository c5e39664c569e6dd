"""Fail fast on size: huge requests are refused before any work (cmo_sim/_limits.py).

Each refusal is a TooLargeError (a ValueError) naming the argument, the estimate, the limit and
another way to get the result, raised within a second and with little memory.
"""

from __future__ import annotations

import math
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import cmo_sim
from cmo_sim import ScenarioError, Sweep, TooLargeError, run_sweep, simulate
from cmo_sim._limits import (
    ENV_MAX_MEMORY,
    ENV_MAX_TIME,
    check_simulate,
    memory_limit,
    parse_memory,
    parse_time,
    time_limit,
)
from cmo_sim.cli import DEFAULT_SCENARIO, main
from cmo_sim.sweep import read_sweep_file

ROOT = Path(__file__).resolve().parents[1]
FOUR_RANGES = {"history": (-1, 1), "pace": (0, 1), "leadership": (0, 1), "shared_vision": (0, 1)}


def refused(call: Callable[[], Any]) -> tuple[str, float, int]:
    """The TooLargeError message of ``call``, the seconds and the peak bytes it took."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TooLargeError) as excinfo:
            call()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(excinfo.value), seconds, peak


@pytest.fixture(autouse=True)
def _no_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_MAX_MEMORY, raising=False)
    monkeypatch.delenv(ENV_MAX_TIME, raising=False)


def test_a_billion_runs_are_refused_at_once() -> None:
    message, seconds, peak = refused(lambda: simulate(DEFAULT_SCENARIO, runs=10**9))
    assert seconds < 1.0 and peak < 20 * 2**20
    assert message.startswith("runs: 1,000,000,000 runs of up to 2 members over 120 months "
                              "needs about ")
    assert "of memory" in message and "more than the memory limit of " in message
    assert ENV_MAX_MEMORY in message and "max_memory=" in message
    assert "Simulate fewer runs at a time (runs=" in message and " fits)" in message
    assert issubclass(TooLargeError, ValueError)


def test_a_trillion_months_are_refused_on_time() -> None:
    message, seconds, peak = refused(
        lambda: simulate(DEFAULT_SCENARIO, steps=10**12, record=10**12))
    assert seconds < 1.0 and peak < 20 * 2**20
    assert message.startswith("steps: 100 runs of up to 2 members over 1,000,000,000,000 months "
                              "recording every 1,000,000,000,000 months needs about ")
    assert "more than the time limit of 7 days (the default; max_time= or the " in message
    assert ENV_MAX_TIME in message and "steps=120 is ten years" in message


def test_the_record_is_named_when_trajectories_take_the_memory() -> None:
    message, _, _ = refused(lambda: simulate(DEFAULT_SCENARIO, runs=5000, record="trajectory",
                                             max_memory="50MB"))
    assert message.startswith("record: 5,000 runs of up to 2 members over 120 months recording "
                              "every month needs about ")
    assert "the memory limit of 47.7 MiB (set by max_memory=;" in message
    assert "record less (record='summary', or every k months with record=k)" in message


def test_the_suggested_number_of_runs_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    message, _, _ = refused(lambda: simulate(DEFAULT_SCENARIO, runs=20_000, record=1,
                                             max_memory="100MB"))
    fits = int(message.split("runs=")[1].split(" fits")[0].replace(",", ""))
    assert 1 <= fits < 20_000
    results = simulate(DEFAULT_SCENARIO, runs=fits // 4, steps=12, record=1, max_memory="100MB")
    assert results.n_runs == fits // 4


def test_requests_within_the_limits_run() -> None:
    results = simulate(DEFAULT_SCENARIO, runs=5, steps=6, max_memory="1GiB", max_time="1h")
    assert results.n_runs == 5
    assert simulate(DEFAULT_SCENARIO, runs=3, steps=3, max_memory="inf").n_runs == 3


def test_the_environment_sets_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MAX_MEMORY, "1MB")
    message, _, _ = refused(lambda: simulate(DEFAULT_SCENARIO, runs=2000))
    assert "the memory limit of 977 KiB (set by CMO_SIM_MAX_MEMORY;" in message
    assert simulate(DEFAULT_SCENARIO, runs=2000, steps=2, max_memory="1GB").n_runs == 2000
    monkeypatch.setenv(ENV_MAX_MEMORY, "lots")
    with pytest.raises(ValueError, match=r"^CMO_SIM_MAX_MEMORY: 'lots' is not allowed \(a "
                       r"number of bytes, or a number with a unit such as 512MB"):
        simulate(DEFAULT_SCENARIO, runs=2)
    monkeypatch.delenv(ENV_MAX_MEMORY)
    monkeypatch.setenv(ENV_MAX_TIME, "1s")
    message, _, _ = refused(lambda: simulate(DEFAULT_SCENARIO, runs=10**6, max_memory="inf"))
    assert message.startswith("runs: ") and "the time limit of 1 s (set by CMO_SIM_MAX_TIME;" \
        in message


@pytest.mark.parametrize(("text", "value"), [
    (1000, 1000.0), ("1000", 1000.0), ("512MB", 512e6), ("8GiB", 8 * 2**30), ("16G", 16 * 2**30),
    ("1.5 kib", 1536.0), ("2tb", 2e12), ("inf", math.inf), ("none", math.inf),
])
def test_memory_texts(text: Any, value: float) -> None:
    assert parse_memory(text) == value


@pytest.mark.parametrize(("text", "value"), [
    (90, 90.0), ("90s", 90.0), ("30min", 1800.0), ("2m", 120.0), ("12h", 43200.0),
    ("7d", 604800.0), ("inf", math.inf),
])
def test_time_texts(text: Any, value: float) -> None:
    assert parse_time(text) == value


@pytest.mark.parametrize("bad", ["", "8 parsecs", "-1GB", "0", 0, -5, True, "nan", [1], "1e"])
def test_bad_limits_are_refused_naming_the_argument(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"^max_memory: .* is not allowed \("):
        memory_limit(bad)
    with pytest.raises(ValueError, match=r"^max_time: .* is not allowed \("):
        time_limit(bad)


def test_the_default_memory_limit_is_most_of_this_machine() -> None:
    limit, source = memory_limit()
    assert 2**28 < limit < 2**50
    assert source.startswith("80% of this machine's ")


def test_the_estimate_is_within_a_factor_of_two_of_the_memory_used() -> None:
    # Trajectories dominate: the estimate (its own chunk size) against tracemalloc's peak.
    runs, steps = 3000, 60
    memory, _ = check_simulate(n_scenarios=1, runs=runs, members=3, steps=steps, every=1,
                               chunk=runs)
    scenario = {"members": [{"size": 100}, {"size": 200}, {"size": 300}]}
    simulate(scenario, runs=2, steps=2)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        simulate(scenario, runs=runs, steps=steps, record=1, chunk_runs=runs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / 2 < memory < peak * 2


# -- sweeps ---------------------------------------------------------------------------------------
def test_a_256_to_the_4_grid_is_refused_before_it_is_built() -> None:
    message, seconds, peak = refused(
        lambda: Sweep(DEFAULT_SCENARIO, vary=FOUR_RANGES, samples=256, replicates=2))
    assert seconds < 1.0 and peak < 20 * 2**20
    assert message.startswith("samples: a grid of 256 x 256 x 256 x 256 = 4,294,967,296 points "
                              "needs about ")
    assert "use design: lhs or sobol" in message and ENV_MAX_MEMORY in message


def test_a_grid_of_100000_samples_is_refused() -> None:
    message, seconds, _ = refused(lambda: Sweep(
        DEFAULT_SCENARIO, vary={"history": (-1, 1), "pace": (0, 1)}, samples=10**5))
    assert seconds < 1.0 and "100,000 x 100,000 = 10,000,000,000 points" in message


def test_the_same_sobol_design_is_small() -> None:
    sweep = Sweep(DEFAULT_SCENARIO, vary=FOUR_RANGES, design="sobol", samples=256, replicates=2)
    assert sweep.n_points == 256 * 6


def test_a_sweep_file_without_its_design_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "forgot_design.yaml"
    path.write_text(
        f"base: {ROOT / 'scenarios' / 'voluntary_alliance.yaml'}\nsamples: 256\nreplicates: 64\n"
        "vary:\n" + "".join(f"  {name}: {{low: 0.1, high: 0.9}}\n" for name in
                            ("shared_vision", "leadership", "communication", "pace")),
        encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ScenarioError) as excinfo:
        read_sweep_file(path)
    assert time.perf_counter() - started < 1.0
    assert str(excinfo.value).startswith(f"{path}: samples: a grid of 256 x 256 x 256 x 256 ")


def test_replicates_of_10_to_the_15_are_refused_before_the_run(tmp_path: Path) -> None:
    sweep = Sweep(DEFAULT_SCENARIO, vary={"history": (-1, 1)}, samples=3, replicates=10**15)
    store = tmp_path / "never.zarr"
    message, seconds, peak = refused(lambda: run_sweep(sweep, store=store, progress=False,
                                                       executor="processes:2"))
    assert seconds < 1.0 and peak < 20 * 2**20
    assert message.startswith("replicates: 3 design points x 1,000,000,000,000,000 replicates = "
                              "3,000,000,000,000,000 runs of 2 members over 120 months needs ")
    assert "Give fewer replicates (replicates=" in message and "store=" in message
    assert not store.exists()


def test_a_sweep_over_the_time_limit_names_its_workers_alternative() -> None:
    sweep = Sweep(DEFAULT_SCENARIO, vary={"history": (-1, 1)}, samples=3, replicates=1000)
    message, _, _ = refused(lambda: run_sweep(sweep, steps=10**7, progress=False,
                                              max_time="1h", max_memory="inf"))
    assert message.startswith("steps: ") and "the time limit of 1 h (set by max_time=;" in message
    assert "executor='processes'" in message


def test_a_small_sweep_within_the_limits_runs() -> None:
    sweep = Sweep(DEFAULT_SCENARIO, vary={"history": (-1, 1)}, samples=2, replicates=3)
    results = run_sweep(sweep, steps=6, progress=False, max_memory="1GiB", max_time="1h")
    assert len(results.summary) == 6


# -- the command line -----------------------------------------------------------------------------
def test_the_cli_refuses_a_billion_runs_in_one_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["run", "--runs", str(10**9), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert time.perf_counter() - started < 2.0
    err = capsys.readouterr().err
    assert err.startswith("cmo-sim: error: record: 1,000,000,000 runs of up to 2 members over "
                          "120 months recording every month needs about ")
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_the_cli_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENV_MAX_MEMORY, "10MB")
    assert main(["run", "--runs", "5000", "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert "(set by CMO_SIM_MAX_MEMORY;" in capsys.readouterr().err


def test_the_cli_refuses_a_huge_sweep_file(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(f"base: {ROOT / 'scenarios' / 'voluntary_alliance.yaml'}\n"
                    f"replicates: {10**15}\nvary: {{history: [0.1, 0.2]}}\n", encoding="utf-8")
    started = time.perf_counter()
    assert main(["sweep", str(path), "--store", str(tmp_path / "s.zarr"), "--quiet"]) == 1
    assert time.perf_counter() - started < 2.0
    err = capsys.readouterr().err
    assert err.startswith("cmo-sim: error: replicates: 2 design points x "
                          "1,000,000,000,000,000 replicates") and err.count("\n") == 1


def test_the_refusal_is_a_value_error_the_api_names() -> None:
    assert cmo_sim.TooLargeError is TooLargeError
    assert "TooLargeError" in cmo_sim.__all__


def test_the_limits_page_runs_and_shows_what_its_blocks_print() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import doc_blocks
    finally:
        sys.path.remove(str(ROOT / "tools"))
    page = ROOT / "docs" / "limits.md"
    assert sorted(doc_blocks.shown(page)) == [0, 2, 4]
    assert doc_blocks.check(page) == []
