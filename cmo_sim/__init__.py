"""cmo-sim: simulate inter-organisational partnerships from a realist programme theory."""

from cmo_sim._compare import Comparison, compare
from cmo_sim._errors import ScenarioError, TheoryError, TooLargeError
from cmo_sim._explain import explain
from cmo_sim._simulate import simulate
from cmo_sim.params import Params, compile_params
from cmo_sim.results import Results, open_results
from cmo_sim.scenario import Member, Scenario, TimelineEvent, load_scenario
from cmo_sim.sweep import (
    StoreIntegrityError,
    StoreLockedError,
    StoreWarning,
    Sweep,
    SweepResults,
    open_sweep,
    run_sweep,
)
from cmo_sim.theory import Rule, Theory, check_theory, load_theory

__all__ = [
    "Comparison",
    "Member",
    "Params",
    "Results",
    "Rule",
    "Scenario",
    "ScenarioError",
    "StoreIntegrityError",
    "StoreLockedError",
    "StoreWarning",
    "Sweep",
    "SweepResults",
    "Theory",
    "TheoryError",
    "TimelineEvent",
    "TooLargeError",
    "check_theory",
    "compare",
    "compile_params",
    "explain",
    "load_scenario",
    "load_theory",
    "open_results",
    "open_sweep",
    "run_sweep",
    "simulate",
]
