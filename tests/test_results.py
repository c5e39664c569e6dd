"""simulate(): arguments, Results shape, recording and storage."""

from __future__ import annotations

import numpy as np
import pytest

import cmo_sim
from cmo_sim.results import SUMMARY_COLUMNS

TYPICAL = cmo_sim.load_scenario({"name": "typical", "members": [{}, {}]})
NET = cmo_sim.load_scenario({"name": "net", "members": [{}, {}, {}, {}]})


def test_public_api_is_exactly_all():
    public = {name for name in dir(cmo_sim) if not name.startswith("_")}
    modules = {"core", "params", "results", "rng", "scenario", "theory", "plot", "cli", "abm",
               "testing", "analysis", "sweep", "calibrate", "app"}
    assert public - modules == set(cmo_sim.__all__)
    # Each public name is the object of the module that implements it (not a stand-in).
    from cmo_sim import (
        _compare,
        _errors,
        _explain,
        _simulate,
        params,
        results,
        scenario,
        sweep,
        theory,
    )

    homes = {"compare": _compare, "Comparison": _compare, "ScenarioError": _errors,
             "TheoryError": _errors, "TooLargeError": _errors, "explain": _explain,
             "StoreIntegrityError": sweep, "StoreLockedError": sweep, "StoreWarning": sweep,
             "simulate": _simulate, "Params": params, "compile_params": params,
             "Results": results, "open_results": results, "Member": scenario,
             "Scenario": scenario, "TimelineEvent": scenario, "load_scenario": scenario,
             "Sweep": sweep, "SweepResults": sweep, "open_sweep": sweep, "run_sweep": sweep,
             "Rule": theory, "Theory": theory, "load_theory": theory, "check_theory": theory}
    assert set(homes) == set(cmo_sim.__all__)
    for name, home in homes.items():
        assert getattr(cmo_sim, name) is getattr(home, name), name
        assert callable(getattr(cmo_sim, name)), name


def test_summary_columns_and_one_row_per_run():
    res = cmo_sim.simulate([TYPICAL, NET], runs=30, steps=36)
    s = res.summary
    assert list(s.columns) == list(SUMMARY_COLUMNS)
    assert len(s) == 60 and list(s.run) == list(range(60))
    assert list(s.scenario.unique()) == ["typical", "net"]
    assert set(s.cause) <= {"trust", "faith", "none"}
    assert (s.dissolved_at.isna() == ~s.dissolved).all()  # never dissolved: missing
    assert s.dissolved_at.dtype == np.float64
    assert ((s.cause == "none") == ~s.dissolved).all()
    assert (s.dissolved_at.dropna() < 36).all()
    assert s.n_members.tolist() == [2] * 30 + [4] * 30
    assert res.trajectories is None


def test_trajectories_dims_and_every_k_steps():
    res = cmo_sim.simulate([TYPICAL, NET], runs=5, steps=24, record=6)
    traj = res.trajectories
    assert traj["step"].values.tolist() == [0, 6, 12, 18, 24]
    assert traj["trust"].dims == ("run", "step", "member")
    assert traj["synergy"].dims == ("run", "step")
    for name in ("trust", "faith", "synergy", "inertia", "ambition", "performance",
                 "conflict_events", "active"):
        assert name in traj
    np.testing.assert_allclose(traj["inertia"], 1 - traj["synergy"])
    # Dyads are padded to 4 members: padding is NaN / inactive.
    dyad = traj.sel(run=0)
    assert np.isnan(dyad["trust"].sel(member=[2, 3])).all()
    assert not dyad["active"].sel(member=[2, 3]).any()
    full = cmo_sim.simulate([TYPICAL, NET], runs=5, steps=24, record="trajectory").trajectories
    assert full.sizes["step"] == 25
    assert full.sel(step=[0, 6, 12, 18, 24]).drop_vars([]).synergy.equals(traj.synergy)
    # Final recorded performance equals the summary's.
    np.testing.assert_array_equal(full["performance"].sel(step=24), res.summary.performance)


def test_performance_is_nondecreasing_and_dissolved_runs_freeze():
    res = cmo_sim.simulate(TYPICAL, runs=200, steps=60, record="trajectory")
    traj, s = res.trajectories, res.summary
    assert (np.diff(traj["performance"].values, axis=1) >= 0).all()
    gone = s.index[s.dissolved].to_numpy()
    assert gone.size > 0
    for r in gone[:20]:
        at = int(s.dissolved_at[r]) + 1  # recorded step after the dissolving month
        after = traj["synergy"].values[r, at:]
        assert (after == after[0]).all()
        assert (traj["conflict_events"].values[r, at + 1:] == 0).all()


