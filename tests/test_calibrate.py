"""cmo_sim.calibrate: targets, measures, validation before simulation, ABC-SMC recovery of a
known constant, atomic saving, the CLI and the docs page."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

import cmo_sim
import cmo_sim.calibrate._run as calibrate_run
from cmo_sim.calibrate import (
    END_STATES,
    MEASURES,
    CalibrationError,
    CalibrationResult,
    Target,
    calibrate,
    load_targets,
)
from cmo_sim.calibrate._measures import record_for, simulated_values
from cmo_sim.cli import main
from cmo_sim.results import Results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import doc_blocks  # noqa: E402

ALLIANCE = cmo_sim.load_scenario(ROOT / "scenarios" / "voluntary_alliance.yaml")
NAME = ALLIANCE.name


def target(**fields) -> dict:
    """A valid target as a mapping, with ``fields`` replaced."""
    base = {"scenario": NAME, "measure": "dissolved_by", "month": 12, "value": 0.1,
            "tolerance": 0.05, "source": "synthetic"}
    return {**base, **fields}


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the calibration simulates anything."""
    def refuse(*args, **kwargs):
        raise AssertionError("simulate was called before the inputs were checked")

    monkeypatch.setattr(calibrate_run, "simulate", refuse)


@pytest.fixture(scope="module")
def tiny() -> CalibrationResult:
    """A tiny calibration (seconds): one constant and one rule weight, four targets."""
    targets = [Target(NAME, "dissolved_by", 12, 0.12, 0.05, "synthetic"),
               Target(NAME, "hazard", 12, 0.12, 0.05, "synthetic"),
               Target(NAME, "in_place", 12, 0.85, 0.1, "synthetic"),
               Target(NAME, "share", 6, 0.5, 0.2, "synthetic", state="thriving")]
    return calibrate(None, [ALLIANCE], targets,
                     vary={"faith_initial": (0.4, 0.8), "rule:trust.success_loop": (0.0, 2.0)},
                     runs=20, steps=12, population=6, generations=2, seed=3, predictive=4,
                     progress=False)


