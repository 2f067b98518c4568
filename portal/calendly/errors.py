"""Calendly's answers as the portal acts on them, and the one place that puts them into words.

Every failure in talking to Calendly (its API, its OAuth server, or the way there) is a
`CalendlyError`, one class per outcome the portal acts on. Callers branch on the class (or on
`retryable`), never on Calendly's text: this module is the only code that reads titles and
messages. `error_from_response` decides by status first, then by title, then by message, because
titles are not reliable (the 2026 OpenAPI export lists "Internal Server Error" as the only title
of most 4xx answers) and every refusal on seats, SCIM or plan is a 403 "Permission Denied" told
apart only by its message.

`explain()` turns any of them into a sentence for a person, with what to do next. An error's
`str()` (`describe()`) is the technical account, for logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import singledispatch
from typing import Any, ClassVar


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of the error body's `details[]`, usually naming the offending parameter."""

    parameter: str | None
    message: str
    code: str | None = None


class CalendlyError(Exception):
    """A call to Calendly failed; `retryable` says whether the same call may succeed later."""

    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        *,
        status: int | None = None,
        title: str = "",
        message: str = "",
        details: Sequence[ErrorDetail] = (),
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.message = message
        self.details = tuple(details)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        super().__init__(self.describe())

    @property
    def permanent(self) -> bool:
        return not self.retryable

    def describe(self) -> str:
        """The class, the status and Calendly's own words: what an operator reads in a log."""
        said = ": ".join(part for part in (self.title, self.message.rstrip(".")) if part)
        answered = f"Calendly answered {self.status}" if self.status is not None else ""
        text = " ".join(part for part in (answered, said) if part) or "no answer"
        if self.details:
            text += f" ({_listed(self.details)})"
        if not self.retryable:
            retry = "not retryable"
        elif self.retry_after is not None:
            retry = f"retryable after {self.retry_after:g} s"
        else:
            retry = "retryable"
        return f"{type(self).__name__}: {text}; {retry}."


# -- 400: the request was refused as it stands -----------------------------------------------


class BadRequest(CalendlyError):
    """400: Calendly found the request invalid."""


class AlreadyInvited(BadRequest):
    """400 "Already Invited": the address has a pending invitation to the organization."""


class AlreadyOrganizationMember(BadRequest):
    """400 "Already Organization Member": the address belongs to a member already."""


class InvitationAlreadyAccepted(BadRequest):
    """400 "Invitation Already Accepted" on revoking: the person is a member now."""


class RaceCondition(BadRequest):
    """400 "Race Condition": Calendly's own message says "Please try the request again"."""

    default_retryable = True


# -- 401 and 403: who may do what --------------------------------------------------------------


class Unauthenticated(CalendlyError):
    """401: the access token is invalid, expired or revoked."""


class PermissionDenied(CalendlyError):
    """403: the token's user may not do this (role, organization boundary)."""


class InsufficientScope(PermissionDenied):
    """403 "Insufficient scope": the grant lacks the OAuth scopes in `required_scopes`."""

    def __init__(self, *, required_scopes: Sequence[str] = (), **kwargs: Any) -> None:
        self.required_scopes = tuple(required_scopes)
        super().__init__(**kwargs)

    def describe(self) -> str:
        return f"{super().describe()} Required scopes: {', '.join(self.required_scopes)}."


class SeatsExhausted(PermissionDenied):
    """403: every paid seat (or a trial's allowance) is taken or already invited."""


class ScimManaged(PermissionDenied):
    """403: the organization provisions its members through SCIM, so Calendly refuses changes
    made any other way."""


class CannotRemoveOwner(PermissionDenied):
    """403 "You can not change owner role": the owner cannot be removed (or demoted); ownership
    is transferred in Calendly's admin center first."""


class CannotRemoveSelf(PermissionDenied):
    """403 "You can not remove yourself from organization": the connected account tried to
    remove its own membership."""


class DataRequestsNotPermitted(PermissionDenied):
    """403 on data deletion: the caller is not an owner or admin with the "data requests"
    permission, which only Calendly support switches on (not a scope the portal can ask for)."""


