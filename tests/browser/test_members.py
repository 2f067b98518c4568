from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.directory.models import SyncRun
from portal.directory.tasks import sync_organization_task
from tests.browser.conftest import PageProblems
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.browser.test_sign_in import calendly_is_the_sandbox  # noqa: F401 (fixture)
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser


def test_an_admin_finds_a_member_invites_someone_and_revokes_the_invitation(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,  # noqa: F811
    problems: PageProblems,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    portal = live_server.url.replace("localhost", "127.0.0.1")
    page.goto(f"{portal}/accounts/sign-in")
    page.get_by_role("button", name="Sign in with Calendly").click()
    page.get_by_label(sandbox.owner.name, exact=False).check()
    page.get_by_role("button", name="Allow").click()
    page.get_by_role("button", name="Connect this organization").click()
    expect(page.locator("#messages")).to_contain_text("Connected.")
    # Connecting queued the first sync for a worker; run it here as the worker would.
    run = SyncRun.objects.get(status=SyncRun.Status.QUEUED)
    sync_organization_task(run.organization_id, run.trigger, None, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    # The home page polls the sync's progress until it sees the end; leaving while a poll is
    # in flight would abort it.
    expect(page.locator(".sync-progress .message-success")).to_contain_text("Synced with Calendly")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Members").click()
    someone = sandbox.plain_users[0]
    part = someone.name.split()[-1][:4].lower()
    page.get_by_label("Name or email").fill(part)
    # Results swap in place as you type, and the URL carries the search for bookmarking.
    expect(page).to_have_url(re.compile(rf"[?&]q={part}"))
    expect(page.locator("#member-results .count")).to_contain_text(
        re.compile(r"\b\d+ of 30 members\b")
    )
    row_link = page.locator("#member-results").get_by_role("link", name=someone.name)
    row_link.click()
    expect(page.get_by_role("heading", name=someone.name)).to_be_visible()

    page.get_by_role("link", name="← Members").click()
    page.get_by_text("Invite people").click()
    # The label sits above its box, and the box is wide enough to read a list of addresses.
    label = page.locator("label[for=invite-emails]").bounding_box()
    box = page.get_by_label("Email addresses").bounding_box()
    assert label is not None
    assert box is not None
    assert label["y"] + label["height"] <= box["y"]
    assert abs(label["x"] - box["x"]) < 2
    assert box["width"] >= 400
    page.get_by_label("Email addresses").fill("playwright.hire@example.com")
    page.get_by_role("button", name="Invite", exact=True).click()
    expect(page.locator("#messages")).to_contain_text("Invited 1: playwright.hire@example.com")
    pending = page.locator("#member-results").get_by_role("row", name="playwright.hire@example.com")
    expect(pending).to_be_visible()

    pending.get_by_role("link", name="Revoke…").click()
    page.get_by_role("button", name="Revoke invitation").click()
    expect(page.locator("#messages")).to_contain_text(
        "Revoked the invitation of playwright.hire@example.com."
    )
    expect(page.locator("#member-results")).not_to_contain_text("playwright.hire@example.com")
    assert problems.on_origin(portal) == []