# -- the public names ---------------------------------------------------------------------------
def test_the_package_exports_exactly_its_public_names():
    import cmo_sim.calibrate as package

    public = {name for name, value in vars(package).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public == set(package.__all__)
    assert END_STATES == ("thriving", "struggling", "dissolved", "completed")
    assert set(MEASURES) == {"in_place", "share", "dissolved_by", "hazard", "median_ended",
                             "achieved"}
    assert issubclass(CalibrationError, ValueError)


# -- measures -----------------------------------------------------------------------------------
def _results(dissolved_at, ended_at=None, end_state=None, regime=None) -> Results:
    """Results of one scenario whose runs ended at the given 0-based steps (NaN: in place)."""
    dissolved_at = np.asarray(dissolved_at, dtype=float)
    frame = pd.DataFrame({"run": np.arange(dissolved_at.size), "scenario": NAME,
                          "dissolved": ~np.isnan(dissolved_at), "dissolved_at": dissolved_at})
    if ended_at is not None:
        frame["ended_at"] = np.asarray(ended_at, dtype=float)
        frame["end_state"] = end_state
    traj = None
    if regime is not None:
        codes = np.asarray(regime, dtype=np.int8)
        traj = xr.Dataset({"regime": (("run", "step"), codes)},
                          coords={"run": frame["run"].to_numpy(),
                                  "step": np.arange(codes.shape[1]) * 6})
    return Results(frame, traj)


def _t(measure, month, state=None) -> Target:
    return Target(NAME, measure, month, 0.5 if measure != "median_ended" else 1.0, 0.1, "test",
                  state)


def test_measures_from_dissolution_months():
    # Ten runs: dissolved in (0-based) steps 0, 5, 11, 12, 20, 23, 30; three in place.
    res = _results([0, 5, 11, 12, 20, 23, 30, np.nan, np.nan, np.nan])
    targets = [_t("dissolved_by", 12), _t("dissolved_by", 24), _t("in_place", 12),
               _t("hazard", 24), _t("median_ended", 24), _t("share", 24, "dissolved"),
               _t("hazard", 36)]
    got = simulated_values(res, targets, steps=36)
    # hazard at 24: dissolved in steps 12..23 (3) among the 7 in place at month 12;
    # hazard at 36: 1 (step 30) among the 4 in place at month 24.
    assert got.tolist() == pytest.approx([0.3, 0.6, 0.7, 3 / 7, 11.5, 0.6, 1 / 4])
    none_ended = simulated_values(_results([np.nan, np.nan]), [_t("median_ended", 12)], 12)
    assert math.isnan(none_ended[0])


def test_measures_with_end_states_and_regimes():
    # The engine's end-state contract: ended_at covers completion, end_state names the state.
    ended = [3, 7, np.nan, 8, np.nan, np.nan]
    states = ["dissolved", "completed", "thriving", "dissolved", "struggling", "thriving"]
    regime = [[0, 2, 2], [1, 1, 3], [1, 0, 0], [0, 0, 2], [0, 1, 1], [0, 0, 0]]  # steps 0, 6, 12
    res = _results([3, np.nan, np.nan, 8, np.nan, np.nan], ended, states, regime)
    targets = [_t("in_place", 6), _t("in_place", 12), _t("share", 12, "completed"),
               _t("share", 6, "thriving"), _t("share", 6, "struggling"),
               _t("share", 12, "thriving"), _t("dissolved_by", 12), _t("median_ended", 12),
               _t("hazard", 12)]
    got = simulated_values(res, targets, steps=12)
    # Month 6: only run 0 has ended (step 3; run 1 completes in step 7): 5/6 in place; runs
    # 2 and 5 thrive and runs 1 and 4 struggle then (the regime), 3 is thriving.
    assert got.tolist() == pytest.approx([5 / 6, 0.5, 1 / 6, 3 / 6, 2 / 6, 2 / 6, 2 / 6, 7.0,
                                          2 / 6])
    # A share thriving before the last month is read from the regime at that month.
    assert record_for([_t("share", 6, "thriving"), _t("share", 12, "struggling")], 12) == 6
    assert record_for([_t("share", 24, "thriving"), _t("share", 36, "thriving"),
                       _t("dissolved_by", 7)], 120) == 12
    assert record_for([_t("share", 120, "thriving"), _t("hazard", 60)], 120) == "summary"


def test_measures_of_the_engine_add_up():
    # A voluntary alliance and a fixed-term one that completes at month 12, recorded every
    # 6 months: at every month each run is in exactly one end state, and the runs in place
    # are the thriving and the struggling ones (read from the regime before the last month,
    # from the summary at it).
    fixed = ALLIANCE.with_values({"name": "fixed", "form": "fixed_term", "term": 12})
    steps = 24
    res = cmo_sim.simulate([ALLIANCE, fixed], runs=200, steps=steps, seed=5, record=6)
    for name in (NAME, "fixed"):
        for month in (6, 12, 18, 24):
            share = {state: Target(name, "share", month, 0.5, 0.1, "t", state)
                     for state in END_STATES}
            in_place = Target(name, "in_place", month, 0.5, 0.1, "t")
            got = dict(zip([*END_STATES, "in_place"], simulated_values(
                res, [*share.values(), in_place], steps), strict=True))
            assert sum(got[s] for s in END_STATES) == pytest.approx(1.0), (name, month)
            assert got["in_place"] == pytest.approx(got["thriving"] + got["struggling"])
            assert got["in_place"] == pytest.approx(1 - got["dissolved"] - got["completed"])
    by_24 = simulated_values(res, [Target("fixed", "share", 24, 0.5, 0.1, "t", "completed"),
                                   Target(NAME, "share", 24, 0.5, 0.1, "t", "completed")], 24)
    assert by_24[0] > 0.3 and by_24[1] == 0.0  # only the fixed-term partnership completes
    # achieved: the completed runs whose result is achieved (turnaround), none before the term.
    rows = res.summary[res.summary.scenario == "fixed"]
    achieved = simulated_values(res, [Target("fixed", "achieved", 24, 0.5, 0.1, "t"),
                                      Target("fixed", "achieved", 11, 0.5, 0.1, "t")], 24)
    assert achieved[0] == pytest.approx((rows.result == "achieved").mean())
    assert 0.0 < achieved[0] < by_24[0]
    assert achieved[1] == 0.0  # the term ends in step 11: by month 11 (steps 0 .. 10), none


def test_the_distance_is_the_largest_miss_in_tolerances():
    observed, tolerance = np.array([0.2, 30.0]), np.array([0.05, 3.0])
    assert calibrate_run._distance(np.array([0.25, 36.0]), observed, tolerance) == \
        pytest.approx(2.0)
    assert calibrate_run._distance(np.array([0.1, 30.0]), observed, tolerance) == \
        pytest.approx(2.0)
    assert calibrate_run._distance(np.array([0.22, 29.0]), observed, tolerance) <= 1.0
    assert calibrate_run._distance(np.array([0.2, np.nan]), observed, tolerance) == \
        calibrate_run.MISSING_DISTANCE


# -- targets files ------------------------------------------------------------------------------
ROWS = [target(measure="dissolved_by", month=24, value=0.2, tolerance=0.04,
               source="Smith 2020, table 2"),
        target(measure="share", month=12, state="dissolved", value=0.1, tolerance=0.03,
               source="registry, 2019 cohort"),
        target(measure="median_ended", month=60, value=20.5, tolerance=3, source="expert, n=4")]


def test_yaml_csv_and_frame_targets_load_identically(tmp_path: Path):
    yaml_path = tmp_path / "t.yaml"
    yaml_path.write_text(yaml.safe_dump({"targets": ROWS}), encoding="utf-8")
    list_path = tmp_path / "list.yml"
    list_path.write_text(yaml.safe_dump(ROWS), encoding="utf-8")
    csv_path = tmp_path / "t.csv"
    pd.DataFrame(ROWS).to_csv(csv_path, index=False)
    from_yaml = load_targets(yaml_path)
    assert from_yaml == load_targets(csv_path) == load_targets(list_path)
    assert from_yaml == load_targets(pd.DataFrame(ROWS)) == load_targets(ROWS)
    assert from_yaml[1].state == "dissolved" and from_yaml[0].state is None
    assert from_yaml[2].month == 60 and isinstance(from_yaml[2].month, int)
    assert from_yaml[2].value == 20.5 and from_yaml[0].source == "Smith 2020, table 2"


def test_a_bad_row_of_a_file_is_named(tmp_path: Path):
    csv_path = tmp_path / "t.csv"
    pd.DataFrame([ROWS[0], {**ROWS[1], "tolerance": -1}]).to_csv(csv_path, index=False)
    with pytest.raises(CalibrationError, match=r"t\.csv: targets\[1\] \(line 3\)\.tolerance: "
                                               r"-1 is not allowed"):
        load_targets(csv_path)
    yaml_path = tmp_path / "t.yaml"
    yaml_path.write_text(yaml.safe_dump([ROWS[0], {**ROWS[0], "measure": "hazzard"}]))
    with pytest.raises(CalibrationError, match=r"t\.yaml: targets\[1\]\.measure: unknown "
                                               r"measure 'hazzard'; did you mean 'hazard'\?"):
        load_targets(yaml_path)
    with pytest.raises(CalibrationError, match=r"nothing\.yaml: no such targets file"):
        load_targets(tmp_path / "nothing.yaml")
    with pytest.raises(CalibrationError, match=r"ends in \.yaml, \.yml or \.csv"):
        load_targets(tmp_path / "t.txt")


# -- every bad input is refused before any simulation -------------------------------------------
BAD_TARGETS = [
    (target(scenario="voluntary_aliance"),
     r"targets\[1\]\.scenario: unknown scenario 'voluntary_aliance'; did you mean "
     r"'voluntary_alliance'\?"),
    (target(measure="survival"), r"targets\[1\]\.measure: unknown measure 'survival'"),
    (target(measure="share"), r"targets\[1\]\.state: missing"),
    (target(measure="share", state="thrivng"),
     r"targets\[1\]\.state: unknown end state 'thrivng'; did you mean 'thriving'\?"),
    (target(state="dissolved"), r"targets\[1\]\.state: 'dissolved' is given, but only"),
    (target(month=0), r"targets\[1\]\.month: 0 is not allowed \(at least 1\)"),
    (target(month=200), r"targets\[1\]\.month: 200 is beyond the simulated steps \(120\)"),
    (target(month=12.5), r"targets\[1\]\.month: 12\.5 is not a whole number"),
    (target(measure="hazard", month=6), r"targets\[1\]\.month: 6 is not allowed \(at least 12"),
    (target(tolerance=0), r"targets\[1\]\.tolerance: 0 is not allowed"),
    (target(tolerance=-0.1), r"targets\[1\]\.tolerance: -0\.1 is not allowed"),
    (target(tolerance=float("nan")), r"targets\[1\]\.tolerance: missing"),
    (target(value=float("nan")), r"targets\[1\]\.value: missing"),
    (target(value=float("inf")), r"targets\[1\]\.value: inf is not a finite number"),
    (target(value="0.3"), r"targets\[1\]\.value: '0\.3' is not a number"),
    (target(value=1.5), r"targets\[1\]\.value: 1\.5 is out of range"),
    (target(measure="median_ended", value=30), r"targets\[1\]\.value: 30 is out of range"),
    (target(source=""), r"targets\[1\]\.source: missing"),
    (target(source="   "), r"targets\[1\]\.source: missing"),
    ({k: v for k, v in target().items() if k != "source"}, r"targets\[1\]\.source: missing"),
    ({**target(), "tolerence": 0.1},
     r"targets\[1\]: unknown field 'tolerence'; did you mean 'tolerance'\?"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_TARGETS)
def test_bad_targets_are_refused_before_any_simulation(bad, message, no_simulation):
    with pytest.raises(CalibrationError, match=message):
        calibrate(None, [ALLIANCE], [target(), bad], vary={"faith_initial": (0.4, 0.8)},
                  runs=10, progress=False)


BAD_VARY = [
    ({"faith_initail": (0.4, 0.8)},
     r"vary\['faith_initail'\]: theory '.*' has no baseline constant 'faith_initail'; "
     r"did you mean 'faith_initial'\?"),
    ({"rule:trust.sucess_loop": (0, 2)},
     r"vary\['rule:trust\.sucess_loop'\]: .*no rule 'trust\.sucess_loop'; did you mean "
     r"'trust\.success_loop'\?"),
    ({"faith_initial": (0.8, 0.4)}, r"vary\['faith_initial'\]: low 0\.8 is not below high 0\.4"),
    ({"faith_initial": (0.5, 0.5)}, r"vary\['faith_initial'\]: low 0\.5 is not below high"),
    ({"faith_initial": (0.4, math.inf)}, r"vary\['faith_initial'\]\.high: inf is not finite"),
    ({"faith_initial": (math.nan, 0.8)}, r"vary\['faith_initial'\]\.low: nan is not finite"),
    ({"faith_initial": (0.5, 1.5)},
     r"vary\['faith_initial'\]\.high: 1\.5 is outside the allowed range of "
     r"baseline\.faith_initial \(allowed: 0 \.\. 1\)"),
    ({"rule:trust.success_loop": (-1, 2)},
     r"vary\['rule:trust\.success_loop'\]\.low: -1 is outside the allowed range of weight"),
    ({"faith_initial": 0.5}, r"vary\['faith_initial'\]: 0\.5 is not a pair"),
    ({"faith_initial": (0.4, 0.8), "baseline:faith_initial": (0.5, 0.6)},
     r"vary\['baseline:faith_initial'\]: the same parameter is varied twice"),
    ({}, r"vary: give a mapping of at least one parameter"),
]


@pytest.mark.parametrize(("vary", "message"), BAD_VARY)
def test_bad_priors_are_refused_before_any_simulation(vary, message, no_simulation):
    with pytest.raises(CalibrationError, match=message):
        calibrate(None, [ALLIANCE], [target()], vary=vary, runs=10, progress=False)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("runs", 0, r"runs: 0 is not allowed \(an int >= 1\)"),
    ("population", 2, r"population: 2 is not allowed \(an int >= 5\)"),
    ("generations", 0, r"generations: 0 is not allowed"),
    ("workers", 1.5, r"workers: 1\.5 is not allowed"),
    ("steps", 12, r"targets\[0\]\.month: 24 is beyond the simulated steps \(12\)"),
])
def test_bad_settings_are_refused_before_any_simulation(option, value, message, no_simulation):
    with pytest.raises(CalibrationError, match=message):
        calibrate(None, [ALLIANCE], [target(month=24)], vary={"faith_initial": (0.4, 0.8)},
                  **{option: value}, progress=False)


