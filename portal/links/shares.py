"""Customized shares ("Customize once and share"): the form, and making, changing, deleting and
refreshing them.

A share is a booking link whose settings override those of one one-on-one event type, for one
recipient (`POST /shares`). Since 2026-11-06 Calendly also lists shares (`GET /shares`, with
status active, booked or expired), changes them (`PATCH`) and deletes those nobody booked
(`DELETE`). The form checks everything Calendly is documented to refuse before any request;
each action then calls Calendly once through the organization's connection, and only after it
answered writes the ledger row and its audit row in one transaction, so a refusal leaves
nothing behind.

Calendly lists only the shares of the user whose token asks, and only those on event types
that user hosts. The refresh asks as the connection's owner, so it sees the shares on the
owner's own event types and none on other reps' types: those keep the status they were given
when made or last changed here. A share missing from that listing is marked deleted only when
the listing was complete, had an address for every share, and could have held it (an event
type the owner hosts, made before the listing started, not booked).
"""

from __future__ import annotations

import itertools
import logging
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from portal import audit
from portal.accounts.connections import (
    ConnectionUnavailable,
    client_for,
    get_connection,
    note_failure,
)
from portal.accounts.models import Organization, User
from portal.calendly import errors
from portal.calendly.schemas import Share
from portal.core.text import storable
from portal.directory.models import EventType
from portal.links.forms import MAX_EMAIL_LENGTH, MAX_TICKET_LENGTH
from portal.links.issue import LinkRefused, about, calendly, refused, rep_of
from portal.links.models import IssuedLink

log = logging.getLogger(__name__)

# -- what Calendly accepts ---------------------------------------------------------------------

MAX_NAME_LENGTH = 55
MIN_DURATION, MAX_DURATION = 1, 720
MAX_DURATION_OPTIONS = 4
# Calendly documents no ceiling for how far ahead a share may be booked; ten years is far
# beyond any real booking window and keeps the number a person can type bounded.
MAX_BOOKING_DAYS = 3650
MAX_LOCATION_TEXT = 255
# E.164 numbers are at most 15 digits; spaces, dashes and brackets make room for the rest.
MAX_PHONE_LENGTH = 32
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{3,30}$")
MAX_TIMEZONE_LENGTH = 64
MAX_HOURS_LENGTH = 200
MAX_DATE_OVERRIDES_LENGTH = 4000
MAX_DATE_OVERRIDES = 60
# Rows of location settings the form offers; a share echoing more gets as many rows as it has,
# up to this many, so editing it never drops one unseen.
LOCATION_ROWS = 3
MAX_LOCATION_ROWS = 10

PERIODS_WITH_DATES = ("fixed",)
MOVING_PERIODS = ("moving", "available_moving")
PERIOD_CHOICES = [
    ("", "As the event type"),
    ("available_moving", "A number of available days ahead"),
    ("moving", "A number of calendar days ahead"),
    ("fixed", "Between two dates"),
    ("unlimited", "Indefinitely"),
]
LOCATION_KINDS = [
    ("physical", "In person"),
    ("ask_invitee", "Ask the invitee"),
    ("custom", "Custom"),
    ("outbound_call", "Phone call: the rep calls"),
    ("inbound_call", "Phone call: the invitee calls"),
    ("google_conference", "Google Meet"),
    ("gotomeeting_conference", "GoTo Meeting"),
    ("microsoft_teams_conference", "Microsoft Teams"),
    ("webex_conference", "Webex"),
    ("zoom_conference", "Zoom"),
]
TAKES_LOCATION = ("physical", "custom", "ask_invitee")
TAKES_ADDITIONAL_INFO = ("physical", "inbound_call")
# Calendly's weekday names, shown Monday first.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# A hyphen or an en dash (what word processors turn a typed hyphen into) between the times.
INTERVAL = re.compile(r"^\s*(\S+)\s*[-\u2013]\s*(\S+)\s*$")
DAY_OFF = ("off", "unavailable")
STATUSES = {choice.value for choice in IssuedLink.Status if choice != IssuedLink.Status.DELETED}

# The actor the audit log names for refreshes no person asked for.
TASK_ACTOR = "background refresh of shares"
COMMAND_ACTOR = "manage.py refresh_shares"

type Intervals = list[tuple[str, str]]


# -- which shares may be made, changed or deleted ---------------------------------------------


def share_refusal(event_type: EventType) -> str | None:
    """Why no share can be made of this event type; None when one can."""
    name = event_type.name or event_type.slug or "This event type"
    if event_type.removed_at is not None:
        return f"{name} no longer exists in Calendly."
    if event_type.kind != "solo" or event_type.pooling_type:
        return (
            f"{name} is a {event_type.kind_label.lower()} event type; Calendly customizes and "
            "shares only one-on-one event types. Make a single-use link instead."
        )
    if not event_type.active:
        return f"{name} is turned off in Calendly, so nobody could book a share of it."
    return None


