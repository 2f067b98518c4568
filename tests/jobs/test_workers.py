"""The job engine with real Celery worker processes, a real (private) Redis and the sandbox:
workers killed mid-job, answers lost after Calendly acted, Redis stopped and started again,
a flaky and stingy Calendly, and a job longer than an access token lives. Each test judges
the outcome by what Calendly received: every address invited exactly once, and every person
offboarded removed (and their invitation revoked) exactly once.

The workers run with short engine timings (tests/jobs/workers.py): a lease lasts 5 s, a job
with no progress for 3 s counts as stalled, beat sweeps every 2 s.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import pytest
from django.test import override_settings
from django.utils import timezone

from portal.accounts.models import Connection, Organization, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.directory import bulk, deletion, offboarding
from portal.directory.models import Invitation, Member
from portal.jobs import engine
from portal.jobs.csvfile import read_text
from portal.jobs.models import Job, JobItem, JobRun
from portal.sandbox import Sandbox, server
from portal.sandbox import state as calendly_state
from portal.sandbox.http import Route
from tests.accounts.test_connections import oauth_connection
from tests.directory.test_actions import Connected, connect
from tests.jobs.conftest import StartWorkers
from tests.jobs.workers import (
    PrivateRedis,
    WorkerPool,
    finished,
    items_finished_at_least,
    wait_for,
    wake,
)
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Guards against hanging, never measurements: a loaded 2-core machine may be slow.
JOB_TIMEOUT = 120
# Calendly's budget is no limit at all unless a test wants one.
UNLIMITED = (100_000, 60)
# How long the sandbox holds an invitation it was told to answer late: inside the workers'
# 5 s lease, so the held invitation exists before another worker may take the item over.
FAULT_DELAY = 3.0


def addresses(count: int) -> list[str]:
    return [f"invitee{n}@example.org" for n in range(count)]


def start_job(
    organization: Organization, emails: list[str], redis: PrivateRedis, *, actor: User | None
) -> Job:
    """Preview and start a bulk invitation the way the page does, then wake two runs (as
    `engine.start` would after its commit) through the workers' own Redis."""
    preview = bulk.prepare(
        organization=organization,
        addresses=read_text("email\n" + "\n".join(emails)),
        source_name="team.csv",
        actor=actor,
        actor_label="" if actor else "a test",
    )
    assert preview.to_invite == len(emails)
    engine.start(preview.job, actor=preview.job.created_by, hand_over=False)
    wake(redis.url, preview.job.pk, count=2)
    return preview.job


def run_to_the_end(job: Job, pool: WorkerPool) -> Job:
    wait_for(finished(job.pk), JOB_TIMEOUT, "the job to finish", pool=pool, job_id=job.pk)
    job.refresh_from_db()
    return job


def assert_each_invited_once(sandbox: RunningSandbox, emails: list[str]) -> None:
    with sandbox.lock:
        sent = dict(sandbox.invitations_sent)
        refused = dict(sandbox.duplicate_invitations_refused)
    never = sorted(set(emails) - set(sent))
    twice = sorted(email for email, times in sent.items() if times > 1)
    assert (never[:5], twice[:5], refused) == ([], [], {}), (
        f"{len(never)} never invited, {len(twice)} invited more than once, "
        f"{len(refused)} refused as already invited"
    )
    assert set(sent) == set(emails)


def assert_all_succeeded(job: Job, count: int) -> None:
    assert (job.state, job.total, job.succeeded, job.failed, job.skipped) == (
        Job.State.DONE,
        count,
        count,
        0,
        0,
    )
    assert not JobItem.objects.filter(job=job).exclude(state=JobItem.State.DONE).exists()


def kill_while_an_invitation_is_in_flight(
    sandbox: RunningSandbox, pool: WorkerPool, kill: Callable[[], object]
) -> None:
    """Hold the next two invitations (one from each worker) for FAULT_DELAY seconds before
    Calendly creates them, and kill while they are held: Calendly then creates the dead
    worker's invitation after the worker is gone, and its item is left in flight."""
    with sandbox.lock:
        sandbox.forced_faults.extend(["slow", "slow"])
    wait_for(lambda: not sandbox.forced_faults, 30, "both workers to send an invitation", pool=pool)
    kill()