# -- recovery of a known constant ---------------------------------------------------------------
#: A dyad whose members lose faith (docs/model.md 6.3): when it ends depends strongly on the
#: members' initial faith, so a few targets pin ``faith_initial`` down.
HOLLOW = cmo_sim.load_scenario({
    "name": "hollow", "history": 0.6, "formalisation": 0.8, "authenticity": 0.1,
    "stakeholder_involvement": 0.1,
    "members": [{"staff_involvement": 0.1}, {"staff_involvement": 0.1}]})


def test_calibration_recovers_a_known_constant_from_synthetic_targets():
    # "Observations" made by the engine with faith_initial = 0.65 (the theory's value is 0.6)
    # on other random numbers and twenty times as many runs as each evaluation has.
    truth, steps = 0.65, 36
    observed = cmo_sim.simulate(HOLLOW, runs=2000, steps=steps, seed=12345,
                                theory=cmo_sim.load_theory().with_baseline(faith_initial=truth))
    probes = [Target("hollow", "median_ended", 36, 1.0, 1.0, "probe"),
              Target("hollow", "dissolved_by", 24, 0.5, 1.0, "probe")]
    median_month, share_by_24 = simulated_values(observed, probes, steps)
    source = "synthetic: the engine with faith_initial 0.65"
    targets = [Target("hollow", "median_ended", 36, float(median_month), 2.0, source),
               Target("hollow", "dissolved_by", 24, float(share_by_24), 0.08, source)]
    res = calibrate(None, [HOLLOW], targets, vary={"faith_initial": (0.3, 0.95)}, runs=100,
                    steps=steps, population=20, generations=4, seed=0, predictive=10,
                    progress=False)
    row = res.parameters.set_index("parameter").loc["faith_initial"]
    # Stated tolerance: the posterior median within 0.05 of the truth (the prior is 0.65
    # wide), and the 5-95% interval covers the truth and is far narrower than the prior.
    assert abs(row["median"] - truth) < 0.05
    assert row["q05"] <= truth <= row["q95"]
    assert row["q95"] - row["q05"] < 0.2
    assert res.posterior["weight"].sum() == pytest.approx(1.0)
    assert list(res.posterior.columns) == ["faith_initial", "weight"]
    assert res.posterior["faith_initial"].between(0.3, 0.95).all()
    epsilon = res.history["epsilon"].to_numpy()
    assert (np.diff(epsilon) < 0).all()
    assert epsilon[0] > 2.0 and epsilon[-1] < epsilon[0] / 2  # the prior misses, the fit less
    assert res.table["within_tolerance"].all()
    assert list(res.table["value"]) == [t.value for t in targets]
    assert list(res.table["source"]) == [source, source]
    assert len(res.predictive_draws) == 10 * len(targets)
    assert (res.predictive["q05"] <= res.predictive["q95"]).all()
    assert res.best_theory().baseline["faith_initial"] == pytest.approx(row["median"])
    assert res.settings["record"] == "summary"


