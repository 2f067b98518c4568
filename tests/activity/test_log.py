"""Calendly's activity log kept in the portal: the import against the sandbox over real HTTP,
the command, the admins' list with its filters, CSV export and Import now."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from portal.accounts.models import Organization, Role, User
from portal.activity.importing import OVERLAP, import_activity
from portal.activity.models import ActivityEntry, ActivityImport
from portal.activity.tasks import import_all_task, import_organization_task
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.celery import app as celery_app
from tests.directory.test_sync import NO_RATE_LIMIT, Faulty, connect, sandbox_client
from tests.factories import UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
LOG = "/activity/log"


@dataclass
class Logged:
    sandbox: RunningSandbox
    org: Organization
    admin: User
    client: Client  # signed in as `admin`
    asked: list[httpx.Request] = field(default_factory=list)

    def calendly_entries(self) -> list[Any]:
        return [e for e in self.sandbox.activity if e.organization == self.sandbox.org_uuid]

    def run(
        self, answer: Callable[[httpx.Request], httpx.Response | None] | None = None
    ) -> ActivityImport:
        """An import through a client that remembers what it asked Calendly for."""

        def seen(request: httpx.Request) -> httpx.Response | None:
            if request.url.path.endswith("/activity_log_entries"):
                self.asked.append(request)
            return answer(request) if answer else None

        client, _ = sandbox_client(self.sandbox, transport=Faulty(seen))
        with client:
            return import_activity(self.org, trigger=ActivityImport.Trigger.SCHEDULE, client=client)

    def page(self, **query: str) -> str:
        response = self.client.get(LOG, query)
        assert response.status_code == 200
        return response.content.decode()


@pytest.fixture
def logged(sandbox_factory: SandboxFactory) -> Iterator[Logged]:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        org = connect(sandbox)
        admin = UserFactory(organization=org, role=Role.ADMIN)
        client = Client()
        client.force_login(admin)
        yield Logged(sandbox, org, admin, client)


@pytest.fixture
def tasks_run_here() -> Iterator[None]:
    """Tasks run in this process when enqueued, against the sandbox, as a worker would."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


# -- the import ------------------------------------------------------------------------------


def test_the_first_import_stores_everything_and_the_next_asks_only_from_the_newest(
    logged: Logged,
) -> None:
    first = logged.run()

    expected = logged.calendly_entries()
    assert first.status == ActivityImport.Status.SUCCEEDED, first.error
    assert (first.new, first.already_had, first.since) == (len(expected), 0, None)
    assert ActivityEntry.objects.filter(organization=logged.org).count() == len(expected)
    assert "min_occurred_at" not in logged.asked[0].url.params
    assert logged.asked[0].url.params["sort"] == "occurred_at:asc"
    newest = ActivityEntry.objects.latest("occurred_at").occurred_at

    logged.sandbox.log_activity(logged.sandbox.org_uuid, "User", "Remove", None, {"by": "SCIM"})
    logged.asked.clear()
    second = logged.run()

    assert second.status == ActivityImport.Status.SUCCEEDED, second.error
    asked_from = datetime.fromisoformat(logged.asked[0].url.params["min_occurred_at"])
    assert asked_from == newest - OVERLAP == second.since
    assert second.new == 1
    assert second.already_had >= 1  # the overlap listed the newest stored entry again
    stored = ActivityEntry.objects.filter(organization=logged.org)
    assert stored.count() == len(expected) + 1
    assert stored.values("uri").distinct().count() == stored.count()
    # An automated entry has no actor URI or email: stored as null, not as text.
    removal = stored.get(action="Remove")
    assert (removal.actor_type, removal.actor_uri, removal.actor_email) == ("System", None, None)
    assert removal.details == {"by": "SCIM"}


def test_long_strings_nuls_and_nulls_from_calendly_are_stored(logged: Logged) -> None:
    long_uri = f"{logged.sandbox.url}/activity_log_entries/{'x' * 5000}"
    entry = {
        "uri": long_uri,
        "occurred_at": "2026-01-05T10:00:00.000000Z",
        "namespace": "N" * 4000,
        "action": "Change\x00d",
        "details": {"note\x00": ["a\x00b", None, 3], "long": "é" * 20000},
        "organization": logged.org.uri,
        "actor": {
            "type": "User",
            "uri": None,
            "display_name": None,
            "alternative_identifier": None,
        },
    }
    page = {"collection": [entry, entry], "pagination": {"count": 2, "next_page_token": None}}

    run = logged.run(lambda request: httpx.Response(200, json=page))

    assert (run.status, run.new, run.already_had) == (ActivityImport.Status.SUCCEEDED, 1, 1)
    stored = ActivityEntry.objects.get()
    assert stored.uri == long_uri[:1000]
    assert (stored.namespace, stored.action) == ("N" * 4000, "Changed")
    assert stored.details == {"note": ["ab", None, 3], "long": "é" * 20000}
    assert (stored.actor_uri, stored.actor_name, stored.actor_email) == (None, None, None)


def test_a_plan_without_the_activity_log_is_recorded_and_said_on_the_page(logged: Logged) -> None:
    logged.sandbox.organization.plan = "teams"

    import_organization_task(logged.org.pk)  # never raises into Celery

    run = ActivityImport.objects.get()
    assert run.status == ActivityImport.Status.NOT_ON_PLAN
    assert "plan does not include Calendly's activity log" in run.error
    assert "Enterprise" in run.error
    page = logged.page()
    assert "Nothing could be imported: The organization&#x27;s Calendly plan does not" in page
    assert "an upgrade to Enterprise" in page