def edit_refusal(row: IssuedLink) -> str | None:
    """Why this share's settings cannot be changed; None when they can."""
    if row.kind != IssuedLink.Kind.SHARE:
        return "Only customized shares have settings to change."
    if not row.share_uri:
        return "Calendly gave no address for this share, so it cannot be changed from the portal."
    if row.status == IssuedLink.Status.BOOKED:
        return "This share has been booked; Calendly no longer lets anyone change it."
    if row.status == IssuedLink.Status.EXPIRED:
        return "This share has expired; Calendly no longer lets anyone change it."
    if row.status == IssuedLink.Status.DELETED:
        return "This share was deleted."
    return None


def delete_refusal(row: IssuedLink) -> str | None:
    """Why this share cannot be deleted; None when it can."""
    if row.kind != IssuedLink.Kind.SHARE:
        return "Only customized shares can be deleted; a single-use link cannot be taken back."
    if not row.share_uri:
        return "Calendly gave no address for this share, so it cannot be deleted from the portal."
    if row.status == IssuedLink.Status.BOOKED:
        return (
            "This share has been booked, and Calendly does not delete booked shares. Its link "
            "already took its booking."
        )
    if row.status == IssuedLink.Status.DELETED:
        return "This share was already deleted."
    return None


def for_whom(row: IssuedLink) -> str:
    return row.customer or row.ticket or "nobody named"


# -- the form ----------------------------------------------------------------------------------


@cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_intervals(text: str) -> Intervals:
    """ "09:00-12:00, 13:00-17:00" as sorted (from, to) pairs; "off" or nothing is none."""
    text = text.strip()
    if not text or text.lower() in DAY_OFF:
        return []
    intervals: Intervals = []
    for part in re.split(r"[,;]", text):
        if not part.strip():
            continue
        found = INTERVAL.match(part)
        if not found or not TIME.match(found[1]) or not TIME.match(found[2]):
            raise forms.ValidationError(
                "Write each interval as hh:mm-hh:mm, for example 09:00-12:00 "
                f"(not “{part.strip()[:20]}”)."
            )
        start, end = found[1], found[2]
        if start >= end:
            raise forms.ValidationError(
                f"An interval must end after it starts: {start}-{end} does not."
            )
        intervals.append((start, end))
    intervals.sort()
    for (start, end), (next_start, next_end) in itertools.pairwise(intervals):
        if next_start < end:
            raise forms.ValidationError(
                f"The intervals {start}-{end} and {next_start}-{next_end} overlap."
            )
    return intervals


def intervals_text(intervals: Intervals) -> str:
    return ", ".join(f"{start}-{end}" for start, end in intervals)


def _intervals_of(rule: Mapping[str, Any]) -> Intervals:
    found = rule.get("intervals")
    if not isinstance(found, list):
        return []
    return sorted(
        (str(i.get("from", "")), str(i.get("to", ""))) for i in found if isinstance(i, Mapping)
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int_list(value: object) -> list[int]:
    return [n for n in value if _int(n) is not None] if isinstance(value, list) else []


def _locations(value: object) -> list[dict[str, str | None]]:
    """Location settings in the form's terms: in order, blanks as None, no positions."""
    if not isinstance(value, list):
        return []
    rows = [item for item in value if isinstance(item, Mapping) and item.get("kind")]
    rows.sort(key=lambda item: _int(item.get("position")) or 0)
    return [
        {
            "kind": _text(item.get("kind")),
            "location": _text(item.get("location")) or None,
            "additional_info": _text(item.get("additional_info")) or None,
            "phone_number": _text(item.get("phone_number")) or None,
        }
        for item in rows
    ]


@dataclass(frozen=True)
class Availability:
    """A share's availability rule: a time zone, hours per weekday, and dates that differ."""

    timezone: str
    weekly: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    dates: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    @classmethod
    def of(cls, value: object) -> Availability | None:
        if not isinstance(value, Mapping):
            return None
        weekly: dict[str, Intervals] = {day: [] for day in WEEKDAYS}
        dates: dict[str, Intervals] = {}
        rules = value.get("rules")
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, Mapping):
                continue
            if rule.get("type") == "wday" and rule.get("wday") in weekly:
                weekly[str(rule["wday"])] = _intervals_of(rule)
            elif rule.get("type") == "date" and rule.get("date"):
                dates[str(rule["date"])] = _intervals_of(rule)
        return cls(
            timezone=_text(value.get("timezone")),
            weekly=tuple((day, tuple(weekly[day])) for day in WEEKDAYS),
            dates=tuple(sorted((day, tuple(hours)) for day, hours in dates.items())),
        )

    @property
    def has_hours(self) -> bool:
        return bool(self.dates) or any(hours for _, hours in self.weekly)

    def for_calendly(self) -> dict[str, Any]:
        # Every weekday is sent, an empty one as a day off: the rules replace the event
        # type's whole schedule.
        rules: list[dict[str, Any]] = [
            {"type": "wday", "wday": day, "intervals": _interval_dicts(hours)}
            for day, hours in self.weekly
        ]
        rules += [
            {"type": "date", "date": day, "intervals": _interval_dicts(hours)}
            for day, hours in self.dates
        ]
        return {"timezone": self.timezone, "rules": rules}


