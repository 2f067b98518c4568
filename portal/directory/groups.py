"""What the groups and teams pages read, from the mirror only (no Calendly calls).

Calendly's API reads groups, their relationships and teams but changes none of them: groups are
an Enterprise feature managed in Calendly's admin center, and a sync copies what is there.

A group's members are its current relationships with the role "member"; its admins those with
the role "admin" (a person may admin several groups without being in them). Either kind may be
held by an invitation that has not been accepted yet. A team has no membership listing in the
API: who works in it is who hosts its event types (`EventType.profile_owner_uri` is the team).

Every function here reads a fixed number of statements, whatever the size of the group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from portal.directory.models import EventType, EventTypeHost, Group, GroupRelationship, Team

TEAM = "Team"
# A list shows this many rows of each kind; a search narrows it.
LIST_LIMIT = 200
# A group page lists this many of its members (and of its event types); the members list
# and the link directory, filtered by the group, show them all.
SHOWN = 100
# Admins named in the groups list, per group; the rest are counted.
ADMINS_NAMED = 5


# -- the list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupLine:
    pk: int
    name: str
    members: int
    admins: tuple[str, ...]

    @property
    def admins_named(self) -> tuple[str, ...]:
        return self.admins[:ADMINS_NAMED]

    @property
    def admins_unnamed(self) -> int:
        return max(0, len(self.admins) - ADMINS_NAMED)


@dataclass(frozen=True)
class TeamLine:
    pk: int
    name: str
    scheduling_url: str
    event_types: int
    hosts: int


@dataclass(frozen=True)
class Overview:
    groups: list[GroupLine]
    teams: list[TeamLine]
    more_groups: bool
    more_teams: bool


def _current_relationships(organization_id: int) -> QuerySet[GroupRelationship]:
    return GroupRelationship.objects.current().filter(organization_id=organization_id)


def overview(organization_id: int, search: str = "") -> Overview:
    """The organization's current groups and teams by name, those whose name contains
    `search` (any case) when given: three statements."""
    needle = search.strip()
    groups = (
        Group.objects.current()
        .filter(organization_id=organization_id)
        .annotate(
            members=Count(
                "relationships",
                filter=Q(
                    relationships__removed_at__isnull=True,
                    relationships__role=GroupRelationship.Role.MEMBER,
                ),
            )
        )
        .order_by("name", "pk")
    )
    if needle:
        groups = groups.filter(name__icontains=needle)
    group_rows = list(groups.values_list("pk", "name", "members")[: LIST_LIMIT + 1])
    shown_groups = group_rows[:LIST_LIMIT]
    admins = _admin_names(organization_id, [pk for pk, _, _ in shown_groups])

    teams = (
        Team.objects.current()
        .filter(organization_id=organization_id)
        .annotate(
            types=_team_count(
                EventType.objects.current().filter(
                    organization_id=organization_id,
                    profile_type=TEAM,
                    profile_owner_uri=OuterRef("uri"),
                ),
                "profile_owner_uri",
                Count("pk"),
            ),
            hosts=_team_count(
                EventTypeHost.objects.filter(
                    event_type__organization_id=organization_id,
                    event_type__removed_at__isnull=True,
                    event_type__profile_type=TEAM,
                    event_type__profile_owner_uri=OuterRef("uri"),
                    member__removed_at__isnull=True,
                ),
                "event_type__profile_owner_uri",
                Count("member", distinct=True),
            ),
        )
        .order_by("name", "pk")
    )
    if needle:
        teams = teams.filter(name__icontains=needle)
    team_rows = list(
        teams.values_list("pk", "name", "scheduling_url", "types", "hosts")[: LIST_LIMIT + 1]
    )
    return Overview(
        groups=[GroupLine(pk, name, n, admins.get(pk, ())) for pk, name, n in shown_groups],
        teams=[TeamLine(*row) for row in team_rows[:LIST_LIMIT]],
        more_groups=len(group_rows) > LIST_LIMIT,
        more_teams=len(team_rows) > LIST_LIMIT,
    )


def _team_count(rows: QuerySet[Any], by: str, counted: Any) -> Coalesce:
    """How many of `rows` belong to the outer team, as a subquery (0 when none)."""
    per_team = rows.order_by().values(by).annotate(n=counted).values("n")
    return Coalesce(Subquery(per_team, output_field=IntegerField()), Value(0))


def _admin_names(organization_id: int, group_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Each group's admins by name (an invitation's email until it is accepted)."""
    if not group_ids:
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    rows = (
        _current_relationships(organization_id)
        .filter(group_id__in=group_ids, role=GroupRelationship.Role.ADMIN)
        .values_list("group_id", "member__name", "invitation__email", "owner_uri")
    )
    for group_id, name, email, owner_uri in rows:
        found[group_id].append(name or email or owner_uri)
    return {pk: tuple(sorted(names, key=str.casefold)) for pk, names in found.items()}


# -- one group --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Who holds a relationship: a member, or an invitation not accepted yet."""

    name: str
    email: str
    member_id: int | None
    removed: bool  # the member was removed from the organization
    pending: bool  # an invitation, not yet accepted

    @classmethod
    def of(cls, relationship: GroupRelationship) -> Person:
        member, invitation = relationship.member, relationship.invitation
        if member is not None:
            return cls(member.name, member.email, member.pk, member.removed_at is not None, False)
        email = invitation.email if invitation is not None else ""
        return cls(email or relationship.owner_uri, "", None, False, True)


@dataclass
class GroupPage:
    group: Group
    admins: list[Person] = field(default_factory=list)
    members: list[Person] = field(default_factory=list)  # the first SHOWN, by name
    member_count: int = 0
    pending_count: int = 0
    event_types: list[Any] = field(default_factory=list)  # the first SHOWN, as the directory
    event_type_count: int = 0


def group_page(group: Group, fields: Sequence[str], order_by: Sequence[str]) -> GroupPage:
    """What a group's page shows: its admins, its first members and how many there are, and
    the first event types its members own (as named tuples of `fields`, in `order_by`)."""
    relationships = (
        _current_relationships(group.organization_id)
        .filter(group=group)
        .select_related("member", "invitation")
    )
    page = GroupPage(group)
    page.admins = [
        Person.of(r)
        for r in relationships.filter(role=GroupRelationship.Role.ADMIN).order_by(
            "member__name", "invitation__email", "pk"
        )
    ]
    in_group = relationships.filter(role=GroupRelationship.Role.MEMBER)
    counts = in_group.aggregate(
        everyone=Count("pk"), pending=Count("pk", filter=Q(member__isnull=True))
    )
    page.member_count, page.pending_count = counts["everyone"], counts["pending"]
    page.members = [
        Person.of(r)
        for r in in_group.order_by("member__name", "member__email", "invitation__email", "pk")[
            :SHOWN
        ]
    ]
    owned = EventType.objects.current().filter(
        organization_id=group.organization_id,
        profile_type__in=("User", ""),
        profile_owner_uri__in=in_group.filter(member__isnull=False).values("member__user_uri"),
    )
    page.event_type_count = owned.count()
    page.event_types = list(owned.order_by(*order_by).values_list(*fields, named=True)[:SHOWN])
    return page


# -- one team ---------------------------------------------------------------------------------


def team_event_types(team: Team, fields: Sequence[str], order_by: Sequence[str]) -> list[Any]:
    """The team's current event types (every one: teams hold few), as named tuples."""
    return list(
        EventType.objects.current()
        .filter(organization_id=team.organization_id, profile_type=TEAM, profile_owner_uri=team.uri)
        .order_by(*order_by)
        .values_list(*fields, named=True)
    )
