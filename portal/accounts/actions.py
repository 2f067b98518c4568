"""Signing in with Calendly and connecting an organization: the operations behind the views.

Sign-in is OAuth's authorization code flow with PKCE (S256) and a single-use `state` kept in
the session. The callback learns who the person is from the token response (`owner`,
`organization`) and their membership (for the role), then signs them in. An owner's or admin's
grant is held, encrypted, in their session until they choose "connect this organization"; no
one else's tokens are kept at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme

from portal import audit
from portal.accounts import crypto
from portal.accounts.models import GRANTABLE_ROLES, CalendlyRole, Connection, Organization, User
from portal.calendly.client import CalendlyClient
from portal.calendly.errors import CalendlyError, explain
from portal.calendly.oauth import CalendlyOAuth, TokenGrant, new_code_verifier, new_state
from portal.calendly.ratelimit import LocalRateLimiter
from portal.calendly.schemas import OrganizationMembership, uuid_of
from portal.core.text import storable

log = logging.getLogger(__name__)

PENDING_SIGN_IN = "calendly_sign_in"
PENDING_GRANT = "calendly_grant"
SIGNED_IN_AT = "signed_in_at"

# What the portal's features need, by the "Required scopes" of each endpoint it calls
# (https://developer.calendly.com/docs/authentication/scopes). Grants made before Calendly had
# scopes report "default" and can do everything their role allows.
REQUIRED_SCOPES = (
    "users:read",
    "organizations:read",
    "organizations:write",
    "groups:read",
    "event_types:read",
    "availability:read",
    "scheduling_links:write",
    "shares:write",
    "webhooks:read",
    "webhooks:write",
    "scheduled_events:read",
)


class SignInFailed(Exception):
    """The sign-in cannot go on; `message` says why in words for the person."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class NoGrantToConnect(Exception):
    """Connecting needs a fresh sign-in: the grant is only kept for the session that got it."""


@dataclass(frozen=True)
class SignedIn:
    user: User
    next_url: str
    may_connect: bool


def callback_url(request: HttpRequest) -> str:
    # Calendly compares it with the redirect URI registered for the OAuth app, and the token
    # request must repeat the authorize request's value exactly.
    return request.build_absolute_uri(reverse("accounts:callback"))


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("home")


def begin_sign_in(request: HttpRequest, *, next_url: str | None) -> str:
    """Start a sign-in; returns Calendly's authorize URL to send the browser to."""
    state, verifier = new_state(), new_code_verifier()
    # One pending sign-in per session: starting again replaces (and so voids) the last one.
    request.session[PENDING_SIGN_IN] = {
        "state": state,
        "verifier": verifier,
        "next": safe_next(request, next_url),
    }
    with CalendlyOAuth() as oauth:
        return oauth.authorization_url(
            redirect_uri=callback_url(request), state=state, code_verifier=verifier
        )


