"""Users, the organization, memberships and invitations."""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox_plugin import RunningSandbox, SandboxFactory


def members_of(client: httpx.Client, org_uri: str, **params: object) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    query: dict[str, object] = {"organization": org_uri, "count": 100, **params}
    while True:
        page = client.get("/organization_memberships", params=query).json()
        rows += page["collection"]
        if page["pagination"]["next_page_token"] is None:
            return rows
        query["page_token"] = page["pagination"]["next_page_token"]


def test_users_me_answers_the_owner_with_full_uris(
    sandbox: RunningSandbox, owner: httpx.Client
) -> None:
    me = owner.get("/users/me").json()["resource"]

    assert me["uri"] == f"{sandbox.url}/users/{sandbox.owner.uuid}"
    assert me["current_organization"] == sandbox.organization_uri(sandbox.url)
    assert me["email"] == sandbox.owner.email


def test_missing_or_unknown_tokens_are_unauthenticated(sandbox: RunningSandbox) -> None:
    anonymous = httpx.get(f"{sandbox.url}/users/me")
    wrong = httpx.get(f"{sandbox.url}/users/me", headers={"Authorization": "Bearer nope"})

    assert anonymous.status_code == wrong.status_code == 401
    assert wrong.json() == {"title": "Unauthenticated", "message": "The access token is invalid"}
    assert "X-RateLimit-Limit" in wrong.headers


def test_organization_answers_plan_and_stage(owner: httpx.Client, sandbox: RunningSandbox) -> None:
    org = owner.get(f"/organizations/{sandbox.org_uuid}").json()["resource"]

    assert (org["plan"], org["stage"], org["name"]) == ("enterprise", "paid", "Acme Sandbox Inc.")


