"""The fused engine: the numpy core's results from a kernel generated from the theory's terms."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from _budget import examples
from hypothesis import event, given
from hypothesis import strategies as st
from test_abm import DIFF_STEPS, THEORY, _shipped, scenarios
from test_abm import _assert_close as _abm_assert_close

import cmo_sim
import cmo_sim.testing
from cmo_sim.core import fused
from cmo_sim.core.runner import TRAJECTORY_VARIABLES, RunOutput, run
from cmo_sim.core.step import StepCache, init
from cmo_sim.core.step import step as numpy_step
from cmo_sim.params import compile_params
from cmo_sim.results import SUMMARY_COLUMNS, summarise

#: Largest float difference allowed between the engines. The kernel evaluates the numpy
#: engine's formulas in the same order; numpy's vectorised exp and the C library's exp differ
#: in the last bit on some inputs, and such differences stay near 1e-16 per month (the largest
#: seen over every shipped scenario is 7e-15, on a cumulative performance of about 60).
TOLERANCE = 1e-12

SHIPPED = ["voluntary_alliance", "mandated_merger", "savings_sequestered",
           "leadership_turnover", "large_network", "aco_alliance", "buddying",
           "joint_commissioning", "modest_first_steps", "entry_market_opportunity"]


def _assert_close(name: str, expected: np.ndarray, actual: np.ndarray) -> None:
    _abm_assert_close(name, expected, actual, tolerance=TOLERANCE)


def _assert_same(params, steps: int, expected: RunOutput, actual: RunOutput) -> None:
    """Identical discrete state and events; floats within TOLERANCE; the same summary."""
    if expected.trajectories is None:
        assert actual.trajectories is None
    else:
        assert np.array_equal(expected.steps_recorded, actual.steps_recorded)
        assert set(actual.trajectories) == set(TRAJECTORY_VARIABLES)
        for name, values in expected.trajectories.items():
            _assert_close(f"trajectory {name}", values, actual.trajectories[name])
    for f in fields(expected.final):
        _assert_close(f"final {f.name}", getattr(expected.final, f.name),
                      getattr(actual.final, f.name))
    _assert_close("synergy_mean", expected.synergy_mean, actual.synergy_mean)
    want, got = summarise(params, expected), summarise(params, actual)
    floats = [c for c in SUMMARY_COLUMNS if want[c].dtype.kind == "f"]
    others = [c for c in SUMMARY_COLUMNS if c not in floats]
    pd.testing.assert_frame_equal(want[others], got[others])
    pd.testing.assert_frame_equal(want[floats], got[floats], check_exact=False, rtol=0.0,
                                  atol=TOLERANCE)


# -- the same results as the numpy core ------------------------------------------------------------
@pytest.mark.parametrize("record", ["summary", "trajectory", 7])
def test_a_padded_batch_of_shipped_scenarios_gives_the_numpy_results(record):
    params = compile_params([_shipped(n) for n in SHIPPED], replicates=12, seed=2024)
    expected = run(params, 120, record)
    actual = run(params, 120, record, engine="fused")
    _assert_same(params, 120, expected, actual)
    final = expected.final
    # What the comparison is about happened: padding, exits and joins, both resolutions,
    # de-mergers or dissolutions, completions, turnover, survival.
    assert params.present.sum(axis=1).min() < params.n_members
    assert final.dissolved.any() and not final.dissolved.all()
    assert (final.exits > 1).any() and final.joins.sum() > 0
    assert final.constructive.sum() > 0 and final.destructive.sum() > 0
    assert final.completed.any() and final.turnovers.sum() > 0


@pytest.mark.parametrize("name", ["voluntary_alliance", "mandated_merger", "buddying"])
def test_batches_of_fixed_membership_run_in_spans_with_the_same_results(name):
    # Dyads, mergers and fixed terms: the kernel runs whole spans of months per call (between
    # timeline changes), not month by month.
    scenario = _shipped(name)
    if name == "voluntary_alliance":
        raw = scenario.to_dict()
        raw["timeline"] = [{"step": 30, "changes": {"leadership": 0.9}},
                           {"step": 70, "changes": {"shared_vision": 0.2}}]
        scenario = cmo_sim.load_scenario(raw)
    params = compile_params([scenario], replicates=200, seed=7)
    assert fused.fixed_membership(params)
    for record in ("summary", "trajectory", 5):  # the kernel writes the record itself
        _assert_same(params, 120, run(params, 120, record),
                     run(params, 120, record, engine="fused"))
    float32 = run(params, 120, "trajectory", engine="fused", trajectory_dtype="float32")
    exact = run(params, 120, "trajectory")
    for name, values in float32.trajectories.items():
        want = exact.trajectories[name]
        np.testing.assert_array_equal(values, want.astype(values.dtype), err_msg=name)


def test_a_batch_whose_members_leave_is_not_of_fixed_membership():
    params = compile_params([_shipped("large_network")], replicates=2, seed=1)
    assert not fused.fixed_membership(params)
    raw = _shipped("mandated_merger").to_dict()
    raw["members"] = raw["members"] + [raw["members"][0] | {"name": "third"}]
    merger = compile_params([cmo_sim.load_scenario(raw)], replicates=2, seed=1)
    assert merger.present.sum(axis=1).min() == 3 and fused.fixed_membership(merger)


@examples(60)
@given(scenario=scenarios(), seed=st.integers(0, 2**64 - 1), replicate=st.integers(0, 10**6))
def test_generated_scenarios_give_the_numpy_results(scenario, seed, replicate):
    params = compile_params([scenario], replicates=[replicate, replicate + 1], seed=seed)
    _assert_same(params, DIFF_STEPS, run(params, DIFF_STEPS, "trajectory"),
                 run(params, DIFF_STEPS, "trajectory", engine="fused"))
    _assert_same(params, DIFF_STEPS, run(params, DIFF_STEPS),
                 run(params, DIFF_STEPS, engine="fused"))
    event(f"members: {scenario.n_members}")
    event(f"form: {scenario.form}")


@examples(3)
@given(
    data=st.data(),
    theory=cmo_sim.testing.theories(ablate=3, rescale=3, user_contexts=3, user_rules=12),
    seed=st.integers(0, 2**64 - 1),
)
def test_generated_theories_are_fused_with_the_numpy_results(data, theory, seed):
    # A theory's own contexts and rules at any site, form, modulator, condition, target and
    # reduction: each is a kernel of its own (compiled on first use, a few seconds).
    scenario = data.draw(cmo_sim.testing.theory_contexts(data.draw(scenarios(max_members=5)),
                                                         theory))
    params = compile_params([scenario], replicates=3, seed=seed, theory=theory)
    _assert_same(params, DIFF_STEPS, run(params, DIFF_STEPS, "trajectory"),
                 run(params, DIFF_STEPS, "trajectory", engine="fused"))


def test_a_users_own_theory_is_fused():
    from _own_theory import OWN_THEORY

    theory = cmo_sim.load_theory(OWN_THEORY)
    scenario = cmo_sim.load_scenario(
        {"name": "liaisons", "members": [{}, {}, {}], "contexts": {"liaison_turnover": 0.8}},
        theory=theory)
    params = compile_params([scenario], replicates=40, seed=3, theory=theory)
    expected = run(params, 120, "trajectory")
    _assert_same(params, 120, expected, run(params, 120, "trajectory", engine="fused"))
    # The rule acts in the kernel: without it trust ends higher.
    base = compile_params([scenario], replicates=40, seed=3,
                          theory=theory.without("liaison.turnover_resets"))
    plain = run(base, 120, "trajectory", engine="fused")
    assert np.nanmean(plain.trajectories["trust"][:, 12]) > np.nanmean(
        expected.trajectories["trust"][:, 12])


def test_simulate_with_the_fused_engine_returns_the_batch_results(tmp_path):
    names = [_shipped("voluntary_alliance"), _shipped("large_network")]
    batch = cmo_sim.simulate(names, runs=20, steps=60, seed=4, record="trajectory")
    quick = cmo_sim.simulate(names, runs=20, steps=60, seed=4, record="trajectory",
                             engine="fused", chunk_runs=7)
    assert quick.meta["engine"] == "fused"
    pd.testing.assert_frame_equal(batch.summary, quick.summary, check_exact=False, rtol=0.0,
                                  atol=TOLERANCE)
    for name in TRAJECTORY_VARIABLES:
        _assert_close(name, batch.trajectories[name].values, quick.trajectories[name].values)
    stored = cmo_sim.simulate(names, runs=20, steps=60, seed=4, record="trajectory",
                              engine="fused", store=tmp_path / "runs.zarr",
                              trajectory_dtype="float32")
    np.testing.assert_array_equal(stored.trajectories["synergy"].values,
                                  batch.trajectories["synergy"].values.astype(np.float32))


# -- the step as a function ------------------------------------------------------------------------
def test_the_step_is_pure_and_is_the_numpy_step():
    params = compile_params([_shipped("large_network"), _shipped("voluntary_alliance")],
                            replicates=30, seed=5)
    state = init(params)
    for t in range(40):
        before = {f.name: getattr(state, f.name).copy() for f in fields(state)}
        ours = fused.step(state, params, t, StepCache())
        for f in fields(state):  # the state given is left as it was
            assert np.array_equal(getattr(state, f.name), before[f.name]), f.name
        theirs = numpy_step(state, params, t)
        for f in fields(state):
            _assert_close(f"month {t} {f.name}", getattr(theirs, f.name), getattr(ours, f.name))
        state = theirs
    assert state.exits.sum() > 0 and state.joins.sum() > 0


# -- kernels: generated, cached by content ---------------------------------------------------------
def test_theories_that_differ_only_in_numbers_share_a_kernel():
    default = fused.kernel_for(THEORY.compiled(), THEORY.baseline)
    reweighted = THEORY.with_baseline(trust_rate=0.5, conflict_intercept=-2.0)
    other = fused.kernel_for(reweighted.compiled(), reweighted.baseline)
    assert other.digest == default.digest and other.function is default.function
    assert not np.array_equal(other.constants, default.constants)
    # A rule of one's own reading the month's state adds a month term: another kernel.
    own = cmo_sim.load_theory({"extends": "default", "rules": [
        {"id": "own.synergy_faith", "context": "synergy", "mechanism": "faith_building",
         "outcome": "faith", "sign": 1, "weight": 0.1, "site": "faith_change",
         "provenance": "p"}]})
    assert fused.kernel_for(own.compiled(), own.baseline).digest != default.digest


def test_the_generated_module_is_kept_under_its_digest(tmp_path, monkeypatch):
    monkeypatch.setenv("CMO_SIM_CACHE", str(tmp_path))
    source, args, _, constants = fused.kernel_source(THEORY.compiled(), THEORY.baseline)
    path = fused._write_module(source, "ab" * 32)
    assert path.parent == tmp_path / "fused" and path.read_text() == source
    assert path.name == f"cmo_fused_{'ab' * 10}.py"
    assert fused._write_module(source, "ab" * 32) == path  # found, not written again
    # Every number is a constant read at run time: other numbers, the same source.
    reweighted = THEORY.with_baseline(trust_rate=0.123, faith_rate=0.0456)
    again, _, _, other = fused.kernel_source(reweighted.compiled(), reweighted.baseline)
    assert again == source and "K" in args[0] and "K" in args[1]
    assert constants.size == other.size and {0.123, 0.0456} <= set(other.tolist())


def test_warming_compiles_the_kernel_before_any_chunk():
    code = (
        "import cmo_sim\n"
        "from cmo_sim.core import fused\n"
        "from cmo_sim.core.runner import warm\n"
        "theory = cmo_sim.load_theory()\n"
        "kernel = fused.kernel_for(theory.compiled(), theory.baseline)\n"
        "before = len(kernel.function.signatures)\n"
        "warm(theory, 'fused')\n"
        "print(before, len(kernel.function.signatures))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1"]


# -- bad input and a missing compiler --------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [dict(runs=0), dict(steps=-1), dict(record="sometimes"),
                                    dict(trajectory_dtype="float16"), dict(chunk_runs=0)])
def test_bad_arguments_get_the_same_errors_from_every_engine(kwargs):
    messages = set()
    for engine in ("batch", "fused", "abm"):
        with pytest.raises(ValueError) as error:
            cmo_sim.simulate(_shipped("voluntary_alliance"), engine=engine, **kwargs)
        messages.add(str(error.value))
    assert len(messages) == 1, messages


def test_without_numba_the_fused_engine_says_so_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(fused, "available", lambda: False)
    with pytest.raises(fused.FusedUnavailableError) as error:
        cmo_sim.simulate(_shipped("voluntary_alliance"), engine="fused",
                         store=tmp_path / "x.zarr")
    message = str(error.value)
    assert "\n" not in message and "numba" in message and "engine='batch'" in message
    assert not list(tmp_path.iterdir())  # nothing was started
    sweep = cmo_sim.Sweep(_shipped("voluntary_alliance"), vary={"leadership": (0.2, 0.8)},
                          design="lhs", samples=2, replicates=2)
    with pytest.raises(fused.FusedUnavailableError):
        cmo_sim.run_sweep(sweep, engine="fused", store=tmp_path / "sweep.zarr")
    assert not list(tmp_path.iterdir())


def test_without_numba_the_command_line_names_the_engine_that_can_run(tmp_path):
    code = (
        "import sys; import importlib.util as u; real = u.find_spec\n"
        "u.find_spec = lambda name, *a: None if name == 'numba' else real(name, *a)\n"
        "from cmo_sim.cli import main\n"
        "sys.exit(main(['run', '--engine', 'fused', '--runs', '5', '--out', sys.argv[1]]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "engine='batch'" in lines[0], done.stderr
    assert not (tmp_path / "out").exists()
