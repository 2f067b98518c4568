"""The controls for the axe-core check every browser test gets (tests/browser/conftest.py):
a violation it should catch is caught, in the dark theme and after an htmx swap too."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.browser.conftest import AccessibilityCheck

pytestmark = pytest.mark.browser

# An image without a text alternative: a critical violation.
ADD_AN_IMAGE_WITHOUT_ALT = """() => {
  const image = document.createElement("img");
  image.src = "/static/favicon.svg";
  document.querySelector("main").append(image);
}"""
# Through CSSOM, which the portal's style-src policy leaves to the page's own scripts.
DIM_THE_LEAD_IN_THE_DARK = """() => {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync("@media (prefers-color-scheme: dark) { .lead { color: #333; } }");
  document.adoptedStyleSheets = [sheet];
}"""
AN_HTMX_SWAP_SETTLED = "() => document.dispatchEvent(new Event('htmx:afterSettle'))"


def caught(accessibility: AccessibilityCheck) -> list[str]:
    """What the check found, taken away so the test itself does not fail on it."""
    found, accessibility.violations = accessibility.violations, []
    return [violation.split(" at ", 1)[0] for violation in found]


def test_a_page_that_breaks_a_serious_rule_is_caught_before_the_next_step(
    page: Page, live_server: LiveServer, accessibility: AccessibilityCheck
) -> None:
    page.goto(live_server.url + "/")
    page.evaluate(ADD_AN_IMAGE_WITHOUT_ALT)  # before any step, so the first check sees it
    expect(page.get_by_role("heading", name="Who it is for")).to_be_visible()
    assert caught(accessibility) == ["image-alt (critical, light theme)"]


def test_contrast_is_checked_in_the_dark_theme_too(
    page: Page, live_server: LiveServer, accessibility: AccessibilityCheck
) -> None:
    page.goto(live_server.url + "/")
    page.evaluate(DIM_THE_LEAD_IN_THE_DARK)
    expect(page.get_by_role("heading", name="Who it is for")).to_be_visible()
    assert caught(accessibility) == ["color-contrast (serious, dark theme)"]


def test_what_an_htmx_swap_shows_is_checked_before_the_next_step(
    page: Page, live_server: LiveServer, accessibility: AccessibilityCheck
) -> None:
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Who it is for")).to_be_visible()
    assert accessibility.pages_checked == 1
    page.evaluate(ADD_AN_IMAGE_WITHOUT_ALT)
    page.evaluate(AN_HTMX_SWAP_SETTLED)
    expect(page.get_by_role("heading", name="Who it is for")).to_be_visible()
    assert accessibility.pages_checked == 2
    assert caught(accessibility) == ["image-alt (critical, light theme)"]