def finish_sign_in(request: HttpRequest, params: Mapping[str, str] | None) -> SignedIn:
    """Handle Calendly's redirect back (`params` None: its query could not be read). Raises
    SignInFailed; never signs in on doubt."""
    pending = request.session.pop(PENDING_SIGN_IN, None)  # single use, whatever happens next
    if not isinstance(pending, dict):
        raise SignInFailed(
            "This sign-in was not started here, or it was already used. Start again from the "
            "sign-in page."
        )
    if params is None:
        raise SignInFailed("The answer from Calendly could not be read. Start again.")
    if not constant_time_compare(params.get("state", ""), pending["state"]):
        raise SignInFailed(
            "The answer from Calendly does not belong to the sign-in you started. Start again "
            "from the sign-in page."
        )
    if params.get("error"):
        if params["error"] == "access_denied":
            raise SignInFailed(
                "You chose not to allow the portal to use your Calendly account, so you are "
                "not signed in."
            )
        raise SignInFailed(f"Calendly did not sign you in ({params['error']}). Try again.")
    code = params.get("code")
    if not code:
        raise SignInFailed("Calendly's answer had no sign-in code. Start again.")

    try:
        with CalendlyOAuth() as oauth:
            grant = oauth.exchange_code(
                code=code, redirect_uri=callback_url(request), code_verifier=pending["verifier"]
            )
    except CalendlyError as exc:
        raise SignInFailed(explain(exc, doing="signing you in")) from exc

    try:
        membership = _membership(grant)
    except SignInFailed:
        _revoke_quietly(grant)
        raise
    organization = Organization.objects.filter(uri=membership.organization).first()
    is_admin = membership.role in (CalendlyRole.OWNER, CalendlyRole.ADMIN)
    if organization is None and not is_admin:
        _revoke_quietly(grant)
        raise SignInFailed(
            "Your Calendly organization does not use this portal yet. An owner or admin of "
            "your organization needs to sign in first and connect it."
        )
    keep = is_admin and _may_connect(organization, next_url=pending["next"])
    token = (
        "kept for connecting"
        if keep
        else _settle_sign_in_token(grant, organization, person_uri=membership.user.uri)
    )
    with transaction.atomic():
        if organization is None:
            organization = Organization.objects.create(uri=membership.organization)
        user = _person(membership, organization)
        # A new session id: nothing from before sign-in carries a session. The backend is named
        # because axes' comes first and there is no password to check: Calendly vouched.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SIGNED_IN_AT] = timezone.now().isoformat()
        audit.record(
            action=audit.Action.SIGN_IN,
            organization=organization,
            actor=user,
            target=user,
            after={"calendly_role": membership.role, "sign_in_grant": token},
            request=request,
        )
    if keep:
        request.session[PENDING_GRANT] = crypto.encrypt(json.dumps(_grant_json(grant)))
    return SignedIn(user=user, next_url=pending["next"], may_connect=keep)


def _may_connect(organization: Organization | None, *, next_url: str) -> bool:
    """Whether an owner's or admin's sign-in grant is worth keeping for "connect": nothing is
    connected, the connection needs attention, or they came to connect."""
    connection = Connection.objects.filter(organization=organization).first()
    if connection is None or connection.needs_attention:
        return True
    return next_url == reverse("accounts:connect")


def _settle_sign_in_token(
    grant: TokenGrant, organization: Organization | None, *, person_uri: str
) -> str:
    """Revoke a sign-in grant the portal has no more use for, once it knows who signed in.

    Except the grant of the person whose grant is the organization's connection: Calendly's
    documentation of /oauth/revoke does not say whether revoking one token also ends the same
    user's other grants to the app, and losing the connection would be worse than a live token.
    """
    connection = Connection.objects.filter(organization=organization).first()
    if connection is not None and connection.owner_uri == person_uri:
        return "kept: the connection is this person's grant"
    return "revoked" if _revoke_quietly(grant) else "revoking failed"


def _revoke_quietly(grant: TokenGrant) -> bool:
    """Revoke both tokens of a grant; a failure is logged and reported, never raised, since
    the person's sign-in should not fail because Calendly's revocation did."""
    try:
        revoke_grant(access_token=grant.access_token, refresh_token=grant.refresh_token)
    except CalendlyError as exc:
        log.warning("Revoking a sign-in grant at Calendly failed: %s", exc.describe())
        return False
    return True


def revoke_grant(*, access_token: str, refresh_token: str) -> None:
    """End an OAuth grant at Calendly: the refresh token first (so no new access token can be
    made from it), then the access token. Raises CalendlyError (an OAuthError, or Unreachable)."""
    with CalendlyOAuth() as oauth:
        for token in (refresh_token, access_token):
            if token:
                oauth.revoke(token=token)


def discard_pending_grant(request: HttpRequest, *, user: User) -> str | None:
    """Signing out with a grant still held for "connect": revoke it, unless the same person's
    grant is the organization's connection. Returns what happened to it, None without one."""
    grant = _stored_grant(request)
    request.session.pop(PENDING_GRANT, None)
    if grant is None:
        return None
    return _settle_sign_in_token(grant, user.organization, person_uri=user.calendly_uri or "")


