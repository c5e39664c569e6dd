"""Plots of results, sweeps and the programme theory (matplotlib, colour-blind-safe).

Every function takes ``ax=None`` (or a sequence of axes where it draws several panels),
returns the Figure, and works headless under the Agg backend.

- :func:`trajectories`: fan charts of trajectory variables over months.
- :func:`compare`: distributions of a summary outcome per scenario.
- :func:`differences`: a paired comparison (:func:`cmo_sim.compare`), outcome by outcome.
- :func:`discovery`: a scenario discovery's peeling trajectory and box.
- :func:`levers`: which context change, made when, moves an outcome most.
- :func:`survival`: share of partnerships still in place over months, and how the others ended.
- :func:`end_states`: share of runs thriving, struggling, dissolved and completed, month by month.
- :func:`regime_map`: an outcome or the majority end state over two sweep factors.
- :func:`sensitivity`: Sobol first-order and total indices.
- :func:`theory_graph`: the programme theory as a context -> mechanism -> outcome network.
- :func:`partnership`: one run's members (trust given, faith), exits, dissolution, conflicts.
"""

from cmo_sim.plot._differences import differences
from cmo_sim.plot._discovery import discovery
from cmo_sim.plot._end_states import end_states
from cmo_sim.plot._levers import levers
from cmo_sim.plot._partnership import partnership
from cmo_sim.plot._style import PALETTE
from cmo_sim.plot._summaries import compare, survival
from cmo_sim.plot._sweeps import REGIMES, classify_regimes, regime_map, sensitivity
from cmo_sim.plot._theory_graph import theory_graph
from cmo_sim.plot._trajectories import trajectories

__all__ = [
    "PALETTE",
    "REGIMES",
    "classify_regimes",
    "compare",
    "differences",
    "discovery",
    "end_states",
    "levers",
    "partnership",
    "regime_map",
    "sensitivity",
    "survival",
    "theory_graph",
    "trajectories",
]
