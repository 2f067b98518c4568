"""The append-only audit log and its one writer.

Every state change in the portal calls `record(...)` inside the same action that makes the
change (never from a signal), so a change and its audit row commit or roll back together:

    from portal.audit import Action, record

    record(action=Action.ROLE_GRANTED, organization=org, target=person,
           before={"role": ""}, after={"role": "sales"}, request=request)

This module is imported while Django loads its apps, so models (ours and auth's) are imported
inside the functions rather than at the top.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder

# Names imported one by one: `portal.audit.models` becomes this package's `models` attribute
# once loaded, which would shadow a `from django.db import models`.
from django.db.models import Model, TextChoices
from django.http import HttpRequest

from portal.core.text import storable

if TYPE_CHECKING:
    from portal.accounts.models import Organization, User
    from portal.audit.models import AuditEntry

__all__ = ["Action", "record"]


class Action(TextChoices):
    """Actions the portal records. Other apps add theirs here as `<app>.<verb_or_event>`.

    The column itself accepts any well-formed name (it is not a `choices` field), so adding an
    action never needs a migration and old rows keep their names after an action is retired.
    """

    SIGN_IN = "accounts.sign_in", "Signed in"
    SIGN_OUT = "accounts.sign_out", "Signed out"
    ADMIN_SIGN_IN = "accounts.admin_sign_in", "Break-glass admin sign-in"
    ADMIN_SIGN_IN_FAILED = "accounts.admin_sign_in_failed", "Failed break-glass admin sign-in"
    ADMIN_LOCKED_OUT = "accounts.admin_locked_out", "Break-glass admin sign-in locked out"
    CONNECTED = "accounts.connected", "Connected Calendly"
    DISCONNECTED = "accounts.disconnected", "Disconnected Calendly"
    ROLE_GRANTED = "accounts.role_granted", "Granted a portal role"
    ROLE_REVOKED = "accounts.role_revoked", "Revoked a portal role"
    MEMBER_REMOVED = "directory.member_removed", "Removed a member"
    INVITED = "directory.invited", "Invited someone"
    INVITATION_REVOKED = "directory.invitation_revoked", "Revoked an invitation"
    INVITEE_DATA_DELETION_REQUESTED = (
        "directory.invitee_data_deletion_requested",
        "Asked Calendly to delete invitees' data",
    )
    INVITEE_DATA_DELETION_UNCONFIRMED = (
        "directory.invitee_data_deletion_unconfirmed",
        "A data-deletion request may have reached Calendly",
    )
    CHANGE_REQUESTED = "directory.change_requested", "Noted a change to make in Calendly"
    SYNC_REQUESTED = "directory.sync_requested", "Asked for a sync with Calendly"
    ACCESS_SYNCED = "accounts.access_synced", "Portal access followed Calendly"
    EXPORTED = "audit.exported", "Exported the audit log"
    LINK_CREATED = "links.single_use_created", "Made a single-use link"
    SHARE_CREATED = "links.share_created", "Made a customized share"
    SHARE_UPDATED = "links.share_updated", "Changed a customized share"
    SHARE_DELETED = "links.share_deleted", "Deleted a customized share"
    SHARES_REFRESHED = "links.shares_refreshed", "Refreshed shares from Calendly"
    LEDGER_EXPORTED = "links.ledger_exported", "Exported the link ledger"
    JOB_STARTED = "jobs.started", "Started a background job"
    JOB_APPROVAL_REQUESTED = "jobs.approval_requested", "Asked a second admin to approve a job"
    JOB_APPROVED = "jobs.approved", "Approved another admin's job"
    JOB_PAUSED = "jobs.paused", "Paused a background job"
    JOB_RESUMED = "jobs.resumed", "Resumed a background job"
    JOB_CANCELLED = "jobs.cancelled", "Cancelled a background job"
    JOB_RETRIED = "jobs.retried", "Retried a job's failed items"
    JOB_FINISHED = "jobs.finished", "A background job finished"
    JOB_ITEM_DONE = "jobs.item_done", "A job item was done"
    JOB_ITEM_FAILED = "jobs.item_failed", "A job item failed"
    JOB_ITEM_SKIPPED = "jobs.item_skipped", "A job item was skipped"
    JOB_DISCARDED = "jobs.discarded", "Discarded a job's preview"
    JOB_RESULTS_EXPORTED = "jobs.results_exported", "Downloaded a job's results"
    WEBHOOK_SUBSCRIBED = "webhooks.subscribed", "Created a webhook subscription"
    WEBHOOK_UNSUBSCRIBED = "webhooks.unsubscribed", "Deleted a webhook subscription"
    WEBHOOK_RECREATED = "webhooks.recreated", "Re-created a webhook subscription"
    WEBHOOKS_REFRESHED = "webhooks.refreshed", "Read webhook subscriptions from Calendly"
    WEBHOOK_REPROCESSED = "webhooks.reprocessed", "Processed a webhook delivery again"
    WEBHOOK_TEST_SENT = "webhooks.test_sent", "Sent a test webhook delivery"
    WEBHOOK_DELIVERIES_EXPORTED = "webhooks.deliveries_exported", "Exported the delivery log"
    FEED_CREATED = "webhooks.feed_created", "Made a team calendar feed"
    FEED_REVOKED = "webhooks.feed_revoked", "Revoked a team calendar feed"
    MEETING_CANCELED = "meetings.canceled", "Canceled a meeting"
    NO_SHOW_MARKED = "meetings.no_show_marked", "Marked an invitee a no-show"
    NO_SHOW_UNMARKED = "meetings.no_show_unmarked", "Took back a no-show mark"
    CALENDLY_REQUEST_SENT = "calendly.request_sent", "Sent a raw request to Calendly"
    ROUTING_EXPORTED = "activity.routing_exported", "Exported routing form submissions"
    ACTIVITY_EXPORTED = "activity.log_exported", "Exported Calendly's activity log"
    ACTIVITY_IMPORTED = "activity.log_imported", "Imported Calendly's activity log"
    SEATS_EXPORTED = "directory.seats_exported", "Exported seat use"
    SEAT_SCAN_REQUESTED = "directory.seat_scan_requested", "Asked for a seat-use scan"


ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

# Anything that looks like a credential is dropped before it reaches the log: the log is read
# by every admin and exported to CSV, so it must never become a second copy of a secret.
SECRET_KEY_NAME = re.compile(
    r"token|secret|passw|authorization|api_?key|private_?key|signing_?key|credential|cookie",
    re.IGNORECASE,
)

# Column sizes; longer values are cut rather than refused so recording never fails a change.
LABEL_LENGTH = 255
TYPE_LENGTH = 100
USER_AGENT_LENGTH = 512
REQUEST_ID_LENGTH = 128


def record(
    *,
    action: str,
    organization: Organization | None,
    actor: User | None = None,
    actor_label: str = "",
    target: Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    target_label: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Write one audit row and return it. The only way rows get into the log."""
    from portal.audit.middleware import client_ip
    from portal.audit.models import AuditEntry

    if not ACTION_NAME.match(action):
        raise ValueError(f"audit action must be a dotted lower-case name, not {action!r}")
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_label = target_label or describe(target)
    return AuditEntry.objects.create(
        organization=organization,
        actor=actor,
        # Without a person (a management command, a worker), the caller names the actor.
        actor_label=describe(actor) if actor is not None else _cut(actor_label, LABEL_LENGTH),
        action=str(action),
        target_type=_cut(target_type, TYPE_LENGTH),
        target_id=_cut(str(target_id), LABEL_LENGTH),
        target_label=_cut(target_label, LABEL_LENGTH),
        before=json_safe(before),
        after=json_safe(after),
        ip=client_ip(request) if request is not None else None,
        user_agent=(
            _cut(request.headers.get("User-Agent", ""), USER_AGENT_LENGTH)
            if request is not None
            else ""
        ),
        request_id=_cut(str(getattr(request, "request_id", "")), REQUEST_ID_LENGTH),
    )