def _membership(grant: TokenGrant) -> OrganizationMembership:
    try:
        # The person's own token, used once and not kept: pace it on its own, locally.
        with CalendlyClient(token=grant.access_token, limiter=LocalRateLimiter()) as client:
            owner = grant.owner or client.get_current_user().uri
            organization = grant.organization or client.get_current_user().current_organization
            memberships = list(
                client.list_organization_memberships(user=owner, organization=organization)
            )
    except CalendlyError as exc:
        raise SignInFailed(explain(exc, doing="finding out who you are")) from exc
    if not memberships:
        raise SignInFailed(
            "Your Calendly account is not a member of an organization, and the portal works "
            "for organizations only."
        )
    return memberships[0]


def _person(membership: OrganizationMembership, organization: Organization) -> User:
    person = membership.user
    first, _, last = storable(person.name).partition(" ")
    details = {
        "organization": organization,
        "calendly_role": storable(membership.role),
        "email": storable(person.email),
        # Django's name columns hold 150 characters; Calendly's names can be longer.
        "first_name": first[:150],
        "last_name": last[:150],
        "timezone": storable(person.timezone),
    }
    user, _ = User.objects.update_or_create(
        calendly_uri=storable(person.uri),
        defaults={**details, "is_active": True},
        create_defaults={
            **details,
            "username": storable(f"calendly-{uuid_of(person.uri)}")[:150],
        },
    )
    return user


def _grant_json(grant: TokenGrant) -> dict[str, str | None]:
    data = asdict(grant)
    data["expires_at"] = grant.expires_at.isoformat() if grant.expires_at else None
    return data


def _stored_grant(request: HttpRequest) -> TokenGrant | None:
    raw = request.session.get(PENDING_GRANT)
    if not raw:
        return None
    data = json.loads(crypto.decrypt(raw))
    expires_at = datetime.fromisoformat(data["expires_at"]) if data["expires_at"] else None
    return TokenGrant(**{**data, "expires_at": expires_at})


def _grant_from_session(request: HttpRequest) -> TokenGrant:
    grant = _stored_grant(request)
    # An expired access token is no use for connecting (its refresh token may still be live:
    # signing out revokes it).
    if grant is None or (grant.expires_at is not None and grant.expires_at <= timezone.now()):
        raise NoGrantToConnect
    return grant


def missing_scopes(granted: str) -> list[str]:
    scopes = set(granted.split())
    if not scopes or "default" in scopes:
        return []
    # A :write scope includes the matching :read one.
    implied = {scope.replace(":write", ":read") for scope in scopes if scope.endswith(":write")}
    return [scope for scope in REQUIRED_SCOPES if scope not in scopes | implied]


def connect_organization(request: HttpRequest, *, user: User) -> Connection:
    """Make the signed-in owner's or admin's grant the organization's connection."""
    grant = _grant_from_session(request)
    if grant.owner and grant.owner != user.calendly_uri:
        raise NoGrantToConnect
    organization = user.organization
    assert organization is not None  # only admins of an organization get here
    connection = store_connection(
        organization,
        kind=Connection.Kind.OAUTH,
        owner_uri=user.calendly_uri or grant.owner,
        owner_label=user.email,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        expires_at=grant.expires_at,
        scopes=grant.scope,
        actor=user,
        request=request,
    )
    del request.session[PENDING_GRANT]
    return connection


def store_connection(
    organization: Organization,
    *,
    kind: str,
    owner_uri: str,
    owner_label: str,
    access_token: str,
    refresh_token: str = "",
    expires_at: datetime | None = None,
    scopes: str = "",
    actor: User | None = None,
    actor_label: str = "",
    request: HttpRequest | None = None,
) -> Connection:
    """Make these tokens the organization's one connection, replacing any before it, and audit
    it: an OAuth grant from signing in, or a personal access token (no refresh token, no expiry,
    no scopes). `actor` is who connected; without one (a command), `actor_label` names it."""
    missing = missing_scopes(scopes)
    with transaction.atomic():
        previous = Connection.objects.filter(organization=organization).first()
        connection, _ = Connection.objects.update_or_create(
            organization=organization,
            defaults={
                "kind": kind,
                "owner_uri": owner_uri,
                "owner_label": owner_label,
                "connected_by": actor,
                "access_token": access_token,
                "refresh_token": refresh_token,
                "expires_at": expires_at,
                "scopes": scopes,
                "status": Connection.Status.MISSING_SCOPES
                if missing
                else Connection.Status.HEALTHY,
                "status_detail": "",
                "missing_scopes": missing,
                "token_version": (previous.token_version + 1) if previous else 0,
                # When this token was issued: how long tokens live decides when to renew them.
                "refreshed_at": timezone.now(),
            },
        )
        audit.record(
            action=audit.Action.CONNECTED,
            organization=organization,
            actor=actor,
            actor_label=actor_label,
            target=organization,
            before=_connection_summary(previous) if previous else None,
            after=_connection_summary(connection),
            request=request,
        )
    return connection


