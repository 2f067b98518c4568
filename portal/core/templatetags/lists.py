"""Tags the list pages share (portal/lists.py renders their rows)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from django import template
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def options(choices: Iterable[tuple[object, object]], selected: object) -> SafeString:
    """A select's options with `selected` marked, compared as text (the URL's form): one tag
    instead of a template loop, which filter forms render on every keystroke."""
    chosen = "" if selected is None else str(selected)
    return SafeString(
        "".join(
            f'<option value="{escape(str(value))}"{" selected" if str(value) == chosen else ""}>'
            f"{escape(str(label))}</option>"
            for value, label in choices
        )
    )
