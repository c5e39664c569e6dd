"""Plot of a scenario discovery: PRIM's peeling trajectory and the chosen box."""

from __future__ import annotations

from typing import Any

import numpy as np

from cmo_sim.plot._style import PALETTE, panels

__all__ = ["discovery"]


def discovery(found: Any, ax: Any = None):
    """A discovery's peeling trajectory (left) and chosen box (right).

    Left: coverage against density along PRIM's peeling trajectory, the chosen box ringed (or
    CART's leaves). Right: the chosen box's limits on each restricted factor, as a share of the
    factor's sampled range.

    Parameters
    ----------
    found : Discovery
        From :func:`cmo_sim.analysis.discover`.
    ax : sequence of two Axes, optional
    """
    from cmo_sim.analysis._discovery import Discovery

    if not isinstance(found, Discovery):
        raise ValueError(f"found: {found!r} is not a Discovery (use cmo_sim.analysis.discover)")
    fig, (path, limits), created = panels(ax, 2, what="a discovery (trajectory, box)",
                                          figsize=(10.5, 4.2))
    box = found.boxes[0] if found.boxes else None
    trajectory = found.trajectory
    if trajectory is not None:
        points = path.scatter(trajectory["coverage"], trajectory["density"],
                              c=trajectory["res_dim"], cmap="viridis", s=18)
        fig.colorbar(points, ax=path, label="restricted factors [count]")
        last = trajectory.iloc[-1]
        path.scatter([last["coverage"]], [last["density"]], s=120, facecolors="none",
                     edgecolors="black", linewidths=1.5, label="chosen box")
        path.legend(fontsize=8, loc="lower left")
    elif found.boxes:
        path.scatter([b.coverage for b in found.boxes], [b.density for b in found.boxes],
                     color=PALETTE[0], s=24, label="CART leaves")
        path.legend(fontsize=8, loc="lower left")
    path.set_xlabel("coverage [share of cases of interest in the box]")
    path.set_ylabel("density [share of the box's cases of interest]")
    path.set_xlim(0, 1.02)
    path.set_ylim(0, 1.02)
    path.grid(alpha=0.3)
    path.set_title("Peeling trajectory" if trajectory is not None else "Boxes", fontsize=10)
    if box is not None and len(box.limits):
        ranges = found.meta.get("ranges", {})
        names = list(box.limits.index)
        y = np.arange(len(names))[::-1]
        for k, (factor, row) in enumerate(box.limits.iterrows()):
            if factor in ranges and np.isfinite(row["lower"]):
                low, high = ranges[factor]
                span = (high - low) or 1.0
                a, b = (row["lower"] - low) / span, (row["upper"] - low) / span
                limits.barh(y[k], b - a, left=a, color=PALETTE[0], alpha=0.6)
                limits.text(1.02, y[k], f"{row['lower']:.3g} .. {row['upper']:.3g}",
                            va="center", fontsize=8, transform=limits.get_yaxis_transform())
            else:
                limits.text(0.5, y[k], ", ".join(map(str, row["values"] or [])), ha="center",
                            va="center", fontsize=8)
        limits.set_yticks(y, names)
    limits.set_xlim(0, 1)
    limits.set_xlabel("position in the factor's sampled range [0-1]")
    meta = found.meta
    side = ">" if meta.get("above", True) else "<"
    limits.set_title(f"Box: {meta.get('outcome')} {side} {meta.get('threshold'):g}", fontsize=10)
    if created:
        fig.tight_layout()
    return fig
