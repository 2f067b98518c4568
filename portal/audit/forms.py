from __future__ import annotations

from typing import Any, cast

from django import forms

from portal.audit.models import AuditFilter, action_label


class AuditFilterForm(forms.Form):
    """The audit page's filters, read from the URL so a filtered view can be bookmarked."""

    actor = forms.CharField(
        required=False, max_length=255, widget=forms.TextInput(attrs={"type": "search"})
    )
    action = forms.ChoiceField(required=False)
    target = forms.CharField(
        required=False, max_length=255, widget=forms.TextInput(attrs={"type": "search"})
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An action that no entry has is still a valid filter (it matches nothing), so a
        # shared link keeps meaning what it said instead of silently showing everything.
        wanted = self.data.get("action", "") if self.is_bound else ""
        names = sorted({*actions, wanted} - {""})
        cast(forms.ChoiceField, self.fields["action"]).choices = [("", "All actions")] + [
            (name, action_label(name)) for name in names
        ]

    def audit_filter(self) -> AuditFilter:
        """The valid part of the filters; an invalid date is reported and otherwise ignored."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return AuditFilter(
            actor=data.get("actor", "").strip(),
            action=data.get("action", ""),
            target=data.get("target", "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
