"""Support's day in a real browser: a customer needs a new time. Find their meeting by email,
see the rep's next open times, give the customer a single-use link for a new time, and cancel
the old meeting with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.accounts.models import Role
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.directory.models import EventType
from portal.links.models import IssuedLink
from tests.browser.conftest import PageProblems
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.browser.test_sign_in import calendly_is_the_sandbox  # noqa: F401 (fixture)
from tests.directory.test_sync import connect, sync
from tests.factories import UserFactory
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser


def a_customers_upcoming_meeting(sandbox: RunningSandbox) -> tuple[Any, Any]:
    """An upcoming one-on-one meeting of the organization with a single invitee."""
    now = timezone.now()
    for event in sorted(sandbox.scheduled_events.values(), key=lambda e: e.start_time):
        event_type = sandbox.event_types.get(event.event_type)
        if (
            event.organization == sandbox.org_uuid
            and event.status == "active"
            and event.start_time > now
            and len(event.invitees) == 1
            and event_type is not None
            and event_type.kind == "solo"
            and not event_type.pooling_type
        ):
            return event, sandbox.invitees[event.invitees[0]]
    raise AssertionError("the sandbox seeds no upcoming one-on-one meeting")


def test_support_finds_a_meeting_offers_a_new_time_and_cancels_the_old_one(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,  # noqa: F811
    problems: PageProblems,
    accessibility: Any,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    portal = live_server.url.replace("localhost", "127.0.0.1")
    org = connect(sandbox)
    assert sync(org, sandbox).status == "succeeded"
    agent = UserFactory(organization=org, role=Role.SUPPORT)
    client = Client()
    client.force_login(agent)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": portal}]
    )
    event, invitee = a_customers_upcoming_meeting(sandbox)
    event_type = EventType.objects.get(uri__endswith=f"/event_types/{event.event_type}")

    # Find the customer's meeting by their email.
    page.goto(f"{portal}/")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Meetings").click()
    page.get_by_label("Invitee's email").fill(invitee.email)
    page.get_by_role("button", name="Find meetings").click()
    results = page.locator("#meetings-results")
    found = results.locator(f'a[href="/meetings/events/{event.uuid}"]')
    expect(found).to_be_visible()
    # Only this customer's meetings are listed.
    expect(results.locator("tbody tr")).to_have_count(
        sum(
            1
            for e in sandbox.scheduled_events.values()
            if any(sandbox.invitees[i].email == invitee.email for i in e.invitees)
            and e.start_time.date() >= (timezone.now() - timezone.timedelta(days=30)).date()
        )
    )
    accessibility.of(page)
    found.click()
    expect(page.get_by_role("heading", name=event.name, exact=True)).to_be_visible()
    meeting_url = page.url

    # What is open for this event type in the next days, before offering a time.
    page.get_by_role("navigation", name="Meetings").get_by_role("link", name="Availability").click()
    page.get_by_label("Event type", exact=True).select_option(str(event_type.pk))
    page.get_by_role("button", name="Show open times").click()
    expect(page.get_by_role("button", name="Copy").first).to_be_visible()
    accessibility.of(page)

    # A single-use link for a new time, made for this customer and kept in the ledger.
    page.goto(meeting_url)
    page.get_by_role("article", name=invitee.name).get_by_role(
        "button", name="Offer a new time"
    ).click()
    expect(page.get_by_role("heading", name="New-time link for")).to_be_visible()
    link = IssuedLink.objects.get()
    assert link.customer == invitee.email.lower()
    assert link.kind == IssuedLink.Kind.SINGLE_USE
    assert link.event_type_uri.endswith(event.event_type)
    expect(page.get_by_text(link.booking_url)).to_be_visible()

    # Then the old meeting goes, with a reason the invitee will read.
    page.get_by_role("link", name="Cancel meeting…").click()
    page.get_by_label("Reason").fill("Moved at the customer's request")
    page.get_by_role("button", name="Cancel meeting for everyone").click()
    expect(page.locator("#messages")).to_contain_text("anceled")
    assert sandbox.scheduled_events[event.uuid].status == "canceled"
    assert sandbox.scheduled_events[event.uuid].cancellation["reason"] == (
        "Moved at the customer's request"
    )
    assert AuditEntry.objects.filter(action=Action.MEETING_CANCELED, actor=agent).exists()
    assert problems.all() == []
