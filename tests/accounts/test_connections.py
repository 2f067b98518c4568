"""The organization's Calendly connection: tokens encrypted at rest, refreshed exactly once
however many processes need them, and marked for re-authorization when the grant is gone."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db
from django.db import connections
from django.test import Client, override_settings
from django.utils import timezone

from portal.accounts.connections import (
    ConnectionUnavailable,
    access_token,
    client_for,
    get_connection,
)
from portal.accounts.models import Connection, Organization, Role
from portal.calendly.errors import OAuthRateLimited, TokenUnavailable, Unauthenticated
from portal.calendly.oauth import CalendlyOAuth, TokenGrant, new_code_verifier, new_state
from portal.directory.models import Member, SyncRun
from portal.directory.sync import sync_organization
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

REDIRECT = "http://127.0.0.1:8000/accounts/callback"


class SlowTokenEndpoint(httpx.HTTPTransport):
    """Holds each token request for a moment, so two refreshes would surely overlap."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            time.sleep(0.5)
        return super().handle_request(request)


def oauth_for(sandbox: RunningSandbox, *, slow: bool = False) -> CalendlyOAuth:
    return CalendlyOAuth(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        auth_url=sandbox.url,
        transport=SlowTokenEndpoint() if slow else None,
    )


def grant_from_sandbox(sandbox: RunningSandbox, oauth: CalendlyOAuth) -> TokenGrant:
    """Go through the consent page as the owner, the way a browser would."""
    verifier, state = new_code_verifier(), new_state()
    url = oauth.authorization_url(redirect_uri=REDIRECT, state=state, code_verifier=verifier)
    page = httpx.get(url)
    assert page.status_code == 200, page.text
    person = re.search(r'name="user" value="([A-Z0-9]+)" checked', page.text)
    assert person is not None
    query = dict(parse_qs(urlsplit(url).query))
    form = {key: values[0] for key, values in query.items()}
    answer = httpx.post(
        f"{sandbox.url}/oauth/authorize",
        data={**form, "user": person.group(1), "decision": "allow"},
    )
    location = urlsplit(answer.headers["Location"])
    params = parse_qs(location.query)
    assert params["state"] == [state]
    return oauth.exchange_code(
        code=params["code"][0], redirect_uri=REDIRECT, code_verifier=verifier
    )


def connection_from(
    grant: TokenGrant, organization: Organization, *, as_issued: bool = False
) -> Connection:
    """The grant as the organization's connection: as "connect" stores it (`as_issued`), or
    pretending it is about to run out, so that the next use renews it."""
    return Connection.objects.create(
        organization=organization,
        kind=Connection.Kind.OAUTH,
        owner_uri=grant.owner,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        expires_at=grant.expires_at if as_issued else timezone.now() + timedelta(minutes=1),
        refreshed_at=timezone.now() if as_issued else None,
    )


def users_me(sandbox: RunningSandbox, token: str) -> int:
    return httpx.get(
        f"{sandbox.url}/users/me", headers={"Authorization": f"Bearer {token}"}
    ).status_code


@pytest.mark.django_db
def test_tokens_are_encrypted_at_rest() -> None:
    saved = Connection.objects.create(
        organization=OrganizationFactory(),
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri="https://api.calendly.com/users/OWNER",
        access_token="plain-access-token-123",
        refresh_token="plain-refresh-token-456",
    )
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM accounts_connection WHERE id = %s", [saved.pk]
        )
        stored = cursor.fetchone()
    assert "plain-access-token-123" not in stored[0]
    assert "plain-refresh-token-456" not in stored[1]
    assert Connection.objects.get(pk=saved.pk).access_token == "plain-access-token-123"


@pytest.mark.django_db
def test_rotating_the_encryption_key_keeps_tokens_readable() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        saved = Connection.objects.create(
            organization=OrganizationFactory(),
            kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
            owner_uri="https://api.calendly.com/users/OWNER",
            access_token="token-under-the-old-key",
        )
    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        assert Connection.objects.get(pk=saved.pk).access_token == "token-under-the-old-key"
        call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        assert Connection.objects.get(pk=saved.pk).access_token == "token-under-the-old-key"
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]), pytest.raises(Exception, match="decrypt"):
        Connection.objects.get(pk=saved.pk)


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_the_same_moment_make_one_token_call(sandbox: RunningSandbox) -> None:
    oauth = oauth_for(sandbox)
    grant = grant_from_sandbox(sandbox, oauth)
    connection = connection_from(grant, OrganizationFactory())
    sandbox.requests.reset()

    start = threading.Barrier(2)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def use_the_connection() -> None:
        try:
            start.wait()
            # Each thread has its own database connection, like two processes would.
            tokens.append(
                access_token(
                    Connection.objects.get(pk=connection.pk), oauth=oauth_for(sandbox, slow=True)
                )
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=use_the_connection) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sandbox.requests.count("POST /oauth/token") == 1
    assert len(tokens) == 2
    assert tokens[0] == tokens[1] != grant.access_token
    assert users_me(sandbox, tokens[0]) == 200
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.token_version == 1
    assert stored.refresh_token != grant.refresh_token
    assert stored.status == Connection.Status.HEALTHY


