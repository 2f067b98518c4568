"""The webhook commands against the sandbox: `webhook_subscribe`, `webhook_unsubscribe_all`
(a preview without --yes) and `webhook_refresh`, on the same code path as the pages, and
beat's periodic refresh."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.celery import app as celery_app
from portal.webhooks import tasks
from portal.webhooks.models import Endpoint, Subscription
from tests.directory.test_sync import NO_RATE_LIMIT
from tests.sandbox_plugin import SandboxFactory
from tests.webhooks.test_subscriptions import ELSEWHERE, Capture, Hooks, connected

pytestmark = pytest.mark.django_db

BASE = "https://portal.example.com"


@pytest.fixture
def hooks(sandbox_factory: SandboxFactory) -> Iterator[Hooks]:
    sandbox = sandbox_factory(members=5, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url, PORTAL_BASE_URL=BASE):
        yield connected(sandbox)


@pytest.fixture
def tasks_run_here() -> Iterator[None]:
    """Tasks run in this process when enqueued, as a worker would."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_webhook_subscribe_makes_a_portal_subscription_and_prints_it(hooks: Hooks) -> None:
    member = hooks.member()

    out, _ = run(
        "webhook_subscribe",
        "--events",
        "invitee.created, invitee.canceled",
        "--scope",
        "user",
        "--user",
        member.email.upper(),
        "--org",
        hooks.org.uri,
        "--base-url",
        "https://other.example.com/",
    )

    row = Subscription.objects.get()
    endpoint = Endpoint.objects.get()
    assert row.endpoint == endpoint
    assert row.callback_url == f"https://other.example.com/hooks/calendly/{endpoint.token}"
    assert f"URI: {row.uri}" in out
    assert f"Callback URL: {row.callback_url}" in out
    assert "Events: invitee.created, invitee.canceled" in out
    assert f"Scope: user ({member.user_uri})" in out
    assert hooks.in_calendly()[row.callback_url].signing_key == endpoint.signing_key
    entry = AuditEntry.objects.get(action=Action.WEBHOOK_SUBSCRIBED)
    assert entry.actor is None
    assert entry.actor_label == "manage.py webhook_subscribe"


def test_webhook_subscribe_refuses_with_the_pages_sentences(hooks: Hooks) -> None:
    with pytest.raises(CommandError, match=r"routing_form_submission\.created needs organization"):
        run(
            "webhook_subscribe",
            "--events",
            "routing_form_submission.created",
            "--scope",
            "group",
            "--group",
            hooks.group().name,
        )
    with pytest.raises(CommandError, match="not one of the organization's current groups"):
        run(
            "webhook_subscribe",
            "--events",
            "invitee.created",
            "--scope",
            "group",
            "--group",
            "Nope",
        )
    with pytest.raises(CommandError, match=r"no webhook event named invitee\.booked"):
        run("webhook_subscribe", "--events", "invitee.booked")
    with override_settings(PORTAL_BASE_URL=""), pytest.raises(CommandError, match="--base-url"):
        run("webhook_subscribe", "--events", "invitee.created")
    assert hooks.sandbox.requests.total() == 0
    assert not Endpoint.objects.exists()


def test_unsubscribe_all_previews_without_yes_and_deletes_with_it(hooks: Hooks) -> None:
    ours = hooks.make()
    hooks.make(callback_url=ELSEWHERE)
    # Made in Calendly since the last refresh: the command reads Calendly first and finds it.
    made_outside = hooks.subscribe_in_calendly(f"{BASE}/hooks/calendly")

    out, _ = run("webhook_unsubscribe_all", "--org", hooks.org.uri)

    assert "2 subscriptions deliver to this deployment:" in out
    assert ours.callback_url in out
    assert made_outside in out
    assert ELSEWHERE not in out
    assert "Nothing was deleted; run again with --yes" in out
    assert len(hooks.in_calendly()) == 3
    assert not AuditEntry.objects.filter(action=Action.WEBHOOK_UNSUBSCRIBED).exists()

    out, _ = run("webhook_unsubscribe_all", "--org", hooks.org.uri, "--yes")

    assert f"Deleted: {ours.callback_url}" in out
    assert "Deleted 2 subscriptions." in out
    assert set(hooks.in_calendly()) == {ELSEWHERE}
    entries = AuditEntry.objects.filter(action=Action.WEBHOOK_UNSUBSCRIBED)
    assert entries.count() == 2
    assert {entry.actor_label for entry in entries} == {"manage.py webhook_unsubscribe_all"}
    out, _ = run("webhook_unsubscribe_all", "--org", hooks.org.uri, "--yes")
    assert "nothing to delete" in out


def test_webhook_refresh_prints_what_changed(hooks: Hooks) -> None:
    row = hooks.make()
    hooks.disable(row)

    out, _ = run("webhook_refresh", "--org", hooks.org.uri)

    assert "1 listed by Calendly" in out
    assert f"organization subscription to {row.callback_url}: state active → disabled" in out
    entry = AuditEntry.objects.get(action=Action.WEBHOOKS_REFRESHED)
    assert entry.actor_label == "manage.py webhook_refresh"


@pytest.mark.usefixtures("tasks_run_here")
def test_beat_refreshes_every_connected_organization(
    hooks: Hooks, django_capture_on_commit_callbacks: Capture
) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["webhooks.refresh_all"]["task"] == "webhooks.refresh_all"
    row = hooks.make()
    hooks.disable(row)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.refresh_all() == 1

    row.refresh_from_db()
    assert row.state == "disabled"
    entry = AuditEntry.objects.get(action=Action.WEBHOOKS_REFRESHED)
    assert entry.actor_label == "background refresh of webhook subscriptions"
