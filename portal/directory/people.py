"""Who is in the organization, as the members page lists them: filtering, sorting, export.

The page lists members and invitations from the mirror only, never from Calendly. Statuses
map to one table each: active and removed members, pending and declined invitations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from math import ceil
from typing import Any, NamedTuple
from urllib.parse import urlencode

from django import forms
from django.db import connection, connections
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from portal import csvexport
from portal.directory.models import (
    EventType,
    Group,
    GroupRelationship,
    Invitation,
    Member,
    MirrorTotal,
    SyncRun,
)

PAGE_SIZE = 50
# A search counts its matches exactly up to here, then says "more than": counting every
# match of a two-letter search in a 10,000-member organization would cost more than the
# rest of the page together, and nobody pages through ten pages of people to find one.
COUNT_LIMIT = 500


class Status:
    # Also the MirrorTotal kinds the database counts them under.
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
    # Checked against the organization's groups once the page is read (see `check_group`).
    group = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, label="Group")
    sort = forms.CharField(required=False, max_length=16)
    # The hygiene panel's links: invitations waiting longer than N days, members hosting no
    # active event type, people removed in the last N days.
    older_than = forms.IntegerField(required=False, min_value=1, max_value=3650)
    no_event_types = forms.BooleanField(required=False)
    removed_within = forms.IntegerField(required=False, min_value=1, max_value=3650)

    def check_group(self, groups: Groups) -> bool:
        """Whether the group asked for is one of the organization's; if not, says so."""
        group = self.cleaned_data.get("group") if self.is_valid() else None
        if group is None or group in groups.names:
            return True
        self.add_error("group", "no such group in this organization")
        return False


@dataclass(frozen=True)
class Groups:
    """The organization's current groups, and who is in which, as the members list shows."""

    choices: list[tuple[int, str]]  # (id, name), by name: the group filter's options
    of_member: dict[int, tuple[tuple[str, bool], ...]]  # member id: (group name, is its admin)

    @property
    def names(self) -> dict[int, str]:
        return dict(self.choices)


@dataclass(frozen=True)
class MirrorState:
    """What the members page shows about the mirror besides its rows: the latest sync run,
    the latest successful one, and the groups."""

    latest_sync: SyncRun | None
    last_good_sync: SyncRun | None
    groups: Groups


def latest_sync_of(organization_id: int) -> tuple[str, tuple[Any, ...]]:
    """SQL for "id:status" of the organization's latest sync run, read beside a page."""
    table = connection.ops.quote_name(SyncRun._meta.db_table)
    return (
        f"(SELECT id || ':' || status FROM {table} "  # noqa: S608 (a constant table name)
        "WHERE organization_id = %s ORDER BY started_at DESC LIMIT 1)",
        (organization_id,),
    )


def total_of(organization_id: int, kind: str) -> tuple[str, tuple[Any, ...]]:
    """SQL for a MirrorTotal, read beside a page."""
    table = connection.ops.quote_name(MirrorTotal._meta.db_table)
    return (
        f"COALESCE((SELECT n FROM {table} "  # noqa: S608 (a constant table name)
        "WHERE organization_id = %s AND kind = %s), 0)",
        (organization_id, kind),
    )


@lru_cache(maxsize=32)
def mirror_state(organization_id: int, latest_sync: str | None) -> MirrorState:
    """The mirror state as of the latest sync run ("id:status", None before the first),
    kept in this process while that run stays as it is.

    Only a sync writes groups and group relationships (Calendly's API cannot change them),
    and a run's status changes whenever what the page says about it does (finished,
    failed, gave up). So a new run, or the running one ending, is when this is read afresh.
    """
    runs = SyncRun.objects.filter(organization_id=organization_id).only(
        "status", "error", "finished_at", "notes"
    )
    latest = runs.filter(pk=int(latest_sync.split(":")[0])).first() if latest_sync else None
    good = latest
    if latest is not None and latest.status != SyncRun.Status.SUCCEEDED:
        good = runs.filter(status=SyncRun.Status.SUCCEEDED).first()
    return MirrorState(latest, good, _groups(organization_id))


def current_mirror_state(organization_id: int) -> MirrorState:
    """The mirror state, asking the database which sync run is the latest."""
    sql, params = latest_sync_of(organization_id)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        return mirror_state(organization_id, cursor.fetchone()[0])


def _groups(organization_id: int) -> Groups:
    choices = list(
        Group.objects.current()
        .filter(organization_id=organization_id)
        .order_by("name")
        .values_list("pk", "name")
    )
    names = dict(choices)
    of_member: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    relationships = GroupRelationship.objects.current().filter(
        organization_id=organization_id, member__isnull=False
    )
    for member_id, group_id, role in relationships.values_list("member_id", "group_id", "role"):
        if group_id in names:
            of_member[member_id].append((names[group_id], role == GroupRelationship.Role.ADMIN))
    return Groups(
        choices,
        {member: tuple(sorted(found, key=_casefolded)) for member, found in of_member.items()},
    )


