from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.accounts.models import Connection
from tests.browser.conftest import PageProblems
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser


@pytest.fixture
def calendly_is_the_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    csp = {**settings.SECURE_CSP, "form-action": ["'self'", sandbox.url]}
    with override_settings(
        CALENDLY_API_URL=sandbox.url,
        CALENDLY_AUTH_URL=sandbox.url,
        CALENDLY_CLIENT_ID=sandbox.client_id,
        CALENDLY_CLIENT_SECRET=sandbox.client_secret,
        SECURE_CSP=csp,
    ):
        yield


def test_an_owner_signs_in_with_calendly_and_connects_in_chromium(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,
    problems: PageProblems,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    # The sandbox accepts localhost redirect URIs, like Calendly's own sandbox environment.
    portal = live_server.url.replace("localhost", "127.0.0.1")
    page.goto(f"{portal}/accounts/sign-in")
    page.get_by_role("button", name="Sign in with Calendly").click()

    # Calendly's consent page (the sandbox's): pick the owner and allow.
    expect(
        page.get_by_role("heading", name="Allow access to your Calendly account?")
    ).to_be_visible()
    page.get_by_label(sandbox.owner.name, exact=False).check()
    page.get_by_role("button", name="Allow").click()

    expect(page.get_by_role("heading", name="Calendly connection")).to_be_visible()
    expect(page.get_by_text(sandbox.owner.name)).to_be_visible()
    page.get_by_role("button", name="Connect this organization").click()

    expect(page.locator("#messages")).to_contain_text("Connected.")
    assert Connection.objects.get().owner_label == sandbox.owner.email

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in with Calendly")).to_be_visible()
    # The consent page is the sandbox's (Calendly's), not ours: only the portal's pages count.
    assert problems.on_origin(portal) == []
