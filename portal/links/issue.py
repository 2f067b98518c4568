"""What making any link shares (a single-use link, a share): the refusal a person reads, the
organization's Calendly client, and what the ledger copies of the event type and its rep."""

from __future__ import annotations

from typing import Any

from portal.accounts.connections import ConnectionUnavailable, client_for, note_failure
from portal.accounts.models import Organization
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.directory.models import EventType, Member


class LinkRefused(Exception):
    """The portal or Calendly would not do it; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def calendly(organization: Organization) -> CalendlyClient:
    """The organization's Calendly client; a missing or broken connection is a refusal."""
    try:
        return client_for(organization)
    except ConnectionUnavailable as exc:
        raise LinkRefused(errors.explain(exc)) from exc


def refused(organization: Organization, error: errors.CalendlyError, *, doing: str) -> LinkRefused:
    """The refusal for a change Calendly did not make (or may not have made)."""
    note_failure(organization, error)
    return LinkRefused(errors.explain(error, doing=doing, changing=True))


def rep_of(event_type: EventType) -> Member | None:
    """The member who owns a personal event type; None for a team's."""
    if event_type.profile_type == "Team" or not event_type.profile_owner_uri:
        return None
    return (
        Member.objects.filter(
            organization_id=event_type.organization_id, user_uri=event_type.profile_owner_uri
        )
        .order_by("removed_at")  # a current membership before an old one
        .first()
    )


def about(event_type: EventType | None, rep: Member | None) -> dict[str, Any]:
    """The ledger row's copy of the event type and the rep, so it reads right after the mirror
    loses either."""
    return {
        "event_type": event_type,
        "event_type_name": (event_type.name or event_type.slug) if event_type else "",
        "rep": rep,
        "rep_name": rep.name if rep else (event_type.profile_name if event_type else ""),
        "rep_email": rep.email if rep else "",
    }
