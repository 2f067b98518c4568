"""Deliveries signed the way Calendly signs them, for the receiver's tests."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from django.http import HttpResponse as Answer
from django.test import Client

from portal.accounts.models import Organization
from portal.calendly.signatures import HEADER, sign_webhook
from portal.webhooks.models import Endpoint


def endpoint_for(organization: Organization, key: str | None = None) -> Endpoint:
    return Endpoint.objects.create(
        organization=organization,
        token=secrets.token_urlsafe(24),
        signing_key=key or secrets.token_urlsafe(32),
    )


def envelope(
    event: str = "invitee.created",
    payload: dict[str, Any] | None = None,
    created_at: str = "2026-12-01T10:00:00.000000Z",
    created_by: str = "https://api.calendly.test/users/CREATOR",
) -> dict[str, Any]:
    return {
        "event": event,
        "created_at": created_at,
        "created_by": created_by,
        "payload": payload if payload is not None else {"uri": "https://api.calendly.test/x/1"},
    }


def body_of(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def post_signed(
    client: Client,
    endpoint: Endpoint,
    body: bytes,
    *,
    key: str | None = None,
    at: int | None = None,
    header: str | None = None,
    content_type: str = "application/json",
) -> Answer:
    """POST `body` to the endpoint's address, signed with its key (or `key`) at `at`."""
    moment = int(time.time()) if at is None else at
    signature = (
        header if header is not None else sign_webhook(body, key or endpoint.signing_key, moment)
    )
    return client.post(
        f"/hooks/calendly/{endpoint.token}",
        data=body,
        content_type=content_type,
        headers={HEADER: signature},
    )
