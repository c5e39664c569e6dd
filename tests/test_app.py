"""The explorer (cmo_sim.app): its logic, and the page in a real headless Chromium.

The browser test starts the server (``solara run cmo_sim.app.page``) on a free port, drives the
system's Chromium through Playwright and stops the server at the end, also on failure. It
reports the measured times (start to served page, refresh of the batch view after a slider
move) in the warnings summary of the test run.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
import warnings

import pytest

from cmo_sim import cli
from cmo_sim.app import CONTEXT_GROUPS, apply_values, base_scenario, batch_view
from cmo_sim.app import _server as server
from cmo_sim.scenario import PARTNERSHIP_FIELDS

NUMBERS = ".cmo-batch-numbers"
EVENTS = ".cmo-event-count"
MESSAGE = ".cmo-message"
#: Longest wait for the first batch view of a page (1,000 runs on a busy two-core machine).
FIRST_VIEW_MS = 60_000


# -- the logic ---------------------------------------------------------------------------------
def test_every_partnership_context_has_one_group():
    grouped = [name for names in CONTEXT_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(PARTNERSHIP_FIELDS)
    assert len(grouped) == len(set(grouped))


def test_controls_map_to_the_scenario_with_those_values():
    base, problem = base_scenario(None)
    assert problem is None
    values = {"leadership": 0.8, "members[0].size": 500, "members[1].resources": 0.2,
              "entry_point": "innovation", "form": "merger", "mandated": True}
    scenario, message = apply_values(base, values)
    assert message is None
    assert scenario == base.with_values(values)
    assert scenario.leadership == 0.8 and scenario.members[0].size == 500
    assert scenario.form == "merger" and scenario.entry_point == "innovation"


def test_query_text_is_converted_and_fixed_term_gets_a_term():
    base, _ = base_scenario(None)
    scenario, message = apply_values(base, {"leadership": "0.25", "mandated": "true",
                                            "form": "fixed_term"})
    assert message is None
    assert scenario.leadership == 0.25 and scenario.mandated is True
    assert scenario.term == 60
    back, message = apply_values(scenario, {"form": "alliance"})
    assert message is None and back.term is None


@pytest.mark.parametrize(("values", "expected"), [
    ({"leadership": 1.5}, "leadership: 1.5 is outside its range 0 .. 1"),
    ({"history": -2}, "history: -2 is outside its range -1 .. 1"),
    ({"members[0].size": 0}, "members[0].size: 0 is outside its range 1 .. 1e+07"),
    ({"leadership": "high"}, "leadership: 'high' is not a number"),
    ({"leadership": float("nan")}, "not a finite number"),
    ({"leadershp": 0.5}, "leadershp: not a context the explorer knows"),
    ({"form": "cartel"}, "form: 'cartel' is not a form"),
    ({"entry_point": "boredom"}, "entry_point: 'boredom' is not an entry point"),
    ({"members[7].resources": 0.5}, "member index 7 out of range"),
    ({"lead": 5}, "lead: 5 is not a member index"),
])
def test_bad_values_give_a_message_not_an_exception(values, expected):
    base, _ = base_scenario(None)
    scenario, message = apply_values(base, values)
    assert scenario is None
    assert expected in message
    assert "Traceback" not in message


def test_a_scenario_file_that_fails_validation_gives_the_typical_dyad_and_a_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nleadership: 3\nmembers: [{size: 10}, {size: 20}]\n")
    scenario, message = base_scenario(bad)
    assert scenario.name == "typical_voluntary_dyad"
    assert "leadership" in message and "showing the typical voluntary dyad" in message
    scenario, message = base_scenario(tmp_path / "missing.yaml")
    assert scenario.name == "typical_voluntary_dyad" and "missing.yaml" in message


def test_batch_view_numbers_and_figures():
    base, _ = base_scenario(None)
    view = batch_view(base, runs=40, steps=24)
    assert abs(sum(view.shares.values()) - 1) < 1e-9
    assert view.text().startswith("share thriving ")
    assert view.png[:4] == b"\x89PNG" and view.end_states_png[:4] == b"\x89PNG"


def test_importing_cmo_sim_does_not_import_solara():
    code = "import sys, cmo_sim, cmo_sim.cli; print('solara' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_missing_solara_names_the_extra(monkeypatch, capsys):
    monkeypatch.setattr(server, "find_spec", lambda name: None if name == "solara" else 1)
    assert "pip install 'cmo-sim[app]'" in server.app_available()
    assert cli.main(["app"]) == 1
    assert "pip install 'cmo-sim[app]'" in capsys.readouterr().err


def test_cli_refuses_a_missing_scenario_file_and_a_busy_port(tmp_path, capsys):
    assert cli.main(["app", "--scenario", str(tmp_path / "nope.yaml")]) == 1
    assert "--scenario" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["app", "--host", "127.0.0.1", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


# -- the page in a real browser ----------------------------------------------------------------
# One test, so that the test run's workers start one server and one browser between them.
class Measured(UserWarning):
    """The explorer's measured times (shown in the warnings summary of every test run)."""


