"""The delivery log: the list and its filters, one delivery's page, processing a failed one
again, and test deliveries sent over real HTTP to the portal's own receiver."""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from portal.accounts.models import Organization, Role
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.webhooks import processing
from portal.webhooks.models import Delivery, Endpoint, Subscription
from portal.webhooks.test_delivery import Answer, TestRefused, stored
from tests.directory.test_sync import NO_RATE_LIMIT, connect
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import SandboxFactory
from tests.webhooks import payloads
from tests.webhooks.signing import body_of, endpoint_for, envelope, post_signed

pytestmark = pytest.mark.django_db

LOG = "/webhooks/deliveries"
SAMPLE = "GET /sample_webhook_data"


def admin_client(org: Organization) -> Client:
    client = Client()
    client.force_login(UserFactory(organization=org, role=Role.ADMIN))
    return client


def subscription_to(
    endpoint: Endpoint, *, events: tuple[str, ...] = ("invitee.created",)
) -> Subscription:
    return Subscription.objects.create(
        organization=endpoint.organization,
        uri=f"https://api.calendly.com/webhook_subscriptions/{secrets.token_hex(6)}",
        callback_url=f"https://portal.example/hooks/calendly/{endpoint.token}",
        state=Subscription.State.ACTIVE,
        events=list(events),
        scope=Subscription.Scope.ORGANIZATION,
        endpoint=endpoint,
        calendly_created_at=timezone.now(),
    )


def stored_delivery(
    org: Organization,
    *,
    endpoint: Endpoint | None = None,
    event: str = "invitee.created",
    payload: dict[str, Any] | None = None,
    received_at: datetime | None = None,
    **fields: Any,
) -> Delivery:
    data = envelope(
        event, payload, created_at=f"2026-12-01T10:00:00.{secrets.randbelow(10**6):06d}Z"
    )
    return Delivery.objects.create(
        organization=org,
        endpoint=endpoint,
        event=event,
        payload_uri=data["payload"].get("uri", ""),
        dedupe_key=secrets.token_hex(32),
        body=body_of(data),
        received_at=received_at or timezone.now(),
        **fields,
    )


def listed(client: Client, **query: str) -> list[int]:
    """The deliveries the log shows for `query`, in order."""
    response = client.get(LOG, query)
    assert response.status_code == 200
    return [
        int(pk)
        for pk in re.findall(r'href="/webhooks/deliveries/(\d+)"', response.content.decode())
    ]


# -- the list ---------------------------------------------------------------------------------


def test_the_log_lists_the_organizations_deliveries_newest_first_and_filters_them() -> None:
    org = OrganizationFactory()
    first, second = endpoint_for(org), endpoint_for(org)
    through_first, through_second = subscription_to(first), subscription_to(second)
    january = datetime(2026, 1, 10, 12, tzinfo=UTC)
    march = datetime(2026, 3, 10, 12, tzinfo=UTC)
    booked = stored_delivery(org, endpoint=first, received_at=january)
    failed = stored_delivery(
        org, endpoint=second, event="invitee.canceled", received_at=march, status="failed"
    )
    changed = stored_delivery(
        org,
        endpoint=second,
        event="event_type.updated",
        payload=payloads.event_type(),
        status="processed",
    )
    elsewhere = stored_delivery(OrganizationFactory(), endpoint=endpoint_for(OrganizationFactory()))
    client = admin_client(org)

    assert listed(client) == [changed.pk, failed.pk, booked.pk]
    assert elsewhere.pk not in listed(client, event="invitee.created")
    assert listed(client, event="invitee.canceled") == [failed.pk]
    assert listed(client, status="processed") == [changed.pk]
    assert listed(client, subscription=str(through_first.pk)) == [booked.pk]
    assert listed(client, subscription=str(through_second.pk)) == [changed.pk, failed.pk]
    assert listed(client, date_from="2026-02-01", date_to="2026-04-01") == [failed.pk]
    assert listed(client, date_to="2026-02-01") == [booked.pk]
    # Another organization's subscription is no filter here.
    other = subscription_to(endpoint_for(OrganizationFactory()))
    refused = client.get(LOG, {"subscription": str(other.pk)}).content.decode()
    assert "There is no such subscription in this organization." in refused
    # An event nobody sent yet is a filter that matches nothing, not an error.
    assert listed(client, event="contact.created") == []


def test_the_log_says_what_each_delivery_is_about_whatever_the_body() -> None:
    org = OrganizationFactory()
    stored_delivery(org, payload=payloads.invitee(email="bea@example.com", name="Bea <b>Buyer</b>"))
    stored_delivery(org, event="event_type.created", payload=payloads.event_type(name="Demo"))
    Delivery.objects.create(
        organization=org, event="invitee.created", dedupe_key="a" * 64, body=b'{"payload": [1, 2]}'
    )
    Delivery.objects.create(
        organization=org, event="x.y", dedupe_key="b" * 64, body=b"\xff not json"
    )

    page = admin_client(org).get(LOG).content.decode()

    assert "Bea &lt;b&gt;Buyer&lt;/b&gt; &lt;bea@example.com&gt;" in page
    assert "Event type “Demo”" in page
    assert "4 deliveries" in page


