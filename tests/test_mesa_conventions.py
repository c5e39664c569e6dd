"""The Mesa model as Mesa users expect it: contexts are keyword arguments, and ``mesa.batch_run``
sweeps give rows whose final step is the run's end, as the numpy engine reports it."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest
from _own_theory import OWN_THEORY

import cmo_sim
from cmo_sim.abm import PartnershipModel
from cmo_sim.scenario import PARTNERSHIP_FIELDS, Scenario

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import doc_blocks  # noqa: E402

SCENARIOS = ROOT / "scenarios"
ALLIANCE = SCENARIOS / "voluntary_alliance.yaml"
TOLERANCE = 1e-9
THEORY = cmo_sim.load_theory(OWN_THEORY)


def _sweep(parameters, max_steps=120, **kwargs) -> pd.DataFrame:
    rows = mesa.batch_run(PartnershipModel, parameters, max_steps=max_steps,
                          display_progress=False, **kwargs)
    return pd.DataFrame(rows)


def _final_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per run (agent rows repeat the model's values), the run's last step."""
    last = rows.groupby("RunId")["Step"].transform("max")
    return rows[rows["Step"] == last].drop_duplicates("RunId").set_index("RunId")


def _assert_rows_are_the_summary(final: pd.DataFrame, summary: pd.DataFrame, steps: int):
    """Each final row is that run's end in ``simulate``: dissolution, month, performance, trust."""
    assert len(final) == len(summary)
    for (_, row), (_, expected) in zip(final.iterrows(), summary.iterrows(), strict=True):
        assert bool(row["dissolved"]) == bool(expected["dissolved"])
        if expected["dissolved"]:
            month = int(expected["dissolved_at"])
            assert row["dissolved_at"] == month
            assert row["months"] == month + 1 and row["Step"] == month
        else:
            assert row["dissolved_at"] == -1
            assert row["months"] == steps and row["Step"] == steps - 1
        assert row["performance"] == pytest.approx(expected["performance"], abs=TOLERANCE)
        assert row["mean_trust"] == pytest.approx(expected["trust_final"], abs=TOLERANCE)
        assert row["mean_faith"] == pytest.approx(expected["faith_final"], abs=TOLERANCE)
        assert row["synergy"] == pytest.approx(expected["synergy_final"], abs=TOLERANCE)


# -- batch_run ------------------------------------------------------------------------------------
def test_a_sweep_over_replicates_ends_each_run_where_simulate_does():
    runs = 24
    rows = _sweep({"scenario": str(ALLIANCE), "replicate": range(runs)})
    final = _final_rows(rows).sort_values("replicate")
    summary = cmo_sim.simulate(ALLIANCE, runs=runs, seed=0, steps=120).summary
    assert 0 < summary["dissolved"].sum() < runs  # both ways of ending are compared
    _assert_rows_are_the_summary(final, summary, 120)
    assert final["dissolved"].mean() == summary["dissolved"].mean()
    assert (final["scenario"] == "voluntary_alliance").all()
    # one row per member at the final step (agent reporters)
    assert rows.groupby("RunId").size().min() == 2


def test_a_sweep_over_contexts_is_the_scenario_with_those_values():
    values, runs, steps = [0.1, 0.9], 6, 60
    rows = _sweep({"scenario": str(ALLIANCE), "leadership": values, "conflict_resolution": [0.3],
                   "replicate": range(runs), "seed": 5, "steps": steps})
    final = _final_rows(rows)
    base = cmo_sim.load_scenario(ALLIANCE)
    for value in values:
        scenario = base.with_values({"leadership": value, "conflict_resolution": 0.3})
        summary = cmo_sim.simulate(scenario, runs=runs, seed=5, steps=steps).summary
        mine = final[final["leadership"] == value].sort_values("replicate")
        _assert_rows_are_the_summary(mine, summary, steps)


def test_a_sweep_over_contexts_alone_runs_the_typical_partnership():
    rows = _sweep({"leadership": [0.2, 0.8], "replicate": range(3), "steps": 36}, max_steps=36)
    final = _final_rows(rows)
    typical = cmo_sim.load_scenario({"members": [{}, {}]})
    for value in (0.2, 0.8):
        summary = cmo_sim.simulate(typical.with_values({"leadership": value}), runs=3,
                                   steps=36).summary
        _assert_rows_are_the_summary(final[final["leadership"] == value], summary, 36)


