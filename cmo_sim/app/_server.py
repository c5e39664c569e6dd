"""Serving the explorer: ``cmo-sim app`` starts a Solara server in a child process."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from cmo_sim.app._logic import APP_SCENARIO_ENV

__all__ = ["INSTALL_HINT", "app_available", "serve", "server_command", "wait_until_served"]

#: What to install when the explorer's packages are missing.
INSTALL_HINT = "pip install 'cmo-sim[app]'"
#: The packages the explorer needs beyond the base install.
APP_PACKAGES = ("solara", "ipyvuetify", "reacton")


def app_available() -> str | None:
    """None when the explorer's packages are installed, else a message naming the extra."""
    missing = [name for name in APP_PACKAGES if find_spec(name) is None]
    if missing:
        return (f"the explorer needs {', '.join(missing)} (not installed): {INSTALL_HINT}")
    return None


def server_command(host: str, port: int) -> list[str]:
    """The command that serves the explorer page (Solara's server, production mode)."""
    return [sys.executable, "-m", "solara", "run", "cmo_sim.app.page", "--production",
            "--no-open", "--no-check-version", "--host", host, "--port", str(port)]


def server_environment(scenario: str | os.PathLike | None) -> dict[str, str]:
    """The environment of the server: the start scenario, and no reports sent anywhere."""
    env = dict(os.environ)
    env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    # Solara warns on every page over plain http that its cookies fall back to samesite=lax.
    quiet = "ignore:Cookies with samesite=none:UserWarning"
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), quiet]))
    env.pop(APP_SCENARIO_ENV, None)
    if scenario is not None:
        env[APP_SCENARIO_ENV] = str(Path(scenario).resolve())
    return env


def check_port(host: str, port: int) -> None:
    """ValueError if ``port`` cannot be listened on at ``host`` (in use, not allowed)."""
    if not 0 < port < 65536:
        raise ValueError(f"--port: {port} is not a port number (1 .. 65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"--host: {host!r} is not a host name or address ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = ("in use" if exc.errno == errno.EADDRINUSE
                      else exc.strerror or str(exc))
            raise ValueError(f"--port: cannot listen on {host}:{port} ({reason})") from None


def wait_until_served(url: str, process: subprocess.Popen | None = None,
                      timeout: float = 60.0) -> float:
    """Seconds until ``url`` answers 200; RuntimeError if ``process`` ends or time runs out."""
    start = time.perf_counter()
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the explorer's server stopped (exit status {process.returncode})"
                               " before serving the page")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"the explorer's server did not serve {url} within {timeout:g} s")
        time.sleep(0.1)


def serve(host: str = "localhost", port: int = 8765, scenario: str | os.PathLike | None = None,
          *, echo: Callable[[str], None] = print) -> int:
    """Serve the explorer until interrupted; print its URL once the page is served.

    Returns the server's exit status. Ctrl-C (or SIGTERM raised as KeyboardInterrupt) stops
    the server before returning.

    Raises
    ------
    ImportError
        If Solara or ipyvuetify is not installed (the message names the ``app`` extra).
    ValueError
        If the port cannot be listened on or the scenario file does not exist.
    """
    problem = app_available()
    if problem is not None:
        raise ImportError(problem)
    if scenario is not None and not Path(scenario).is_file():
        raise ValueError(f"--scenario: {scenario}: no such file")
    check_port(host, port)
    url = f"http://{host}:{port}/"
    start = time.perf_counter()
    process = subprocess.Popen(server_command(host, port), env=server_environment(scenario),
                               stdout=subprocess.DEVNULL)
    try:
        wait_until_served(url, process)
        echo(f"cmo-sim explorer: {url} (served {time.perf_counter() - start:.1f} s after "
             "start; Ctrl-C stops it)")
        return process.wait()
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop the server process: asked to end, killed if it has not within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
