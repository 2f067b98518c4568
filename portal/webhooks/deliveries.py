"""The delivery log's list: every delivery to the organization's receiving addresses, newest
first, built with the list toolkit (portal/lists.py).

What a delivery is about (an invitee's address, an event type's name) is read from its body,
which can be any JSON at all: only bodies up to `SUMMARY_BYTES` are read for the list (the
database hands over nothing of a larger one), and only a few string fields are looked at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from django import forms
from django.db.models import BinaryField, Case, F, QuerySet, Value, When
from django.db.models.functions import Length
from django.urls import reverse
from django.utils import timezone

from portal.lists import Column, Hint, Lines, Link, ListForm, day_field, utc_text
from portal.webhooks.models import Delivery, Subscription
from portal.webhooks.processing import TEST_HEADER

# The events Calendly can send, offered as filters before any has arrived.
KNOWN_EVENTS = (
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
    "event_type.created",
    "event_type.updated",
    "event_type.deleted",
    "routing_form_submission.created",
    "meeting_recap.created",
    "meeting_recap.updated",
    "meeting_recap.deleted",
    "contact.created",
    "contact.updated",
    "contact.deleted",
)
# What a filter may name as an event: Calendly's names are dotted lower-case words.
EVENT_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
STATUSES = dict(Delivery.Status.choices)

# A body larger than this is not read for the list: Calendly's deliveries are a few kilobytes,
# and a page of fifty must not pull fifty megabytes out of the database.
SUMMARY_BYTES = 32_768
# Longer text in a cell is cut: the delivery's page shows it whole.
CELL_CHARACTERS = 120

FIELDS = (
    "pk",
    "received_at",
    "event",
    "payload_uri",
    "headers",
    "status",
    "outcome",
    "repeats",
    "attempts",
    "summary_body",
)

CSV_COLUMNS = [
    "received (UTC)",
    "event",
    "about",
    "payload URI",
    "status",
    "outcome",
    "repeats",
    "attempts",
    "test delivery",
]


class DeliveryFilter(ListForm):
    event = forms.ChoiceField(required=False, label="Event")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Delivery.Status.choices], label="Status"
    )
    subscription = forms.ChoiceField(
        required=False,
        label="Subscription",
        error_messages={"invalid_choice": "There is no such subscription in this organization."},
    )
    date_from = day_field("Received from")
    date_to = day_field("Received until")

    sorts = {"received": ("received_at", "pk")}
    default_sort = "-received"

    def __init__(
        self,
        data: Any,
        *,
        events: Iterable[str],
        subscriptions: Iterable[Subscription],
        **kwargs: Any,
    ) -> None:
        self.events = list(events)
        self.subscriptions = {str(row.pk): row for row in subscriptions}
        super().__init__(data, **kwargs)

    def prepare_fields(self) -> None:
        # An event no delivery has is still a valid filter (it matches nothing), so a shared
        # link keeps meaning what it said instead of showing everything.
        wanted = self.data.get("event", "")
        if not (isinstance(wanted, str) and len(wanted) <= 100 and EVENT_NAME.match(wanted)):
            wanted = ""  # not an event name at all: the field reports it
        names = sorted({*KNOWN_EVENTS, *self.events, wanted} - {""})
        cast(forms.ChoiceField, self.fields["event"]).choices = [("", "Any event")] + [
            (name, name) for name in names
        ]
        cast(forms.ChoiceField, self.fields["subscription"]).choices = [
            ("", "Any subscription")
        ] + [(pk, subscription_label(row)) for pk, row in self.subscriptions.items()]

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        data = self.cleaned_data
        if data.get("event"):
            rows = rows.filter(event=data["event"])
        if data.get("status"):
            rows = rows.filter(status=data["status"])
        if data.get("subscription"):
            # A delivery belongs to the subscription whose receiving address it came to.
            rows = rows.filter(endpoint_id=self.subscriptions[data["subscription"]].endpoint_id)
        # Days are the viewer's: "received on 3 December" means their 3 December.
        zone = timezone.get_current_timezone()
        if data.get("date_from"):
            rows = rows.filter(received_at__gte=datetime.combine(data["date_from"], time(), zone))
        if data.get("date_to"):
            end = datetime.combine(data["date_to"] + timedelta(days=1), time(), zone)
            rows = rows.filter(received_at__lt=end)
        return rows

    def describe(self, name: str) -> str:
        value = self.cleaned_data[name]
        if name in ("date_from", "date_to"):
            return f"{self.fields[name].label} {value.day} {value:%b %Y}"
        if name == "subscription":
            return f"Subscription: {subscription_label(self.subscriptions[value])}"
        return super().describe(name)


def subscription_label(row: Subscription) -> str:
    """A subscription told apart from the organization's others: its scope, events and age."""
    events = ", ".join(row.events[:3]) + (" …" if len(row.events) > 3 else "")
    made = row.calendly_created_at or row.refreshed_at
    label = f"{row.scope.capitalize()}: {events or 'no events'} (made {made:%Y-%m-%d})"
    return f"{label}, deleted" if row.removed_at else label