def test_a_sweep_over_scenario_objects_gives_their_names():
    scenarios = [cmo_sim.load_scenario(SCENARIOS / f"{name}.yaml")
                 for name in ("mandated_merger", "savings_sequestered")]
    rows = _sweep({"scenario": scenarios, "replicate": range(4), "steps": 48}, max_steps=60)
    assert rows["scenario"].map(type).eq(str).all()
    final = _final_rows(rows)
    for scenario in scenarios:
        summary = cmo_sim.simulate(scenario, runs=4, steps=48).summary
        _assert_rows_are_the_summary(final[final["scenario"] == scenario.name], summary, 48)


def test_the_sweep_rows_can_be_stored(tmp_path):
    rows = _sweep({"scenario": [cmo_sim.load_scenario(ALLIANCE)], "leadership": [0.4],
                   "replicate": range(2), "steps": 12}, max_steps=12)
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), rows)


def test_every_month_of_a_sweep_is_the_state_at_its_end():
    steps = 24
    rows = _sweep({"scenario": str(SCENARIOS / "savings_sequestered.yaml"), "replicate": [2],
                   "steps": steps}, max_steps=steps, data_collection_period=1)
    per_month = rows.drop_duplicates("Step").set_index("Step")
    recorded = cmo_sim.simulate(SCENARIOS / "savings_sequestered.yaml", runs=3, steps=steps,
                                record="trajectory").trajectories.sel(run=2)
    months = per_month["months"].to_numpy()
    assert (months == per_month.index + 1).all()  # row Step k: month k at its end
    for name in ("synergy", "performance"):
        np.testing.assert_allclose(per_month[name], recorded[name].sel(step=months).values,
                                   rtol=0, atol=TOLERANCE)


def test_a_scenario_given_alone_in_a_sweep_is_refused_with_the_way_out():
    with pytest.raises(cmo_sim.ScenarioError, match=r"\{'scenario': \[scenario\]\}"):
        _sweep({"scenario": cmo_sim.load_scenario(ALLIANCE)}, max_steps=2)


# -- keyword arguments ----------------------------------------------------------------------------
def test_every_partnership_context_is_a_keyword_with_its_typical_default():
    parameters = inspect.signature(PartnershipModel).parameters
    for name in PARTNERSHIP_FIELDS:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert parameters[name].default == Scenario.model_fields[name].default, name
    assert list(parameters)[0] == "scenario"  # still the one positional argument
    for name in ("members", "theory", "seed", "replicate", "steps", "params", "collect"):
        assert name in parameters
    assert not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters.values())
    keywords = PartnershipModel.context_keywords(THEORY)
    assert set(keywords) == {*PARTNERSHIP_FIELDS, "liaison_turnover"}
    assert (keywords["liaison_turnover"].low, keywords["liaison_turnover"].high) == (0.0, 1.0)


def test_without_a_scenario_the_keywords_make_the_typical_partnership():
    model = PartnershipModel(steps=6)
    assert model.scenario_spec == cmo_sim.load_scenario({"members": [{}, {}]})
    model = PartnershipModel(members=4, pace=0.9, steps=6)
    assert model.scenario_spec.n_members == 4 and model.scenario_spec.pace == 0.9
    members = [{"name": "Small", "size": 200}, cmo_sim.Member(name="Large", size=5000),
               {"name": "Third", "resources": 0.9}]
    model = PartnershipModel(members=members, steps=6)
    assert [m.name for m in model.members] == ["Small", "Large", "Third"]
    assert model.scenario_spec.members[1].size == 5000


def test_keyword_contexts_override_the_scenario_and_match_simulate():
    base = cmo_sim.load_scenario(SCENARIOS / "leadership_turnover.yaml")
    model = PartnershipModel(base, communication=0.2, history=-0.5, seed=3, replicate=1,
                             steps=60)
    changed = base.with_values({"communication": 0.2, "history": -0.5})
    assert model.scenario_spec == changed
    assert model.scenario_spec.timeline == base.timeline  # the rest comes from the scenario
    while model.running:
        model.step()
    expected = cmo_sim.simulate(changed, runs=2, seed=3, steps=60).summary.iloc[1]
    assert model.performance == pytest.approx(expected["performance"], abs=TOLERANCE)
    assert model.mean_trust == pytest.approx(expected["trust_final"], abs=TOLERANCE)
    # members replace the scenario's own; the other contexts stay the scenario's
    model = PartnershipModel(ALLIANCE, members=3, steps=6)
    assert model.scenario_spec.n_members == 3
    assert model.scenario_spec.leadership == cmo_sim.load_scenario(ALLIANCE).leadership


