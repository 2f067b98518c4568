"""Rate limits, the request counter and injected faults."""

from __future__ import annotations

import httpx
import pytest

from portal.sandbox.state import AccessToken
from tests.sandbox_plugin import RunningSandbox, SandboxFactory


def client(sandbox: RunningSandbox, token: str, timeout: float = 10) -> httpx.Client:
    return httpx.Client(
        base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    )


def test_every_response_carries_rate_limit_headers(owner: httpx.Client) -> None:
    first = owner.get("/users/me")
    second = owner.get("/users/NOPE")

    assert first.headers["X-RateLimit-Limit"] == "500"
    assert int(first.headers["X-RateLimit-Remaining"]) == 499
    assert int(second.headers["X-RateLimit-Remaining"]) == 498
    assert 0 < int(second.headers["X-RateLimit-Reset"]) <= 60


def test_429_after_the_limit_with_reset_header(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit=(3, 60))
    with client(sandbox, sandbox.owner_token) as owner:
        answers = [owner.get("/users/me") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > 0
    assert "Retry-After" not in limited.headers


def test_rate_limits_are_per_user(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit=(2, 60))
    with client(sandbox, sandbox.owner_token) as owner, client(sandbox, sandbox.user_token) as user:
        owner_answers = [owner.get("/users/me").status_code for _ in range(3)]
        user_answer = user.get("/users/me").status_code

    assert owner_answers == [200, 200, 429]
    assert user_answer == 200


def test_window_resets_after_its_period(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit=(1, 60))
    with client(sandbox, sandbox.owner_token) as owner:
        owner.get("/users/me")
        blocked = owner.get("/users/me").status_code
        sandbox.advance(61)
        allowed = owner.get("/users/me").status_code

    assert (blocked, allowed) == (429, 200)


def test_retry_after_is_sent_only_when_asked_for(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit=(1, 60), retry_after=True)
    with client(sandbox, sandbox.owner_token) as owner:
        owner.get("/users/me")
        limited = owner.get("/users/me")

    assert limited.headers["Retry-After"] == limited.headers["X-RateLimit-Reset"]


def test_request_counter_counts_per_endpoint_template(
    sandbox: RunningSandbox, owner: httpx.Client, org_uri: str
) -> None:
    sandbox.requests.reset()
    owner.get("/organization_memberships", params={"organization": org_uri})
    owner.get("/organization_memberships", params={"organization": org_uri, "count": 5})
    owner.get(f"/organization_memberships/{sandbox.membership_of[sandbox.owner.uuid]}")

    over_http = httpx.get(f"{sandbox.url}/_sandbox/requests").json()

    assert sandbox.requests.count("GET /organization_memberships") == 2
    assert sandbox.requests.count("GET /organization_memberships/{uuid}") == 1
    assert over_http["counts"] == {
        "GET /organization_memberships": 2,
        "GET /organization_memberships/{uuid}": 1,
    }
    httpx.delete(f"{sandbox.url}/_sandbox/requests")
    assert sandbox.requests.total() == 0


def test_faults_answer_500_without_applying_the_write(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(faults=1.0, fault_kinds=("error",))
    path = f"/organizations/{sandbox.org_uuid}/invitations"
    with client(sandbox, sandbox.owner_token) as owner:
        failed = owner.post(path, json={"email": "lost@example.com"})

    assert failed.status_code == 500
    assert failed.json()["title"] == "Internal Server Error"
    assert not any(i.email == "lost@example.com" for i in sandbox.invitations.values())


def test_faults_close_the_connection_after_the_write_was_applied(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory()
    path = f"/organizations/{sandbox.org_uuid}/invitations"
    sandbox.inject_fault("drop")
    with client(sandbox, sandbox.owner_token) as owner:
        with pytest.raises(httpx.RemoteProtocolError):
            owner.post(path, json={"email": "applied@example.com"})
        retried = owner.post(path, json={"email": "applied@example.com"})

    assert retried.status_code == 400
    assert retried.json()["title"] == "Already Invited"


def test_drop_faults_only_hit_writes(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(faults=1.0, fault_kinds=("drop",))
    with client(sandbox, sandbox.owner_token) as owner:
        assert owner.get("/users/me").status_code == 200


def test_slow_faults_delay_the_answer_past_a_short_read_timeout(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(fault_delay=1.0)
    sandbox.inject_fault("slow")
    with client(sandbox, sandbox.owner_token, timeout=0.2) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get("/users/me")
        assert impatient.get("/users/me").status_code == 200


def test_insufficient_scope_lists_the_required_scope(sandbox: RunningSandbox) -> None:
    token = "scoped-token"
    sandbox.tokens[token] = AccessToken(
        token, sandbox.owner.uuid, "oauth", "users:read", sandbox.clock()
    )
    with client(sandbox, token) as scoped:
        me = scoped.get("/users/me")
        members = scoped.get(
            "/organization_memberships", params={"user": me.json()["resource"]["uri"]}
        )

    assert me.status_code == 200
    assert members.status_code == 403
    assert members.json()["title"] == "Insufficient scope"
    assert members.json()["required_scopes"] == ["organizations:read"]
