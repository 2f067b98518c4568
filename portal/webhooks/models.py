"""Webhook subscriptions, the deliveries Calendly sends to the portal, and team calendar feeds.

Calendly cannot update or re-enable a subscription, disables one after 24 hours of failed
deliveries, and offers nothing to watch that happen; these tables are how the portal does.

- `Endpoint`: a receiving address the portal made for a subscription of its own
  (`<PORTAL_BASE_URL>/hooks/calendly/<token>`) and the signing key it gave Calendly for it.
  One address per subscription means a re-created subscription never collides with the old one
  (Calendly answers 409 for a URL it already has) and a delivery names the key to check it by.
- `Subscription`: the organization's subscriptions as Calendly last listed them.
- `Delivery`: every authentic delivery, stored as received before the receiver answers 2xx.
  Repeats (same event, payload URI and `created_at`) are one row: Calendly retries and
  overlapping subscriptions send the same message more than once.
- `Meeting`: what the invitee deliveries said about each booking, for the calendar feeds.
- `Feed`: a secret, revocable ICS address over the meetings of a group, a team or chosen
  event types.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.accounts.crypto import EncryptedTextField
from portal.accounts.models import Organization
from portal.directory.models import Group, Team


class Endpoint(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # The last part of the receiving URL: random, made here, so its length is ours to bound.
    token = models.CharField(max_length=64, unique=True)
    signing_key = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by_label = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"receiver {self.token[:6]}… of {self.organization_id}"


class Subscription(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    class Scope(models.TextChoices):
        ORGANIZATION = "organization", "Organization"
        USER = "user", "User"
        GROUP = "group", "Group"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    uri = models.TextField(unique=True)
    callback_url = models.TextField()
    # Calendly may add states; what it sends is kept and shown as sent.
    state = models.TextField()
    events = models.JSONField(default=list)
    scope = models.TextField()
    user_uri = models.TextField(blank=True)
    group_uri = models.TextField(blank=True)
    creator_uri = models.TextField(blank=True)
    # When the current cycle of failed deliveries began; None while deliveries succeed.
    retry_started_at = models.DateTimeField(null=True, blank=True)
    calendly_created_at = models.DateTimeField(null=True, blank=True)
    # Set when the subscription points at one of the portal's own receiving addresses.
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscriptions"
    )
    refreshed_at = models.DateTimeField(default=timezone.now)
    # Deleted here, or no longer listed by Calendly: kept so deliveries still name it.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "removed_at", "state"])]

    def __str__(self) -> str:
        return f"{self.scope} subscription to {self.callback_url}"

    @property
    def healthy(self) -> bool:
        return self.state == self.State.ACTIVE and self.retry_started_at is None


class Delivery(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    # Indexed by `delivery_newest` below, which starts with it.
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    received_at = models.DateTimeField(default=timezone.now)
    # The envelope as sent (any length, any value Calendly chooses).
    event = models.TextField()
    payload_uri = models.TextField(blank=True)
    created_at_sent = models.TextField(blank=True)
    # SHA-256 of (event, payload URI, created_at): one row however often a message arrives.
    dedupe_key = models.CharField(max_length=64)
    body = models.BinaryField()
    headers = models.JSONField(default=dict)
    status = models.TextField(choices=Status.choices, default=Status.RECEIVED)
    # How many more times the same message arrived (answered 2xx, stored once).
    repeats = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # What processing did, in words ("Marked ledger entry 12 booked"), or why it failed.
    outcome = models.TextField(blank=True)

    class Meta:
        constraints = [
            # What the receiver's INSERT … ON CONFLICT (dedupe_key) relies on.
            models.UniqueConstraint(fields=["dedupe_key"], name="one_row_per_delivery")
        ]
        indexes = [
            # The sweep's question; rows leave this index once processed.
            models.Index(
                fields=["received_at"],
                name="delivery_waiting",
                condition=models.Q(status="received"),
            ),
            models.Index(fields=["organization", "-received_at"], name="delivery_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.event} received {self.received_at:%Y-%m-%d %H:%M:%S}"


class Meeting(models.Model):
    """One invitee's booking, as the latest invitee delivery about it described it."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Booked"
        CANCELED = "canceled", "Canceled"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    invitee_uri = models.TextField(unique=True)
    event_uri = models.TextField(blank=True)
    event_type_uri = models.TextField(blank=True)
    # The event type's UUID in one spelling (lower case, no hyphens): Calendly writes UUIDs
    # more than one way, and feeds match on this.
    event_type_key = models.TextField(blank=True, db_index=True)
    name = models.TextField(blank=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    location = models.TextField(blank=True)
    invitee_name = models.TextField(blank=True)
    invitee_email = models.TextField(blank=True)
    status = models.TextField(choices=Status.choices, default=Status.ACTIVE)
    rescheduled = models.BooleanField(default=False)
    cancel_reason = models.TextField(blank=True)
    no_show = models.BooleanField(default=False)
    # `created_at` of the delivery that last changed the row: an older one arriving late
    # (Calendly does not keep order while retrying) changes nothing.
    as_of = models.DateTimeField()
    # iCalendar's SEQUENCE: calendars apply a changed event only when it grows.
    sequence = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "start_time"])]

    def __str__(self) -> str:
        return f"{self.name} at {self.start_time:%Y-%m-%d %H:%M}"


class MeetingHost(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="hosts")
    user_uri = models.TextField()
    user_key = models.TextField(db_index=True)  # as Meeting.event_type_key
    name = models.TextField(blank=True)
    email = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.user_uri} hosts meeting {self.meeting_id}"


class Feed(models.Model):
    class Kind(models.TextChoices):
        GROUP = "group", "A group's meetings"
        TEAM = "team", "A team's meetings"
        EVENT_TYPES = "event_types", "Chosen event types"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name = models.TextField()
    kind = models.TextField(choices=Kind.choices)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    event_type_uris = models.JSONField(default=list, blank=True)
    # The secret in the feed's URL is looked up by its SHA-256; kept encrypted so admins can
    # copy the address again.
    token_digest = models.CharField(max_length=64, unique=True)
    token = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by_label = models.TextField(blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"feed {self.name}"
