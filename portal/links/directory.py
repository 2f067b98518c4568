"""The link directory: every event type of the organization with the link a prospect books
on, grouped by rep (team event types by team), from the mirror and with the list toolkit
(portal/lists.py). It makes no Calendly calls.

One search box matches `EventType.search_text`, which the database keeps (migration
directory 0008): the event name and slug, the owner's name and email, and a pool's hosts'
names and emails. Active event types are the list unless the status says otherwise. A page
reads its rows in one statement, then what its rows need besides in at most three more,
whatever the size of the organization: the owners (email, landing page, removed or not),
each owner's bookable links (for "Copy all"), and the hosts of the pools on the page.

A link is offered for copying only while it takes bookings: an inactive event type, or one
whose owner was removed from the organization, shows its URL without a Copy button.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import batched
from typing import Any

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import StrIndex
from django.db.models.lookups import GreaterThan

from portal.directory.mirror import MirrorState
from portal.directory.models import EventType, EventTypeHost, GroupRelationship, Member, MirrorTotal
from portal.lists import Column, Copy, Hint, Joined, Lines, Link, ListForm


class State:
    """Which event types the list holds; also the MirrorTotal kinds that count them."""

    ACTIVE = ""
    INACTIVE = "inactive"
    ALL = "all"

    choices = [
        (ACTIVE, "Active"),
        (INACTIVE, "Inactive"),
        (ALL, "Active and inactive"),
    ]
    nouns = {
        ACTIVE: ("event type", "event types"),
        INACTIVE: ("inactive event type", "inactive event types"),
        ALL: ("event type", "event types"),
    }
    totals = {
        ACTIVE: ("active_types",),
        INACTIVE: ("inactive_types",),
        ALL: ("active_types", "inactive_types"),
    }


NOT_POOLED = "none"
POOLING_CHOICES = [
    ("", "Any"),
    ("round_robin", "Round robin"),
    ("collective", "Collective"),
    (NOT_POOLED, "Not pooled"),
]
KIND_CHOICES = [("", "Any"), ("solo", "One-on-one"), ("group", "Group")]
YES, NO = "yes", "no"
ADMIN_MANAGED_CHOICES = [("", "Any"), (YES, "Admin-managed"), (NO, "Not admin-managed")]
SECRET_CHOICES = [("", "Any"), (YES, "Secret"), (NO, "On the landing page")]

# What a page reads of each row: what it shows, and what it sorts by.
FIELDS = (
    "pk",
    "name",
    "slug",
    "scheduling_url",
    "duration",
    "kind",
    "pooling_type",
    "secret",
    "admin_managed",
    "active",
    "profile_type",
    "profile_name",
    "profile_owner_uri",
)
TEAM = "Team"
UNTITLED = "Untitled event type"
# A pool's hosts shown in its row; the rest are counted ("and 12 more"). The export lists all.
HOSTS_SHOWN = 8

HIDDEN_NOTE = "Secret: the link works, but it is not on the landing page"
INACTIVE_NOTE = "Inactive: the link takes no bookings"
REMOVED_NOTE = "The owner was removed from the organization: the link takes no bookings"


class DirectoryFilter(ListForm):
    q = forms.CharField(required=False, max_length=200, label="Rep, host or event type")
    pooling = forms.ChoiceField(required=False, choices=POOLING_CHOICES, label="Pooling")
    kind = forms.ChoiceField(required=False, choices=KIND_CHOICES, label="Kind")
    duration = forms.IntegerField(
        required=False, min_value=1, max_value=1440, label="Duration (minutes)"
    )
    group = forms.ChoiceField(
        required=False,
        label="Group",
        error_messages={"invalid_choice": "There is no such group in this organization."},
    )
    admin_managed = forms.ChoiceField(
        required=False, choices=ADMIN_MANAGED_CHOICES, label="Admin-managed"
    )
    secret = forms.ChoiceField(required=False, choices=SECRET_CHOICES, label="Secret")
    state = forms.ChoiceField(required=False, choices=State.choices, label="Status")

    scope = ("state",)
    # Rep, then event: a rep's (or a team's) links stay together.
    sorts = {
        "rep": ("profile_name", "profile_owner_uri", "name", "pk"),
        "event": ("name", "profile_name", "pk"),
        "duration": ("duration", "profile_name", "name", "pk"),
    }
    default_sort = "rep"

    def __init__(self, data: Any, *, groups: Sequence[tuple[int, str]], **kwargs: Any) -> None:
        self.groups = groups
        super().__init__(data, **kwargs)

    def prepare_fields(self) -> None:
        group = self.fields["group"]
        assert isinstance(group, forms.ChoiceField)
        group.choices = [("", "Any group"), *((str(pk), name) for pk, name in self.groups)]

    @property
    def chosen_state(self) -> str:
        state: str = self.cleaned_data.get("state") or State.ACTIVE
        return state

    @property
    def noun(self) -> tuple[str, str]:
        return State.nouns[self.chosen_state]

    @property
    def filters_open(self) -> bool:
        """Whether the page shows its filters unfolded: one besides the search is set."""
        return self.chosen_state != State.ACTIVE or any(
            self.cleaned_data.get(name) not in (None, "")
            for name in self.filter_names
            if name != "q"
        )

    def describe(self, name: str) -> str:
        value = self.cleaned_data[name]
        if name in ("admin_managed", "secret"):
            # "Admin-managed", "On the landing page": the choice says it all.
            return dict(ADMIN_MANAGED_CHOICES if name == "admin_managed" else SECRET_CHOICES)[value]
        words = {
            "q": f"Rep, host or event type contains “{value}”",
            "duration": f"{value} minutes",
        }
        return words.get(name) or super().describe(name)

    def rows(self, organization_id: int) -> QuerySet[EventType]:
        """Every event type the list holds that the filters select, not yet ordered."""
        data = self.cleaned_data
        selected: QuerySet[EventType] = EventType.objects.filter(
            organization_id=organization_id, removed_at__isnull=True
        )
        if self.chosen_state != State.ALL:
            selected = selected.filter(active=self.chosen_state == State.ACTIVE)
        if data.get("q") and data["q"].strip():
            selected = _containing(selected, data["q"].strip().lower())
        if data.get("pooling"):
            pooling = "" if data["pooling"] == NOT_POOLED else data["pooling"]
            selected = selected.filter(pooling_type=pooling)
        if data.get("kind"):
            selected = selected.filter(kind=data["kind"])
        if data.get("duration"):
            selected = selected.filter(duration=data["duration"])
        if data.get("admin_managed"):
            selected = selected.filter(admin_managed=data["admin_managed"] == YES)
        if data.get("secret"):
            selected = selected.filter(secret=data["secret"] == YES)
        if data.get("group"):
            selected = _in_group(selected, organization_id, int(data["group"]))
        return selected


def _containing(rows: QuerySet[EventType], needle: str) -> QuerySet[EventType]:
    """Event types whose search text contains `needle`, read through the trigram index.

    As for members (portal/directory/members.py): a trigram every row shares (an
    organization's "@acme.com") would read the whole index, so for an address the index is
    asked for the part before the "@", and the whole is checked on the few rows found.
    """
    local, at, _ = needle.partition("@")
    if not at or len(local) < 3:
        return rows.filter(search_text__contains=needle)
    return rows.filter(search_text__contains=local).filter(
        GreaterThan(StrIndex("search_text", Value(needle)), 0)
    )


def _in_group(
    rows: QuerySet[EventType], organization_id: int, group_id: int
) -> QuerySet[EventType]:
    """Event types whose owner, or one of whose hosts (a pool), is in the group."""
    relationships = GroupRelationship.objects.current().filter(
        organization_id=organization_id, group_id=group_id
    )
    owner_in_group = relationships.filter(member__user_uri=OuterRef("profile_owner_uri"))
    host_in_group = EventTypeHost.objects.filter(
        event_type=OuterRef("pk"),
        member__in=relationships.filter(member__isnull=False).values("member"),
    )
    return rows.filter(Q(Exists(owner_in_group)) | Q(Exists(host_in_group)))


def total(organization_id: int, state: str) -> QuerySet[MirrorTotal, int]:
    """How many event types the chosen list holds, kept by the database (MirrorTotal)."""
    kinds = State.totals[state]
    found = MirrorTotal.objects.filter(organization_id=organization_id, kind__in=kinds)
    if len(kinds) == 1:
        return found.values_list("n", flat=True)
    summed = found.values("organization_id").annotate(total=Sum("n")).order_by("organization_id")
    return summed.values_list("total", flat=True)


@lru_cache(maxsize=64)
def kind_label(pooling_type: str, kind: str) -> str:
    """The type badge of a row read as a tuple: EventType.kind_label, said once per pair."""
    return EventType(pooling_type=pooling_type, kind=kind).kind_label


def is_team(row: Any) -> bool:
    return bool(row.profile_type == TEAM)


def event_name(row: Any) -> str:
    return str(row.name or row.slug or UNTITLED)


def _opened(text: str, url: str) -> Link | str:
    """A link to `url` when it is a web address; whatever else Calendly sent stays text."""
    return Link(text, url) if url.startswith(("https://", "http://")) else url


# -- what a page's rows need besides ----------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """The member who owns personal event types (their profile's owner)."""

    name: str
    email: str
    landing_page: str  # the user's scheduling_url: every public event type of theirs
    removed: bool
    # "name: URL" lines of their own event types that take bookings, by name (`links_of`).
    links: tuple[str, ...] = ()

    @property
    def all_links(self) -> list[str]:
        """What "Copy all links for this rep" copies, one line each: the landing page first."""
        if self.removed:
            return []
        landing = [f"Landing page: {self.landing_page}"] if self.landing_page else []
        return [*landing, *self.links]


@dataclass
class PageDetails:
    owners: dict[str, Owner] = field(default_factory=dict)  # user URI -> member
    hosts: dict[int, list[tuple[str, bool]]] = field(default_factory=dict)  # (name, removed)
    first_of_owner: set[int] = field(default_factory=set)  # rows that start an owner's group

    def owner(self, row: Any) -> Owner | None:
        return None if is_team(row) else self.owners.get(row.profile_owner_uri)

    def bookable(self, row: Any) -> bool:
        owner = self.owner(row)
        return bool(row.active and row.scheduling_url and not (owner and owner.removed))


def owners_of(organization_id: int, uris: Iterable[str] | None = None) -> dict[str, Owner]:
    """The members behind these user URIs (every member's, without `uris`); a current
    membership wins over a removed one."""
    members = Member.objects.filter(organization_id=organization_id)
    if uris is not None:
        wanted = {uri for uri in uris if uri}
        if not wanted:
            return {}
        members = members.filter(user_uri__in=wanted)
    found: dict[str, Owner] = {}
    for uri, name, email, landing, removed_at in members.values_list(
        "user_uri", "name", "email", "scheduling_url", "removed_at"
    ):
        if uri not in found or found[uri].removed:
            found[uri] = Owner(name, email, landing, removed_at is not None)
    return found


def links_of(organization_id: int, owners: dict[str, Owner]) -> dict[str, Owner]:
    """`owners` with each current one's links that take bookings: their own active event
    types, secret ones too (their links work)."""
    current = {uri for uri, owner in owners.items() if not owner.removed}
    if not current:
        return owners
    lines: dict[str, list[str]] = defaultdict(list)
    # Plain columns, checked here: building SQL expressions costs more than the rows do.
    active = EventType.objects.filter(
        organization_id=organization_id, active=True, removed_at__isnull=True
    ).exclude(profile_type=TEAM)
    for uri, name, slug, url in active.values_list(
        "profile_owner_uri", "name", "slug", "scheduling_url"
    ):
        if uri in current and url:
            lines[uri].append(f"{name or slug or UNTITLED}: {url}")
    return {
        uri: replace(owner, links=tuple(sorted(lines[uri]))) if uri in current else owner
        for uri, owner in owners.items()
    }


def hosts_of(
    organization_id: int, event_type_ids: Sequence[int] | None = None
) -> dict[int, list[tuple[str, bool]]]:
    """Each pool's hosts, by name (every pool's, without `event_type_ids`)."""
    hosts = EventTypeHost.objects.filter(event_type__organization_id=organization_id)
    if event_type_ids is not None:
        if not event_type_ids:
            return {}
        hosts = hosts.filter(event_type_id__in=event_type_ids)
    found: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    rows = hosts.order_by("member__name", "member_id").values_list(
        "event_type_id", "member__name", "member__removed_at"
    )
    for event_type_id, name, removed_at in rows:
        found[event_type_id].append((name, removed_at is not None))
    return found


@dataclass(frozen=True)
class People:
    """Who owns and who hosts the organization's event types, as of one mirror generation."""

    owners: dict[str, Owner]  # user URI -> member, with their links that take bookings
    hosts: dict[int, list[tuple[str, bool]]]  # pooled event type id -> (host name, removed)


# Per process: organization id -> (the mirror generation it was read at, its people). Owners,
# their links and pools' hosts change only when the mirror does, and everything that writes
# the mirror (a sync, removing a member) starts a new generation (`mirror_changed`), so a page
# reads them again only after a change, and otherwise asks the database for its rows alone.
_people: dict[int, tuple[str, People]] = {}


def people(organization_id: int, state: MirrorState) -> People:
    kept = _people.get(organization_id)
    if kept is not None and kept[0] == state.version:
        return kept[1]
    found = People(
        owners=links_of(organization_id, owners_of(organization_id)),
        hosts=hosts_of(organization_id),
    )
    _people[organization_id] = (state.version, found)
    return found


def page_details(organization_id: int, rows: Sequence[Any], state: MirrorState) -> PageDetails:
    known = people(organization_id, state)
    details = PageDetails(owners=known.owners, hosts=known.hosts)
    previous: tuple[bool, str, str] | None = None
    for row in rows:
        group = (is_team(row), row.profile_owner_uri, row.profile_name)
        if group != previous:
            details.first_of_owner.add(row.pk)
        previous = group
    return details


# -- columns ----------------------------------------------------------------------------------


def columns(details: PageDetails) -> list[Column]:
    return [
        Column("Rep or team", lambda row: _rep_cell(row, details), sort="rep"),
        Column("Event type", _event_cell, sort="event"),
        Column("Duration", _duration_cell, sort="duration"),
        Column("Type", _type_cell),
        Column("Hosts", lambda row: _hosts_cell(row, details)),
        Column("Scheduling link", lambda row: _link_cell(row, details)),
    ]


def _rep_cell(row: Any, details: PageDetails) -> Lines:
    if is_team(row):
        return Lines((row.profile_name or "A team", Hint("Team")))
    owner = details.owner(row)
    name = row.profile_name or (owner.name if owner else "") or "Owner not in the organization"
    if owner is None:
        return Lines((name,))
    if owner.removed:
        return Lines((name, Hint(owner.email), Hint("Removed from the organization")))
    parts: list[Any] = [name, Hint(owner.email)]
    if row.pk in details.first_of_owner:
        if owner.landing_page:
            parts.append(
                Joined(
                    (
                        _opened("Landing page", owner.landing_page),
                        Copy(owner.landing_page, f"Copy the landing page link of {name}"),
                    ),
                    " ",
                )
            )
        links = owner.all_links
        if links:
            parts.append(
                Joined(
                    (
                        Hint(f"All {len(links)} links"),
                        Copy("\n".join(links), f"Copy all links for this rep, {name}"),
                    ),
                    " ",
                )
            )
    return Lines(tuple(parts))


def _event_cell(row: Any) -> Lines:
    return Lines((event_name(row), Hint(row.slug) if row.name and row.slug else None))


def _duration_cell(row: Any) -> str | None:
    return f"{row.duration} min" if row.duration else None


def _type_cell(row: Any) -> Lines:
    return Lines(
        (
            kind_label(row.pooling_type, row.kind),
            Hint("Admin-managed") if row.admin_managed else None,
            Hint("Secret") if row.secret else None,
            Hint("Inactive") if not row.active else None,
        )
    )


def _hosts_cell(row: Any, details: PageDetails) -> Joined | str | None:
    if not row.pooling_type:
        return None
    hosts = details.hosts.get(row.pk, [])
    if not hosts:
        return "No hosts"
    names: list[Any] = [f"{name} (removed)" if removed else name for name, removed in hosts]
    if len(names) > HOSTS_SHOWN:
        names = [*names[:HOSTS_SHOWN], Hint(f"and {len(names) - HOSTS_SHOWN} more")]
    return Joined(tuple(names))


def _link_cell(row: Any, details: PageDetails) -> Lines | None:
    url = row.scheduling_url
    if not url:
        return None
    if not details.bookable(row):
        return Lines((url, Hint(INACTIVE_NOTE if not row.active else REMOVED_NOTE)))
    if is_team(row):
        whose = row.profile_name or "a team"
    else:
        owner = details.owner(row)
        whose = row.profile_name or (owner.name if owner else "") or "its owner"
    copy = Copy(url, f"Copy the link to {event_name(row)} ({whose})")
    return Lines(
        (Joined((copy, _opened(url, url)), " "), Hint(HIDDEN_NOTE) if row.secret else None)
    )


# -- export -----------------------------------------------------------------------------------

CSV_HEADER = [
    "rep or team",
    "rep email",
    "event type",
    "slug",
    "duration (minutes)",
    "type",
    "hosts",
    "admin-managed",
    "secret",
    "active",
    "takes bookings",
    "scheduling link",
    "rep landing page",
]


def csv_rows(form: DirectoryFilter, organization_id: int) -> Iterator[list[Any]]:
    """The export's rows: exactly what the filters select, in the list's order, every host."""
    selected = (
        form.rows(organization_id)
        .order_by(*form.order_by())
        .values_list(*FIELDS, named=True)
        .iterator(chunk_size=2000)
    )
    for chunk in batched(selected, 1000):
        owners = owners_of(organization_id, (r.profile_owner_uri for r in chunk if not is_team(r)))
        details = PageDetails(
            owners=owners,
            hosts=hosts_of(organization_id, [r.pk for r in chunk if r.pooling_type]),
        )
        for row in chunk:
            owner = details.owner(row)
            yield [
                row.profile_name or (owner.name if owner else ""),
                owner.email if owner else "",
                row.name,
                row.slug,
                row.duration or "",
                kind_label(row.pooling_type, row.kind),
                "; ".join(name for name, _ in details.hosts.get(row.pk, [])),
                "yes" if row.admin_managed else "no",
                "yes" if row.secret else "no",
                "yes" if row.active else "no",
                "yes" if details.bookable(row) else "no",
                row.scheduling_url,
                owner.landing_page if owner else "",
            ]
