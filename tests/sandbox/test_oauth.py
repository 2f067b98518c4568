"""The OAuth server: authorization code with PKCE, rotation, revoke, introspect, limits."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.sandbox_plugin import RunningSandbox, SandboxFactory

REDIRECT = "http://127.0.0.1:8000/oauth/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    return verifier, challenge.rstrip("=")


def consent(
    sandbox: RunningSandbox, challenge: str, decision: str = "allow", **extra: str
) -> dict[str, list[str]]:
    """Open the consent page, pick a person, press a button; the redirect's query."""
    params = {
        "client_id": sandbox.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "xyz-state",
        **extra,
    }
    page = httpx.get(f"{sandbox.url}/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    person = re.search(r'name="user" value="([A-Z0-9]+)" checked', page.text)
    assert person is not None
    answer = httpx.post(
        f"{sandbox.url}/oauth/authorize",
        data={**params, "user": person.group(1), "decision": decision},
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def token_request(sandbox: RunningSandbox, **form: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}/oauth/token", data=form, auth=(sandbox.client_id, sandbox.client_secret)
    )


def sign_in(sandbox: RunningSandbox) -> dict[str, object]:
    verifier, challenge = pkce()
    code = consent(sandbox, challenge)["code"][0]
    answer = token_request(
        sandbox,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_code_flow_returns_tokens_with_owner_and_organization(sandbox: RunningSandbox) -> None:
    tokens = sign_in(sandbox)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 7200
    assert tokens["owner"] == f"{sandbox.url}/users/{sandbox.owner.uuid}"
    assert tokens["organization"] == sandbox.organization_uri(sandbox.url)
    me = httpx.get(
        f"{sandbox.url}/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["resource"]["uri"] == tokens["owner"]


def test_consent_redirect_carries_the_state(sandbox: RunningSandbox) -> None:
    _verifier, challenge = pkce()

    assert consent(sandbox, challenge)["state"] == ["xyz-state"]


def test_deny_redirects_with_access_denied_and_state(sandbox: RunningSandbox) -> None:
    _verifier, challenge = pkce()

    query = consent(sandbox, challenge, decision="deny")

    assert query == {"error": ["access_denied"], "state": ["xyz-state"]}


def test_only_s256_pkce_is_accepted(sandbox: RunningSandbox) -> None:
    answer = httpx.get(
        f"{sandbox.url}/oauth/authorize",
        params={
            "client_id": sandbox.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "code_challenge": "abc",
            "code_challenge_method": "plain",
            "state": "s",
        },
    )

    assert answer.status_code == 302
    assert "error=invalid_request" in answer.headers["Location"]


def test_unregistered_redirect_uri_is_refused_without_redirecting(sandbox: RunningSandbox) -> None:
    answer = httpx.get(
        f"{sandbox.url}/oauth/authorize",
        params={
            "client_id": sandbox.client_id,
            "response_type": "code",
            "redirect_uri": "https://evil.example/cb",
        },
    )

    assert answer.status_code == 400


def test_wrong_code_verifier_is_invalid_grant(sandbox: RunningSandbox) -> None:
    _verifier, challenge = pkce()
    code = consent(sandbox, challenge)["code"][0]

    answer = token_request(
        sandbox,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier="x" * 50,
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_codes_are_single_use_and_expire_after_ten_minutes(sandbox: RunningSandbox) -> None:
    verifier, challenge = pkce()
    code = consent(sandbox, challenge)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    assert token_request(sandbox, **form).status_code == 200
    reused = token_request(sandbox, **form)

    verifier, challenge = pkce()
    late = consent(sandbox, challenge)["code"][0]
    sandbox.advance(601)
    expired = token_request(sandbox, **{**form, "code": late, "code_verifier": verifier})

    assert reused.json()["error"] == expired.json()["error"] == "invalid_grant"


def test_refresh_rotates_both_tokens(sandbox: RunningSandbox) -> None:
    tokens = sign_in(sandbox)

    refreshed = token_request(
        sandbox, grant_type="refresh_token", refresh_token=str(tokens["refresh_token"])
    )

    body = refreshed.json()
    assert refreshed.status_code == 200
    assert body["access_token"] != tokens["access_token"]
    assert body["refresh_token"] != tokens["refresh_token"]
    assert body["scope"] == tokens["scope"]
    assert body["expires_in"] == 7200


def test_refresh_token_reuse_is_invalid_grant(sandbox: RunningSandbox) -> None:
    tokens = sign_in(sandbox)
    form = {"grant_type": "refresh_token", "refresh_token": str(tokens["refresh_token"])}
    token_request(sandbox, **form)

    reused = token_request(sandbox, **form)

    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_access_tokens_expire(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(access_token_ttl=60)
    tokens = sign_in(sandbox)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    fresh = httpx.get(f"{sandbox.url}/users/me", headers=headers).status_code
    sandbox.advance(61)
    stale = httpx.get(f"{sandbox.url}/users/me", headers=headers)

    assert tokens["expires_in"] == 60
    assert (fresh, stale.status_code) == (200, 401)
    assert stale.json()["title"] == "Unauthenticated"


def test_more_than_eight_token_requests_a_minute_are_429(sandbox: RunningSandbox) -> None:
    tokens = sign_in(sandbox)
    refresh = str(tokens["refresh_token"])
    statuses = []
    for _ in range(8):
        answer = token_request(sandbox, grant_type="refresh_token", refresh_token=refresh)
        statuses.append(answer.status_code)
        if answer.status_code == 200:
            refresh = answer.json()["refresh_token"]

    # The code exchange in sign_in was the first of the eight.
    assert statuses == [200] * 7 + [429]
    assert answer.headers["X-RateLimit-Limit"] == "8"
    assert answer.headers["X-RateLimit-Remaining"] == "0"


def test_revoked_access_token_is_unauthenticated(sandbox: RunningSandbox) -> None:
    tokens = sign_in(sandbox)

    revoked = httpx.post(
        f"{sandbox.url}/oauth/revoke",
        data={
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "token": tokens["access_token"],
        },
    )
    me = httpx.get(
        f"{sandbox.url}/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    assert revoked.status_code == 200
    assert me.status_code == 401


def test_revoking_a_refresh_token_stops_rotation(sandbox: RunningSandbox) -> None:
    tokens = sign_in(sandbox)
    httpx.post(
        f"{sandbox.url}/oauth/revoke",
        data={
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "token": tokens["refresh_token"],
        },
    )

    answer = token_request(
        sandbox, grant_type="refresh_token", refresh_token=str(tokens["refresh_token"])
    )

    assert answer.json()["error"] == "invalid_grant"


def test_revoke_needs_the_client_secret(sandbox: RunningSandbox) -> None:
    answer = httpx.post(
        f"{sandbox.url}/oauth/revoke", data={"client_id": sandbox.client_id, "token": "t"}
    )

    assert answer.status_code == 403
    assert set(answer.json()) == {"error", "error_description"}


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_introspection_describes_active_tokens(sandbox: RunningSandbox, which: str) -> None:
    tokens = sign_in(sandbox)

    answer = httpx.post(
        f"{sandbox.url}/oauth/introspect",
        data={
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "token": tokens[which],
        },
    ).json()

    assert answer["active"] is True
    assert answer["client_id"] == sandbox.client_id
    assert answer["owner"] == tokens["owner"]


def test_introspection_of_unknown_tokens_is_inactive(sandbox: RunningSandbox) -> None:
    answer = httpx.post(
        f"{sandbox.url}/oauth/introspect",
        data={
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "token": "nope",
        },
    )

    assert answer.json() == {"active": False}


def test_wrong_client_secret_is_invalid_client(sandbox: RunningSandbox) -> None:
    answer = httpx.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(sandbox.client_id, "wrong"),
    )

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