def test_an_empty_log_says_how_deliveries_arrive() -> None:
    page = admin_client(OrganizationFactory()).get(LOG).content.decode()
    assert "No deliveries yet" in page
    assert 'href="/webhooks/deliveries/test"' in page


def test_the_export_holds_what_the_filters_select() -> None:
    org = OrganizationFactory()
    stored_delivery(org, payload=payloads.invitee(email="bea@example.com"))
    stored_delivery(org, event="invitee.canceled", payload=payloads.invitee(email="cy@example.com"))

    response = admin_client(org).get(f"{LOG}/export.csv", {"event": "invitee.created"})

    text = b"".join(response.streaming_content).decode()
    assert "bea@example.com" in text
    assert "cy@example.com" not in text


# -- one delivery -----------------------------------------------------------------------------


def test_a_delivery_page_shows_the_body_escaped_and_offers_it_raw() -> None:
    org = OrganizationFactory()
    row = stored_delivery(
        org, endpoint=endpoint_for(org), payload=payloads.invitee(name="<script>alert(1)</script>")
    )
    client = admin_client(org)

    page = client.get(f"{LOG}/{row.pk}").content.decode()
    raw = client.get(f"{LOG}/{row.pk}/raw.json")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert '"email": "buyer@example.com"' in page.replace("&quot;", '"')  # indented JSON
    assert raw["Content-Type"] == "application/json"
    assert raw["Content-Disposition"].startswith("attachment;")
    assert raw.content == bytes(row.body)


def test_another_organizations_delivery_is_not_found() -> None:
    row = stored_delivery(OrganizationFactory(), status="failed")
    client = admin_client(OrganizationFactory())

    assert client.get(f"{LOG}/{row.pk}").status_code == 404
    assert client.get(f"{LOG}/{row.pk}/raw.json").status_code == 404
    assert client.post(f"{LOG}/{row.pk}/reprocess").status_code == 404


def test_a_waiting_delivery_page_polls_until_it_is_processed() -> None:
    org = OrganizationFactory()
    row = stored_delivery(org, event="routing_form_submission.created")
    client = admin_client(org)

    waiting = client.get(f"{LOG}/{row.pk}", headers={"HX-Request": "true"})
    assert waiting.status_code == 200
    assert 'hx-trigger="every 2s"' in waiting.content.decode()
    assert "no background" in waiting.content.decode()  # no worker runs in the tests

    processing.process(row.pk)
    done = client.get(f"{LOG}/{row.pk}", headers={"HX-Request": "true"})
    assert done.status_code == 286
    assert "hx-trigger" not in done.content.decode()
    assert "does nothing with this event" in done.content.decode()


# -- processing again -------------------------------------------------------------------------


def test_a_failed_delivery_is_processed_again_and_audited() -> None:
    org = OrganizationFactory()
    endpoint = endpoint_for(org)
    # An invitee without the fields a booking needs: processing refuses it for good.
    answer = post_signed(Client(), endpoint, body_of(envelope(payload={"uri": "https://x/1"})))
    row = Delivery.objects.get(pk=answer.json()["delivery"])
    processing.process(row.pk)
    row.refresh_from_db()
    assert row.status == "failed"
    client = admin_client(org)

    again = client.post(f"{LOG}/{row.pk}/reprocess", follow=True)

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "Processing failed again: The invitee in this delivery is incomplete" in (
        again.content.decode()
    )
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_REPROCESSED)
    assert (entry.before["status"], entry.after["status"]) == ("failed", "failed")
    assert entry.target_id == str(row.pk)


def test_a_delivery_that_failed_on_a_fixed_fault_is_processed_this_time() -> None:
    org = OrganizationFactory()
    row = stored_delivery(
        org,
        event="routing_form_submission.created",
        status="failed",
        attempts=5,
        outcome="Processing failed: OperationalError: the database went away",
    )

    page = admin_client(org).post(f"{LOG}/{row.pk}/reprocess", follow=True).content.decode()

    row.refresh_from_db()
    assert row.status == "processed"
    assert "Processed again: Kept; the portal does nothing with this event yet." in page
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_REPROCESSED)
    assert (entry.before["status"], entry.after["status"]) == ("failed", "processed")


def test_only_a_failed_delivery_can_be_processed_again() -> None:
    org = OrganizationFactory()
    row = stored_delivery(org, status="processed", outcome="Done.")

    page = admin_client(org).post(f"{LOG}/{row.pk}/reprocess", follow=True).content.decode()

    row.refresh_from_db()
    assert (row.status, row.outcome) == ("processed", "Done.")
    assert "Only a failed delivery can be processed again; this one is processed." in page
    assert not AuditEntry.objects.filter(action=Action.WEBHOOK_REPROCESSED).exists()


