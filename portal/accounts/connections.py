"""Using an organization's Calendly connection: a fresh access token, and a client.

Calendly's refresh tokens are single-use and only 8 token requests per user per minute are
allowed, so a refresh must happen once, whoever needs it: web processes and workers alike take
a lock on the connection row, read it again (someone may have refreshed meanwhile), refresh,
and store the new pair before anyone uses it. authlib's own refresh lock only covers one client
object in one process.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.accounts.models import Connection, Organization
from portal.calendly.client import CalendlyClient
from portal.calendly.errors import (
    CalendlyError,
    OAuthError,
    OAuthRateLimited,
    TokenUnavailable,
    Unauthenticated,
)
from portal.calendly.oauth import CalendlyOAuth
from portal.calendly.ratelimit import RateLimiter, limiter_for

log = logging.getLogger(__name__)

# Refresh this long before expiry, so a token never runs out in the middle of a job step;
# a fifth of the token's life when that is shorter (tokens issued for seconds, in tests).
REFRESH_MARGIN = timedelta(minutes=5)


class ConnectionUnavailable(TokenUnavailable):
    """The organization has no usable Calendly connection; an admin must (re)connect it.

    A `TokenUnavailable`, so it is explained like any other answer about Calendly: whether the
    connection was missing before a request or its renewal failed during one, the person is
    told the same thing."""

    def __init__(self, organization: Organization, reason: str) -> None:
        self.organization = organization
        self.reason = reason
        super().__init__(message=reason)


def get_connection(organization: Organization) -> Connection:
    try:
        connection = Connection.objects.get(organization=organization)
    except Connection.DoesNotExist:
        raise ConnectionUnavailable(
            organization, "no organization admin has connected yet"
        ) from None
    if connection.status == Connection.Status.NEEDS_REAUTHORIZATION:
        raise ConnectionUnavailable(organization, connection.status_detail or "connect it again")
    return connection


def expires_soon(connection: Connection) -> bool:
    if connection.expires_at is None:
        return False
    margin = REFRESH_MARGIN
    if connection.refreshed_at is not None:
        margin = min(margin, (connection.expires_at - connection.refreshed_at) / 5)
    return connection.expires_at - margin <= timezone.now()


def access_token(connection: Connection, *, oauth: CalendlyOAuth | None = None) -> str:
    """A usable access token for the connection, refreshing it first when it is about to expire."""
    if not expires_soon(connection):
        return str(connection.access_token)
    return _refresh(connection, oauth or CalendlyOAuth())


def _refresh(connection: Connection, oauth: CalendlyOAuth, *, rejected: str | None = None) -> str:
    """Renew the access token once, whoever asks first. Without `rejected`, only when it is
    about to expire; with it (Calendly just refused that token), unless it was renewed since."""
    failure: OAuthError | None = None
    with transaction.atomic():
        # PostgreSQL: a row lock held across the token request. SQLite has no row locks, but
        # the portal opens its transactions IMMEDIATE there, which serialises writers the same way.
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        if row.status == Connection.Status.NEEDS_REAUTHORIZATION:
            raise ConnectionUnavailable(row.organization, row.status_detail)
        due = expires_soon(row) if rejected is None else str(row.access_token) == rejected
        if not due:
            connection.refresh_from_db()
            return str(row.access_token)
        try:
            grant = oauth.refresh(refresh_token=row.refresh_token)
        except OAuthRateLimited:
            raise  # nothing was spent; the caller may try again after the wait
        except OAuthError as exc:
            # Refused, or maybe applied with the answer lost: either way the stored refresh
            # token can no longer be trusted, and retrying could burn a good one.
            failure = exc
            Connection.objects.filter(pk=row.pk).update(
                status=Connection.Status.NEEDS_REAUTHORIZATION,
                status_detail=f"Refreshing the access token failed: {exc}",
                updated_at=timezone.now(),
            )
        else:
            stored = Connection.objects.filter(pk=row.pk, token_version=row.token_version).update(
                access_token=grant.access_token,
                refresh_token=grant.refresh_token,
                expires_at=grant.expires_at,
                scopes=grant.scope or row.scopes,
                token_version=row.token_version + 1,
                refreshed_at=timezone.now(),
                updated_at=timezone.now(),
            )
            if stored != 1:
                # Cannot happen under the row lock; if it ever does, another refresh won and
                # the token just obtained is already stale.
                raise ConnectionUnavailable(row.organization, "a concurrent refresh raced this one")
    connection.refresh_from_db()
    if failure is not None:
        log.warning(
            "Calendly connection of %s needs re-authorization: %s", row.organization, failure
        )
        raise ConnectionUnavailable(connection.organization, connection.status_detail) from failure
    return str(connection.access_token)


def mark_needs_reauthorization(connection: Connection, reason: str) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.NEEDS_REAUTHORIZATION,
        status_detail=reason,
        updated_at=timezone.now(),
    )
    connection.refresh_from_db()


def note_failure(organization: Organization, error: CalendlyError) -> None:
    """Act on what a failed call says about the connection itself.

    A token Calendly refused (a grant revoked or expired behind the portal's back, or a
    deleted personal access token) marks the connection, so every admin page says so from now
    on instead of each action and sync failing on its own.
    """
    if isinstance(error, Unauthenticated):
        connection = Connection.objects.filter(organization=organization).first()
        if connection is not None:
            mark_needs_reauthorization(connection, "Calendly refused the connection's token.")


class ConnectionTokens:
    """The connection's access token for every request a client sends (calendly.auth): renewed
    near expiry, and once after Calendly refuses it, however long the work goes on. Only a
    failed renewal marks the connection as needing to be connected again; it then raises
    `ConnectionUnavailable`, the `TokenUnavailable` the client expects."""

    def __init__(self, connection: Connection, *, oauth: CalendlyOAuth | None = None) -> None:
        self.connection = connection
        self.oauth = oauth

    def current(self) -> str:
        return access_token(self.connection, oauth=self.oauth)

    def after_rejection(self, rejected: str) -> str | None:
        if self.connection.kind != Connection.Kind.OAUTH or not self.connection.refresh_token:
            return None  # a personal access token is what it is
        return _refresh(self.connection, self.oauth or CalendlyOAuth(), rejected=rejected)


def client_for(organization: Organization, *, limiter: RateLimiter | None = None) -> CalendlyClient:
    """The one way to get a Calendly client acting through the organization's connection, for
    as long as the work lasts.

    Every process shares the rate-limit budget of the Calendly user behind the grant (through
    Redis when there is one), since Calendly counts requests per user, not per token; a
    caller may wrap that limiter (to count requests) and pass it in.
    """
    connection = get_connection(organization)
    return CalendlyClient(
        tokens=ConnectionTokens(connection),
        limiter=limiter or shared_limiter(connection),
    )


def shared_limiter(connection: Connection) -> RateLimiter:
    return limiter_for(connection.owner_uri, settings.REDIS_URL or None)


def each_usable_organization(task: Any, *args: Any) -> int:
    """Beat's periodic fan-out: `task` queued, once the current transaction commits, for every
    organization whose connection is usable, with the organization's id and then `args`;
    returns how many were queued."""
    organizations = Connection.objects.exclude(
        status=Connection.Status.NEEDS_REAUTHORIZATION
    ).values_list("organization_id", flat=True)
    count = 0
    for organization_id in organizations:
        task.delay_on_commit(organization_id, *args)
        count += 1
    return count