def _interval_dicts(hours: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"from": start, "to": end} for start, end in hours]


def _initial(current: Mapping[str, Any], rows: int) -> dict[str, Any]:
    """The form's fields filled with a share's current settings.

    Calendly echoes the effective value of every setting, including those the window or the
    availability does not use (a `max_booking_time` beside fixed dates, a time zone without
    any hours): only what applies is shown, so a form sent back untouched changes nothing.
    """
    period = _text(current.get("period_type"))
    initial: dict[str, Any] = {
        "name": _text(current.get("name")),
        "duration": _int(current.get("duration")),
        "duration_options": ", ".join(map(str, _int_list(current.get("duration_options")))),
        "period_type": period,
        "hide_location": current.get("hide_location") is True,
    }
    if period in PERIODS_WITH_DATES:
        initial["start_date"] = _text(current.get("start_date")) or None
        initial["end_date"] = _text(current.get("end_date")) or None
    if period in MOVING_PERIODS:
        initial["max_booking_time"] = _int(current.get("max_booking_time"))
    for index, location in enumerate(_locations(current.get("location_configurations"))[:rows]):
        for name, value in location.items():
            initial[f"location_{index}_{name}"] = value or ""
    availability = Availability.of(current.get("availability_rule"))
    if availability is not None and availability.has_hours:
        initial["timezone"] = availability.timezone
        for day, hours in availability.weekly:
            initial[f"hours_{day}"] = intervals_text(list(hours))
        initial["date_overrides"] = "\n".join(
            f"{day} {intervals_text(list(hours)) or 'off'}" for day, hours in availability.dates
        )
    return initial


