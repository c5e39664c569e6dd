"""The Mesa engine: equivalence with the numpy core, the engine contract, Mesa API, explanations."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest
from _budget import examples
from hypothesis import event, given
from hypothesis import strategies as st

import cmo_sim
import cmo_sim.abm
import cmo_sim.testing
from cmo_sim.abm import Explanation, Organisation, PartnershipModel, explain, run_abm
from cmo_sim.core.runner import TRAJECTORY_VARIABLES, RunOutput, run
from cmo_sim.core.state import COUNTERS
from cmo_sim.params import compile_params
from cmo_sim.results import SUMMARY_COLUMNS, summarise
from cmo_sim.scenario import ENTRY_POINTS, FORMS, MEMBER_FIELDS, PARTNERSHIP_FIELDS, field_bounds

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
THEORY = cmo_sim.load_theory()
TOLERANCE = 1e-9
#: Months simulated per generated example of the differential test.
DIFF_STEPS = 60


def _shipped(name: str) -> cmo_sim.Scenario:
    return cmo_sim.load_scenario(SCENARIO_DIR / f"{name}.yaml")


# -- comparing two RunOutputs ---------------------------------------------------------------------
def _assert_close(name: str, expected: np.ndarray, actual: np.ndarray,
                  tolerance: float = TOLERANCE) -> None:
    assert expected.shape == actual.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    assert expected.dtype == actual.dtype, f"{name}: dtype {actual.dtype} != {expected.dtype}"
    if expected.dtype.kind == "f":
        assert np.array_equal(np.isnan(expected), np.isnan(actual)), f"{name}: NaN positions"
        diff = np.abs(np.nan_to_num(expected) - np.nan_to_num(actual))
        assert diff.max(initial=0.0) <= tolerance, f"{name}: max abs difference {diff.max()}"
    else:
        assert np.array_equal(expected, actual), f"{name}: {actual} != {expected}"


def _assert_same_output(params, steps: int, expected: RunOutput, actual: RunOutput) -> None:
    """Both engines' outputs agree: trajectories, final state, mean synergy, summary."""
    if expected.trajectories is None:
        assert actual.trajectories is None and actual.steps_recorded is None
    else:
        assert np.array_equal(expected.steps_recorded, actual.steps_recorded)
        assert set(actual.trajectories) == set(expected.trajectories)
        for name, values in expected.trajectories.items():
            _assert_close(f"trajectory {name}", values, actual.trajectories[name])
    for f in fields(expected.final):
        _assert_close(f"final {f.name}", getattr(expected.final, f.name),
                      getattr(actual.final, f.name))
    # A run dissolved before the last month has no monthly events left in its final state.
    early = actual.final.dissolved & (actual.final.dissolved_at < steps - 1)
    for name in ("success", "achievement", "step_conflicts"):
        assert not getattr(actual.final, name)[early].any(), name
    _assert_close("synergy_mean", expected.synergy_mean, actual.synergy_mean)
    want, got = summarise(params, expected), summarise(params, actual)
    assert list(got.columns) == list(SUMMARY_COLUMNS)
    discrete = ["run", "scenario", "replicate", "n_members", "dissolved", "dissolved_at", "cause",
                "members_final", *COUNTERS]
    pd.testing.assert_frame_equal(want[discrete], got[discrete])
    continuous = [c for c in SUMMARY_COLUMNS if c not in discrete]
    pd.testing.assert_frame_equal(want[continuous], got[continuous], check_exact=False,
                                  rtol=0.0, atol=TOLERANCE)


# -- strategies ----------------------------------------------------------------------------------
SIZES = st.one_of(st.sampled_from([10.0, 100_000.0]), st.floats(1.0, 5.0).map(lambda e: 10.0**e))


def _values(path: str, spread: float = 1.0):
    """Values of a context or member attribute: its whole range, or ``spread`` of it around
    the middle."""
    if path.endswith(".size"):
        return SIZES if spread == 1.0 else st.floats(2.5, 3.5).map(lambda e: 10.0**e)
    bounds = field_bounds(path)
    if bounds is None:
        return st.booleans()
    low, high = bounds
    if spread == 1.0:
        return st.floats(low, high, allow_nan=False)
    # Integer steps around the middle: hypothesis favours small integers, i.e. typical values.
    middle, half = 0.5 * (low + high), 0.5 * spread * (high - low)
    return st.integers(-100, 100).map(lambda k: middle + half * k / 100)


