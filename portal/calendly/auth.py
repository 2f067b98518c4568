"""Bearer authentication that keeps working for as long as the work lasts.

A sync or a bulk job can outlive the 2-hour access token it started with. The client reads
the token for every request from a `TokenSource` instead of once: the source renews it when it
is close to expiry, and once more when Calendly answers 401 to the token just sent (it may
have expired in flight, or another process renewed it meanwhile). Whether a renewal is due,
and who does it, is the source's business; this module only asks.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Protocol

import httpx


class TokenSource(Protocol):
    def current(self) -> str:
        """A token to send now, renewed first if it is about to expire. Raises
        `errors.TokenUnavailable` (or another CalendlyError from the renewal itself)."""
        ...

    def after_rejection(self, rejected: str) -> str | None:
        """The token to try instead of `rejected`, which Calendly just answered 401 to; None
        when there is nothing better (a personal access token cannot be renewed)."""
        ...


class RenewingBearerAuth(httpx.Auth):
    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        token = self.source.current()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        # A 401 means Calendly did not act on the request, so sending it again is safe.
        fresh = self.source.after_rejection(token)
        if fresh is not None and fresh != token:
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request


class StaticToken:
    """A token that is what it is: a personal access token, or a sign-in's own token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def current(self) -> str:
        return self.token

    def after_rejection(self, rejected: str) -> str | None:
        return None
