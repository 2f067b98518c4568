from __future__ import annotations

from typing import Any

from django import forms

from portal.directory.models import EventType, Member
from portal.links.single_use import ForWhom, event_types_of

# Calendly's longest address; longer ones could never be a customer's.
MAX_EMAIL_LENGTH = 254
MAX_TICKET_LENGTH = 200
# Reps the typeahead offers at once: type more to narrow.
REP_CHOICES_SHOWN = 10


class RepSearchForm(forms.Form):
    """The New link page's state in the URL: a rep being looked for, or the rep chosen."""

    rep_q = forms.CharField(required=False, max_length=200, label="Rep")
    rep = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)

    def __init__(self, data: Any, *, organization_id: int) -> None:
        super().__init__(data)
        self.organization_id = organization_id
        self.is_valid()

    def clean_rep(self) -> Member | None:
        pk = self.cleaned_data.get("rep")
        if pk is None:
            return None
        rep = Member.objects.current().filter(organization_id=self.organization_id, pk=pk).first()
        if rep is None:
            raise forms.ValidationError("That person is not a member of your organization.")
        return rep

    @property
    def chosen_rep(self) -> Member | None:
        rep: Member | None = self.cleaned_data.get("rep")
        return rep

    def matches(self) -> list[Member]:
        """Members whose name or address holds every word typed (at most REP_CHOICES_SHOWN)."""
        words = (self.cleaned_data.get("rep_q") or "").lower().split()
        if not words:
            return []
        reps = Member.objects.current().filter(organization_id=self.organization_id)
        for word in words:
            reps = reps.filter(search_text__contains=word)
        return list(reps.order_by("name", "pk")[:REP_CHOICES_SHOWN])


class SingleUseLinkForm(forms.Form):
    """One of the rep's event types, and for whom the link is made."""

    event_type = forms.TypedChoiceField(coerce=int, label="Event type")
    customer = forms.EmailField(
        required=False, max_length=MAX_EMAIL_LENGTH, label="Customer's email"
    )
    ticket = forms.CharField(required=False, max_length=MAX_TICKET_LENGTH, label="Ticket reference")

    def __init__(self, data: Any = None, *, rep: Member) -> None:
        super().__init__(data)
        self.rep = rep
        self.event_types = list(event_types_of(rep))
        self.fields["event_type"].choices = [  # type: ignore[attr-defined]
            (event_type.pk, event_type.name or event_type.slug) for event_type in self.event_types
        ]

    def clean_ticket(self) -> str:
        ticket: str = self.cleaned_data.get("ticket", "")
        if "\x00" in ticket:
            raise forms.ValidationError("A ticket reference cannot hold a NUL character.")
        return ticket.strip()

    @property
    def chosen(self) -> EventType:
        pk = self.cleaned_data["event_type"]
        return next(event_type for event_type in self.event_types if event_type.pk == pk)

    @property
    def for_whom(self) -> ForWhom:
        return ForWhom(
            customer=(self.cleaned_data.get("customer") or "").lower(),
            ticket=self.cleaned_data.get("ticket") or "",
        )