def test_a_failed_import_keeps_the_failure_in_words(logged: Logged) -> None:
    run = logged.run(lambda request: httpx.Response(500, json={"title": "Internal Server Error"}))

    assert run.status == ActivityImport.Status.FAILED
    assert "Calendly failed while reading Calendly's activity log" in run.error
    assert not ActivityEntry.objects.exists()


def test_the_command_imports_prints_counts_and_is_audited(logged: Logged) -> None:
    total = len(logged.calendly_entries())
    out = StringIO()
    call_command("import_activity", "--org", logged.org.uri, stdout=out)
    assert f"{total} new, 0 already had." in out.getvalue()

    out = StringIO()
    call_command("import_activity", stdout=out)
    assert "0 new, " in out.getvalue()
    assert ActivityEntry.objects.count() == total

    audited = AuditEntry.objects.filter(action=Action.ACTIVITY_IMPORTED).order_by("pk")
    assert [(a.actor_label, a.after["new"]) for a in audited] == [
        ("manage.py import_activity", total),
        ("manage.py import_activity", 0),
    ]
    assert audited[1].after["already_had"] >= 1


@pytest.mark.usefixtures("tasks_run_here")
def test_import_now_runs_the_import_and_the_page_says_what_it_found(
    logged: Logged, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = logged.client.post(reverse("activity:log_import"))

    total = len(logged.calendly_entries())
    assert response["Location"] == LOG
    page = logged.page()
    assert "Importing Calendly&#x27;s activity log in the background" in page
    assert f"{total} new entries, 0 already here." in page
    assert f"{total} entries" in page
    audited = AuditEntry.objects.get(action=Action.ACTIVITY_IMPORTED)
    assert (audited.actor, audited.after["new"]) == (logged.admin, total)


@pytest.mark.usefixtures("tasks_run_here")
def test_beat_imports_every_connected_organization(
    logged: Logged, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert import_all_task() == 1

    assert ActivityEntry.objects.count() == len(logged.calendly_entries())
    # Scheduled imports are not audited: they would say nothing new every hour.
    assert not AuditEntry.objects.filter(action=Action.ACTIVITY_IMPORTED).exists()


# -- the list ----------------------------------------------------------------------------------


def test_the_list_filters_by_action_actor_namespace_text_and_dates(logged: Logged) -> None:
    logged.run()
    total = ActivityEntry.objects.count()
    logins = ActivityEntry.objects.filter(action="Login")
    person = logins.order_by("occurred_at").last()
    assert person is not None
    assert person.actor_name
    assert person.actor_email

    assert f"{total} entries" in logged.page()
    assert f"{logins.count()} of {total} entries" in logged.page(action="Login")
    assert f"{total} of {total} entries" in logged.page(namespace="User")
    by_name = logged.page(actor=person.actor_name.split()[-1], action="Login")
    assert f"1 of {total} entries" in by_name
    assert person.actor_email in by_name
    assert f"1 of {total} entries" in logged.page(actor=person.actor_email.upper(), action="Login")
    # Search reaches into the details: the owner's "Add" entry names the added address.
    assert f"1 of {total} entries" in logged.page(q=person.actor_email, action="Add")
    day = person.occurred_at.date()
    dated = logged.page(date_from=str(day), date_to=str(day), action="Login")
    assert person.actor_email in dated
    after = logged.page(date_from=str(day + timedelta(days=2)), action="Login")
    assert person.actor_email not in after
    # An action that is not stored is a field error, and the rest still apply.
    assert "Select a valid choice" in logged.page(action="Nope")


def test_the_export_is_exactly_the_current_filter_and_audited(logged: Logged) -> None:
    logged.run()
    response = logged.client.get(reverse("activity:log_export"), {"action": "Add"})

    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["occurred (UTC)", "namespace", "action"]
    adds = ActivityEntry.objects.filter(action="Add")
    assert len(rows) - 1 == adds.count()
    assert {row[2] for row in rows[1:]} == {"Add"}
    assert {row[8] for row in rows[1:]} == set(adds.values_list("uri", flat=True))
    entry = AuditEntry.objects.get(action=Action.ACTIVITY_EXPORTED)
    assert (entry.actor, entry.after) == (logged.admin, {"filters": {"action": "Add"}})


def test_the_page_points_to_the_portals_own_audit_log(logged: Logged) -> None:
    page = logged.page()
    assert f'href="{reverse("audit:log")}"' in page
    assert "No import has run yet." in page
    assert "Nothing imported yet." in page


def test_another_organizations_entries_are_not_shown(logged: Logged) -> None:
    logged.run()
    outsider = UserFactory(role=Role.ADMIN)
    client = Client()
    client.force_login(outsider)
    page = client.get(LOG).content.decode()
    assert "0 entries" in page
    assert ActivityEntry.objects.first().uri not in page  # type: ignore[union-attr]


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.SALES, Role.VIEWER])
def test_only_admins_see_the_activity_log(logged: Logged, role: Role) -> None:
    client = Client()
    client.force_login(UserFactory(organization=logged.org, role=role))
    assert client.get(LOG).status_code == 403
    assert client.get(reverse("activity:log_export")).status_code == 403
    assert client.post(reverse("activity:log_import")).status_code == 403
    assert not AuditEntry.objects.exists()
    assert not ActivityImport.objects.exists()