@st.composite
def scenarios(draw, min_members: int = 2, max_members: int = 8, last_step: int = DIFF_STEPS,
              spread: float = 1.0):
    n = draw(st.integers(min_members, max_members))
    data = {name: draw(_values(name, spread)) for name in PARTNERSHIP_FIELDS}
    data["entry_point"] = draw(st.none() | st.sampled_from(ENTRY_POINTS))
    data["lead"] = draw(st.integers(0, n - 1))
    # Every form, so the engines are compared on each form's end rules too.
    data["form"] = draw(st.sampled_from(FORMS))
    if data["form"] == "fixed_term":
        data["term"] = draw(st.integers(1, last_step))
    elif data["form"] in ("contractual", "joint_commissioning"):
        data["contract_period"] = draw(st.integers(1, 24))
    data["members"] = [
        {name: draw(_values(f"members[{i}].{name}", spread)) for name in MEMBER_FIELDS}
        | {"name": f"org {chr(65 + i)}"}
        for i in range(n)
    ]
    paths = list(PARTNERSHIP_FIELDS) + [
        f"members[{i}].{name}" for i in range(n) for name in MEMBER_FIELDS
    ]
    steps = sorted(draw(st.sets(st.integers(0, last_step), max_size=3)))
    data["timeline"] = [
        {"step": s, "changes": {p: draw(_values(p, spread)) for p in draw(
            st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True))}}
        for s in steps
    ]
    data["name"] = "generated"
    return cmo_sim.load_scenario(data)


theories = st.lists(st.sampled_from(THEORY.ids), max_size=10, unique=True).map(
    lambda ids: THEORY.without(*ids)
)


# -- Mesa is imported only by cmo_sim.abm ----------------------------------------------------------
def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)


def test_import_cmo_sim_does_not_import_mesa():
    done = _python("import cmo_sim, sys; assert 'mesa' not in sys.modules")
    assert done.returncode == 0, done.stderr


def test_importing_the_mesa_engine_keeps_the_multiprocessing_start_method():
    done = _python(
        "import multiprocessing as mp\n"
        "assert mp.get_start_method(allow_none=True) is None\n"
        "import cmo_sim.abm, sys\n"
        "assert 'mesa' in sys.modules\n"
        "assert mp.get_start_method(allow_none=True) is None, mp.get_start_method()\n"
        "mp.set_start_method('forkserver', force=True)\n"
        "import importlib; importlib.reload(cmo_sim.abm)\n"
        "assert mp.get_start_method() == 'forkserver'\n"
    )
    assert done.returncode == 0, done.stderr


def test_public_names():
    assert sorted(cmo_sim.abm.__all__) == [
        "Explanation", "Organisation", "PartnershipModel", "explain", "run_abm",
    ]
    import importlib

    agents, model, explain_module = (importlib.import_module(f"cmo_sim.abm.{name}")
                                     for name in ("agents", "model", "explain"))
    homes = {"Explanation": explain_module, "explain": explain_module, "Organisation": agents,
             "PartnershipModel": model, "run_abm": model}
    for name in cmo_sim.abm.__all__:
        assert getattr(cmo_sim.abm, name) is getattr(homes[name], name), name
    assert issubclass(cmo_sim.abm.PartnershipModel, mesa.Model)
    assert issubclass(cmo_sim.abm.Organisation, mesa.Agent)


# -- equivalence with the numpy core ---------------------------------------------------------------
@examples(200)
@given(
    scenario=scenarios(),
    theory=theories,
    seed=st.integers(0, 2**64 - 1),
    replicate=st.integers(0, 10**6),
)
def test_engines_agree_on_generated_scenarios(scenario, theory, seed, replicate):
    params = compile_params([scenario], replicates=[replicate], seed=seed, theory=theory)
    expected = run(params, DIFF_STEPS, "trajectory")
    actual = run_abm(params, DIFF_STEPS, "trajectory")
    _assert_same_output(params, DIFF_STEPS, expected, actual)
    final = expected.final
    event(f"members: {scenario.n_members}")
    event("dissolved" if final.dissolved[0] else "survived")
    if final.dissolved[0]:
        event(f"dissolved in month {'< 6' if final.dissolved_at[0] < 6 else '>= 6'}")
    event(f"exits: {min(int(final.exits[0]), 3)}")
    event(f"timeline events: {len(scenario.timeline)}")


