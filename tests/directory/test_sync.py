"""Syncing the organization mirror from the Calendly sandbox over real HTTP."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client, override_settings
from django.utils import timezone

from portal.accounts.models import Connection, Organization, Role
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly.client import CalendlyClient
from portal.calendly.ratelimit import LocalRateLimiter
from portal.directory.models import (
    EventType,
    EventTypeHost,
    Group,
    GroupRelationship,
    Invitation,
    Member,
    SyncRun,
    Team,
)
from portal.directory.sync import (
    RequestCounter,
    last_successful_sync,
    start_sync,
    sync_organization,
)
from portal.directory.tasks import sync_organization_task
from tests.directory.test_totals import counted, kept
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

# High enough that the client's pacing never slows a test down.
NO_RATE_LIMIT = (1_000_000, 60)


@pytest.fixture
def calendly(sandbox_factory: SandboxFactory) -> Iterator[RunningSandbox]:
    sandbox = sandbox_factory(members=30, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        yield sandbox


def connect(sandbox: RunningSandbox) -> Organization:
    """The sandbox organization, connected with its owner's personal access token."""
    organization = OrganizationFactory(uri=sandbox.organization_uri(sandbox.url), name="")
    Connection.objects.create(
        organization=organization,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri=f"{sandbox.url}/users/{sandbox.owner_uuid}",
        owner_label=sandbox.owner.email,
        access_token=sandbox.owner_token,
    )
    return organization


class Faulty(httpx.HTTPTransport):
    """The real sandbox, plus a failure injected when the request matches."""

    def __init__(self, when: Callable[[httpx.Request], httpx.Response | None]) -> None:
        super().__init__()
        self.when = when

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.when(request) or super().handle_request(request)


def sandbox_client(
    sandbox: RunningSandbox,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float | None = None,
) -> tuple[CalendlyClient, RequestCounter]:
    counter = RequestCounter(LocalRateLimiter())
    client = CalendlyClient(
        token=sandbox.owner_token,
        base_url=sandbox.url,
        transport=transport,
        limiter=counter,
        sleep=lambda seconds: None,  # retries back off instantly
        **({"timeout": httpx.Timeout(timeout)} if timeout else {}),
    )
    return client, counter


def sync(
    organization: Organization,
    sandbox: RunningSandbox,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float | None = None,
) -> SyncRun:
    client, counter = sandbox_client(sandbox, transport=transport, timeout=timeout)
    with client:
        return sync_organization(
            organization, trigger=SyncRun.Trigger.COMMAND, client=client, counter=counter
        )


def user_uri(sandbox: RunningSandbox, uuid: str) -> str:
    return f"{sandbox.url}/users/{uuid}"


def remove_from_calendly(sandbox: RunningSandbox, person_uuid: str) -> None:
    membership = sandbox.membership_of[person_uuid]
    answer = httpx.delete(
        f"{sandbox.url}/organization_memberships/{membership}",
        headers={"Authorization": f"Bearer {sandbox.owner_token}"},
    )
    assert answer.status_code == 204, answer.text


def test_a_first_sync_mirrors_the_sandbox_organization(calendly: RunningSandbox) -> None:
    organization = connect(calendly)
    org = calendly.org_uuid

    run = sync(organization, calendly)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    memberships = calendly.org_memberships(org)
    invitations = [i for i in calendly.invitations.values() if i.organization == org]
    groups = [g for g in calendly.groups.values() if g.organization == org]
    relationships = [r for r in calendly.group_relationships.values() if r.organization == org]
    teams = [t for t in calendly.teams.values() if t.organization == org]
    event_types = [e for e in calendly.event_types.values() if e.organization == org]
    hosts = sum(len(e.hosts) for e in event_types)

    assert Member.objects.current().filter(organization=organization).count() == len(memberships)
    assert Counter(Invitation.objects.values_list("status", flat=True)) == Counter(
        i.status for i in invitations
    )
    assert Group.objects.filter(organization=organization).count() == len(groups)
    assert GroupRelationship.objects.filter(organization=organization).count() == len(relationships)
    assert Team.objects.filter(organization=organization).count() == len(teams)
    assert EventType.objects.filter(organization=organization).count() == len(event_types)
    assert EventTypeHost.objects.count() == hosts
    assert run.counts["members"] == len(memberships)
    assert run.counts["invitations_by_status"] == dict(Counter(i.status for i in invitations))
    assert run.counts["event_type_hosts"] == hosts
    assert run.notes == []
    organization.refresh_from_db()
    assert organization.name == "Acme Sandbox Inc."

    owner = Member.objects.get(user_uri=user_uri(calendly, calendly.owner_uuid))
    assert owner.role == "owner"
    assert owner.email == calendly.owner.email
    # Pending invitees can already be in a group; the relationship points at the invitation.
    assert GroupRelationship.objects.filter(invitation__isnull=False).count() == 2
    assert not GroupRelationship.objects.filter(member__isnull=True, invitation__isnull=True)
    team_type = EventType.objects.filter(pooling_type="round_robin").first()
    assert team_type is not None
    assert team_type.hosts.count() == 5


