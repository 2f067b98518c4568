from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def moment(value: datetime | None) -> SafeString | str:
    """A time in UTC, machine-readable, with the exact value on hover.

    A tag rather than an included template with three `date` filters: list pages render
    hundreds of these, and an include costs a context push and a template lookup each time.
    """
    if value is None:
        return "—"
    utc = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{} UTC</time>',
        utc.isoformat(),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        f"{utc.day} {utc:%b %Y, %H:%M}",
    )
