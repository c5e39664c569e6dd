"""Plots of sweeps: regime maps over two factors and Sobol sensitivity indices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from cmo_sim.plot._style import (
    GREY,
    OUTCOME_LABELS,
    PALETTE,
    check_choice,
    factor_label,
    months_to_dissolution,
    panels,
    summary_frame,
)

__all__ = ["REGIMES", "classify_regimes", "regime_map", "sensitivity"]

#: The end states a run can be in, in legend order, with their colours (docs/model.md 4.17).
REGIMES = {"thriving": PALETTE[2], "struggling": PALETTE[1], "dissolved": PALETTE[3],
           "completed": PALETTE[0]}
#: For summaries without ``end_state`` (written before end states existed): mean synergy at or
#: above which a run that did not dissolve counts as thriving.
SYNERGY_THRESHOLD = 0.6
#: A factor with more distinct values than this is binned (continuous designs: LHS, Sobol).
_MAX_LEVELS = 20
_DEFAULT_BINS = 8
_SOBOL_COLUMNS = ("S1", "S1_conf", "ST", "ST_conf")


def classify_regimes(summary: pd.DataFrame) -> pd.Series:
    """Each run's end state: thriving, struggling, dissolved or completed.

    Parameters
    ----------
    summary : DataFrame
        With the column ``end_state``; a summary without it (written before end states
        existed) is classified from ``dissolved`` and ``synergy_mean``: dissolved, else
        thriving (mean synergy >= 0.6) or struggling.

    Returns
    -------
    pandas.Series of str, aligned with ``summary``.
    """
    if "end_state" in summary:
        return pd.Series(summary["end_state"].astype(str).to_numpy(), index=summary.index,
                         name="regime")
    for column in ("dissolved", "synergy_mean"):
        if column not in summary:
            raise ValueError(f"summary: no '{column}' column, needed to classify regimes")
    dissolved = summary["dissolved"].to_numpy(bool)
    synergy = summary["synergy_mean"].to_numpy(float) >= SYNERGY_THRESHOLD
    regime = np.where(dissolved, "dissolved", np.where(synergy, "thriving", "struggling"))
    return pd.Series(regime, index=summary.index, name="regime")


def _levels(values: pd.Series, bins: int | None, argument: str) -> tuple[pd.Series, list, list]:
    """Cell index of each run along one factor, the cell labels and the cell centres."""
    distinct = np.sort(values.dropna().unique())
    if len(distinct) <= _MAX_LEVELS:
        index = pd.Series(np.searchsorted(distinct, values.to_numpy()), index=values.index)
        return index, [f"{v:g}" if isinstance(v, float | np.floating) else str(v)
                       for v in distinct], list(distinct)
    if not pd.api.types.is_numeric_dtype(values):
        raise ValueError(f"{argument}: '{values.name}' has {len(distinct)} distinct values and "
                         "is not numeric, so it cannot be binned")
    n = int(bins or _DEFAULT_BINS)
    edges = np.linspace(float(distinct[0]), float(distinct[-1]), n + 1)
    index = pd.Series(np.clip(np.searchsorted(edges, values.to_numpy(float), side="right") - 1,
                              0, n - 1), index=values.index)
    centres = (edges[:-1] + edges[1:]) / 2
    return index, [f"{c:.3g}" for c in centres], list(centres)


def regime_map(sweep_results, x: str, y: str, outcome: str, *, agg: Literal["mean", "median"]
               = "mean", bins: int | None = None, annotate: bool | None = None, ax=None):
    """Heatmap of an outcome over two sweep factors, aggregated per (x, y) cell.

    Parameters
    ----------
    sweep_results : SweepResults, Results or DataFrame
        Anything with a per-run ``.summary`` DataFrame holding a column per varied factor, or
        that DataFrame.
    x, y : str
        Two different factor columns of the summary. A factor with more than 20 distinct values
        (a continuous design such as LHS or Sobol) is cut into ``bins`` equal-width bins.
    outcome : str
        A numeric summary column (``"dissolved"`` gives the share dissolved, ``"dissolved_at"``
        the months to dissolution of dissolved runs), or ``"regime"``: each run's end state
        (thriving, struggling, dissolved or completed: :func:`classify_regimes`), and each cell
        shows its majority end state (ties go to the one listed first) with the majority's
        share written in the cell.
    agg : "mean" or "median"
        How a numeric outcome is aggregated per cell.
    bins : int, optional
        Number of bins for a factor with more than 20 distinct values (default 8).
    annotate : bool, optional
        Write each cell's value; by default when there are at most 150 cells.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One image on the axes; for ``"regime"`` a legend with one entry per regime, otherwise
        a colour bar.
    """
    summary = summary_frame(sweep_results, "sweep_results")
    columns = [str(c) for c in summary.columns]
    check_choice("x", x, columns)
    check_choice("y", y, columns)
    if x == y:
        raise ValueError(f"x, y: both are '{x}'; give two different factors")
    numeric = [c for c in columns if c not in {"run", "point", "replicate", x, y}
               and (pd.api.types.is_numeric_dtype(summary[c])
                    or pd.api.types.is_bool_dtype(summary[c]))]
    check_choice("outcome", outcome, ["regime", *numeric])
    check_choice("agg", agg, ("mean", "median"))
    if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int) or bins < 1):
        raise ValueError(f"bins: {bins!r} is not allowed (an int >= 1, or None)")
    if len(summary) == 0:
        raise ValueError("sweep_results: the summary has no runs")
    xi, xlabels, _ = _levels(summary[x], bins, "x")
    yi, ylabels, _ = _levels(summary[y], bins, "y")
    shape = (len(ylabels), len(xlabels))
    fig, (panel,), created = panels(ax, 1, what="regime_map",
                                    figsize=(1.6 + 0.62 * shape[1] + 1.8, 1.4 + 0.5 * shape[0]))
    cells = pd.DataFrame({"xi": xi, "yi": yi})
    annotate = (shape[0] * shape[1] <= 150) if annotate is None else annotate
    import matplotlib
    import matplotlib.colors as mcolors
    from matplotlib.patches import Patch

    if outcome == "regime":
        names = list(REGIMES)
        cells["regime"] = classify_regimes(summary).to_numpy()
        counts = (cells.groupby(["yi", "xi"])["regime"].value_counts().unstack(fill_value=0)
                  .reindex(columns=names, fill_value=0))
        winner = counts.to_numpy().argmax(axis=1)  # ties: the first regime in REGIMES order
        share = counts.to_numpy().max(axis=1) / counts.to_numpy().sum(axis=1)
        grid = np.full(shape, np.nan)
        text = np.full(shape, "", dtype=object)
        for (row, col), w, s in zip(counts.index, winner, share, strict=True):
            grid[row, col] = w
            text[row, col] = f"{s:.0%}"
        cmap = mcolors.ListedColormap(list(REGIMES.values())).with_extremes(bad="white")
        panel.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5,
                     origin="lower", aspect="auto", interpolation="nearest")
        present = set(cells["regime"])
        handles = [Patch(facecolor=REGIMES[n], label=n) for n in names
                   if n in present or n != "completed"]
        panel.legend(handles=handles, title="majority end state\n(cell: its share)", fontsize=8,
                     title_fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
        title = "Majority end state per cell"
        text_colour = np.full(shape, "white", dtype=object)
    else:
        if outcome == "dissolved_at":
            cells["value"] = months_to_dissolution(summary)
        else:
            cells["value"] = summary[outcome].to_numpy(float)
        table = cells.groupby(["yi", "xi"])["value"].agg(agg)
        grid = np.full(shape, np.nan)
        for (row, col), value in table.items():
            grid[row, col] = value
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=GREY)
        image = panel.imshow(np.ma.masked_invalid(grid), cmap=cmap, origin="lower",
                             aspect="auto", interpolation="nearest")
        bar = fig.colorbar(image, ax=panel)
        bar.set_label(f"{agg} {OUTCOME_LABELS.get(outcome, outcome)}")
        text = np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.3g}", otypes=[object])(grid)
        finite = grid[np.isfinite(grid)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        text_colour = np.where(np.nan_to_num(grid, nan=middle) > middle, "black", "white")
        title = (f"{agg} months to dissolution (dissolved runs) per cell"
                 if outcome == "dissolved_at" else f"{agg} {outcome} per cell")
    if annotate:
        for row in range(shape[0]):
            for col in range(shape[1]):
                if text[row, col]:
                    panel.text(col, row, text[row, col], ha="center", va="center", fontsize=7,
                               color=text_colour[row, col])
    panel.set_xticks(range(shape[1]), xlabels, rotation=45 if shape[1] > 8 else 0)
    panel.set_yticks(range(shape[0]), ylabels)
    panel.set_xlabel(factor_label(x))
    panel.set_ylabel(factor_label(y))
    panel.set_title(f"{title} ({len(summary)} runs)", fontsize=10)
    if created:
        fig.tight_layout()
    return fig


def _indices_frame(indices) -> pd.DataFrame:
    """Sobol indices as a frame indexed by factor with columns S1, S1_conf, ST, ST_conf."""
    if isinstance(indices, pd.DataFrame):
        frame = indices.set_index("factor") if "factor" in indices.columns else indices
    elif isinstance(indices, Mapping):
        names = indices.get("names")
        if names is None:  # SALib's ResultDict keeps the names on its problem
            names = (getattr(indices, "problem", None) or {}).get("names")
        if names is None:
            raise ValueError("indices: a mapping of Sobol indices needs a 'names' key "
                             "(the factor names)")
        missing = [c for c in _SOBOL_COLUMNS if c not in indices]
        if missing:
            raise ValueError(f"indices: missing {', '.join(missing)} (required: "
                             f"{', '.join(_SOBOL_COLUMNS)}, names)")
        frame = pd.DataFrame({c: np.asarray(indices[c], float) for c in _SOBOL_COLUMNS},
                             index=pd.Index([str(n) for n in names], name="factor"))
    else:
        raise ValueError("indices: expected a DataFrame (index or 'factor' column; columns "
                         "S1, S1_conf, ST, ST_conf) or SALib's ResultDict "
                         f"(got {type(indices).__name__})")
    missing = [c for c in _SOBOL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"indices: missing column(s) {', '.join(missing)} "
                         f"(required: {', '.join(_SOBOL_COLUMNS)})")
    if len(frame) == 0:
        raise ValueError("indices: no factors")
    return frame[list(_SOBOL_COLUMNS)].astype(float)


def sensitivity(indices, *, ax=None):
    """Sobol first-order (S1) and total (ST) indices per factor, with confidence intervals.

    Parameters
    ----------
    indices : DataFrame or mapping
        A DataFrame indexed by factor (or with a ``factor`` column) with columns ``S1``,
        ``S1_conf``, ``ST``, ``ST_conf``; or SALib's ``ResultDict`` (keys ``S1``, ``S1_conf``,
        ``ST``, ``ST_conf`` and ``names``, or names on its ``problem``). ``*_conf`` is the
        half-width of the confidence interval.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Horizontal bars: one S1 and one ST bar per factor, most influential factor on top.
    """
    attrs = getattr(indices, "attrs", {}) or {}
    frame = _indices_frame(indices).sort_values("ST", ascending=True, kind="stable")
    fig, (panel,), created = panels(ax, 1, what="sensitivity",
                                    figsize=(7.0, 1.4 + 0.45 * len(frame)))
    rows = np.arange(len(frame))
    height = 0.38
    for offset, index, colour, label in (
        (height / 2, "ST", PALETTE[1], "total (ST)"),
        (-height / 2, "S1", PALETTE[0], "first order (S1)"),
    ):
        conf = np.nan_to_num(frame[f"{index}_conf"].to_numpy(), nan=0.0)
        panel.barh(rows + offset, frame[index].to_numpy(), height=height, color=colour,
                   xerr=np.abs(conf), capsize=2, error_kw=dict(elinewidth=1), label=label)
    panel.set_yticks(rows, [str(f) for f in frame.index])
    panel.axvline(0, color="black", linewidth=0.8)
    panel.set_xlabel("Sobol index [share of output variance, 0-1]")
    panel.set_ylabel("factor")
    of = f" of {attrs['outcome']}" if attrs.get("outcome") else ""
    level = (f"{float(attrs['conf_level']):.0%} " if isinstance(attrs.get("conf_level"), float)
             else "")
    panel.set_title(f"Sobol sensitivity indices{of} (error bars: {level}confidence interval)",
                    fontsize=10)
    panel.grid(axis="x", alpha=0.3)
    handles, labels = panel.get_legend_handles_labels()
    panel.legend(handles[::-1], labels[::-1], fontsize=8, loc="lower right")
    if created:
        fig.tight_layout()
    return fig
