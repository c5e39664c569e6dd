"""cmo-sim: simulate inter-organisational partnerships from a realist programme theory."""

from cmo_sim._errors import ScenarioError, TheoryError
from cmo_sim.scenario import Member, Scenario, TimelineEvent, load_scenario

__all__ = [
    "Member",
    "Scenario",
    "ScenarioError",
    "TheoryError",
    "TimelineEvent",
    "load_scenario",
]