def _casefolded(group: tuple[str, bool]) -> str:
    return group[0].casefold()


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
    def status_noun(self) -> str:
        """What one row is, in the count line: "member", "pending invitation", ..."""
        return {
            Status.PENDING: "pending invitation",
            Status.DECLINED: "declined invitation",
            Status.REMOVED: "removed member",
        }.get(self.status, "member")

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


def rows(organization_id: int, wanted: Wanted) -> QuerySet[Any]:
    """The rows the filters select, in the order asked for."""
    if wanted.is_invitations:
        selected: QuerySet[Any] = Invitation.objects.filter(
            organization_id=organization_id, status=wanted.status, removed_at__isnull=True
        )
        if wanted.q:
            selected = selected.filter(email__icontains=wanted.q)
        if wanted.older_than:
            cutoff = timezone.now() - timedelta(days=wanted.older_than)
            selected = selected.filter(calendly_created_at__lt=cutoff)
        order = INVITATION_SORTS.get(wanted.sort, ("-calendly_created_at", "email"))
        return selected.order_by(*order)

    selected = Member.objects.filter(
        organization_id=organization_id, removed_at__isnull=wanted.status != Status.REMOVED
    )
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
    return selected.order_by(*order)


class MemberRow(NamedTuple):
    """One line of the members list: only what it shows, read as plain values."""

    pk: int
    name: str
    email: str
    role: str
    joined: datetime | None
    removed: datetime | None
    groups: tuple[tuple[str, bool], ...] = ()  # (group name, whether they are its admin)


class InvitationRow(NamedTuple):
    pk: int
    email: str
    invited: datetime | None
    last_sent: datetime | None


def invitation_rows(found: list[tuple[Any, ...]]) -> list[InvitationRow]:
    return [InvitationRow._make(row) for row in found]


MEMBER_COLUMNS = ("pk", "name", "email", "role", "calendly_created_at", "removed_at")
INVITATION_COLUMNS = ("pk", "email", "calendly_created_at", "last_sent_at")


class CompiledList:
    """A filtered, ordered list whose SQL the ORM builds once per request, and scalars to
    read beside it (the total it was filtered from, the latest sync run).

    A page runs that statement with LIMIT/OFFSET; counting the matches wraps it in COUNT(*).
    Building a query costs more Python than the database spends answering it here, so the
    statement is built once and reused, and a page, its count of matches and the scalars
    come in one query. (The SQL put around the ORM's statement is text of our own: LIMIT,
    COUNT, column positions, the scalars' subqueries. Every value goes in as a parameter.)
    """

    def __init__(
        self,
        selected: QuerySet[Any],
        columns: tuple[str, ...],
        scalars: dict[str, tuple[str, tuple[Any, ...]]],
    ) -> None:
        self.selected = selected.values_list(*columns)
        self.sql, self.params = self.selected.query.sql_with_params()
        self.connection = connections[selected.db]
        self.scalar_names = list(scalars)
        self.scalars_sql = ", ".join(sql for sql, _ in scalars.values())
        self.scalars_params = tuple(p for _, params in scalars.values() for p in params)
        # The list's order by column position, to restate it around the statement; empty
        # when it sorts by something it does not select.
        order = [f for f in self.selected.query.order_by if isinstance(f, str)]
        known = len(order) == len(self.selected.query.order_by)
        self.order = ""
        if order and known and all(f.lstrip("-") in columns for f in order):
            self.order = ", ".join(
                f"{columns.index(f.lstrip('-')) + 1}{' DESC' if f.startswith('-') else ''}"
                for f in order
            )

    def slice(self, offset: int, limit: int) -> list[tuple[Any, ...]]:
        return self._rows(f"{self.sql} LIMIT %s OFFSET %s", (*self.params, limit, offset))

    def counted_slice(
        self, offset: int, limit: int, count_limit: int
    ) -> tuple[list[tuple[Any, ...]], int, dict[str, Any] | None]:
        """A slice lying within the first `count_limit` matches, how many rows match up to
        `count_limit`, and the scalars (None when the slice is empty), in one query: the
        first matches in order, counted by a window function, then cut to the slice."""
        if offset + limit > count_limit or not self.order:
            raise ValueError("the slice must lie within the counted matches, in a known order")
        rows = self._rows(
            f"SELECT *, COUNT(*) OVER (), {self.scalars_sql} "  # noqa: S608
            f"FROM ({self.sql} LIMIT %s) AS matching "
            f"ORDER BY {self.order} LIMIT %s OFFSET %s",
            (*self.scalars_params, *self.params, count_limit, limit, offset),
        )
        if not rows:
            return [], 0, None
        width = len(self.scalar_names) + 1
        scalars = dict(zip(self.scalar_names, rows[0][-width + 1 :], strict=True))
        return [row[:-width] for row in rows], rows[0][-width], scalars

    def count(self, limit: int | None = None) -> int:
        """How many rows match; with `limit`, counting stops there."""
        # Unordered: the database need not sort, or walk an index in order, to count.
        sql, params = self.selected.order_by().query.sql_with_params()
        if limit is not None:
            sql, params = f"{sql} LIMIT %s", (*params, limit)
        return self._number(f"SELECT COUNT(*) FROM ({sql}) AS matching", params)  # noqa: S608

    def scalars(self) -> dict[str, Any]:
        """The scalars alone, for when no page brought them."""
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT {self.scalars_sql}", self.scalars_params)
            return dict(zip(self.scalar_names, cursor.fetchone(), strict=True))

    def _number(self, sql: str, params: tuple[Any, ...]) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            number: int = cursor.fetchone()[0]
            return number

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        if self.connection.features.supports_timezones:
            return rows
        # SQLite (the demo) returns naive datetimes, in UTC.
        return [_aware_datetimes(row) for row in rows]


