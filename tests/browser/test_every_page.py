"""Every page an admin can open, shown in Chromium, so the accessibility check every browser
test gets (conftest.py) covers each one. The pages come from tests/test_access.py's RULES,
which must name every URL: a new page is checked here without anyone adding it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.audit.factories import AuditEntryFactory
from tests.test_access import RULES, World, make_world

pytestmark = pytest.mark.browser


def html_pages_for_the_admin(world: World, client: Client) -> list[str]:
    urls = []
    for name, rule in sorted(RULES.items()):
        if rule.method != "GET" or rule.expected("admin") != 200:
            continue
        url = reverse(name, kwargs=rule.args(world))
        if client.get(url)["Content-Type"].startswith("text/html"):  # not exports, not JSON
            urls.append(url)
    return [*urls, "/no-such-page"]


def test_every_page_an_admin_opens_passes_the_accessibility_check(
    page: Page, live_server: LiveServer
) -> None:
    world = make_world()
    AuditEntryFactory.create_batch(3, organization=world.org)
    admin = world.people["admin"]
    assert admin is not None
    client = Client()
    client.force_login(admin)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    for url in html_pages_for_the_admin(world, client):
        page.goto(live_server.url + url)
        # The first step on each page is when the check runs.
        expect(page.locator("main"), url).to_be_visible()