def assert_reconciled_after_the_kill(job: Job) -> None:
    """The dead worker's item was taken over once its lease ran out, and the new attempt read
    Calendly before sending anything."""
    taken_over = JobItem.objects.filter(
        job=job, attempts__gt=1, message__contains="an earlier attempt had reached Calendly"
    )
    assert taken_over.exists(), list(
        JobItem.objects.filter(job=job, attempts__gt=1).values_list("key", "message")
    )


def test_a_pool_child_killed_mid_job_loses_and_repeats_nothing(
    sandbox_factory: SandboxFactory, start_workers: StartWorkers, own_redis: PrivateRedis
) -> None:
    sandbox = sandbox_factory(rate_limit=UNLIMITED, fault_delay=FAULT_DELAY)
    connected = connect(sandbox)
    pool = start_workers(sandbox, workers=2, concurrency=1)
    emails = addresses(1000)
    job = start_job(connected.org, emails, own_redis, actor=connected.admin)
    wait_for(items_finished_at_least(job.pk, 300), JOB_TIMEOUT, "300 invitations", pool=pool)
    killed: list[int] = []

    kill_while_an_invitation_is_in_flight(sandbox, pool, lambda: killed.append(pool.kill_child(0)))

    # The worker's main process notices and forks a new child; nothing else is started.
    wait_for(lambda: pool.child_pids(0) not in ([], killed), 30, "a new pool child", pool=pool)
    job = run_to_the_end(job, pool)
    assert_all_succeeded(job, 1000)
    assert_each_invited_once(sandbox, emails)
    assert_reconciled_after_the_kill(job)
    assert "signal 9 (SIGKILL)" in pool.log_text(0)


def test_a_worker_lost_with_its_children_mid_job_loses_and_repeats_nothing(
    sandbox_factory: SandboxFactory, start_workers: StartWorkers, own_redis: PrivateRedis
) -> None:
    sandbox = sandbox_factory(rate_limit=UNLIMITED, fault_delay=FAULT_DELAY)
    connected = connect(sandbox)
    pool = start_workers(sandbox, workers=2, concurrency=1)
    emails = addresses(1000)
    job = start_job(connected.org, emails, own_redis, actor=connected.admin)
    wait_for(items_finished_at_least(job.pk, 300), JOB_TIMEOUT, "300 invitations", pool=pool)

    kill_while_an_invitation_is_in_flight(sandbox, pool, lambda: pool.kill_main(0))
    killed_at = timezone.now()
    pool.restart(0)
    # The lost worker's wake-up stays unacknowledged in Redis until the visibility timeout (an
    # hour); the sweeper counts its run dead once silent for a lease and wakes a new one, so
    # two runs work on the job again long before that.
    wait_for(
        lambda: JobRun.objects.filter(job=job, started_at__gt=killed_at).count() >= 2,
        JOB_TIMEOUT,
        "two runs on the job again",
        pool=pool,
        job_id=job.pk,
    )

    job = run_to_the_end(job, pool)
    assert_all_succeeded(job, 1000)
    assert_each_invited_once(sandbox, emails)
    assert_reconciled_after_the_kill(job)


def test_answers_lost_after_calendly_invited_never_lead_to_a_second_invitation(
    sandbox_factory: SandboxFactory, start_workers: StartWorkers, own_redis: PrivateRedis
) -> None:
    # A fifth of the invitations are created, then the connection is closed unanswered.
    sandbox = sandbox_factory(rate_limit=UNLIMITED, faults=0.2, fault_kinds=("drop",))
    connected = connect(sandbox)
    pool = start_workers(sandbox, workers=2, concurrency=1)
    emails = addresses(200)
    job = start_job(connected.org, emails, own_redis, actor=connected.admin)

    job = run_to_the_end(job, pool)
    assert_all_succeeded(job, 200)
    assert_each_invited_once(sandbox, emails)