def _aware_datetimes(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
        for value in row
    )


def member_rows(found: list[tuple[Any, ...]], groups: Groups) -> list[MemberRow]:
    return [MemberRow._make((*row, groups.of_member.get(row[0], ()))) for row in found]


@dataclass(frozen=True)
class ResultsPage:
    """One page of a list, how many rows match (exactly, or "more than"), and out of how many."""

    rows: list[Any]
    number: int
    has_next: bool
    count: int
    scalars: dict[str, Any]  # read beside the page; "total" is what the list was filtered from
    more: bool = False  # counting stopped at `count`: more than that match

    @property
    def total(self) -> int:
        total: int = self.scalars["total"]
        return total

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def num_pages(self) -> int | None:
        """None while the count is only a lower bound."""
        return None if self.more else max(1, ceil(self.count / PAGE_SIZE))


def results_page(compiled: CompiledList, page: str | None, *, filtered: bool) -> ResultsPage:
    """The requested page, read as PAGE_SIZE + 1 rows to learn whether more follow.

    Unfiltered, the matches are the total (a scalar named "total"), which the database
    keeps. Filtered, they are counted only when more follow than the page shows, and only up
    to COUNT_LIMIT (deeper in, up to the page's end): a two-letter search never walks the
    whole organization just to print a number.
    """
    number = int(page) if page and page.isdecimal() and 0 < int(page) < 10**6 else 1
    offset = (number - 1) * PAGE_SIZE
    counted = scalars = None
    if compiled.order and offset + PAGE_SIZE < COUNT_LIMIT:
        rows, counted, scalars = compiled.counted_slice(offset, PAGE_SIZE + 1, COUNT_LIMIT + 1)
    else:
        rows = compiled.slice(offset, PAGE_SIZE + 1)
    if scalars is None:
        scalars = compiled.scalars()
    if not rows and number > 1:
        # Past the end (an old link; the list shrank since): the last page instead.
        matches = compiled.count() if filtered else scalars["total"]
        number = max(1, ceil(matches / PAGE_SIZE))
        offset, counted = (number - 1) * PAGE_SIZE, None
        rows = compiled.slice(offset, PAGE_SIZE + 1)
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    seen = offset + len(rows)
    if not filtered:
        return ResultsPage(rows, number, has_next, scalars["total"], scalars)
    if not has_next:
        return ResultsPage(rows, number, has_next, seen, scalars)
    limit = max(COUNT_LIMIT, seen)
    if counted is None:
        counted = compiled.count(limit + 1)
    return ResultsPage(rows, number, has_next, min(counted, limit), scalars, more=counted > limit)


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


def csv_lines(selected: QuerySet[Any], wanted: Wanted, groups: Groups) -> Iterator[str]:
    if wanted.is_invitations:
        return csvexport.lines(
            ["email", "status", "invited (UTC)", "last sent (UTC)"],
            (
                (i.email, i.status, _utc(i.calendly_created_at), _utc(i.last_sent_at))
                for i in selected.iterator(chunk_size=2000)
            ),
        )
    # The groups column says what the list's does; iterator() keeps the export flat in memory.
    return csvexport.lines(
        ["name", "email", "role", "groups", "joined (UTC)", "removed (UTC)"],
        (
            (
                member.name,
                member.email,
                member.role,
                "; ".join(group_label(g) for g in groups.of_member.get(member.pk, ())),
                _utc(member.calendly_created_at),
                _utc(member.removed_at),
            )
            for member in selected.iterator(chunk_size=2000)
        ),
    )


def group_label(group: tuple[str, bool]) -> str:
    """ "Sales", or "Sales (group admin)": one of a member's groups, as the list shows it."""
    name, admin = group
    return f"{name} (group admin)" if admin else name


def _utc(moment: Any) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""
