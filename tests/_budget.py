"""Hypothesis example counts that follow the active profile, so ``--slow`` raises every one.

A test's own ``@settings(max_examples=n)`` would override the profile; :func:`examples` scales
``n`` by the profile's ``max_examples`` over the default profile's instead (``--slow`` loads a
profile ten times as large), and keeps every other setting from the profile.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings

#: ``max_examples`` of the default profile (conftest.py); ``--slow`` uses ten times as many.
DEFAULT_EXAMPLES = 100
SLOW_FACTOR = 10


def examples(n: int, **kwargs: Any) -> settings:
    """Settings for a property test of ``n`` examples in the default profile."""
    scale = settings.default.max_examples / DEFAULT_EXAMPLES
    return settings(max_examples=max(1, round(n * scale)), **kwargs)