def _cut(value: str, length: int) -> str:
    # Labels carry what people typed and what Calendly sent: NULs and lone surrogates go too,
    # since the database refuses them.
    return storable(value, max_bytes=4 * length)[:length]


def describe(obj: Model) -> str:
    """The human text kept with a row, so it still reads right after the object changes."""
    from django.contrib.auth.models import AbstractBaseUser

    if isinstance(obj, AbstractBaseUser):
        name = obj.get_full_name() if hasattr(obj, "get_full_name") else ""
        email = getattr(obj, "email", "") or ""
        label = f"{name} ({email})" if name and email else name or email or obj.get_username()
    else:
        label = str(obj)
    return _cut(label, LABEL_LENGTH)


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, set | frozenset):
            return sorted(o, key=str)
        if isinstance(o, Model):
            return {"type": o._meta.label_lower, "id": str(o.pk), "label": describe(o)}
        return super().default(o)


def json_safe(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Plain JSON (dates as ISO text, UUIDs and Decimals as strings) with secrets removed."""
    if values is None:
        return None
    cleaned: dict[str, Any] = json.loads(json.dumps(_strip_secrets(values), cls=_Encoder))
    return cleaned


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            str(key): _strip_secrets(item)
            for key, item in value.items()
            if not SECRET_KEY_NAME.search(str(key))
        }
    if isinstance(value, list | tuple):
        return [_strip_secrets(item) for item in value]
    if isinstance(value, str):
        # PostgreSQL's jsonb refuses "\u0000" (and UTF-8 has no lone surrogates).
        return storable(value, max_bytes=len(value) * 4)
    return value
