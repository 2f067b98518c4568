"""A compliance officer's deletion request in a real browser: the list of invitees, the preview
of the requests, the typed confirmation, and the evidence downloaded at the end."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.accounts.models import Role
from portal.jobs.models import Job
from tests.browser.conftest import PageProblems
from tests.browser.test_bulk_invite import Worker
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.browser.test_sign_in import calendly_is_the_sandbox  # noqa: F401 (fixture)
from tests.directory.test_actions import connect
from tests.factories import UserFactory
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser

GUESTS = ["guest.one@example.com", "guest.two@example.com", "guest.three@example.com"]


def test_a_compliance_officer_files_a_deletion_request_and_downloads_the_evidence(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,  # noqa: F811
    problems: PageProblems,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    portal = live_server.url.replace("localhost", "127.0.0.1")
    connected = connect(sandbox)
    officer = UserFactory(organization=connected.org, role=Role.COMPLIANCE)
    client = Client()
    client.force_login(officer)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": portal}]
    )

    page.goto(f"{portal}/")
    page.get_by_role("link", name="Data deletion").click()
    expect(page.get_by_role("heading", name="Data deletion", exact=True)).to_be_visible()
    page.get_by_label("Invitees' email addresses").fill("\n".join([*GUESTS, GUESTS[0]]))
    page.get_by_role("button", name="Preview the requests").click()

    expect(page.get_by_role("heading", name="Preview: nothing has been sent yet")).to_be_visible()
    expect(page.get_by_text("Repeated in the list: 1")).to_be_visible()
    assert sandbox.deletions_requested == {}  # a preview asks nothing

    page.get_by_label("Type 1 to confirm: this cannot be undone").fill("1")
    page.get_by_role("button", name="Send 1 request").click()
    expect(page.locator("#messages")).to_contain_text("Started.")
    job = Job.objects.get(organization=connected.org)
    worker = Worker(job.pk)
    worker.start()
    try:
        expect(page.get_by_role("heading", name="Finished")).to_be_visible(timeout=60_000)
    finally:
        worker.stop()

    with page.expect_download() as evidence:
        page.get_by_role("link", name="Download the evidence (CSV)").click()
    with Path(evidence.value.path()).open(newline="", encoding="utf-8-sig") as file:
        rows = list(csv.DictReader(file))
    sent = [row for row in rows if row["outcome"] == "Deletion requested"]
    assert len(sent) == 1
    assert sent[0]["addresses"].split() == GUESTS
    assert sent[0]["Calendly's answer"] == "202"
    assert sent[0]["asked by"]
    assert sandbox.deletions_requested == dict.fromkeys(GUESTS, 1)
    assert problems.on_origin(portal) == []
