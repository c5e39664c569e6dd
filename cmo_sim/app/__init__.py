"""The cmo-sim explorer: an interactive Solara page over one partnership and 1,000 runs.

``cmo-sim app`` serves it; ``solara run cmo_sim.app.page`` too, and :data:`Page` (or
:func:`Explorer`) can be embedded in another Solara app or a notebook. The explorer needs the
``app`` extra (``pip install 'cmo-sim[app]'``); importing :mod:`cmo_sim` never imports Solara.
"""

from __future__ import annotations

from typing import Any

from cmo_sim.app._logic import (
    APP_SCENARIO_ENV,
    CONTEXT_GROUPS,
    MEMBER_CONTROLS,
    apply_values,
    base_scenario,
    batch_view,
)
from cmo_sim.app._server import INSTALL_HINT, app_available, serve

__all__ = [
    "APP_SCENARIO_ENV",
    "CONTEXT_GROUPS",
    "INSTALL_HINT",
    "MEMBER_CONTROLS",
    "Explorer",
    "Page",
    "app_available",
    "apply_values",
    "base_scenario",
    "batch_view",
    "serve",
]


def __getattr__(name: str) -> Any:
    """``Page`` and ``Explorer`` import Solara on first use (a clear error without it)."""
    if name in ("Page", "Explorer"):
        from cmo_sim.app import page

        return getattr(page, name)
    raise AttributeError(f"module 'cmo_sim.app' has no attribute {name!r}")
