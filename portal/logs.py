"""Logging filters: a refused request is one line, a server error keeps its traceback.

A 403 (a portal role that does not open the page) or a 404 is an answer the portal meant to
give. Django logs a PermissionDenied with its traceback, and the development server adds an
access line of its own; a page of traceback per refusal buries the real errors.
"""

from __future__ import annotations

import logging
from http.client import responses

from django.http import HttpRequest


def _client_error(record: logging.LogRecord) -> int | None:
    status = getattr(record, "status_code", None)
    return status if isinstance(status, int) and 400 <= status < 500 else None


def _escaped(text: str) -> str:
    # As Django escapes what it logs from a request: a crafted path cannot forge log lines.
    return text.encode("unicode_escape").decode("ascii")


def _who(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "anonymous"
    # The id, not the email: logs travel further than the database does.
    return f"user {user.pk}"


class OneLineRefusals(logging.Filter):
    """On `django.request`: rewrites a client error (4xx) as "GET /path 403 Forbidden by user
    7: why", without the traceback. Server errors (5xx) pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        status = _client_error(record)
        if status is None or not isinstance(request, HttpRequest):
            return True
        why = f": {record.exc_info[1]}" if record.exc_info and record.exc_info[1] else ""
        record.msg = "%s %s %s %s by %s%s"
        record.args = (
            _escaped(request.method or ""),
            _escaped(request.path),
            status,
            responses.get(status, "Client Error"),
            _who(request),
            _escaped(why),
        )
        record.exc_info = None
        record.exc_text = None
        return True


class NoClientErrorAccessLines(logging.Filter):
    """On `django.server` (the development server's access log): drops the line of a client
    error, which `django.request` has already logged with who asked."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _client_error(record) is None
