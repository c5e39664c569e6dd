"""Plots of results (matplotlib; every function takes ``ax=None`` and works headless)."""

from cmo_sim.plot._trajectories import trajectories

__all__ = ["trajectories"]
