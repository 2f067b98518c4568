"""Signed webhook deliveries from a background thread, retried as Calendly retries them.

Calendly signs with `Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
(https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures). The key is the
subscription's own `signing_key` when one was given (PAT integrations), otherwise the sandbox's
app-wide key, as an OAuth app's subscriptions would use.

Any answer but a 2xx (redirects included, never followed), a timeout or a connection error is a
failure. Calendly then retries that message with exponential back-off for 24 hours; the
subscription's `retry_started_at` says since when it has been failing, and a success clears
it. A subscription still failing once the sandbox's `webhook_disable_after` has passed since
then becomes `disabled` at its next failure, and its pending retries are dropped. Other
messages are attempted meanwhile, so the order of arrival is not guaranteed.

One thread per sandbox, started on the first delivery, makes every attempt: it sleeps until the
earliest one in the sandbox's `outbox` heap falls due on the sandbox clock, so moving that
clock (`Sandbox.advance`) brings retries forward. Tests wait with `drain` or `wait_for`.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from portal.sandbox import render
from portal.sandbox.http import JSON, timestamp
from portal.sandbox.state import Attempt, Delivery

if TYPE_CHECKING:
    from portal.sandbox.state import (
        EventType,
        Invitee,
        Sandbox,
        ScheduledEvent,
        WebhookSubscription,
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Calendly counts a 3xx as a failed delivery; it does not follow it."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def signature(key: str, body: bytes, at: int | None = None) -> str:
    moment = int(time.time()) if at is None else at
    digest = hmac.new(key.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def signed_headers(sb: Sandbox, hook: WebhookSubscription, body: bytes) -> dict[str, str]:
    """Headers for one POST of `body`, signed now (sandbox clock) with the hook's key."""
    key = hook.signing_key or sb.webhook_signing_key
    return {
        "Content-Type": "application/json",
        "User-Agent": "Calendly-Sandbox-Webhooks/1.0",
        "Calendly-Webhook-Signature": signature(key, body, int(sb.clock())),
    }


# -- who hears about what ----------------------------------------------------------------------


def group_members(sb: Sandbox, group: str) -> set[str]:
    return {
        sb.memberships[r.owner].user
        for r in sb.group_relationships.values()
        if r.group == group and r.owner_kind == "membership" and r.role == "member"
    }


def subscribed(
    sb: Sandbox, event_name: str, organization: str, people: set[str]
) -> list[WebhookSubscription]:
    """Active subscriptions to `event_name` that hear about a change in `organization` that
    concerns `people` (user ids): organization scope always, user scope when its user is one
    of them, group scope when one of them is a member of its group."""
    hooks = []
    for hook in sb.webhooks.values():
        if hook.organization != organization or hook.state != "active":
            continue
        if event_name not in hook.events:
            continue
        if hook.scope == "user" and hook.user not in people:
            continue
        if hook.scope == "group" and not group_members(sb, hook.group or "") & people:
            continue
        hooks.append(hook)
    return hooks


def event_type_people(event_type: EventType) -> set[str]:
    """Whom an event type concerns: its hosts, and its owner unless a team owns it."""
    people = set(event_type.hosts)
    if event_type.profile_type == "User":
        people.add(event_type.owner)
    return people


def deliver(
    sb: Sandbox, base: str, event_name: str, organization: str, people: set[str], payload: JSON
) -> None:
    """Queue `event_name` for every matching subscription. Call with `sb.lock` held."""
    for hook in subscribed(sb, event_name, organization, people):
        body = json.dumps(
            {
                "event": event_name,
                "created_at": timestamp(sb.now()),
                # Calendly's `created_by` is the subscription's creator, not whoever acted.
                "created_by": render.user_uri(base, hook.creator),
                "payload": payload,
            }
        ).encode()
        headers = signed_headers(sb, hook, body)
        delivery = Delivery(hook.callback_url, event_name, body, headers, hook.uuid)
        sb.deliveries.append(delivery)
        submit(sb, delivery)


def deliver_invitee(
    sb: Sandbox, base: str, event_name: str, event: ScheduledEvent, invitee: Invitee
) -> None:
    payload = render.invitee_payload(base, sb, invitee)
    deliver(sb, base, event_name, event.organization, set(event.hosts), payload)


def deliver_event_type(sb: Sandbox, base: str, event_name: str, event_type: EventType) -> None:
    payload = render.event_type_payload(base, sb, event_type)
    deliver(sb, base, event_name, event_type.organization, event_type_people(event_type), payload)


# -- the outbox --------------------------------------------------------------------------------


def submit(sb: Sandbox, delivery: Delivery) -> None:
    """Queue the first attempt at `delivery`, starting the sending thread if need be."""
    with sb.outbox_ready:
        if sb.outbox_thread is None:
            sb.outbox_thread = threading.Thread(
                target=_run, args=(sb,), name="sandbox-webhooks", daemon=True
            )
            sb.outbox_thread.start()
        _queue(sb, delivery, sb.clock())


