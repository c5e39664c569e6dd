"""The programme theory as data: CMO rules with weights and provenance."""

from cmo_sim.theory._model import (
    CONTEXTS,
    MECHANISMS,
    OUTCOMES,
    Rule,
    Theory,
    check_theory,
    load_theory,
)

__all__ = ["CONTEXTS", "MECHANISMS", "OUTCOMES", "Rule", "Theory", "check_theory", "load_theory"]
