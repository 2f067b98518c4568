"""The Refresh button, its progress partial, and the background tasks behind them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from portal.accounts.models import Connection, Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.celery import app as celery_app
from portal.directory.models import Member, SyncRun
from portal.directory.sync import start_sync
from portal.directory.tasks import sync_all_task, sync_organization_task
from portal.jobs.models import WorkerHeartbeat
from tests.directory.test_sync import calendly, connect  # noqa: F401 - `calendly` is a fixture
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture
def tasks_run_here() -> Iterator[None]:
    """Tasks run in this process when enqueued, against the sandbox, as a worker would."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


@pytest.fixture
def organization(calendly: RunningSandbox) -> Organization:  # noqa: F811
    return connect(calendly)


def signed_in(organization: Organization, role: Role = Role.ADMIN) -> tuple[Client, User]:
    person = UserFactory(organization=organization, role=role)
    client = Client()
    client.force_login(person)
    return client, person


def status_url(run: SyncRun) -> str:
    return reverse("directory:sync_status", kwargs={"pk": run.pk})


@pytest.mark.usefixtures("tasks_run_here")
def test_refresh_syncs_in_the_background_and_records_who_asked(
    organization: Organization, django_capture_on_commit_callbacks: Capture
) -> None:
    client, admin = signed_in(organization)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("directory:refresh"), **HTMX)

    # Answered before the worker got the run: a partial that polls it.
    assert response.status_code == 200
    html = response.content.decode()
    run = SyncRun.objects.get()
    assert f'hx-get="{status_url(run)}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "Waiting for a background worker" in html
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.trigger == SyncRun.Trigger.MANUAL
    assert run.requested_by == admin
    assert Member.objects.filter(organization=organization).exists()
    entry = AuditEntry.objects.get(action=Action.SYNC_REQUESTED)
    assert entry.actor == admin
    assert entry.organization == organization
    assert entry.after == {"sync_run": run.pk, "trigger": "manual"}


def test_refresh_while_a_sync_runs_shows_that_one_and_starts_nothing(
    organization: Organization, django_capture_on_commit_callbacks: Capture
) -> None:
    client, _ = signed_in(organization)
    running, _ = start_sync(organization, trigger=SyncRun.Trigger.SCHEDULE)

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(reverse("directory:refresh"), **HTMX)

    assert f'hx-get="{status_url(running)}"' in response.content.decode()
    assert enqueued == []
    assert SyncRun.objects.count() == 1
    assert not AuditEntry.objects.filter(action=Action.SYNC_REQUESTED).exists()


def test_refresh_without_htmx_goes_back_to_the_members_page(
    organization: Organization, django_capture_on_commit_callbacks: Capture
) -> None:
    client, _ = signed_in(organization)

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(reverse("directory:refresh"))

    assert response.status_code == 302
    assert response["Location"] == reverse("directory:members")
    handed_over = [c for c in enqueued if getattr(c, "func", c).__name__ == "_hand_over"]
    assert len(handed_over) == 1


