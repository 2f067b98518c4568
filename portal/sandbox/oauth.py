"""Calendly's OAuth server: authorize with PKCE, token, revoke, introspect, as documented under
https://developer.calendly.com/api-docs/calendly-o-auth/o-auth/.

The consent page lets whoever drives the browser pick which seeded person they are, so the
demo can sign in as the owner, an admin or a plain member. Refresh tokens are single-use: a
successful refresh burns the old one and reusing it answers `invalid_grant`, exactly the case
the portal must survive. Errors use the RFC 6749 `{error, error_description}` shape.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from portal.sandbox import render
from portal.sandbox.http import JSON, Request, Response, Route
from portal.sandbox.state import AccessToken, AuthorizationCode, RateWindow, RefreshToken

if TYPE_CHECKING:
    from portal.sandbox.state import Sandbox, User

CODE_TTL = 600
SCOPES = {
    "default",
    "users:read",
    "organizations:read",
    "organizations:write",
    "groups:read",
    "event_types:read",
    "event_types:write",
    "availability:read",
    "availability:write",
    "locations:read",
    "scheduling_links:write",
    "shares:read",
    "shares:write",
    "scheduled_events:read",
    "scheduled_events:write",
    "routing_forms:read",
    "webhooks:read",
    "webhooks:write",
    "activity_log:read",
    "data_compliance:write",
    "outgoing_communications:read",
    "contacts:read",
    "contacts:write",
    "meeting_recaps:read",
    "meeting_recaps:write",
}


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> Response:
        body = {"error": self.error, "error_description": self.description}
        return Response.json(self.status, body)


def has_scope(granted: str, needed: str | None) -> bool:
    """Scopes since 2026-03-03; `default` (pre-scope grants and PATs) allows everything."""
    if needed is None:
        return True
    scopes = set(granted.split())
    if "default" in scopes or needed in scopes:
        return True
    domain, _, level = needed.partition(":")
    # A :write scope implies the matching :read.
    return level == "read" and f"{domain}:write" in scopes


def allowed_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost"}


def with_query(uri: str, params: dict[str, str]) -> str:
    joiner = "&" if urlsplit(uri).query else "?"
    return f"{uri}{joiner}{urlencode(params)}"


def check_client_and_redirect(sb: Sandbox, params: dict[str, str]) -> Response | None:
    if params.get("client_id") != sb.client_id:
        return Response.html("<h1>Unknown client</h1><p>client_id is not registered.</p>", 400)
    if not allowed_redirect(params.get("redirect_uri", "")):
        return Response.html(
            "<h1>Invalid redirect URI</h1><p>The sandbox accepts http://127.0.0.1 and "
            "http://localhost redirect URIs.</p>",
            400,
        )
    return None


def authorize_error(params: dict[str, str]) -> str | None:
    """Problems reported back to the client by redirect, as RFC 6749 §4.1.2.1 says."""
    if params.get("response_type") != "code":
        return "unsupported_response_type"
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if (challenge or method) and (method != "S256" or not challenge):
        return "invalid_request"
    if not set(params.get("scope", "default").split()) <= SCOPES:
        return "invalid_scope"
    return None


def consent_people(sb: Sandbox) -> list[tuple[User, str]]:
    people = [(sb.owner, "owner")]
    people += [(u, "admin") for u in sb.admins[:3]]
    people += [(u, "user") for u in sb.plain_users[:3]]
    people.append((sb.other_owner, "owner of another organization"))
    return people


def show_consent(sb: Sandbox, req: Request) -> Response:
    params = {k: v[-1] for k, v in req.query.items()}
    problem = check_client_and_redirect(sb, params)
    if problem:
        return problem
    error = authorize_error(params)
    if error:
        return Response.redirect(
            with_query(params["redirect_uri"], {"error": error, "state": params.get("state", "")})
        )
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items()
    )
    options = "".join(
        f'<label><input type="radio" name="user" value="{u.uuid}"{" checked" if i == 0 else ""}>'
        f" {escape(u.name)} &lt;{escape(u.email)}&gt; ({escape(role)})</label>"
        for i, (u, role) in enumerate(consent_people(sb))
    )
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Authorize application</title></head><body>
<h1>Allow access to your Calendly account?</h1>
<p>The application <code>{escape(sb.client_id)}</code> wants to use Calendly on your behalf
(scopes: <code>{escape(params.get("scope", "default"))}</code>).</p>
<form method="post" action="/oauth/authorize">{hidden}
<fieldset><legend>Sign in to the sandbox as</legend>{options}</fieldset>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></body></html>"""
    return Response.html(html)


