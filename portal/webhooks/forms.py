"""The subscriptions list's filters, and the form that makes (or edits) a subscription."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet

from portal.directory.models import Group, Member
from portal.lists import ListForm
from portal.webhooks.models import Subscription
from portal.webhooks.subscriptions import ANY_SCOPE, EVENTS, GROUP, USER, scope_problem

# Far beyond any real callback URL; Calendly documents no limit of its own.
MAX_URL_LENGTH = 2000

ACTIVE, RETRYING, DISABLED = "active", "retrying", "disabled"


class SubscriptionFilter(ListForm):
    # Not named `scope`: ListForm keeps that name for fields that choose which list is shown.
    in_scope = forms.ChoiceField(
        required=False, choices=[("", "Any scope"), *Subscription.Scope.choices], label="Scope"
    )
    state = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any state"),
            (ACTIVE, "Active, delivering"),
            (RETRYING, "Retrying: deliveries failing"),
            (DISABLED, "Disabled"),
        ],
        label="State",
    )
    event = forms.ChoiceField(
        required=False, choices=[("", "Any event"), *((n, n) for n in EVENTS)], label="Event"
    )
    delivers_to = forms.ChoiceField(
        required=False,
        choices=[("", "Anywhere"), ("portal", "This portal"), ("elsewhere", "Elsewhere")],
        label="Delivers to",
    )

    sorts = {
        "created": ("calendly_created_at", "pk"),
        "url": ("callback_url", "pk"),
        "state": ("state", "retry_started_at", "pk"),
    }
    default_sort = "-created"

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        data = self.cleaned_data
        if data.get("in_scope"):
            rows = rows.filter(scope=data["in_scope"])
        state = data.get("state")
        if state == ACTIVE:
            rows = rows.filter(state=Subscription.State.ACTIVE, retry_started_at__isnull=True)
        elif state == RETRYING:
            rows = rows.filter(state=Subscription.State.ACTIVE, retry_started_at__isnull=False)
        elif state == DISABLED:
            rows = rows.filter(state=Subscription.State.DISABLED)
        if data.get("event"):
            # The JSON text holds the name in quotes; works alike on PostgreSQL and SQLite.
            rows = rows.filter(events__icontains=json.dumps(data["event"]))
        if data.get("delivers_to") == "portal":
            rows = rows.filter(endpoint__isnull=False)
        elif data.get("delivers_to") == "elsewhere":
            rows = rows.filter(endpoint__isnull=True)
        return rows


class MemberChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Member) -> str:
        return f"{obj.name} ({obj.email})" if obj.email else str(obj.name)


def _event_choices() -> list[tuple[str, str]]:
    return [
        (event.name, f"{event.name}: {event.about}. {event.terms.capitalize()}.")
        for event in EVENTS.values()
    ]


class SubscriptionForm(forms.Form):
    """What a subscription is made of. Members and groups are chosen among the organization's
    own, so another organization's cannot be named; events that cannot have the chosen scope
    are refused with the scope they need."""

    events = forms.MultipleChoiceField(
        choices=_event_choices,
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        error_messages={"required": "Choose at least one event."},
    )
    scope = forms.ChoiceField(
        choices=Subscription.Scope.choices,
        widget=forms.RadioSelect,
        initial=Subscription.Scope.ORGANIZATION,
        label="Scope",
        help_text="Organization: everyone's events. User: one member's. Group: one group's.",
    )
    member = MemberChoice(
        queryset=Member.objects.none(),
        required=False,
        label="Member (for user scope)",
        empty_label="Choose a member",
    )
    group = forms.ModelChoiceField(
        queryset=Group.objects.none(),
        required=False,
        label="Group (for group scope)",
        empty_label="Choose a group",
    )
    callback_url = forms.URLField(
        required=False,
        max_length=MAX_URL_LENGTH,
        assume_scheme="https",
        label="Callback URL",
        help_text="Leave empty to deliver to this portal, which checks each delivery's "
        "signature and keeps it in the delivery log. Give a URL to deliver somewhere else.",
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        organization_id: int,
        initial: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(data, initial=dict(initial or {}))
        member_field = self.fields["member"]
        assert isinstance(member_field, forms.ModelChoiceField)
        member_field.queryset = (
            Member.objects.current()
            .filter(organization_id=organization_id)
            .order_by("name", "email", "pk")
        )
        group_field = self.fields["group"]
        assert isinstance(group_field, forms.ModelChoiceField)
        group_field.queryset = (
            Group.objects.current().filter(organization_id=organization_id).order_by("name", "pk")
        )

    @classmethod
    def initial_of(cls, row: Subscription) -> dict[str, Any]:
        """A subscription's settings as the form shows them for editing."""
        member = (
            Member.objects.current()
            .filter(organization_id=row.organization_id, user_uri=row.user_uri)
            .first()
            if row.user_uri
            else None
        )
        group = (
            Group.objects.current()
            .filter(organization_id=row.organization_id, uri=row.group_uri)
            .first()
            if row.group_uri
            else None
        )
        return {
            "events": [name for name in row.events if name in EVENTS],
            "scope": row.scope if row.scope in ANY_SCOPE else None,
            "member": member,
            "group": group,
            "callback_url": "" if row.endpoint_id else row.callback_url,
        }

    def clean_callback_url(self) -> str:
        url = str(self.cleaned_data.get("callback_url") or "").strip()
        if url and settings.IS_PRODUCTION and not url.lower().startswith("https://"):
            raise forms.ValidationError("Calendly delivers only to HTTPS addresses.")
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scope = data.get("scope")
        if scope == USER and not data.get("member") and "member" not in self.errors:
            self.add_error("member", "Choose whose events a user-scope subscription gets.")
        if scope == GROUP and not data.get("group") and "group" not in self.errors:
            self.add_error("group", "Choose which group's events a group-scope subscription gets.")
        if scope and data.get("events"):
            problem = scope_problem(data["events"], scope)
            if problem:
                self.add_error("events", problem)
        return self.cleaned_data

    def wanted(self) -> dict[str, Any]:
        """The cleaned form as `subscriptions.create` takes it."""
        data = self.cleaned_data
        scope = data["scope"]
        member, group = data.get("member"), data.get("group")
        return {
            "events": list(data["events"]),
            "scope": scope,
            "user_uri": member.user_uri if scope == USER and member else "",
            "group_uri": group.uri if scope == GROUP and group else "",
            "callback_url": data["callback_url"],
        }