def test_the_requests_used_are_counted_and_match_what_calendly_received(
    calendly: RunningSandbox,
) -> None:
    organization = connect(calendly)
    before = calendly.requests.total()

    run = sync(organization, calendly)

    assert run.calendly_requests == calendly.requests.total() - before
    # 1 organization + one page each of members, invitations, groups, relationships, teams and
    # event types + one host listing for each of the 6 pooled team event types.
    assert run.calendly_requests == 1 + 6 + 6


def test_a_sync_through_the_connection_counts_its_requests_too(calendly: RunningSandbox) -> None:
    organization = connect(calendly)

    run = sync_organization(organization, trigger=SyncRun.Trigger.SCHEDULE)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.calendly_requests == calendly.requests.total() == 13


def test_ten_thousand_members_take_one_membership_call_per_hundred(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(members=10_000, rate_limit=NO_RATE_LIMIT)
    organization = connect(sandbox)
    org = sandbox.org_uuid

    run = sync(organization, sandbox)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.counts["members"] == 10_000
    assert sandbox.requests.count("GET /organization_memberships") == math.ceil(10_000 / 100)

    def pages(rows: int) -> int:
        return max(1, math.ceil(rows / 100))

    event_types = [e for e in sandbox.event_types.values() if e.organization == org]
    pooled = [e for e in event_types if e.pooling_type]
    expected = (
        1
        + pages(10_000)
        + pages(sum(1 for i in sandbox.invitations.values() if i.organization == org))
        + pages(sum(1 for g in sandbox.groups.values() if g.organization == org))
        + pages(sum(1 for r in sandbox.group_relationships.values() if r.organization == org))
        + pages(sum(1 for t in sandbox.teams.values() if t.organization == org))
        + pages(len(event_types))
        + sum(pages(len(e.hosts)) for e in pooled)
    )
    assert run.calendly_requests == sandbox.requests.total() == expected
    assert Member.objects.filter(organization=organization).count() == 10_000


def test_a_server_error_in_the_middle_of_the_members_keeps_the_last_good_mirror(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(members=250, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        organization = connect(sandbox)
        good = sync(organization, sandbox)
        leaver = sandbox.plain_users[-1]
        remove_from_calendly(sandbox, leaver.uuid)

        def second_members_page_fails(request: httpx.Request) -> httpx.Response | None:
            if request.url.path == "/organization_memberships" and "page_token" in str(request.url):
                # Every attempt the client makes at this page is answered 500.
                sandbox.inject_fault("error", times=10)
            return None

        failed = sync(organization, sandbox, transport=Faulty(second_members_page_fails))

    assert failed.status == SyncRun.Status.FAILED
    assert failed.error == (
        "Calendly failed while listing members (it answered 500). Try again in a few minutes. "
        "The last complete copy is still shown."
    )
    assert failed.counts["members"] == 100  # the first page arrived
    assert Member.objects.filter(organization=organization).count() == 250
    assert not Member.objects.filter(removed_at__isnull=False).exists()
    assert Member.objects.current().filter(user_uri=user_uri(sandbox, leaver.uuid)).exists()
    assert last_successful_sync(organization) == good


def test_a_timeout_in_the_middle_of_the_members_keeps_the_last_good_mirror(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(members=250, rate_limit=NO_RATE_LIMIT, fault_delay=1.0)
    organization = connect(sandbox)
    good = sync(organization, sandbox)
    remove_from_calendly(sandbox, sandbox.plain_users[0].uuid)

    def second_members_page_hangs(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/organization_memberships" and "page_token" in str(request.url):
            sandbox.inject_fault("slow")
        return None

    failed = sync(organization, sandbox, transport=Faulty(second_members_page_hangs), timeout=0.3)

    assert failed.status == SyncRun.Status.FAILED
    assert failed.error.startswith("Calendly did not answer while listing members (ReadTimeout")
    assert failed.error.endswith(
        "Try again in a few minutes. The last complete copy is still shown."
    )
    assert not Member.objects.filter(removed_at__isnull=False).exists()
    assert last_successful_sync(organization) == good


def test_a_member_removed_in_calendly_shows_as_removed_and_loses_portal_access(
    calendly: RunningSandbox,
) -> None:
    organization = connect(calendly)
    leaver, demoted = calendly.admins[0], calendly.admins[1]
    leaver_account = UserFactory(
        organization=organization, calendly_uri=user_uri(calendly, leaver.uuid), role="admin"
    )
    demoted_account = UserFactory(
        organization=organization, calendly_uri=user_uri(calendly, demoted.uuid), role="admin"
    )
    first = sync(organization, calendly)
    assert first.status == SyncRun.Status.SUCCEEDED

    remove_from_calendly(calendly, leaver.uuid)
    # Calendly changes roles only in its admin center, so the test plays that part directly.
    calendly.memberships[calendly.membership_of[demoted.uuid]].role = "user"
    second = sync(organization, calendly)

    assert second.status == SyncRun.Status.SUCCEEDED
    gone = Member.objects.get(user_uri=leaver_account.calendly_uri)
    assert gone.removed_at is not None
    assert gone.removed_at.date() == timezone.now().date()
    assert second.counts["removed"]["members"] == 1
    assert Member.objects.current().filter(organization=organization).count() == (
        len(calendly.org_memberships(calendly.org_uuid))
    )
    # The totals the members page shows moved with the rows.
    assert kept(organization) == counted(organization)
    assert kept(organization)["removed"] == 1
    leaver_account.refresh_from_db()
    assert not leaver_account.is_active
    assert leaver_account.roles == frozenset()
    demoted_account.refresh_from_db()
    assert demoted_account.is_active
    assert demoted_account.calendly_role == "user"
    assert "admin" not in demoted_account.roles
    # Both changes are in the audit log, attributed to the sync.
    changes = {
        entry.target_id: entry.after
        for entry in AuditEntry.objects.filter(action=Action.ACCESS_SYNCED)
    }
    assert changes[str(leaver_account.pk)]["is_active"] is False
    assert changes[str(demoted_account.pk)]["calendly_role"] == "user"
    assert AuditEntry.objects.filter(action=Action.ACCESS_SYNCED).first().actor_label == (
        "Calendly sync"
    )


def test_a_removed_member_who_comes_back_is_current_again_and_regains_access(
    calendly: RunningSandbox,
) -> None:
    organization = connect(calendly)
    person = calendly.plain_users[0]
    account = UserFactory(organization=organization, calendly_uri=user_uri(calendly, person.uuid))
    sync(organization, calendly)
    remove_from_calendly(calendly, person.uuid)
    sync(organization, calendly)
    account.refresh_from_db()
    assert not account.is_active

    calendly.add_membership(person, calendly.org_uuid, "user", calendly.now())
    sync(organization, calendly)

    rows = Member.objects.filter(user_uri=account.calendly_uri)
    # The old membership stays removed (history points at it); the new one is current.
    assert sorted(row.removed_at is None for row in rows) == [False, True]
    assert kept(organization) == counted(organization)
    account.refresh_from_db()
    assert account.is_active


def test_an_event_type_deleted_in_calendly_is_marked_removed_and_a_new_one_appears(
    calendly: RunningSandbox,
) -> None:
    organization = connect(calendly)
    sync(organization, calendly)
    doomed = next(e for e in calendly.event_types.values() if e.organization == calendly.org_uuid)
    doomed.deleted_at = calendly.now()

    run = sync(organization, calendly)

    removed = EventType.objects.get(uri=f"{calendly.url}/event_types/{doomed.uuid}")
    assert removed.removed_at is not None
    assert run.counts["removed"] == {"event_types": 1}


def test_groups_refused_as_outside_the_plan_are_skipped_with_a_note(
    calendly: RunningSandbox,
) -> None:
    organization = connect(calendly)
    sync(organization, calendly)
    groups_before = Group.objects.current().count()

    def groups_refused(request: httpx.Request) -> httpx.Response | None:
        if request.url.path in ("/groups", "/group_relationships"):
            return httpx.Response(
                403,
                json={
                    "title": "Permission Denied",
                    "message": "Please upgrade your Calendly account to Enterprise.",
                },
            )
        return None

    run = sync(organization, calendly, transport=Faulty(groups_refused))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.notes == [
        "The organization's Calendly plan does not include listing groups: Calendly asks for an "
        "upgrade to Enterprise. Skipped; the rest of the sync went on."
    ]
    assert "groups" not in run.counts
    # What the mirror already held about groups stays as it was.
    assert Group.objects.current().count() == groups_before > 0
    assert run.counts["members"] == len(calendly.org_memberships(calendly.org_uuid))


def test_a_second_request_while_a_sync_runs_gets_the_running_one(
    calendly: RunningSandbox,
) -> None:
    organization = connect(calendly)
    running, started = start_sync(organization, trigger=SyncRun.Trigger.MANUAL)
    assert started

    again = sync_organization(organization, trigger=SyncRun.Trigger.SCHEDULE)

    assert again == running
    assert again.status == SyncRun.Status.RUNNING
    assert calendly.requests.total() == 0
    assert SyncRun.objects.count() == 1


def test_a_running_sync_whose_worker_went_silent_is_given_up(calendly: RunningSandbox) -> None:
    organization = connect(calendly)
    abandoned, _ = start_sync(organization, trigger=SyncRun.Trigger.SCHEDULE)
    SyncRun.objects.filter(pk=abandoned.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    run = sync_organization(organization, trigger=SyncRun.Trigger.MANUAL)

    assert run != abandoned
    assert run.status == SyncRun.Status.SUCCEEDED
    abandoned.refresh_from_db()
    assert abandoned.status == SyncRun.Status.FAILED
    assert "stopped without finishing" in abandoned.error


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_the_same_moment_start_one_run() -> None:
    organization = OrganizationFactory()
    barrier = threading.Barrier(2)
    claims: list[tuple[int, bool]] = []

    def claim() -> None:
        try:
            barrier.wait()
            run, started = start_sync(organization, trigger=SyncRun.Trigger.SCHEDULE)
            claims.append((run.pk, started))
        finally:
            connections.close_all()

    workers = [threading.Thread(target=claim) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sorted(started for _, started in claims) == [False, True]
    assert len({pk for pk, _ in claims}) == 1
    assert SyncRun.objects.count() == 1


def test_a_missing_connection_fails_the_run_in_plain_words() -> None:
    organization = OrganizationFactory()

    run = sync_organization(organization, trigger=SyncRun.Trigger.SCHEDULE)

    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith(
        "The Calendly connection needs attention: no organization admin has connected yet."
    )


def test_sync_org_prints_the_counts_and_requests_of_every_connected_organization(
    calendly: RunningSandbox,
) -> None:
    connect(calendly)
    OrganizationFactory()  # not connected: not synced
    out = StringIO()

    call_command("sync_org", stdout=out)

    line = out.getvalue().strip()
    memberships = len(calendly.org_memberships(calendly.org_uuid))
    invitations = sum(
        1 for i in calendly.invitations.values() if i.organization == calendly.org_uuid
    )
    event_types = sum(
        1 for e in calendly.event_types.values() if e.organization == calendly.org_uuid
    )
    assert line.startswith(
        f"Acme Sandbox Inc.: {memberships} members, {invitations} invitations, 2 groups, "
        f"{event_types} event types; 13 Calendly requests; "
    )
    assert line.endswith(" s")
    assert SyncRun.objects.get().trigger == SyncRun.Trigger.COMMAND


def test_sync_org_exits_non_zero_when_an_organization_fails(calendly: RunningSandbox) -> None:
    organization = connect(calendly)
    calendly.inject_fault("error", times=10)
    err = StringIO()

    with pytest.raises(CommandError, match="1 of 1 organizations failed to sync"):
        call_command("sync_org", "--org", organization.uri, stdout=StringIO(), stderr=err)

    assert "failed after" in err.getvalue()
    assert "Calendly failed while reading the organization (it answered 500)" in err.getvalue()


def test_sync_org_refuses_an_unknown_organization() -> None:
    with pytest.raises(CommandError, match="No organization with URI"):
        call_command("sync_org", "--org", "https://api.calendly.com/organizations/NOPE")


def test_connecting_with_a_token_claims_a_first_sync(calendly: RunningSandbox) -> None:
    call_command("connect", "--token", calendly.owner_token, stdout=StringIO())

    run = SyncRun.objects.get()
    assert run.trigger == SyncRun.Trigger.CONNECTED
    assert run.status == SyncRun.Status.QUEUED  # handed to a worker once the commit is done


def test_a_token_calendly_rejects_fails_the_sync_and_flags_the_connection(
    calendly: RunningSandbox,
) -> None:
    organization = connect(calendly)
    Connection.objects.filter(organization=organization).update(access_token="revoked-token")

    run = sync_organization(organization, trigger=SyncRun.Trigger.SCHEDULE)

    assert run.status == SyncRun.Status.FAILED
    assert Connection.objects.get(organization=organization).needs_attention


# -- whatever Calendly sends ------------------------------------------------------------------


def test_names_emails_and_links_of_any_length_are_mirrored(calendly: RunningSandbox) -> None:
    organization = connect(calendly)
    person, other = calendly.plain_users[0], calendly.plain_users[1]
    person.name = "Ada " + "L" * 316  # 320 characters
    person.email = f"{'a' * 300}@example.com"
    person.slug = "s" * 600
    # 4-byte characters, as long as an index entry could never hold whole, and a NUL byte.
    other.name = "\U0001f600" * 5000 + "\x00tail"
    invitation = next(iter(calendly.invitations.values()))
    invitation.email = f"{'i' * 313}@example.com"

    run = sync(organization, calendly)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    stored = Member.objects.get(user_uri=user_uri(calendly, person.uuid))
    assert stored.name == person.name
    assert stored.email == person.email
    assert stored.slug == person.slug
    long_one = Member.objects.get(user_uri=user_uri(calendly, other.uuid))
    assert "\x00" not in long_one.name
    assert long_one.name.startswith("\U0001f600" * 100)
    assert len(long_one.name.encode()) <= 1000
    assert Invitation.objects.get(email=invitation.email).status == invitation.status
    # ...and the next sync works as well as the first.
    assert sync(organization, calendly).status == SyncRun.Status.SUCCEEDED


def test_a_person_calendly_sends_without_a_name_is_mirrored(calendly: RunningSandbox) -> None:
    organization = connect(calendly)
    person = calendly.plain_users[0]
    person.name = None  # type: ignore[assignment]

    run = sync(organization, calendly)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert Member.objects.get(user_uri=user_uri(calendly, person.uuid)).name == ""


# -- a sync waiting for a worker --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_connect_then_sync_org_with_no_worker_syncs_in_the_foreground(
    calendly: RunningSandbox,
) -> None:
    person = calendly.plain_users[0]
    person.name = "Ada " + "L" * 316  # 320 characters
    call_command("connect", "--token", calendly.owner_token, stdout=StringIO())
    queued = SyncRun.objects.get()
    assert queued.status == SyncRun.Status.QUEUED  # handed to the workers; none runs here

    out = StringIO()
    call_command("sync_org", stdout=out)

    printed = out.getvalue()
    assert "still running" not in printed
    members = Member.objects.current().count()
    assert f"{members} members" in printed
    assert "Calendly requests" in printed
    run = SyncRun.objects.get()  # the queued run, taken over: no second one
    assert run.pk == queued.pk
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Member.objects.get(user_uri=user_uri(calendly, person.uuid)).name == person.name

    # The worker that receives the queued task later finds it done and does nothing.
    calendly.requests.reset()
    sync_organization_task(run.organization_id, run.trigger, None, run_id=run.pk)
    assert calendly.requests.total() == 0
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED


def test_sync_org_leaves_a_sync_a_live_worker_is_running_alone(calendly: RunningSandbox) -> None:
    organization = connect(calendly)
    running, _ = start_sync(organization, trigger=SyncRun.Trigger.SCHEDULE)

    out = StringIO()
    call_command("sync_org", stdout=out)

    assert "is still running; not starting another" in out.getvalue()
    assert calendly.requests.total() == 0
    running.refresh_from_db()
    assert running.status == SyncRun.Status.RUNNING


def test_a_sync_clears_what_the_members_page_keeps(calendly: RunningSandbox) -> None:
    organization = connect(calendly)
    sync(organization, calendly)
    client = Client()
    client.force_login(UserFactory(organization=organization, role=Role.ADMIN))
    group = next(iter(calendly.groups.values()))
    assert group.name in client.get("/members/").content.decode()

    group.name = "Renamed in Calendly"
    assert "Renamed in Calendly" not in client.get("/members/").content.decode()
    running, _ = start_sync(organization, trigger=SyncRun.Trigger.MANUAL)
    page = client.get("/members/").content.decode()
    assert f"/members/sync/{running.pk}" in page  # a run that starts is seen at once
    running.delete()
    sync(organization, calendly)

    assert "Renamed in Calendly" in client.get("/members/").content.decode()