# -- test deliveries --------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> Iterator[str]:
    """An address where nothing listens (bound, never listening: refused at once)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{closed.getsockname()[1]}"


def test_a_test_delivery_reaches_the_receiver_over_http_and_is_processed_as_a_test(
    sandbox_factory: SandboxFactory, live_server: LiveServer
) -> None:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url, PORTAL_BASE_URL=live_server.url):
        org = connect(sandbox)
        subscription = subscription_to(endpoint_for(org))
        client = admin_client(org)
        form = client.get(f"{LOG}/test").content.decode()
        assert f'value="{subscription.pk}"' in form

        # The receiver's own refusal is told in its words.
        with override_settings(WEBHOOK_MAX_BODY_BYTES=10):
            refused = client.post(
                f"{LOG}/test", {"event": "invitee.created", "subscription": subscription.pk}
            )
        assert refused.status_code == 502
        assert "The receiver refused the test delivery (413)" in refused.content.decode()
        assert not Delivery.objects.exists()

        sandbox.requests.reset()
        sent = client.post(
            f"{LOG}/test",
            {"event": "invitee.created", "subscription": subscription.pk},
            follow=True,
        )

    row = Delivery.objects.get()
    assert sent.redirect_chain[-1][0] == f"{LOG}/{row.pk}"
    assert "Test delivery sent and stored" in sent.content.decode()
    assert sandbox.requests.snapshot() == {SAMPLE: 1}
    assert (row.organization, row.endpoint, row.event) == (
        org,
        subscription.endpoint,
        "invitee.created",
    )
    assert row.headers[processing.TEST_HEADER] == "1"
    assert row.status == "received"
    assert processing.process(row.pk) is True
    row.refresh_from_db()
    assert (row.status, row.outcome) == ("processed", processing.TEST_OUTCOME)
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_TEST_SENT)
    assert entry.after["subscription"] == subscription.uri
    assert entry.target_id == str(row.pk)


def test_an_unreachable_receiver_is_said_plainly_and_nothing_is_stored(
    sandbox_factory: SandboxFactory, closed_port: str
) -> None:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url, PORTAL_BASE_URL=closed_port):
        org = connect(sandbox)
        subscription = subscription_to(endpoint_for(org))
        response = admin_client(org).post(
            f"{LOG}/test", {"event": "event_type.updated", "subscription": subscription.pk}
        )

    page = response.content.decode()
    assert response.status_code == 502
    assert f"could not reach its receiver at {closed_port}/hooks/calendly/" in page
    assert "PORTAL_BASE_URL" in page
    assert not Delivery.objects.exists()
    assert not AuditEntry.objects.filter(action=Action.WEBHOOK_TEST_SENT).exists()


def test_without_a_connection_calendly_cannot_give_a_sample_and_that_is_said() -> None:
    org = OrganizationFactory()
    subscription = subscription_to(endpoint_for(org))

    response = admin_client(org).post(
        f"{LOG}/test", {"event": "invitee.created", "subscription": subscription.pk}
    )

    assert response.status_code == 502
    assert "The Calendly connection needs attention" in response.content.decode()
    assert not Delivery.objects.exists()


def test_a_redirect_or_a_stranger_answering_is_not_taken_for_the_receiver() -> None:
    org = OrganizationFactory()
    url = "http://portal.example/hooks/calendly/abc"

    with pytest.raises(TestRefused, match=re.escape("redirect (301 to https://portal.example/)")):
        stored(Answer(301, None, "", "https://portal.example/"), url=url, organization=org)
    with pytest.raises(TestRefused, match="did not answer as the portal's receiver does"):
        stored(Answer(200, None, "<html>Welcome</html>", ""), url=url, organization=org)
    with pytest.raises(TestRefused, match="not in this portal's database"):
        stored(Answer(202, {"stored": True, "delivery": 10**9}, "", ""), url=url, organization=org)


def test_without_a_subscription_to_the_portal_the_form_asks_for_one_first() -> None:
    page = admin_client(OrganizationFactory()).get(f"{LOG}/test").content.decode()
    assert "No subscription points at this portal's receiver yet" in page
    assert '<form method="post" action="/webhooks/deliveries/test"' not in page


def test_the_delivery_log_is_for_admins_only() -> None:
    org = OrganizationFactory()
    row = stored_delivery(org, status="failed")
    client = Client()
    client.force_login(UserFactory(organization=org, role=Role.SUPPORT))

    assert client.get(LOG).status_code == 403
    assert client.get(f"{LOG}/{row.pk}").status_code == 403
    assert client.post(f"{LOG}/{row.pk}/reprocess").status_code == 403
    assert client.get(f"{LOG}/test").status_code == 403