def test_a_context_the_theory_declares_is_a_keyword():
    model = PartnershipModel(ALLIANCE, theory=THEORY, liaison_turnover=0.6, replicate=1,
                             steps=48)
    assert model.scenario_spec.contexts == {"liaison_turnover": 0.6}
    while model.running:
        model.step()
    scenario = cmo_sim.load_scenario(ALLIANCE).with_values({"contexts.liaison_turnover": 0.6})
    expected = cmo_sim.simulate(scenario, theory=THEORY, runs=2, steps=48).summary.iloc[1]
    assert model.performance == pytest.approx(expected["performance"], abs=TOLERANCE)
    assert model.mean_trust == pytest.approx(expected["trust_final"], abs=TOLERANCE)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"leadership": 1.5}, r"leadership=1\.5 is out of range \(allowed: 0 \.\. 1\)"),
    ({"history": -2}, r"history=-2\.0 is out of range \(allowed: -1 \.\. 1\)"),
    ({"leadership": float("nan")}, "leadership=nan is out of range"),
    ({"leadership": "high"}, "leadership='high' is not a number"),
    ({"mandated": 0.5}, "mandated=0.5 is not a boolean"),
    ({"leadersip": 0.5}, "unknown keyword argument 'leadersip'; did you mean 'leadership'"),
    ({"replicates": 3}, "unknown keyword argument 'replicates'; did you mean 'replicate'"),
    ({"size": 300}, "'size' is a member attribute"),
    ({"members": 1}, "members=1 is not allowed"),
    ({"members": 17}, "members=17 is not allowed"),
    ({"members": {"size": 3}}, "is not a count or a list of members"),
    ({"members": [{"size": 3}, 4]}, r"members\[1\]: 4 is not a mapping"),
    ({"members": [{"sise": 3}, {}]}, "sise"),
    ({"liaison_turnover": 0.5}, "unknown keyword argument 'liaison_turnover'"),
])
def test_bad_keywords_are_named_before_any_work(kwargs, message, monkeypatch):
    import cmo_sim.abm.model as module

    def no_work(*args, **kw):
        raise AssertionError("compiled despite a bad keyword")

    monkeypatch.setattr(module, "compile_params", no_work)
    with pytest.raises(cmo_sim.ScenarioError, match=message):
        PartnershipModel(**kwargs)


def test_bad_keywords_of_a_declared_context_are_named():
    with pytest.raises(cmo_sim.ScenarioError, match=r"liaison_turnover=1\.5 is out of range"):
        PartnershipModel(theory=THEORY, liaison_turnover=1.5)
    with pytest.raises(cmo_sim.ScenarioError, match="'formal_process' is a member-level"):
        PartnershipModel(theory=THEORY, formal_process=1.0)
    with pytest.raises(cmo_sim.ScenarioError, match="did you mean 'liaison_turnover'"):
        PartnershipModel(theory=THEORY, liaison_turnovr=0.5)


def test_numpy_values_from_a_grid_are_taken():
    model = PartnershipModel(leadership=np.float64(0.25), members=np.int64(3),
                             mandated=np.bool_(True), steps=np.int64(4))
    assert model.scenario_spec.leadership == 0.25 and model.scenario_spec.mandated is True


def test_params_and_keywords_do_not_mix():
    params = cmo_sim.compile_params([cmo_sim.load_scenario(ALLIANCE)], replicates=1)
    with pytest.raises(ValueError, match="not both"):
        PartnershipModel(params=params, leadership=0.3)
    with pytest.raises(ValueError, match="not both"):
        PartnershipModel(params=params, members=3)


# -- the data collector ---------------------------------------------------------------------------
def test_the_collector_keeps_start_up_apart_and_the_frames_as_usual():
    model = PartnershipModel(ALLIANCE, steps=5)
    while model.running:
        model.step()
    collector = model.datacollector
    assert len(collector.model_vars["synergy"]) == 5  # entry k: month k at its end
    assert collector.model_vars["synergy"][-1] == model.synergy
    assert collector.initial["months"] == 0
    frame = collector.get_model_vars_dataframe()
    assert frame["months"].tolist() == [0, 1, 2, 3, 4, 5]
    assert frame["synergy"].iloc[0] == model.base["synergy_initial"]
    agents = collector.get_agent_vars_dataframe()
    assert sorted(agents.index.get_level_values("Step").unique()) == [0, 1, 2, 3, 4, 5]


# -- the docs page --------------------------------------------------------------------------------
def test_the_mesa_page_runs_and_shows_what_its_blocks_print():
    page = ROOT / "docs" / "mesa.md"
    assert len(doc_blocks.shown(page)) >= 4
    assert doc_blocks.check(page) == []
