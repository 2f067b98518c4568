"""The meetings search (its filters live in the URL) and the cancellation form."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from portal.directory.models import EventType, Member
from portal.meetings.meetings import Filters

# Without dates, a search covers the last month and the next three.
DEFAULT_DAYS_BACK = 30
DEFAULT_DAYS_AHEAD = 90
# One search covers at most a year, so a page of results stays a question Calendly answers fast.
MAX_DAYS = 366
# Calendly keeps meetings of real people: days far outside this span are typing mistakes.
EARLIEST = date(1970, 1, 1)
LATEST = date(2199, 12, 31)
# Calendly's page tokens are short opaque strings; anything much longer is not one.
MAX_TOKEN = 500


class SearchForm(forms.Form):
    invitee_email = forms.EmailField(label="Invitee's email", required=False, max_length=254)
    rep = forms.EmailField(
        label="Rep's email",
        required=False,
        max_length=254,
        help_text="A member of your organization who hosts the meeting.",
    )
    event_type = forms.TypedChoiceField(label="Event type", required=False, coerce=int)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any"), ("active", "Scheduled"), ("canceled", "Canceled")],
    )
    start_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    start_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    page_token = forms.CharField(required=False, max_length=MAX_TOKEN, widget=forms.HiddenInput)

    def __init__(self, data: Any, *, organization_id: int) -> None:
        super().__init__(data)
        self.organization_id = organization_id
        self.event_types = list(
            EventType.objects.current()
            .filter(organization_id=organization_id)
            .order_by("name", "profile_name", "pk")
            .only("pk", "uri", "name", "slug", "profile_name")
        )
        field = self.fields["event_type"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "Any")] + [
            (
                str(et.pk),
                f"{et.name or et.slug}" + (f" ({et.profile_name})" if et.profile_name else ""),
            )
            for et in self.event_types
        ]
        self.rep_member: Member | None = None
        self.event_type_row: EventType | None = None

    def clean_rep(self) -> str:
        email: str = self.cleaned_data["rep"].strip().lower()
        if email:
            self.rep_member = (
                Member.objects.current()
                .filter(organization_id=self.organization_id, email__iexact=email)
                .first()
            )
            if self.rep_member is None:
                raise forms.ValidationError("No member of your organization has this email.")
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        chosen = cleaned.get("event_type")
        if chosen:
            self.event_type_row = next((et for et in self.event_types if et.pk == chosen), None)
        start, end = cleaned.get("start_from"), cleaned.get("start_to")
        for name, day in (("start_from", start), ("start_to", end)):
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(name, f"Choose a day between {EARLIEST.year} and {LATEST.year}.")
                return cleaned
        today = timezone.localdate()
        if start is None and end is None:
            start = today - timedelta(days=DEFAULT_DAYS_BACK)
            end = today + timedelta(days=DEFAULT_DAYS_AHEAD)
        elif start is None:
            assert end is not None
            start = end - timedelta(days=DEFAULT_DAYS_BACK + DEFAULT_DAYS_AHEAD)
        elif end is None:
            end = start + timedelta(days=DEFAULT_DAYS_BACK + DEFAULT_DAYS_AHEAD)
        if end < start:
            self.add_error("start_to", "The end of the range comes before its start.")
        elif (end - start).days > MAX_DAYS:
            self.add_error("start_to", f"Search at most {MAX_DAYS} days at a time.")
        cleaned["start_from"], cleaned["start_to"] = start, end
        return cleaned

    def filters(self) -> Filters:
        """The valid form as a Calendly search; dates are whole days in the viewer's zone."""
        data = self.cleaned_data
        return Filters(
            min_start=_start_of(data["start_from"]),
            max_start=_start_of(data["start_to"] + timedelta(days=1)),
            invitee_email=data["invitee_email"].lower(),
            rep_uri=self.rep_member.user_uri if self.rep_member else "",
            event_type_uri=self.event_type_row.uri if self.event_type_row else "",
            status=data["status"],
        )


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Calendly sends it to every invitee with the cancellation.",
    )


class InviteeForm(forms.Form):
    """Names one of the meeting's invitees (by the last segment of its Calendly URI)."""

    invitee = forms.RegexField(regex=r"^[A-Za-z0-9_-]{1,64}$", max_length=64)