class UpgradeRequired(PermissionDenied):
    """403 "Please upgrade ...": the organization's plan does not include this; `plan` is what
    Calendly asks for ("Enterprise", "a paid Calendly account", "Professional", ...)."""

    def __init__(self, **kwargs: Any) -> None:
        found = _UPGRADE_TO.search(kwargs.get("message", ""))
        self.plan = found["plan"].strip() if found else ""
        super().__init__(**kwargs)


# -- the rest of the statuses ----------------------------------------------------------------


class NotFound(CalendlyError):
    """404: the resource does not exist, or is outside what the token can see."""


class Conflict(CalendlyError):
    """409: the resource already exists."""


class RateLimited(CalendlyError):
    """Calendly kept answering 429: the token's user is over its request budget for now."""

    default_retryable = True


class ServerError(CalendlyError):
    """5xx: Calendly failed while handling the request."""

    default_retryable = True


class UnexpectedResponse(CalendlyError):
    """Calendly answered with a body the client could not read."""


# -- no usable answer ----------------------------------------------------------------------


class TransportFailure(CalendlyError):
    """No usable answer came back: timeout, reset connection, protocol error.

    `sent` is False only when the request certainly never reached Calendly (connect failures),
    which is what makes even a create safe to send again. Such a failure is built as
    `Unreachable`, whoever builds it, since "nothing can have changed" is an outcome of its own.
    """

    default_retryable = True

    def __init__(self, *, reason: str, sent: bool, **kwargs: Any) -> None:
        self.reason = reason
        self.sent = sent
        super().__init__(message=reason, **kwargs)


class Unreachable(TransportFailure):
    """The request never reached Calendly (connection refused, name lookup, connect timeout):
    nothing was changed."""

    def __init__(self, *, reason: str, sent: bool = False, **kwargs: Any) -> None:
        super().__init__(reason=reason, sent=False, **kwargs)


class AmbiguousWrite(CalendlyError):
    """A change may or may not have happened, and reading back could not settle it."""

    # Retryable only through a method that reconciles first (e.g. invite_user_to_organization
    # looks the invitation up by email before posting again), never by replaying the POST.
    default_retryable = True


class TokenUnavailable(CalendlyError):
    """No usable access token: renewing it failed, or the connection needs connecting again.
    Raised by a token source (calendly.auth) before anything is sent."""


# -- Calendly's OAuth server ({"error", "error_description"}) ----------------------------------


class OAuthError(CalendlyError):
    """Calendly's OAuth server refused or failed a request."""

    def __init__(self, *, error: str = "", description: str = "", **kwargs: Any) -> None:
        self.error = error
        self.description = description
        super().__init__(title=error, message=description, **kwargs)


class InvalidGrant(OAuthError):
    """The code or refresh token was used, revoked or has expired."""


class InvalidClient(OAuthError):
    """Calendly refused the portal's OAuth app credentials (client id or secret)."""


class OAuthRateLimited(OAuthError):
    """Calendly allows only a few token requests per person per minute; nothing was spent."""

    default_retryable = True


class AmbiguousTokenResponse(OAuthError):
    """The token request may have been applied, but no usable answer came back.

    For a refresh this means the old refresh token may be spent and the new one lost: the
    only safe way on is to connect again.
    """


# -- recognising an answer -------------------------------------------------------------------

