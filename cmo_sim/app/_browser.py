"""Driving the explorer in a headless Chromium: what the browser tests and screenshots share.

Uses the system's Chromium (``/usr/bin/chromium``, or ``CMO_SIM_CHROMIUM``) through
Playwright; no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cmo_sim.app._server import (
    server_command,
    server_environment,
    stop,
    wait_until_served,
)

__all__ = ["CHROMIUM_FLAGS", "chromium_path", "free_port", "open_page", "running_server"]

#: Flags for a headless Chromium on a machine without a display or outside network.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


def chromium_path() -> str:
    """The system Chromium; RuntimeError naming the packages to install if there is none."""
    path = os.environ.get("CMO_SIM_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if not path or not Path(path).exists():
        raise RuntimeError("no Chromium found: install it with `apt-get install -y chromium "
                           "chromium-driver` (or set CMO_SIM_CHROMIUM to its path)")
    return path


def free_port() -> int:
    """A TCP port free on localhost now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(scenario: str | os.PathLike | None = None, *, host: str = "127.0.0.1",
                   log: str | os.PathLike | None = None) -> Iterator[tuple[str, float]]:
    """Serve the explorer on a free port; yield ``(url, seconds until served)``; stop it."""
    port = free_port()
    url = f"http://{host}:{port}/"
    output = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    start = time.perf_counter()
    process = subprocess.Popen(server_command(host, port), env=server_environment(scenario),
                               stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_served(url, process, timeout=60)
        yield url, time.perf_counter() - start
    finally:
        stop(process)
        if output is not subprocess.DEVNULL:
            output.close()


@contextmanager
def open_page(url: str, *, width: int = 1600, height: int = 1000):
    """A Playwright page in headless system Chromium at ``url``; yields ``(page, errors)``.

    ``errors`` collects console messages of type error and uncaught page errors.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_path(), headless=True,
                                         args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(url, wait_until="load")
            yield page, errors
        finally:
            browser.close()
