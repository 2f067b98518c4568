"""The ledger's list: every single-use link and share of the organization, built with the
list toolkit (portal/lists.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from portal.links.models import IssuedLink
from portal.lists import Column, Copy, Hint, Lines, Link, ListForm, day_field, utc_text

# What a page reads of each row: what it shows and sorts by.
FIELDS = (
    "pk",
    "created_at",
    "kind",
    "origin",
    "customer",
    "ticket",
    "rep_name",
    "rep_email",
    "event_type_name",
    "booking_url",
    "status",
    "booked_at",
    "created_by_label",
)
KINDS = dict(IssuedLink.Kind.choices)
STATUSES = dict(IssuedLink.Status.choices)

CSV_COLUMNS = [
    "made (UTC)",
    "kind",
    "made by",
    "origin",
    "customer",
    "ticket",
    "rep",
    "rep email",
    "event type",
    "event type URI",
    "booking link",
    "status",
    "booked (UTC)",
    "share URI",
]

EMPTY = (
    "No links yet. Every single-use link and customized share made here (New link), or with "
    "manage.py single_use_link, is recorded in this ledger with who made it and for whom; "
    "shares made directly in Calendly appear after the next refresh of share statuses."
)


class LedgerFilter(ListForm):
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Customer, ticket, rep, event type or who made it",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    kind = forms.ChoiceField(
        required=False, choices=[("", "Links and shares"), *IssuedLink.Kind.choices], label="Kind"
    )
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *IssuedLink.Status.choices], label="Status"
    )
    date_from = day_field("Made from")
    date_to = day_field("Made until")

    sorts = {
        "made": ("created_at", "pk"),
        "customer": ("customer", "ticket", "pk"),
        "rep": ("rep_name", "created_at", "pk"),
    }
    default_sort = "-made"

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        data = self.cleaned_data
        if words := (data.get("q") or "").split():
            for word in words:
                rows = rows.filter(
                    Q(customer__icontains=word)
                    | Q(ticket__icontains=word)
                    | Q(rep_name__icontains=word)
                    | Q(rep_email__icontains=word)
                    | Q(event_type_name__icontains=word)
                    | Q(created_by_label__icontains=word)
                    | Q(booking_url__icontains=word)
                )
        if data.get("kind"):
            rows = rows.filter(kind=data["kind"])
        if data.get("status"):
            rows = rows.filter(status=data["status"])
        # Days are the viewer's: "made on 3 December" means their 3 December.
        zone = timezone.get_current_timezone()
        if data.get("date_from"):
            rows = rows.filter(created_at__gte=datetime.combine(data["date_from"], time(), zone))
        if data.get("date_to"):
            end = datetime.combine(data["date_to"] + timedelta(days=1), time(), zone)
            rows = rows.filter(created_at__lt=end)
        return rows

    def describe(self, name: str) -> str:
        value = self.cleaned_data[name]
        if name == "q":
            return f"Matching “{value}”"
        if name in ("date_from", "date_to"):
            return f"{self.fields[name].label} {value.day} {value:%b %Y}"
        return super().describe(name)


def entries(organization_id: int) -> QuerySet[IssuedLink]:
    return IssuedLink.objects.filter(organization_id=organization_id)


def _made(row: Any) -> Lines:
    return Lines((row.created_at, Link("Details", reverse("links:entry", args=[row.pk]))))


def _kind(row: Any) -> Lines:
    outside = Hint("made in Calendly") if row.origin == IssuedLink.Origin.CALENDLY else None
    return Lines((KINDS.get(row.kind, row.kind), outside))


def _for_whom(row: Any) -> Lines | None:
    if not (row.customer or row.ticket):
        return None
    return Lines((row.customer, Hint(f"Ticket {row.ticket}") if row.ticket else None))


def _rep(row: Any) -> Lines | None:
    return Lines((row.rep_name, Hint(row.rep_email) if row.rep_email else None))


def _link(row: Any) -> Lines:
    # Only a link that can still be booked is worth copying.
    if row.status == IssuedLink.Status.ACTIVE:
        whom = row.customer or row.ticket or row.event_type_name
        return Lines((row.booking_url, Copy(row.booking_url, f"Copy the link for {whom}")))
    return Lines((Hint(row.booking_url),))


def _status(row: Any) -> Lines:
    return Lines((STATUSES.get(row.status, row.status), row.booked_at))


COLUMNS = [
    Column("Made", _made, sort="made"),
    Column("Kind", _kind),
    Column("For whom", _for_whom, sort="customer"),
    Column("Rep", _rep, sort="rep"),
    Column("Event type", lambda row: row.event_type_name),
    Column("Link", _link),
    Column("Status", _status),
    Column("Made by", lambda row: row.created_by_label),
]


def csv_rows(rows: Iterable[IssuedLink]) -> Iterator[list[object]]:
    for row in rows:
        yield [
            utc_text(row.created_at),
            KINDS.get(row.kind, row.kind),
            row.created_by_label,
            row.origin,
            row.customer,
            row.ticket,
            row.rep_name,
            row.rep_email,
            row.event_type_name,
            row.event_type_uri,
            row.booking_url,
            row.status,
            utc_text(row.booked_at),
            row.share_uri,
        ]
