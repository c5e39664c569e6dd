"""The vectorised numpy engine: State, pure mechanism functions, step and runner."""

from cmo_sim.core.runner import run
from cmo_sim.core.state import State
from cmo_sim.core.step import StepCache, init, step

__all__ = ["State", "StepCache", "init", "run", "step"]
