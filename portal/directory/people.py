"""Who is in the organization, as the members page lists them: filtering, sorting, export.

The page lists members and invitations from the mirror only, never from Calendly. Statuses
map to one table each: active and removed members, pending and declined invitations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from portal import csvexport
from portal.directory.models import EventType, Group, GroupRelationship, Invitation, Member

PAGE_SIZE = 50


class Status:
    ACTIVE = "active"
    PENDING = "pending"
    DECLINED = "declined"
    REMOVED = "removed"

    choices = [
        (ACTIVE, "Active members"),
        (PENDING, "Pending invitations"),
        (DECLINED, "Declined invitations"),
        (REMOVED, "Removed members"),
    ]


MEMBER_SORTS = {
    "name": ("name", "email"),
    "-name": ("-name", "-email"),
    "email": ("email",),
    "-email": ("-email",),
    "role": ("role", "name"),
    "-role": ("-role", "name"),
    "joined": ("calendly_created_at", "name"),
    "-joined": ("-calendly_created_at", "name"),
    "removed": ("removed_at", "name"),
    "-removed": ("-removed_at", "name"),
}
INVITATION_SORTS = {
    "email": ("email",),
    "-email": ("-email",),
    "sent": ("last_sent_at", "email"),
    "-sent": ("-last_sent_at", "email"),
    "invited": ("calendly_created_at", "email"),
    "-invited": ("-calendly_created_at", "email"),
}


class PeopleFilter(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Name or email")
    status = forms.ChoiceField(required=False, choices=Status.choices, label="Status")
    role = forms.ChoiceField(
        required=False, choices=[("", "Any role"), *Member.Role.choices], label="Role"
    )
    group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=[], label="Group"
    )
    sort = forms.CharField(required=False, max_length=16)
    # The hygiene panel's links: invitations waiting longer than N days, members hosting no
    # active event type, people removed in the last N days.
    older_than = forms.IntegerField(required=False, min_value=1, max_value=3650)
    no_event_types = forms.BooleanField(required=False)
    removed_within = forms.IntegerField(required=False, min_value=1, max_value=3650)

    def __init__(self, data: Any, *, groups: Iterable[Group]) -> None:
        super().__init__(data)
        group_field = self.fields["group"]
        assert isinstance(group_field, forms.TypedChoiceField)
        group_field.choices = [("", "Any group"), *((g.pk, g.name) for g in groups)]


@dataclass(frozen=True)
class Wanted:
    q: str
    status: str
    role: str
    group: int | None
    sort: str
    older_than: int | None = None
    no_event_types: bool = False
    removed_within: int | None = None

    @property
    def is_invitations(self) -> bool:
        return self.status in (Status.PENDING, Status.DECLINED)

    @property
    def is_removed(self) -> bool:
        return self.status == Status.REMOVED

    @property
    def filtered(self) -> bool:
        return bool(
            self.q
            or self.role
            or self.group
            or self.older_than
            or self.no_event_types
            or self.removed_within
        )

    def query_items(self) -> dict[str, str]:
        items = {"q": self.q, "status": self.status, "role": self.role, "sort": self.sort}
        items["group"] = "" if self.group is None else str(self.group)
        items["older_than"] = str(self.older_than or "")
        items["no_event_types"] = "1" if self.no_event_types else ""
        items["removed_within"] = str(self.removed_within or "")
        return {key: value for key, value in items.items() if value}


def wanted_from(form: PeopleFilter) -> Wanted:
    # Invalid values (a group of another organization, a made-up status) are dropped rather
    # than widening to everything silently: the form shows them as errors.
    data = form.cleaned_data if form.is_valid() else {}
    status = data.get("status") or Status.ACTIVE
    sorts = INVITATION_SORTS if status in (Status.PENDING, Status.DECLINED) else MEMBER_SORTS
    sort = data.get("sort") or ""
    return Wanted(
        q=(data.get("q") or "").strip(),
        status=status,
        role=data.get("role") or "",
        group=data.get("group"),
        sort=sort if sort in sorts else "",
        older_than=data.get("older_than"),
        no_event_types=bool(data.get("no_event_types")),
        removed_within=data.get("removed_within"),
    )


def rows(organization_id: int, wanted: Wanted) -> tuple[QuerySet[Any], QuerySet[Any]]:
    """The rows the filters select, and the whole set they were selected from."""
    if wanted.is_invitations:
        every: QuerySet[Any] = Invitation.objects.filter(
            organization_id=organization_id, status=wanted.status, removed_at__isnull=True
        )
        selected = every
        if wanted.q:
            selected = selected.filter(email__icontains=wanted.q)
        if wanted.older_than:
            cutoff = timezone.now() - timedelta(days=wanted.older_than)
            selected = selected.filter(calendly_created_at__lt=cutoff)
        order = INVITATION_SORTS.get(wanted.sort, ("-calendly_created_at", "email"))
        return selected.order_by(*order), every

    every = Member.objects.filter(
        organization_id=organization_id, removed_at__isnull=wanted.status != Status.REMOVED
    )
    selected = every
    if wanted.q:
        selected = selected.filter(search_text__contains=wanted.q.lower())
    if wanted.role:
        selected = selected.filter(role=wanted.role)
    if wanted.no_event_types:
        selected = without_active_event_types(selected)
    if wanted.removed_within:
        since = timezone.now() - timedelta(days=wanted.removed_within)
        selected = selected.filter(removed_at__gte=since)
    if wanted.group is not None:
        # EXISTS rather than a join: no duplicate rows, so no DISTINCT to undo them.
        in_group = GroupRelationship.objects.current().filter(
            member=OuterRef("pk"), group_id=wanted.group
        )
        selected = selected.filter(Exists(in_group))
    order = MEMBER_SORTS.get(wanted.sort, ("name", "email"))
    selected = selected.order_by(*order).prefetch_related(
        Prefetch(
            "group_relationships",
            queryset=GroupRelationship.objects.current().select_related("group"),
            to_attr="current_groups",
        )
    )
    return selected, every


class Links:
    """The page's URLs (sorting, paging, export), built once rather than in template loops."""

    def __init__(self, base: str, wanted: Wanted) -> None:
        self.base = base
        self.wanted = wanted
        items = wanted.query_items()
        self.query = urlencode(items)
        self._unsorted = urlencode({k: v for k, v in items.items() if k != "sort"})

    @property
    def page_query(self) -> str:
        """The query to put before `page=N` in pagination links."""
        return f"{self.query}&" if self.query else ""

    def sort(self) -> dict[str, dict[str, str]]:
        """For each sortable column: the URL that sorts by it, and its current aria-sort."""
        columns = INVITATION_SORTS if self.wanted.is_invitations else MEMBER_SORTS
        links = {}
        for key in (k for k in columns if not k.startswith("-")):
            ascending = self.wanted.sort == key
            next_sort = f"-{key}" if ascending else key
            query = f"{self._unsorted}&sort={next_sort}" if self._unsorted else f"sort={next_sort}"
            state = (
                "ascending" if ascending else "descending" if self.wanted.sort == f"-{key}" else ""
            )
            links[key] = {"url": f"?{query}", "aria": state}
        return links


