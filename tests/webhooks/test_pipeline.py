"""A delivery's path: verified, stored once, processed once by its task or by the sweep."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.webhooks import processing
from portal.webhooks.models import Delivery
from tests.factories import OrganizationFactory
from tests.webhooks.signing import body_of, endpoint_for, envelope, post_signed

pytestmark = pytest.mark.django_db


def test_a_signed_delivery_is_stored_then_processed_once() -> None:
    endpoint = endpoint_for(OrganizationFactory())
    body = body_of(envelope(event="routing_form_submission.created"))

    answer = post_signed(Client(), endpoint, body)

    assert answer.status_code == 202
    row = Delivery.objects.get()
    assert bytes(row.body) == body
    assert (row.status, row.organization, row.endpoint) == (
        "received",
        endpoint.organization,
        endpoint,
    )
    assert processing.process(row.pk) is True
    assert processing.process(row.pk) is False
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("processed", 1)
    assert "does nothing with this event" in row.outcome


def test_a_repeat_is_answered_2xx_and_stored_once() -> None:
    endpoint = endpoint_for(OrganizationFactory())
    body = body_of(envelope())

    first = post_signed(Client(), endpoint, body)
    again = post_signed(Client(), endpoint, body, at=None)

    assert (first.status_code, again.status_code) == (202, 200)
    row = Delivery.objects.get()
    assert row.repeats == 1