def _queue(sb: Sandbox, delivery: Delivery, at: float) -> None:
    """Queue an attempt due at `at` on the sandbox clock. Call with `sb.lock` held."""
    delivery.next_attempt_at = datetime.fromtimestamp(at, UTC)
    heapq.heappush(sb.outbox, (at, next(sb.outbox_order), delivery))
    sb.outbox_ready.notify_all()


def wait_for(sb: Sandbox, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait until `condition()` holds, checked with `sb.lock` held after every attempt and
    every change to the outbox; True if it did within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with sb.outbox_ready:
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            sb.outbox_ready.wait(remaining)
        return True


def attempt_due(sb: Sandbox) -> bool:
    """Whether an attempt is being made or is waiting although its time has come."""
    with sb.lock:
        return sb.outbox_sending is not None or bool(sb.outbox and sb.outbox[0][0] <= sb.clock())


def drain(sb: Sandbox, timeout: float = 10.0) -> bool:
    """Wait until every queued attempt that is due has been made (retries due later stay
    queued); True if that happened within `timeout` seconds."""
    return wait_for(sb, lambda: not attempt_due(sb), timeout)


def close(sb: Sandbox) -> None:
    """Stop the sending thread, if one was started; attempts still queued are not made."""
    with sb.outbox_ready:
        thread, sb.outbox_thread = sb.outbox_thread, None
        sb.outbox_ready.notify_all()
    if thread is not None:
        thread.join(timeout=sb.webhook_timeout + 1)


def _run(sb: Sandbox) -> None:
    me = threading.current_thread()
    while True:
        delivery = _next_due(sb, me)
        if delivery is None:
            return
        try:
            _attempt(sb, delivery)
        finally:
            with sb.outbox_ready:
                sb.outbox_sending = None
                sb.outbox_ready.notify_all()


def _next_due(sb: Sandbox, me: threading.Thread) -> Delivery | None:
    """Sleep until the earliest queued attempt is due and take it; None once `close` ran."""
    with sb.outbox_ready:
        while sb.outbox_thread is me:
            if sb.outbox and sb.outbox[0][0] <= sb.clock():
                delivery = heapq.heappop(sb.outbox)[2]
                delivery.next_attempt_at = None
                sb.outbox_sending = delivery
                return delivery
            sb.outbox_ready.wait(sb.outbox[0][0] - sb.clock() if sb.outbox else None)
        return None


def _attempt(sb: Sandbox, delivery: Delivery) -> None:
    with sb.lock:
        hook = sb.webhooks.get(delivery.subscription)
        if hook is None or hook.state != "active":
            delivery.outcome = "dropped"
            return
        fresh = sb.resign_retries and bool(delivery.attempts)
        headers = signed_headers(sb, hook, delivery.body) if fresh else delivery.headers
        attempt = Attempt(sb.now(), headers)
    attempt.status, attempt.error = _post(delivery.url, delivery.body, headers, sb.webhook_timeout)
    with sb.lock:
        delivery.attempts.append(attempt)
        delivery.status, delivery.error = attempt.status, attempt.error
        if sb.webhooks.get(hook.uuid) is not hook or hook.state != "active":
            delivery.outcome = "delivered" if attempt.succeeded else "dropped"
        elif attempt.succeeded:
            delivery.outcome = "delivered"
            hook.retry_started_at = None
        else:
            _failed(sb, delivery, hook)


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str | None]:
    """The status Calendly would judge the attempt by, or the error that stood in for one."""
    # Callback URLs are http(s) by validation.
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return answer.status, None
    except urllib.error.HTTPError as error:
        return error.code, None
    # Refused, reset, timed out, or not HTTP at all: nothing must stop the sending thread.
    except (OSError, http.client.HTTPException, ValueError) as error:
        return None, str(error) or type(error).__name__


def _failed(sb: Sandbox, delivery: Delivery, hook: WebhookSubscription) -> None:
    """Start or continue the hook's retry cycle: retry later, give up, or disable the hook."""
    now = sb.clock()
    if hook.retry_started_at is None:
        hook.retry_started_at = sb.now()
    if now - hook.retry_started_at.timestamp() >= sb.webhook_disable_after:
        delivery.outcome = "failed"
        _disable(sb, hook)
    elif now - delivery.attempts[0].at.timestamp() >= sb.webhook_disable_after:
        # The hook's cycle restarted after another message got through; this one ran out.
        delivery.outcome = "failed"
    else:
        delays = sb.webhook_retry_delays
        _queue(sb, delivery, now + delays[min(len(delivery.attempts), len(delays)) - 1])


def _disable(sb: Sandbox, hook: WebhookSubscription) -> None:
    """Nothing more goes to a disabled subscription: its queued retries are dropped."""
    hook.state = "disabled"
    hook.updated_at = sb.now()
    kept = []
    for entry in sb.outbox:
        if entry[2].subscription == hook.uuid:
            entry[2].outcome, entry[2].next_attempt_at = "dropped", None
        else:
            kept.append(entry)
    heapq.heapify(kept)
    sb.outbox[:] = kept