def without_active_event_types(members: QuerySet[Member]) -> QuerySet[Member]:
    """Members who neither own nor host an active event type."""
    active = EventType.objects.current().filter(active=True)
    return members.exclude(Exists(active.filter(profile_owner_uri=OuterRef("user_uri")))).exclude(
        Exists(active.filter(hosts=OuterRef("pk")))
    )


def csv_lines(selected: QuerySet[Any], wanted: Wanted) -> Iterator[str]:
    if wanted.is_invitations:
        return csvexport.lines(
            ["email", "status", "invited (UTC)", "last sent (UTC)"],
            (
                (i.email, i.status, _utc(i.calendly_created_at), _utc(i.last_sent_at))
                for i in selected.iterator(chunk_size=2000)
            ),
        )
    # Prefetching works in chunks with iterator(chunk_size), so the export stays flat in memory.
    return csvexport.lines(
        ["name", "email", "role", "groups", "joined (UTC)", "removed (UTC)"],
        (
            (
                member.name,
                member.email,
                member.role,
                "; ".join(
                    r.group.name
                    for r in member.current_groups
                    if r.role == GroupRelationship.Role.MEMBER
                ),
                _utc(member.calendly_created_at),
                _utc(member.removed_at),
            )
            for member in selected.iterator(chunk_size=2000)
        ),
    )


def _utc(moment: Any) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""
