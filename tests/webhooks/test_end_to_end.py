"""The whole loop against the sandbox over real HTTP: an admin subscribes the portal, support
makes a single-use link, a customer books it on the sandbox's booking page, the sandbox
delivers the signed `invitee.created` to the portal's receiver, and the ledger, the delivery
log and a team feed all show the booking; then the customer cancels and the feed follows."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import icalendar
import pytest
from django.test import Client, override_settings

from portal.accounts.models import Role
from portal.directory.models import EventType, Member
from portal.links.models import IssuedLink
from portal.sandbox import webhooks as sandbox_webhooks
from portal.webhooks import processing, subscriptions
from portal.webhooks.models import Delivery, Feed
from tests.directory.test_sync import NO_RATE_LIMIT, connect, sync
from tests.factories import UserFactory
from tests.sandbox_plugin import SandboxFactory

pytestmark = pytest.mark.django_db(transaction=True)


def a_rep_with_a_type(org: Any) -> tuple[Member, EventType]:
    for event_type in EventType.objects.current().filter(
        organization=org, active=True, profile_type="User", pooling_type=""
    ):
        rep = Member.objects.current().filter(user_uri=event_type.profile_owner_uri).first()
        if rep is not None and event_type.type != "AdhocEventType":
            return rep, event_type
    raise AssertionError("the sandbox seeds no personal event type")


def events_in(feed_text: bytes) -> list[Any]:
    return list(icalendar.Calendar.from_ical(feed_text).walk("VEVENT"))


def test_a_booking_on_a_ledger_link_reaches_the_ledger_the_log_and_a_team_feed(
    sandbox_factory: SandboxFactory, live_server: Any
) -> None:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url, PORTAL_BASE_URL=live_server.url):
        org = connect(sandbox)
        assert sync(org, sandbox).status == "succeeded"
        admin = UserFactory(organization=org, role=Role.ADMIN)
        support = UserFactory(organization=org, role=Role.SUPPORT)
        admins, supports = Client(), Client()
        admins.force_login(admin)
        supports.force_login(support)

        subscription = subscriptions.create(
            org,
            events=["invitee.created", "invitee.canceled"],
            scope="organization",
            base_url=live_server.url,
            actor=admin,
        )
        assert subscription.callback_url.startswith(f"{live_server.url}/hooks/calendly/")

        rep, event_type = a_rep_with_a_type(org)
        made = supports.post(
            f"/links/new?rep={rep.pk}",
            {"event_type": event_type.pk, "customer": "bea@example.com", "ticket": "T-7"},
        )
        assert made.status_code == 302
        link = IssuedLink.objects.get()

        feed_made = admins.post(
            "/webhooks/feeds/new",
            {"name": "Intro calls", "kind": "event_types", "event_types": [event_type.pk]},
        )
        assert feed_made.status_code == 302, feed_made.content
        feed = Feed.objects.get()
        feed_path = f"/feeds/{feed.token}.ics"
        assert events_in(Client().get(feed_path).content) == []

        # The customer books on the sandbox's booking page, as a browser would.
        page = httpx.get(link.booking_url)
        slot = re.search(r'name="start_time" value="([^"]+)"', page.text)
        assert slot is not None, page.text
        booked = httpx.post(
            link.booking_url,
            data={"start_time": slot.group(1), "name": "Bea Buyer", "email": "bea@example.com"},
        )
        assert booked.status_code == 200, booked.text
        assert sandbox_webhooks.drain(sandbox)
        sent = [d for d in sandbox.deliveries if d.event == "invitee.created"]
        assert [d.status for d in sent] == [202]

        # No worker runs here: the sweep processes what the receiver stored.
        assert processing.sweep(older_than=0) == 1
        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.organization) == ("processed", org)

        link.refresh_from_db()
        assert link.status == IssuedLink.Status.BOOKED
        assert link.booked_at is not None
        log = admins.get("/webhooks/deliveries").content.decode()
        assert "invitee.created" in log
        assert "bea@example.com" in log
        (meeting,) = events_in(Client().get(feed_path).content)
        assert str(meeting["STATUS"]) == "CONFIRMED"
        assert event_type.name in str(meeting["SUMMARY"])
        assert "Bea Buyer" in str(meeting["SUMMARY"])

        # The rep cancels in Calendly: the feed shows the meeting canceled, a new version.
        booked_event = json.loads(bytes(delivery.body))["payload"]["scheduled_event"]["uri"]
        canceled = httpx.post(
            f"{booked_event}/cancellation",
            headers={"Authorization": f"Bearer {sandbox.owner_token}"},
            json={"reason": "Rep is ill"},
        )
        assert canceled.status_code == 201, canceled.text
        assert sandbox_webhooks.drain(sandbox)
        assert processing.sweep(older_than=0) == 1
        (again,) = events_in(Client().get(feed_path).content)
        assert str(again["STATUS"]) == "CANCELLED"
        assert int(again["SEQUENCE"]) > int(meeting["SEQUENCE"])