@examples(200)
@given(
    data=st.data(),
    theory=cmo_sim.testing.theories(ablate=3, rescale=3, user_contexts=3, user_rules=12),
    seed=st.integers(0, 2**64 - 1),
    replicate=st.integers(0, 10**6),
)
def test_engines_agree_on_generated_theories(data, theory, seed, replicate):
    # Theories with contexts and rules of their own (any site, form, modulator, condition,
    # target and reduction), on scenarios that set those contexts and change them over time.
    scenario = data.draw(cmo_sim.testing.theory_contexts(data.draw(scenarios(max_members=5)),
                                                         theory))
    own = [c for c in theory.user_contexts]
    if own and data.draw(st.booleans()):
        context = data.draw(st.sampled_from(own))
        key = (f"contexts.{context.name}" if context.level == "partnership"
               else f"members[0].contexts.{context.name}")
        raw = scenario.to_dict()
        raw["timeline"] = [{"step": data.draw(st.integers(DIFF_STEPS // 2, DIFF_STEPS)),
                            "changes": {key: data.draw(st.floats(*context.range))}}]
        scenario = cmo_sim.load_scenario(raw, theory=theory)
    params = compile_params([scenario], replicates=[replicate], seed=seed, theory=theory)
    expected = run(params, DIFF_STEPS, "trajectory")
    actual = run_abm(params, DIFF_STEPS, "trajectory")
    _assert_same_output(params, DIFF_STEPS, expected, actual)
    sites = {s for r in theory.rules[len(THEORY):] for s in r.sites}
    n_own = len(theory) - len(THEORY)
    event(f"own rules: {n_own if n_own < 6 else '6+'}")
    event(f"own contexts: {len(own)}")
    event(f"own-rule sites: {len(sites) if len(sites) < 6 else '6+'}")
    event("dissolved" if expected.final.dissolved[0] else "survived")


@examples(60)
@given(
    scenario=scenarios(max_members=3, last_step=120, spread=0.2),
    theory=st.lists(st.sampled_from(THEORY.ids), max_size=2, unique=True).map(
        lambda ids: THEORY.without(*ids)),
    seed=st.integers(0, 2**64 - 1),
)
def test_engines_agree_on_long_runs_near_typical_contexts(scenario, theory, seed):
    # Typical contexts keep many partnerships alive for ten years (synergy basin, late exits).
    params = compile_params([scenario], replicates=4, seed=seed, theory=theory)
    expected = run(params, 120, "trajectory")
    _assert_same_output(params, 120, expected, run_abm(params, 120, "trajectory"))
    event(f"survived: {int((~expected.final.dissolved).sum())} of 4")


@pytest.mark.parametrize("record", ["summary", "trajectory", 7])
def test_engines_agree_on_a_padded_batch_of_shipped_scenarios(record):
    names = ["voluntary_alliance", "mandated_merger", "savings_sequestered",
             "leadership_turnover", "large_network"]
    params = compile_params([_shipped(n) for n in names], replicates=4, seed=2024)
    expected = run(params, 120, record)
    actual = run_abm(params, 120, record)
    _assert_same_output(params, 120, expected, actual)
    final = expected.final
    # The batch exercises what the equivalence is about: padding, exits, both kinds of
    # resolution, domination, dissolution and survival.
    assert params.present.sum(axis=1).min() < params.n_members
    assert final.dissolved.any() and not final.dissolved.all()
    assert (final.exits > 1).any()
    assert final.constructive.sum() > 0 and final.destructive.sum() > 0
    assert final.dominations.sum() > 0


def test_simulate_with_the_mesa_engine_returns_the_batch_results():
    scenarios_ = [_shipped("voluntary_alliance"), _shipped("savings_sequestered")]
    batch = cmo_sim.simulate(scenarios_, runs=5, steps=40, seed=9, record="trajectory")
    abm = cmo_sim.simulate(scenarios_, runs=5, steps=40, seed=9, record="trajectory",
                           engine="abm", chunk_runs=3)
    assert abm.meta["engine"] == "abm"
    pd.testing.assert_frame_equal(batch.summary, abm.summary, check_exact=False, rtol=0.0,
                                  atol=TOLERANCE)
    assert batch.trajectories.sizes == abm.trajectories.sizes
    for name in TRAJECTORY_VARIABLES:
        _assert_close(name, batch.trajectories[name].values, abm.trajectories[name].values)


def test_a_model_built_from_a_scenario_is_that_replicate_of_the_batch():
    scenario = _shipped("leadership_turnover")
    batch = cmo_sim.simulate(scenario, runs=4, steps=60, seed=17, record="trajectory")
    model = PartnershipModel(scenario, seed=17, replicate=3, steps=60)
    while model.running:
        model.step()
    reported = model.datacollector.get_model_vars_dataframe()
    recorded = batch.trajectories.sel(run=3)
    months = len(reported)
    assert months == model.steps + 1
    np.testing.assert_allclose(reported["synergy"], recorded["synergy"].values[:months],
                               rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(reported["performance"],
                               recorded["performance"].values[:months], rtol=0, atol=TOLERANCE)
    row = batch.summary.iloc[3]
    assert bool(reported["dissolved"].iloc[-1]) == bool(row["dissolved"])
    assert reported["mean_trust"].iloc[-1] == pytest.approx(row["trust_final"], abs=TOLERANCE)
    assert reported["mean_faith"].iloc[-1] == pytest.approx(row["faith_final"], abs=TOLERANCE)


# -- the engine contract ---------------------------------------------------------------------------
CONTRACT_SCENARIOS = ["voluntary_alliance", "mandated_merger", "savings_sequestered"]
CONTRACT_RUNS, CONTRACT_STEPS = 6, 48


def _simulate(engine: str, seed: int = 11):
    return cmo_sim.simulate([_shipped(n) for n in CONTRACT_SCENARIOS], runs=CONTRACT_RUNS,
                            steps=CONTRACT_STEPS, seed=seed, record="trajectory", engine=engine)


@pytest.fixture(scope="module", params=["batch", "fused", "abm"])
def engine(request):
    return request.param


@pytest.fixture(scope="module")
def results(engine):
    return _simulate(engine)


class TestEngineContract:
    """What every engine must do, whatever its implementation."""

    def test_summary_has_one_row_per_run_and_the_documented_columns(self, results):
        summary = results.summary
        assert list(summary.columns) == list(SUMMARY_COLUMNS)
        assert len(summary) == len(CONTRACT_SCENARIOS) * CONTRACT_RUNS
        assert summary["run"].tolist() == list(range(len(summary)))
        assert summary["replicate"].tolist() == list(range(CONTRACT_RUNS)) * 3
        assert set(summary["cause"]) <= {"none", "trust", "faith"}

    def test_trajectories_have_the_documented_shape(self, results):
        traj = results.trajectories
        assert set(traj.data_vars) == set(TRAJECTORY_VARIABLES)
        assert dict(traj.sizes) == {"run": 18, "step": CONTRACT_STEPS + 1, "member": 3}
        assert traj["step"].values.tolist() == list(range(CONTRACT_STEPS + 1))
        assert traj["trust"].dims == ("run", "step", "member")
        assert traj["synergy"].dims == ("run", "step")

    def test_every_state_stays_in_its_range(self, results):
        traj, summary = results.trajectories, results.summary
        for name in ("trust", "faith", "intra_conflict", "synergy", "inertia", "ambition",
                     "vision"):
            values = traj[name].values
            real = values[~np.isnan(values)]
            assert real.size and (real >= 0.0).all() and (real <= 1.0).all(), name
        assert (traj["achievement"].values >= 0.0).all()
        assert (np.diff(traj["performance"].values, axis=1) >= 0.0).all()
        assert (traj["conflict_events"].values >= 0).all()
        for column in ("synergy_mean", "synergy_final", "trust_final", "faith_final"):
            assert summary[column].between(0.0, 1.0).all(), column
        alive_months = np.where(summary["dissolved"], summary["dissolved_at"] + 1,
                                CONTRACT_STEPS)
        assert (summary["successes"] + summary["failures"] == alive_months).all()
        assert (summary["constructive"] + summary["destructive"] == summary["conflicts"]).all()

    def test_dissolution_is_absorbing(self, results):
        traj, summary = results.trajectories, results.summary
        dissolved = summary[summary["dissolved"]]
        assert len(dissolved) > 0
        for row in dissolved.itertuples():
            # Month label dissolved_at + 1 is the state just after the dissolution month.
            after = traj.sel(run=row.run).isel(step=slice(int(row.dissolved_at) + 1, None))
            assert after["active"].values.sum(axis=1).max() < 2
            later = after.isel(step=slice(1, None))
            assert (later["conflict_events"].values == 0).all()
            assert (later["achievement"].values == 0.0).all()
            for name in ("trust", "faith", "synergy", "performance", "vision", "active"):
                values = later[name].values
                same = np.broadcast_to(values[:1], values.shape)
                assert np.array_equal(values, same, equal_nan=values.dtype.kind == "f"), name

    def test_same_seed_and_replicate_reproduce_the_run(self, engine, results):
        again = _simulate(engine)
        pd.testing.assert_frame_equal(results.summary, again.summary)
        assert results.trajectories.identical(again.trajectories)

    def test_different_replicates_and_seeds_differ(self, engine, results):
        trust = results.trajectories["trust"].isel(step=0).values
        # Initial trust draws differ between replicates of the same scenario.
        first = trust[:CONTRACT_RUNS]
        assert len({tuple(np.round(row, 12)) for row in first}) == CONTRACT_RUNS
        other = _simulate(engine, seed=12)
        assert not np.allclose(other.trajectories["trust"].isel(step=0).values, trust)

    def test_monthly_draws_differ_between_replicates_and_seeds(self, engine):
        # With the initial spreads switched off every replicate starts from the same state, so
        # any later difference comes from each run's own monthly draws (task, conflict,
        # resolution): replicates and seeds must part ways, month by month.
        theory = THEORY.with_baseline(trust_initial_noise=0.0, faith_initial_noise=0.0)
        runs = {seed: cmo_sim.simulate(_shipped("voluntary_alliance"), runs=CONTRACT_RUNS,
                                       steps=CONTRACT_STEPS, seed=seed, record="trajectory",
                                       theory=theory, engine=engine).trajectories
                for seed in (11, 12)}
        traj = runs[11]
        start = traj["trust"].isel(step=0).values
        assert (start == start[:1]).all()  # one starting state for every replicate
        for name in ("trust", "synergy", "performance"):
            later = traj[name].isel(step=slice(1, None)).values.reshape(CONTRACT_RUNS, -1)
            assert len({row.tobytes() for row in later}) == CONTRACT_RUNS, name
            other = runs[12][name].isel(step=slice(1, None)).values.reshape(CONTRACT_RUNS, -1)
            assert all(not np.array_equal(a, b, equal_nan=True)
                       for a, b in zip(later, other, strict=True)), name
        # Months of task success (achievement > 0) differ between every pair of replicates.
        success = traj["achievement"].isel(step=slice(1, None)).values > 0
        assert len({row.tobytes() for row in success}) == CONTRACT_RUNS


# -- the Mesa model ----------------------------------------------------------------------------
def test_the_model_is_a_mesa_model_of_organisation_agents():
    model = PartnershipModel(_shipped("savings_sequestered"), seed=3, steps=12)
    assert isinstance(model, mesa.Model)
    assert len(model.agents) == 3
    assert all(isinstance(agent, Organisation) for agent in model.agents)
    assert [m.name for m in model.members][0] == "Metro Health Partners (managing partner)"
    first = model.members[0]
    assert sorted(first.trust) == [1, 2]
    assert all(0.0 <= value <= 1.0 for value in first.trust.values())
    assert first.active and 0.0 <= first.faith <= 1.0


def test_the_model_stops_after_its_steps_or_at_dissolution():
    survivor = PartnershipModel(_shipped("voluntary_alliance"), seed=3, replicate=1, steps=30)
    while survivor.running:
        survivor.step()
    assert not survivor.dissolved and survivor.steps == 30
    merger = PartnershipModel(_shipped("entry_policy_directive"), seed=5, steps=120)
    while merger.running:
        merger.step()
    assert merger.dissolved and merger.steps == merger.dissolved_at + 1 < 120
    # A fixed term (buddying: 24 months) stops at its term, completed.
    buddy = PartnershipModel(_shipped("buddying"), seed=5, steps=120)
    while buddy.running:
        buddy.step()
    assert buddy.completed and not buddy.dissolved and buddy.steps == 24
    assert buddy.end_state == "completed"
    frozen = merger.final_state()
    merger.step()  # a dissolved partnership stays as it was
    after = merger.final_state()
    for name in ("trust", "faith", "synergy", "performance", "active", "conflicts"):
        assert np.array_equal(getattr(frozen, name), getattr(after, name)), name


def test_the_data_collector_reports_model_and_agent_variables():
    model = PartnershipModel(_shipped("savings_sequestered"), seed=1, steps=24)
    while model.running:
        model.step()
    per_month = model.datacollector.get_model_vars_dataframe()
    assert list(per_month.columns) == ["mean_trust", "mean_faith", "synergy", "inertia",
                                       "ambition", "performance", "dissolved", "dissolved_at",
                                       "months", "scenario"]
    assert len(per_month) == model.steps + 1
    assert per_month["months"].tolist() == list(range(model.steps + 1))
    assert (per_month["scenario"] == "savings_sequestered").all()
    np.testing.assert_allclose(per_month["synergy"] + per_month["inertia"], 1.0)
    agents = model.datacollector.get_agent_vars_dataframe()
    assert {"faith", "trust_given", "trust_received", "intra_conflict", "active"} <= set(
        agents.columns
    )
    assert len(agents) == 3 * (model.steps + 1)
    for column in ("faith", "trust_given", "trust_received", "intra_conflict"):
        assert agents[column].between(0.0, 1.0).all(), column
    # Each member's reported trust, against the trust matrix the engine ended with (row means
    # for trust given, column means for trust received, over the other original members).
    n = len(model.members)
    matrix = model.final_state().trust[0]
    given = matrix.sum(axis=1) / (n - 1)
    received = matrix.sum(axis=0) / (n - 1)
    assert np.abs(given - received).max() > 0.01  # the matrix is not symmetric: the views differ
    last = agents.xs(model.steps, level="Step").sort_index()
    np.testing.assert_allclose(last["trust_given"].to_numpy(), given, rtol=0, atol=1e-12)
    np.testing.assert_allclose(last["trust_received"].to_numpy(), received, rtol=0, atol=1e-12)


def test_batch_run_gives_different_repeatable_runs():
    scenario = _shipped("voluntary_alliance")
    parameters = {"scenario": [scenario], "replicate": range(20), "seed": [1], "steps": [30]}

    def sweep():
        rows = mesa.batch_run(PartnershipModel, parameters, iterations=1, max_steps=30,
                              display_progress=False)
        return pd.DataFrame(rows)

    first, second = sweep(), sweep()
    pd.testing.assert_frame_equal(first, second)
    assert first["RunId"].nunique() == 20
    assert (first["scenario"] == "voluntary_alliance").all()  # the name, not the object
    assert sorted(first["replicate"].unique()) == list(range(20))
    per_run = first.groupby("replicate")[["mean_trust", "synergy", "months"]].first()
    assert len({tuple(row) for row in per_run.round(12).itertuples(index=False)}) == 20
    # A Mesa sweep run is the same run as that replicate in the numpy engine, and its row is
    # the state after the months the run lasted.
    batch = cmo_sim.simulate(scenario, runs=20, steps=40, seed=1, record="trajectory")
    for replicate, row in per_run.iterrows():
        expected = batch.trajectories["synergy"].sel(run=replicate, step=int(row["months"]))
        assert row["synergy"] == pytest.approx(float(expected), abs=TOLERANCE)


def test_bad_arguments_are_reported():
    scenario = _shipped("voluntary_alliance")
    params = compile_params([scenario], replicates=2)
    with pytest.raises(ValueError, match="steps"):
        PartnershipModel(scenario, steps=0)
    with pytest.raises(ValueError, match="replicate"):
        PartnershipModel(scenario, replicate=-1)
    with pytest.raises(ValueError, match="leadership"):
        PartnershipModel(leadership=2.0)
    with pytest.raises(ValueError, match="not both"):
        PartnershipModel(scenario, params=params.take(np.array([0])))
    with pytest.raises(ValueError, match="2 runs"):
        PartnershipModel(params=params)
    with pytest.raises(ValueError, match="run_index"):
        PartnershipModel.from_params(params, 2)


# -- explaining a run ----------------------------------------------------------------------------
FOR_SHOW = cmo_sim.load_scenario({
    "name": "for show", "authenticity": 0.0, "stakeholder_involvement": 0.0,
    "members": [{"name": "A", "staff_involvement": 0.1, "workforce_stability": 0.1},
                {"name": "B", "staff_involvement": 0.1}],
})
EXPLAINED = [("mandated_merger", 0), ("voluntary_alliance", 0), ("voluntary_alliance", 1),
             ("savings_sequestered", 2), ("large_network", 0), ("leadership_turnover", 1)]


def _batch_row(scenario, replicate: int, seed: int = 0) -> pd.Series:
    summary = cmo_sim.simulate(scenario, runs=replicate + 1, steps=120, seed=seed).summary
    return summary.iloc[replicate]


@pytest.mark.parametrize(("name", "replicate"), EXPLAINED)
def test_the_story_names_the_month_and_cause_the_summary_reports(name, replicate):
    scenario = _shipped(name)
    explanation = explain(scenario, seed=0, replicate=replicate)
    assert isinstance(explanation, Explanation)
    row = _batch_row(scenario, replicate)
    for column in ("dissolved", "dissolved_at", "cause", *COUNTERS):
        same = explanation.summary[column] == row[column] or (
            pd.isna(explanation.summary[column]) and pd.isna(row[column]))
        assert same, column
    story = explanation.story
    assert story.startswith(scenario.name)
    assert scenario.members[0].name in story
    if row["dissolved"]:
        assert f"In month {int(row['dissolved_at'])}," in story
        assert f"({row['cause']} collapse:" in story
        assert "partnership dissolved" in story and "still running" not in story
    else:
        assert "still running" in story and "partnership dissolved" not in story


def test_the_explained_runs_include_dissolutions_and_a_survivor():
    outcomes = {bool(_batch_row(_shipped(name), replicate)["dissolved"])
                for name, replicate in EXPLAINED}
    assert outcomes == {True, False}


def test_a_faith_collapse_is_told_as_of_intra_organisational_origin():
    explanation = explain(FOR_SHOW, seed=0, replicate=1)
    row = _batch_row(FOR_SHOW, 1)
    assert row["dissolved"] and row["cause"] == "faith"
    assert f"In month {int(row['dissolved_at'])}," in explanation.story
    assert "faith in the collaboration" in explanation.story
    assert "(faith collapse: intra-organisational origin)" in explanation.story


@pytest.mark.parametrize(("name", "replicate"), EXPLAINED)
def test_the_event_log_adds_up_to_the_summary_counters(name, replicate):
    explanation = explain(_shipped(name), seed=0, replicate=replicate)
    events, summary = explanation.events, explanation.summary
    assert list(events.columns) == list(cmo_sim.abm.model.EVENT_COLUMNS)

    def count(mechanism, outcome=None):
        rows = events[events["mechanism"] == mechanism]
        return len(rows if outcome is None else rows[rows["outcome"] == outcome])

    assert count("conflict") == summary["conflicts"]
    assert count("conflict", "constructive") == summary["constructive"]
    assert count("conflict", "destructive") == summary["destructive"]
    assert count("task", "success") == summary["successes"]
    assert count("task", "failure") == summary["failures"]
    assert count("domination") == summary["dominations"]
    assert count("exit") == summary["exits"]
    assert count("dissolution") == int(summary["dissolved"])
    assert count("join") == summary["joins"]
    assert count("completion") == int(summary["end_state"] == "completed")
    exits = events[events["mechanism"] == "exit"]
    assert (exits["value"] < exits["threshold"]).all()
    assert set(exits["outcome"]) <= {"trust", "faith"}
    assert events["step"].is_monotonic_increasing
    # Every event cites the rules behind it; a form's own machinery (a join, the end of a
    # fixed term) cites the rules at its site, of which the default theory has none.
    machinery = events["mechanism"].isin(["join", "completion"])
    for rules in events.loc[(events["mechanism"] != "timeline") & ~machinery, "rules"]:
        cited = rules.split(", ")
        assert cited and set(cited) <= set(THEORY.ids), rules
    assert (events.loc[machinery, "rules"] == "").all()


@pytest.mark.parametrize(("name", "replicate"), EXPLAINED)
def test_each_event_carries_its_own_change_which_adds_up_to_the_trust_account(name, replicate):
    # The trust account (summary columns, mean over pairs summed over months) is computed
    # apart from the log; an event's d_trust is its own part of the month's change, so the
    # task events add up to the task account exactly, and in a dyad (two ordered pairs, each
    # conflict's d_trust the mean of its two) the conflicts to the conflict account. A month's
    # whole change repeated on every row, as before, would count each change many times.
    explanation = explain(_shipped(name), seed=0, replicate=replicate)
    events, summary = explanation.events, explanation.summary
    tasks = events[events["mechanism"] == "task"]
    assert tasks["d_trust"].sum() == pytest.approx(
        summary["trust_gained_task"] + summary["trust_lost_task"], abs=1e-9)
    conflicts = events[events["mechanism"] == "conflict"]
    if _shipped(name).n_members == 2:
        assert conflicts["d_trust"].sum() == pytest.approx(
            summary["trust_gained_conflict"] + summary["trust_lost_conflict"], abs=1e-9)
    # A constructive resolution gains trust and costs no faith; a destructive one loses trust.
    constructive = conflicts["outcome"] == "constructive"
    assert (conflicts.loc[constructive, "d_trust"] >= 0).all()
    assert (conflicts.loc[constructive, "d_faith"] == 0).all()
    assert (conflicts.loc[~constructive, "d_trust"] <= 0).all()
    # Only the rules that acted are cited: the success loop with successes only (and with
    # every success that moved trust), the failure loop likewise with failures, a
    # destructive conflict's faith cost never with a constructive one.
    cited = tasks["rules"].str.split(", ")
    success, moved = tasks["outcome"] == "success", tasks["d_trust"] != 0
    assert not any("trust.failure_loop" in r for r in cited[success])
    assert not any("trust.success_loop" in r for r in cited[~success])
    assert all("trust.success_loop" in r for r in cited[success & moved])
    assert all("trust.failure_loop" in r for r in cited[~success & moved])
    assert not any("faith.destructive_conflict" in r
                   for r in conflicts.loc[constructive, "rules"])


def test_the_log_records_timeline_changes_and_member_fallback_names():
    scenario = cmo_sim.load_scenario({
        "name": "turnover", "leadership": 0.8,
        "members": [{}, {}],
        "timeline": [{"step": 6, "changes": {"leadership": 0.2, "members[1].resources": 0.3}}],
    })
    explanation = explain(scenario, seed=0, replicate=0, steps=12)
    timeline = explanation.events[explanation.events["mechanism"] == "timeline"]
    assert timeline["step"].tolist() == [6]
    assert "leadership: 0.8 -> 0.2" in timeline["detail"].iloc[0]
    assert "member 1 resources: 0.5 -> 0.3" in timeline["detail"].iloc[0]
    assert "member 0, member 1" in explanation.story


def test_top_level_explain_is_the_mesa_engines_and_imports_mesa_lazily():
    import subprocess
    import sys

    code = (
        "import sys, cmo_sim; assert 'mesa' not in sys.modules; "
        "e = cmo_sim.explain({'members': [{}, {}]}, seed=0, replicate=1, steps=24); "
        "assert 'mesa' in sys.modules; print(e.summary['dissolved_at'], e.summary['dissolved'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    import cmo_sim

    expected = cmo_sim.simulate({"members": [{}, {}]}, runs=2, steps=24).summary
    at, dissolved = done.stdout.split()
    assert dissolved == str(bool(expected.loc[1, "dissolved"]))
    assert at == str(expected.loc[1, "dissolved_at"])  # nan if it lasted


def test_explain_tells_each_form_s_ending():
    # A fixed term completes with its result; a struggling merger is told as stuck; a
    # de-merger is told as the merger being reversed (its members never left).
    buddy = cmo_sim.explain(_shipped("buddying"), replicate=0)
    result = "achieved" if buddy.summary["result"] == "achieved" else "not achieved"
    assert buddy.summary["end_state"] == "completed"
    assert f"The fixed term ended in month 23 and the turnaround was {result}" in buddy.story
    assert set(buddy.events["mechanism"]) >= {"completion"}
    merged = cmo_sim.simulate(_shipped("mandated_merger"), runs=200, seed=0).summary
    stuck = int(merged.index[merged.end_state == "struggling"][0])
    story = cmo_sim.explain(_shipped("mandated_merger"), replicate=stuck).story
    assert "struggling: stuck in collaborative inertia" in story
    split = int(merged.index[merged.dissolved][0])
    reversed_ = cmo_sim.explain(_shipped("mandated_merger"), replicate=split)
    assert reversed_.summary["exits"] == 0 and reversed_.summary["dissolved"]
    assert "the merger was reversed: a de-merger dissolved it" in reversed_.story
