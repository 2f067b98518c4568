from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.accounts import actions as account_actions
from portal.accounts.models import Role
from portal.directory.models import EventType, Member, SyncRun
from tests.browser.conftest import PageProblems
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.browser.test_sign_in import calendly_is_the_sandbox  # noqa: F401 (fixture)
from tests.directory.test_sync import connect, sync
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser


def sign_in_as(page: Page, portal: str, member: Member) -> None:
    page.goto(f"{portal}/accounts/sign-in")
    page.get_by_role("button", name="Sign in with Calendly").click()
    # The sandbox's consent page lists "Name <email> (role)" for each of its people.
    page.get_by_label(f"{member.name} <{member.email}>", exact=False).check()
    page.get_by_role("button", name="Allow").click()


def test_a_sales_person_types_part_of_a_reps_name_and_copies_a_round_robin_link(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,  # noqa: F811
    problems: PageProblems,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    portal = live_server.url.replace("localhost", "127.0.0.1")
    # The organization, connected and synced as an admin's first visit would leave it.
    organization = connect(sandbox)
    assert sync(organization, sandbox).status == SyncRun.Status.SUCCEEDED

    # A colleague given the sales role (one the sandbox's consent page offers), and a rep
    # who hosts the sales team's round robin.
    pool = EventType.objects.get(pooling_type="round_robin", profile_name="Sales Team")
    offered = [user.email for user in sandbox.plain_users[:3]]
    colleague = Member.objects.current().filter(email__in=offered).order_by("-name").first()
    assert colleague is not None
    rep = pool.hosts.exclude(pk=colleague.pk).order_by("name").first()
    assert rep is not None
    owner = account_actions.account_for_member(
        organization=organization,
        calendly_uri=f"{sandbox.url}/users/{sandbox.owner_uuid}",
        name=sandbox.owner.name,
        email=sandbox.owner.email,
        calendly_role="owner",
    )
    account = account_actions.account_for_member(
        organization=organization,
        calendly_uri=colleague.user_uri,
        name=colleague.name,
        email=colleague.email,
        calendly_role=colleague.role,
    )
    account_actions.set_portal_role(person=account, role=Role.SALES, actor=owner)

    # Signing in lands a sales person on the directory with the search box focused.
    sign_in_as(page, portal, colleague)
    expect(page).to_have_url(re.compile(r"/links/$"))
    search = page.get_by_label("Rep, host or event type")
    expect(search).to_be_focused()

    part = rep.name.split()[-1][:4]
    page.keyboard.type(part)
    expect(page).to_have_url(re.compile(rf"[?&]q={re.escape(part)}"))
    copy = page.get_by_role("button", name="Copy the link to Sales Intro Call (Sales Team)")
    expect(copy).to_be_visible()

    # From the search box, Tab moves on until the round robin's Copy button has the focus.
    for _ in range(60):
        page.keyboard.press("Tab")
        if copy.evaluate("button => button === document.activeElement"):
            break
    expect(copy).to_be_focused()
    page.keyboard.press("Enter")
    expect(copy).to_have_text("Copied")
    expect(page.locator("#copy-status")).to_have_text("Link copied to the clipboard")
    assert page.evaluate("navigator.clipboard.readText()") == pool.scheduling_url

    # On a phone the same results fit the screen: no sideways scrolling, the button in reach.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    copy.scroll_into_view_if_needed()
    box = copy.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert problems.on_origin(portal) == []
