"""Changes to the organization in Calendly: invite, revoke, resend, remove.

Each action checks what the mirror already knows before calling Calendly (so an obvious
duplicate costs no request), calls Calendly through the organization's connection, updates
the mirror with what Calendly answered (so the page is right at once, before the next sync),
and writes one audit row. Every Calendly refusal becomes a sentence for the person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone

from portal import audit
from portal.accounts.connections import (
    ConnectionUnavailable,
    client_for,
    mark_needs_reauthorization,
)
from portal.accounts.models import Connection, Organization, User
from portal.calendly import errors
from portal.calendly.auth import TokenUnavailable
from portal.calendly.client import CalendlyClient
from portal.calendly.schemas import OrganizationInvitation
from portal.core.text import storable
from portal.directory.models import Invitation, Member

log = logging.getLogger(__name__)

# More than this at once is bulk work for a background job, not a form post.
MAX_INVITES_AT_ONCE = 20
# The longest address Calendly accepts (RFC 5321's path limit less its angle brackets).
# Checked before any call: an address Calendly takes but nothing else can hold must never
# reach it.
MAX_EMAIL_LENGTH = 254


class Outcome(StrEnum):
    INVITED = "invited"
    ALREADY_MEMBER = "already_member"
    ALREADY_INVITED = "already_invited"
    INVALID = "invalid"
    FAILED = "failed"


@dataclass(frozen=True)
class InviteResult:
    email: str
    outcome: Outcome
    message: str

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.INVITED


class ActionRefused(Exception):
    """Calendly (or the portal) refused; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def explain(error: errors.CalendlyError) -> str:
    """What a Calendly refusal means for an admin, and what to do about it."""
    text = f"{error.title} {error.message}".lower()
    if isinstance(error, errors.InsufficientScope):
        scopes = ", ".join(error.required_scopes) or "more permissions"
        return (
            f"The organization's Calendly connection lacks the permission for this ({scopes}). "
            "An admin needs to connect again and allow it."
        )
    if isinstance(error, errors.PermissionDenied):
        if "scim" in text:
            return (
                "Your organization manages its members through SCIM (your identity provider), "
                "so Calendly refuses changes made here. Make the change in your identity provider."
            )
        if "seats" in text or "allotted" in text:
            return (
                "No free seats: every paid seat is taken or already invited. Add seats on "
                "Calendly's billing page, then try again."
            )
        return (
            "Calendly refused: the connected account is not allowed to do this "
            f"({error.message or 'permission denied'})."
        )
    if isinstance(error, errors.Unauthenticated):
        return (
            "Calendly no longer accepts the organization's connection; an admin needs to "
            "connect again."
        )
    if isinstance(error, errors.RateLimited):
        wait = (
            f" in about {int(error.retry_after)} seconds" if error.retry_after else " in a minute"
        )
        return f"Calendly limits requests per minute and is pacing the portal; try again{wait}."
    if isinstance(error, errors.NotFound):
        return "Calendly no longer has this; refresh the member list to see the current state."
    if isinstance(error, errors.TransportFailure) and not error.sent:
        return "Calendly could not be reached; nothing was changed. Try again in a few minutes."
    if isinstance(error, TokenUnavailable):
        return (
            "The organization's Calendly connection could not renew its access, so nothing was "
            "changed; an admin needs to connect again."
        )
    if isinstance(error, errors.TransportFailure | errors.ServerError | errors.AmbiguousWrite):
        return (
            "Calendly did not answer properly, so it is not certain the change was made. "
            "Refresh the member list in a minute to see the current state before trying again."
        )
    return f"Calendly refused: {error.message or error.title or 'unknown error'}."


def _refused(organization: Organization, error: errors.CalendlyError) -> str:
    if isinstance(error, errors.Unauthenticated):
        # The grant was revoked or expired behind the portal's back: every admin page says so
        # from now on, instead of each action failing on its own.
        connection = Connection.objects.filter(organization=organization).first()
        if connection is not None:
            mark_needs_reauthorization(connection, "Calendly refused the connection's token.")
    return explain(error)


def _client(organization: Organization) -> CalendlyClient:
    try:
        return client_for(organization)
    except ConnectionUnavailable as exc:
        raise ActionRefused(
            f"The organization's Calendly connection needs attention ({exc.reason}); an admin "
            "needs to connect it again before changes can be made."
        ) from exc


def parse_emails(text: str) -> tuple[list[str], list[InviteResult]]:
    """Addresses from a textarea (one per line, or separated by commas or spaces)."""
    seen: set[str] = set()
    valid: list[str] = []
    invalid: list[InviteResult] = []
    for raw in text.replace(",", " ").replace(";", " ").split():
        email = raw.strip().strip("<>").lower()
        if not email or email in seen:
            continue
        seen.add(email)
        if len(email) > MAX_EMAIL_LENGTH:
            invalid.append(
                InviteResult(
                    f"{raw[:40]}…",
                    Outcome.INVALID,
                    f"This address is {len(email)} characters long; Calendly accepts at most "
                    f"{MAX_EMAIL_LENGTH}. Nothing was sent for it.",
                )
            )
            continue
        try:
            validate_email(email)
        except ValidationError:
            invalid.append(InviteResult(raw, Outcome.INVALID, "This is not an email address."))
        else:
            valid.append(email)
    return valid, invalid


