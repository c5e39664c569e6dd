"""A small theory of a user's own for tests: the default theory plus two contexts and a rule.

``liaison_turnover`` (partnership level, 0 .. 1, typical 0) drives ``liaison.turnover_resets``,
a trust-eroding term at the trust_change site; ``formal_process`` is a member-level context
(0 .. 2) that no rule reads.
"""

OWN_THEORY = {
    "extends": "default",
    "contexts": [
        {"name": "liaison_turnover", "level": "partnership", "range": [0.0, 1.0],
         "typical": 0.0, "meaning": "Liaison posts that change hands.", "provenance": "p"},
        {"name": "formal_process", "level": "member", "range": [0.0, 2.0],
         "typical": 0.5, "meaning": "Formal process.", "provenance": "p"}],
    "rules": [{"id": "liaison.turnover_resets", "context": "liaison_turnover",
               "mechanism": "reduced_trust", "outcome": "trust", "sign": -1,
               "weight": 0.5, "site": "trust_change", "provenance": "p"}],
}