def disconnect_organization(request: HttpRequest, *, user: User) -> bool | None:
    """Forget the organization's connection and end its grant at Calendly. Returns whether
    Calendly confirmed the revocation (None: a personal access token, which only its owner
    can revoke, in Calendly)."""
    organization = user.organization
    connection = Connection.objects.filter(organization=organization).first()
    if connection is None:
        return None
    revoked: bool | None = None
    if connection.kind == Connection.Kind.OAUTH:
        try:
            revoke_grant(
                access_token=str(connection.access_token),
                refresh_token=str(connection.refresh_token),
            )
            revoked = True
        except CalendlyError as exc:
            # The portal forgets the grant either way; the page says Calendly may still list it.
            log.warning(
                "Revoking the grant of %s at Calendly failed: %s", organization, exc.describe()
            )
            revoked = False
    with transaction.atomic():
        before = _connection_summary(connection)
        connection.delete()
        audit.record(
            action=audit.Action.DISCONNECTED,
            organization=organization,
            actor=user,
            target=organization,
            before=before,
            after={"revoked_at_calendly": revoked},
            request=request,
        )
    return revoked


def _connection_summary(connection: Connection) -> dict[str, object]:
    return {
        "kind": connection.kind,
        "owner": connection.owner_uri,
        "status": connection.status,
        "scopes": connection.scopes,
    }


# -- portal roles -----------------------------------------------------------------------------


class RoleRefused(Exception):
    """The role cannot be given to this person; `message` says why."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def set_portal_role(
    *, person: User, role: str, actor: User, request: HttpRequest | None = None
) -> bool:
    """Give `person` a grantable portal role ("" takes it away), audited. False when nothing
    changed. Calendly owners and admins are portal admins whatever is stored: refused."""
    if role and role not in GRANTABLE_ROLES:
        raise RoleRefused(
            "That is not a role you can give. Portal admins are the organization's Calendly "
            "owner and admins; that is changed in Calendly's admin center."
        )
    if person.calendly_role in (CalendlyRole.OWNER, CalendlyRole.ADMIN):
        raise RoleRefused(
            f"{person.get_full_name() or person.email} is a Calendly {person.calendly_role} and "
            "so always a portal admin; that is changed in Calendly's admin center."
        )
    before = person.portal_role
    if role == before:
        return False
    with transaction.atomic():
        person.portal_role = role
        person.save(update_fields=["portal_role"])
        audit.record(
            action=audit.Action.ROLE_GRANTED if role else audit.Action.ROLE_REVOKED,
            organization=actor.organization,
            actor=actor,
            target=person,
            before={"portal_role": before},
            after={"portal_role": role},
            request=request,
        )
    return True


def account_for_member(
    *, organization: Organization, calendly_uri: str, name: str, email: str, calendly_role: str
) -> User:
    """The portal account of an organization member, made ahead of their first sign-in so an
    admin can give them a role: signing in with Calendly later finds it by their Calendly URI
    (`_person`) and keeps the role. It has no password, so nothing but that sign-in opens it."""
    uri = storable(calendly_uri)
    existing = User.objects.filter(calendly_uri=uri).first()
    if existing is not None:
        if existing.organization_id != organization.pk:
            raise RoleRefused("This person's portal account belongs to another organization.")
        return existing
    first, _, last = storable(name).partition(" ")
    person = User(
        username=storable(f"calendly-{uuid_of(calendly_uri)}")[:150],
        organization=organization,
        calendly_uri=uri,
        calendly_role=storable(calendly_role),
        email=storable(email),
        first_name=first[:150],
        last_name=last[:150],
    )
    person.set_unusable_password()
    person.save()
    return person
