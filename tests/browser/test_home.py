from __future__ import annotations

import pytest
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from tests.browser.conftest import PageProblems

pytestmark = pytest.mark.browser

# Reports every Content-Security-Policy violation the page causes, as a console error.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_home_page_loads_in_chromium_without_console_errors(
    page: Page, live_server: LiveServer, problems: PageProblems
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    response = page.goto(live_server.url + "/")
    assert response is not None
    assert response.status == 200
    assert page.title() == "Welcome · Calendly admin portal"
    assert page.get_by_role("heading", name="Who it is for").is_visible()
    # htmx came from our static files and took the locked-down configuration.
    assert page.evaluate("window.htmx.version").startswith("2.")
    assert page.evaluate("window.htmx.config.allowEval") is False
    assert page.evaluate("window.htmx.config.historyCacheSize") == 0
    assert page.evaluate("sessionStorage.getItem('htmx-history-cache')") is None
    assert problems.all() == []


def test_a_csp_violation_would_be_reported(
    page: Page, live_server: LiveServer, problems: PageProblems
) -> None:
    # The control for the test above: an inline script without the nonce is blocked and
    # shows up as a console error, so a page that broke the policy would fail that test.
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.goto(live_server.url + "/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = 1'; document.body.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.injected") is None
    assert any("CSP violation" in error for error in problems.console_errors)


def test_skip_link_moves_keyboard_focus_to_the_content(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("element => element === document.activeElement")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
