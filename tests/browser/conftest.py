"""Playwright with Debian's Chromium (a browser download does not work on our machines).

Every page of the portal a browser test shows is checked with axe-core, in the light and the
dark theme: before the test's first step on each new page, again after each htmx swap, and as
the test leaves it. A violation of impact "serious" or "critical" fails the test, so a new
page is checked without anyone asking for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from pytest_django.live_server_helper import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
FAILING_IMPACTS = ("serious", "critical")
RUN_AXE = "options => axe.run(document, options)"
EVERY_RULE = {"resultTypes": ["violations"]}
# The dark theme changes only colours, so only the contrast rule runs again in it.
CONTRAST_ONLY = {"resultTypes": ["violations"], "runOnly": ["color-contrast"]}
# A page waits for its check until the test's next step on it: Playwright runs a locator
# handler before every action and assertion while its locator matches, and blocks the step
# until the handler returns. (A handler on the "load" event would run beside the test, which
# may have left the page by the time axe is done.)
UNCHECKED = "body:not([data-axe-checked])"
IS_CHECKED = "document.body.hasAttribute('data-axe-checked')"
MARK_CHECKED = "document.body.setAttribute('data-axe-checked', '')"
RECHECK_AFTER_SWAPS = (
    "document.addEventListener('htmx:afterSettle',"
    " () => document.body.removeAttribute('data-axe-checked'));"
)
# The check runs inside the step that follows it, so its time counts against that step's
# wait: axe takes seconds on a long page (the links directory) while the other xdist worker
# keeps the second core busy, and Playwright's 5 s default then fails steps that are fine.
expect.set_options(timeout=20_000)


@dataclass
class PageProblems:
    # Each console error with the URL it came from (for a failed load, the resource's URL).
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return self.console_errors + self.page_errors + self.failed_requests

    def on_origin(self, origin: str) -> list[str]:
        """Only the problems whose URL is on `origin` (say, the portal's, not the sandbox's)."""
        return [
            problem for problem in self.all() if f" {origin}/" in f" {problem.rsplit(' @ ', 1)[-1]}"
        ]


@dataclass
class AccessibilityCheck:
    """axe-core's verdict on each state of the portal's pages that a test showed."""

    port: int | None
    violations: list[str] = field(default_factory=list)
    pages_checked: int = 0
    seconds: float = 0.0

    def of(self, page: Page) -> None:
        if urlsplit(page.url).port != self.port:
            return  # not the portal's page: the sandbox stands in for Calendly's own
        started = time.monotonic()
        try:
            page.wait_for_load_state()  # the stylesheet too, or contrast is measured without it
            if page.evaluate(IS_CHECKED):
                return
            # axe-core goes in through page.evaluate, that is DevTools' Runtime.evaluate,
            # which the page's Content-Security-Policy does not govern: the portal keeps its
            # real policy (nonce-only scripts) during the check, and the tests still see any
            # violation the portal causes. bypass_csp=True would lift it for the whole test.
            page.evaluate(AXE_SCRIPT)
            self._report(page, page.evaluate(RUN_AXE, EVERY_RULE), "light")
            page.emulate_media(color_scheme="dark")
            try:
                self._report(page, page.evaluate(RUN_AXE, CONTRAST_ONLY), "dark")
            finally:
                page.emulate_media(color_scheme="light")
            page.evaluate(MARK_CHECKED)
        except Error as error:
            if "context was destroyed" not in error.message:
                raise
            # The page moved on by itself (a redirect); the next one is checked in turn.
            return
        self.pages_checked += 1
        self.seconds += time.monotonic() - started

    def _report(self, page: Page, results: dict[str, Any], theme: str) -> None:
        for violation in results["violations"]:
            if violation["impact"] in FAILING_IMPACTS:
                nodes = "; ".join(" ".join(node["target"]) for node in violation["nodes"])
                self.violations.append(
                    f"{violation['id']} ({violation['impact']}, {theme} theme) at {page.url}: "
                    f"{violation['help']}: {nodes}"
                )


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Browser tests need Debian's Chromium: apt-get install -y chromium")
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
    )
    yield browser
    browser.close()


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def accessibility(live_server: LiveServer) -> AccessibilityCheck:
    return AccessibilityCheck(port=urlsplit(live_server.url).port)


@pytest.fixture
def page(
    browser: Browser, problems: PageProblems, accessibility: AccessibilityCheck
) -> Iterator[Page]:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    context.add_init_script(RECHECK_AFTER_SWAPS)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.console_errors.append(f"{message.text} @ {message.location.get('url', '')}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.page_errors.append(f"{error} @ {page.url}"))
    page.on(
        "requestfailed",
        lambda request: problems.failed_requests.append(f"{request.method} @ {request.url}"),
    )
    page.add_locator_handler(
        page.locator(UNCHECKED), lambda _: accessibility.of(page), no_wait_after=True
    )
    yield page
    accessibility.of(page)  # the page as the test leaves it
    context.close()
    assert accessibility.violations == [], "\n".join(accessibility.violations)
