"""The receiver: Calendly's deliveries, checked and stored before anything else happens.

A delivery is accepted only when its `Calendly-Webhook-Signature` matches the raw bytes of
the body under a key the portal holds (the receiving address's own key, or the OAuth app's
`CALENDLY_WEBHOOK_SIGNING_KEY`) and its timestamp is within `WEBHOOK_TOLERANCE_SECONDS` of
now. Then the body must be a JSON object with an `event`. Anything else is answered with a
4xx that says why, logged in one line, and nothing is stored.

An accepted delivery is stored in one short transaction and answered 2xx; processing is a task
published after the row commits (`tasks.process`). Calendly counts any answer that is not 2xx
within 10 seconds as a failure and retries, so nothing slow happens here: with the broker down
the publish fails fast, the delivery still answers 2xx, and the sweep processes the row later.
A repeat of a stored delivery (same event, payload URI and `created_at`) answers 2xx and adds
nothing but a count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.calendly.signatures import HEADER, InvalidSignature, verify_with_any
from portal.core.text import storable
from portal.webhooks.models import Delivery, Endpoint
from portal.webhooks.processing import TEST_HEADER
from portal.webhooks.tasks import publish_after_commit

log = logging.getLogger(__name__)

# What of a delivery's headers is kept with it (the rest says nothing about the delivery).
KEPT_HEADERS = ("Content-Type", "User-Agent", HEADER, "X-Request-Id", TEST_HEADER)


# A well-formed signature that is wrong or stale (or no key to check one with); every other
# signature problem is a malformed request.
REFUSED_SIGNATURES = {
    "the signature does not match the body",
    "the signature timestamp is outside the allowed window",
    "no signing key is configured",
}


# An address's key and organization never change (a re-created subscription gets a new
# address), so each process keeps the addresses it has looked up for a minute: reading the
# row cost a fifth of a delivery's time (bench/webhook_receiver.py). An address deleted
# meanwhile is noticed when its delivery cannot be stored (the row's foreign key), and is
# answered 404 like any unknown address.
ENDPOINT_MEMORY_SECONDS = 60.0
ENDPOINT_MEMORY_SIZE = 1000
_endpoints: dict[str, tuple[float, Endpoint]] = {}


def endpoint_at(token: str) -> Endpoint | None:
    """The receiving address with this token, if there is one."""
    now = time.monotonic()
    remembered = _endpoints.get(token)
    if remembered is not None and now - remembered[0] < ENDPOINT_MEMORY_SECONDS:
        return remembered[1]
    endpoint = Endpoint.objects.filter(token=token).first()
    if endpoint is None:
        _endpoints.pop(token, None)
    else:
        if len(_endpoints) >= ENDPOINT_MEMORY_SIZE:
            _endpoints.clear()
        _endpoints[token] = (now, endpoint)
    return endpoint


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Envelope:
    event: str
    payload_uri: str
    created_at: str

    @property
    def dedupe_key(self) -> str:
        identity = json.dumps([self.event, self.payload_uri, self.created_at])
        return hashlib.sha256(identity.encode()).hexdigest()


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refused unread when it says it is too big and cut off when it lies."""
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isascii() or not declared.isdigit():
        raise Rejected(400, "the Content-Length header is not a number")
    # Compared as text first: int() refuses strings of more than 4,300 digits.
    digits = declared.lstrip("0")
    if len(digits) > len(str(limit)) or int(digits or "0") > limit:
        raise Rejected(413, f"the body is larger than {limit} bytes")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise Rejected(413, f"the body is larger than {limit} bytes")
    return body


def check_content_type(request: HttpRequest) -> None:
    kind = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise Rejected(415, "the body must be sent as application/json")


def signing_keys(endpoint: Endpoint | None) -> list[str]:
    keys = [endpoint.signing_key] if endpoint is not None else []
    if settings.CALENDLY_WEBHOOK_SIGNING_KEY:
        keys.append(settings.CALENDLY_WEBHOOK_SIGNING_KEY)
    return keys


