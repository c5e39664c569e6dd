"""The vectorised numpy engine: State, pure mechanism functions, step and runner."""

from cmo_sim.core.runner import run
from cmo_sim.core.state import State
from cmo_sim.core.step import init, step

__all__ = ["State", "init", "run", "step"]