def test_with_redis_stopped_the_page_says_delayed_and_the_job_finishes_when_it_returns(
    sandbox_factory: SandboxFactory,
    start_workers: StartWorkers,
    own_redis: PrivateRedis,
    settings: object,
) -> None:
    # A budget of 20 requests a second stretches 200 invitations over about 10 s.
    sandbox = sandbox_factory(rate_limit=(20, 1))
    connected = connect(sandbox)
    settings.JOB_STALL_SECONDS = 3  # type: ignore[attr-defined]
    # The page reads Calendly's budget from the workers' Redis, which is about to go away.
    settings.REDIS_URL = own_redis.url  # type: ignore[attr-defined]
    pool = start_workers(sandbox, workers=2, concurrency=1)
    emails = addresses(200)
    job = start_job(connected.org, emails, own_redis, actor=connected.admin)
    wait_for(items_finished_at_least(job.pk, 40), JOB_TIMEOUT, "40 invitations", pool=pool)

    own_redis.stop()

    def page_says_delayed() -> bool:
        page = connected.client.get(f"/jobs/{job.pk}")
        assert page.status_code == 200
        return "Delayed" in page.content.decode()

    with override_settings(CALENDLY_API_URL=sandbox.url, CALENDLY_AUTH_URL=sandbox.url):
        wait_for(page_says_delayed, 60, "the job's page to say Delayed", pool=pool, job_id=job.pk)
    job.refresh_from_db()
    stalled_at = job.finished
    assert job.state == Job.State.RUNNING
    assert 0 < stalled_at < 200

    own_redis.start()

    # Nobody restarts a worker: they reconnect, beat's sweeper finds the stalled job.
    job = run_to_the_end(job, pool)
    assert_all_succeeded(job, 200)
    assert_each_invited_once(sandbox, emails)
    for index in range(2):
        assert "Connection to broker lost" in pool.log_text(index), pool.log_tail(index)


def test_a_flaky_and_stingy_calendly_fails_no_item_and_counts_no_429_against_one(
    sandbox_factory: SandboxFactory, start_workers: StartWorkers, own_redis: PrivateRedis
) -> None:
    # One API request in ten answers 500 or answers late; 30 requests every 2 seconds.
    sandbox = sandbox_factory(
        rate_limit=(30, 2), faults=0.1, fault_kinds=("error", "slow"), fault_delay=0.3
    )
    connected = connect(sandbox)
    pool = start_workers(sandbox, workers=2, concurrency=1)
    emails = addresses(150)
    job = start_job(connected.org, emails, own_redis, actor=connected.admin)

    job = run_to_the_end(job, pool)
    assert_all_succeeded(job, 150)
    assert_each_invited_once(sandbox, emails)
    messages = JobItem.objects.filter(job=job).values_list("message", flat=True)
    assert not [m for m in messages if "pacing" in m or "429" in m]
    assert not AuditEntry.objects.filter(action=Action.JOB_ITEM_FAILED).exists()


def test_a_job_that_outlives_the_access_token_renews_it_and_keeps_the_connection_healthy(
    sandbox_factory: SandboxFactory, start_workers: StartWorkers, own_redis: PrivateRedis
) -> None:
    # Tokens live 2 s; 10 requests a second stretch 80 invitations over about 8 s.
    sandbox = sandbox_factory(access_token_ttl=2, rate_limit=(10, 1), token_rate_limit=(100, 60))
    organization = Organization.objects.create(uri=sandbox.organization_uri(sandbox.url))
    connection = oauth_connection(sandbox, organization)
    pool = start_workers(
        sandbox,
        workers=2,
        concurrency=1,
        extra_env={
            "CALENDLY_CLIENT_ID": sandbox.client_id,
            "CALENDLY_CLIENT_SECRET": sandbox.client_secret,
        },
    )
    sandbox.requests.reset()
    emails = addresses(80)
    job = start_job(organization, emails, own_redis, actor=None)

    job = run_to_the_end(job, pool)
    assert_all_succeeded(job, 80)
    assert_each_invited_once(sandbox, emails)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.HEALTHY
    # The job outlived several tokens: each was renewed on the way, once.
    renewals = sandbox.requests.count("POST /oauth/token")
    assert renewals >= 2
    assert renewals == connection.token_version


# -- offboarding ------------------------------------------------------------------------------

# The sandbox's names for Calendly's two deleting routes, as its request log counts them.
REMOVALS = "DELETE /organization_memberships/{uuid}"
REVOCATIONS = "DELETE /organizations/{org_uuid}/invitations/{uuid}"
# A guard only: the test lets held requests through a moment after it kills. Under the
# client's 20 s read timeout, so a failing test never turns a hold into a retried DELETE.
HOLD_TIMEOUT = 15.0


