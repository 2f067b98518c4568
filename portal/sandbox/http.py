"""Requests, responses, errors, routing and pagination shared by the sandbox's endpoints.

Nothing here knows about sockets: the server turns raw HTTP into a `Request`, a handler returns a
`Response` (or raises `ApiError`), and the server writes it back. That keeps the handlers testable
and lets the server decide about rate limits and injected faults in one place.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:
    from portal.sandbox.state import AccessToken, Sandbox, User

JSON = dict[str, Any]

INVALID_ARGUMENT = "The supplied parameters are invalid."
NOT_FOUND = "The server could not find the requested resource."
NO_ACCESS = "You do not have permission to access this resource."
NO_PERMISSION = "You do not have permission"
NOT_IN_ORG = "This user is not in your organization"
UNKNOWN = (
    "The server encountered an unexpected condition that prevented it from fulfilling the request."
)


def timestamp(moment: datetime) -> str:
    """Calendly's format: UTC with microseconds and a literal Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


class ApiError(Exception):
    """An error answer in Calendly's shape: `{title, message, details?}`."""

    def __init__(
        self,
        status: int,
        title: str,
        message: str,
        details: list[JSON] | None = None,
        extra: JSON | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {message}")
        self.status = status
        self.title = title
        self.message = message
        self.details = details
        self.extra = extra or {}

    def body(self) -> JSON:
        body: JSON = {"title": self.title, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        body.update(self.extra)
        return body


def invalid(parameter: str, message: str) -> ApiError:
    return ApiError(
        400,
        "Invalid Argument",
        INVALID_ARGUMENT,
        [{"parameter": parameter, "message": message}],
    )


def not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", NOT_FOUND)


def forbidden(message: str = NO_ACCESS) -> ApiError:
    return ApiError(403, "Permission Denied", message)


def unauthenticated() -> ApiError:
    return ApiError(401, "Unauthenticated", "The access token is invalid")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: object) -> Response:
        return cls(status, json.dumps(data).encode())

    @classmethod
    def resource(cls, data: JSON, status: int = 200) -> Response:
        return cls.json(status, {"resource": data})

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", None)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), "text/html; charset=utf-8")

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", None, {"Location": location})

    @classmethod
    def error(cls, error: ApiError) -> Response:
        return cls.json(error.status, error.body())


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    base: str
    params: dict[str, str] = field(default_factory=dict)
    user: User | None = None
    token: AccessToken | None = None

    @classmethod
    def build(
        cls, method: str, target: str, headers: Mapping[str, str], body: bytes, base: str
    ) -> Request:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        return cls(method.upper(), parts.path or "/", query, headers, body, base)

    @property
    def caller(self) -> User:
        assert self.user is not None, "authenticated routes always carry a user"
        return self.user

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json_body(self) -> JSON:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Invalid Argument", "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Invalid Argument", "The request body must be a JSON object.")
        return data

    def form(self) -> dict[str, str]:
        fields = parse_qs(self.body.decode(errors="replace"), keep_blank_values=True)
        form = {name: values[-1] for name, values in fields.items()}
        # OAuth clients may also pass parameters in the query string.
        for name, values in self.query.items():
            form.setdefault(name, values[-1])
        return form

    def uri(self, name: str, value: object, collection: str) -> str:
        """The UUID inside a full Calendly URI; bare UUIDs are refused like Calendly does."""
        if not isinstance(value, str) or not value:
            raise invalid(name, "must be a valid URI")
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise invalid(name, "must be a valid URI")
        prefix = f"/{collection}/"
        if not parts.path.startswith(prefix) or "/" in parts.path[len(prefix) :]:
            raise invalid(name, f"must be a valid {collection.rstrip('s')} URI")
        return parts.path[len(prefix) :]

    def uri_arg(self, name: str, collection: str, *, required: bool = False) -> str | None:
        value = self.arg(name)
        if value is None or value == "":
            if required:
                raise invalid(name, "is required")
            return None
        return self.uri(name, value, collection)

    def bool_arg(self, name: str) -> bool | None:
        value = self.arg(name)
        if value is None:
            return None
        if value not in {"true", "false"}:
            raise invalid(name, "must be true or false")
        return value == "true"

    def choice_arg(
        self, name: str, choices: Sequence[str], *, required: bool = False
    ) -> str | None:
        value = self.arg(name)
        if value is None or value == "":
            if required:
                raise invalid(name, "is required")
            return None
        if value not in choices:
            raise invalid(name, f"must be one of {', '.join(choices)}")
        return value

    def time_arg(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.arg(name)
        if value is None or value == "":
            if required:
                raise invalid(name, "is required")
            return None
        moment = parse_timestamp(value)
        if moment is None:
            raise invalid(name, "must be a valid UTC date-time")
        return moment

    def sort_arg(self, allowed: Sequence[str], default: str) -> list[tuple[str, bool]]:
        """`field:direction[,field:direction]` as (field, descending) pairs."""
        raw = self.arg("sort") or default
        keys: list[tuple[str, bool]] = []
        for part in raw.split(","):
            name, _, direction = part.strip().partition(":")
            if name not in allowed or direction not in {"asc", "desc"}:
                raise invalid("sort", f"must be one of {', '.join(allowed)} with :asc or :desc")
            keys.append((name, direction == "desc"))
        return keys


def sort_rows[T](
    rows: list[T], keys: list[tuple[str, bool]], value: Callable[[T, str], Any]
) -> None:
    # Stable sorts applied from the last key to the first give a multi-key order with mixed
    # directions.
    for name, descending in reversed(keys):
        rows.sort(key=lambda row: value(row, name), reverse=descending)


def page_bounds(req: Request, max_count: int = 100) -> tuple[int, int]:
    raw_count = req.arg("count")
    count = 20
    if raw_count is not None:
        try:
            count = int(raw_count)
        except ValueError:
            raise invalid("count", f"must be an integer between 1 and {max_count}") from None
        if not 1 <= count <= max_count:
            raise invalid("count", f"must be an integer between 1 and {max_count}")
    offset = 0
    token = req.arg("page_token")
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            offset = int(decoded["o"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise invalid("page_token", "is invalid") from None
        if offset < 0:
            raise invalid("page_token", "is invalid")
    return offset, count


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def paginate[T](
    req: Request,
    rows: Sequence[T],
    render: Callable[[T], JSON],
    *,
    max_count: int = 100,
    extra: Callable[[list[JSON]], JSON] | None = None,
) -> Response:
    """A page in Calendly's collection envelope with all five pagination keys."""
    offset, count = page_bounds(req, max_count)
    page = [render(row) for row in rows[offset : offset + count]]

    def link(token: str) -> str:
        query = {k: v[-1] for k, v in req.query.items() if k != "page_token"}
        query["page_token"] = token
        return f"{req.base}{req.path}?{urlencode(query)}"

    next_token = _token(offset + count) if offset + count < len(rows) else None
    previous_token = _token(max(offset - count, 0)) if offset > 0 else None
    body: JSON = {
        "collection": page,
        "pagination": {
            "count": len(page),
            "next_page": link(next_token) if next_token else None,
            "previous_page": link(previous_token) if previous_token else None,
            "next_page_token": next_token,
            "previous_page_token": previous_token,
        },
    }
    if extra is not None:
        body.update(extra(page))
    return Response.json(200, body)


Handler = Callable[["Sandbox", Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    # "api" routes need a bearer token and count against the rate limit; "oauth" routes are the
    # authorization server; "page" and "control" routes are sandbox extras (booking pages, the
    # request counter) that Calendly's API does not have.
    kind: str = "api"
    scope: str | None = None
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def writes(self) -> bool:
        return self.method in {"POST", "PATCH", "PUT", "DELETE"}


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route, its path parameters, and whether the path exists for another method."""
        path_known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), True
            # Booking pages include catch-all slugs; they must not turn unknown API paths
            # into 405s.
            path_known = path_known or route.kind != "page"
        return None, {}, path_known
