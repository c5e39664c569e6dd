"""Analysis: CMO conformance of a theory, scenario discovery and sensitivity of sweep results."""

from cmo_sim.analysis._conformance import ConformanceReport, conformance
from cmo_sim.analysis._discovery import Discovery, DiscoveryBox, discover
from cmo_sim.analysis._levers import LeverReport, levers
from cmo_sim.analysis.sensitivity import (
    SobolConvergenceWarning,
    delta_indices,
    elementary_effects,
    morris_indices,
    pawn_indices,
    rbd_fast_indices,
    sensitivity,
    sobol_indices,
)

__all__ = [
    "ConformanceReport",
    "Discovery",
    "DiscoveryBox",
    "LeverReport",
    "SobolConvergenceWarning",
    "conformance",
    "delta_indices",
    "discover",
    "elementary_effects",
    "levers",
    "morris_indices",
    "pawn_indices",
    "rbd_fast_indices",
    "sensitivity",
    "sobol_indices",
]
