"""The members page's list: who is in the organization, from the mirror, built with the list
toolkit (portal/lists.py).

Statuses map to one table each: active and removed members, pending and declined invitations.
The status chooses the list; the other fields narrow it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from django import forms
from django.db.models import Exists, OuterRef, QuerySet, Value
from django.db.models.functions import StrIndex
from django.db.models.lookups import GreaterThan
from django.urls import reverse
from django.utils import timezone

from portal.directory.models import (
    EventType,
    GroupRelationship,
    Invitation,
    Member,
    MirrorTotal,
)
from portal.lists import Column, Joined, Link, ListForm, Pick, utc_text


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
    # What one row is, in the count line: ("member", "members"), ...
    nouns = {
        ACTIVE: ("member", "members"),
        PENDING: ("pending invitation", "pending invitations"),
        DECLINED: ("declined invitation", "declined invitations"),
        REMOVED: ("removed member", "removed members"),
    }


MEMBER_SORTS = {
    "name": ("name", "email"),
    "email": ("email",),
    "role": ("role", "name"),
    "joined": ("calendly_created_at", "name"),
    "removed": ("removed_at", "name"),
}
INVITATION_SORTS = {
    "email": ("email",),
    "sent": ("last_sent_at", "email"),
    "invited": ("calendly_created_at", "email"),
}
# What a page reads of each row: only what it shows (and sorts by).
MEMBER_FIELDS = ("pk", "name", "email", "role", "calendly_created_at", "removed_at")
INVITATION_FIELDS = ("pk", "email", "calendly_created_at", "last_sent_at")
ROLE_LABELS = dict(Member.Role.choices)


class MembersFilter(ListForm):
    q = forms.CharField(required=False, max_length=200, label="Name or email")
    status = forms.ChoiceField(required=False, choices=Status.choices, label="Status")
    role = forms.ChoiceField(
        required=False, choices=[("", "Any role"), *Member.Role.choices], label="Role"
    )
    group = forms.ChoiceField(
        required=False,
        label="Group",
        error_messages={"invalid_choice": "There is no such group in this organization."},
    )
    # The dashboard's links: invitations waiting longer than N days, members hosting no active
    # event type, people removed in the last N days.
    older_than = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Invited more than N days ago"
    )
    no_event_types = forms.BooleanField(required=False, label="With no active event type")
    removed_within = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Removed in the last N days"
    )

    scope = ("status",)
    default_sort = "name"

    def __init__(self, data: Any, *, groups: Sequence[tuple[int, str]], **kwargs: Any) -> None:
        self.groups = groups
        super().__init__(data, **kwargs)

    def prepare_fields(self) -> None:
        group = self.fields["group"]
        assert isinstance(group, forms.ChoiceField)
        group.choices = [("", "Any group"), *((str(pk), name) for pk, name in self.groups)]

    @property
    def chosen_status(self) -> str:
        return self.cleaned_data.get("status") or Status.ACTIVE

    @property
    def is_invitations(self) -> bool:
        return self.chosen_status in (Status.PENDING, Status.DECLINED)

    @property
    def noun(self) -> tuple[str, str]:
        return Status.nouns[self.chosen_status]

    def sort_options(self) -> dict[str, tuple[str, ...]]:
        return INVITATION_SORTS if self.is_invitations else MEMBER_SORTS

    @property
    def current_sort(self) -> str:
        if self.is_invitations and not self.cleaned_data.get("sort"):
            return "-invited"  # newest invitations first
        return super().current_sort

    @property
    def filter_names(self) -> list[str]:
        """The filters that apply to the list the status chose."""
        if self.is_invitations:
            return ["q", "older_than"]
        names = ["q", "role", "group", "no_event_types"]
        return [*names, "removed_within"] if self.chosen_status == Status.REMOVED else names

    def describe(self, name: str) -> str:
        value = self.cleaned_data[name]
        words = {
            "q": f"Name or email contains “{value}”",
            "older_than": f"Invited more than {value} days ago",
            "removed_within": f"Removed in the last {value} days",
        }
        return words.get(name) or super().describe(name)

    def rows(self, organization_id: int) -> QuerySet[Any]:
        """Every row of the chosen list that the filters select, not yet ordered."""
        data = self.cleaned_data
        if self.is_invitations:
            selected: QuerySet[Any] = Invitation.objects.filter(
                organization_id=organization_id, status=self.chosen_status, removed_at__isnull=True
            )
            if data.get("q"):
                selected = selected.filter(email__icontains=data["q"].strip())
            if data.get("older_than"):
                cutoff = timezone.now() - timedelta(days=data["older_than"])
                selected = selected.filter(calendly_created_at__lt=cutoff)
            return selected
        selected = Member.objects.filter(
            organization_id=organization_id, removed_at__isnull=self.chosen_status != Status.REMOVED
        )
        if data.get("q") and data["q"].strip():
            selected = _containing(selected, data["q"].strip().lower())
        if data.get("role"):
            selected = selected.filter(role=data["role"])
        if data.get("no_event_types"):
            selected = without_active_event_types(selected)
        if data.get("removed_within") and self.chosen_status == Status.REMOVED:
            since = timezone.now() - timedelta(days=data["removed_within"])
            selected = selected.filter(removed_at__gte=since)
        if data.get("group"):
            # EXISTS rather than a join: no duplicate rows, so no DISTINCT to undo them.
            in_group = GroupRelationship.objects.current().filter(
                member=OuterRef("pk"), group_id=int(data["group"])
            )
            selected = selected.filter(Exists(in_group))
        return selected

    @property
    def fields_read(self) -> tuple[str, ...]:
        return INVITATION_FIELDS if self.is_invitations else MEMBER_FIELDS


def _containing(members: QuerySet[Member], needle: str) -> QuerySet[Member]:
    """Members whose name or email contains `needle`, read through the trigram index.

    The index finds rows holding every trigram of the pattern, and a trigram found in every
    row (an organization's "@acme.com") costs a read of the whole index. So for an address,
    the index is asked for the part before the "@" (rarer: one person's), and the whole of it
    is checked on the few rows that come back.
    """
    local, at, _ = needle.partition("@")
    if not at or len(local) < 3:
        return members.filter(search_text__contains=needle)
    return members.filter(search_text__contains=local).filter(
        # STRPOS, which no index serves: the database applies it to the rows found above.
        GreaterThan(StrIndex("search_text", Value(needle)), 0)
    )


def total(organization_id: int, status: str) -> QuerySet[MirrorTotal, int]:
    """How many rows the chosen list holds, kept by the database (MirrorTotal's triggers)."""
    found = MirrorTotal.objects.filter(organization_id=organization_id, kind=status)
    return found.values_list("n", flat=True)


def without_active_event_types(members: QuerySet[Member]) -> QuerySet[Member]:
    """Members who neither own nor host an active event type."""
    active = EventType.objects.current().filter(active=True)
    return members.exclude(Exists(active.filter(profile_owner_uri=OuterRef("user_uri")))).exclude(
        Exists(active.filter(hosts=OuterRef("pk")))
    )


# -- groups -----------------------------------------------------------------------------------

type MemberGroups = dict[int, list[tuple[str, bool]]]  # member id: (group name, is its admin)


def groups_of(organization_id: int, names: dict[int, str]) -> MemberGroups:
    """Who is in which current group, names in order; `names` are the organization's current
    groups (mirror.MirrorState.groups)."""
    relationships = GroupRelationship.objects.current().filter(
        organization_id=organization_id, member__isnull=False
    )
    found: MemberGroups = defaultdict(list)
    for member_id, group_id, role in relationships.values_list("member_id", "group_id", "role"):
        if group_id in names:
            found[member_id].append((names[group_id], role == GroupRelationship.Role.ADMIN))
    for groups in found.values():
        groups.sort(key=lambda group: group[0].casefold())
    return found


def group_label(group: tuple[str, bool]) -> str:
    """ "Sales", or "Sales (group admin)": one of a member's groups, as the list shows it."""
    name, admin = group
    return f"{name} (group admin)" if admin else name


def groups_text(groups: Sequence[tuple[str, bool]]) -> str:
    return ", ".join(group_label(group) for group in groups)


# -- columns ----------------------------------------------------------------------------------


# The form on the members page that a row's Select box belongs to (offboarding a selection).
SELECTION_FORM = "offboard-selection"


def member_columns(
    removed: bool, groups: MemberGroups, *, selectable: bool = False
) -> list[Column]:
    base = reverse("directory:members")
    columns = [
        Column("Name", lambda row: Link(row.name, f"{base}{row.pk}"), sort="name"),
        Column("Email", lambda row: row.email, sort="email"),
        Column("Role", lambda row: ROLE_LABELS.get(row.role) or row.role, sort="role"),
        Column("Groups", lambda row: groups_text(groups.get(row.pk, ()))),
    ]
    if removed:
        return [*columns, Column("Removed", lambda row: row.removed_at, sort="removed")]
    columns.append(Column("Joined", lambda row: row.calendly_created_at, sort="joined"))
    if selectable:
        columns.append(
            Column(
                "Select",
                lambda row: Pick(SELECTION_FORM, "member", str(row.pk), f"Select {row.name}"),
            )
        )
    return columns


def invitation_columns(can_manage: bool) -> list[Column]:
    columns = [
        Column("Email", lambda row: row.email, sort="email"),
        Column("Invited", lambda row: row.calendly_created_at, sort="invited"),
        Column("Last sent", lambda row: row.last_sent_at, sort="sent"),
    ]
    if not can_manage:
        return columns
    return [*columns, Column("Actions", _invitation_actions)]


def _invitation_actions(row: Any) -> Joined:
    revoke = reverse("directory:revoke", args=[row.pk])
    return Joined((Link("Resend…", f"{revoke}?then=resend"), Link("Revoke…", revoke)), " · ")


# -- export -----------------------------------------------------------------------------------


def csv_rows(
    form: MembersFilter, organization_id: int, groups: MemberGroups
) -> tuple[list[str], Iterator[list[Any]]]:
    """The export's header and rows: exactly what the filters select, in the list's order."""
    selected = form.rows(organization_id).order_by(*form.order_by())
    if form.is_invitations:
        return (
            ["email", "status", "invited (UTC)", "last sent (UTC)"],
            (
                [i.email, i.status, utc_text(i.calendly_created_at), utc_text(i.last_sent_at)]
                for i in selected.iterator(chunk_size=2000)
            ),
        )
    return (
        ["name", "email", "role", "groups", "joined (UTC)", "removed (UTC)"],
        (
            [
                m.name,
                m.email,
                m.role,
                "; ".join(group_label(g) for g in groups.get(m.pk, ())),
                utc_text(m.calendly_created_at),
                utc_text(m.removed_at),
            ]
            for m in selected.iterator(chunk_size=2000)
        ),
    )