def deliveries(organization_id: int) -> QuerySet[Delivery]:
    """The organization's deliveries, each with its body when it is small enough to read."""
    return (
        Delivery.objects.filter(organization_id=organization_id)
        .alias(body_size=Length("body"))
        .annotate(
            summary_body=Case(
                When(body_size__lte=SUMMARY_BYTES, then=F("body")),
                default=Value(b""),
                output_field=BinaryField(),
            )
        )
    )


def events_seen(organization_id: int) -> list[str]:
    return list(
        Delivery.objects.filter(organization_id=organization_id)
        .order_by("event")
        .values_list("event", flat=True)
        .distinct()
    )


def subscriptions(organization_id: int) -> list[Subscription]:
    """The subscriptions deliveries can be told apart by: those with a receiving address of
    the portal's own, current ones first."""
    return list(
        Subscription.objects.filter(
            organization_id=organization_id, endpoint__isnull=False
        ).order_by(F("removed_at").desc(nulls_first=True), "-calendly_created_at", "pk")
    )


# -- what a delivery is about -----------------------------------------------------------------


def parsed(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    value = " ".join(value.split())
    return value if len(value) <= CELL_CHARACTERS else f"{value[: CELL_CHARACTERS - 1]}…"


def about(event: str, body: bytes) -> str:
    """What the delivery is about, when its body says so: the invitee's address (and name),
    or the event type's name; "" otherwise."""
    data = parsed(body) if body else None
    payload = data.get("payload") if data else None
    if not isinstance(payload, dict):
        return ""
    if event.startswith("invitee"):
        email, name = _text(payload.get("email")), _text(payload.get("name"))
        if email and name:
            return f"{name} <{email}>"
        return email or name
    if event.startswith("event_type"):
        name = _text(payload.get("name"))
        return f"Event type “{name}”" if name else ""
    return ""


def short_uri(uri: str) -> str:
    """A payload URI without its host, its middle cut when it is long."""
    path = urlsplit(uri).path if uri.startswith(("http://", "https://")) else uri
    path = path or uri
    if len(path) <= 60:
        return path
    return f"{path[:28]}…{path[-28:]}"


def is_test(headers: object) -> bool:
    return isinstance(headers, dict) and bool(headers.get(TEST_HEADER))


# -- columns ----------------------------------------------------------------------------------


def _received(row: Any) -> Lines:
    return Lines((row.received_at, Link("Details", reverse("webhooks:delivery", args=[row.pk]))))


def _event(row: Any) -> Lines:
    return Lines((row.event, Hint("Test delivery") if is_test(row.headers) else None))


def _about(row: Any) -> Lines | None:
    said = about(row.event, bytes(row.summary_body or b""))
    uri = Hint(short_uri(row.payload_uri)) if row.payload_uri else None
    if not said and uri is None:
        return None
    return Lines((said, uri))


def _status(row: Any) -> Lines:
    outcome = Hint(_text(row.outcome)) if row.outcome else None
    return Lines((STATUSES.get(row.status, row.status), outcome))


COLUMNS = [
    Column("Received", _received, sort="received"),
    Column("Event", _event),
    Column("About", _about),
    Column("Status", _status),
    Column("Repeats", lambda row: row.repeats),
    Column("Attempts", lambda row: row.attempts),
]


def csv_rows(rows: Iterable[Any]) -> Iterator[list[object]]:
    for row in rows:
        yield [
            utc_text(row.received_at),
            row.event,
            about(row.event, bytes(row.summary_body or b"")),
            row.payload_uri,
            row.status,
            row.outcome,
            row.repeats,
            row.attempts,
            "yes" if is_test(row.headers) else "",
        ]