@pytest.mark.parametrize("kwargs,field", [
    ({"runs": 0}, "runs"), ({"runs": 2.5}, "runs"), ({"steps": -1}, "steps"),
    ({"record": "daily"}, "record"), ({"record": 0}, "record"), ({"engine": "gpu"}, "engine"),
    ({"seed": -3}, "seed"), ({"seed": "x"}, "seed"), ({"chunk_runs": 0}, "chunk_runs"),
    ({"theory": 42}, "theory"),
])
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        cmo_sim.simulate(TYPICAL, **kwargs)


def test_scenarios_as_paths_mappings_and_duplicates(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(TYPICAL.to_yaml())
    res = cmo_sim.simulate([path, {"members": [{}, {}]}, TYPICAL], runs=3, steps=5)
    assert list(res.summary.scenario.unique()) == ["typical#0", "scenario", "typical#2"]
    with pytest.raises(cmo_sim.ScenarioError, match="members"):
        cmo_sim.simulate({"members": [{}]}, runs=3)
    with pytest.raises(ValueError, match="scenarios"):
        cmo_sim.simulate([], runs=3)


def test_parquet_round_trip(tmp_path):
    res = cmo_sim.simulate([TYPICAL, NET], runs=8, steps=12, record=4)
    out = res.to_parquet(tmp_path / "res")
    assert sorted(p.name for p in out.iterdir()) == [
        "members.parquet", "meta.json", "summary.parquet", "trajectories.parquet"]
    back = cmo_sim.open_results(out)
    assert back.summary.equals(res.summary)
    np.testing.assert_array_equal(back.trajectories["synergy"], res.trajectories["synergy"])
    np.testing.assert_array_equal(back.trajectories["active"], res.trajectories["active"])
    assert back.meta["seed"] == 0 and back.meta["steps"] == 12
    assert cmo_sim.load_scenario(back.meta["scenarios"][1]) == NET


def test_zarr_round_trip(tmp_path):
    res = cmo_sim.simulate([TYPICAL, NET], runs=8, steps=12, record=4)
    out = res.to_zarr(tmp_path / "res.zarr")
    back = cmo_sim.open_results(out)
    assert back.summary[list(SUMMARY_COLUMNS)].equals(res.summary)
    np.testing.assert_array_equal(back.trajectories["trust"], res.trajectories["trust"])
    assert back.meta["runs_per_scenario"] == 8


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    res = cmo_sim.simulate(TYPICAL, runs=4, steps=6)
    target = tmp_path / "res"
    res.to_parquet(target)
    before = sorted(p.name for p in target.iterdir())

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(res.summary), "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        res.to_parquet(target)
    assert sorted(p.name for p in target.iterdir()) == before  # the old results survive
    assert [p.name for p in tmp_path.iterdir()] == ["res"]    # no temporary leftovers


def test_results_say_which_theory_made_them(tmp_path):
    default = cmo_sim.load_theory()
    changed = default.without("trust.success_loop").with_baseline(trust_rate=0.07)
    plain = cmo_sim.simulate(TYPICAL, runs=3, steps=6)
    res = cmo_sim.simulate(TYPICAL, runs=3, steps=6, theory=changed)
    assert plain.meta["theory"] == "realist-review-default"
    assert plain.meta["theory_changes"] == {"weights": {}, "signs": {}, "baseline": {}}
    assert res.meta["theory"] == "realist-review-default (modified)"
    assert res.meta["theory_hash"] != plain.meta["theory_hash"]
    assert res.meta["theory_changes"] == {
        "weights": {"trust.success_loop": [1.0, 0.0]}, "signs": {},
        "baseline": {"trust_rate": [default.baseline["trust_rate"], 0.07]},
    }
    # The record survives saving, in both formats.
    for saved in (res.to_parquet(tmp_path / "p"), res.to_zarr(tmp_path / "z.zarr")):
        again = cmo_sim.open_results(saved)
        assert again.meta["theory"] == res.meta["theory"]
        assert again.meta["theory_hash"] == res.meta["theory_hash"]
        assert again.meta["theory_changes"] == res.meta["theory_changes"]
