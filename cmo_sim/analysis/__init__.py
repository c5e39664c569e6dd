"""Analysis: CMO conformance of a theory, and sensitivity of sweep results (Sobol, screens)."""

from cmo_sim.analysis._conformance import ConformanceReport, conformance
from cmo_sim.analysis.sensitivity import elementary_effects, sobol_indices

__all__ = ["ConformanceReport", "conformance", "elementary_effects", "sobol_indices"]