def envelope(body: bytes) -> Envelope:
    """What identifies a delivery: its event, the URI of what it is about, and when."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise Rejected(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Rejected(400, "the body is not a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise Rejected(400, "the body names no event")
    payload = data.get("payload")
    payload_uri = payload.get("uri") if isinstance(payload, dict) else None
    created_at = data.get("created_at")
    return Envelope(
        event=event,
        payload_uri=payload_uri if isinstance(payload_uri, str) else "",
        created_at=created_at if isinstance(created_at, str) else "",
    )


def kept_headers(request: HttpRequest) -> dict[str, str]:
    return {
        name: storable(request.headers[name]) for name in KEPT_HEADERS if name in request.headers
    }


# One statement that stores a delivery or, when its key is already there, stores nothing and
# says so (no id comes back): the repeat check cannot race, and the hot path costs one round
# trip inside its transaction. PostgreSQL and SQLite (3.35+) both speak it.
INSERT = """
INSERT INTO {table} (organization_id, endpoint_id, received_at, event, payload_uri,
    created_at_sent, dedupe_key, body, headers, status, repeats, attempts, outcome)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, '')
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""


def store(
    *, endpoint: Endpoint | None, body: bytes, headers: dict[str, str], about: Envelope
) -> tuple[int | None, bool]:
    """Keep a verified delivery; (its id, True) when new, (None, False) for a repeat."""
    values = [
        endpoint.organization_id if endpoint else None,
        endpoint.pk if endpoint else None,
        timezone.now(),
        # The envelope's text as PostgreSQL can hold it (no NUL); the key and the body keep
        # every byte.
        storable(about.event),
        storable(about.payload_uri),
        storable(about.created_at),
        about.dedupe_key,
        body,
        json.dumps(headers),
        Delivery.Status.RECEIVED.value,
    ]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(INSERT.format(table=Delivery._meta.db_table), values)
            stored = cursor.fetchone()
            if stored is not None:
                publish_after_commit(stored[0])
    except IntegrityError:
        # Not a repeat (that is no error): the receiving address was deleted meanwhile.
        _endpoints.pop(endpoint.token if endpoint else "", None)
        raise Rejected(404, "no receiver has this address") from None
    if stored is None:
        Delivery.objects.filter(dedupe_key=about.dedupe_key).update(repeats=F("repeats") + 1)
        return None, False
    return stored[0], True


def accept(request: HttpRequest, endpoint: Endpoint | None) -> tuple[int | None, bool]:
    """Check one request and store it; raises Rejected with the reason."""
    check_content_type(request)
    body = read_body(request)
    try:
        verify_with_any(
            header=request.headers.get(HEADER),
            body=body,
            signing_keys=signing_keys(endpoint),
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )
    except InvalidSignature as invalid:
        status = 403 if invalid.reason in REFUSED_SIGNATURES else 400
        raise Rejected(status, invalid.reason) from None
    about = envelope(body)
    return store(endpoint=endpoint, body=body, headers=kept_headers(request), about=about)


@csrf_exempt
@login_not_required
@require_POST
def receive(request: HttpRequest, token: str | None = None) -> HttpResponse:
    endpoint = None
    try:
        if token is not None:
            # Tokens are printable ASCII; anything else (a NUL, which PostgreSQL cannot even
            # compare) is no receiver's address.
            usable = token.isascii() and token.isprintable()
            endpoint = endpoint_at(token) if usable else None
            if endpoint is None:
                raise Rejected(404, "no receiver has this address")
        delivery_id, new = accept(request, endpoint)
    except Rejected as rejected:
        log.warning("Webhook delivery refused (%s): %s", rejected.status, rejected.reason)
        return JsonResponse({"error": rejected.reason}, status=rejected.status)
    if not new:
        return JsonResponse({"stored": False, "repeat": True}, status=200)
    return JsonResponse({"stored": True, "delivery": delivery_id}, status=202)