class ShareForm(forms.Form):
    """Every setting a share can override, and for whom it is made.

    To make a share (`event_type` given), a blank field keeps the event type's value. To change
    one (`current`: its settings as Calendly last echoed them), the fields start filled with
    them, `changes()` holds only what differs, and a blank field keeps the current value:
    Calendly's update has no way to give one setting back to the event type.
    """

    customer = forms.EmailField(
        required=False, max_length=MAX_EMAIL_LENGTH, label="Customer's email"
    )
    ticket = forms.CharField(required=False, max_length=MAX_TICKET_LENGTH, label="Ticket reference")
    name = forms.CharField(
        required=False,
        max_length=MAX_NAME_LENGTH,
        label="Name",
        help_text=f"What the invitee sees as the meeting's name; at most {MAX_NAME_LENGTH} "
        "characters.",
    )
    duration = forms.IntegerField(
        required=False,
        min_value=MIN_DURATION,
        max_value=MAX_DURATION,
        label="Duration (minutes)",
    )
    duration_options = forms.CharField(
        required=False,
        max_length=40,
        label="Durations the invitee may choose (minutes)",
        help_text="Up to four, separated by commas, for example 15, 30, 45. The duration must "
        "be one of them.",
    )
    period_type = forms.ChoiceField(required=False, choices=PERIOD_CHOICES, label="Booking window")
    start_date = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end_date = forms.DateField(
        required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"})
    )
    max_booking_time = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_BOOKING_DAYS,
        label="Furthest bookable (days ahead)",
        help_text="For the windows counted in days ahead.",
    )
    hide_location = forms.BooleanField(
        required=False,
        label="Hide the location until the meeting is booked",
        help_text="Calendly honours this only when exactly one custom location is set.",
    )
    timezone = forms.CharField(
        required=False,
        max_length=MAX_TIMEZONE_LENGTH,
        label="Time zone of these hours",
        help_text="An IANA time zone, for example America/New_York or Europe/Paris.",
    )
    date_overrides = forms.CharField(
        required=False,
        max_length=MAX_DATE_OVERRIDES_LENGTH,
        label="Dates with other hours",
        help_text="One date a line: 2026-12-24 09:00-12:00, or 2026-12-25 off.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        event_type: EventType | None = None,
        current: Mapping[str, Any] | None = None,
        customer: str = "",
        ticket: str = "",
    ) -> None:
        self.event_type = event_type
        self.current: Mapping[str, Any] = current if current is not None else {}
        self.editing = current is not None
        shown = len(_locations(self.current.get("location_configurations")))
        self.location_rows = min(max(LOCATION_ROWS, shown), MAX_LOCATION_ROWS)
        initial = _initial(self.current, self.location_rows) if self.editing else {}
        initial.update(customer=customer, ticket=ticket)
        super().__init__(data, initial=initial)
        for index in range(self.location_rows):
            self.fields[f"location_{index}_kind"] = forms.ChoiceField(
                required=False,
                choices=[("", "—"), *LOCATION_KINDS],
                label=f"Location {index + 1}",
            )
            self.fields[f"location_{index}_location"] = forms.CharField(
                required=False, max_length=MAX_LOCATION_TEXT, label="Address or details"
            )
            self.fields[f"location_{index}_additional_info"] = forms.CharField(
                required=False, max_length=MAX_LOCATION_TEXT, label="Additional information"
            )
            self.fields[f"location_{index}_phone_number"] = forms.CharField(
                required=False, max_length=MAX_PHONE_LENGTH, label="Phone number"
            )
        for day in WEEKDAYS:
            self.fields[f"hours_{day}"] = forms.CharField(
                required=False, max_length=MAX_HOURS_LENGTH, label=day.capitalize()
            )
        for bound in self.fields.values():
            bound.widget.attrs.setdefault("autocomplete", "off")

    # -- what the template lays out ------------------------------------------------------

    def location_fields(self) -> list[list[forms.BoundField]]:
        return [
            [
                self[f"location_{index}_{name}"]
                for name in ("kind", "location", "additional_info", "phone_number")
            ]
            for index in range(self.location_rows)
        ]

    def hours_fields(self) -> list[forms.BoundField]:
        return [self[f"hours_{day}"] for day in WEEKDAYS]

    # -- one field at a time ---------------------------------------------------------------

    def clean_customer(self) -> str:
        return str(self.cleaned_data.get("customer") or "").lower()

    def clean_ticket(self) -> str:
        return str(self.cleaned_data.get("ticket") or "").strip()

    def clean_name(self) -> str:
        return str(self.cleaned_data.get("name") or "").strip()

    def clean_duration_options(self) -> list[int]:
        text = str(self.cleaned_data.get("duration_options") or "")
        parts = [part for part in re.split(r"[\s,;]+", text) if part]
        options: list[int] = []
        for part in parts:
            if (
                not part.isascii()
                or not part.isdigit()
                or not (MIN_DURATION <= int(part) <= MAX_DURATION)
            ):
                raise forms.ValidationError(
                    f"Each option is a number of minutes from {MIN_DURATION} to {MAX_DURATION} "
                    f"(not “{part[:20]}”)."
                )
            options.append(int(part))
        if len(options) > MAX_DURATION_OPTIONS:
            raise forms.ValidationError(
                f"At most {MAX_DURATION_OPTIONS} options; Calendly takes no more."
            )
        if len(set(options)) != len(options):
            raise forms.ValidationError("Each duration can be offered only once.")
        return options

    def clean_timezone(self) -> str:
        zone = str(self.cleaned_data.get("timezone") or "").strip()
        if zone and zone not in time_zones():
            raise forms.ValidationError(
                "Not a time zone Calendly knows: use an IANA name such as America/New_York."
            )
        return zone

    def clean_date_overrides(self) -> list[tuple[str, Intervals]]:
        lines = [
            line.strip()
            for line in str(self.cleaned_data.get("date_overrides") or "").splitlines()
            if line.strip()
        ]
        if len(lines) > MAX_DATE_OVERRIDES:
            raise forms.ValidationError(f"At most {MAX_DATE_OVERRIDES} dates at once.")
        overrides: dict[str, Intervals] = {}
        for number, line in enumerate(lines, start=1):
            day_text, _, hours = line.partition(" ")
            try:
                day = date.fromisoformat(day_text)
            except ValueError:
                raise forms.ValidationError(
                    f"Line {number}: start with a date as YYYY-MM-DD, then the hours or “off”."
                ) from None
            if day.isoformat() in overrides:
                raise forms.ValidationError(f"Line {number}: {day} is listed twice.")
            if not hours.strip():
                raise forms.ValidationError(
                    f"Line {number}: give the hours of {day} (09:00-12:00) or “off”."
                )
            try:
                overrides[day.isoformat()] = parse_intervals(hours)
            except forms.ValidationError as error:
                raise forms.ValidationError(f"Line {number}: {error.messages[0]}") from None
        return sorted(overrides.items())

    def _clean_hours(self) -> None:
        for day in WEEKDAYS:
            name = f"hours_{day}"
            if name not in self.cleaned_data:
                continue
            try:
                self.cleaned_data[name] = parse_intervals(str(self.cleaned_data[name] or ""))
            except forms.ValidationError as error:
                self.add_error(name, error)

    # -- the rules that tie fields together ------------------------------------------------

    def clean(self) -> dict[str, Any]:
        self._clean_hours()
        self._clean_durations()
        self._clean_period()
        self._clean_locations()
        self._clean_availability()
        return self.cleaned_data

    def _clean_durations(self) -> None:
        data = self.cleaned_data
        if "duration" not in data or "duration_options" not in data:
            return
        chosen: int | None = data["duration"]
        # Options not given are the share's own (editing) or the event type's, as mirrored.
        options: list[int] = data["duration_options"] or _int_list(
            self.current.get("duration_options")
            if self.editing
            else (self.event_type.duration_options if self.event_type else None)
        )
        inherited = (
            _int(self.current.get("duration"))
            if self.editing
            else (self.event_type.duration if self.event_type else None)
        )
        duration = chosen if chosen is not None else inherited
        if options and duration is not None and duration not in options:
            listed = ", ".join(map(str, options))
            if chosen is None:
                self.add_error(
                    "duration",
                    f"The current duration, {duration} minutes, is not among the options "
                    f"({listed}): choose a duration from them.",
                )
            else:
                self.add_error(
                    "duration", f"The duration must be one of the options ({listed} minutes)."
                )

    def _clean_period(self) -> None:
        data = self.cleaned_data
        period = data.get("period_type")
        if period is None:
            return
        start, end = data.get("start_date"), data.get("end_date")
        days = data.get("max_booking_time")
        if period in PERIODS_WITH_DATES:
            if start is None and "start_date" in data:
                self.add_error("start_date", "A window between two dates needs its first day.")
            if end is None and "end_date" in data:
                self.add_error("end_date", "A window between two dates needs its last day.")
            if start is not None and end is not None and start > end:
                self.add_error("end_date", "The last day cannot come before the first.")
        elif period in MOVING_PERIODS:
            if days is None and "max_booking_time" in data:
                self.add_error(
                    "max_booking_time",
                    "Say how many days ahead the invitee may book; this window counts them.",
                )
        elif not period:
            # Dates or days typed without choosing the window they belong to.
            if start is not None or end is not None:
                self.add_error("period_type", "Choose “Between two dates” for the dates to apply.")
            elif days is not None:
                self.add_error(
                    "period_type", "Choose a window counted in days ahead for the days to apply."
                )

    def _clean_locations(self) -> None:
        data = self.cleaned_data
        for index in range(self.location_rows):
            names = {
                part: f"location_{index}_{part}"
                for part in ("kind", "location", "additional_info", "phone_number")
            }
            if any(name not in data for name in names.values()):
                continue
            kind = data[names["kind"]]
            location = str(data[names["location"]]).strip()
            info = str(data[names["additional_info"]]).strip()
            phone = str(data[names["phone_number"]]).strip()
            data[names["location"]], data[names["additional_info"]] = location, info
            data[names["phone_number"]] = phone
            if not kind:
                if location or info or phone:
                    self.add_error(names["kind"], "Choose what kind of location this is.")
                continue
            if kind == "inbound_call" and not phone:
                self.add_error(
                    names["phone_number"], "A call the invitee makes needs the number to call."
                )
            if phone and not PHONE.match(phone):
                self.add_error(
                    names["phone_number"], "Type a phone number, for example +1 555 010 0100."
                )
            if location and kind not in TAKES_LOCATION:
                self.add_error(
                    names["location"],
                    "Only in-person, custom and ask-the-invitee locations take an address or "
                    "details.",
                )
            if info and kind not in TAKES_ADDITIONAL_INFO:
                self.add_error(
                    names["additional_info"],
                    "Only in-person locations and calls the invitee makes take additional "
                    "information.",
                )

    def _clean_availability(self) -> None:
        data = self.cleaned_data
        names = ["timezone", "date_overrides", *(f"hours_{day}" for day in WEEKDAYS)]
        if any(name not in data for name in names):
            return
        has_rules = bool(data["date_overrides"]) or any(data[f"hours_{d}"] for d in WEEKDAYS)
        if has_rules and not data["timezone"]:
            self.add_error(
                "timezone",
                "Calendly needs the time zone these hours are in, for example America/New_York.",
            )
        elif data["timezone"] and not has_rules:
            self.add_error(
                "timezone",
                "Calendly takes a time zone only with the hours it applies to: give the weekly "
                "hours or dates, or leave the time zone blank.",
            )

    # -- what to send ------------------------------------------------------------------

    def wanted(self) -> dict[str, Any]:
        """The settings filled in, in the shape Calendly takes them (blank ones left out)."""
        data = self.cleaned_data
        settings: dict[str, Any] = {}
        if data["name"]:
            settings["name"] = data["name"]
        if data["duration"] is not None:
            settings["duration"] = data["duration"]
        if data["duration_options"]:
            settings["duration_options"] = data["duration_options"]
        period = data["period_type"]
        if period:
            settings["period_type"] = period
            if period in PERIODS_WITH_DATES:
                settings["start_date"] = data["start_date"].isoformat()
                settings["end_date"] = data["end_date"].isoformat()
            elif period in MOVING_PERIODS:
                settings["max_booking_time"] = data["max_booking_time"]
        if data["hide_location"] or self.editing:
            settings["hide_location"] = data["hide_location"]
        locations: list[dict[str, Any]] = []
        for index in range(self.location_rows):
            kind = data[f"location_{index}_kind"]
            if not kind:
                continue
            location: dict[str, Any] = {"kind": kind, "position": len(locations)}
            for part in ("location", "additional_info", "phone_number"):
                if data[f"location_{index}_{part}"]:
                    location[part] = data[f"location_{index}_{part}"]
            locations.append(location)
        if locations:
            settings["location_configurations"] = locations
        if data["timezone"]:
            settings["availability_rule"] = self.availability().for_calendly()
        return settings

    def availability(self) -> Availability:
        data = self.cleaned_data
        return Availability(
            timezone=data["timezone"],
            weekly=tuple((day, tuple(data[f"hours_{day}"])) for day in WEEKDAYS),
            dates=tuple((day, tuple(hours)) for day, hours in data["date_overrides"]),
        )

    def changes(self) -> dict[str, Any]:
        """What differs from the share's current settings (editing only)."""
        wanted = self.wanted()
        current = self.current
        changes: dict[str, Any] = {}
        for name in ("name", "duration", "duration_options"):
            if name in wanted and wanted[name] != current.get(name):
                changes[name] = wanted[name]
        if "period_type" in wanted:
            # The window and what it needs go together, so Calendly checks them as one.
            period = {k: v for k, v in wanted.items() if k in PERIOD_FIELDS}
            if any(current.get(k) != v for k, v in period.items()):
                changes.update(period)
        if wanted["hide_location"] != (current.get("hide_location") is True):
            changes["hide_location"] = wanted["hide_location"]
        if "location_configurations" in wanted:
            shown = _locations(current.get("location_configurations"))[: self.location_rows]
            if _locations(wanted["location_configurations"]) != shown:
                changes["location_configurations"] = wanted["location_configurations"]
        if "availability_rule" in wanted and self.availability() != Availability.of(
            current.get("availability_rule")
        ):
            changes["availability_rule"] = wanted["availability_rule"]
        return changes


