"""Analysis: CMO conformance of a theory, and sensitivity of sweep results for every design."""

from cmo_sim.analysis._conformance import ConformanceReport, conformance
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
    "SobolConvergenceWarning",
    "conformance",
    "delta_indices",
    "elementary_effects",
    "morris_indices",
    "pawn_indices",
    "rbd_fast_indices",
    "sensitivity",
    "sobol_indices",
]