def test_the_progress_partial_polls_while_the_sync_runs(organization: Organization) -> None:
    client, _ = signed_in(organization, Role.VIEWER)
    run, _ = start_sync(organization, trigger=SyncRun.Trigger.SCHEDULE)
    SyncRun.objects.filter(pk=run.pk).update(stage="members", done=3400)

    response = client.get(status_url(run), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "Syncing with Calendly: listing members, 3,400 so far" in html


def test_the_progress_partial_stops_polling_once_the_sync_is_done(
    organization: Organization,
    calendly: RunningSandbox,  # noqa: F811
) -> None:
    client, _ = signed_in(organization, Role.VIEWER)
    sync_organization_task(organization.pk, SyncRun.Trigger.SCHEDULE)
    run = SyncRun.objects.get()

    response = client.get(status_url(run), **HTMX)

    assert response.status_code == 286
    html = response.content.decode()
    assert "hx-trigger" not in html
    members = len(calendly.org_memberships(calendly.org_uuid))
    assert "Synced with Calendly" in html
    assert f"{members} members" in html


def test_a_failed_sync_shows_its_error_and_stops_polling(organization: Organization) -> None:
    client, _ = signed_in(organization)
    Connection.objects.filter(organization=organization).update(
        status=Connection.Status.NEEDS_REAUTHORIZATION, status_detail="the grant was revoked"
    )
    sync_organization_task(organization.pk, SyncRun.Trigger.SCHEDULE)
    run = SyncRun.objects.get()

    response = client.get(status_url(run), **HTMX)

    assert response.status_code == 286
    assert (
        "The sync failed: The Calendly connection needs attention: the grant was revoked."
        in response.content.decode()
    )


def test_without_htmx_the_progress_is_a_page_of_its_own(organization: Organization) -> None:
    client, _ = signed_in(organization)
    run, _ = start_sync(organization, trigger=SyncRun.Trigger.MANUAL)

    response = client.get(status_url(run))

    assert response.status_code == 200
    assert "<h1>Sync with Calendly</h1>" in response.content.decode()


def test_another_organizations_sync_is_not_found(organization: Organization) -> None:
    run, _ = start_sync(organization, trigger=SyncRun.Trigger.MANUAL)
    client, _ = signed_in(OrganizationFactory())

    assert client.get(status_url(run), **HTMX).status_code == 404


def test_a_finished_task_delivered_again_changes_nothing(
    organization: Organization,
    calendly: RunningSandbox,  # noqa: F811
) -> None:
    sync_organization_task(organization.pk, SyncRun.Trigger.SCHEDULE)
    run = SyncRun.objects.get()
    requests = calendly.requests.total()

    sync_organization_task(organization.pk, run.trigger, None, run_id=run.pk)

    assert calendly.requests.total() == requests
    assert SyncRun.objects.count() == 1


@pytest.mark.usefixtures("tasks_run_here")
def test_the_schedule_syncs_every_organization_with_a_usable_connection(
    organization: Organization, django_capture_on_commit_callbacks: Capture
) -> None:
    broken = OrganizationFactory()
    Connection.objects.create(
        organization=broken,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri="https://api.calendly.com/users/GONE",
        access_token="revoked",
        status=Connection.Status.NEEDS_REAUTHORIZATION,
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert sync_all_task() == 1

    run = SyncRun.objects.get()
    assert run.organization == organization
    assert run.trigger == SyncRun.Trigger.SCHEDULE
    assert run.status == SyncRun.Status.SUCCEEDED
    assert settings.CELERY_BEAT_SCHEDULE["directory.sync_all"] == {
        "task": "directory.sync_all",
        "schedule": settings.MIRROR_SYNC_MINUTES * 60.0,
    }


def test_a_run_that_cannot_reach_a_worker_is_failed_rather_than_left_running(
    organization: Organization,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _ = signed_in(organization)

    def broker_down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("Connection refused")

    monkeypatch.setattr(sync_organization_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("directory:refresh"), **HTMX)

    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith(
        "The sync could not be handed to a background worker (Connection refused)."
    )


def test_connecting_hands_the_first_sync_to_a_worker_once_it_is_stored(
    calendly: RunningSandbox,  # noqa: F811
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enqueued: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(
        sync_organization_task, "delay", lambda *args, **kwargs: enqueued.append((args, kwargs))
    )

    with django_capture_on_commit_callbacks(execute=True):
        call_command("connect", "--token", calendly.owner_token, stdout=StringIO())

    run = SyncRun.objects.get()
    assert run.trigger == SyncRun.Trigger.CONNECTED
    assert run.status == SyncRun.Status.QUEUED
    assert enqueued == [((run.organization_id, "connected", None), {"run_id": run.pk})]


def test_a_first_sync_that_cannot_reach_a_worker_is_failed_rather_than_left_waiting(
    calendly: RunningSandbox,  # noqa: F811
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broker_down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("Connection refused")

    monkeypatch.setattr(sync_organization_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("connect", "--token", calendly.owner_token, stdout=StringIO())

    assert Connection.objects.get().status == Connection.Status.HEALTHY  # connected all the same
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert run.error == (
        "The sync could not be handed to a background worker (Connection refused). The last "
        "complete copy is still shown."
    )


def test_a_queued_sync_says_no_worker_is_running_when_none_is(
    organization: Organization, django_capture_on_commit_callbacks: Capture
) -> None:
    client, _ = signed_in(organization)
    with django_capture_on_commit_callbacks():  # handed to no one: no worker runs here
        response = client.post(reverse("directory:refresh"), **HTMX)

    assert "Waiting for a background worker; none is running" in response.content.decode()
    run = SyncRun.objects.get()
    poll = client.get(status_url(run), **HTMX)
    assert poll.status_code == 200  # still polling: a worker may start any moment
    assert "none is running" in poll.content.decode()
    home = client.get("/").content.decode()
    assert "none is running" in home
    assert "manage.py sync_org" in home


def test_a_queued_sync_with_a_live_worker_just_waits_its_turn(
    organization: Organization, django_capture_on_commit_callbacks: Capture
) -> None:
    WorkerHeartbeat.objects.beat(hostname="worker@test", pid=1)
    client, _ = signed_in(organization)
    with django_capture_on_commit_callbacks():
        response = client.post(reverse("directory:refresh"), **HTMX)

    page = response.content.decode()
    assert "Waiting for a background worker to start the sync" in page
    assert "none is running" not in page
