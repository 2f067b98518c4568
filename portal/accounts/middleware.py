from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control

from portal.accounts.actions import SIGNED_IN_AT

LAST_SEEN = "last_seen_at"
# Writing the session on every request would cost a database write per page; a minute of
# slack on a 30-minute idle limit costs nothing.
LAST_SEEN_GRANULARITY = timedelta(minutes=1)


class SessionLimitsMiddleware:
    """Ends sessions 12 hours after sign-in or after 30 idle minutes, and keeps pages with
    organization data out of every cache (the browser's back-forward cache included)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and self._expired(request):
            logout(request)
            messages.info(request, "Your session ended; sign in again to go on.")
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
            patch_cache_control(response, no_store=True, private=True)
        return response

    def _expired(self, request: HttpRequest) -> bool:
        now = timezone.now()
        signed_in_at = _moment(request.session.get(SIGNED_IN_AT))
        last_seen = _moment(request.session.get(LAST_SEEN)) or signed_in_at
        if signed_in_at is None:
            # Sessions made without signing in through Calendly (the Django admin's break-glass
            # login) start their clock now.
            request.session[SIGNED_IN_AT] = now.isoformat()
            signed_in_at = last_seen = now
        if now - signed_in_at > timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS):
            return True
        if last_seen is not None and now - last_seen > timedelta(
            seconds=settings.SESSION_IDLE_SECONDS
        ):
            return True
        if last_seen is None or now - last_seen >= LAST_SEEN_GRANULARITY:
            request.session[LAST_SEEN] = now.isoformat()
        return False


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
