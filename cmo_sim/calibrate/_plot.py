"""Figures of a calibration: posterior marginals and the posterior-predictive check."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from cmo_sim.plot._style import GREY, PALETTE

if TYPE_CHECKING:
    from cmo_sim.calibrate._result import CalibrationResult

__all__ = ["posterior_marginals", "predictive_check"]


def posterior_marginals(result: CalibrationResult, bins: int = 20):
    """One panel per parameter: the weighted posterior histogram over the prior's range.

    The prior's (uniform) density is drawn flat in grey, the posterior median as a line and
    the theory's default value as a dotted line.
    """
    import matplotlib.pyplot as plt

    priors = result.priors
    columns = min(3, len(priors))
    rows = math.ceil(len(priors) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    weights = result.posterior["weight"].to_numpy()
    parameters = result.parameters.set_index("parameter")
    for ax, prior in zip(axes.flat, priors, strict=False):
        values = result.posterior[prior.name].to_numpy()
        edges = np.linspace(prior.low, prior.high, bins + 1)
        ax.hist(values, bins=edges, weights=weights, density=True, color=PALETTE[0], alpha=0.8,
                label="posterior")
        ax.axhline(1.0 / (prior.high - prior.low), color=GREY, lw=1, label="prior")
        ax.axvline(parameters.loc[prior.name, "median"], color=PALETTE[3], lw=1.5,
                   label="median")
        default = parameters.loc[prior.name, "default"]
        if prior.low <= default <= prior.high:
            ax.axvline(default, color="black", lw=1, ls=":", label="theory's value")
        ax.set_xlim(prior.low, prior.high)
        ax.set_xlabel(prior.name)
        ax.set_ylabel("density")
    for ax in list(axes.flat)[len(priors):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="small", frameon=False)
    fig.suptitle(f"Posterior (epsilon {result.epsilon:.3g}, {len(result.posterior)} sets)")
    fig.tight_layout()
    return fig


def predictive_check(result: CalibrationResult):
    """Each target (with its tolerance) against the 5-95% predictive band and its median.

    Shares and months have different units, so a target is drawn as its scaled position
    ``(x - value) / tolerance``: the target sits at 0 with its tolerance from -1 to 1.
    """
    import matplotlib.pyplot as plt

    table = result.predictive
    labels = [t.label() for t in result.targets]
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(table) + 1.4))
    y = np.arange(len(table))[::-1]
    tolerance = table["tolerance"].to_numpy()
    value = table["value"].to_numpy()
    low = (table["q05"].to_numpy() - value) / tolerance
    high = (table["q95"].to_numpy() - value) / tolerance
    mid = (table["q50"].to_numpy() - value) / tolerance
    ax.axvspan(-1, 1, color=GREY, alpha=0.25, lw=0, label="target +- tolerance")
    ax.axvline(0, color="black", lw=1)
    ax.hlines(y, low, high, color=PALETTE[0], lw=4, label="predictive 5-95%")
    ax.plot(mid, y, "o", color=PALETTE[3], ms=5, label="predictive median")
    ax.set_yticks(y, labels)
    ax.set_xlabel("(simulated - target) / tolerance")
    ax.legend(fontsize="small", frameon=False, loc="lower right")
    inside = int(table["in_band"].sum())
    ax.set_title(f"Posterior-predictive check: {inside} of {len(table)} targets in the band")
    fig.tight_layout()
    return fig
