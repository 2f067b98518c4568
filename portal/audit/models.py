from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portal.accounts.models import Organization
from portal.audit import Action


class AppendOnlyError(Exception):
    """Audit rows are written once and never changed or removed."""


def _refuse(what: str) -> NoReturn:
    raise AppendOnlyError(f"The audit log is append-only: {what} is not allowed.")


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page and its export narrow the log by; empty values mean "any"."""

    actor: str = ""
    action: str = ""
    target: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def as_dict(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items() if value}


def _start_of(day: date) -> datetime:
    # Days are UTC days until people can pick their time zone (the page shows times in UTC).
    return datetime.combine(day, time.min, tzinfo=UTC)


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    """Reads only: every way Django offers to change rows in bulk is refused here."""

    def for_organization(self, organization_id: int) -> AuditEntryQuerySet:
        return self.filter(organization_id=organization_id)

    def matching(self, wanted: AuditFilter) -> AuditEntryQuerySet:
        # Substring filters scan within one organization's rows (the organization indexes
        # narrow first); a trigram index is the next step if one organization's log gets huge.
        entries = self
        if wanted.actor:
            entries = entries.filter(actor_label__icontains=wanted.actor)
        if wanted.action:
            entries = entries.filter(action=wanted.action)
        if wanted.target:
            entries = entries.filter(
                Q(target_label__icontains=wanted.target) | Q(target_id__icontains=wanted.target)
            )
        if wanted.date_from:
            entries = entries.filter(created_at__gte=_start_of(wanted.date_from))
        if wanted.date_to:
            entries = entries.filter(created_at__lt=_start_of(wanted.date_to + timedelta(days=1)))
        return entries

    def actions_present(self) -> list[str]:
        return list(self.order_by("action").values_list("action", flat=True).distinct())

    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("updating entries")

    def delete(self) -> NoReturn:
        _refuse("deleting entries")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("updating entries")

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[AuditEntry]:
        # Inserting many rows is fine; the upsert options would overwrite existing rows.
        if kwargs.get("update_conflicts"):
            _refuse("updating entries on conflict")
        return super().bulk_create(*args, **kwargs)


class AuditEntry(models.Model):
    """One state change: who did what to which object, when, and from where.

    Written only through `portal.audit.record()`. The rows are append-only at three depths:
    this model, its QuerySet, and (on PostgreSQL) a trigger installed by migration 0002 that
    catches raw SQL and anything else that goes around Django.
    """

    # PROTECT: deleting an organization or a person must not rewrite or cascade into the log.
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Snapshots: the log must still read right after people and objects are renamed or gone.
    actor_label = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        ordering = ["-created_at", "-id"]
        # Related-object access uses the base manager; make it the refusing one too.
        base_manager_name = "objects"
        # Every page query starts from one organization, newest first; the action and actor
        # filters are the ones that stay selective in a large log.
        indexes = [
            models.Index(
                fields=["organization", "-created_at", "-id"], name="audit_org_created_idx"
            ),
            models.Index(fields=["organization", "action"], name="audit_org_action_idx"),
            models.Index(fields=["organization", "actor"], name="audit_org_actor_idx"),
        ]

    def __str__(self) -> str:
        who = self.actor_label or "the portal"
        return f"{self.action} by {who} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse("changing an entry")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("deleting an entry")

    @property
    def action_label(self) -> str:
        return action_label(self.action)

    @property
    def before_json(self) -> str:
        return pretty_json(self.before)

    @property
    def after_json(self) -> str:
        return pretty_json(self.after)

    @property
    def changed_keys(self) -> list[str]:
        return changed_keys(self.before, self.after)


def action_label(action: str) -> str:
    labels: dict[str, str] = dict(Action.choices)
    return labels.get(action, action)


def changed_keys(before: Any, after: Any) -> list[str]:
    """The keys whose values differ between an entry's before and after."""
    before, after = before or {}, after or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    keys = before.keys() | after.keys()
    return sorted(key for key in keys if before.get(key) != after.get(key))


def pretty_json(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True)
