"""What processing a delivery changes: the mirror, the ledger and the feeds' meetings."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import Organization
from portal.calendly.signatures import HEADER, sign_webhook
from portal.directory.models import EventType, Member
from portal.links.models import IssuedLink
from portal.webhooks import processing
from portal.webhooks.handlers import NOT_HANDLED
from portal.webhooks.models import Delivery, Endpoint, Meeting
from tests.factories import EventTypeFactory, MemberFactory, OrganizationFactory
from tests.webhooks import payloads
from tests.webhooks.payloads import API
from tests.webhooks.signing import body_of, endpoint_for, envelope, post_signed

pytestmark = pytest.mark.django_db


def deliver(endpoint: Endpoint, event: str, payload: dict[str, Any], **fields: Any) -> Delivery:
    answer = post_signed(Client(), endpoint, body_of(envelope(event, payload, **fields)))
    assert answer.status_code == 202, answer.content
    row = Delivery.objects.get(pk=answer.json()["delivery"])
    processing.process(row.pk)
    row.refresh_from_db()
    return row


@pytest.fixture
def endpoint() -> Endpoint:
    return endpoint_for(OrganizationFactory())


def ledger_link(org: Organization, event_type_uri: str, customer: str) -> IssuedLink:
    return IssuedLink.objects.create(
        organization=org,
        kind=IssuedLink.Kind.SINGLE_USE,
        booking_url="https://calendly.com/d/abc/intro",
        event_type_uri=event_type_uri,
        customer=customer,
    )


def test_a_booking_marks_the_matching_ledger_link_booked_and_enters_the_feeds(
    endpoint: Endpoint,
) -> None:
    org = endpoint.organization
    # Calendly writes the same UUID in more than one way: case and hyphens must not matter.
    link = ledger_link(org, f"{API}/event_types/ab-cd-1", "buyer@example.com")
    other = ledger_link(org, f"{API}/event_types/OTHER", "buyer@example.com")

    row = deliver(
        endpoint,
        "invitee.created",
        payloads.invitee(email="Buyer@Example.com", event_type=f"{API}/event_types/ABCD1"),
    )

    link.refresh_from_db()
    other.refresh_from_db()
    assert row.status == "processed", row.outcome
    assert (link.status, link.booked_at is not None) == ("booked", True)
    assert other.status == "active"
    assert f"Marked ledger entry {link.pk}" in row.outcome
    meeting = Meeting.objects.get()
    assert (meeting.name, meeting.status, meeting.invitee_email) == (
        "Intro call",
        "active",
        "Buyer@Example.com",
    )
    assert meeting.event_type_key == "abcd1"
    assert [h.user_key for h in meeting.hosts.all()] == ["host1"]


def test_a_cancellation_updates_the_meeting_and_an_older_delivery_changes_nothing(
    endpoint: Endpoint,
) -> None:
    deliver(endpoint, "invitee.created", payloads.invitee(), created_at="2026-12-01T10:00:00Z")
    deliver(
        endpoint,
        "invitee.canceled",
        payloads.invitee(status="canceled", rescheduled=True),
        created_at="2026-12-01T11:00:00Z",
    )
    meeting = Meeting.objects.get()
    assert (meeting.status, meeting.rescheduled, meeting.sequence) == ("canceled", True, 1)
    assert meeting.cancel_reason == "Clash"

    # A retried creation from before the cancellation arrives last: the cancellation stands.
    late = deliver(
        endpoint,
        "invitee.created",
        payloads.invitee(name="Bea (late)"),
        created_at="2026-12-01T10:30:00Z",
    )
    meeting.refresh_from_db()
    assert meeting.status == "canceled"
    assert "Older than" in late.outcome


def test_no_show_marks_and_unmarks_the_meeting(endpoint: Endpoint) -> None:
    deliver(endpoint, "invitee.created", payloads.invitee())
    uri = Meeting.objects.get().invitee_uri
    deliver(
        endpoint,
        "invitee_no_show.created",
        {"uri": uri, "email": "x@example.com"},
        created_at="2026-12-02T10:00:00Z",
    )
    assert Meeting.objects.get().no_show is True
    deliver(
        endpoint,
        "invitee_no_show.deleted",
        {"uri": uri, "email": "x@example.com"},
        created_at="2026-12-02T11:00:00Z",
    )
    assert Meeting.objects.get().no_show is False


def test_event_type_deliveries_keep_the_mirror_current(endpoint: Endpoint) -> None:
    org = endpoint.organization
    owner = MemberFactory(organization=org, user_uri=f"{API}/users/HOST-1")
    existing = EventTypeFactory(organization=org, uri=f"{API}/event_types/ET-1", name="Old")

    updated = deliver(endpoint, "event_type.updated", payloads.event_type(name="Discovery"))
    existing.refresh_from_db()
    assert updated.status == "processed"
    assert existing.name == "Discovery"
    assert list(existing.hosts.all()) == [owner]

    deliver(
        endpoint,
        "event_type.created",
        payloads.event_type("ET-2", name="Demo"),
        created_at="2026-12-01T10:01:00Z",
    )
    assert EventType.objects.get(uri=f"{API}/event_types/ET-2").name == "Demo"

    deliver(
        endpoint,
        "event_type.deleted",
        payloads.event_type("ET-2"),
        created_at="2026-12-01T10:02:00Z",
    )
    assert EventType.objects.get(uri=f"{API}/event_types/ET-2").removed_at is not None
    assert Member.objects.filter(organization=org).count() == 1


def test_an_unknown_event_is_kept_and_shown_not_dropped(endpoint: Endpoint) -> None:
    row = deliver(endpoint, "contact.created", {"uri": f"{API}/contacts/C1", "new": True})
    assert row.status == "processed"
    assert row.outcome == NOT_HANDLED
    assert json.loads(bytes(row.body))["payload"]["new"] is True


def test_an_incomplete_invitee_fails_with_the_reason_and_is_not_retried(
    endpoint: Endpoint,
) -> None:
    row = deliver(endpoint, "invitee.created", {"uri": f"{API}/x", "email": None})
    assert row.status == "failed"
    assert "incomplete" in row.outcome
    assert processing.process(row.pk) is False


def test_the_app_wide_address_finds_the_organization_by_the_subscription_creator(
    settings: Any,
) -> None:
    settings.CALENDLY_WEBHOOK_SIGNING_KEY = "app-wide-key"
    org = OrganizationFactory()
    MemberFactory(organization=org, user_uri=f"{API}/users/CREATOR")
    body = body_of(
        envelope("invitee.created", payloads.invitee(), created_by=f"{API}/users/creator")
    )
    answer = Client().post(
        "/hooks/calendly",
        data=body,
        content_type="application/json",
        headers={HEADER: sign_webhook(body, "app-wide-key", int(time.time()))},
    )
    assert answer.status_code == 202
    processing.process(answer.json()["delivery"])
    assert Meeting.objects.get().organization == org


def test_strings_of_any_length_are_stored(endpoint: Endpoint) -> None:
    huge = "x" * 20_000
    row = deliver(
        endpoint,
        "invitee.created",
        payloads.invitee(invitee_uuid=huge, name=huge, event_name=huge, email=f"{huge}@e.com"),
    )
    assert row.status == "processed", row.outcome
    assert Meeting.objects.get().name == huge