@contextlib.contextmanager
def requests_held(
    monkeypatch: pytest.MonkeyPatch, route_key: str, count: int, *, after: int = 0
) -> Iterator[Callable[[], int]]:
    """Calendly's next `count` requests to `route_key` (after letting `after` through) wait,
    before Calendly acts on them, until the block ends; yields how many have been held. The
    sandbox's forced faults take whichever request comes next, and an offboarding reads twice
    before it removes: this picks one route out, through the fault hook every API request
    passes."""
    lock = threading.Lock()
    held = 0
    passed = 0
    released = threading.Event()
    pick_fault = server.pick_fault

    def holding(sb: Sandbox, route: Route) -> str | None:
        nonlocal held, passed
        if route.key == route_key:
            with lock:
                hold = passed >= after and held < count
                if hold:
                    held += 1
                else:
                    passed += 1
            if hold:
                released.wait(HOLD_TIMEOUT)
        return pick_fault(sb, route)

    def so_far() -> int:
        with lock:
            return held

    monkeypatch.setattr(server, "pick_fault", holding)
    try:
        yield so_far
    finally:
        released.set()


def kill_while_a_removal_is_in_flight(
    monkeypatch: pytest.MonkeyPatch,
    pool: WorkerPool,
    start: Callable[[], Job],
    kill: Callable[[], object],
    *,
    after: int,
) -> Job:
    """Start the job, hold the two removals that follow the first `after`, and kill while they
    are held (the hold is in place before the job starts: a fast sandbox could otherwise be
    past the point before it began). Each worker's one child waits on its own request, so the
    two are one from each worker. Let through after the kill, Calendly removes the dead
    worker's person with the worker gone: its item is left in flight, and nobody heard that
    the removal was made."""
    with requests_held(monkeypatch, REMOVALS, 2, after=after) as held:
        job = start()
        wait_for(lambda: held() == 2, JOB_TIMEOUT, "both workers to send a removal", pool=pool)
        kill()
    return job


def pending_invitation(sandbox: RunningSandbox, email: str) -> None:
    """A pending invitation in Calendly, put in its state: Calendly's API refuses to invite a
    member, and someone who joined another way may still have one."""
    with sandbox.lock:
        now = sandbox.now()
        row = calendly_state.Invitation(
            sandbox.new_id(), sandbox.org_uuid, email, "pending", now, now, now
        )
        sandbox.invitations[row.uuid] = row


def start_offboarding(connected: Connected, emails: list[str], redis: PrivateRedis) -> Job:
    """Draft and start an offboarding as the members page does, then wake two runs through
    the workers' own Redis."""
    preview = offboarding.prepare(
        organization=connected.org,
        addresses=read_text("\n".join(emails)),
        source_name="a pasted list",
        actor=connected.admin,
    )
    assert preview.to_offboard == len(emails)
    engine.start(preview.job, actor=connected.admin, hand_over=False)
    wake(redis.url, preview.job.pk, count=2)
    return preview.job


def assert_each_offboarded_once(
    sandbox: RunningSandbox, *, removed: list[str], revoked: list[str]
) -> None:
    """Calendly removed each member and revoked each invitation once, and nothing else. A
    second removal of the same membership is answered 404 and not counted as one, so the
    requests tell whether anyone was sent twice."""
    with sandbox.lock:
        memberships = dict(sandbox.memberships_removed)
        invitations = dict(sandbox.invitations_revoked)
    for what, done, wanted in (
        ("removed", memberships, removed),
        ("revoked", invitations, revoked),
    ):
        never = sorted(set(wanted) - set(done))
        twice = sorted(email for email, times in done.items() if times > 1)
        extra = sorted(set(done) - set(wanted))
        assert (never[:5], twice[:5], extra[:5]) == ([], [], []), (
            f"{len(never)} never {what}, {len(twice)} {what} more than once, "
            f"{len(extra)} {what} who were not on the list"
        )
    sent = {
        "removals": sandbox.requests.count(REMOVALS),
        "revocations": sandbox.requests.count(REVOCATIONS),
    }
    assert sent == {"removals": len(removed), "revocations": len(revoked)}, "some were sent twice"


