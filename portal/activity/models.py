"""Calendly's activity log, kept here past Calendly's own 90 days, and the imports that keep it.

Calendly keeps activity log entries for 90 days and lists them (`GET /activity_log_entries`)
only for Enterprise organizations, to an owner's or admin's token.
Each import adds what is new since the newest entry stored; entries are never changed or
deleted here, so the log outlives Calendly's retention.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.accounts.models import Organization


class ActivityEntry(models.Model):
    """One entry of Calendly's activity log, as Calendly gave it.

    Text from Calendly is stored through `portal.core.text.storable`: `uri` is cut to fit its
    unique index; the rest is kept whole (minus what PostgreSQL cannot hold). The actor's
    fields are null when Calendly gave none (a "System" actor has no URI or email).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="activity_entries"
    )
    uri = models.TextField()
    occurred_at = models.DateTimeField()
    namespace = models.TextField(blank=True)
    action = models.TextField(blank=True)
    actor_type = models.TextField(blank=True)  # "User" or "System"
    # Null, not "", when Calendly gave null: "no actor URI" and "an empty one" stay apart.
    actor_uri = models.TextField(null=True, blank=True)  # noqa: DJ001
    actor_name = models.TextField(null=True, blank=True)  # noqa: DJ001
    actor_email = models.TextField(null=True, blank=True)  # noqa: DJ001
    details = models.JSONField(default=dict, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        verbose_name_plural = "activity entries"
        indexes = [models.Index(fields=["organization", "-occurred_at"])]
        constraints = [
            # What an import deduplicates on: the same entry listed twice is stored once.
            models.UniqueConstraint(fields=["organization", "uri"], name="activity_entry_once")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.action} at {self.occurred_at:%Y-%m-%d %H:%M}"


class ActivityImport(models.Model):
    """One run of the import for an organization: what it asked for and what it stored."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Import now button"
        COMMAND = "command", "manage.py import_activity"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        # The organization's plan has no activity log (Calendly offers it on Enterprise only).
        NOT_ON_PLAN = "not_on_plan", "Not on the organization's plan"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="activity_imports"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The `min_occurred_at` asked of Calendly; null on a first import (everything it keeps).
    since = models.DateTimeField(null=True, blank=True)
    new = models.PositiveIntegerField(default=0)
    already_had = models.PositiveIntegerField(default=0)
    # Calendly's answer in words, for the page (why it failed, or that the plan lacks it).
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-started_at"])]

    def __str__(self) -> str:
        return f"activity import {self.pk} of {self.organization} ({self.status})"

    @property
    def listed(self) -> int:
        return self.new + self.already_had