@pytest.mark.django_db
def test_a_revoked_grant_marks_the_connection_for_reauthorization(
    sandbox: RunningSandbox, client: Client
) -> None:
    oauth = oauth_for(sandbox)
    grant = grant_from_sandbox(sandbox, oauth)
    organization = OrganizationFactory()
    connection = connection_from(grant, organization)
    oauth.revoke(token=grant.refresh_token)
    sandbox.requests.reset()

    with pytest.raises(ConnectionUnavailable):
        access_token(connection, oauth=oauth)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTHORIZATION
    assert "invalid_grant" in connection.status_detail

    # Nobody tries the dead grant again: the connection refuses before calling Calendly.
    with pytest.raises(ConnectionUnavailable):
        get_connection(organization)
    assert sandbox.requests.count("POST /oauth/token") == 1

    # Admins are told on every page; other roles are not bothered with it.
    client.force_login(UserFactory(organization=organization, role=Role.ADMIN))
    assert "The Calendly connection needs attention" in client.get("/").content.decode()
    client.force_login(UserFactory(organization=organization, role=Role.SALES))
    assert "The Calendly connection needs attention" not in client.get("/").content.decode()


def failing_token_endpoint(answer: httpx.Response | Exception) -> CalendlyOAuth:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    oauth = CalendlyOAuth(
        client_id="id",
        client_secret="secret",
        auth_url="https://auth.example",
        transport=httpx.MockTransport(handler),
    )
    oauth.calls = calls  # type: ignore[attr-defined]
    return oauth


@pytest.mark.django_db
def test_a_refresh_whose_answer_is_lost_is_not_retried() -> None:
    oauth = failing_token_endpoint(httpx.ReadTimeout("no answer"))
    connection = connection_from(
        TokenGrant(
            "old-access", "old-refresh", None, "", "https://api.calendly.com/users/OWNER", ""
        ),
        OrganizationFactory(),
    )
    with pytest.raises(ConnectionUnavailable):
        access_token(connection, oauth=oauth)
    assert len(oauth.calls) == 1  # type: ignore[attr-defined]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTHORIZATION
    assert connection.refresh_token == "old-refresh"


@pytest.mark.django_db
def test_a_rate_limited_refresh_keeps_the_grant_usable() -> None:
    oauth = failing_token_endpoint(
        httpx.Response(429, json={"error": "rate_limited"}, headers={"X-RateLimit-Reset": "12"})
    )
    connection = connection_from(
        TokenGrant(
            "old-access", "old-refresh", None, "", "https://api.calendly.com/users/OWNER", ""
        ),
        OrganizationFactory(),
    )
    with pytest.raises(OAuthRateLimited) as raised:
        access_token(connection, oauth=oauth)
    assert raised.value.retry_after == 12
    connection.refresh_from_db()
    assert connection.status == Connection.Status.HEALTHY