def test_a_single_worker_calibration_is_repeatable_and_keeps_the_global_rng(tiny):
    import tempfile

    def databases() -> set[str]:
        return {p.name for p in Path(tempfile.gettempdir()).glob("cmo-sim-abc-*")}

    leftover = databases()
    np.random.seed(11)  # noqa: NPY002 - checking the caller's global stream is left alone
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    again = calibrate(None, [ALLIANCE], list(tiny.targets),
                      vary={"faith_initial": (0.4, 0.8), "rule:trust.success_loop": (0.0, 2.0)},
                      runs=20, steps=12, population=6, generations=2, seed=3, predictive=4,
                      progress=False)
    assert (np.random.get_state()[1] == before).all()  # noqa: NPY002
    assert databases() == leftover  # pyabc's database folder is removed
    pd.testing.assert_frame_equal(again.posterior, tiny.posterior)
    pd.testing.assert_frame_equal(again.table, tiny.table)
    assert tiny.settings["record"] == 6  # the share thriving at month 6 needs the regime
    assert tiny.table["measure"].tolist() == ["dissolved_by", "hazard", "in_place", "share"]
    assert tiny.table["simulated"].between(0, 1).all()
    theory = tiny.best_theory()
    median = tiny.median()
    assert theory.rule("trust.success_loop").weight == pytest.approx(
        median["rule:trust.success_loop"])
    assert theory.name.endswith("(modified)")


