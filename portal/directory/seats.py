"""Seat use: how many meetings each member hosted lately, from the organization's scheduled events.

Calendly bills a seat for every member, used or not, so admins look here for seats nobody uses.
A scan reads the organization's scheduled events (`GET /scheduled_events?organization=...`,
which needs an owner's or admin's token) and stores each meeting's start, status and hosts.
The first scan reads the last `WINDOW` up to now; each later one reads from where the scans got
to (`SeatScan.scanned_until`), less `OVERLAP`, up to now, and meetings read again are updated,
never stored twice. Events are asked for oldest first and stored a page at a time, and
`scanned_until` follows the last stored start: a scan that fails half-way keeps a gapless
prefix and the next one resumes after it.

Scans stop at now, so they read only meetings that have started, and Calendly refuses to cancel
those ("Event in the past"): a meeting's status, once read, does not change behind the scans.

Every failure ends as data on the `SeatScan` row, in words for the page; nothing raises out of
`scan_seat_use`, so a scheduled scan never fails its Celery task.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from portal.accounts.connections import ConnectionUnavailable, client_for, note_failure
from portal.accounts.models import Organization, User
from portal.calendly import schemas
from portal.calendly.client import PAGE_SIZE, CalendlyClient
from portal.calendly.errors import CalendlyError, explain
from portal.core.text import storable
from portal.directory.models import (
    GroupRelationship,
    MeetingHost,
    Member,
    ScannedMeeting,
    SeatScan,
)
from portal.lists import Column, Hint, Link, ListForm, Pick, utc_text

log = logging.getLogger(__name__)

# How far back seat use looks, and so how far back the first scan reads.
WINDOW = timedelta(days=90)
RECENT = timedelta(days=30)
# Calendly may list a meeting booked a moment ago with a start just behind where the last scan
# stopped; reading the last hour again catches it (and a status changed in that hour).
OVERLAP = timedelta(hours=1)
# Meetings older than this are of no use to the page and are deleted after a scan.
KEEP = WINDOW + timedelta(days=7)
# A scan that has not finished after this long lost its worker.
STALE = timedelta(hours=1)

DOING = "reading the organization's scheduled events"
INTERNAL_FAILURE = (
    "The scan stopped on an error inside the portal (it is in the portal's log). The next "
    "scan starts from where this one got to."
)


# -- the scan ---------------------------------------------------------------------------------


def scan_seat_use(
    organization: Organization,
    *,
    trigger: str,
    requested_by: User | None = None,
    client: CalendlyClient | None = None,
) -> SeatScan:
    """Read the organization's meetings that are new since the last scan; return the finished
    scan. `client` defaults to the organization's connection (`client_for`: its shared rate
    limit and token renewal)."""
    now = timezone.now()
    reached = covered_until(organization.pk)
    start = now - WINDOW if reached is None else max(reached - OVERLAP, now - WINDOW)
    scan = SeatScan.objects.create(
        organization=organization,
        trigger=trigger,
        requested_by=requested_by,
        started_at=now,
        scanned_from=start,
    )
    try:
        if client is None:
            with client_for(organization) as own:
                _read(scan, own, until=now)
        else:
            _read(scan, client, until=now)
        scan.scanned_until = now
        scan.status = SeatScan.Status.SUCCEEDED
        ScannedMeeting.objects.filter(organization=organization, start_time__lt=now - KEEP).delete()
    except (CalendlyError, ConnectionUnavailable) as error:
        if isinstance(error, CalendlyError):
            note_failure(organization, error)
        scan.status = SeatScan.Status.FAILED
        scan.error = explain(error, doing=DOING)
    except Exception:
        log.exception("Scanning the seat use of %s failed", organization)
        scan.status = SeatScan.Status.FAILED
        scan.error = INTERNAL_FAILURE
    scan.finished_at = timezone.now()
    scan.save()
    return scan


def _read(scan: SeatScan, client: CalendlyClient, *, until: datetime) -> None:
    events = client.list_scheduled_events(
        organization=scan.organization.uri,
        min_start_time=scan.scanned_from,
        max_start_time=until,
        sort="start_time:asc",
    )
    for page in itertools.batched(events, PAGE_SIZE):
        scan.meetings_new += store(scan.organization, page)
        scan.meetings_read += len(page)
        # Oldest first: every meeting starting before the last one read is stored now. One
        # starting at the same moment may be on the next page; the overlap reads it again.
        scan.scanned_until = min(max(event.start_time for event in page), until)
        scan.save(update_fields=["meetings_new", "meetings_read", "scanned_until"])


def store(organization: Organization, events: Sequence[schemas.ScheduledEvent]) -> int:
    """Store or update the meetings and their hosts; return how many were not stored before."""
    now = timezone.now()
    meetings: dict[str, schemas.ScheduledEvent] = {}
    for event in events:
        meetings[storable(event.uri)] = event
    with transaction.atomic():
        had = set(
            ScannedMeeting.objects.filter(organization=organization, uri__in=meetings).values_list(
                "uri", flat=True
            )
        )
        rows = ScannedMeeting.objects.bulk_create(
            [
                ScannedMeeting(
                    organization=organization,
                    uri=uri,
                    start_time=event.start_time,
                    status=storable(event.status),
                    seen_at=now,
                )
                for uri, event in meetings.items()
            ],
            update_conflicts=True,
            unique_fields=["organization", "uri"],
            update_fields=["start_time", "status", "seen_at"],
        )
        MeetingHost.objects.filter(meeting__in=rows).delete()
        MeetingHost.objects.bulk_create(
            MeetingHost(
                organization=organization,
                meeting=row,
                user_uri=storable(user),
                start_time=row.start_time,
                active=row.status == ScannedMeeting.Status.ACTIVE,
            )
            for row in rows
            for user in {m.user for m in meetings[row.uri].event_memberships}
        )
    return len(meetings) - len(had)


def covered_until(organization_id: int) -> datetime | None:
    """How far the stored meetings reach: the furthest any scan got, failed ones included."""
    reached: datetime | None = SeatScan.objects.filter(organization_id=organization_id).aggregate(
        reached=Max("scanned_until")
    )["reached"]
    return reached


def covered_from(organization_id: int) -> datetime | None:
    """Where the stored meetings begin: the start of the window, or of the first scan."""
    first = (
        SeatScan.objects.filter(organization_id=organization_id, scanned_until__isnull=False)
        .order_by("started_at", "pk")
        .values_list("scanned_from", flat=True)
        .first()
    )
    if first is None:
        return None
    return max(first, timezone.now() - WINDOW)


def last_scan(organization_id: int) -> SeatScan | None:
    """The newest finished scan, for the page."""
    return (
        SeatScan.objects.filter(organization_id=organization_id)
        .exclude(status=SeatScan.Status.RUNNING)
        .first()
    )


def running_scan(organization_id: int) -> SeatScan | None:
    """A scan started recently and not finished (older ones lost their worker)."""
    return SeatScan.objects.filter(
        organization_id=organization_id,
        status=SeatScan.Status.RUNNING,
        started_at__gte=timezone.now() - STALE,
    ).first()


# -- the list ---------------------------------------------------------------------------------

# Stands in for "no meeting in the window" when sorting, so those members come first.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
FIELDS = ("pk", "name", "email", "role", "recent", "hosted", "last_meeting", "idle_since")
ROLE_LABELS = dict(Member.Role.choices)
# The form on the page that the rows' Select boxes belong to: it posts to offboarding.
SELECTION_FORM = "seat-selection"


class SeatFilter(ListForm):
    q = forms.CharField(required=False, max_length=200, label="Name or email")
    group = forms.ChoiceField(
        required=False,
        label="Group",
        error_messages={"invalid_choice": "There is no such group in this organization."},
    )

    sorts = {
        # Least used first: nobody's last meeting (none in the window) sorts as the oldest.
        "use": ("idle_since", "hosted", "name", "pk"),
        "name": ("name", "email", "pk"),
        "email": ("email", "pk"),
        "role": ("role", "name", "pk"),
        "recent": ("recent", "idle_since", "name", "pk"),
        "hosted": ("hosted", "idle_since", "name", "pk"),
    }
    default_sort = "use"

    def __init__(self, data: Any, *, groups: Sequence[tuple[int, str]], **kwargs: Any) -> None:
        self.groups = groups
        super().__init__(data, **kwargs)

    def prepare_fields(self) -> None:
        group = self.fields["group"]
        assert isinstance(group, forms.ChoiceField)
        group.choices = [("", "Any group"), *((str(pk), name) for pk, name in self.groups)]

    def describe(self, name: str) -> str:
        if name == "q":
            return f"Name or email contains “{self.cleaned_data[name]}”"
        return super().describe(name)

    def rows(self, organization_id: int) -> QuerySet[Member]:
        """The current members the filters select, with their use, not yet ordered."""
        selected = Member.objects.current().filter(organization_id=organization_id)
        needle = (self.cleaned_data.get("q") or "").strip().lower()
        if needle:
            selected = selected.filter(search_text__contains=needle)
        if self.cleaned_data.get("group"):
            # Group admins are in the group too; EXISTS keeps one row per member.
            in_group = GroupRelationship.objects.current().filter(
                member=OuterRef("pk"), group_id=int(self.cleaned_data["group"])
            )
            selected = selected.filter(Exists(in_group))
        return with_use(selected, organization_id)


def with_use(members: QuerySet[Member], organization_id: int) -> QuerySet[Member]:
    """`members` with `recent` and `hosted` (active meetings hosted in the last 30 and 90 days),
    `last_meeting` (the latest start in 90 days, or None) and `idle_since` (the same, NEVER for
    None: the sort key)."""
    now = timezone.now()
    hosted = MeetingHost.objects.filter(
        organization_id=organization_id,
        user_uri=OuterRef("user_uri"),
        active=True,
        start_time__gte=now - WINDOW,
        start_time__lte=now,
    )

    def counted(since: datetime) -> Coalesce:
        found = (
            hosted.filter(start_time__gte=since)
            .values("user_uri")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(found, output_field=IntegerField()), Value(0))

    latest = hosted.order_by("-start_time").values("start_time")[:1]
    return members.annotate(
        recent=counted(now - RECENT),
        hosted=counted(now - WINDOW),
        last_meeting=Subquery(latest, output_field=DateTimeField()),
        idle_since=Coalesce(Subquery(latest, output_field=DateTimeField()), Value(NEVER)),
    )


def columns(*, selectable: bool) -> list[Column]:
    members = reverse("directory:members")
    found = [
        Column("Name", lambda row: Link(row.name, f"{members}{row.pk}"), sort="name"),
        Column("Email", lambda row: row.email, sort="email"),
        Column("Role", lambda row: ROLE_LABELS.get(row.role) or row.role, sort="role"),
        Column("Meetings, 30 days", lambda row: row.recent, sort="recent"),
        Column("Meetings, 90 days", lambda row: row.hosted, sort="hosted"),
        Column("Last meeting", _last, sort="use"),
    ]
    if selectable:
        found.append(
            Column(
                "Select",
                lambda row: Pick(SELECTION_FORM, "member", str(row.pk), f"Select {row.name}"),
            )
        )
    return found


def _last(row: Any) -> datetime | Hint:
    return row.last_meeting or Hint("none in 90 days")


CSV_HEADER = [
    "name",
    "email",
    "role",
    "meetings in 30 days",
    "meetings in 90 days",
    "last meeting (UTC)",
]


def csv_rows(form: SeatFilter, organization_id: int) -> Iterator[list[object]]:
    """Exactly what the filters select, in the list's order."""
    selected = form.rows(organization_id).order_by(*form.order_by())
    for row in selected.iterator(chunk_size=2000):
        yield [
            row.name,
            row.email,
            row.role,
            row.recent,  # type: ignore[attr-defined]
            row.hosted,  # type: ignore[attr-defined]
            utc_text(row.last_meeting),  # type: ignore[attr-defined]
        ]
