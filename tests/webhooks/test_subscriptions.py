"""Webhook subscriptions against the sandbox over real HTTP: the list and its refresh, making
one for each scope, the refusals (scope, another organization's member, production without
PORTAL_BASE_URL, Calendly's 409 and plan answers), edit as new-then-delete, re-creating a
disabled one, deleting, removing everything that delivers here, and who may do it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.test import Client, override_settings
from django.urls import reverse

from portal.accounts.connections import get_connection, shared_limiter
from portal.accounts.models import Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly.client import CalendlyClient
from portal.celery import app as celery_app
from portal.directory.models import Group, Member
from portal.sandbox.state import WebhookSubscription as CalendlyHook
from portal.webhooks import subscriptions
from portal.webhooks.models import Endpoint, Subscription
from portal.webhooks.subscriptions import SubscriptionRefused
from tests.directory.test_sync import NO_RATE_LIMIT, Faulty, connect, sandbox_client
from tests.factories import GroupFactory, MemberFactory, OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

CREATE = "POST /webhook_subscriptions"
LIST = "GET /webhook_subscriptions"
DELETE = "DELETE /webhook_subscriptions/{webhook_uuid}"
LIST_URL = "/webhooks/subscriptions"
NEW_URL = "/webhooks/subscriptions/new"
ELSEWHERE = "https://hooks.example.com/calendly"
Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@dataclass
class Hooks:
    sandbox: RunningSandbox
    org: Organization
    admin: User
    client: Client  # signed in as `admin`

    def in_calendly(self) -> dict[str, CalendlyHook]:
        """The sandbox's subscriptions by callback URL."""
        with self.sandbox.lock:
            return {hook.callback_url: hook for hook in self.sandbox.webhooks.values()}

    def hook_of(self, row: Subscription) -> CalendlyHook:
        return self.sandbox.webhooks[row.uri.rsplit("/", 1)[1]]

    def member(self) -> Member:
        """A plain member (not the connection's owner) of the organization."""
        uuid = self.sandbox.plain_users[0].uuid
        return Member.objects.current().get(organization=self.org, user_uri__endswith=uuid)

    def group(self) -> Group:
        return Group.objects.current().filter(organization=self.org).order_by("name").first()

    def make(self, **wanted: Any) -> Subscription:
        """A subscription made through the service, as a test's starting point."""
        wanted.setdefault("events", ["invitee.created"])
        wanted.setdefault("scope", "organization")
        wanted.setdefault("base_url", "https://portal.example.com")
        row = subscriptions.create(self.org, **wanted, actor=self.admin)
        self.sandbox.requests.reset()
        return row

    def subscribe_in_calendly(self, url: str, **body: Any) -> str:
        """A subscription made directly in Calendly (not through the portal); its URI."""
        answer = httpx.post(
            f"{self.sandbox.url}/webhook_subscriptions",
            headers={"Authorization": f"Bearer {self.sandbox.owner_token}"},
            json={
                "url": url,
                "events": ["invitee.created"],
                "organization": self.org.uri,
                "scope": "organization",
                **body,
            },
        )
        assert answer.status_code == 201, answer.text
        uri: str = answer.json()["resource"]["uri"]
        return uri

    def disable(self, row: Subscription) -> None:
        with self.sandbox.lock:
            self.hook_of(row).state = "disabled"


def mirror(sandbox: RunningSandbox, org: Organization) -> None:
    """The sandbox's members and groups as a sync stores them (tests/directory tests the sync;
    a dozen requests per test would be most of this file's time)."""
    url = sandbox.url
    with sandbox.lock:
        for membership in sandbox.org_memberships(sandbox.org_uuid):
            person = sandbox.users[membership.user]
            MemberFactory(
                organization=org,
                uri=f"{url}/organization_memberships/{membership.uuid}",
                user_uri=f"{url}/users/{person.uuid}",
                name=person.name,
                email=person.email,
                role=membership.role,
            )
        for group in sandbox.groups.values():
            if group.organization == sandbox.org_uuid:
                GroupFactory(organization=org, uri=f"{url}/groups/{group.uuid}", name=group.name)


