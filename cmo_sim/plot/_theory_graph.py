"""The programme theory as a layered context -> mechanism -> outcome network."""

from __future__ import annotations

import os

import numpy as np

from cmo_sim.plot._style import GREY, PALETTE, panels

__all__ = ["SIGN_COLOURS", "theory_graph"]

#: Edge colours by rule sign (Okabe-Ito blue and vermillion).
SIGN_COLOURS = {1: PALETTE[0], -1: PALETTE[3]}
_COLUMNS = ("context", "mechanism", "outcome")
_SWEEPS = 6  # barycentre sweeps that order the nodes to reduce edge crossings


def _node_order(rules) -> dict[str, list[str]]:
    """Node names per column, ordered by repeated barycentres of their neighbours."""
    order = {c: sorted({getattr(r, c) for r in rules}) for c in _COLUMNS}

    def rank(column: str, neighbours: tuple[str, ...]) -> list[str]:
        pos = {c: {n: k / max(len(order[c]) - 1, 1) for k, n in enumerate(order[c])}
               for c in neighbours}
        centre = {}
        for name in order[column]:
            linked = [pos[c][getattr(r, c)] for r in rules if getattr(r, column) == name
                      for c in neighbours]
            centre[name] = float(np.mean(linked))
        return sorted(order[column], key=lambda n: (centre[n], n))

    for _ in range(_SWEEPS):
        order["mechanism"] = rank("mechanism", ("outcome",))
        order["context"] = rank("context", ("mechanism",))
        order["mechanism"] = rank("mechanism", ("context", "outcome"))
        order["outcome"] = rank("outcome", ("mechanism",))
    return order


def theory_graph(theory=None, *, ax=None):
    """Draw the programme theory: contexts, mechanisms and outcomes in three columns.

    Each rule is one path context -> mechanism -> outcome, coloured by its sign (blue: raising
    the context raises the outcome; vermillion: lowers it), as wide as its weight; ablated rules
    (weight 0) are grey and dashed.

    Parameters
    ----------
    theory : Theory or path, optional
        The review's default theory when omitted.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One path patch per rule, one node collection per column, a legend of sign and ablation.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    from cmo_sim.theory import Theory, load_theory

    if theory is None or isinstance(theory, str | os.PathLike):
        theory = load_theory(theory)
    if not isinstance(theory, Theory):
        raise ValueError(f"theory: expected a Theory or a path to a theory file "
                         f"(got {type(theory).__name__})")
    rules = theory.rules
    order = _node_order(rules)
    tallest = max(len(names) for names in order.values())
    fig, (panel,), created = panels(ax, 1, what="theory_graph",
                                    figsize=(12.0, 1.5 + 0.28 * tallest))
    y = {c: {n: 1.0 - (k + 0.5) / len(order[c]) for k, n in enumerate(order[c])}
         for c in _COLUMNS}
    xs = dict(zip(_COLUMNS, (0.0, 1.0, 2.0), strict=True))
    for rule in rules:
        (x0, y0), (x1, y1), (x2, y2) = ((xs[c], y[c][getattr(rule, c)]) for c in _COLUMNS)
        path = Path(
            [(x0, y0), (x0 + 0.5, y0), (x1 - 0.5, y1), (x1, y1),
             (x1 + 0.5, y1), (x2 - 0.5, y2), (x2, y2)],
            [Path.MOVETO] + [Path.CURVE4] * 6,
        )
        ablated = rule.weight == 0
        panel.add_patch(PathPatch(
            path, facecolor="none", linewidth=1.0 if ablated else 0.4 + 1.2 * rule.weight,
            edgecolor=GREY if ablated else SIGN_COLOURS[rule.sign],
            linestyle="--" if ablated else "-", alpha=0.9 if ablated else 0.55,
            zorder=1 if ablated else 2, label=rule.id,
        ))
    for column, align, dx in (("context", "right", -0.04), ("mechanism", "center", 0.0),
                              ("outcome", "left", 0.04)):
        names = order[column]
        heights = [y[column][n] for n in names]
        panel.scatter([xs[column]] * len(names), heights, s=18, color="black", zorder=3)
        for name, height in zip(names, heights, strict=True):
            box = (dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none",
                        alpha=0.85) if column == "mechanism" else None)
            panel.text(xs[column] + dx, height, name.replace("_", " "), ha=align,
                       va="center", fontsize=8, bbox=box, zorder=4)
        panel.text(xs[column], 1.0, column.capitalize(), ha="center", va="bottom",
                   fontsize=11, fontweight="bold")
    ablated = sum(r.weight == 0 for r in rules)
    handles = [
        Line2D([], [], color=SIGN_COLOURS[1], linewidth=2, label="sign +1: raises outcome"),
        Line2D([], [], color=SIGN_COLOURS[-1], linewidth=2, label="sign -1: lowers outcome"),
        Line2D([], [], color=GREY, linewidth=1, linestyle="--", label="ablated (weight 0)"),
        Line2D([], [], color="black", linewidth=0.4 + 1.2 * 2.0,
               label="width: weight (shown: 2)"),
    ]
    panel.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=4,
                 fontsize=8, frameon=False)
    panel.set_xlim(-0.75, 2.75)
    panel.set_ylim(-0.01, 1.04)
    panel.set_axis_off()
    name = f" '{theory.name}'" if theory.name else ""
    panel.set_title(f"Programme theory{name}: {len(rules)} rules, {ablated} ablated; "
                    "context -> mechanism -> outcome", fontsize=11)
    if created:
        fig.tight_layout()
    return fig
