"""Calendly's OAuth server: the authorize URL (PKCE S256 + state) and the token endpoint.

authlib supplies the protocol pieces (the S256 challenge, the authorize URI, random tokens);
the token requests go through httpx here, like every other call to Calendly. Refresh tokens
are single-use and rotate on every successful refresh, so a refresh whose answer is lost may
already have burned the grant: such a failure is `AmbiguousTokenResponse`, never retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings

from portal.calendly.client import USER_AGENT
from portal.calendly.errors import (
    AmbiguousTokenResponse,
    OAuthError,
    Unreachable,
    error_from_oauth_response,
)

TOKEN_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=15.0, pool=5.0)


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_at: datetime | None
    scope: str
    owner: str
    organization: str

    @classmethod
    def from_response(cls, data: dict[str, Any], now: datetime) -> TokenGrant:
        expires_in = data.get("expires_in")
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data.get("refresh_token") or ""),
            expires_at=now + timedelta(seconds=float(expires_in)) if expires_in else None,
            scope=str(data.get("scope") or ""),
            owner=str(data.get("owner") or ""),
            organization=str(data.get("organization") or ""),
        )


def new_state() -> str:
    return str(generate_token(43))


def new_code_verifier() -> str:
    # RFC 7636 wants 43 to 128 unreserved characters; generate_token gives letters and digits.
    return str(generate_token(64))


class CalendlyOAuth:
    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        auth_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client_id = client_id if client_id is not None else settings.CALENDLY_CLIENT_ID
        self.client_secret = (
            client_secret if client_secret is not None else settings.CALENDLY_CLIENT_SECRET
        )
        self.auth_url = (auth_url or settings.CALENDLY_AUTH_URL).rstrip("/")
        self._http = httpx.Client(
            base_url=self.auth_url,
            transport=transport,
            timeout=TOKEN_TIMEOUT,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            # Web apps authenticate to the token endpoint with HTTP Basic.
            auth=httpx.BasicAuth(self.client_id, self.client_secret),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CalendlyOAuth:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def authorization_url(self, *, redirect_uri: str, state: str, code_verifier: str) -> str:
        uri: str = prepare_grant_uri(
            f"{self.auth_url}/oauth/authorize",
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
        )
        return uri

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant:
        return self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    def refresh(self, *, refresh_token: str) -> TokenGrant:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, *, token: str) -> None:
        data = {"client_id": self.client_id, "client_secret": self.client_secret, "token": token}
        response = self._post("/oauth/revoke", data)
        if response.status_code != 200:
            raise _error(response)

    def _token(self, form: dict[str, str]) -> TokenGrant:
        response = self._post("/oauth/token", form)
        if response.status_code != 200:
            raise _error(response)
        try:
            data = response.json()
            return TokenGrant.from_response(data, datetime.now(UTC))
        except (ValueError, KeyError, TypeError):
            raise AmbiguousTokenResponse(
                status=200, description="the token response could not be read"
            ) from None

    def _post(self, path: str, form: dict[str, str]) -> httpx.Response:
        try:
            return self._http.post(path, data=form)
        except httpx.ConnectError as exc:
            # Never reached Calendly: nothing was applied, so trying again later is safe.
            raise Unreachable(reason=f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise AmbiguousTokenResponse(description=f"{type(exc).__name__}: {exc}") from exc


def _error(response: httpx.Response) -> OAuthError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from_oauth_response(
        response.status_code, body, retry_after=_rate_limit_wait(response)
    )


def _rate_limit_wait(response: httpx.Response) -> float | None:
    if response.status_code != 429:
        return None
    reset = response.headers.get("Retry-After") or response.headers.get("X-RateLimit-Reset")
    try:
        return float(reset) if reset else 60.0
    except ValueError:
        return 60.0