def decide(sb: Sandbox, req: Request) -> Response:
    form = req.form()
    problem = check_client_and_redirect(sb, form)
    if problem:
        return problem
    redirect_uri, state = form["redirect_uri"], form.get("state", "")
    error = authorize_error(form)
    if error:
        return Response.redirect(with_query(redirect_uri, {"error": error, "state": state}))
    if form.get("decision") != "allow":
        return Response.redirect(
            with_query(redirect_uri, {"error": "access_denied", "state": state})
        )
    user = sb.users.get(form.get("user", ""))
    if user is None:
        return Response.html("<h1>Pick a person to sign in as</h1>", 400)
    code = AuthorizationCode(
        secrets.token_urlsafe(24),
        user.uuid,
        form["client_id"],
        redirect_uri,
        form.get("code_challenge") or None,
        form.get("scope", "default") or "default",
        sb.clock() + CODE_TTL,
    )
    sb.codes[code.value] = code
    params = {"code": code.value}
    if state:
        params["state"] = state
    return Response.redirect(with_query(redirect_uri, params))


def client_credentials(sb: Sandbox, req: Request, form: dict[str, str]) -> bool:
    """Check the client; True when it proved the secret (web app), False for a native app."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    header = req.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "Malformed Basic credentials") from None
    if client_id != sb.client_id:
        raise OAuthError(401, "invalid_client", "Client authentication failed")
    if secret is None:
        return False
    if not hmac.compare_digest(secret, sb.client_secret):
        raise OAuthError(401, "invalid_client", "Client authentication failed")
    return True


def token_budget(sb: Sandbox, key: str) -> dict[str, str]:
    """At most 8 token requests per user per minute, Calendly's published limit
    (https://developer.calendly.com/api-docs/overview/rate-limits)."""
    limit, period = sb.token_rate_limit
    now = sb.clock()
    window = sb.token_windows.get(key)
    if window is None or now >= window.started + period:
        window = sb.token_windows[key] = RateWindow(now)
    window.used += 1
    reset = max(1, math.ceil(window.started + period - now))
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, limit - window.used)),
        "X-RateLimit-Reset": str(reset),
    }
    if window.used > limit:
        raise RateLimited(headers)
    return headers


