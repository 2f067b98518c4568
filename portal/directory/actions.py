"""Changes to the organization in Calendly: invite, revoke, resend, remove.

Each action checks what the mirror already knows before calling Calendly (so an obvious
duplicate costs no request), calls Calendly through the organization's connection, updates
the mirror with what Calendly answered (so the page is right at once, before the next sync),
and writes one audit row. Every Calendly refusal becomes a sentence for the person, in the
words of `calendly.errors.explain`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone

from portal import audit
from portal.accounts.connections import ConnectionUnavailable, client_for, note_failure
from portal.accounts.models import Organization, User
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.calendly.schemas import OrganizationInvitation
from portal.core.emails import MAX_EMAIL_LENGTH, address_problem, normalise
from portal.core.text import storable
from portal.directory.mirror import mirror_changed
from portal.directory.models import Invitation, Member

log = logging.getLogger(__name__)

# More than this at once is bulk work for a background job, not a form post.
MAX_INVITES_AT_ONCE = 20


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


def _refused(
    organization: Organization, error: errors.CalendlyError, *, doing: str | None = None
) -> str:
    """The sentence for a change Calendly did not make (or may not have made)."""
    note_failure(organization, error)
    return errors.explain(error, doing=doing, changing=True)


def _client(organization: Organization) -> CalendlyClient:
    try:
        return client_for(organization)
    except ConnectionUnavailable as exc:
        raise ActionRefused(errors.explain(exc)) from exc


def parse_emails(text: str) -> tuple[list[str], list[InviteResult]]:
    """Addresses from a textarea (one per line, or separated by commas or spaces)."""
    seen: set[str] = set()
    valid: list[str] = []
    invalid: list[InviteResult] = []
    for raw in text.replace(",", " ").replace(";", " ").split():
        email = normalise(raw)
        if not email or email in seen:
            continue
        seen.add(email)
        problem = address_problem(email)
        if problem is None:
            valid.append(email)
        else:
            shown = f"{raw[:40]}…" if len(email) > MAX_EMAIL_LENGTH else raw
            invalid.append(InviteResult(shown, Outcome.INVALID, problem))
    return valid, invalid


def invite(
    *, organization: Organization, actor: User, emails: list[str], request: HttpRequest | None
) -> list[InviteResult]:
    if len(emails) > MAX_INVITES_AT_ONCE:
        raise ActionRefused(
            f"At most {MAX_INVITES_AT_ONCE} invitations at once here; for more, use Invite "
            "from a file."
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
    except errors.AlreadyOrganizationMember as error:
        return InviteResult(email, Outcome.ALREADY_MEMBER, errors.explain(error))
    except errors.AlreadyInvited as error:
        return InviteResult(email, Outcome.ALREADY_INVITED, errors.explain(error))
    except errors.CalendlyError as error:
        return InviteResult(email, Outcome.FAILED, _refused(organization, error))
    with transaction.atomic():
        row = store_invitation(organization, sent)
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


def store_invitation(organization: Organization, sent: OrganizationInvitation) -> Invitation:
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
        except errors.CalendlyError as error:
            doing = f"revoking the invitation of {invitation.email}"
            raise ActionRefused(_refused(organization, error, doing=doing)) from error
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


@dataclass(frozen=True)
class Live:
    """What Calendly says now of a member or an invitation the directory holds: `found` is
    False when Calendly no longer has it; `status` is the membership's role or the
    invitation's status; `problem` says why Calendly could not be asked (the page then goes
    on from what the directory last read)."""

    found: bool = True
    status: str = ""
    problem: str = ""


def _read_live[T](
    organization: Organization, read: Callable[[CalendlyClient], T], doing: str
) -> T | Live:
    """`read`'s answer, or the Live that says the thing is gone or could not be read."""
    try:
        with _client(organization) as client:
            return read(client)
    except ActionRefused as refused:
        return Live(problem=refused.message)
    except errors.NotFound:
        return Live(found=False)
    except errors.CalendlyError as error:
        note_failure(organization, error)
        return Live(problem=errors.explain(error, doing=doing))


def membership_now(*, organization: Organization, member: Member) -> Live:
    """The member's organization membership as Calendly has it now (role, or gone)."""
    answer = _read_live(
        organization,
        lambda client: client.get_organization_membership(membership=member.uri),
        f"checking {member.name}'s membership in Calendly",
    )
    return answer if isinstance(answer, Live) else Live(status=answer.role)


def invitation_now(*, organization: Organization, invitation: Invitation) -> Live:
    """The invitation as Calendly has it now; the directory's row catches up with it. One
    Calendly no longer has was revoked (Calendly keeps no revoked invitations), so its row is
    marked removed, as revoking does."""
    answer = _read_live(
        organization,
        lambda client: client.get_organization_invitation(invitation=invitation.uri),
        f"checking the invitation of {invitation.email} in Calendly",
    )
    if isinstance(answer, Live):
        if not answer.found:
            invitation.removed_at = timezone.now()
            Invitation.objects.filter(pk=invitation.pk).update(removed_at=invitation.removed_at)
        return answer
    invitation.status = storable(answer.status)
    invitation.last_sent_at = answer.last_sent_at
    invitation.user_uri = storable(answer.user or "")
    invitation.calendly_updated_at = answer.updated_at
    Invitation.objects.filter(pk=invitation.pk).update(
        status=invitation.status,
        last_sent_at=invitation.last_sent_at,
        user_uri=invitation.user_uri,
        calendly_updated_at=invitation.calendly_updated_at,
    )
    return Live(status=answer.status)


def removal_refusal(*, member: Member, actor: User, live: Live | None = None) -> str | None:
    """Why this person cannot be removed, said before anyone clicks; None when they can.
    `live` is their membership as Calendly has it now, when it was read."""
    if member.removed_at is not None:
        return f"{member.name} is no longer a member."
    if live is not None and not live.found:
        return (
            f"Calendly no longer lists {member.name} as a member: they were removed in Calendly "
            "since the directory last read it. The next sync updates this page."
        )
    if member.role == Member.Role.OWNER or (live is not None and live.status == "owner"):
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
            doing = f"removing {member.name}"
            raise ActionRefused(_refused(organization, error, doing=doing)) from error
    now = timezone.now()
    with transaction.atomic():
        Member.objects.filter(pk=member.pk).update(removed_at=now)
        # Pages that keep the mirror's people per process (the link directory) read it again.
        mirror_changed(organization.pk)
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