def connected(sandbox: RunningSandbox) -> Hooks:
    """The sandbox's organization connected and mirrored, and an admin signed in (call inside
    `override_settings(CALENDLY_API_URL=sandbox.url)`)."""
    org = connect(sandbox)
    mirror(sandbox, org)
    # The shared pacing assumes Calendly's lowest budget until an answer says otherwise: told
    # the sandbox's now, so the test's requests are not spaced out by it.
    limit, period = NO_RATE_LIMIT
    shared_limiter(get_connection(org)).observe(limit=limit, remaining=limit, reset=period)
    sandbox.requests.reset()
    admin = UserFactory(organization=org, role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    return Hooks(sandbox, org, admin, client)


@pytest.fixture
def hooks(sandbox_factory: SandboxFactory) -> Iterator[Hooks]:
    sandbox = sandbox_factory(members=5, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url, PORTAL_BASE_URL="", IS_PRODUCTION=False):
        yield connected(sandbox)


@pytest.fixture
def tasks_run_here() -> Iterator[None]:
    """Tasks run in this process when enqueued, as a worker would."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


def page_messages(response: Any) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def failing(
    sandbox: RunningSandbox, when: Callable[[httpx.Request], bool], answer: httpx.Response
) -> CalendlyClient:
    """A client on the sandbox whose requests matching `when` get `answer` instead."""
    transport = Faulty(lambda request: answer if when(request) else None)
    client, _ = sandbox_client(sandbox, transport=transport)
    return client


# -- making one ------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["organization", "user", "group"])
def test_a_new_subscription_to_the_portal_gets_its_own_address_and_key(
    hooks: Hooks, scope: str
) -> None:
    member, group = hooks.member(), hooks.group()
    form = {"events": ["invitee.created", "invitee.canceled"], "scope": scope}
    form |= {"member": str(member.pk)} if scope == "user" else {}
    form |= {"group": str(group.pk)} if scope == "group" else {}

    response = hooks.client.post(NEW_URL, form, follow=True)

    assert response.redirect_chain[-1][0] == LIST_URL
    row = Subscription.objects.get()
    endpoint = Endpoint.objects.get()
    assert row.endpoint == endpoint
    assert row.callback_url == f"http://testserver/hooks/calendly/{endpoint.token}"
    assert (row.scope, row.events, row.state) == (
        scope,
        ["invitee.created", "invitee.canceled"],
        "active",
    )
    hook = hooks.in_calendly()[row.callback_url]
    assert hook.signing_key == endpoint.signing_key
    assert hook.scope == scope
    assert hook.user == (member.user_uri.rsplit("/", 1)[1] if scope == "user" else None)
    assert hook.group == (group.uri.rsplit("/", 1)[1] if scope == "group" else None)
    assert hooks.sandbox.requests.count(CREATE) == 1
    page = response.content.decode()
    assert row.callback_url in page
    assert "This portal" in page
    if scope == "user":
        assert member.name in page
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_SUBSCRIBED)
    assert entry.actor == hooks.admin
    assert entry.after is not None
    assert (entry.after["uri"], entry.after["scope"]) == (row.uri, scope)


def test_events_that_need_another_scope_are_refused_naming_that_scope(hooks: Hooks) -> None:
    response = hooks.client.post(
        NEW_URL,
        {
            "events": ["invitee.created", "routing_form_submission.created"],
            "scope": "user",
            "member": hooks.member().pk,
        },
    )
    assert response.status_code == 400
    assert "routing_form_submission.created needs organization scope" in response.content.decode()

    response = hooks.client.post(NEW_URL, {"events": ["meeting_recap.created"], "scope": "group"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "meeting_recap.created needs user scope" in page
    assert "Choose which group" in page
    assert hooks.sandbox.requests.total() == 0
    assert not Endpoint.objects.exists()
    # The service refuses the same, whoever calls it.
    with pytest.raises(SubscriptionRefused, match=r"meeting_recap\.deleted needs user scope"):
        hooks.make(events=["meeting_recap.deleted"], scope="organization")


def test_another_organizations_member_or_group_is_refused(hooks: Hooks) -> None:
    elsewhere = OrganizationFactory()
    stranger = MemberFactory(organization=elsewhere)
    their_group = GroupFactory(organization=elsewhere)

    as_user = hooks.client.post(
        NEW_URL, {"events": ["invitee.created"], "scope": "user", "member": stranger.pk}
    )
    as_group = hooks.client.post(
        NEW_URL, {"events": ["invitee.created"], "scope": "group", "group": their_group.pk}
    )

    for response in (as_user, as_group):
        assert response.status_code == 400
        assert "Select a valid choice" in response.content.decode()
    with pytest.raises(SubscriptionRefused, match="current members"):
        hooks.make(scope="user", user_uri=stranger.user_uri)
    with pytest.raises(SubscriptionRefused, match="current groups"):
        hooks.make(scope="group", group_uri=their_group.uri)
    assert hooks.sandbox.requests.total() == 0
    assert not Subscription.objects.exists()


def test_production_without_portal_base_url_refuses_to_subscribe_the_portal(hooks: Hooks) -> None:
    with override_settings(IS_PRODUCTION=True):
        page = hooks.client.get(NEW_URL).content.decode()
        refused = hooks.client.post(
            NEW_URL, {"events": ["invitee.created"], "scope": "organization"}
        )
    assert "Set PORTAL_BASE_URL" in page
    assert refused.status_code == 409
    assert "Set PORTAL_BASE_URL" in refused.content.decode()
    assert hooks.sandbox.requests.total() == 0
    assert not Endpoint.objects.exists()

    with override_settings(IS_PRODUCTION=True, PORTAL_BASE_URL="https://portal.example.com"):
        hooks.client.post(NEW_URL, {"events": ["invitee.created"], "scope": "organization"})
    token = Endpoint.objects.get().token
    assert Subscription.objects.get().callback_url == (
        f"https://portal.example.com/hooks/calendly/{token}"
    )


def test_a_url_calendly_already_has_is_refused_with_its_reason(hooks: Hooks) -> None:
    form = {"events": ["invitee.created"], "scope": "organization", "callback_url": ELSEWHERE}
    assert hooks.client.post(NEW_URL, form).status_code == 302

    again = hooks.client.post(NEW_URL, form)

    assert again.status_code == 409
    assert f"Calendly already has a subscription delivering to {ELSEWHERE}" in (
        again.content.decode()
    )
    assert hooks.sandbox.requests.count(CREATE) == 2
    assert Subscription.objects.count() == 1
    assert not Endpoint.objects.exists()  # a URL of their own: no receiving address made
    assert AuditEntry.objects.filter(action=Action.WEBHOOK_SUBSCRIBED).count() == 1


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            {"title": "Permission Denied", "message": "Please upgrade to a paid Calendly account."},
            "routing_form_submission.created need a plan with that feature",
        ),
        (
            {
                "title": "Insufficient scope",
                "message": "This operation requires the scopes listed in the 'required_scopes' "
                "array.",
                "required_scopes": ["webhooks:write"],
            },
            "lacks the permission for subscribing this portal's receiver",
        ),
    ],
)
def test_calendly_refusing_leaves_no_receiving_address_behind(
    hooks: Hooks, body: dict[str, Any], said: str
) -> None:
    client = failing(
        hooks.sandbox,
        lambda request: request.method == "POST",
        httpx.Response(403, json=body),
    )
    with client, pytest.raises(SubscriptionRefused, match=said):
        hooks.make(events=["routing_form_submission.created", "invitee.created"], client=client)
    assert not Endpoint.objects.exists()
    assert not Subscription.objects.exists()
    assert not AuditEntry.objects.exists()


# -- the list and its refresh ------------------------------------------------------------------


@pytest.mark.usefixtures("tasks_run_here")
def test_refresh_reads_every_scope_links_the_portals_own_and_marks_the_missing_removed(
    hooks: Hooks, django_capture_on_commit_callbacks: Capture
) -> None:
    member, group = hooks.member(), hooks.group()
    ours = Endpoint.objects.create(organization=hooks.org, token="tok-" + "x" * 28, signing_key="k")
    portal_uri = hooks.subscribe_in_calendly(
        f"https://portal.example.com/hooks/calendly/{ours.token}"
    )
    user_uri = hooks.subscribe_in_calendly(
        f"{ELSEWHERE}/user", scope="user", user=member.user_uri, events=["meeting_recap.created"]
    )
    group_uri = hooks.subscribe_in_calendly(f"{ELSEWHERE}/group", scope="group", group=group.uri)
    odd_uri = hooks.subscribe_in_calendly(f"{ELSEWHERE}/odd")
    with hooks.sandbox.lock:
        # Calendly may send any length, NULs, and states the portal does not know.
        odd = hooks.sandbox.webhooks[odd_uri.rsplit("/", 1)[1]]
        odd.callback_url = f"{ELSEWHERE}/{'long' * 2000}\x00"
        odd.state = "paused"
        hooks.sandbox.webhooks[user_uri.rsplit("/", 1)[1]].state = "disabled"
    gone = Subscription.objects.create(
        organization=hooks.org,
        uri=f"{hooks.sandbox.url}/webhook_subscriptions/GONE",
        callback_url=f"{ELSEWHERE}/gone",
        state="active",
        scope="organization",
        refreshed_at="2026-01-01T00:00:00Z",
    )
    hooks.sandbox.requests.reset()

    with django_capture_on_commit_callbacks(execute=True):
        response = hooks.client.post(reverse("webhooks:subscriptions_refresh"), follow=True)

    assert "Refresh requested" in page_messages(response)
    groups = Group.objects.current().filter(organization=hooks.org).count()
    members = Member.objects.current().filter(organization=hooks.org).count()
    assert hooks.sandbox.requests.count(LIST) == 1 + groups + members
    rows = {row.uri: row for row in Subscription.objects.filter(removed_at__isnull=True)}
    assert set(rows) == {portal_uri, user_uri, group_uri, odd_uri}
    assert rows[portal_uri].endpoint == ours
    assert rows[user_uri].endpoint is None
    assert (rows[user_uri].scope, rows[user_uri].user_uri) == ("user", member.user_uri)
    assert rows[user_uri].state == "disabled"
    assert rows[group_uri].group_uri == group.uri
    assert rows[odd_uri].state == "paused"
    assert "\x00" not in rows[odd_uri].callback_url
    gone.refresh_from_db()
    assert gone.removed_at is not None
    entry = AuditEntry.objects.get(action=Action.WEBHOOKS_REFRESHED)
    assert entry.actor == hooks.admin
    assert entry.after is not None
    assert (entry.after["added"], entry.after["removed"]) == (4, 1)

    page = hooks.client.get(LIST_URL).content.decode()
    assert "4 subscriptions" in page
    assert member.name in page
    assert group.name in page
    assert "This portal" in page
    assert f"{ELSEWHERE}/gone" not in page
    disabled = hooks.client.get(LIST_URL, {"state": "disabled"}, headers={"HX-Request": "true"})
    assert "1 of 4 subscriptions" in disabled.content.decode()
    assert "<html" not in disabled.content.decode()
    by_event = hooks.client.get(LIST_URL, {"event": "meeting_recap.created"}).content.decode()
    assert f"{ELSEWHERE}/user" in by_event
    assert f"{ELSEWHERE}/group" not in by_event


def test_a_refresh_that_fails_half_way_changes_nothing(hooks: Hooks) -> None:
    kept = hooks.make()
    hooks.subscribe_in_calendly(f"{ELSEWHERE}/new")
    hooks.disable(kept)
    with hooks.sandbox.lock:
        del hooks.sandbox.webhooks[hooks.hook_of(kept).uuid]
    before = list(Subscription.objects.values())
    client = failing(
        hooks.sandbox,
        lambda request: request.url.params.get("scope") == "user",
        httpx.Response(500, json={"title": "Internal Server Error", "message": "boom"}),
    )

    with client, pytest.raises(SubscriptionRefused) as refused:
        subscriptions.refresh(hooks.org, actor=hooks.admin, client=client)

    assert "Calendly failed while reading the webhook subscriptions" in refused.value.message
    assert "left as they were" in refused.value.message
    assert list(Subscription.objects.values()) == before
    assert not AuditEntry.objects.filter(action=Action.WEBHOOKS_REFRESHED).exists()


# -- edit, re-create, delete -----------------------------------------------------------------


def test_edit_makes_the_new_subscription_then_deletes_the_old(hooks: Hooks) -> None:
    old = hooks.make()
    edit_url = reverse("webhooks:subscription_edit", args=[old.pk])
    page = hooks.client.get(edit_url).content.decode()
    assert "Calendly cannot change a subscription" in page
    assert 'value="invitee.created" id="id_events_0" checked' in page

    response = hooks.client.post(
        edit_url,
        {"events": ["invitee.created", "invitee.canceled"], "scope": "organization"},
        follow=True,
    )

    assert "took the old one's place" in page_messages(response)
    old.refresh_from_db()
    new = Subscription.objects.get(removed_at__isnull=True)
    assert old.removed_at is not None
    assert new.events == ["invitee.created", "invitee.canceled"]
    assert new.endpoint is not None
    assert new.endpoint != old.endpoint
    assert set(hooks.in_calendly()) == {new.callback_url}
    calls = hooks.sandbox.requests
    assert (calls.count(CREATE), calls.count(DELETE)) == (1, 1)
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_RECREATED)
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["events"] == ["invitee.created"]
    assert entry.after["events"] == ["invitee.created", "invitee.canceled"]
    assert entry.after["old_deleted"] is True


def test_an_edit_calendly_refuses_keeps_the_old_subscription(hooks: Hooks) -> None:
    old = hooks.make(callback_url=ELSEWHERE)

    response = hooks.client.post(
        reverse("webhooks:subscription_edit", args=[old.pk]),
        {"events": ["invitee.canceled"], "scope": "organization", "callback_url": ELSEWHERE},
    )

    assert response.status_code == 409
    page = response.content.decode()
    assert "Editing makes the new subscription before deleting the old one" in page
    assert "The current subscription was left as it is." in page
    old.refresh_from_db()
    assert old.removed_at is None
    assert set(hooks.in_calendly()) == {ELSEWHERE}
    assert hooks.in_calendly()[ELSEWHERE].events == ["invitee.created"]
    assert hooks.sandbox.requests.count(DELETE) == 0
    assert not AuditEntry.objects.filter(action=Action.WEBHOOK_RECREATED).exists()


def test_when_the_old_one_cannot_be_deleted_both_remain_and_that_is_said(hooks: Hooks) -> None:
    old = hooks.make()
    client = failing(
        hooks.sandbox,
        lambda request: request.method == "DELETE",
        httpx.Response(
            403, json={"title": "Permission Denied", "message": "You do not have permission"}
        ),
    )

    with client:
        replaced = subscriptions.replace(
            hooks.org,
            old,
            events=["invitee.canceled"],
            scope="organization",
            base_url="https://portal.example.com",
            actor=hooks.admin,
            client=client,
        )

    assert not replaced.old_deleted
    assert replaced.problem.startswith("The new subscription exists, and the old one still does")
    old.refresh_from_db()
    assert old.removed_at is None
    assert set(hooks.in_calendly()) == {old.callback_url, replaced.new.callback_url}
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_RECREATED)
    assert entry.after is not None
    assert entry.after["old_deleted"] is False


def test_a_disabled_subscription_is_flagged_and_recreated_in_one_click(hooks: Hooks) -> None:
    member = hooks.member()
    old = hooks.make(events=["meeting_recap.created"], scope="user", user_uri=member.user_uri)
    hooks.disable(old)
    subscriptions.refresh(hooks.org)
    old.refresh_from_db()
    assert old.state == "disabled"

    home = hooks.client.get("/").content.decode()
    assert "?state=disabled" in home
    assert "disabled: Calendly stopped delivering" in home
    page = hooks.client.get(LIST_URL).content.decode()
    recreate_url = reverse("webhooks:subscription_recreate", args=[old.pk])
    assert f'formaction="{recreate_url}"' in page
    hooks.sandbox.requests.reset()

    response = hooks.client.post(recreate_url, follow=True)

    assert "Re-created" in page_messages(response)
    new = Subscription.objects.get(removed_at__isnull=True)
    assert (new.events, new.scope, new.user_uri, new.state) == (
        ["meeting_recap.created"],
        "user",
        member.user_uri,
        "active",
    )
    assert new.callback_url != old.callback_url  # a new address: Calendly's 409 cannot hit
    assert set(hooks.in_calendly()) == {new.callback_url}
    old.refresh_from_db()
    assert old.removed_at is not None
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_RECREATED)
    assert entry.before is not None
    assert entry.before["state"] == "disabled"
    assert "disabled: Calendly stopped" not in hooks.client.get("/").content.decode()
    with pytest.raises(SubscriptionRefused, match="Only a disabled subscription"):
        subscriptions.recreate(hooks.org, new, base_url="https://portal.example.com")


def test_delete_asks_first_then_deletes_in_calendly(hooks: Hooks) -> None:
    row = hooks.make(events=["invitee.created", "invitee.canceled"])
    url = reverse("webhooks:subscription_delete", args=[row.pk])

    asked = hooks.client.get(url).content.decode()
    assert f"subscription to {row.callback_url}?" in asked
    assert "invitee.created, invitee.canceled" in asked
    assert set(hooks.in_calendly()) == {row.callback_url}

    response = hooks.client.post(url, follow=True)

    assert f"Deleted the subscription to {row.callback_url}" in page_messages(response)
    assert hooks.in_calendly() == {}
    row.refresh_from_db()
    assert row.removed_at is not None
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_UNSUBSCRIBED)
    assert entry.actor == hooks.admin
    assert entry.before is not None
    assert entry.before["uri"] == row.uri
    assert hooks.client.get(url).status_code == 404


def test_removing_everything_that_delivers_here_previews_then_deletes(hooks: Hooks) -> None:
    ours = hooks.make()
    elsewhere = hooks.make(callback_url=ELSEWHERE)
    with override_settings(PORTAL_BASE_URL="https://portal.example.com"):
        hooks.subscribe_in_calendly("https://portal.example.com/hooks/calendly")
        subscriptions.refresh(hooks.org)
        shared = Subscription.objects.get(callback_url="https://portal.example.com/hooks/calendly")
        hooks.sandbox.requests.reset()
        url = reverse("webhooks:unsubscribe_all")

        preview = hooks.client.get(url).content.decode()
        assert "2 subscriptions would be deleted" in preview
        assert ours.callback_url in preview
        assert ELSEWHERE not in preview
        assert hooks.sandbox.requests.total() == 0

        response = hooks.client.post(url, {"subscriptions": [ours.pk, shared.pk]}, follow=True)

    assert "Deleted 2 subscriptions." in page_messages(response)
    assert set(hooks.in_calendly()) == {ELSEWHERE}
    assert set(Subscription.objects.filter(removed_at__isnull=True)) == {elsewhere}
    assert AuditEntry.objects.filter(action=Action.WEBHOOK_UNSUBSCRIBED).count() == 2


def test_a_subscription_made_again_at_the_same_url_since_the_listing_still_goes(
    hooks: Hooks,
) -> None:
    shared_url = "https://portal.example.com/hooks/calendly"
    with override_settings(PORTAL_BASE_URL="https://portal.example.com"):
        first = hooks.subscribe_in_calendly(shared_url)
        subscriptions.refresh(hooks.org)
        row = Subscription.objects.get(callback_url=shared_url)
        # Deleted and made again in Calendly since the portal listed it: a new URI.
        with hooks.sandbox.lock:
            del hooks.sandbox.webhooks[first.rsplit("/", 1)[1]]
        again = hooks.subscribe_in_calendly(shared_url)
        hooks.sandbox.requests.reset()

        response = hooks.client.post(
            reverse("webhooks:unsubscribe_all"), {"subscriptions": [row.pk]}, follow=True
        )

    assert "Deleted 1 subscription." in page_messages(response)
    assert hooks.in_calendly() == {}
    assert (hooks.sandbox.requests.count(LIST), hooks.sandbox.requests.count(DELETE)) == (1, 1)
    row.refresh_from_db()
    assert row.removed_at is not None
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_UNSUBSCRIBED)
    assert entry.after is not None
    assert entry.after["deleted_in_calendly"] == [again]


def test_edit_and_delete_pages_read_the_subscription_from_calendly_first(hooks: Hooks) -> None:
    row = hooks.make(events=["invitee.created", "invitee.canceled"])
    hooks.disable(row)
    read = "GET /webhook_subscriptions/{webhook_uuid}"

    edit = hooks.client.get(reverse("webhooks:subscription_edit", args=[row.pk]))

    assert "In Calendly now:" in edit.content.decode()
    assert "disabled — Calendly stopped delivering" in edit.content.decode()
    assert hooks.sandbox.requests.count(read) == 1
    row.refresh_from_db()
    assert row.state == "disabled"
    entry = AuditEntry.objects.get(action=Action.WEBHOOKS_REFRESHED)
    assert entry.actor == hooks.admin
    assert entry.after is not None
    assert "state active → disabled" in entry.after["changes"][0]

    asked = hooks.client.get(reverse("webhooks:subscription_delete", args=[row.pk]))
    assert "disabled — Calendly stopped delivering" in asked.content.decode()
    assert hooks.sandbox.requests.count(read) == 2
    # Nothing changed the second time: no second audit row.
    assert AuditEntry.objects.filter(action=Action.WEBHOOKS_REFRESHED).count() == 1


def test_a_subscription_gone_in_calendly_is_said_so_and_marked_removed(hooks: Hooks) -> None:
    row = hooks.make()
    with hooks.sandbox.lock:
        del hooks.sandbox.webhooks[row.uri.rsplit("/", 1)[1]]

    response = hooks.client.get(reverse("webhooks:subscription_delete", args=[row.pk]), follow=True)

    assert f"Calendly no longer has the organization-scope subscription to {row.callback_url}" in (
        page_messages(response)
    )
    row.refresh_from_db()
    assert row.removed_at is not None
    assert hooks.sandbox.requests.count(DELETE) == 0
    assert hooks.client.get(reverse("webhooks:subscription_edit", args=[row.pk])).status_code == 404


def test_the_edit_page_says_when_calendly_cannot_be_asked(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = hooks.make(events=["invitee.canceled"])
    refusing = failing(
        hooks.sandbox,
        lambda request: request.method == "GET",
        httpx.Response(
            403, json={"title": "Permission Denied", "message": "You do not have permission"}
        ),
    )
    monkeypatch.setattr(subscriptions, "client_for", lambda organization: refusing)

    page = hooks.client.get(reverse("webhooks:subscription_edit", args=[row.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Shown as Calendly last listed it." in text
    assert 'value="invitee.canceled" id="id_events_1" checked' in text


# -- who may do it ---------------------------------------------------------------------------


def test_only_admins_reach_the_subscription_pages() -> None:
    org = OrganizationFactory()
    row = Subscription.objects.create(
        organization=org,
        uri="https://api.calendly.com/webhook_subscriptions/X",
        callback_url=ELSEWHERE,
        state="disabled",
        scope="organization",
    )
    pages = [
        ("get", LIST_URL),
        ("post", reverse("webhooks:subscriptions_refresh")),
        ("get", NEW_URL),
        ("post", NEW_URL),
        ("get", reverse("webhooks:subscription_edit", args=[row.pk])),
        ("post", reverse("webhooks:subscription_edit", args=[row.pk])),
        ("get", reverse("webhooks:subscription_delete", args=[row.pk])),
        ("post", reverse("webhooks:subscription_delete", args=[row.pk])),
        ("post", reverse("webhooks:subscription_recreate", args=[row.pk])),
        ("get", reverse("webhooks:unsubscribe_all")),
        ("post", reverse("webhooks:unsubscribe_all")),
    ]
    for role in (Role.SALES, Role.SUPPORT, Role.COMPLIANCE, Role.VIEWER):
        client = Client()
        client.force_login(UserFactory(organization=org, role=role))
        for method, url in pages:
            assert getattr(client, method)(url).status_code == 403, (role, method, url)
    row.refresh_from_db()
    assert row.removed_at is None
    assert not AuditEntry.objects.exists()
