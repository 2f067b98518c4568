"""Support's journey in a real browser: given the role by an admin before signing in, make a
single-use link and a share with a fixed date range for customers, and find both in the
ledger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.directory.models import EventType, Member, SyncRun
from portal.directory.tasks import sync_organization_task
from portal.links.models import IssuedLink
from tests.browser.conftest import PageProblems
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.browser.test_sign_in import calendly_is_the_sandbox  # noqa: F401 (fixture)
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser


def sign_in(page: Page, portal: str, name: str) -> None:
    if "/accounts/sign-in" not in page.url:
        page.goto(f"{portal}/accounts/sign-in")
    page.get_by_role("button", name="Sign in with Calendly").click()
    page.get_by_label(name, exact=False).check()
    page.get_by_role("button", name="Allow").click()


def a_rep_with_a_one_on_one_type(support_uri: str) -> tuple[Member, EventType]:
    for event_type in EventType.objects.current().filter(
        active=True, kind="solo", pooling_type="", profile_type="User"
    ):
        rep = (
            Member.objects.current()
            .filter(user_uri=event_type.profile_owner_uri)
            .exclude(user_uri=support_uri)
            .first()
        )
        if rep is not None and event_type.type != "AdhocEventType":
            return rep, event_type
    raise AssertionError("the sandbox seeds no one-on-one event type")


def test_support_makes_a_single_use_link_and_a_share_and_finds_both_in_the_ledger(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,  # noqa: F811
    problems: PageProblems,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    portal = live_server.url.replace("localhost", "127.0.0.1")
    # The owner connects the organization; the first sync runs as a worker would run it.
    sign_in(page, portal, sandbox.owner.name)
    page.get_by_role("button", name="Connect this organization").click()
    expect(page.locator("#messages")).to_contain_text("Connected.")
    run = SyncRun.objects.get(status=SyncRun.Status.QUEUED)
    sync_organization_task(run.organization_id, run.trigger, None, run_id=run.pk)
    # The home page polls the sync's progress until it sees the end; leaving while a poll is
    # in flight would abort it.
    expect(page.locator(".sync-progress .message-success")).to_contain_text("Synced with Calendly")

    # An admin gives the support role to someone who has never signed in.
    agent = sandbox.plain_users[0]
    agent_member = Member.objects.get(email=agent.email)
    page.goto(f"{portal}/members/{agent_member.pk}")
    page.get_by_label(f"What {agent.name} may do in the portal").select_option("support")
    page.get_by_role("button", name="Save role").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in with Calendly")).to_be_visible()

    sign_in(page, portal, agent.name)
    rep, event_type = a_rep_with_a_one_on_one_type(agent_member.user_uri)
    page.get_by_role("link", name="New single-use link").click()
    page.get_by_label("Name or email of the rep").fill(rep.name.split()[0])
    page.locator("#rep-results").get_by_role("link", name=rep.name).click()
    page.get_by_label(event_type.name, exact=False).first.check()
    page.get_by_label("Customer's email").fill("first.customer@example.com")
    page.get_by_role("button", name="Create link").click()
    expect(page.locator("#messages")).to_contain_text("Single-use link made")
    single_use = IssuedLink.objects.get(kind=IssuedLink.Kind.SINGLE_USE)
    expect(page.get_by_role("button", name="Copy link")).to_be_visible()
    assert single_use.customer == "first.customer@example.com"

    # A share of the same rep's one-on-one type, bookable only between two dates.
    page.goto(f"{portal}/links/new?rep={rep.pk}")
    page.get_by_role("link", name="Customize and share instead…").first.click()
    page.get_by_label("Customer's email").fill("second.customer@example.com")
    page.get_by_label("Booking window").select_option("fixed")
    start = date.today() + timedelta(days=3)
    page.get_by_label("From", exact=True).fill(start.isoformat())
    page.get_by_label("Until", exact=True).fill((start + timedelta(days=7)).isoformat())
    page.get_by_role("button", name="Create share").click()
    expect(page.locator("#messages")).to_contain_text("Share made")
    share = IssuedLink.objects.get(kind=IssuedLink.Kind.SHARE)
    assert share.settings["period_type"] == "fixed"
    assert share.settings["start_date"] == start.isoformat()

    page.get_by_role("link", name="← Link ledger").click()
    results = page.locator("#ledger-results")
    expect(results).to_contain_text("2 links")
    expect(results.get_by_role("row", name="first.customer@example.com")).to_be_visible()
    expect(results.get_by_role("row", name="second.customer@example.com")).to_be_visible()
    expect(results).to_contain_text("Customized share")
    assert problems.on_origin(portal) == []
