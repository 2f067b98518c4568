from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils.safestring import SafeString

register = template.Library()

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@register.simple_tag
def moment(value: datetime | None) -> SafeString | str:
    """A time in UTC, machine-readable, with the exact value on hover.

    A tag rather than an included template with three `date` filters: list pages render
    hundreds of these, and an include costs a context push and a template lookup each time.
    """
    if value is None:
        return "—"
    utc = value.astimezone(UTC)
    iso = utc.isoformat()
    # Digits, letters and punctuation of our own making: nothing here needs escaping. Sliced
    # from the ISO form rather than strftime'd twice: list pages render hundreds of these.
    return SafeString(
        f'<time datetime="{iso}" title="{iso[:10]} {iso[11:19]} UTC">'
        f"{utc.day} {MONTHS[utc.month - 1]} {utc.year}, {iso[11:16]} UTC</time>"
    )
