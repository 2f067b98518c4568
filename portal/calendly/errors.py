"""What can go wrong when talking to Calendly, and whether trying again can help.

Every failure the client raises is a `CalendlyError`. Callers branch on the class (or on
`retryable`), never on message text: Calendly's titles are only used here, to tell apart the 400s
and 403s that mean different things. Status decides first and title second, because the 2026
OpenAPI export lists "Internal Server Error" as the only title of most 4xx answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of the error body's `details[]`, usually naming the offending parameter."""

    parameter: str | None
    message: str
    code: str | None = None


class CalendlyError(Exception):
    """A call to Calendly failed; `retryable` says whether the same call may succeed later."""

    # Plain-words explanation shown before Calendly's own message; subclasses refine it.
    happened: ClassVar[str] = "Calendly refused the request."
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
        parts = [self.happened]
        said = ": ".join(p for p in (self.title, self.message.rstrip(".")) if p)
        if self.status is not None:
            parts.append(f"Calendly answered {self.status}{' ' + said if said else ''}.")
        elif said:
            parts.append(f"{said}.")
        if self.details:
            listed = "; ".join(
                f"{d.parameter}: {d.message}" if d.parameter else d.message for d in self.details
            )
            parts.append(f"({listed})")
        parts.append(self.advice())
        return " ".join(parts)

    def advice(self) -> str:
        if not self.retryable:
            return "Retrying the same request will not help."
        if self.retry_after is not None:
            return f"Retrying may help after {self.retry_after:g} s."
        return "Retrying later may help."


class BadRequest(CalendlyError):
    happened = "Calendly rejected the request as invalid."


class AlreadyInvited(BadRequest):
    happened = "That email address already has a pending invitation to the organization."


class AlreadyOrganizationMember(BadRequest):
    happened = "That email address already belongs to a member of the organization."


class RaceCondition(BadRequest):
    # Calendly's own message for this title says "Please try the request again".
    happened = "Calendly hit an internal race while handling the request."
    default_retryable = True


class Unauthenticated(CalendlyError):
    happened = "The access token is invalid, expired or revoked; the connection needs a new one."


class PermissionDenied(CalendlyError):
    happened = "The token's user may not do this (role, plan, seats or organization boundary)."


class InsufficientScope(PermissionDenied):
    happened = "The token was not granted the OAuth scopes this call needs."

    def __init__(self, *, required_scopes: Sequence[str] = (), **kwargs: Any) -> None:
        self.required_scopes = tuple(required_scopes)
        super().__init__(**kwargs)

    def advice(self) -> str:
        needed = ", ".join(self.required_scopes) or "unknown"
        return f"Grant the scopes ({needed}) and reconnect; retrying will not help."


class NotFound(CalendlyError):
    happened = "The resource does not exist, or is outside what the token can see."


class Conflict(CalendlyError):
    happened = "The resource already exists."


class RateLimited(CalendlyError):
    happened = "Calendly kept answering 429: the token's user is over its request budget."
    default_retryable = True


class ServerError(CalendlyError):
    happened = "Calendly failed while handling the request."
    default_retryable = True


class UnexpectedResponse(CalendlyError):
    happened = "Calendly answered with a body the client could not read."


class TransportFailure(CalendlyError):
    """No usable answer came back: timeout, refused or reset connection, protocol error.

    `sent` is False only when the request certainly never reached Calendly (connect failures),
    which is what makes even a create safe to send again.
    """

    happened = "Could not get an answer from Calendly."
    default_retryable = True

    def __init__(self, *, reason: str, sent: bool, **kwargs: Any) -> None:
        self.reason = reason
        self.sent = sent
        super().__init__(message=reason, **kwargs)


class AmbiguousWrite(CalendlyError):
    """A create may or may not have happened, and reading back could not settle it."""

    happened = "A write may or may not have reached Calendly; its outcome is unknown."
    # Retryable only through a method that reconciles first (e.g. invite_user_to_organization
    # looks the invitation up by email before posting again), never by replaying the POST.
    default_retryable = True

    def advice(self) -> str:
        return "Check Calendly's state before repeating it; replaying it blindly may duplicate it."


_BAD_REQUEST_BY_TITLE: Mapping[str, type[BadRequest]] = {
    "already invited": AlreadyInvited,
    "already organization member": AlreadyOrganizationMember,
    "race condition": RaceCondition,
}

_BY_STATUS: Mapping[int, type[CalendlyError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_from_response(
    status: int, body: object, *, retry_after: float | None = None
) -> CalendlyError:
    """Build the error for a non-2xx answer from its status and (possibly non-JSON) body."""
    fields = body if isinstance(body, dict) else {}
    title = _text(fields.get("title"))
    message = _text(fields.get("message")) or _text(fields.get("error_description"))
    details = _details(fields.get("details"))
    common: dict[str, Any] = {
        "status": status,
        "title": title,
        "message": message,
        "details": details,
        "retry_after": retry_after,
    }
    key = title.strip().lower()
    if status == 400 and key in _BAD_REQUEST_BY_TITLE:
        return _BAD_REQUEST_BY_TITLE[key](**common)
    if status == 403 and (key == "insufficient scope" or "required_scopes" in fields):
        scopes = fields.get("required_scopes")
        names = [str(s) for s in scopes] if isinstance(scopes, list) else []
        return InsufficientScope(required_scopes=names, **common)
    if status >= 500:
        return ServerError(**common)
    return _BY_STATUS.get(status, CalendlyError)(**common)


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
