"""An admin's webhook journey in a real browser: subscribe the portal to bookings, send a
test delivery through Calendly's sample data and the signed receiver, find it in the delivery
log, and delete the subscription after confirming."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.accounts.models import Role
from portal.webhooks import processing
from portal.webhooks.models import Delivery, Subscription
from tests.browser.conftest import PageProblems
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.browser.test_sign_in import calendly_is_the_sandbox  # noqa: F401 (fixture)
from tests.directory.test_actions import connect
from tests.factories import UserFactory
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser


def test_an_admin_subscribes_sends_a_test_delivery_reads_it_and_unsubscribes(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,  # noqa: F811
    problems: PageProblems,
    accessibility: Any,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    portal = live_server.url.replace("localhost", "127.0.0.1")
    connected = connect(sandbox)
    admin = UserFactory(organization=connected.org, role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": portal}]
    )

    with override_settings(PORTAL_BASE_URL=portal):
        page.goto(f"{portal}/")
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("heading", name="Webhook subscriptions")).to_be_visible()
        page.get_by_role("link", name="New subscription").click()
        page.get_by_role("checkbox", name="invitee.created:").check()
        page.get_by_role("checkbox", name="invitee.canceled:").check()
        page.get_by_role("radio", name="Organization").check()
        accessibility.of(page)
        page.get_by_role("button", name="Create subscription").click()

        expect(page.locator("#messages")).to_contain_text("Subscribed")
        row = Subscription.objects.get(removed_at=None)
        assert row.callback_url.startswith(f"{portal}/hooks/calendly/")
        assert row.endpoint is not None
        assert [hook.callback_url for hook in sandbox.webhooks.values()] == [row.callback_url]
        expect(page.locator("#subscription-results")).to_contain_text(row.callback_url)

        page.get_by_role("navigation", name="Webhooks").get_by_role(
            "link", name="Delivery log"
        ).click()
        page.get_by_role("link", name="Send test delivery").first.click()
        page.get_by_label("Event").select_option("invitee.created")
        page.get_by_role("button", name="Send test delivery").click()

        # The delivery's page: stored by the receiver, waiting for a worker (none runs here).
        expect(page.get_by_role("heading", name="invitee.created", exact=False)).to_be_visible()
        delivery = Delivery.objects.get()
        assert delivery.headers[processing.TEST_HEADER] == "1"
        assert processing.process(delivery.pk)
        # The page polls while the delivery waits, and shows the outcome once processed.
        expect(page.get_by_text(processing.TEST_OUTCOME)).to_be_visible()
        accessibility.of(page)

        page.get_by_role("navigation", name="Webhooks").get_by_role(
            "link", name="Delivery log"
        ).click()
        expect(page.locator("#delivery-results")).to_contain_text("invitee.created")
        expect(page.locator("#delivery-results")).to_contain_text("Processed")

        page.get_by_role("navigation", name="Webhooks").get_by_role(
            "link", name="Subscriptions"
        ).click()
        page.locator("#subscription-results").get_by_role("link", name="Delete").click()
        expect(page.get_by_role("heading", name="Delete the organization-scope")).to_be_visible()
        page.get_by_role("button", name="Delete subscription").click()
        expect(page.locator("#messages")).to_contain_text("Deleted")
        assert sandbox.webhooks == {}
        row.refresh_from_db()
        assert row.removed_at is not None
    assert problems.all() == []
