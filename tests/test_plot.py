"""cmo_sim.plot: every plot renders headless and draws what it says; the gallery script runs."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.image as mimage  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

import cmo_sim  # noqa: E402
from cmo_sim import plot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = [ROOT / "scenarios" / f"{n}.yaml"
             for n in ("voluntary_alliance", "mandated_merger", "aco_alliance")]
NAMES = ["voluntary_alliance", "mandated_merger", "aco_alliance"]
STEPS = 36


@pytest.fixture(scope="module")
def results():
    return cmo_sim.simulate(SCENARIOS, runs=50, steps=STEPS, seed=3, record="trajectory")


@pytest.fixture(scope="module")
def grid():
    """A 3 x 2 grid over leadership and ambition_bias of the voluntary alliance."""
    base = cmo_sim.load_scenario(SCENARIOS[0])
    cells = list(itertools.product((0.0, 0.5, 1.0), (-0.8, 0.8)))
    variants = [base.with_values({"name": f"cell{k}", "leadership": a, "ambition_bias": b})
                for k, (a, b) in enumerate(cells)]
    summary = cmo_sim.simulate(variants, runs=30, steps=STEPS, seed=1).summary.copy()
    cell = summary["scenario"].str.removeprefix("cell").astype(int)
    summary["leadership"] = [cells[k][0] for k in cell]
    summary["ambition_bias"] = [cells[k][1] for k in cell]
    return summary


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def rendered(fig, tmp_path: Path, name: str = "figure.png") -> np.ndarray:
    """Save as PNG, read it back, and check it is not blank."""
    path = tmp_path / name
    fig.savefig(path, dpi=60)
    pixels = mimage.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert pixels[..., :3].var() > 0
    return pixels


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def same_colour(a, b) -> bool:
    return np.allclose(mcolors.to_rgb(a), mcolors.to_rgb(b))


# -- API ------------------------------------------------------------------------------------------
def test_public_api_is_exactly_all():
    public = {name for name in dir(plot) if not name.startswith("_")}
    assert public == set(plot.__all__)
    for name in ("trajectories", "compare", "survival", "regime_map", "sensitivity",
                 "theory_graph", "partnership"):
        assert callable(getattr(plot, name))
    assert len(plot.PALETTE) == 8 and plot.PALETTE[0] == "#0072B2"


# -- trajectories --------------------------------------------------------------------------------
def test_trajectories_draws_two_bands_and_a_median_per_scenario(results, tmp_path):
    fig = plot.trajectories(results, ("trust", "synergy"))
    rendered(fig, tmp_path)
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, ("trust", "synergy"), strict=True):
        assert len(ax.lines) == 3
        assert len(ax.collections) == 6
        assert ax.get_title() == name
        assert "month" in ax.get_xlabel() and "[0-1]" in ax.get_ylabel()
    assert legend_texts(fig.axes[-1]) == NAMES
    median = fig.axes[1].lines[0].get_ydata()
    expected = np.median(results.trajectories["synergy"].values[:50], axis=0)
    np.testing.assert_allclose(median, expected)


def test_trajectories_can_show_only_partnerships_still_in_place(results, tmp_path):
    traj = results.trajectories
    first = traj["scenario"].values == NAMES[0]
    synergy = traj["synergy"].values[first]
    alive = traj["active"].astype(int).sum("member").values[first] >= 2
    assert (~alive[:, -1]).any() and alive[:, -1].any()  # some dissolved, some still going
    fig = plot.trajectories(results, "synergy", alive_only=True)
    rendered(fig, tmp_path)
    median = fig.axes[0].lines[0].get_ydata()
    expected = [np.median(synergy[alive[:, m], m]) for m in range(synergy.shape[1])]
    np.testing.assert_allclose(median, expected)
    title = fig.axes[0].get_legend().get_title().get_text()
    assert "partnerships still in place at each month" in title
    default = plot.trajectories(results, "synergy")
    assert "all runs; dissolved ones at their last values" in (
        default.axes[0].get_legend().get_title().get_text())
    with pytest.raises(ValueError, match="alive_only: 'yes' is not allowed"):
        plot.trajectories(results, "synergy", alive_only="yes")


def test_trajectories_validates_arguments(results):
    with pytest.raises(ValueError, match="variables: 'trsut' is not allowed.*synergy"):
        plot.trajectories(results, ("trsut",))
    with pytest.raises(ValueError, match="by: 'colour' is not allowed.*scenario"):
        plot.trajectories(results, "trust", by="colour")
    with pytest.raises(ValueError, match="no trajectories recorded"):
        plot.trajectories(cmo_sim.simulate(SCENARIOS[0], runs=2, steps=5), "trust")
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="ax: .* needs a sequence of 2 Axes"):
        plot.trajectories(results, ("trust", "faith"), ax=ax)


# -- compare --------------------------------------------------------------------------------------
def test_compare_draws_a_box_and_a_strip_per_scenario(results, tmp_path):
    fig = plot.compare(results, "performance")
    rendered(fig, tmp_path)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert len(ax.collections) == 3  # strips
    assert len(ax.patches) == 3  # boxes
    assert ax.get_xlabel() == "cumulative performance [ambition units]"
    assert ax.get_ylabel() == "scenario"
    assert "performance" in ax.get_title()
    top = ax.collections[0].get_offsets()[:, 0]  # first scenario, drawn on top
    first = results.summary.query("scenario == 'voluntary_alliance'")["performance"]
    # Every run of the first scenario is drawn (50 runs, fewer than the strip's point budget).
    np.testing.assert_allclose(np.sort(top), np.sort(first.to_numpy()))


def test_compare_dissolved_at_annotates_the_dissolved_share(results, tmp_path):
    fig = plot.compare(results, "dissolved_at")
    rendered(fig, tmp_path)
    (ax,) = fig.axes
    shares = results.summary.groupby("scenario", sort=False)["dissolved"].mean()
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "dissolved"
    assert texts[1:] == [f"{s:.0%}" for s in shares]
    assert ax.get_xlim() == (0.0, STEPS)
    assert ax.get_xlabel() == "month of dissolution"
    strip = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    assert strip.min() >= 1 and strip.max() <= STEPS  # dissolved runs only, in months


def test_compare_dissolved_shows_shares_with_intervals(results, tmp_path):
    fig = plot.compare(results, "dissolved")
    rendered(fig, tmp_path)
    (ax,) = fig.axes
    shares = results.summary.groupby("scenario", sort=False)["dissolved"].mean()
    np.testing.assert_allclose([p.get_width() for p in ax.patches], shares.to_numpy())
    assert ax.get_xlabel() == "share dissolved [0-1]"


def test_compare_validates_and_draws_on_given_axes(results):
    with pytest.raises(ValueError, match="outcome: 'perf' is not allowed.*performance"):
        plot.compare(results, "perf")
    with pytest.raises(ValueError, match="by: 'type' is not allowed.*scenario"):
        plot.compare(results, "performance", by="type")
    with pytest.raises(ValueError, match="results: expected Results"):
        plot.compare([1, 2], "performance")
    fig, ax = plt.subplots()
    assert plot.compare(results.summary, "conflicts", ax=ax) is fig
    assert ax.get_xlabel() == "conflicts [count]"


# -- survival -------------------------------------------------------------------------------------
def test_survival_curves_and_causes_add_up(results, tmp_path):
    fig = plot.survival(results)
    rendered(fig, tmp_path)
    alive, causes = fig.axes
    assert len(alive.lines) == 3 and len(alive.collections) == 3
    assert len(causes.lines) == 6  # no fixed term among them: no line of completions
    assert alive.get_xlabel() == causes.get_xlabel() == "month"
    assert alive.get_ylabel() == "share still in place [0-1]"
    assert causes.get_ylabel() == "cumulative share ended [0-1]"
    assert legend_texts(alive) == [f"{n} (n=50)" for n in NAMES]
    assert legend_texts(causes) == ["dissolved: trust collapse", "dissolved: faith collapse",
                                    "completed (fixed term)"]
    shares = results.summary.groupby("scenario", sort=False)["dissolved"].mean()
    for k, line in enumerate(alive.lines):
        months, in_place = line.get_data()
        assert months[0] == 0 and months[-1] == STEPS
        assert in_place[0] == 1.0 and np.all(np.diff(in_place) <= 0)
        assert in_place[-1] == pytest.approx(1 - shares.iloc[k])
        trust, faith = causes.lines[2 * k].get_ydata(), causes.lines[2 * k + 1].get_ydata()
        np.testing.assert_allclose(in_place + trust + faith, 1.0)


def test_survival_counts_completed_fixed_terms_as_ended(tmp_path):
    # Buddying ends at its 24-month term: in place falls to 0 there, with a flat band, and the
    # completions' line rises to 1 at month 24 (the term's last month is step 23).
    res = cmo_sim.simulate(ROOT / "scenarios" / "buddying.yaml", runs=40, steps=36, seed=2)
    fig = plot.survival(res)
    rendered(fig, tmp_path)
    alive, causes = fig.axes
    months, in_place = alive.lines[0].get_data()
    assert np.all(in_place[months < 24] == 1.0) and np.all(in_place[months >= 24] == 0.0)
    band = alive.collections[0].get_paths()[0].vertices
    assert np.all(band[band[:, 0] > 24, 1] == 0.0)
    trust, faith, completed = (line.get_ydata() for line in causes.lines)
    np.testing.assert_allclose(in_place + trust + faith + completed, 1.0)
    assert completed[24] == 1.0 and completed[23] == 0.0


def test_end_states_stack_to_one_and_follow_the_summary(tmp_path):
    res = cmo_sim.simulate([SCENARIOS[0], ROOT / "scenarios" / "buddying.yaml"], runs=40,
                           steps=48, seed=2, record=6)
    fig = plot.end_states(res)
    rendered(fig, tmp_path)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["voluntary_alliance (n=40)",
                                                  "buddying (n=40)"]
    for ax, name in zip(visible, ("voluntary_alliance", "buddying"), strict=True):
        layers = ax.collections
        assert len(layers) == 4
        tops = np.array([p.get_paths()[0].vertices[:, 1].max() for p in layers])
        assert tops.max() == pytest.approx(1.0)
        mine = res.summary[res.summary.scenario == name]
        # The last month's stack: the summary's end states.
        codes = res.trajectories["regime"].sel(step=48).to_numpy()[
            (res.trajectories["scenario"] == name).to_numpy()]
        for k, state in enumerate(("thriving", "struggling", "dissolved", "completed")):
            assert (codes == k).mean() == pytest.approx((mine.end_state == state).mean())
    assert (res.summary[res.summary.scenario == "buddying"].end_state == "completed").all()
    with pytest.raises(ValueError, match="no trajectories recorded"):
        plot.end_states(cmo_sim.simulate(SCENARIOS[0], runs=3, steps=6))
    with pytest.raises(ValueError, match="by: 'colour' is not a run coordinate"):
        plot.end_states(res, by="colour")


def test_survival_validates_arguments(results):
    with pytest.raises(ValueError, match="by: 'colour' is not allowed"):
        plot.survival(results, by="colour")
    with pytest.raises(ValueError, match="meta\\['steps'\\]"):
        plot.survival(results.summary)
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="ax: survival .* needs a sequence of 2 Axes"):
        plot.survival(results, ax=ax)
    fig, axes = plt.subplots(1, 2)
    assert plot.survival(results, ax=axes) is fig


# -- regime_map -----------------------------------------------------------------------------------
def test_regime_map_shows_the_majority_regime(grid, tmp_path):
    fig = plot.regime_map(grid, "leadership", "ambition_bias", "regime")
    rendered(fig, tmp_path)
    (ax,) = fig.axes
    assert len(ax.images) == 1
    assert legend_texts(ax) == ["thriving", "struggling", "dissolved"]  # nothing completes
    assert ax.get_xlabel() == "leadership [0-1]"
    assert ax.get_ylabel() == "ambition_bias [-1, 1]"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.5", "1"]
    regime = grid.end_state.to_numpy()
    order = ["thriving", "struggling", "dissolved", "completed"]
    counts = pd.crosstab([grid.ambition_bias, grid.leadership], regime).reindex(
        columns=order, fill_value=0)
    expected = counts.to_numpy().argmax(axis=1).reshape(2, 3)
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert len(ax.texts) == 6


def test_regime_map_numeric_outcome_is_the_cell_mean(grid, tmp_path):
    class Sweep:  # anything with a .summary DataFrame
        summary = grid

    fig = plot.regime_map(Sweep(), "leadership", "ambition_bias", "performance")
    rendered(fig, tmp_path)
    ax, bar = fig.axes
    assert "cumulative performance" in bar.get_ylabel()
    expected = grid.groupby(["ambition_bias", "leadership"])["performance"].mean()
    np.testing.assert_allclose(ax.images[0].get_array(), expected.to_numpy().reshape(2, 3))


def test_regime_map_bins_continuous_factors(grid):
    rng = np.random.default_rng(0)
    summary = grid.assign(shared_vision=rng.uniform(0, 1, len(grid)))
    fig = plot.regime_map(summary, "shared_vision", "leadership", "dissolved", bins=4)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (3, 4)
    fig = plot.regime_map(summary, "shared_vision", "leadership", "dissolved")
    assert fig.axes[0].images[0].get_array().shape == (3, 8)  # > 20 values: 8 bins


def test_regime_map_validates_arguments(grid):
    with pytest.raises(ValueError, match="x: 'leader' is not allowed.*leadership"):
        plot.regime_map(grid, "leader", "ambition_bias", "regime")
    with pytest.raises(ValueError, match="two different factors"):
        plot.regime_map(grid, "leadership", "leadership", "regime")
    with pytest.raises(ValueError, match="outcome: 'regimes' is not allowed.*regime"):
        plot.regime_map(grid, "leadership", "ambition_bias", "regimes")
    with pytest.raises(ValueError, match="agg: 'max' is not allowed"):
        plot.regime_map(grid, "leadership", "ambition_bias", "performance", agg="max")


# -- sensitivity ----------------------------------------------------------------------------------
INDICES = pd.DataFrame(
    {"S1": [0.5, 0.1, 0.2], "S1_conf": [0.05, 0.02, 0.04],
     "ST": [0.6, 0.15, 0.3], "ST_conf": [0.06, 0.03, 0.05]},
    index=pd.Index(["leadership", "pace", "shared_vision"], name="factor"),
)


def test_sensitivity_draws_s1_and_st_bars_with_intervals(tmp_path):
    fig = plot.sensitivity(INDICES)
    rendered(fig, tmp_path)
    (ax,) = fig.axes
    assert len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_yticklabels()] == ["pace", "shared_vision",
                                                             "leadership"]  # ST ascending
    assert legend_texts(ax) == ["first order (S1)", "total (ST)"]
    assert "Sobol index" in ax.get_xlabel() and "0-1" in ax.get_xlabel()
    bars = {c.get_label(): c for c in ax.containers if hasattr(c, "errorbar")}
    st = bars["total (ST)"]
    np.testing.assert_allclose([p.get_width() for p in st.patches], [0.15, 0.3, 0.6])
    segments = st.errorbar.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 0] - s[0, 0] for s in segments], [0.06, 0.1, 0.12])


def test_sensitivity_title_names_outcome_and_level():
    frame = INDICES.copy()
    frame.attrs.update(outcome="performance", conf_level=0.9)
    title = plot.sensitivity(frame).axes[0].get_title()
    assert "of performance" in title and "90% confidence" in title


def test_sensitivity_accepts_factor_column_and_salib_results():
    as_column = plot.sensitivity(INDICES.reset_index()).axes[0]
    plain = dict(INDICES.to_dict("list"), names=list(INDICES.index))
    as_dict = plot.sensitivity(plain).axes[0]

    class ResultDict(dict):  # SALib keeps the names on .problem
        problem = {"names": list(INDICES.index)}

    as_result = plot.sensitivity(ResultDict(INDICES.to_dict("list"))).axes[0]
    labels = [[t.get_text() for t in ax.get_yticklabels()]
              for ax in (as_column, as_dict, as_result)]
    assert labels[0] == labels[1] == labels[2] == ["pace", "shared_vision", "leadership"]


def test_sensitivity_validates_input():
    with pytest.raises(ValueError, match="missing column.*ST_conf"):
        plot.sensitivity(INDICES.drop(columns="ST_conf"))
    with pytest.raises(ValueError, match="'names'"):
        plot.sensitivity(INDICES.to_dict("list"))
    with pytest.raises(ValueError, match="expected a DataFrame"):
        plot.sensitivity([0.1, 0.2])


# -- theory_graph ---------------------------------------------------------------------------------
def test_theory_graph_draws_one_path_per_rule_coloured_by_sign(tmp_path):
    theory = cmo_sim.load_theory().without("trust.success_loop")
    fig = plot.theory_graph(theory)
    rendered(fig, tmp_path)
    (ax,) = fig.axes
    rules = theory.rules
    assert len(ax.patches) == len(rules)
    assert len(ax.collections) == 3  # node columns
    assert f"{len(cmo_sim.load_theory())} rules, 1 ablated" in ax.get_title()
    assert legend_texts(ax)[:3] == ["sign +1: raises outcome", "sign -1: lowers outcome",
                                    "ablated (weight 0)"]
    texts = {t.get_text() for t in ax.texts}
    assert {"Context", "Mechanism", "Outcome"} <= texts
    assert {r.context.replace("_", " ") for r in rules} <= texts
    for patch, rule in zip(ax.patches, rules, strict=True):
        assert patch.get_label() == rule.id
        if rule.weight == 0:
            assert same_colour(patch.get_edgecolor(), "#999999")
            assert patch.get_linestyle() == "--"
        else:
            colour = plot.PALETTE[0] if rule.sign == 1 else plot.PALETTE[3]
            assert same_colour(patch.get_edgecolor(), colour)
            assert patch.get_linewidth() == pytest.approx(0.4 + 1.2 * rule.weight)
    with pytest.raises(ValueError, match="theory: expected a Theory"):
        plot.theory_graph(42)


# -- partnership ----------------------------------------------------------------------------------
def test_partnership_marks_members_exits_dissolution_and_conflicts(results, tmp_path):
    # The six providers as an alliance (members leave any month, not only at agreement ends).
    alliance = cmo_sim.load_scenario(SCENARIOS[2]).with_values(
        {"form": "alliance", "contract_period": None})
    results = cmo_sim.simulate(alliance, runs=50, steps=STEPS, seed=3, record="trajectory")
    s = results.summary
    candidates = s[s.dissolved & (s.exits > 1)]
    row = candidates.iloc[0]
    run = int(row["run"])
    fig = plot.partnership(results, run)
    rendered(fig, tmp_path)
    trust, faith = fig.axes
    names = [m["name"] for m in cmo_sim.load_scenario(SCENARIOS[2]).to_dict()["members"]]
    assert legend_texts(trust)[:6] == names
    assert legend_texts(trust)[6:] == ["dissolved (trust collapse)" if row.cause == "trust"
                                       else "dissolved (faith collapse)",
                                       "month with conflict(s)", "member left"]
    assert trust.get_ylabel() == "mean trust given [0-1]" and faith.get_ylabel() == "faith [0-1]"
    assert faith.get_xlabel() == "month"
    assert f"run {run}" in trust.get_title()
    end = row.dissolved_at + 1
    traj = results.trajectories.sel(run=run)
    conflict_months = traj.step.values[traj.conflict_events.values > 0]
    for ax in (trust, faith):
        member_lines = ax.lines[:6]
        for line in member_lines:
            months, values = line.get_data()
            assert np.all(np.isnan(values[months > end]))
        dissolution = [ln for ln in ax.lines if ln.get_label().startswith("dissolved")]
        assert len(dissolution) == 1 and dissolution[0].get_xdata()[0] == end
        ticks = [ln for ln in ax.lines if ln.get_label() == "month with conflict(s)"]
        np.testing.assert_array_equal(ticks[0].get_xdata(), conflict_months)
        crosses = [ln for ln in ax.lines if ln.get_marker() == "X"]
        # One cross per member that left before the partnership ended, at its first month out.
        active = traj["active"].values[:, :6].astype(bool)
        left = [int(np.flatnonzero(~active[:, k])[0]) for k in range(6) if not active[:, k].all()]
        left = [month for month in left if traj.step.values[month] < end]
        assert len(left) >= 1
        assert sorted(float(ln.get_xdata()[0]) for ln in crosses) == sorted(
            float(traj.step.values[month]) for month in left)


def test_partnership_validates_arguments(results):
    with pytest.raises(ValueError, match="run: 999 is not a recorded run id.*0 .. 149"):
        plot.partnership(results, 999)
    with pytest.raises(ValueError, match="no trajectories recorded"):
        plot.partnership(cmo_sim.simulate(SCENARIOS[0], runs=2, steps=5), 0)


# -- gallery --------------------------------------------------------------------------------------
def test_gallery_script_writes_every_figure(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "experiments" / "gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    out, docs = tmp_path / "gallery", tmp_path / "docs"
    written = gallery.main(["--out", str(out), "--docs", str(docs), "--runs", "4",
                            "--steps", "25", "--sobol-samples", "8"])  # a timeline at 24
    expected = {"compare_performance", "compare_dissolved_at", "trajectories", "survival",
                "end_states", "partnership", "regime_map", "regime_map_dissolved", "theory_graph",
                "theory_graph_ablated"}
    can_sobol = importlib.util.find_spec("SALib") is not None or (
        importlib.util.find_spec("cmo_sim.analysis") is not None
        and hasattr(cmo_sim, "run_sweep"))
    if can_sobol:
        expected.add("sensitivity")
    else:
        assert "sensitivity figure needs the analysis module" in capsys.readouterr().out
    assert {p.stem for p in out.glob("*.png")} == expected
    assert {p.stem for p in docs.glob("*.png")} == set(gallery.README_FIGURES)
    assert set(written) == expected | {f"docs/{n}" for n in gallery.README_FIGURES} | {
        "docs/figures.json"}  # the numbers the README figures show
    numbers = json.loads((docs / "figures.json").read_text(encoding="utf-8"))
    assert numbers["settings"] == {"runs": 4, "steps": 25, "seed": 0}
    assert set(numbers) >= {"trajectories", "survival", "end_states", "regime_map"}
    for path in docs.glob("*.png"):
        assert path.stat().st_size < 150_000
        assert mimage.imread(path).shape[1] == 900
    for path in out.glob("*.png"):
        assert mimage.imread(path)[..., :3].var() > 0


def test_survival_band_is_the_log_log_interval():
    from cmo_sim.plot._summaries import _kaplan_meier

    # 50 runs, one dissolved in month 5, the rest censored at month 24. Kaplan-Meier S = 0.98
    # from month 5; Greenwood's variance S^2 d / (n (n - d)); the log-log interval is
    # S ** exp(+-z se / (S |log S|)), z = 1.96 (Kalbfleisch & Prentice).
    ended = np.r_[5.0, np.full(49, np.nan)]
    months = np.arange(25)
    in_place, low, high = _kaplan_meier(ended, 24, months)
    s = 0.98
    se = np.sqrt(s**2 * 1 / (50 * 49)) / (s * abs(np.log(s)))
    z = stats.norm.ppf(0.975)
    assert in_place[4] == 1.0 and in_place[5] == pytest.approx(s)
    assert low[24] == pytest.approx(s ** np.exp(z * se), abs=1e-4)   # 0.866, not a Wald 0.941
    assert high[24] == pytest.approx(s ** np.exp(-z * se), abs=1e-4)  # 0.997
    assert low[24] == pytest.approx(0.866, abs=1e-3)
    assert (low[:5] == 1.0).all() and (high[:5] == 1.0).all()  # nothing dissolved yet
    # No dissolution at all: no band beyond the estimate.
    none = _kaplan_meier(np.full(10, np.nan), 24, months)
    assert all((part == 1.0).all() for part in none)


def test_sweep_results_plot_by_design_point_labelled_by_factor_values():
    base = cmo_sim.load_scenario(SCENARIOS[0])
    res = cmo_sim.run_sweep(
        cmo_sim.Sweep(base, vary={"history": [-0.5, 0.5], "entry_point": ["innovation",
                                                                          "policy_directive"]},
                      design="grid", replicates=6), steps=24, record=6, progress=False)
    expected = [f"history={h}, entry_point={e}" for h in (-0.5, 0.5)
                for e in ("innovation", "policy_directive")]
    fig = plot.trajectories(res, "trust")
    assert legend_texts(fig.axes[-1]) == expected
    fig = plot.survival(res)
    assert legend_texts(fig.axes[0]) == [f"{label} (n=6)" for label in expected]
    fig = plot.compare(res, "performance")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == expected
    # Plain results still group by scenario.
    fig = plot.compare(cmo_sim.simulate(SCENARIOS[0], runs=3, steps=6), "performance")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [NAMES[0]]