class RateLimited(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("token rate limit")
        self.headers = headers


def issue(sb: Sandbox, req: Request, user: str, scope: str, client_id: str) -> JSON:
    now = sb.clock()
    refresh = RefreshToken(f"sbx-rt.{secrets.token_urlsafe(32)}", user, scope, client_id, now)
    access = AccessToken(
        f"sbx-at.{secrets.token_urlsafe(40)}",
        user,
        "oauth",
        scope,
        now,
        now + sb.access_token_ttl,
        client_id=client_id,
        refresh=refresh.value,
    )
    sb.refresh_tokens[refresh.value] = refresh
    sb.tokens[access.value] = access
    person = sb.users[user]
    return {
        "token_type": "Bearer",
        "access_token": access.value,
        "refresh_token": refresh.value,
        "scope": scope,
        "created_at": int(now),
        "expires_in": sb.access_token_ttl,
        "owner": render.user_uri(req.base, user),
        "organization": render.org_uri(req.base, person.organization),
    }


def pkce_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return hmac.compare_digest(expected, challenge)


def exchange(
    sb: Sandbox, req: Request, form: dict[str, str], confidential: bool, headers: dict[str, str]
) -> JSON:
    """Answer a token request; `headers` receives the token budget's X-RateLimit-* values."""
    grant = form.get("grant_type")
    if grant == "authorization_code":
        code = sb.codes.get(form.get("code", ""))
        if code is None:
            raise OAuthError(400, "invalid_grant", "The authorization code is invalid")
        headers.update(token_budget(sb, code.user))
        if code.used or sb.clock() > code.expires_at or code.client_id != sb.client_id:
            raise OAuthError(400, "invalid_grant", "The authorization code is invalid or expired")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization")
        if code.code_challenge:
            if not pkce_matches(form.get("code_verifier", ""), code.code_challenge):
                raise OAuthError(400, "invalid_grant", "code_verifier does not match")
        elif not confidential:
            raise OAuthError(401, "invalid_client", "Public clients must use PKCE")
        code.used = True
        return issue(sb, req, code.user, code.scope, code.client_id)
    if grant == "refresh_token":
        refresh = sb.refresh_tokens.get(form.get("refresh_token", ""))
        if refresh is None:
            raise OAuthError(400, "invalid_grant", "The refresh token is invalid")
        headers.update(token_budget(sb, refresh.user))
        if refresh.used or refresh.revoked or refresh.user not in sb.users:
            # Single use: the first successful refresh burned it
            # (https://developer.calendly.com/refresh-token-rotation-guide).
            raise OAuthError(400, "invalid_grant", "The refresh token is invalid or was used")
        refresh.used = True
        return issue(sb, req, refresh.user, refresh.scope, refresh.client_id)
    raise OAuthError(
        400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
    )


def token(sb: Sandbox, req: Request) -> Response:
    form = req.form()
    headers: dict[str, str] = {}
    try:
        confidential = client_credentials(sb, req, form)
        body = exchange(sb, req, form, confidential, headers)
    except OAuthError as error:
        response = error.response()
    except RateLimited as limited:
        response = Response.json(
            429,
            {"error": "too_many_requests", "error_description": "Too many token requests"},
        )
        headers = limited.headers
    else:
        response = Response.json(200, body)
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def revoke(sb: Sandbox, req: Request) -> Response:
    form = req.form()
    try:
        if not client_credentials(sb, req, form):
            raise OAuthError(403, "unauthorized_client", "client_secret is required")
    except OAuthError as error:
        return OAuthError(403, "unauthorized_client", error.description).response()
    value = form.get("token")
    if not value:
        return OAuthError(400, "invalid_request", "token is required").response()
    user: str | None
    client_id: str | None
    with sb.lock:
        if value in sb.tokens and sb.tokens[value].kind == "oauth":
            sb.tokens[value].revoked = True
            user, client_id = sb.tokens[value].user, sb.tokens[value].client_id
        elif value in sb.refresh_tokens:
            sb.refresh_tokens[value].revoked = True
            user, client_id = sb.refresh_tokens[value].user, sb.refresh_tokens[value].client_id
            for access in sb.tokens.values():
                if access.refresh == value:
                    access.revoked = True
        else:
            user = client_id = None
        if user is not None and sb.revoke_ends_all_grants:
            for access in sb.tokens.values():
                if access.kind == "oauth" and (access.user, access.client_id) == (user, client_id):
                    access.revoked = True
            for refresh in sb.refresh_tokens.values():
                if (refresh.user, refresh.client_id) == (user, client_id):
                    refresh.revoked = True
    # RFC 7009: unknown tokens are not an error.
    return Response.json(200, {})


def introspect(sb: Sandbox, req: Request) -> Response:
    form = req.form()
    try:
        if not client_credentials(sb, req, form):
            raise OAuthError(401, "invalid_client", "client_secret is required")
    except OAuthError as error:
        return error.response()
    value = form.get("token")
    if not value:
        return OAuthError(400, "invalid_request", "token is required").response()
    now = sb.clock()
    access = sb.tokens.get(value)
    if access is not None and access.kind == "oauth" and access.active(now):
        person = sb.users.get(access.user)
        return Response.json(
            200,
            {
                "active": True,
                "scope": access.scope,
                "client_id": access.client_id,
                "token_type": "access_token",
                "exp": int(access.expires_at or now),
                "iat": int(access.created_at),
                "owner": render.user_uri(req.base, access.user),
                "organization": render.org_uri(req.base, person.organization) if person else None,
            },
        )
    refresh = sb.refresh_tokens.get(value)
    if refresh is not None and not refresh.used and not refresh.revoked:
        return Response.json(
            200,
            {
                "active": True,
                "scope": refresh.scope,
                "client_id": refresh.client_id,
                "token_type": "refresh_token",
                "iat": int(refresh.created_at),
                "owner": render.user_uri(req.base, refresh.user),
            },
        )
    return Response.json(200, {"active": False})


OAUTH_ROUTES = [
    Route("GET", "/oauth/authorize", show_consent, kind="page"),
    Route("POST", "/oauth/authorize", decide, kind="page"),
    Route("POST", "/oauth/token", token, kind="oauth"),
    Route("POST", "/oauth/revoke", revoke, kind="oauth"),
    Route("POST", "/oauth/introspect", introspect, kind="oauth"),
]