def _wait_for_numbers(page) -> None:
    page.wait_for_function(
        f"() => {{ const e = document.querySelector('{NUMBERS}');"
        " return e && e.innerText.startsWith('share'); }", timeout=FIRST_VIEW_MS)


def _dissolved(text: str) -> float:
    return float(text.split("share dissolved ")[1].split("%")[0])


def _events(page) -> int:
    return int(page.locator(EVENTS).inner_text().split(";")[-1].split()[0])


def test_explorer_in_a_real_browser(tmp_path, capsys):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from cmo_sim.app._browser import CHROMIUM_FLAGS, chromium_path, running_server

    try:
        chromium = chromium_path()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    timings = []
    with running_server(log=tmp_path / "server.log") as (url, served), sync_playwright() as pw:
        timings.append(f"served {served:.2f} s after the server was started")
        assert served <= 30, "the explorer took far longer than its 10 s target to start"
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            start = time.perf_counter()
            page.goto(url, wait_until="load")
            _wait_for_numbers(page)
            timings.append(f"first batch view {time.perf_counter() - start:.2f} s after the "
                           "page was opened")

            # the page: no console errors, not blank
            assert page.locator(".cmo-context-leadership").count() == 1
            assert page.locator(EVENTS).inner_text().startswith("month 0 of 120")
            shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
            colours = len(shot.getcolors(maxcolors=1 << 24))
            assert colours > 200, f"the screenshot looks blank ({colours} distinct colours)"

            # moving the leadership slider changes the batch view's numbers
            before = page.locator(NUMBERS).inner_text()
            page.locator(".cmo-context-leadership [role=slider]").focus()
            start = time.perf_counter()
            page.keyboard.press("End")  # leadership 0.5 -> 1
            page.wait_for_function(
                f"(b) => document.querySelector('{NUMBERS}').innerText != b", arg=before,
                timeout=FIRST_VIEW_MS)
            refresh = time.perf_counter() - start
            after = page.locator(NUMBERS).inner_text()
            timings.append(f"batch view refreshed {refresh:.2f} s after the leadership slider "
                           "moved (1,000 runs x 120 months)")
            assert "leadership: 1.00" in page.locator(".cmo-context-leadership").inner_text()
            assert _dissolved(after) < _dissolved(before), (before, after)

            # stepping the model adds events
            assert _events(page) == 0
            page.locator(".cmo-step").click()
            page.wait_for_function(
                f"() => document.querySelector('{EVENTS}').innerText.startsWith('month 1 ')")
            first = _events(page)
            assert first >= 1
            page.locator(".cmo-step-year").click()
            page.wait_for_function(
                f"() => document.querySelector('{EVENTS}').innerText.startsWith('month 13 ')")
            assert _events(page) > first
            assert page.locator(".v-data-table").count() == 1  # the event log
            assert errors == [], errors
            assert "Traceback" not in page.inner_text("body")
            page.close()

            # bad input: a message in the page, and the page keeps running
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(url + "?leadership=1.5", wait_until="load")
            _wait_for_numbers(page)
            message = page.locator(MESSAGE).first.inner_text()
            assert "leadership: 1.5 is outside its range 0 .. 1" in message
            bad = tmp_path / "bad.yaml"
            bad.write_text("name: bad\nmembers: [{size: -4}, {size: 20}]\n")
            page.locator(".cmo-scenario-file input").fill(str(bad))
            page.locator(".cmo-scenario-file button").click()
            page.wait_for_function(
                f"() => [...document.querySelectorAll('{MESSAGE}')]"
                ".some(e => e.innerText.includes('bad.yaml'))")
            assert "Traceback" not in page.inner_text("body")
            before = page.locator(EVENTS).inner_text()
            page.locator(".cmo-step").click()
            page.wait_for_function(
                f"(b) => document.querySelector('{EVENTS}').innerText != b", arg=before)
            assert errors == [], errors
        finally:
            browser.close()
    report = "; ".join(timings)
    with capsys.disabled():
        print(f"\n[cmo-sim app] {report}")
    warnings.warn(Measured(f"cmo-sim app: {report}"), stacklevel=1)
