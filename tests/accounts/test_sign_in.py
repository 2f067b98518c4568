"""Signing in with Calendly against the sandbox over real HTTP, and what fails closed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from portal.accounts.models import Connection, Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.directory.models import Member, SyncRun
from tests.accounts.test_connections import users_me
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def calendly_is_the_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    with override_settings(
        CALENDLY_API_URL=sandbox.url,
        CALENDLY_AUTH_URL=sandbox.url,
        CALENDLY_CLIENT_ID=sandbox.client_id,
        CALENDLY_CLIENT_SECRET=sandbox.client_secret,
    ):
        yield


@pytest.fixture
def client() -> Client:
    # Like Calendly's sandbox apps, the sandbox accepts only localhost redirect URIs.
    return Client(SERVER_NAME="127.0.0.1")


def start_sign_in(client: Client, next_url: str = "") -> str:
    response = client.post("/accounts/sign-in", {"next": next_url})
    assert response.status_code == 302
    return str(response["Location"])


def consent(
    sandbox: RunningSandbox, authorize_url: str, *, who: str, decision: str = "allow"
) -> str:
    """Answer the sandbox's consent page as the first person with Calendly role `who`;
    returns the URL Calendly sends the browser back to."""
    page = httpx.get(authorize_url)
    assert page.status_code == 200, page.text
    people = re.findall(r'name="user" value="([A-Z0-9]+)"[^>]*>[^<]*\((\w+)\)</label>', page.text)
    user = next(uuid for uuid, role in people if role == who)
    form = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    answer = httpx.post(
        f"{sandbox.url}/oauth/authorize", data={**form, "user": user, "decision": decision}
    )
    assert answer.status_code == 302
    return str(answer.headers["Location"])


def back_to_portal(client: Client, callback_url: str) -> object:
    parts = urlsplit(callback_url)
    assert parts.path == "/accounts/callback"
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client: Client, sandbox: RunningSandbox, *, who: str, next_url: str = "") -> object:
    return back_to_portal(client, consent(sandbox, start_sign_in(client, next_url), who=who))


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def connected_by_the_owner(client: Client, sandbox: RunningSandbox) -> None:
    """The owner signs in, connects the organization, and signs out."""
    sign_in(client, sandbox, who="owner")
    client.post("/accounts/connect")
    client.post("/accounts/sign-out")


def uuid_of_person(user: User | None) -> str:
    assert user is not None
    assert user.calendly_uri is not None
    return user.calendly_uri.rsplit("/", 1)[-1]


def test_an_owner_signs_in_and_connects_the_organization(
    client: Client, sandbox: RunningSandbox
) -> None:
    authorize_url = start_sign_in(client)
    assert authorize_url.startswith(f"{sandbox.url}/oauth/authorize?")
    anonymous_session = client.session.session_key

    response = back_to_portal(client, consent(sandbox, authorize_url, who="owner"))

    assert response.status_code == 302  # type: ignore[attr-defined]
    assert response["Location"] == "/accounts/connect"  # type: ignore[index]
    owner = signed_in_user(client)
    assert owner is not None
    assert owner.email == sandbox.owner.email
    assert owner.calendly_role == "owner"
    assert owner.roles == {Role.ADMIN}
    assert client.session.session_key != anonymous_session  # a new session id at sign-in

    page = client.get("/accounts/connect").content.decode()
    assert "Connect this organization" in page
    assert client.post("/accounts/connect").status_code == 302

    connection = Connection.objects.get(organization=owner.organization)
    assert connection.kind == Connection.Kind.OAUTH
    assert connection.owner_uri == owner.calendly_uri
    assert connection.status == Connection.Status.HEALTHY
    me = httpx.get(
        f"{sandbox.url}/users/me", headers={"Authorization": f"Bearer {connection.access_token}"}
    )
    assert me.status_code == 200
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == [Action.SIGN_IN, Action.CONNECTED]
    first_sync = SyncRun.objects.get(organization=owner.organization)
    assert first_sync.trigger == SyncRun.Trigger.CONNECTED
    assert first_sync.status == SyncRun.Status.QUEUED  # for a worker; none runs here


def test_a_member_of_a_connected_organization_signs_in_without_a_role(
    client: Client, sandbox: RunningSandbox
) -> None:
    connected_by_the_owner(client, sandbox)

    response = sign_in(client, sandbox, who="user")

    assert response.status_code == 302  # type: ignore[attr-defined]
    member = signed_in_user(client)
    assert member is not None
    assert member.calendly_role == "user"
    assert member.roles == frozenset()
    assert client.get("/audit/").status_code == 403


def test_a_member_of_an_organization_that_has_not_connected_is_refused(
    client: Client, sandbox: RunningSandbox
) -> None:
    response = sign_in(client, sandbox, who="user")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "does not use this portal yet" in response.content.decode()  # type: ignore[attr-defined]
    assert signed_in_user(client) is None
    assert not Organization.objects.exists()


def test_sign_in_returns_to_a_safe_next_page_only(client: Client, sandbox: RunningSandbox) -> None:
    connected_by_the_owner(client, sandbox)

    assert sign_in(client, sandbox, who="owner", next_url="/audit/")["Location"] == "/audit/"  # type: ignore[index]
    client.post("/accounts/sign-out")
    evil = sign_in(client, sandbox, who="owner", next_url="https://evil.example/steal")
    assert evil["Location"] == "/"  # type: ignore[index]


def test_every_authorize_redirect_carries_a_fresh_state_and_an_s256_challenge(
    client: Client,
) -> None:
    first, second = (parse_qs(urlsplit(start_sign_in(client)).query) for _ in range(2))
    for query in (first, second):
        assert query["code_challenge_method"] == ["S256"]
        assert query["response_type"] == ["code"]
        assert query["redirect_uri"] == ["http://127.0.0.1/accounts/callback"]
    assert first["state"] != second["state"]
    assert first["code_challenge"] != second["code_challenge"]


def assert_failed_closed(response: object, client: Client, reason: str) -> None:
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert reason in response.content.decode()  # type: ignore[attr-defined]
    assert signed_in_user(client) is None
    assert not AuditEntry.objects.filter(action=Action.SIGN_IN).exists()


def test_a_callback_without_state_fails_closed(client: Client, sandbox: RunningSandbox) -> None:
    callback = consent(sandbox, start_sign_in(client), who="owner")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = client.get(f"/accounts/callback?code={code}")
    assert_failed_closed(response, client, "does not belong to the sign-in you started")


def test_a_callback_with_a_foreign_state_fails_closed(
    client: Client, sandbox: RunningSandbox
) -> None:
    callback = consent(sandbox, start_sign_in(client), who="owner")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = client.get(f"/accounts/callback?code={code}&state=made-up-by-an-attacker")
    assert_failed_closed(response, client, "does not belong to the sign-in you started")


def test_a_replayed_callback_fails_closed(client: Client, sandbox: RunningSandbox) -> None:
    callback = consent(sandbox, start_sign_in(client), who="owner")
    assert back_to_portal(client, callback).status_code == 302  # type: ignore[attr-defined]
    client.post("/accounts/sign-out")
    replay = back_to_portal(client, callback)
    assert replay.status_code == 400  # type: ignore[attr-defined]
    assert signed_in_user(client) is None
    assert AuditEntry.objects.filter(action=Action.SIGN_IN).count() == 1


def test_denied_consent_fails_closed(client: Client, sandbox: RunningSandbox) -> None:
    callback = consent(sandbox, start_sign_in(client), who="owner", decision="deny")
    assert "error=access_denied" in callback
    response = back_to_portal(client, callback)
    assert_failed_closed(response, client, "You chose not to allow")


def test_a_callback_without_a_code_fails_closed(client: Client, sandbox: RunningSandbox) -> None:
    state = parse_qs(urlsplit(start_sign_in(client)).query)["state"][0]
    response = client.get(f"/accounts/callback?state={state}")
    assert_failed_closed(response, client, "had no sign-in code")


def test_a_code_from_another_session_fails_closed(sandbox: RunningSandbox) -> None:
    victim, attacker = Client(SERVER_NAME="127.0.0.1"), Client(SERVER_NAME="127.0.0.1")
    start_sign_in(victim)
    # The attacker gets a code for their own sign-in and plants it in the victim's browser.
    planted = consent(sandbox, start_sign_in(attacker), who="admin")
    response = back_to_portal(victim, planted)
    assert_failed_closed(response, victim, "does not belong to the sign-in you started")


def test_a_callback_that_was_never_started_fails_closed(client: Client) -> None:
    response = client.get("/accounts/callback?code=abc&state=def")
    assert_failed_closed(response, client, "was not started here")


def test_sign_out_is_a_post_that_ends_the_session(client: Client, sandbox: RunningSandbox) -> None:
    sign_in(client, sandbox, who="owner")
    assert client.get("/accounts/sign-out").status_code == 405
    assert signed_in_user(client) is not None
    assert client.post("/accounts/sign-out").status_code == 302
    assert signed_in_user(client) is None
    assert AuditEntry.objects.filter(action=Action.SIGN_OUT).count() == 1


def test_an_admin_grants_and_revokes_portal_roles(client: Client) -> None:
    admin = UserFactory(role=Role.ADMIN)
    member = UserFactory(organization=admin.organization, role=Role.VIEWER, portal_role="")
    client.force_login(admin)

    page = client.get("/accounts/people").content.decode()
    assert member.email in page
    client.post(f"/accounts/people/{member.pk}/role", {"portal_role": Role.SALES})
    member.refresh_from_db()
    assert member.roles == {Role.SALES}
    client.post(f"/accounts/people/{member.pk}/role", {"portal_role": ""})
    member.refresh_from_db()
    assert member.roles == frozenset()

    entries = AuditEntry.objects.order_by("pk")
    assert [e.action for e in entries] == [Action.ROLE_GRANTED, Action.ROLE_REVOKED]
    assert entries[0].before == {"portal_role": ""}
    assert entries[0].after == {"portal_role": "sales"}
    assert entries[0].target_id == str(member.pk)


def test_roles_of_people_in_another_organization_cannot_be_touched(client: Client) -> None:
    client.force_login(UserFactory(role=Role.ADMIN))
    outsider = UserFactory(organization=OrganizationFactory(), role=Role.VIEWER)
    response = client.post(f"/accounts/people/{outsider.pk}/role", {"portal_role": Role.ADMIN})
    assert response.status_code == 404
    outsider.refresh_from_db()
    assert outsider.portal_role == Role.VIEWER
    assert outsider.email not in client.get("/accounts/people").content.decode()


def test_portal_admin_cannot_be_granted_to_a_plain_member(client: Client) -> None:
    admin = UserFactory(role=Role.ADMIN)
    member = UserFactory(organization=admin.organization, role=Role.VIEWER)
    client.force_login(admin)
    client.post(f"/accounts/people/{member.pk}/role", {"portal_role": "superuser"})
    member.refresh_from_db()
    assert member.portal_role == Role.VIEWER


def test_connect_command_connects_with_an_admins_token(sandbox: RunningSandbox) -> None:
    out = StringIO()
    call_command("connect", token=sandbox.admin_tokens[0], stdout=out)
    assert "a Calendly admin" in out.getvalue()
    connection = Connection.objects.get()
    assert connection.kind == Connection.Kind.PERSONAL_ACCESS_TOKEN
    assert connection.access_token == sandbox.admin_tokens[0]
    assert connection.organization.name in out.getvalue()
    entry = AuditEntry.objects.get()
    assert entry.action == Action.CONNECTED
    assert entry.actor_label.startswith("manage.py connect")
    assert entry.after == {
        "kind": Connection.Kind.PERSONAL_ACCESS_TOKEN,
        "owner": connection.owner_uri,
        "status": Connection.Status.HEALTHY,
        "scopes": "",
    }


def test_connect_command_refuses_a_plain_members_token(sandbox: RunningSandbox) -> None:
    with pytest.raises(CommandError, match="needs the token of an owner or admin"):
        call_command("connect", token=sandbox.user_token, stdout=StringIO())
    assert not Connection.objects.exists()


def test_connect_command_explains_a_refused_token(sandbox: RunningSandbox) -> None:
    with pytest.raises(CommandError, match="Calendly refused the token"):
        call_command("connect", token="not-a-real-token", stdout=StringIO())


def test_an_expired_code_fails_closed(client: Client, sandbox: RunningSandbox) -> None:
    callback = consent(sandbox, start_sign_in(client), who="owner")
    sandbox.advance(11 * 60)  # Calendly's codes live ten minutes
    response = back_to_portal(client, callback)
    assert_failed_closed(
        response,
        client,
        "Calendly refused the sign-in code or token while signing you in: it expired, was "
        "already used, or was revoked. Start again.",
    )


def test_calendly_being_down_at_the_callback_fails_closed(
    client: Client, sandbox: RunningSandbox
) -> None:
    callback = consent(sandbox, start_sign_in(client), who="owner")
    sandbox.server.stop()
    response = back_to_portal(client, callback)
    assert_failed_closed(
        response, client, "Calendly could not be reached while signing you in; nothing was changed"
    )


def test_a_crafted_post_cannot_make_anyone_a_portal_admin(client: Client) -> None:
    admin = UserFactory(role=Role.ADMIN)
    member = UserFactory(organization=admin.organization, role=Role.VIEWER)
    client.force_login(admin)

    response = client.post(f"/accounts/people/{member.pk}/role", {"portal_role": Role.ADMIN})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.portal_role == Role.VIEWER
    assert member.roles == {Role.VIEWER}
    page = client.get("/accounts/people").content.decode()
    assert "That is not a role you can give" in page
    assert not AuditEntry.objects.filter(action=Action.ROLE_GRANTED).exists()


def test_a_stored_admin_portal_role_grants_nothing_and_is_shown_as_it_is(client: Client) -> None:
    """An "admin" written before the rule (or by hand) is no way into the admin pages."""
    admin = UserFactory(role=Role.ADMIN)
    member = UserFactory(organization=admin.organization, role=Role.VIEWER, portal_role="admin")
    assert member.roles == frozenset()

    client.force_login(member)
    assert client.get("/accounts/people").status_code == 403
    client.force_login(admin)
    page = client.get("/accounts/people").content.decode()
    row = page[page.index(member.email) :]
    row = row[: row.index("</tr>")]
    assert "Admin: stored, but not a role the portal gives, so no access" in row
    assert ">No portal access</option>" in row  # one click clears it


def test_a_callback_link_does_not_sign_out_whoever_follows_it(client: Client) -> None:
    person = UserFactory(role=Role.ADMIN)
    client.force_login(person)

    response = client.get("/accounts/callback")

    assert response.status_code == 400
    assert signed_in_user(client) == person
    assert client.get("/accounts/people").status_code == 200


def oauth_tokens_of(sandbox: RunningSandbox, user_uuid: str) -> list[tuple[str, bool]]:
    """(kind, still usable) of every OAuth access and refresh token the sandbox issued."""
    now = sandbox.clock()
    access = [
        ("access", t.active(now))
        for t in sandbox.tokens.values()
        if t.kind == "oauth" and t.user == user_uuid
    ]
    refresh = [
        ("refresh", not (t.used or t.revoked))
        for t in sandbox.refresh_tokens.values()
        if t.user == user_uuid
    ]
    return access + refresh


def test_a_member_who_only_signs_in_leaves_no_live_token_at_calendly(
    client: Client, sandbox: RunningSandbox
) -> None:
    connected_by_the_owner(client, sandbox)

    sign_in(client, sandbox, who="user")

    uuid = uuid_of_person(signed_in_user(client))
    assert oauth_tokens_of(sandbox, uuid) == [("access", False), ("refresh", False)]
    entry = AuditEntry.objects.filter(action=Action.SIGN_IN).latest("pk")
    assert entry.after == {"calendly_role": "user", "sign_in_grant": "revoked"}


def test_an_admin_of_a_connected_organization_keeps_no_live_token_either(
    client: Client, sandbox: RunningSandbox
) -> None:
    connected_by_the_owner(client, sandbox)

    sign_in(client, sandbox, who="admin")

    uuid = uuid_of_person(signed_in_user(client))
    assert oauth_tokens_of(sandbox, uuid) == [("access", False), ("refresh", False)]
    assert "Sign in with Calendly to connect" in client.get("/accounts/connect").content.decode()


def test_an_admin_who_signs_in_to_connect_keeps_the_grant_until_signing_out(
    client: Client, sandbox: RunningSandbox
) -> None:
    connected_by_the_owner(client, sandbox)

    sign_in(client, sandbox, who="admin", next_url="/accounts/connect")
    uuid = uuid_of_person(signed_in_user(client))
    assert oauth_tokens_of(sandbox, uuid) == [("access", True), ("refresh", True)]
    assert "Reconnect with my account" in client.get("/accounts/connect").content.decode()

    client.post("/accounts/sign-out")  # without reconnecting after all

    assert oauth_tokens_of(sandbox, uuid) == [("access", False), ("refresh", False)]
    entry = AuditEntry.objects.filter(action=Action.SIGN_OUT).latest("pk")
    assert entry.after == {"sign_in_grant": "revoked"}


def test_the_connection_still_works_after_its_owner_signs_in_and_out_again(
    client: Client, sandbox_factory: SandboxFactory
) -> None:
    # Here revoking one of a person's tokens ends all their grants to the app, the reading of
    # Calendly's docs the portal must survive: the owner's sign-in token is left alone.
    sandbox = sandbox_factory(revoke_ends_all_grants=True)
    with override_settings(CALENDLY_API_URL=sandbox.url, CALENDLY_AUTH_URL=sandbox.url):
        sign_in(client, sandbox, who="owner")
        client.post("/accounts/connect")
        client.post("/accounts/sign-out")
        sign_in(client, sandbox, who="owner")
        client.post("/accounts/sign-out")

        connection = Connection.objects.get()
        assert users_me(sandbox, str(connection.access_token)) == 200
        sign_in_entry = AuditEntry.objects.filter(action=Action.SIGN_IN).latest("pk")
        assert sign_in_entry.after["sign_in_grant"] == (
            "kept: the connection is this person's grant"
        )


def test_disconnecting_ends_the_grant_at_calendly(client: Client, sandbox: RunningSandbox) -> None:
    sign_in(client, sandbox, who="owner")
    client.post("/accounts/connect")
    connection = Connection.objects.get()
    tokens = (str(connection.access_token), str(connection.refresh_token))

    response = client.post("/accounts/disconnect", {"confirm": "disconnect"}, follow=True)

    assert "Disconnected" in response.content.decode()
    assert users_me(sandbox, tokens[0]) == 401
    assert sandbox.refresh_tokens[tokens[1]].revoked
    entry = AuditEntry.objects.get(action=Action.DISCONNECTED)
    assert entry.after == {"revoked_at_calendly": True}


def test_a_disconnect_calendly_cannot_confirm_says_so(
    client: Client, sandbox: RunningSandbox
) -> None:
    sign_in(client, sandbox, who="owner")
    client.post("/accounts/connect")
    sandbox.server.stop()

    response = client.post("/accounts/disconnect", {"confirm": "disconnect"}, follow=True)

    assert "may still list the portal as connected" in response.content.decode()
    assert not Connection.objects.exists()
    entry = AuditEntry.objects.get(action=Action.DISCONNECTED)
    assert entry.after == {"revoked_at_calendly": False}


def test_a_role_given_before_a_members_first_sign_in_applies_when_they_sign_in(
    client: Client, sandbox: RunningSandbox
) -> None:
    sign_in(client, sandbox, who="owner")
    client.post("/accounts/connect")
    owner = signed_in_user(client)
    assert owner is not None
    newcomer = sandbox.plain_users[0]  # the first plain member on the consent page
    member = Member.objects.create(
        organization=owner.organization,
        uri=f"{sandbox.url}/organization_memberships/M-{newcomer.uuid}",
        user_uri=f"{sandbox.url}/users/{newcomer.uuid}",
        name=newcomer.name,
        email=newcomer.email,
        role=Member.Role.USER,
    )

    page = client.post(f"/members/{member.pk}/role", {"portal_role": Role.SALES}, follow=True)

    assert "from their first sign-in" in page.content.decode()
    entry = AuditEntry.objects.get(action=Action.ROLE_GRANTED)
    assert (entry.actor, entry.after) == (owner, {"portal_role": "sales"})
    assert "not signed in yet" in client.get("/accounts/people").content.decode()
    client.post("/accounts/sign-out")

    sign_in(client, sandbox, who="user")

    person = signed_in_user(client)
    assert person is not None
    assert person.calendly_uri == member.user_uri
    assert person.roles == {Role.SALES}


def test_portal_admin_cannot_be_given_ahead_of_a_first_sign_in_either(client: Client) -> None:
    admin = UserFactory(role=Role.ADMIN)
    member = Member.objects.create(
        organization=admin.organization,
        uri="https://api.calendly.com/organization_memberships/M1",
        user_uri="https://api.calendly.com/users/U1",
        name="Eve",
        email="eve@example.com",
        role=Member.Role.USER,
    )
    client.force_login(admin)

    client.post(f"/members/{member.pk}/role", {"portal_role": Role.ADMIN})

    assert not User.objects.filter(calendly_uri=member.user_uri, portal_role="admin").exists()
    assert not AuditEntry.objects.filter(action=Action.ROLE_GRANTED).exists()
