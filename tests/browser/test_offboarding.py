"""An admin's offboarding in a real browser: people ticked on the members page, the inventory
of what they leave behind, the typed confirmation, and the report with what is left to do in
Calendly."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.directory.models import Member
from portal.jobs.models import Job
from tests.browser.conftest import PageProblems
from tests.browser.test_bulk_invite import Worker
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.browser.test_sign_in import calendly_is_the_sandbox  # noqa: F401 (fixture)
from tests.directory.test_actions import connect
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser


def test_an_admin_offboards_a_selection_reads_the_inventory_confirms_and_reads_the_report(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,  # noqa: F811
    problems: PageProblems,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    portal = live_server.url.replace("localhost", "127.0.0.1")
    connected = connect(sandbox)
    session = connected.client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": portal}]
    )
    leavers = list(
        Member.objects.filter(organization=connected.org, role=Member.Role.USER).order_by("name")[
            :2
        ]
    )

    page.goto(f"{portal}/members/")
    for person in leavers:
        page.get_by_role("checkbox", name=f"Select {person.name}").check()
    page.get_by_role("button", name="Offboard selected…").click()

    expect(page.get_by_role("heading", name="Preview: nothing has been sent yet")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="will be offboarded")).to_have_text(
        "2 of 2 people will be offboarded."
    )
    expect(page.get_by_role("heading", name="What they leave behind")).to_be_visible()
    for person in leavers:
        expect(page.get_by_role("row", name=person.name)).to_contain_text("user")
    # What only Calendly knows is read after the page, and shown; nothing is changed.
    expect(
        page.get_by_role("heading", name="Upcoming meetings and webhooks, from Calendly")
    ).to_be_visible()
    for person in leavers:
        expect(page.get_by_role("row", name=person.name).last).to_be_visible()
    assert sandbox.memberships_removed == {}
    assert sandbox.requests.count("DELETE /organization_memberships/{uuid}") == 0

    page.get_by_label("Type 2 to confirm: this cannot be undone").fill("2")
    page.get_by_role("button", name="Offboard 2 people").click()
    expect(page.locator("#messages")).to_contain_text("Started.")
    job = Job.objects.get(organization=connected.org)
    worker = Worker(job.pk)
    worker.start()
    try:
        expect(page.get_by_role("heading", name="Finished")).to_be_visible(timeout=60_000)
    finally:
        worker.stop()

    expect(page.get_by_role("heading", name="Report")).to_be_visible()
    for person in leavers:
        expect(page.get_by_role("listitem").filter(has_text=person.name).first).to_contain_text(
            "Removed from the organization."
        )
    expect(
        page.get_by_role("link", name="https://calendly.com/app/admin/billing").first
    ).to_be_visible()
    assert sandbox.memberships_removed == {person.email.lower(): 1 for person in leavers}
    assert problems.on_origin(portal) == []
