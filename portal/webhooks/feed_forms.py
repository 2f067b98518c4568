"""The forms of the feeds pages: a new feed, and the list's filters."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from portal.core.text import storable
from portal.directory.models import EventType, Group, Team
from portal.lists import ListForm
from portal.webhooks.models import Feed

NAME_LENGTH = 200


class EventTypeChoices(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        label = obj.name or obj.slug or obj.uri
        if obj.profile_name:
            label = f"{label} ({obj.profile_name})"
        return label if obj.active else f"{label}, turned off"


class FeedForm(forms.Form):
    """A feed's name and what it covers; the choices are the organization's own."""

    name = forms.CharField(
        max_length=NAME_LENGTH,
        label="Name",
        help_text="The calendar's name in subscribers' apps, such as “Sales team meetings”.",
    )
    kind = forms.ChoiceField(
        choices=Feed.Kind.choices,
        widget=forms.RadioSelect,
        label="Meetings of",
        initial=Feed.Kind.GROUP,
    )
    group = forms.ModelChoiceField(
        queryset=Group.objects.none(),
        required=False,
        label="Group",
        empty_label="Choose a group",
        help_text="Meetings where any host is a member of the group.",
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        label="Team",
        empty_label="Choose a team",
        help_text="Meetings booked through any of the team's event types.",
    )
    event_types = EventTypeChoices(
        queryset=EventType.objects.none(),
        required=False,
        label="Event types",
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text="Meetings booked through any of these. Hold Ctrl (⌘ on a Mac) to choose more.",
    )

    def __init__(self, data: Any = None, *, organization_id: int) -> None:
        super().__init__(data)
        # Another organization's group, team or event type is not a choice: it is refused as
        # an invalid choice, never looked up.
        group_field: Any = self.fields["group"]
        group_field.queryset = (
            Group.objects.current().filter(organization_id=organization_id).order_by("name", "pk")
        )
        team_field: Any = self.fields["team"]
        team_field.queryset = (
            Team.objects.current().filter(organization_id=organization_id).order_by("name", "pk")
        )
        event_type_field: Any = self.fields["event_types"]
        event_type_field.queryset = (
            EventType.objects.current()
            .filter(organization_id=organization_id)
            .order_by("name", "profile_name", "pk")
        )

    def clean_name(self) -> str:
        # One line: it becomes the calendar's name in every subscriber's app.
        return storable(" ".join(self.cleaned_data["name"].split()))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == Feed.Kind.GROUP and not data.get("group"):
            self.add_error("group", "Choose the group whose meetings the feed shows.")
        elif kind == Feed.Kind.TEAM and not data.get("team"):
            self.add_error("team", "Choose the team whose meetings the feed shows.")
        elif kind == Feed.Kind.EVENT_TYPES and not data.get("event_types"):
            self.add_error("event_types", "Choose at least one event type.")
        return data


class FeedFilter(ListForm):
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Name or who made it",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Live and revoked"), ("live", "Live"), ("revoked", "Revoked")],
        label="Status",
    )

    sorts = {"made": ("created_at", "pk"), "name": ("name", "pk")}
    default_sort = "-made"

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        data = self.cleaned_data
        for word in (data.get("q") or "").split():
            rows = rows.filter(Q(name__icontains=word) | Q(created_by_label__icontains=word))
        if data.get("status") == "live":
            rows = rows.filter(revoked_at__isnull=True)
        elif data.get("status") == "revoked":
            rows = rows.filter(revoked_at__isnull=False)
        return rows

    def describe(self, name: str) -> str:
        if name == "q":
            return f"Matching “{self.cleaned_data[name]}”"
        return super().describe(name)