@pytest.mark.django_db
def test_a_token_far_from_expiry_is_used_without_calling_calendly() -> None:
    oauth = failing_token_endpoint(httpx.ReadTimeout("must not be called"))
    connection = Connection.objects.create(
        organization=OrganizationFactory(),
        kind=Connection.Kind.OAUTH,
        owner_uri="https://api.calendly.com/users/OWNER",
        access_token="still-good",
        refresh_token="r",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert access_token(connection, oauth=oauth) == "still-good"
    assert oauth.calls == []  # type: ignore[attr-defined]


def test_every_authorize_url_carries_a_fresh_state_and_an_s256_challenge() -> None:
    oauth = CalendlyOAuth(client_id="id", client_secret="s", auth_url="https://auth.example")
    urls = [
        oauth.authorization_url(
            redirect_uri=REDIRECT, state=new_state(), code_verifier=new_code_verifier()
        )
        for _ in range(2)
    ]
    queries = [parse_qs(urlsplit(url).query) for url in urls]
    for query in queries:
        assert query["code_challenge_method"] == ["S256"]
        assert len(query["code_challenge"][0]) == 43
        assert len(query["state"][0]) >= 32
        assert query["redirect_uri"] == [REDIRECT]
    assert queries[0]["state"] != queries[1]["state"]
    assert queries[0]["code_challenge"] != queries[1]["code_challenge"]


def calendly_is(sandbox: RunningSandbox) -> override_settings:
    return override_settings(
        CALENDLY_API_URL=sandbox.url,
        CALENDLY_AUTH_URL=sandbox.url,
        CALENDLY_CLIENT_ID=sandbox.client_id,
        CALENDLY_CLIENT_SECRET=sandbox.client_secret,
    )


def oauth_connection(sandbox: RunningSandbox, organization: Organization) -> Connection:
    """The organization connected through the owner's OAuth grant, as "connect" stores it."""
    return connection_from(
        grant_from_sandbox(sandbox, oauth_for(sandbox)), organization, as_issued=True
    )


@pytest.mark.django_db
def test_a_token_refused_as_expired_is_renewed_once_and_the_call_goes_through(
    sandbox: RunningSandbox,
) -> None:
    organization = OrganizationFactory(uri=sandbox.organization_uri(sandbox.url))
    connection = oauth_connection(sandbox, organization)
    with calendly_is(sandbox):
        client = client_for(organization)
        # Calendly's clock says the token has run out although ours says it has not.
        sandbox.advance(7200)
        sandbox.requests.reset()

        me = client.get_current_user()

    assert me.email == sandbox.owner.email
    assert sandbox.requests.count("POST /oauth/token") == 1
    assert sandbox.requests.count("GET /users/me") == 2  # refused once, then answered
    connection.refresh_from_db()
    assert connection.status == Connection.Status.HEALTHY
    assert connection.token_version == 1


@pytest.mark.django_db
def test_a_refused_personal_access_token_is_not_renewed(sandbox: RunningSandbox) -> None:
    organization = OrganizationFactory(uri=sandbox.organization_uri(sandbox.url))
    Connection.objects.create(
        organization=organization,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri=f"{sandbox.url}/users/{sandbox.owner_uuid}",
        access_token="a-deleted-personal-access-token",
    )
    with calendly_is(sandbox), pytest.raises(Unauthenticated):
        client_for(organization).get_current_user()
    assert sandbox.requests.count("POST /oauth/token") == 0


@pytest.mark.django_db
def test_a_renewal_that_fails_marks_the_connection_and_says_why(sandbox: RunningSandbox) -> None:
    organization = OrganizationFactory(uri=sandbox.organization_uri(sandbox.url))
    connection = oauth_connection(sandbox, organization)
    oauth_for(sandbox).revoke(token=str(connection.refresh_token))  # the grant is gone
    with calendly_is(sandbox), pytest.raises(TokenUnavailable, match="invalid_grant"):
        client_for(organization).get_current_user()
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTHORIZATION


@pytest.mark.django_db(transaction=True)
def test_long_work_in_two_processes_outlives_short_tokens_with_one_renewal_per_expiry(
    sandbox_factory: SandboxFactory,
) -> None:
    """A sync and a loop of calls, each with its own database connection (as two processes
    would have), against tokens that live two seconds and a request budget that stretches the
    work over several of them."""
    ttl = 2
    sandbox = sandbox_factory(
        members=30, access_token_ttl=ttl, rate_limit=(4, 1), token_rate_limit=(100, 60)
    )
    organization = OrganizationFactory(uri=sandbox.organization_uri(sandbox.url), name="")
    connection = oauth_connection(sandbox, organization)
    sandbox.requests.reset()
    errors: list[BaseException] = []
    runs: list[SyncRun] = []
    calls = 0
    sync_done = threading.Event()

    def long_sync() -> None:
        try:
            runs.append(sync_organization(organization, trigger=SyncRun.Trigger.COMMAND))
        except BaseException as exc:
            errors.append(exc)
        finally:
            sync_done.set()
            connections.close_all()

    def loop_of_calls() -> None:
        nonlocal calls
        try:
            with client_for(Organization.objects.get(pk=organization.pk)) as client:
                while not sync_done.is_set() or calls < 3:
                    client.get_current_user()
                    calls += 1
                    time.sleep(0.3)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    started = time.monotonic()
    with calendly_is(sandbox):
        threads = [threading.Thread(target=long_sync), threading.Thread(target=loop_of_calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    elapsed = time.monotonic() - started

    assert not any(thread.is_alive() for thread in threads), "the work did not finish in 2 minutes"
    assert errors == []
    assert runs[0].status == SyncRun.Status.SUCCEEDED, runs[0].error
    assert Member.objects.filter(organization=organization).count() == 30
    assert elapsed > 2 * ttl, "the work must outlive several tokens for this test to mean much"
    renewals = sandbox.requests.count("POST /oauth/token")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.HEALTHY
    # Each renewal was made once, by whichever process came first: every one succeeded and was
    # stored (a second renewal of the same token would have been refused as a reused grant).
    assert renewals == connection.token_version >= 2
    # A token is renewed when a fifth of its life is left: at most one renewal per 0.8 ttl.
    assert renewals <= elapsed / (0.8 * ttl) + 1