PERIOD_FIELDS = ("period_type", "start_date", "end_date", "max_booking_time")


# -- actions -----------------------------------------------------------------------------------


def _storable_json(value: Any) -> Any:
    """Calendly's JSON as PostgreSQL's jsonb takes it (no NUL characters)."""
    if isinstance(value, str):
        return storable(value, max_bytes=4 * len(value))
    if isinstance(value, list):
        return [_storable_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _storable_json(v) for k, v in value.items()}
    return value


def settings_of(share: Share) -> dict[str, Any]:
    """The effective settings Calendly echoed, as the ledger keeps them."""
    if share.share_override is None:
        return {}
    echoed = share.share_override.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(_storable_json(echoed))


def _status_of(share: Share, otherwise: str) -> str:
    return share.status if share.status in STATUSES else otherwise


def create_share(
    *,
    organization: Organization,
    event_type: EventType,
    settings: Mapping[str, Any],
    customer: str = "",
    ticket: str = "",
    actor: User,
    request: HttpRequest | None = None,
) -> IssuedLink:
    """Make one share (one `POST /shares`) and record it in the ledger with its audit row."""
    if event_type.organization_id != organization.pk:
        raise LinkRefused("That event type belongs to another organization.")
    problem = share_refusal(event_type)
    if problem:
        raise LinkRefused(problem)
    with calendly(organization) as client:
        try:
            made = client.create_share(event_type=event_type.uri, **settings)
        except errors.CalendlyError as error:
            raise refused(organization, error, doing="making the share") from error
    link = made.scheduling_links[0] if made.scheduling_links else None
    rep = rep_of(event_type)
    now = timezone.now()
    status = _status_of(made, IssuedLink.Status.ACTIVE)
    with transaction.atomic():
        row = IssuedLink.objects.create(
            organization=organization,
            kind=IssuedLink.Kind.SHARE,
            origin=IssuedLink.Origin.PORTAL,
            booking_url=storable(link.booking_url if link else ""),
            share_uri=storable(made.uri),
            event_type_uri=event_type.uri,
            **about(event_type, rep),
            customer=storable(customer),
            ticket=storable(ticket),
            created_by=actor,
            created_by_label=audit.describe(actor),
            created_at=now,
            status=status,
            status_checked_at=now,
            booked_at=now if status == IssuedLink.Status.BOOKED else None,
            settings=settings_of(made) or _storable_json(dict(settings)),
        )
        audit.record(
            action=audit.Action.SHARE_CREATED,
            organization=organization,
            actor=actor,
            target=row,
            target_label=f"{row.event_type_name} for {for_whom(row)}",
            after={
                "booking_url": row.booking_url,
                "share": row.share_uri,
                "event_type": event_type.uri,
                "rep": row.rep_email or row.rep_name,
                "customer": row.customer,
                "ticket": row.ticket,
                "settings": dict(settings),
            },
            request=request,
        )
    return row