# -- saving -------------------------------------------------------------------------------------
def test_save_writes_tables_and_yaml_and_no_pickle(tiny, tmp_path: Path):
    out = tiny.save(tmp_path / "fit", figures=True)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["posterior.parquet", "parameters.parquet", "table.parquet",
                            "predictive.parquet", "predictive_draws.parquet",
                            "history.parquet", "settings.yaml", "summary.yaml",
                            "best_theory.yaml", "posterior.png", "predictive.png"])
    pd.testing.assert_frame_equal(pd.read_parquet(out / "posterior.parquet"), tiny.posterior)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "table.parquet"), tiny.table)
    settings = yaml.safe_load((out / "settings.yaml").read_text())
    assert settings["vary"] == {"faith_initial": [0.4, 0.8],
                                "rule:trust.success_loop": [0.0, 2.0]}
    assert settings["targets"][0]["source"] == "synthetic" and settings["seed"] == 3
    summary = yaml.safe_load((out / "summary.yaml").read_text())
    assert summary["parameters"]["faith_initial"]["median"] == pytest.approx(
        tiny.median()["faith_initial"])
    best = cmo_sim.load_theory(out / "best_theory.yaml")
    assert best.baseline["faith_initial"] == pytest.approx(tiny.median()["faith_initial"])
    assert not any(p.suffix in (".pkl", ".pickle") for p in out.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit"]  # no temporary folder left


def test_an_interrupted_save_leaves_nothing_half_written(tiny, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    original = pd.DataFrame.to_parquet
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tiny.save(tmp_path / "fit")
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temporary one
    # An earlier result in place is kept whole when the new save is interrupted.
    monkeypatch.setattr(pd.DataFrame, "to_parquet", original)
    tiny.save(tmp_path / "fit")
    before = {p.name: p.read_bytes() for p in (tmp_path / "fit").iterdir()}
    (tmp_path / "fit" / "summary.yaml").write_text("converged: old\n")
    before["summary.yaml"] = b"converged: old\n"
    calls.clear()
    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tiny.save(tmp_path / "fit")
    assert {p.name: p.read_bytes() for p in (tmp_path / "fit").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit"]


def test_save_does_not_replace_a_folder_that_is_not_a_calibration(tiny, tmp_path: Path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="does not hold a saved calibration"):
        tiny.save(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_plots_are_figures(tiny):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    posterior, predictive = tiny.plot()
    try:
        assert len([ax for ax in posterior.axes if ax.get_visible()]) == 2
        assert posterior.axes[0].get_xlabel() == "faith_initial"
        assert len(predictive.axes[0].get_yticklabels()) == len(tiny.targets)
    finally:
        plt.close(posterior)
        plt.close(predictive)


# -- the command line ---------------------------------------------------------------------------
def test_cli_calibrates_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump([target(month=12, value=0.15, tolerance=0.1)]))
    vary = tmp_path / "vary.yaml"
    vary.write_text("faith_initial: [0.4, 0.8]\n")
    out = tmp_path / "out"
    code = main(["calibrate", str(targets), "--scenario",
                 str(ROOT / "scenarios" / "voluntary_alliance.yaml"), "--vary", str(vary),
                 "--runs", "20", "--steps", "12", "--population", "5", "--generations", "1",
                 "--workers", "2", "--quiet", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "calibrated faith_initial to 1 targets: 20 runs per scenario, 12 months" in printed.out
    assert "dissolved_by" in printed.out and "within_tolerance" in printed.out
    assert (out / "calibration" / "posterior.parquet").is_file()
    assert (out / "calibration" / "predictive.png").read_bytes().startswith(b"\x89PNG")
    assert yaml.safe_load((out / "calibration" / "settings.yaml").read_text())["workers"] == 2


def test_cli_reports_a_bad_targets_file_in_one_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     no_simulation):
    targets = tmp_path / "targets.csv"
    pd.DataFrame([target(measure="dissolved")]).to_csv(targets, index=False)
    vary = tmp_path / "vary.yaml"
    vary.write_text("faith_initial: [0.4, 0.8]\n")
    code = main(["calibrate", str(targets), "--scenario",
                 str(ROOT / "scenarios" / "voluntary_alliance.yaml"), "--vary", str(vary),
                 "--quiet", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("cmo-sim: error: ")
    assert "targets.csv: targets[0] (line 2).measure: unknown measure 'dissolved'" in err
    assert not (tmp_path / "out").exists()


# -- the docs page ------------------------------------------------------------------------------
def test_the_calibration_page_runs():
    page = ROOT / "docs" / "calibration.md"
    langs = [lang for lang, *_ in doc_blocks.blocks(page.read_text(encoding="utf-8"))]
    assert langs.count("python") >= 2
    assert doc_blocks.check(page) == []