def invite(
    *, organization: Organization, actor: User, emails: list[str], request: HttpRequest | None
) -> list[InviteResult]:
    if len(emails) > MAX_INVITES_AT_ONCE:
        raise ActionRefused(
            f"At most {MAX_INVITES_AT_ONCE} invitations at once here; for more, use a bulk "
            "invitation job."
        )
    results: list[InviteResult] = []
    to_send: list[str] = []
    members = set(
        Member.objects.current()
        .filter(organization=organization)
        .annotate(address=Lower("email"))
        .filter(address__in=emails)
        .values_list("address", flat=True)
    )
    pending = set(
        Invitation.objects.current()
        .filter(organization=organization, status=Invitation.Status.PENDING)
        .annotate(address=Lower("email"))
        .filter(address__in=emails)
        .values_list("address", flat=True)
    )
    for email in emails:
        if email in members:
            results.append(InviteResult(email, Outcome.ALREADY_MEMBER, "Already a member."))
        elif email in pending:
            results.append(
                InviteResult(email, Outcome.ALREADY_INVITED, "Already invited; still pending.")
            )
        else:
            to_send.append(email)
    if not to_send:
        return results

    with _client(organization) as client:
        for email in to_send:
            results.append(_invite_one(client, organization, actor, email, request))
    return results


def _invite_one(
    client: CalendlyClient,
    organization: Organization,
    actor: User,
    email: str,
    request: HttpRequest | None,
) -> InviteResult:
    try:
        sent = client.invite_user_to_organization(organization=organization.uri, email=email)
    except errors.AlreadyOrganizationMember:
        return InviteResult(email, Outcome.ALREADY_MEMBER, "Already a member (says Calendly).")
    except errors.AlreadyInvited:
        return InviteResult(
            email, Outcome.ALREADY_INVITED, "Already invited (says Calendly); still pending."
        )
    except errors.CalendlyError as error:
        return InviteResult(email, Outcome.FAILED, _refused(organization, error))
    with transaction.atomic():
        row = _store_invitation(organization, sent)
        audit.record(
            action=audit.Action.INVITED,
            organization=organization,
            actor=actor,
            target=row,
            target_label=email,
            after={"email": email, "status": sent.status},
            request=request,
        )
    return InviteResult(email, Outcome.INVITED, "Invited; Calendly has emailed the invitation.")


def _store_invitation(organization: Organization, sent: OrganizationInvitation) -> Invitation:
    row, _ = Invitation.objects.update_or_create(
        uri=storable(sent.uri),
        defaults={
            "organization": organization,
            "email": storable(sent.email),
            "status": storable(sent.status),
            "last_sent_at": sent.last_sent_at,
            "calendly_created_at": sent.created_at,
            "calendly_updated_at": sent.updated_at,
            "removed_at": None,
        },
    )
    return row


def revoke(
    *, organization: Organization, actor: User, invitation: Invitation, request: HttpRequest
) -> None:
    if invitation.status != Invitation.Status.PENDING or invitation.removed_at is not None:
        raise ActionRefused("Only a pending invitation can be revoked.")
    with _client(organization) as client:
        try:
            client.revoke_user_organization_invitation(invitation=invitation.uri)
        except errors.NotFound:
            pass  # already gone in Calendly: the mirror just catches up
        except errors.BadRequest as error:
            if "accepted" in f"{error.title} {error.message}".lower():
                raise ActionRefused(
                    f"{invitation.email} has already accepted the invitation and is a member "
                    "now; remove them as a member instead."
                ) from error
            raise ActionRefused(_refused(organization, error)) from error
        except errors.CalendlyError as error:
            raise ActionRefused(_refused(organization, error)) from error
    with transaction.atomic():
        # Calendly has no "revoked" status: the invitation simply disappears from its lists.
        Invitation.objects.filter(pk=invitation.pk).update(removed_at=timezone.now())
        audit.record(
            action=audit.Action.INVITATION_REVOKED,
            organization=organization,
            actor=actor,
            target=invitation,
            target_label=invitation.email,
            before={"email": invitation.email, "status": invitation.status},
            request=request,
        )


def resend(
    *, organization: Organization, actor: User, invitation: Invitation, request: HttpRequest
) -> InviteResult:
    """Calendly's API cannot resend an invitation: revoke it, then invite the address again."""
    revoke(organization=organization, actor=actor, invitation=invitation, request=request)
    with _client(organization) as client:
        return _invite_one(client, organization, actor, invitation.email, request)


def removal_refusal(*, member: Member, actor: User) -> str | None:
    """Why this person cannot be removed, said before anyone clicks; None when they can."""
    if member.removed_at is not None:
        return f"{member.name} is no longer a member."
    if member.role == Member.Role.OWNER:
        return (
            f"{member.name} owns the organization. Calendly does not let the owner be removed; "
            "ownership can only be transferred in Calendly's admin center."
        )
    if actor.calendly_uri and member.user_uri == actor.calendly_uri:
        return "You cannot remove yourself; another admin has to do it."
    return None


def remove(
    *, organization: Organization, actor: User, member: Member, request: HttpRequest
) -> None:
    refusal = removal_refusal(member=member, actor=actor)
    if refusal:
        raise ActionRefused(refusal)
    with _client(organization) as client:
        try:
            client.remove_user_from_organization(membership=member.uri)
        except errors.NotFound:
            pass  # already removed in Calendly
        except errors.CalendlyError as error:
            raise ActionRefused(_refused(organization, error)) from error
    now = timezone.now()
    with transaction.atomic():
        Member.objects.filter(pk=member.pk).update(removed_at=now)
        # Their portal access ends with their membership.
        User.objects.filter(organization=organization, calendly_uri=member.user_uri).update(
            is_active=False
        )
        audit.record(
            action=audit.Action.MEMBER_REMOVED,
            organization=organization,
            actor=actor,
            target=member,
            target_label=f"{member.name} ({member.email})",
            before={"email": member.email, "role": member.role},
            after={"removed_at": now},
            request=request,
        )
