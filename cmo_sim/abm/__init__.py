"""The Mesa engine: a readable, agent-based reference implementation of the numpy core.

``PartnershipModel`` (a :class:`mesa.Model`) holds ``Organisation`` agents and runs one
partnership month by month with the same rules, contexts and random streams as
:mod:`cmo_sim.core`, so both engines give the same run. :func:`run_abm` runs a compiled Params
batch through it (``cmo_sim.simulate(..., engine="abm")``), and :func:`explain` tells the story
of one run from the model's event log.

Only this subpackage imports Mesa: ``import cmo_sim`` does not. Mesa 3.3 sets the process-wide
multiprocessing start method to "spawn" when it is imported (mesa PR #3073 moves that into
``batch_run``); importing this subpackage puts back whatever start method was in force before,
so it has no process-wide side effect.
"""

import multiprocessing as _multiprocessing

_START_METHOD = _multiprocessing.get_start_method(allow_none=True)

from cmo_sim.abm.agents import Organisation  # noqa: E402  (imports Mesa)
from cmo_sim.abm.explain import Explanation, explain  # noqa: E402
from cmo_sim.abm.model import PartnershipModel, run_abm  # noqa: E402

if _multiprocessing.get_start_method(allow_none=True) != _START_METHOD:
    _multiprocessing.set_start_method(_START_METHOD, force=True)

__all__ = ["Explanation", "Organisation", "PartnershipModel", "explain", "run_abm"]