def test_offboarding_with_a_worker_killed_mid_removal_removes_each_person_once(
    sandbox_factory: SandboxFactory,
    start_workers: StartWorkers,
    own_redis: PrivateRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A whole worker is lost (a pool child's death is the invitation tests' too): its task is
    # handed back only after the visibility timeout, so the sweeper brings a new run.
    sandbox = sandbox_factory(members=130, rate_limit=UNLIMITED)
    # Every plain member leaves (the owner, whose connection the portal uses, and the admins
    # stay); every twelfth of them has a pending invitation as well, and 15 addresses were
    # only invited.
    leavers = sorted(user.email.lower() for user in sandbox.plain_users)
    invited_members = leavers[::12]
    only_invited = [f"invited{n}@example.org" for n in range(15)]
    not_on_the_list = {i.email for i in sandbox.invitations.values() if i.status == "pending"}
    for email in [*invited_members, *only_invited]:
        pending_invitation(sandbox, email)
    connected = connect(sandbox)
    pool = start_workers(sandbox, workers=2, concurrency=1)
    emails = [*leavers, *only_invited]
    job = kill_while_a_removal_is_in_flight(
        monkeypatch,
        pool,
        lambda: start_offboarding(connected, emails, own_redis),
        lambda: pool.kill_main(0),
        after=30,
    )
    pool.restart(0)

    job = run_to_the_end(job, pool)
    assert_all_succeeded(job, len(emails))
    assert_each_offboarded_once(sandbox, removed=leavers, revoked=[*invited_members, *only_invited])
    # The dead worker's person was taken over once its lease ran out; the new attempt read
    # Calendly, found the membership gone and recorded the removal without sending it again.
    taken_over = JobItem.objects.filter(
        job=job, attempts__gt=1, message__contains="already done in Calendly"
    )
    assert taken_over.exists(), list(
        JobItem.objects.filter(job=job, attempts__gt=1).values_list("key", "message")
    )
    # The mirror says so: nobody on the list is a member or invited any more, everyone else is.
    members = Member.objects.current().filter(organization=connected.org)
    assert sorted(members.values_list("email", flat=True)) == sorted(
        [sandbox.owner.email, *(admin.email for admin in sandbox.admins)]
    )
    pending = Invitation.objects.current().filter(organization=connected.org)
    assert set(pending.values_list("email", flat=True)) == not_on_the_list


# -- data-deletion requests -------------------------------------------------------------------

DELETIONS = "POST /data_compliance/deletion/invitees"


def test_a_deletion_request_in_flight_when_its_worker_is_lost_is_never_sent_again(
    sandbox_factory: SandboxFactory,
    start_workers: StartWorkers,
    own_redis: PrivateRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = sandbox_factory(rate_limit=UNLIMITED)
    connected = connect(sandbox)
    pool = start_workers(sandbox, workers=2, concurrency=1)
    emails = [f"guest{n:04}@example.org" for n in range(30 * deletion.EMAILS_PER_REQUEST)]
    preview = deletion.prepare(
        organization=connected.org,
        addresses=read_text("\n".join(emails)),
        source_name="a pasted list",
        actor=connected.admin,
    )
    engine.start(preview.job, actor=connected.admin, hand_over=False)

    # After 5 requests, both workers' next requests wait inside Calendly (held from the start:
    # a fast sandbox would otherwise finish the job before a hold begins); one worker dies
    # meanwhile, and its request is accepted after it is gone: nobody hears the 202.
    with requests_held(monkeypatch, DELETIONS, 2, after=5) as held:
        wake(own_redis.url, preview.job.pk, count=2)
        wait_for(lambda: held() == 2, JOB_TIMEOUT, "both workers to send a request", pool=pool)
        pool.kill_main(0)
    pool.restart(0)
    job = run_to_the_end(preview.job, pool)

    with sandbox.lock:
        asked = dict(sandbox.deletions_requested)
    assert sorted(asked) == emails  # every address asked for...
    assert max(asked.values()) == 1  # ...and none twice
    assert sandbox.requests.count(DELETIONS) == 30
    # The dead worker's request was taken over: its note says it went out, so it is reported
    # as one that may have been sent, for a person to decide on, never sent again by itself.
    doubtful = JobItem.objects.filter(job=job, outcome=deletion.UNCONFIRMED)
    assert doubtful.count() == 1
    assert "it was not sent again" in doubtful.get().message
    assert (job.state, job.succeeded, job.failed) == (Job.State.DONE, 29, 1)
