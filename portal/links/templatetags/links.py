"""How a share's settings read on its ledger page."""

from __future__ import annotations

import json

from django import template

register = template.Library()

LABELS = {
    "name": "Name",
    "duration": "Duration (minutes)",
    "duration_options": "Duration options (minutes)",
    "period_type": "Booking window",
    "start_date": "From",
    "end_date": "Until",
    "max_booking_time": "Furthest bookable (days ahead)",
    "min_booking_time": "Soonest bookable (notice)",
    "hide_location": "Location hidden",
    "location_configurations": "Locations",
    "availability_rule": "Availability",
}
PERIODS = {
    "fixed": "Between two dates",
    "moving": "A number of calendar days ahead",
    "available_moving": "A number of available days ahead",
    "unlimited": "Indefinitely",
}


@register.filter
def setting_label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


@register.filter
def setting_value(value: object, name: str = "") -> str:
    """A setting's value in words; `name` says which setting it is."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str):
        return PERIODS.get(value, value) if name == "period_type" else value
    if isinstance(value, list) and all(isinstance(item, int | str) for item in value):
        return ", ".join(str(item) for item in value)
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return "; ".join(_location(item) for item in value)
    if isinstance(value, dict) and "rules" in value:
        rules = value.get("rules") or []
        zone = value.get("timezone") or "no time zone"
        return f"{len(rules)} rule{'s' * (len(rules) != 1)} in {zone}"
    return json.dumps(value, sort_keys=True)


def _location(item: dict[str, object]) -> str:
    kind = str(item.get("kind") or "location").replace("_", " ")
    where = item.get("location") or item.get("phone_number") or ""
    return f"{kind}: {where}" if where else kind
