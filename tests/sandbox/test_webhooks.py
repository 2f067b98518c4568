"""Webhook subscriptions: create, list, duplicates, permissions, delete, sample data."""

from __future__ import annotations

import httpx

from tests.sandbox_plugin import RunningSandbox


def subscribe(client: httpx.Client, org_uri: str, **fields: object) -> httpx.Response:
    body = {
        "url": "https://portal.example/hooks/calendly",
        "events": ["invitee.created", "invitee.canceled"],
        "organization": org_uri,
        "scope": "organization",
        **fields,
    }
    return client.post("/webhook_subscriptions", json=body)


def test_subscription_is_stored_listed_and_deleted(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    created = subscribe(owner, org_uri)
    hook = created.json()["resource"]
    path = hook["uri"].removeprefix(sandbox.url)

    listed = owner.get(
        "/webhook_subscriptions", params={"organization": org_uri, "scope": "organization"}
    ).json()["collection"]
    fetched = owner.get(path).json()["resource"]
    deleted = owner.delete(path)

    assert created.status_code == 201
    assert hook["state"] == "active"
    assert hook["retry_started_at"] is None
    assert hook["creator"] == f"{sandbox.url}/users/{sandbox.owner.uuid}"
    assert "signing_key" not in hook
    assert [h["uri"] for h in listed] == [hook["uri"]]
    assert fetched == hook
    assert deleted.status_code == 204
    assert owner.get(path).status_code == 404


def test_duplicate_url_answers_409_already_exists(owner: httpx.Client, org_uri: str) -> None:
    subscribe(owner, org_uri)

    again = subscribe(owner, org_uri, events=["invitee.canceled"])

    assert again.status_code == 409
    assert again.json() == {
        "title": "Already Exists",
        "message": "Hook with this url already exists",
    }


def test_list_requires_organization_and_scope(owner: httpx.Client, org_uri: str) -> None:
    no_scope = owner.get("/webhook_subscriptions", params={"organization": org_uri})
    no_user = owner.get("/webhook_subscriptions", params={"organization": org_uri, "scope": "user"})

    assert no_scope.status_code == no_user.status_code == 400
    assert no_user.json()["details"][0]["parameter"] == "user"


def test_plain_members_may_only_subscribe_for_themselves(
    member: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    me = f"{sandbox.url}/users/{sandbox.plain_users[0].uuid}"
    someone = f"{sandbox.url}/users/{sandbox.plain_users[1].uuid}"

    org_scope = subscribe(member, org_uri)
    for_someone = subscribe(member, org_uri, scope="user", user=someone)
    for_me = subscribe(member, org_uri, scope="user", user=me)
    listing = member.get(
        "/webhook_subscriptions", params={"organization": org_uri, "scope": "organization"}
    )

    assert org_scope.status_code == for_someone.status_code == listing.status_code == 403
    assert for_me.status_code == 201


def test_events_must_suit_the_scope(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    me = f"{sandbox.url}/users/{sandbox.owner.uuid}"

    unknown = subscribe(owner, org_uri, events=["invitee.exploded"])
    routing_for_user = subscribe(
        owner, org_uri, scope="user", user=me, events=["routing_form_submission.created"]
    )
    missing_user = subscribe(owner, org_uri, scope="user")

    assert unknown.status_code == routing_for_user.status_code == missing_user.status_code == 400


def test_group_scope_subscriptions_name_their_group(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    group = f"{sandbox.url}/groups/{next(iter(sandbox.groups))}"

    created = subscribe(owner, org_uri, scope="group", group=group)
    listed = owner.get(
        "/webhook_subscriptions", params={"organization": org_uri, "scope": "group", "group": group}
    )

    assert created.json()["resource"]["group"] == group
    assert len(listed.json()["collection"]) == 1


def test_another_organizations_hook_is_not_found(
    owner: httpx.Client, outsider: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    path = subscribe(owner, org_uri).json()["resource"]["uri"].removeprefix(sandbox.url)

    assert outsider.get(path).status_code == 404
    assert outsider.delete(path).status_code == 404
    assert subscribe(outsider, org_uri).status_code == 403


def test_sample_webhook_data_is_an_invitee_created_payload(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    answer = owner.get(
        "/sample_webhook_data",
        params={"event": "invitee.created", "organization": org_uri, "scope": "organization"},
    )

    sample = answer.json()
    assert answer.status_code == 200
    assert sample["event"] == "invitee.created"
    assert sample["payload"]["scheduled_event"]["uri"].startswith(
        f"{sandbox.url}/scheduled_events/"
    )


def test_canceling_an_event_delivers_invitee_canceled(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    upcoming = next(
        e
        for e in sandbox.scheduled_events.values()
        if e.status == "active" and e.start_time > sandbox.now()
    )

    canceled = owner.post(
        f"/scheduled_events/{upcoming.uuid}/cancellation", json={"reason": "Sick"}
    )
    again = owner.post(f"/scheduled_events/{upcoming.uuid}/cancellation", json={})

    assert canceled.status_code == 201
    assert canceled.json()["resource"]["canceler_type"] == "host"
    assert again.status_code == 403
    assert again.json()["message"] == "Event is already canceled"
