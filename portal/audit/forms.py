from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet

from portal.audit import ACTION_NAME
from portal.audit.models import AuditFilter, action_label
from portal.lists import ListForm, day_field


class AuditFilterForm(ListForm):
    """The audit page's filters, read from the URL so a filtered view can be bookmarked."""

    actor = forms.CharField(
        required=False,
        max_length=255,
        label="Who",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    action = forms.ChoiceField(required=False, label="Action")
    target = forms.CharField(
        required=False,
        max_length=255,
        label="What",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    date_from = day_field("From")
    date_to = day_field("To")

    sorts = {"when": ("created_at", "pk")}
    default_sort = "-when"

    def __init__(self, data: Any, *, actions: list[str], **kwargs: Any) -> None:
        self.actions = actions
        super().__init__(data, **kwargs)

    def prepare_fields(self) -> None:
        # An action that no entry has is still a valid filter (it matches nothing), so a
        # shared link keeps meaning what it said instead of silently showing everything.
        wanted = self.data.get("action", "")
        if not (isinstance(wanted, str) and len(wanted) <= 100 and ACTION_NAME.match(wanted)):
            wanted = ""  # not an action name at all: the field reports it
        names = sorted({*self.actions, wanted} - {""})
        cast(forms.ChoiceField, self.fields["action"]).choices = [("", "All actions")] + [
            (name, action_label(name)) for name in names
        ]

    def audit_filter(self) -> AuditFilter:
        """The valid part of the filters; an invalid value is reported and otherwise ignored."""
        data = self.cleaned_data
        return AuditFilter(
            actor=(data.get("actor") or "").strip(),
            action=data.get("action") or "",
            target=(data.get("target") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        return rows.matching(self.audit_filter())  # type: ignore[attr-defined, no-any-return]

    def describe(self, name: str) -> str:
        value = self.cleaned_data[name]
        if name in ("actor", "target"):
            return f"{self.fields[name].label}: “{value}”"
        if name in ("date_from", "date_to"):
            return f"{self.fields[name].label} {value.day} {value:%b %Y}"
        return super().describe(name)
