from __future__ import annotations

from datetime import date
from typing import Any, cast

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from portal.audit import ACTION_NAME
from portal.audit.models import AuditFilter, action_label

# Days the filters accept: wide enough for any real log, narrow enough that the day after
# the last one (the filter's end, exclusive) is still a date Python can hold.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)
DAY_BOUNDS = [MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)]


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
        required=False,
        label="From",
        validators=DAY_BOUNDS,
        widget=forms.DateInput(attrs={"type": "date", "min": FIRST_DAY, "max": LAST_DAY}),
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        validators=DAY_BOUNDS,
        widget=forms.DateInput(attrs={"type": "date", "min": FIRST_DAY, "max": LAST_DAY}),
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An action that no entry has is still a valid filter (it matches nothing), so a
        # shared link keeps meaning what it said instead of silently showing everything.
        wanted = self.data.get("action", "") if self.is_bound else ""
        if not (isinstance(wanted, str) and len(wanted) <= 100 and ACTION_NAME.match(wanted)):
            wanted = ""  # not an action name at all: the field reports it
        names = sorted({*actions, wanted} - {""})
        cast(forms.ChoiceField, self.fields["action"]).choices = [("", "All actions")] + [
            (name, action_label(name)) for name in names
        ]

    def page_number(self) -> int:
        self.is_valid()  # cleaned_data then holds every field that is valid
        page: int | None = self.cleaned_data.get("page")
        return page or 1

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
