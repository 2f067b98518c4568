"""The dashboard's hygiene counts: what in the organization needs an admin's look."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from portal.directory.members import without_active_event_types
from portal.directory.models import Invitation, Member


@dataclass(frozen=True)
class Item:
    label: str
    count: int
    url: str


def hygiene(organization_id: int) -> list[Item]:
    now = timezone.now()
    invitations = Invitation.objects.current().filter(organization_id=organization_id)
    counts = invitations.aggregate(
        week=Count("pk", filter=Q(status="pending", calendly_created_at__lt=now - timedelta(7))),
        month=Count("pk", filter=Q(status="pending", calendly_created_at__lt=now - timedelta(30))),
        declined=Count("pk", filter=Q(status="declined")),
    )
    members = Member.objects.filter(organization_id=organization_id)
    idle = without_active_event_types(members.filter(removed_at__isnull=True)).count()
    removed = members.filter(removed_at__gte=now - timedelta(days=30)).count()
    base = reverse("directory:members")
    return [
        Item(
            "Invitations pending more than 7 days",
            counts["week"],
            f"{base}?status=pending&older_than=7",
        ),
        Item(
            "Invitations pending more than 30 days",
            counts["month"],
            f"{base}?status=pending&older_than=30",
        ),
        Item("Declined invitations", counts["declined"], f"{base}?status=declined"),
        Item("Members with no active event type", idle, f"{base}?no_event_types=1"),
        Item(
            "People removed in the last 30 days",
            removed,
            f"{base}?status=removed&removed_within=30",
        ),
    ]
