"""The dashboard in a real headless Chromium (Debian's), driven by Playwright.

Needs ``apt-get install chromium`` and ``pip install playwright``; the test never lets
Playwright fetch a browser of its own. Screenshots go to ``$NHIP_CENTRE_ARTIFACTS``
(default ``tests/centre/artifacts``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("NHIP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("NHIP_CENTRE_ARTIFACTS",
                                Path(__file__).resolve().parent / "artifacts"))
# As root in a closed network: no sandbox, no GPU, and none of Chromium's own traffic.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield launched
        launched.close()


def _log_in(browser, url: str, token: str, language: str = "en"):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.add_init_script(f"localStorage.setItem('nhip-lang', '{language}')")
    page.goto(url)
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("login").click()
    page.get_by_test_id("phase").filter(has_text="p").wait_for(timeout=20_000)
    return context, page


def test_operator_proposes_supervisor_approves_and_the_plan_runs(browser, live_centre):
    """Log in, open the junction, change the plan, see it approved and applied live."""
    url, tokens = live_centre.url, live_centre.tokens
    operator_context, operator = _log_in(browser, url, tokens["operator"], "vi")
    operator.get_by_test_id("marker-TP").click()
    assert "TP" in operator.get_by_test_id("junction-name").inner_text()
    for i, green in enumerate((33, 7, 32)):
        operator.get_by_test_id(f"green-{i}").fill(str(green))
    operator.get_by_test_id("submit-plan").click()
    operator.get_by_test_id("plan-message").filter(has_text="chờ").wait_for()
    operator.screenshot(path=str(ARTIFACTS / "1-operator-proposes-vi.png"))
    operator_context.close()

    supervisor_context, supervisor = _log_in(browser, url, tokens["supervisor"])
    approve = supervisor.locator("[data-testid^=approve-]").last
    approve.click()
    supervisor.get_by_test_id("current-plan").filter(has_text="33 / 7 / 32").wait_for(
        timeout=30_000)
    supervisor.locator("#history tr.applied").first.wait_for(timeout=30_000)
    assert supervisor.get_by_test_id("mode").inner_text() == "manual"
    supervisor.wait_for_timeout(1500)  # let the chart and queues fill in for the picture
    supervisor.screenshot(path=str(ARTIFACTS / "2-supervisor-approved-applied.png"))

    for i, green in enumerate((3, 7, 32)):
        supervisor.get_by_test_id(f"green-{i}").fill(str(green))
    supervisor.get_by_test_id("submit-plan").click()
    refusal = supervisor.get_by_test_id("plan-message")
    refusal.filter(has_text="below its minimum").wait_for()
    assert "Refused" in refusal.inner_text()
    supervisor.screenshot(path=str(ARTIFACTS / "3-unsafe-plan-refused.png"))
    supervisor_context.close()


def test_police_see_incidents_but_cannot_change_plans(browser, live_centre):
    """The police role gets no plan editor, and the API refuses it even if forced."""
    context, page = _log_in(browser, live_centre.url, live_centre.tokens["police"])
    assert page.locator("#editor-card").is_hidden()
    assert page.locator("#incident-card").is_visible()
    status = page.evaluate("""async () => (await fetch('/api/junctions/TP/plan', {
        method: 'PUT', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({greens_s: [30, 8, 30]})})).status""")
    assert status == 403
    page.screenshot(path=str(ARTIFACTS / "4-police-view.png"))
    context.close()


def test_a_wrong_token_does_not_log_in(browser, live_centre):
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script("localStorage.setItem('nhip-lang', 'en')")
    page.goto(live_centre.url)
    page.get_by_test_id("token").fill("wrong-token-123")
    page.get_by_test_id("login").click()
    page.locator("#login-error").filter(has_text="not valid").wait_for()
    assert page.locator("#app").is_hidden()
    context.close()