_BY_STATUS: Mapping[int, type[CalendlyError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}

# Calendly's titles on invitation answers (a 2022 release note changed their status codes once,
# never their titles).
_BAD_REQUEST_BY_TITLE: Mapping[str, type[BadRequest]] = {
    "already invited": AlreadyInvited,
    "already organization member": AlreadyOrganizationMember,
    "invitation already accepted": InvitationAlreadyAccepted,
    "race condition": RaceCondition,
}

# When the title is missing or the export's placeholder, the message still says which it is:
# "<email> has already been invited", "<email> is already in the organization", "The invitation
# has already been accepted.", "A race condition occurred ...".
_BAD_REQUEST_BY_MESSAGE: Sequence[tuple[re.Pattern[str], type[BadRequest]]] = (
    (re.compile(r"\bhas already been invited\b", re.IGNORECASE), AlreadyInvited),
    (re.compile(r"\bis already in the organization\b", re.IGNORECASE), AlreadyOrganizationMember),
    (re.compile(r"\bhas already been accepted\b", re.IGNORECASE), InvitationAlreadyAccepted),
    (re.compile(r"\brace condition\b", re.IGNORECASE), RaceCondition),
)

# Every 403 is titled "Permission Denied"; the message is all that tells these apart:
# "You cannot perform this action for an organization with SCIM enabled.", "You already sent
# all the invitations you're allotted based upon the number of seats purchased ...", "... allotted
# to you with a trial account.", "Please upgrade your Calendly account to Enterprise.",
# "Please upgrade to a paid Calendly account." (older: "... to Professional", "... to Standard"),
# "You can not change owner role", "You can not remove yourself from organization", "You must
# be an admin/owner with the data requests permission enabled to use this resource. ...".
_PERMISSION_DENIED_BY_MESSAGE: Sequence[tuple[re.Pattern[str], type[PermissionDenied]]] = (
    (re.compile(r"\bdata requests permission\b", re.IGNORECASE), DataRequestsNotPermitted),
    (re.compile(r"\bSCIM\b", re.IGNORECASE), ScimManaged),
    (re.compile(r"\bowner role\b", re.IGNORECASE), CannotRemoveOwner),
    (re.compile(r"\bremove yourself\b", re.IGNORECASE), CannotRemoveSelf),
    (re.compile(r"\ballotted\b|\bseats\b", re.IGNORECASE), SeatsExhausted),
    (re.compile(r"\bplease upgrade\b", re.IGNORECASE), UpgradeRequired),
)
_UPGRADE_TO = re.compile(r"\bupgrade (?:your Calendly account )?to (?P<plan>[^.]+)", re.IGNORECASE)


def error_from_response(
    status: int, body: object, *, retry_after: float | None = None
) -> CalendlyError:
    """Build the error for a non-2xx API answer from its status and (possibly non-JSON) body."""
    fields = body if isinstance(body, dict) else {}
    title = _text(fields.get("title"))
    message = _text(fields.get("message")) or _text(fields.get("error_description"))
    common: dict[str, Any] = {
        "status": status,
        "title": title,
        "message": message,
        "details": _details(fields.get("details")),
        "retry_after": retry_after,
    }
    key = title.strip().lower()
    if status >= 500:
        return ServerError(**common)
    if status == 403 and (key == "insufficient scope" or "required_scopes" in fields):
        scopes = fields.get("required_scopes")
        names = [str(s) for s in scopes] if isinstance(scopes, list) else []
        return InsufficientScope(required_scopes=names, **common)
    kind = _BY_STATUS.get(status, CalendlyError)
    if status == 400:
        kind = _BAD_REQUEST_BY_TITLE.get(key) or _by_message(message, _BAD_REQUEST_BY_MESSAGE, kind)
    elif status == 403:
        kind = _by_message(message, _PERMISSION_DENIED_BY_MESSAGE, kind)
    return kind(**common)


def error_from_oauth_response(
    status: int, body: object, *, retry_after: float | None = None
) -> OAuthError:
    """Build the error for a non-200 answer of Calendly's OAuth server (RFC 6749's shape)."""
    fields = body if isinstance(body, dict) else {}
    error = _text(fields.get("error"))
    common: dict[str, Any] = {
        "status": status,
        "error": error,
        "description": _text(fields.get("error_description")) or _text(fields.get("message")),
    }
    if status == 429:
        return OAuthRateLimited(retry_after=retry_after, **common)
    if status >= 500:
        return AmbiguousTokenResponse(**common)
    if error == "invalid_grant":
        return InvalidGrant(**common)
    if error == "invalid_client" or status == 401:
        return InvalidClient(**common)
    return OAuthError(**common)


def _by_message(
    message: str,
    patterns: Sequence[tuple[re.Pattern[str], type[CalendlyError]]],
    otherwise: type[CalendlyError],
) -> type[CalendlyError]:
    for pattern, kind in patterns:
        if pattern.search(message):
            return kind
    return otherwise


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _details(value: object) -> list[ErrorDetail]:
    if not isinstance(value, list):
        return []
    return [
        ErrorDetail(
            parameter=_text(item.get("parameter")) or None,
            message=_text(item.get("message")),
            code=_text(item.get("code")) or None,
        )
        for item in value
        if isinstance(item, dict)
    ]


def _listed(details: Sequence[ErrorDetail]) -> str:
    return "; ".join(f"{d.parameter}: {d.message}" if d.parameter else d.message for d in details)


# -- in words for a person ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Doing:
    """What the portal was doing when it happened, ready to fit into a sentence."""

    what: str | None

    @property
    def at(self) -> str:
        return f" while {self.what}" if self.what else ""

    @property
    def it(self) -> str:
        return self.what or "this"


def explain(error: CalendlyError, *, doing: str | None = None, changing: bool = False) -> str:
    """What happened, in words for a person, and what to do next.

    `doing` says what the portal was doing ("listing members", "revoking the invitation of
    ana@example.com"). `changing` says the request was meant to change something in Calendly:
    then a failure Calendly may have acted on anyway (a 5xx, an answer lost after sending) is
    told as a change that may or may not have been made.
    """
    if changing and _maybe_applied(error):
        return _uncertain(_Doing(doing))
    return _words(error, _Doing(doing))


def _maybe_applied(error: CalendlyError) -> bool:
    return isinstance(error, ServerError) or (isinstance(error, TransportFailure) and error.sent)


def _uncertain(doing: _Doing) -> str:
    return (
        f"Calendly did not answer properly{doing.at}, so it is not certain the change was made. "
        "Check Calendly's current state in a minute before trying again, so nothing is done "
        "twice."
    )


def _said(error: CalendlyError) -> str:
    """Calendly's own words, quoted as they are."""
    said = error.message.rstrip(".") or error.title or f"it answered {error.status}"
    return f"{said} ({_listed(error.details)})" if error.details else said


@singledispatch
def _words(error: CalendlyError, doing: _Doing) -> str:
    return f"Calendly refused {doing.it}: {_said(error)}."


@_words.register
def _(error: BadRequest, doing: _Doing) -> str:
    return f"Calendly refused {doing.it} as invalid: {_said(error)}."


@_words.register
def _(error: AlreadyInvited, doing: _Doing) -> str:
    return "Already invited (says Calendly); still pending."


@_words.register
def _(error: AlreadyOrganizationMember, doing: _Doing) -> str:
    return "Already a member (says Calendly)."


@_words.register
def _(error: InvitationAlreadyAccepted, doing: _Doing) -> str:
    return (
        f"Calendly refused {doing.it}: the invitation was already accepted, so the person is a "
        "member now. Remove them as a member instead."
    )


@_words.register
def _(error: RaceCondition, doing: _Doing) -> str:
    return f"Calendly was busy with another change to the same thing{doing.at}. Try again."


@_words.register
def _(error: Unauthenticated, doing: _Doing) -> str:
    return (
        f"Calendly refused the organization's connection{doing.at}: its access was revoked or "
        "has expired. An owner or admin needs to connect the organization again."
    )


@_words.register
def _(error: PermissionDenied, doing: _Doing) -> str:
    return (
        f"Calendly refused {doing.it}: the connected account is not allowed to do it "
        f"({_said(error)}). An owner or admin may need to connect with their own account."
    )


@_words.register
def _(error: CannotRemoveOwner, doing: _Doing) -> str:
    return (
        f"Calendly refused {doing.it}: this person owns the organization, and the owner cannot "
        "be removed. Transfer ownership in Calendly's admin center first."
    )


@_words.register
def _(error: CannotRemoveSelf, doing: _Doing) -> str:
    return (
        f"Calendly refused {doing.it}: the portal is connected as this person, and nobody can "
        "remove themselves. Connect the portal as another admin first."
    )


@_words.register
def _(error: DataRequestsNotPermitted, doing: _Doing) -> str:
    return (
        f"Calendly refused {doing.it}: it needs an owner or admin account that Calendly support "
        'has given the "data requests" permission, and the connected account is not one. Ask '
        "Calendly support to grant it (or connect the portal as an owner or admin who has it), "
        "then resume."
    )


@_words.register
def _(error: InsufficientScope, doing: _Doing) -> str:
    scopes = ", ".join(error.required_scopes) or "more scopes"
    return (
        f"The organization's Calendly connection lacks the permission for {doing.it} "
        f"({scopes}). An owner or admin needs to connect again and allow it."
    )


@_words.register
def _(error: SeatsExhausted, doing: _Doing) -> str:
    return (
        f"No free seats{doing.at}: every seat the organization pays for (or its trial allows) is "
        "taken or already invited. Add seats on Calendly's billing page, then try again."
    )


@_words.register
def _(error: ScimManaged, doing: _Doing) -> str:
    return (
        "Your organization manages its members through SCIM (your identity provider), so "
        f"Calendly refuses {doing.it} from the portal. Make the change in your identity provider."
    )


@_words.register
def _(error: UpgradeRequired, doing: _Doing) -> str:
    upgrade = f"an upgrade to {error.plan}" if error.plan else "an upgrade"
    return (
        f"The organization's Calendly plan does not include {doing.it}: Calendly asks for "
        f"{upgrade}."
    )


@_words.register
def _(error: NotFound, doing: _Doing) -> str:
    return (
        f"Calendly could not find it{doing.at}: it no longer exists there, or is out of the "
        "connection's reach. Refresh to see the current state."
    )


@_words.register
def _(error: Conflict, doing: _Doing) -> str:
    return f"Calendly says it already exists{doing.at}."


@_words.register
def _(error: RateLimited, doing: _Doing) -> str:
    wait = f"in about {error.retry_after:.0f} seconds" if error.retry_after else "in a minute"
    return (
        f"Calendly is pacing the portal{doing.at}: the connected user has used up their requests "
        f"for the minute. Try again {wait}."
    )


@_words.register
def _(error: ServerError, doing: _Doing) -> str:
    return f"Calendly failed{doing.at} (it answered {error.status}). Try again in a few minutes."


@_words.register
def _(error: UnexpectedResponse, doing: _Doing) -> str:
    return (
        f"Calendly's answer{doing.at} could not be read ({error.message}). Try again later; if "
        "it keeps happening, Calendly may have changed its API."
    )


@_words.register
def _(error: TransportFailure, doing: _Doing) -> str:
    return f"Calendly did not answer{doing.at} ({error.reason}). Try again in a few minutes."


@_words.register
def _(error: Unreachable, doing: _Doing) -> str:
    return (
        f"Calendly could not be reached{doing.at}; nothing was changed ({error.reason}). Try "
        "again in a few minutes."
    )


@_words.register
def _(error: AmbiguousWrite, doing: _Doing) -> str:
    return _uncertain(doing)


@_words.register
def _(error: TokenUnavailable, doing: _Doing) -> str:
    reason = error.message.rstrip(".") or "it has no usable access token"
    return (
        f"The Calendly connection needs attention{doing.at}: {reason}. An owner or admin needs "
        "to connect the organization again."
    )


@_words.register
def _(error: OAuthError, doing: _Doing) -> str:
    return f"Calendly's sign-in service refused {doing.it} ({_said(error)}). Try again in a minute."


@_words.register
def _(error: InvalidGrant, doing: _Doing) -> str:
    return (
        f"Calendly refused the sign-in code or token{doing.at}: it expired, was already used, or "
        "was revoked. Start again."
    )


@_words.register
def _(error: InvalidClient, doing: _Doing) -> str:
    return (
        f"Calendly refused the portal's OAuth app credentials{doing.at}. The portal's operators "
        "need to check its client id and secret."
    )


@_words.register
def _(error: OAuthRateLimited, doing: _Doing) -> str:
    return (
        "Calendly allows each person only a few sign-in requests a minute. Try again in a minute."
    )


@_words.register
def _(error: AmbiguousTokenResponse, doing: _Doing) -> str:
    return (
        f"Calendly's sign-in service gave no usable answer{doing.at}, so it may or may not have "
        "acted on it. Try again in a minute."
    )
