"""Screenshots of the explorer for docs/app.md: ``python tools/app_screenshots.py``.

Serves the explorer, opens it in the system's headless Chromium, and writes
docs/img/app_overview.png (the page as it opens), docs/img/app_stepped.png (leadership moved to
1 and the partnership stepped two years) and docs/img/app_bad_input.png (a value out of range
in the address). Needs the app and test extras and Chromium (see docs/app.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cmo_sim.app._browser import open_page, running_server

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
NUMBERS = ".cmo-batch-numbers"


def _wait_for_numbers(page, before: str | None = None) -> None:
    page.wait_for_function(
        "([sel, before]) => { const e = document.querySelector(sel);"
        " return e && e.innerText.startsWith('share') && e.innerText != before; }",
        arg=[NUMBERS, before or ""], timeout=60_000)


def main() -> int:
    """Write the screenshots; print each path."""
    OUT.mkdir(parents=True, exist_ok=True)
    with running_server() as (url, served):
        print(f"served in {served:.1f} s at {url}")
        with open_page(url, width=1500, height=1000) as (page, errors):
            _wait_for_numbers(page)
            page.wait_for_timeout(500)
            page.screenshot(path=OUT / "app_overview.png")
            before = page.locator(NUMBERS).inner_text()
            page.locator(".cmo-context-leadership [role=slider]").focus()
            page.keyboard.press("End")
            _wait_for_numbers(page, before)
            for _ in range(2):
                page.locator(".cmo-step-year").click()
                time.sleep(1.0)
            page.wait_for_function(
                "() => document.querySelector('.cmo-event-count').innerText"
                ".startsWith('month 24 ')")
            page.wait_for_timeout(500)
            page.screenshot(path=OUT / "app_stepped.png")
            page.locator(".cmo-live").screenshot(path=OUT / "app_partnership.png")
            page.locator(".cmo-batch").screenshot(path=OUT / "app_batch.png")
            if errors:
                print("console errors:", errors, file=sys.stderr)
                return 1
        with open_page(url + "?leadership=1.5", width=1500, height=700) as (page, _):
            _wait_for_numbers(page)
            page.wait_for_timeout(500)
            page.screenshot(path=OUT / "app_bad_input.png")
    for name in ("overview", "stepped", "partnership", "batch", "bad_input"):
        print(OUT / f"app_{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
