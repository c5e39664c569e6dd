"""Analysis of sweep results: Sobol indices and elementary-effects screens."""

from cmo_sim.analysis.sensitivity import elementary_effects, sobol_indices

__all__ = ["elementary_effects", "sobol_indices"]