def test_memberships_paginate_with_all_five_keys_over_every_member(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    first = owner.get("/organization_memberships", params={"organization": org_uri, "count": 7})
    pagination = first.json()["pagination"]
    everyone = members_of(owner, org_uri)

    assert set(pagination) == {
        "count",
        "next_page",
        "previous_page",
        "next_page_token",
        "previous_page_token",
    }
    assert pagination["count"] == 7
    assert pagination["previous_page"] is None
    assert pagination["next_page"].startswith(f"{sandbox.url}/organization_memberships?")
    assert len(everyone) == 30
    assert len({m["uri"] for m in everyone}) == 30
    following = owner.get(pagination["next_page"]).json()
    assert following["pagination"]["previous_page_token"] is not None


def test_memberships_filter_by_role_and_email(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    admins = members_of(owner, org_uri, role="admin")
    found = members_of(owner, org_uri, email=sandbox.admins[0].email.upper())

    assert {m["user"]["email"] for m in admins} == {a.email for a in sandbox.admins}
    assert len(found) == 1
    assert found[0]["role"] == "admin"


def test_count_outside_1_to_100_is_invalid_with_details(owner: httpx.Client, org_uri: str) -> None:
    answer = owner.get("/organization_memberships", params={"organization": org_uri, "count": 101})

    assert answer.status_code == 400
    assert answer.json()["title"] == "Invalid Argument"
    assert answer.json()["details"][0]["parameter"] == "count"


def test_bare_uuid_instead_of_a_uri_is_invalid(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    answer = owner.get("/organization_memberships", params={"organization": sandbox.org_uuid})

    assert answer.status_code == 400
    assert answer.json()["details"][0]["parameter"] == "organization"


def test_unknown_uuids_are_resource_not_found(owner: httpx.Client) -> None:
    for path in ("/users/NOPE", "/organization_memberships/NOPE", "/event_types/NOPE"):
        answer = owner.get(path)
        assert answer.status_code == 404
        assert answer.json()["title"] == "Resource Not Found"


def test_another_organizations_people_are_not_in_your_organization(
    outsider: httpx.Client, sandbox: RunningSandbox, org_uri: str
) -> None:
    membership = sandbox.membership_of[sandbox.owner.uuid]

    listing = outsider.get("/organization_memberships", params={"organization": org_uri})
    single = outsider.get(f"/organization_memberships/{membership}")
    person = outsider.get(f"/users/{sandbox.owner.uuid}")

    assert listing.status_code == single.status_code == person.status_code == 403
    assert single.json()["message"] == "This user is not in your organization"


def test_another_organizations_event_type_is_not_found(
    outsider: httpx.Client, sandbox: RunningSandbox
) -> None:
    ours = next(et for et in sandbox.event_types.values() if et.organization == sandbox.org_uuid)

    assert outsider.get(f"/event_types/{ours.uuid}").status_code == 404


def test_invite_then_find_it_by_email(owner: httpx.Client, sandbox: RunningSandbox) -> None:
    path = f"/organizations/{sandbox.org_uuid}/invitations"

    created = owner.post(path, json={"email": "new.person@example.com"})
    listed = owner.get(path, params={"email": "new.person@example.com"}).json()["collection"]

    assert created.status_code == 201
    invitation = created.json()["resource"]
    assert invitation["status"] == "pending"
    assert invitation["last_sent_at"]
    assert invitation["uri"].startswith(
        f"{sandbox.url}/organizations/{sandbox.org_uuid}/invitations/"
    )
    assert [i["uri"] for i in listed] == [invitation["uri"]]


def test_duplicate_invitation_answers_already_invited(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    path = f"/organizations/{sandbox.org_uuid}/invitations"
    owner.post(path, json={"email": "twice@example.com"})

    again = owner.post(path, json={"email": "TWICE@example.com"})

    assert again.status_code == 400
    assert again.json() == {
        "title": "Already Invited",
        "message": "TWICE@example.com has already been invited",
    }


def test_inviting_a_member_answers_already_organization_member(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    email = sandbox.plain_users[3].email
    answer = owner.post(f"/organizations/{sandbox.org_uuid}/invitations", json={"email": email})

    assert answer.status_code == 400
    assert answer.json()["title"] == "Already Organization Member"


def test_invalid_and_missing_emails_are_refused(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    path = f"/organizations/{sandbox.org_uuid}/invitations"

    malformed = owner.post(path, json={"email": "not-an-email"})
    missing = owner.post(path, json={})

    assert malformed.status_code == missing.status_code == 400
    assert malformed.json()["title"] == "Invalid Email"
    assert missing.json()["title"] == "Invalid Argument"
    assert missing.json()["details"] == [{"parameter": "email", "message": "must be filled"}]


def test_plain_members_cannot_invite_or_list_invitations(
    member: httpx.Client, sandbox: RunningSandbox
) -> None:
    path = f"/organizations/{sandbox.org_uuid}/invitations"

    assert member.post(path, json={"email": "x@example.com"}).status_code == 403
    assert member.get(path).status_code == 403


def test_revoked_invitation_disappears(owner: httpx.Client, sandbox: RunningSandbox) -> None:
    path = f"/organizations/{sandbox.org_uuid}/invitations"
    uri = owner.post(path, json={"email": "gone@example.com"}).json()["resource"]["uri"]
    uuid = uri.rsplit("/", 1)[1]

    revoked = owner.delete(f"{path}/{uuid}")

    assert revoked.status_code == 204
    assert owner.get(f"{path}/{uuid}").status_code == 404
    assert owner.get(path, params={"email": "gone@example.com"}).json()["collection"] == []


def test_accepted_invitation_cannot_be_revoked(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    path = f"/organizations/{sandbox.org_uuid}/invitations"
    accepted = owner.get(path, params={"status": "accepted"}).json()["collection"][0]

    answer = owner.delete(f"{path}/{accepted['uri'].rsplit('/', 1)[1]}")

    assert answer.status_code == 400
    assert answer.json()["title"] == "Invitation Already Accepted"


def test_accepting_an_invitation_adds_a_member(
    owner: httpx.Client, sandbox: RunningSandbox, org_uri: str
) -> None:
    owner.post(
        f"/organizations/{sandbox.org_uuid}/invitations", json={"email": "joiner@example.com"}
    )

    accepted = httpx.post(
        f"{sandbox.url}/_sandbox/invitations/accept", json={"email": "joiner@example.com"}
    )
    found = members_of(owner, org_uri, email="joiner@example.com")

    assert accepted.status_code == 200
    assert found[0]["role"] == "user"


def test_remove_member_refuses_the_owner_and_yourself(
    admin: httpx.Client, sandbox: RunningSandbox
) -> None:
    owner_membership = sandbox.membership_of[sandbox.owner.uuid]
    own_membership = sandbox.membership_of[sandbox.admins[0].uuid]

    owner_answer = admin.delete(f"/organization_memberships/{owner_membership}")
    self_answer = admin.delete(f"/organization_memberships/{own_membership}")

    assert owner_answer.status_code == self_answer.status_code == 403
    assert owner_answer.json()["message"] == "You can not change owner role"
    assert self_answer.json()["message"] == "You can not remove yourself from organization"


def test_remove_member_takes_them_out_of_the_directory(
    admin: httpx.Client, member: httpx.Client, sandbox: RunningSandbox, org_uri: str
) -> None:
    leaver = sandbox.plain_users[5]
    membership = sandbox.membership_of[leaver.uuid]

    removed = admin.delete(f"/organization_memberships/{membership}")

    assert removed.status_code == 204
    assert admin.get(f"/organization_memberships/{membership}").status_code == 404
    assert members_of(admin, org_uri, email=leaver.email) == []
    assert len(members_of(member, org_uri)) == 29


def test_plain_members_cannot_remove_anyone(member: httpx.Client, sandbox: RunningSandbox) -> None:
    target = sandbox.membership_of[sandbox.plain_users[4].uuid]

    answer = member.delete(f"/organization_memberships/{target}")

    assert answer.status_code == 403


def test_groups_relationships_and_teams_are_listed(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    groups = owner.get("/groups", params={"organization": org_uri}).json()["collection"]
    relationships = owner.get(
        "/group_relationships", params={"group": groups[0]["uri"], "count": 100}
    ).json()["collection"]
    teams = owner.get("/teams").json()["collection"]

    assert len(groups) == 2
    assert {r["role"] for r in relationships} == {"member", "admin"}
    owner_types = {r["owner"]["type"] for r in relationships}
    assert owner_types == {"OrganizationMembership", "OrganizationInvitation"}
    assert [t["name"] for t in teams] == ["Sales Team", "Onboarding Team", "Support Team"]
    one = owner.get(teams[0]["uri"].removeprefix(sandbox.url)).json()["resource"]
    assert one == teams[0]


def test_an_organization_provisioned_through_scim_refuses_member_changes(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(scim=True)
    org = sandbox.organization_uri(sandbox.url).rsplit("/", 1)[1]
    answer = httpx.post(
        f"{sandbox.url}/organizations/{org}/invitations",
        json={"email": "scim@example.com"},
        headers={"Authorization": f"Bearer {sandbox.owner_token}"},
    )
    assert answer.status_code == 403
    assert "SCIM" in answer.json()["message"]