def update_share(
    *,
    organization: Organization,
    row: IssuedLink,
    changes: Mapping[str, Any],
    customer: str,
    ticket: str,
    actor: User,
    request: HttpRequest | None = None,
) -> bool:
    """Send only the changed settings (one `PATCH`, none when only for-whom changed), update the
    ledger row and audit before and after. False when nothing changed."""
    problem = edit_refusal(row)
    if problem:
        raise LinkRefused(problem)
    local = {
        name: value
        for name, value in (("customer", customer), ("ticket", ticket))
        if value != getattr(row, name)
    }
    if not changes and not local:
        return False
    fields: dict[str, Any] = {name: storable(value) for name, value in local.items()}
    if changes:
        with calendly(organization) as client:
            try:
                updated = client.update_share(share=row.share_uri, **changes)
            except errors.CalendlyError as error:
                doing = f"changing the share for {for_whom(row)}"
                raise refused(organization, error, doing=doing) from error
        now = timezone.now()
        fields["settings"] = settings_of(updated) or _storable_json({**row.settings, **changes})
        fields["status"] = _status_of(updated, row.status)
        fields["status_checked_at"] = now
        if fields["status"] == IssuedLink.Status.BOOKED and row.booked_at is None:
            fields["booked_at"] = now
    before = {name: row.settings.get(name) for name in changes}
    before.update({name: getattr(row, name) for name in local})
    with transaction.atomic():
        IssuedLink.objects.filter(pk=row.pk).update(**fields)
        audit.record(
            action=audit.Action.SHARE_UPDATED,
            organization=organization,
            actor=actor,
            target=row,
            target_label=f"{row.event_type_name} for {for_whom(row)}",
            before=before,
            after={**changes, **local},
            request=request,
        )
    row.refresh_from_db()
    return True


