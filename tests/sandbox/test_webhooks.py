"""Webhook subscriptions (create, list, duplicates, permissions, delete, sample data) and
their deliveries: who hears what, signatures, retries with back-off, disabling."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from portal.sandbox import webhooks
from portal.sandbox.state import DAY, Delivery
from tests.contract import specs
from tests.sandbox.conftest import Receiver
from tests.sandbox_plugin import RunningSandbox, SandboxFactory


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


# -- deliveries --------------------------------------------------------------------------------

FAST = (0.05,)


@pytest.fixture
def owner_of() -> Iterator[Any]:
    """A client with the owner's token for a sandbox made by `sandbox_factory`."""
    clients: list[httpx.Client] = []

    def make(sb: RunningSandbox) -> httpx.Client:
        client = httpx.Client(
            base_url=sb.url, headers={"Authorization": f"Bearer {sb.owner_token}"}, timeout=10
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def hook_on(
    client: httpx.Client, org_uri: str, url: str, events: list[str], **fields: object
) -> dict[str, Any]:
    created = subscribe(client, org_uri, url=url, events=events, **fields)
    assert created.status_code == 201, created.text
    hook: dict[str, Any] = created.json()["resource"]
    return hook


def owners_type(sb: RunningSandbox, person: str | None = None) -> str:
    """The uuid of the person's (by default the owner's) one-on-one "30 Minute Meeting"."""
    who = person or sb.owner.uuid
    return next(
        et.uuid
        for et in sb.event_types.values()
        if et.owner == who and et.name == "30 Minute Meeting"
    )


def rename(client: httpx.Client, uuid: str, name: str = "Renamed") -> httpx.Response:
    answer = client.patch(f"/event_types/{uuid}", json={"name": name})
    assert answer.status_code == 200, answer.text
    return answer


def hook_state(client: httpx.Client, sb: RunningSandbox, hook: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = client.get(hook["uri"].removeprefix(sb.url)).json()["resource"]
    return resource


def signed_with(key: str, request: dict[str, Any]) -> int:
    """The header's timestamp, after checking the signature is `key`'s over the body."""
    header = request["headers"]["Calendly-Webhook-Signature"]
    found = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert found is not None, header
    t, v1 = found.groups()
    expected = hmac.new(key.encode(), f"{t}.".encode() + request["body"], hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), v1)
    return int(t)


def attempted(sb: RunningSandbox, delivery: Delivery, times: int) -> None:
    assert webhooks.wait_for(sb, lambda: len(delivery.attempts) >= times, 5), delivery


def test_a_failing_receiver_is_retried_with_back_off_until_a_success_clears_the_cycle(
    sandbox_factory: SandboxFactory, owner_of: Any, receiver: Receiver
) -> None:
    delays = (0.05, 0.1, 0.2)
    sb = sandbox_factory(webhook_retry_delays=delays)
    owner = owner_of(sb)
    org_uri = sb.organization_uri(sb.url)
    hook = hook_on(owner, org_uri, receiver.url, ["event_type.updated"])
    receiver.status = 500

    rename(owner, owners_type(sb))
    delivery = sb.deliveries[0]
    attempted(sb, delivery, 3)
    failing = hook_state(owner, sb, hook)
    receiver.status = 200
    assert webhooks.wait_for(sb, lambda: delivery.outcome == "delivered", 5)
    recovered = hook_state(owner, sb, hook)
    listed = httpx.get(f"{sb.url}/_sandbox/deliveries").json()

    assert failing["state"] == "active"
    assert failing["retry_started_at"] is not None
    assert recovered["retry_started_at"] is None
    assert recovered["state"] == "active"
    moments = [a.at.timestamp() for a in delivery.attempts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert all(gap >= delay for gap, delay in zip(gaps[:3], delays, strict=True))
    assert [a.status for a in delivery.attempts][:3] == [500, 500, 500]
    assert delivery.attempts[-1].status == delivery.status == 200
    assert {r["body"] for r in receiver.posts()} == {delivery.body}
    assert listed[0]["outcome"] == "delivered"
    assert listed[0]["subscription"] == hook["uri"]
    assert [a["attempt"] for a in listed[0]["attempts"]] == list(
        range(1, len(delivery.attempts) + 1)
    )


def test_a_subscription_failing_past_the_disable_period_is_disabled_and_hears_nothing_more(
    sandbox_factory: SandboxFactory, owner_of: Any, receiver: Receiver
) -> None:
    sb = sandbox_factory(webhook_retry_delays=FAST)
    owner = owner_of(sb)
    org_uri = sb.organization_uri(sb.url)
    broken = hook_on(owner, org_uri, f"{receiver.url}/broken", ["event_type.updated"])
    healthy = f"{receiver.url}/healthy"
    hook_on(owner, org_uri, healthy, ["event_type.updated"])
    receiver.statuses["/hooks/calendly/broken"] = 503

    uuid = owners_type(sb)
    rename(owner, uuid, "First")
    rename(owner, uuid, "Second")
    doomed = [d for d in sb.deliveries if d.url.endswith("/broken")]
    for delivery in doomed:
        attempted(sb, delivery, 2)
    sb.advance(DAY + 1)
    assert webhooks.wait_for(sb, lambda: sb.webhooks[broken["uri"][-16:]].state == "disabled", 5)
    posts = len(receiver.posts("/hooks/calendly/broken"))
    rename(owner, uuid, "Third")
    assert webhooks.drain(sb, 5)
    time.sleep(4 * FAST[0])

    assert hook_state(owner, sb, broken)["state"] == "disabled"
    assert sorted(d.outcome for d in doomed) == ["dropped", "failed"]
    assert len(receiver.posts("/hooks/calendly/broken")) == posts
    assert [d.url for d in sb.deliveries].count(f"{receiver.url}/broken") == 2
    assert len(receiver.posts("/hooks/calendly/healthy")) == 3
    assert not webhooks.attempt_due(sb)
    assert sb.outbox == []


def test_a_redirect_is_a_failure_and_is_not_followed(
    sandbox_factory: SandboxFactory, owner_of: Any, receiver: Receiver
) -> None:
    sb = sandbox_factory(webhook_retry_delays=FAST)
    owner = owner_of(sb)
    hook = hook_on(owner, sb.organization_uri(sb.url), receiver.url, ["event_type.updated"])
    receiver.status = 302

    rename(owner, owners_type(sb))
    attempted(sb, sb.deliveries[0], 2)

    assert sb.deliveries[0].status == 302
    assert sb.deliveries[0].outcome == "pending"
    assert {r["method"] for r in receiver.requests} == {"POST"}
    assert hook_state(owner, sb, hook)["retry_started_at"] is not None


@pytest.mark.parametrize("resign", [True, False])
def test_retries_are_signed_afresh_or_resent_as_first_signed(
    resign: bool, sandbox_factory: SandboxFactory, owner_of: Any, receiver: Receiver
) -> None:
    # A minute between attempts: only moving the sandbox clock brings the retry forward.
    sb = sandbox_factory(webhook_retry_delays=(60.0,), resign_retries=resign)
    owner = owner_of(sb)
    hook_on(
        owner, sb.organization_uri(sb.url), receiver.url, ["event_type.updated"], signing_key="k1"
    )
    receiver.status = 500

    rename(owner, owners_type(sb))
    delivery = sb.deliveries[0]
    attempted(sb, delivery, 1)
    receiver.status = 200
    sb.advance(120)
    attempted(sb, delivery, 2)
    first, retry = receiver.posts()

    assert delivery.outcome == "delivered"
    assert first["body"] == retry["body"]
    first_t, retry_t = signed_with("k1", first), signed_with("k1", retry)
    if resign:
        assert retry_t >= first_t + 120
    else:
        assert (
            retry["headers"]["Calendly-Webhook-Signature"]
            == (first["headers"]["Calendly-Webhook-Signature"])
        )


def test_a_subscriptions_own_key_signs_its_deliveries_else_the_app_key(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    me = f"{sandbox.url}/users/{sandbox.owner.uuid}"
    events = ["event_type.updated"]
    hook_on(owner, org_uri, f"{receiver.url}/own", events, signing_key="own-key")
    hook_on(owner, org_uri, f"{receiver.url}/app", events, scope="user", user=me)

    rename(owner, owners_type(sandbox))
    assert webhooks.drain(sandbox, 5)

    (own,) = receiver.posts("/hooks/calendly/own")
    (app,) = receiver.posts("/hooks/calendly/app")
    signed_with("own-key", own)
    signed_with(sandbox.webhook_signing_key, app)


def test_deleting_a_subscription_drops_its_pending_retries(
    sandbox_factory: SandboxFactory, owner_of: Any, receiver: Receiver
) -> None:
    sb = sandbox_factory(webhook_retry_delays=(3600.0,))
    owner = owner_of(sb)
    hook = hook_on(owner, sb.organization_uri(sb.url), receiver.url, ["event_type.updated"])
    receiver.status = 500

    rename(owner, owners_type(sb))
    attempted(sb, sb.deliveries[0], 1)
    assert owner.delete(hook["uri"].removeprefix(sb.url)).status_code == 204
    sb.advance(3600)
    assert webhooks.wait_for(sb, lambda: sb.deliveries[0].outcome != "pending", 5)

    assert sb.deliveries[0].outcome == "dropped"
    assert len(receiver.posts()) == 1


def test_updating_an_event_type_delivers_its_payload_to_the_matching_scopes_only(
    owner: httpx.Client,
    outsider: httpx.Client,
    org_uri: str,
    sandbox: RunningSandbox,
    receiver: Receiver,
) -> None:
    groups = {g: webhooks.group_members(sandbox, g) for g in sandbox.groups}
    person = next(u.uuid for u in sandbox.plain_users if any(u.uuid in m for m in groups.values()))
    inside = next(g for g, members in groups.items() if person in members)
    outside = next(g for g, members in groups.items() if person not in members)
    other = next(u.uuid for u in sandbox.plain_users if u.uuid != person)
    events = ["event_type.updated"]
    url = receiver.url
    hook_on(owner, org_uri, f"{url}/org", events)
    hook_on(owner, org_uri, f"{url}/org-invitees", ["invitee.created"])
    hook_on(owner, org_uri, f"{url}/person", events, scope="user", user=user_uri(sandbox, person))
    hook_on(owner, org_uri, f"{url}/other", events, scope="user", user=user_uri(sandbox, other))
    hook_on(owner, org_uri, f"{url}/in", events, scope="group", group=group_uri(sandbox, inside))
    hook_on(owner, org_uri, f"{url}/out", events, scope="group", group=group_uri(sandbox, outside))
    outsiders_org = outsider.get("/users/me").json()["resource"]["current_organization"]
    hook_on(outsider, outsiders_org, f"{url}/outsider", events)
    uuid = owners_type(sandbox, person)

    owner.patch(f"/event_types/{uuid}", json={"name": "Intro call", "description": "Say hi"})
    assert webhooks.drain(sandbox, 5)
    resource = owner.get(f"/event_types/{uuid}").json()["resource"]

    assert {r["path"].removeprefix("/hooks/calendly") for r in receiver.posts()} == {
        "/org",
        "/person",
        "/in",
    }
    for request in receiver.posts():
        body = json.loads(request["body"])
        assert body["event"] == "event_type.updated"
        assert body["created_by"] == user_uri(sandbox, sandbox.owner.uuid)
        assert body["payload"] == {k: v for k, v in resource.items() if k != "description_html"}
        assert body["payload"]["name"] == "Intro call"
        specs.validate_schema("2026", "WebhookPayload", body)


def test_creating_an_event_type_delivers_event_type_created(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    person = sandbox.plain_users[0].uuid
    hook_on(
        owner,
        org_uri,
        receiver.url,
        ["event_type.created"],
        scope="user",
        user=user_uri(sandbox, person),
    )

    created = owner.post(
        "/event_types", json={"name": "Kick-off", "owner": user_uri(sandbox, person)}
    )
    assert webhooks.drain(sandbox, 5)

    (request,) = receiver.posts()
    body = json.loads(request["body"])
    assert created.status_code == 201
    assert body["event"] == "event_type.created"
    assert body["payload"]["uri"] == created.json()["resource"]["uri"]
    assert "description_html" not in body["payload"]
    specs.validate_schema("2026", "WebhookPayload", body)


def test_rescheduling_cancels_the_old_invitee_and_creates_the_new_one(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    hook_on(owner, org_uri, receiver.url, ["invitee.created", "invitee.canceled"])
    uri = f"{sandbox.url}/event_types/{owners_type(sandbox)}"
    link = owner.post(
        "/scheduling_links", json={"max_event_count": 1, "owner": uri, "owner_type": "EventType"}
    ).json()["resource"]
    booked = pick_first_slot(link["booking_url"], {"name": "Pat Buyer", "email": "pat@x.example"})
    assert booked.status_code == 200
    assert webhooks.drain(sandbox, 5)
    first = json.loads(receiver.posts()[0]["body"])["payload"]

    page = httpx.get(first["reschedule_url"])
    moved = pick_first_slot(first["reschedule_url"], {})
    assert webhooks.drain(sandbox, 5)
    again = httpx.get(first["reschedule_url"])

    assert page.status_code == 200
    assert 'name="email"' not in page.text
    assert moved.status_code == 200
    assert again.status_code == 404
    bodies = [json.loads(r["body"]) for r in receiver.posts()[1:]]
    canceled = next(b["payload"] for b in bodies if b["event"] == "invitee.canceled")
    created = next(b["payload"] for b in bodies if b["event"] == "invitee.created")
    assert canceled["uri"] == first["uri"]
    assert canceled["status"] == "canceled"
    assert canceled["rescheduled"] is True
    assert canceled["new_invitee"] == created["uri"]
    assert canceled["cancellation"]["canceler_type"] == "invitee"
    assert canceled["scheduled_event"]["status"] == "canceled"
    assert created["old_invitee"] == first["uri"]
    assert created["email"] == "pat@x.example"
    assert created["scheduled_event"]["start_time"] != first["scheduled_event"]["start_time"]
    for body in bodies:
        specs.validate_schema("2026", "WebhookPayload", body)
    stored = owner.get(first["uri"].removeprefix(sandbox.url)).json()["resource"]
    assert stored["rescheduled"] is True
    assert stored["new_invitee"] == created["uri"]


@pytest.mark.parametrize(
    "event",
    [
        "invitee.created",
        "invitee.canceled",
        "invitee_no_show.created",
        "invitee_no_show.deleted",
        "event_type.created",
        "event_type.updated",
        "event_type.deleted",
    ],
)
def test_sample_webhook_data_answers_every_event_the_sandbox_delivers(
    event: str, owner: httpx.Client, org_uri: str
) -> None:
    answer = owner.get(
        "/sample_webhook_data",
        params={"event": event, "organization": org_uri, "scope": "organization"},
    )

    body = answer.json()
    assert answer.status_code == 200
    assert body["event"] == event
    specs.validate_schema("2026", "WebhookPayload", body)
    payload = body["payload"]
    if event == "invitee.canceled":
        assert payload["status"] == "canceled"
    if event == "invitee_no_show.created":
        assert payload["no_show"] is not None
    if event == "invitee_no_show.deleted":
        assert payload["no_show"] is None
    if event.startswith("event_type"):
        assert "description_html" not in payload
        assert (payload["deleted_at"] is not None) == (event == "event_type.deleted")


def user_uri(sb: RunningSandbox, uuid: str) -> str:
    return f"{sb.url}/users/{uuid}"


def group_uri(sb: RunningSandbox, uuid: str) -> str:
    return f"{sb.url}/groups/{uuid}"


def pick_first_slot(page_url: str, fields: dict[str, str]) -> httpx.Response:
    page = httpx.get(page_url)
    start = re.search(r'name="start_time" value="([^"]+)"', page.text)
    assert start is not None, page.text
    return httpx.post(page_url, data={"start_time": start.group(1), **fields})
