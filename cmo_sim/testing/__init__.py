"""Tools for users' own property tests of the model and of their CMO claims.

Hypothesis strategies that draw valid inputs, and checks that state what must hold:

- :func:`scenarios`: scenarios valid by construction (2 .. ``members`` members, sizes
  log-uniform 10 .. 100,000 staff, optional entry points and timelines); keyword arguments fix
  contexts to values or strategies.
- :func:`contexts`: changes of partnership contexts, ``{name: value}``, for ``with_values``.
- :func:`theories`: variants of a programme theory (rules ablated, weights rescaled) and,
  with ``user_contexts`` / ``user_rules``, theories with contexts and rules of their own.
- :func:`theory_contexts`: a scenario with values drawn for a theory's own contexts.
- :func:`check_invariants`: raise ``AssertionError`` listing every violated invariant.
- :func:`assert_effect`: assert that raising a context moves an outcome in a direction, with
  common random numbers and a confidence interval.

Importing this module needs hypothesis (the ``test`` extra). docs/testing.md has an example.
"""

from cmo_sim.testing._checks import Effect, assert_effect, check_invariants
from cmo_sim.testing._strategies import contexts, scenarios, theories, theory_contexts

__all__ = ["Effect", "assert_effect", "check_invariants", "contexts", "scenarios", "theories",
           "theory_contexts"]
