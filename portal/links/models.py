"""The ledger: every booking link the portal handed out, and the shares Calendly lists.

Calendly can never list a single-use link again once it is made (`POST /scheduling_links`
answers with the URL and nothing to find it by later), so this table is the only record of
who made which link, when, and for whom. Shares can be listed (since 2026-11-06); those made
outside the portal are added here by the background refresh, marked `origin=calendly`.

What the rows keep of the rep and the event type is copied at creation (name, URI), so the
ledger still reads right after the mirror loses them (a removed member, a deleted type).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portal.accounts.models import Organization
from portal.directory.models import EventType, Member


class IssuedLink(models.Model):
    class Kind(models.TextChoices):
        SINGLE_USE = "single_use", "Single-use link"
        SHARE = "share", "Customized share"

    class Origin(models.TextChoices):
        PORTAL = "portal", "Made in the portal"
        COMMAND = "command", "Made by a command"
        CALENDLY = "calendly", "Made outside the portal"

    class Status(models.TextChoices):
        # Single-use links stay "active" until a booking on them is seen (webhooks fill
        # `booked_at`); shares take the status Calendly lists.
        ACTIVE = "active", "Active"
        BOOKED = "booked", "Booked"
        EXPIRED = "expired", "Expired"
        DELETED = "deleted", "Deleted"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    kind = models.TextField(choices=Kind.choices)
    origin = models.TextField(choices=Origin.choices, default=Origin.PORTAL)
    booking_url = models.TextField()
    # A share's URI in Calendly; empty for single-use links, which have none.
    share_uri = models.TextField(blank=True)

    event_type = models.ForeignKey(
        EventType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_type_uri = models.TextField()
    event_type_name = models.TextField(blank=True)
    rep = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rep_name = models.TextField(blank=True)
    rep_email = models.TextField(blank=True)

    # For whom: a customer's address and/or a ticket reference, as the maker typed them.
    customer = models.TextField(blank=True)
    ticket = models.TextField(blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who made it, in words that outlive the account ("Ana Diaz <ana@…>", "manage.py …").
    created_by_label = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    status = models.TextField(choices=Status.choices, default=Status.ACTIVE)
    status_checked_at = models.DateTimeField(null=True, blank=True)
    # When the link was booked: filled from Calendly's invitee.created webhook (webhooks issue)
    # or, for shares, when Calendly first lists the share as booked.
    booked_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # A share's effective settings as Calendly last echoed them (`share_override`).
    settings = models.JSONField(default=dict, blank=True)
    # The bulk job's item a link was made for: a retried item finds its link here instead of
    # making another (Calendly cannot list single-use links).
    job_item = models.OneToOneField(
        "jobs.JobItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["share_uri"], condition=~Q(share_uri=""), name="one_row_per_share"
            )
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="ledger_newest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.booking_url}"

    @property
    def deletable(self) -> bool:
        """Calendly deletes shares that are not booked (and not already gone)."""
        return self.kind == self.Kind.SHARE and self.status in (
            self.Status.ACTIVE,
            self.Status.EXPIRED,
        )