def delete_share(
    *,
    organization: Organization,
    row: IssuedLink,
    actor: User,
    request: HttpRequest | None = None,
) -> None:
    """Delete an unbooked share in Calendly (one `DELETE`); its link stops working."""
    problem = delete_refusal(row)
    if problem:
        raise LinkRefused(problem)
    with calendly(organization) as client:
        try:
            # Calendly answering 404 (already gone) counts as done in the client.
            client.delete_share(share=row.share_uri)
        except errors.CalendlyError as error:
            doing = f"deleting the share for {for_whom(row)}"
            message = refused(organization, error, doing=doing).message
            if isinstance(error, errors.BadRequest | errors.Conflict) or error.status == 422:
                message += (
                    " Calendly deletes only shares nobody has booked; if this one was booked, "
                    "the ledger says so after the next refresh of share statuses."
                )
            raise LinkRefused(message) from error
    now = timezone.now()
    with transaction.atomic():
        IssuedLink.objects.filter(pk=row.pk).update(
            status=IssuedLink.Status.DELETED, deleted_at=now
        )
        audit.record(
            action=audit.Action.SHARE_DELETED,
            organization=organization,
            actor=actor,
            target=row,
            target_label=f"{row.event_type_name} for {for_whom(row)}",
            before={"status": row.status, "booking_url": row.booking_url},
            after={"status": IssuedLink.Status.DELETED, "deleted_at": now},
            request=request,
        )
    row.refresh_from_db()


# -- refreshing statuses from Calendly's listing ---------------------------------------------


@dataclass
class Refreshed:
    """What one refresh of an organization's shares found and changed."""

    organization: Organization
    listed: int = 0
    updated: int = 0
    added: int = 0
    deleted: int = 0
    unreadable: int = 0
    changes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def counts(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "updated": self.updated,
            "added": self.added,
            "deleted": self.deleted,
            "unreadable": self.unreadable,
        }

    @property
    def changed(self) -> bool:
        return bool(self.updated or self.added or self.deleted)


