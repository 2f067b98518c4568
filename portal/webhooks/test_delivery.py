"""Sending a test delivery: Calendly's sample of an event, signed with a subscription's key and
posted over HTTP to the portal's own receiver, the way Calendly posts a real one.

It proves what a subscription depends on and Calendly never reports: the address reaches this
deployment (PORTAL_BASE_URL, the proxy, TLS), nothing on the way redirects, the receiver
accepts the signature, and the delivery is stored. The envelope gets a fresh `created_at`, so
each test is a new delivery rather than a repeat of the last. It carries `TEST_HEADER`, so
processing applies nothing of the sample (it describes no real booking).

The request goes out over the network on purpose, not through Django's test machinery: the
point is the path from outside in. httpx is used here directly because the request is to the
portal itself, not to Calendly (portal/calendly is the only code that talks to Calendly).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from portal import audit
from portal.accounts.connections import client_for, note_failure
from portal.accounts.models import Connection, Organization
from portal.calendly import errors
from portal.calendly.client import USER_AGENT
from portal.calendly.signatures import HEADER, sign_webhook
from portal.webhooks.models import Delivery, Endpoint, Subscription
from portal.webhooks.processing import TEST_HEADER

# The events `GET /sample_webhook_data` has samples of.
SAMPLE_EVENTS = (
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
    "event_type.created",
    "event_type.updated",
    "event_type.deleted",
    "routing_form_submission.created",
)
# Calendly gives a receiver 10 s to connect and 15 s to answer; the portal's own receiver
# answers in milliseconds, and a person is waiting on the page.
TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=5.0, pool=3.0)
# Of what a receiver that is not the portal's answers, this much is quoted.
QUOTED_CHARACTERS = 200


class TestRefused(Exception):
    """The test delivery was not stored; `message` says why and what to do."""

    __test__ = False  # not a test case, whatever its name says to pytest

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any
    text: str
    location: str


def portal_subscriptions(organization_id: int) -> QuerySet[Subscription]:
    """The subscriptions a test can go through: current ones with a receiving address of the
    portal's own (its key is what signs the test)."""
    return (
        Subscription.objects.filter(
            organization_id=organization_id, endpoint__isnull=False, removed_at__isnull=True
        )
        .select_related("endpoint")
        .order_by("-calendly_created_at", "pk")
    )


def receiver_url(endpoint: Endpoint, request: HttpRequest) -> str:
    """Where Calendly reaches the endpoint: under PORTAL_BASE_URL when it is set, otherwise
    under the address this request came to."""
    path = reverse("webhook_receiver", args=[endpoint.token])
    base: str = settings.PORTAL_BASE_URL
    return f"{base}{path}" if base else request.build_absolute_uri(path)


def envelope(*, event: str, created_by: str, payload: dict[str, Any]) -> bytes:
    """The body Calendly would send: the sample's payload, happening now."""
    now = timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data = {"event": event, "created_at": now, "created_by": created_by, "payload": payload}
    return json.dumps(data).encode()


def send(
    *,
    organization: Organization,
    subscription: Subscription,
    event: str,
    url: str,
    request: HttpRequest,
) -> Delivery:
    """Post a signed sample of `event` through `subscription`'s address at `url`; the stored
    delivery, or TestRefused."""
    endpoint = subscription.endpoint
    assert endpoint is not None, "only a subscription with the portal's own address"
    try:
        with client_for(organization) as client:
            sample = client.get_sample_webhook_data(
                event=event,
                organization=organization.uri,
                scope=subscription.scope,
                user=subscription.user_uri or None,
                group=subscription.group_uri or None,
            )
    except errors.CalendlyError as error:
        note_failure(organization, error)
        raise TestRefused(
            errors.explain(error, doing=f"asking Calendly for a sample {event} delivery")
        ) from error
    owner = Connection.objects.filter(organization=organization).values_list("owner_uri", flat=True)
    created_by = subscription.creator_uri or owner.first() or sample.created_by or ""
    body = envelope(event=event, created_by=created_by, payload=sample.payload)
    answer = post(url, body, signing_key=endpoint.signing_key)
    delivery = stored(answer, url=url, organization=organization)
    audit.record(
        action=audit.Action.WEBHOOK_TEST_SENT,
        organization=organization,
        target=delivery,
        after={"event": event, "subscription": subscription.uri, "url": url},
        request=request,
    )
    return delivery


def post(url: str, body: bytes, *, signing_key: str) -> Answer:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER: sign_webhook(body, signing_key, int(time.time())),
        TEST_HEADER: "1",
    }
    try:
        # Redirects are not followed: Calendly counts one as a failed delivery.
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
    except (httpx.ReadTimeout, httpx.WriteTimeout) as error:
        raise TestRefused(
            f"The receiver at {url} took the request but did not answer within "
            f"{TIMEOUT.read:.0f} seconds. Calendly counts that as a failed delivery: check that "
            "the web server has free workers and the database answers."
        ) from error
    except httpx.TransportError as error:
        raise TestRefused(
            f"The portal could not reach its receiver at {url} ({type(error).__name__}). "
            "Calendly would not reach it either: check that PORTAL_BASE_URL (or, without it, "
            "the address this page was opened at) is this portal's public address."
        ) from error
    try:
        data = response.json()
    except ValueError:
        data = None
    return Answer(
        status=response.status_code,
        data=data,
        text=" ".join(response.text[:QUOTED_CHARACTERS].split()),
        location=response.headers.get("Location", ""),
    )


def stored(answer: Answer, *, url: str, organization: Organization) -> Delivery:
    """The delivery the receiver said it stored; TestRefused for any other answer."""
    data = answer.data if isinstance(answer.data, dict) else {}
    if 300 <= answer.status < 400:
        raise TestRefused(
            f"The address {url} answered with a redirect ({answer.status}"
            f"{' to ' + answer.location if answer.location else ''}). Calendly counts a redirect "
            "as a failed delivery: PORTAL_BASE_URL must be the exact public address (https, no "
            "path, no trailing slash)."
        )
    reason = data.get("error")
    if 400 <= answer.status < 500 and isinstance(reason, str):
        said = " ".join(reason[:QUOTED_CHARACTERS].split())
        raise TestRefused(f"The receiver refused the test delivery ({answer.status}): {said}.")
    if answer.status == 200 and data.get("repeat") is True:
        raise TestRefused("The receiver took the test for a repeat of a delivery; send it again.")
    pk = data.get("delivery")
    if answer.status != 202 or data.get("stored") is not True or not isinstance(pk, int):
        said = f": “{answer.text}”" if answer.text else ""
        raise TestRefused(
            f"The address {url} did not answer as the portal's receiver does (HTTP "
            f"{answer.status}{said}). PORTAL_BASE_URL may point at another server."
        )
    delivery = Delivery.objects.filter(pk=pk, organization=organization).first()
    if delivery is None:
        raise TestRefused(
            f"A receiver at {url} stored the test, but not in this portal's database: "
            "PORTAL_BASE_URL points at another deployment of the portal."
        )
    return delivery
