"""Signed webhook deliveries from a background thread.

Calendly signs with `Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
(https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures). The key is the
subscription's own `signing_key` when one was given (PAT integrations), otherwise the sandbox's
app-wide key, as an OAuth app's subscriptions would use. Deliveries wait in the sandbox's
`outbox` for one thread per sandbox, started on the first delivery. Each is attempted once with
a short timeout; a failure sets `retry_started_at` on the subscription, like Calendly's retry
cycle would, but the sandbox does not retry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from portal.sandbox import render
from portal.sandbox.http import JSON, timestamp
from portal.sandbox.state import Delivery

if TYPE_CHECKING:
    from portal.sandbox.state import Invitee, Sandbox, ScheduledEvent, WebhookSubscription


def signature(key: str, body: bytes, at: int | None = None) -> str:
    moment = int(time.time()) if at is None else at
    digest = hmac.new(key.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def submit(sb: Sandbox, delivery: Delivery, hook: WebhookSubscription) -> None:
    with sb.lock:
        if sb.outbox_thread is None:
            sb.outbox_thread = threading.Thread(
                target=_run, args=(sb,), name="sandbox-webhooks", daemon=True
            )
            sb.outbox_thread.start()
    sb.outbox.put((delivery, hook))


def drain(sb: Sandbox, timeout: float = 10.0) -> bool:
    """Wait until every queued delivery was attempted; True if that happened in time."""
    deadline = time.monotonic() + timeout
    while sb.outbox.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def close(sb: Sandbox) -> None:
    """Stop the sending thread, if one was started."""
    if sb.outbox_thread is not None:
        sb.outbox.put(None)
        sb.outbox_thread.join(timeout=sb.webhook_timeout + 1)
        sb.outbox_thread = None


def _run(sb: Sandbox) -> None:
    while True:
        item = sb.outbox.get()
        try:
            if item is None:
                return
            _post(sb, *item)
        finally:
            sb.outbox.task_done()


def _post(sb: Sandbox, delivery: Delivery, hook: WebhookSubscription) -> None:
    request = urllib.request.Request(  # noqa: S310 - callback URLs are http(s) by validation
        delivery.url, data=delivery.body, headers=delivery.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=sb.webhook_timeout) as answer:  # noqa: S310
            delivery.status = answer.status
    except urllib.error.HTTPError as error:
        delivery.status = error.code
    except OSError as error:
        delivery.error = str(error)
    if delivery.status is None or not 200 <= delivery.status < 300:
        with sb.lock:
            if hook.retry_started_at is None:
                hook.retry_started_at = sb.now()


def subscribed(sb: Sandbox, event_name: str, event: ScheduledEvent) -> list[WebhookSubscription]:
    hosts = set(event.hosts)
    hooks = []
    for hook in sb.webhooks.values():
        if hook.organization != event.organization or hook.state != "active":
            continue
        if event_name not in hook.events:
            continue
        if hook.scope == "user" and hook.user not in hosts:
            continue
        if hook.scope == "group":
            members = {
                sb.memberships[r.owner].user
                for r in sb.group_relationships.values()
                if r.group == hook.group and r.owner_kind == "membership" and r.role == "member"
            }
            if not members & hosts:
                continue
        hooks.append(hook)
    return hooks


def deliver(sb: Sandbox, base: str, event_name: str, event: ScheduledEvent, payload: JSON) -> None:
    """Queue `event_name` for every matching subscription. Call with `sb.lock` held."""
    for hook in subscribed(sb, event_name, event):
        body = json.dumps(
            {
                "event": event_name,
                "created_at": timestamp(sb.now()),
                # Calendly's `created_by` is the subscription's creator, not whoever acted.
                "created_by": render.user_uri(base, hook.creator),
                "payload": payload,
            }
        ).encode()
        key = hook.signing_key or sb.webhook_signing_key
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Calendly-Sandbox-Webhooks/1.0",
            "Calendly-Webhook-Signature": signature(key, body, int(sb.clock())),
        }
        delivery = Delivery(hook.callback_url, event_name, body, headers)
        sb.deliveries.append(delivery)
        submit(sb, delivery, hook)


def deliver_invitee(
    sb: Sandbox, base: str, event_name: str, event: ScheduledEvent, invitee: Invitee
) -> None:
    deliver(sb, base, event_name, event, render.invitee_payload(base, sb, invitee))
