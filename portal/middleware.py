from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone


@lru_cache(maxsize=512)
def zone_named(name: str) -> tzinfo:
    """The IANA zone `name`, or UTC for an empty, unknown or malformed name.

    Cached by name: reading a zone file per request would cost more than the page's times, and
    a bad name would raise again every time. Bounded, though names come from Calendly.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


class ViewerTimeZoneMiddleware:
    """Renders the request in the signed-in person's own time zone (their Calendly setting).

    Django's current time zone rather than a value in the template context: `{% moment %}`
    and rows rendered in Python both read it, and so do Django's own date rendering and the
    admin. People signed out, and those without a zone, see UTC.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with timezone.override(zone_named(getattr(request.user, "timezone", ""))):
            return self.get_response(request)


class HtmxMessagesMiddleware:
    """Delivers Django messages on htmx responses too.

    A full page shows messages through the base template; an htmx swap replaces only part of
    the page, so pending messages ride along as an out-of-band swap of the messages area.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "htmx", False):
            return response
        # A redirect, or an htmx redirect header, leads to a new page that shows the messages.
        if response.status_code in (301, 302, 303, 307, 308) or any(
            header in response.headers for header in ("HX-Redirect", "HX-Location", "HX-Refresh")
        ):
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        if getattr(response, "streaming", False):
            return response
        pending = messages.get_messages(request)
        if not pending:
            return response
        response.write(
            render_to_string(
                "components/messages.html", {"messages": pending, "oob": True}, request=request
            )
        )
        return response