def refresh_shares(
    *, organization: Organization, actor: User | None = None, actor_label: str = TASK_ACTOR
) -> Refreshed:
    """Bring the ledger's shares up to date with Calendly's listing (as the connection's
    owner). A listing that fails anywhere, or cannot be read, changes nothing."""
    result = Refreshed(organization)
    doing = "listing the organization's shares"
    try:
        owner = get_connection(organization).owner_uri
        client = client_for(organization)
    except ConnectionUnavailable as exc:
        result.error = errors.explain(exc, doing=doing)
        return result
    started = timezone.now()
    try:
        with client:
            listed = list(client.list_shares(user=owner))
    except errors.CalendlyError as error:
        note_failure(organization, error)
        result.error = errors.explain(error, doing=doing)
        return result
    with transaction.atomic():
        # One refresh of an organization at a time: two could both add the same new share.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        _apply(result, listed, owner=owner, started=started)
        if result.changed or actor is not None:
            audit.record(
                action=audit.Action.SHARES_REFRESHED,
                organization=organization,
                actor=actor,
                actor_label=actor_label,
                after={**result.counts, "changes": result.changes[:50]},
            )
    return result


def _apply(result: Refreshed, listed: list[Share], *, owner: str, started: Any) -> None:
    organization = result.organization
    now = timezone.now()
    shares: dict[str, Share] = {}
    for share in listed:
        # An address the ledger could not store as it is could never be matched again.
        if not share.uri or storable(share.uri) != share.uri:
            result.unreadable += 1
            continue
        shares[share.uri] = share
    result.listed = len(shares)
    known = {
        row.share_uri: row
        for row in IssuedLink.objects.select_for_update().filter(share_uri__in=list(shares))
    }
    for uri, share in shares.items():
        row = known.get(uri)
        if row is None:
            _add(result, share, now)
        elif row.organization_id != organization.pk:
            log.warning(
                "Share %s is listed for %s but recorded for another organization", uri, organization
            )
        else:
            _update(result, row, share, now)
    if result.unreadable:
        return  # not every listed share can be told apart: nobody is concluded gone
    hosted = (
        EventType.objects.filter(organization=organization)
        .filter(Q(profile_owner_uri=owner) | Q(hosts__user_uri=owner))
        .values("uri")
    )
    gone = (
        IssuedLink.objects.filter(
            organization=organization,
            kind=IssuedLink.Kind.SHARE,
            status__in=(IssuedLink.Status.ACTIVE, IssuedLink.Status.EXPIRED),
            created_at__lt=started,
            event_type_uri__in=hosted,
        )
        .exclude(share_uri="")
        .exclude(share_uri__in=list(shares))
    )
    for row in gone:
        result.changes.append(f"{_label(row)}: no longer in Calendly, marked deleted")
        result.deleted += 1
    gone.update(status=IssuedLink.Status.DELETED, deleted_at=now, status_checked_at=now)


def _label(row: IssuedLink) -> str:
    return f"{row.event_type_name or row.share_uri} for {for_whom(row)}"


def _update(result: Refreshed, row: IssuedLink, share: Share, now: Any) -> None:
    status = _status_of(share, row.status)
    settings = settings_of(share) or row.settings
    if status != row.status:
        result.changes.append(f"{_label(row)}: {row.status} → {status}")
    if status != row.status or settings != row.settings:
        result.updated += 1
    if status == IssuedLink.Status.BOOKED and row.booked_at is None:
        row.booked_at = now
    row.status, row.settings, row.status_checked_at = status, settings, now
    # Listed means it exists, whatever an earlier refresh concluded.
    row.deleted_at = None
    row.save(update_fields=["status", "settings", "status_checked_at", "booked_at", "deleted_at"])


def _add(result: Refreshed, share: Share, now: Any) -> None:
    organization = result.organization
    link = share.scheduling_links[0] if share.scheduling_links else None
    event_type_uri = (link.owner if link else None) or ""
    event_type = (
        EventType.objects.filter(organization=organization, uri=event_type_uri).first()
        if event_type_uri
        else None
    )
    rep = rep_of(event_type) if event_type else None
    status = _status_of(share, IssuedLink.Status.ACTIVE)
    row = IssuedLink.objects.create(
        organization=organization,
        kind=IssuedLink.Kind.SHARE,
        origin=IssuedLink.Origin.CALENDLY,
        booking_url=storable(link.booking_url if link else ""),
        share_uri=storable(share.uri or ""),
        event_type_uri=storable(event_type_uri),
        **about(event_type, rep),
        created_at=share.created_at or now,
        status=status,
        status_checked_at=now,
        booked_at=now if status == IssuedLink.Status.BOOKED else None,
        settings=settings_of(share),
    )
    result.added += 1
    result.changes.append(f"{_label(row)}: made outside the portal, added ({status})")
