from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString

register = template.Library()

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Looked up rather than formatted with ":02": list pages render hundreds of these per request.
TWO_DIGITS = tuple(f"{number:02}" for number in range(60))


@register.simple_tag
def moment(value: datetime | None) -> SafeString | str:
    """A time in the viewer's time zone with the zone named ("5 Jan 2026, 07:00 EST"), the
    exact UTC value on hover and machine-readable: the one date format of the portal.

    The zone is the one `portal.middleware.ViewerTimeZoneMiddleware` activated for the request,
    so rows rendered in Python (`portal/lists.py`) follow it without a template context.
    A tag rather than an included template with `date` filters: list pages render hundreds of
    these, and an include costs a context push and a template lookup each time.
    """
    if value is None:
        return "—"
    utc = value.astimezone(UTC)
    try:
        local = utc.astimezone(timezone.get_current_timezone())
    except OverflowError:  # within hours of year 1 or 9999, where only UTC fits
        local = utc
    day = f"{utc.year}-{TWO_DIGITS[utc.month]}-{TWO_DIGITS[utc.day]}"
    clock = f"{TWO_DIGITS[utc.hour]}:{TWO_DIGITS[utc.minute]}:{TWO_DIGITS[utc.second]}"
    zone = local.tzname() or "UTC"
    if zone[0] in "+-":
        # Zones without a customary abbreviation are named by their offset ("-03").
        zone = f"UTC{zone}"
    # Digits, letters and punctuation of our own making: nothing here needs escaping.
    return SafeString(
        f'<time datetime="{day}T{clock}Z" title="{day} {clock} UTC">'
        f"{local.day} {MONTHS[local.month - 1]} {local.year}, "
        f"{TWO_DIGITS[local.hour]}:{TWO_DIGITS[local.minute]} {zone}</time>"
    )


@register.filter
def duration_words(seconds: float | None) -> str:
    """A rough time left, as people say it: "under a minute", "14 minutes", "2 hours 5 minutes"."""
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours, minutes = divmod(minutes, 60)
    hours_words = "1 hour" if hours == 1 else f"{hours:,} hours"
    if not minutes:
        return hours_words
    return f"{hours_words} {minutes} minute{'s' if minutes != 1 else ''}"
