"""A bulk invitation as an admin meets it: upload or paste, the preview, Start, the progress
page and its htmx poll, pause / resume / cancel / retry, the results; and the engine's
promises seen from there (blocked on seats, a dead worker's item reconciled, 429s), the
sweeper, the `bulk_invite` command and the jobs list. All in this process, against the
sandbox over real HTTP; real worker processes are tests/jobs/test_workers.py's."""

from __future__ import annotations

import csv
import html
import io
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks

from portal.accounts.models import Connection, Organization, Role
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.directory import bulk
from portal.directory.models import Member
from portal.jobs import engine, tasks
from portal.jobs.models import Job, JobItem, JobRun
from portal.jobs.wake import wake
from tests.directory.test_actions import Connected, connect, page_messages
from tests.factories import OrganizationFactory, UserFactory
from tests.jobs.test_bulk_invite import INVITATIONS, addresses, draft
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

# The first bytes of a PNG image: what "I uploaded the wrong file" usually looks like.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
FORMULA = '=HYPERLINK("https://evil.example","click me")'
# Django's address check takes a domain literal; Calendly (the sandbox) answers 400 to it.
REFUSED_BY_CALENDLY = "jo@[127.0.0.1]"

TAG = re.compile(r"<[^>]*>")

ConnectTo = Callable[[RunningSandbox], Connected]


@pytest.fixture
def connect_to(settings: Any) -> ConnectTo:
    """Connect an organization of `sb` to the portal, with the portal's Calendly pointed at it."""

    def connect_to(sb: RunningSandbox) -> Connected:
        settings.CALENDLY_API_URL = sb.url
        settings.CALENDLY_AUTH_URL = sb.url
        return connect(sb)

    return connect_to


@pytest.fixture
def connected(sandbox: RunningSandbox, connect_to: ConnectTo) -> Connected:
    return connect_to(sandbox)


def shown(response: Any) -> str:
    """The words a person reads on the page: tags become spaces (so table cells stay apart)
    and spaces collapse."""
    return " ".join(html.unescape(TAG.sub(" ", response.content.decode())).split())


def downloaded(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def audited(action: str, job: Job) -> int:
    return AuditEntry.objects.filter(action=action, target_id=str(job.pk)).count()


def a_member(connected: Connected) -> Member:
    member = Member.objects.filter(organization=connected.org).exclude(email="").first()
    assert member is not None
    return member


def a_file_with_every_kind_of_row(connected: Connected) -> str:
    """Two addresses to invite, and one row for each reason to skip one."""
    member = a_member(connected)
    # Invited through the portal, so both Calendly and the mirror know it is pending.
    connected.client.post("/members/invite", {"emails": "pending.one@example.com"})
    connected.sandbox.requests.reset()
    rows = [
        ["email", "name"],
        ["new.one@example.com", "New One"],  # line 2
        ["New.Two@Example.com", "New Two"],  # line 3
        ["not-an-address", "Broken"],  # line 4
        [FORMULA, "Formula"],  # line 5
        ["new.one@example.com", "Again"],  # line 6
        [member.email, "Member"],  # line 7
        ["pending.one@example.com", "Pending"],  # line 8
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def upload(client: Client, content: bytes, name: str = "team.csv") -> Any:
    return client.post(
        "/members/invite/file", {"file": SimpleUploadedFile(name, content, "text/csv")}
    )


def the_draft(connected: Connected) -> Job:
    return Job.objects.get(organization=connected.org, state=Job.State.DRAFT)


def run_until_finished(job: Job, *, within: float = 60.0) -> None:
    """Run the job here as a worker would, honouring each item's wait, until nothing is left."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        end = engine.run_slice(job.pk)
        if end.done or (not end.again and end.wake_in is None):
            return
        if end.wake_in:
            time.sleep(min(end.wake_in, 1.0))
    raise AssertionError(f"job {job.pk} did not finish in {within} s")


def start_through_the_page(
    connected: Connected, job: Job, capture: DjangoCaptureOnCommitCallbacks
) -> tuple[Any, list[partial[object]]]:
    """Press Start; the page after it, and the wake-ups it left to publish on commit.

    A test's transaction never commits, so the callbacks are captured and not run: no worker
    listens in these tests, and `run_slice` does the work in their place."""
    with capture() as callbacks:
        response = connected.client.post(f"/jobs/{job.pk}/start", follow=True)
    job.refresh_from_db()
    return response, wake_ups(callbacks)


def wake_ups(callbacks: Iterable[Callable[[], object]]) -> list[partial[object]]:
    """The wake-ups among callbacks run on commit (audit rows may add others)."""
    return [c for c in callbacks if isinstance(c, partial) and c.func is wake]


# -- the preview ------------------------------------------------------------------------------


def test_an_uploaded_file_is_previewed_with_every_skipped_row_and_its_reason_and_nothing_sent(
    connected: Connected,
) -> None:
    content = a_file_with_every_kind_of_row(connected).encode()

    response = upload(connected.client, content)
    assert response.status_code == 302
    job = the_draft(connected)
    assert response["Location"] == f"/jobs/{job.pk}"
    page = shown(connected.client.get(f"/jobs/{job.pk}"))

    assert "Preview: nothing has been sent yet" in page
    assert "2 of 7 rows will be invited." in page
    for fact in (
        "Not an address: 2",
        "Repeated in the file: 1",
        "Already a member: 1",
        "Already invited: 1",
    ):
        assert fact in page
    assert "4 not-an-address This is not an email address." in page
    assert f"5 {FORMULA} This cell is a spreadsheet formula, not an email address." in page
    assert "6 new.one@example.com Appears earlier in the file, on line 2." in page
    assert "Already a member of the organization." in page
    assert "8 pending.one@example.com Already invited; the invitation is still pending." in page
    assert "Invite 2 people" in page
    assert connected.sandbox.requests.total() == 0


def test_the_dry_run_lists_every_row_with_its_outcome_and_neutralises_formulas(
    connected: Connected,
) -> None:
    member = a_member(connected)
    upload(connected.client, a_file_with_every_kind_of_row(connected).encode())
    job = the_draft(connected)

    rows = downloaded(connected.client.get(f"/jobs/{job.pk}/results.csv"))

    assert [(r["line"], r["item"], r["state"], r["outcome"]) for r in rows] == [
        ("2", "new.one@example.com", "Waiting", "To invite"),
        ("3", "new.two@example.com", "Waiting", "To invite"),
        ("4", "line 4", "Skipped", "Not an address"),
        ("5", "line 5", "Skipped", "Not an address"),
        ("6", "line 6", "Skipped", "Repeated in the file"),
        ("7", "line 7", "Skipped", "Already a member"),
        ("8", "line 8", "Skipped", "Already invited"),
    ]
    assert rows[3]["written"] == "'" + FORMULA  # a spreadsheet shows it, never runs it
    assert rows[5]["written"] == member.email
    assert connected.sandbox.requests.total() == 0
    assert audited(Action.JOB_RESULTS_EXPORTED, job) == 1


def test_a_row_repeating_a_members_address_is_called_a_repeat_not_a_broken_address(
    connected: Connected,
) -> None:
    member = a_member(connected)
    preview = draft(connected, f"email\n{member.email}\n{member.email}\n")

    assert preview.counts == {bulk.ALREADY_MEMBER: 1, bulk.DUPLICATE: 1}


def test_pasted_addresses_get_the_same_preview(connected: Connected) -> None:
    text = a_file_with_every_kind_of_row(connected)

    response = connected.client.post("/members/invite/file", {"addresses": text}, follow=True)

    job = the_draft(connected)
    assert job.label == "Invite people from pasted addresses"
    page = shown(response)
    assert "2 of 7 rows will be invited." in page
    assert "Repeated in the file: 1" in page
    assert f"5 {FORMULA} This cell is a spreadsheet formula" in page
    assert connected.sandbox.requests.total() == 0


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        pytest.param(
            {"file": PNG},
            "This is not a CSV text file: it holds binary data (an image, an archive or a "
            "program?).",
            id="binary junk",
        ),
        pytest.param(
            {"file": "email\nada@example.com\njosé@example.com\n".encode("latin-1")},
            "Line 3 is not UTF-8 text; the file was saved in another encoding.",
            id="latin-1",
        ),
        pytest.param(
            {"file": b"name,phone\nAda,555 0100\n"},
            "No column is named email; the columns are: name, phone.",
            id="no email column",
        ),
        pytest.param(
            {"file": b"email\nada@example.com\n", "addresses": "bo@example.com"},
            "Upload a file or paste addresses, not both.",
            id="both",
        ),
        pytest.param({"addresses": " "}, "Choose a CSV file, or paste addresses.", id="neither"),
        pytest.param({}, "Choose a CSV file, or paste addresses.", id="an empty post"),
    ],
)
def test_a_malformed_upload_is_refused_with_a_sentence_and_leaves_no_job(
    connected: Connected, sent: dict[str, Any], said: str
) -> None:
    data: dict[str, Any] = dict(sent)
    if "file" in data:
        data["file"] = SimpleUploadedFile("team.csv", data["file"], "text/csv")

    response = connected.client.post("/members/invite/file", data)

    assert response.status_code == 400
    assert said in shown(response)
    assert not Job.objects.exists()
    assert not JobItem.objects.exists()


# -- running, and what a person can do to a job ----------------------------------------------


def test_start_queues_the_job_wakes_workers_on_commit_and_the_page_follows_it_to_the_end(
    connected: Connected, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    job = draft(connected, addresses(3)).job

    response, wake_ups = start_through_the_page(connected, job, django_capture_on_commit_callbacks)

    assert job.state == Job.State.QUEUED
    assert [(w.args, w.keywords) for w in wake_ups] == [
        ((job.pk,), {"count": settings.JOB_PARALLEL_RUNS})
    ]
    assert "leaving this page does not stop it" in page_messages(response)
    page = shown(response)
    assert "Waiting for a worker" in page
    assert "0 of 3 finished (0%)" in page
    assert audited(Action.JOB_STARTED, job) == 1
    poll = {"HX-Request": "true"}
    assert connected.client.get(f"/jobs/{job.pk}", headers=poll).status_code == 200

    engine.run_slice(job.pk)

    finished = connected.client.get(f"/jobs/{job.pk}", headers=poll)
    assert finished.status_code == 286  # htmx stops polling
    page = shown(finished)
    assert "Finished" in page
    assert "3 of 3 finished (100%): 3 done, 0 failed, 0 skipped" in page
    assert "Invited: 3" in page
    assert "Finished" in shown(connected.client.get(f"/jobs/{job.pk}"))
    assert connected.sandbox.invitations_sent == {f"person{n}@example.com": 1 for n in range(3)}


def test_pause_resume_and_cancel_each_leave_an_audit_row_and_a_repeat_is_refused_in_words(
    connected: Connected, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    job = draft(connected, addresses(4)).job
    start_through_the_page(connected, job, django_capture_on_commit_callbacks)
    page = f"/jobs/{job.pk}"

    paused = connected.client.post(f"{page}/pause", follow=True)
    assert "Paused." in page_messages(paused)
    again = connected.client.post(f"{page}/pause", follow=True)
    assert again.status_code == 200
    assert "Only a waiting or running job can be paused." in page_messages(again)
    assert engine.run_slice(job.pk).done is False
    assert connected.sandbox.invitations_sent == {}

    with django_capture_on_commit_callbacks() as callbacks:
        resumed = connected.client.post(f"{page}/resume", follow=True)
    assert "Resumed." in page_messages(resumed)
    assert wake_ups(callbacks)
    again = connected.client.post(f"{page}/resume", follow=True)
    assert again.status_code == 200
    assert "Only a paused job can be resumed." in page_messages(again)

    cancelled = connected.client.post(f"{page}/cancel", follow=True)
    assert "Cancelled; 4 items were not done." in page_messages(cancelled)
    job.refresh_from_db()
    assert (job.state, job.skipped) == (Job.State.CANCELLED, 4)
    assert set(JobItem.objects.filter(job=job).values_list("outcome", flat=True)) == {"cancelled"}
    again = connected.client.post(f"{page}/cancel", follow=True)
    assert "Only a job that has not finished can be cancelled." in page_messages(again)
    engine.run_slice(job.pk)
    assert connected.sandbox.invitations_sent == {}

    assert [audited(a, job) for a in (Action.JOB_PAUSED, Action.JOB_RESUMED)] == [1, 1]
    cancel_row = AuditEntry.objects.get(action=Action.JOB_CANCELLED, target_id=str(job.pk))
    assert cancel_row.after == {"not_done": 4}


def test_an_address_calendly_refuses_fails_in_words_and_retry_gives_it_new_attempts(
    connected: Connected, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    job = draft(connected, f"email\nada@example.com\n{REFUSED_BY_CALENDLY}\n").job
    start_through_the_page(connected, job, django_capture_on_commit_callbacks)
    run_until_finished(job)

    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed) == (Job.State.DONE, 1, 1)
    failed = JobItem.objects.get(job=job, state=JobItem.State.FAILED)
    assert failed.key == REFUSED_BY_CALENDLY
    page = shown(connected.client.get(f"/jobs/{job.pk}"))
    assert f"Failed Item Why Attempts {REFUSED_BY_CALENDLY} {failed.message} 1" in page
    assert "Retry 1 failed" in page
    assert audited(Action.JOB_ITEM_FAILED, job) == 0  # audited against the item, not the job
    assert AuditEntry.objects.filter(
        action=Action.JOB_ITEM_FAILED, target_label=REFUSED_BY_CALENDLY
    ).exists()

    with django_capture_on_commit_callbacks() as callbacks:
        retried = connected.client.post(f"/jobs/{job.pk}/retry", follow=True)

    assert "Trying 1 failed items again." in page_messages(retried)
    assert wake_ups(callbacks)
    failed.refresh_from_db()
    assert (failed.state, failed.attempts, failed.outcome) == (JobItem.State.PENDING, 0, "")
    job.refresh_from_db()
    assert (job.state, job.failed) == (Job.State.RUNNING, 0)
    assert audited(Action.JOB_RETRIED, job) == 1
    refused = connected.client.post(f"/jobs/{job.pk}/retry", follow=True)
    assert "No item of this job has failed." in page_messages(refused)

    run_until_finished(job)
    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed) == (Job.State.DONE, 1, 1)
    assert connected.sandbox.invitations_sent == {"ada@example.com": 1}


def test_a_finished_jobs_results_list_every_address_and_the_download_is_audited(
    connected: Connected, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    job = draft(connected, addresses(3)).job
    start_through_the_page(connected, job, django_capture_on_commit_callbacks)
    run_until_finished(job)

    rows = downloaded(connected.client.get(f"/jobs/{job.pk}/results.csv"))

    assert [(r["item"], r["state"], r["outcome"]) for r in rows] == [
        (f"person{n}@example.com", "Done", "Invited") for n in range(3)
    ]
    assert all(r["Calendly"].startswith(connected.org.uri + "/invitations/") for r in rows)
    exported = AuditEntry.objects.get(action=Action.JOB_RESULTS_EXPORTED)
    assert (exported.target_id, exported.actor_id) == (str(job.pk), connected.admin.pk)


def test_someone_elses_preview_and_another_organizations_job_are_not_found(
    connected: Connected, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    job = draft(connected, addresses(2)).job
    colleague = Client()
    colleague.force_login(UserFactory(organization=connected.org, role=Role.ADMIN))
    outsider = Client()
    outsider.force_login(UserFactory(organization=OrganizationFactory(), role=Role.ADMIN))

    for url in (f"/jobs/{job.pk}", f"/jobs/{job.pk}/results.csv"):
        assert colleague.get(url).status_code == 404
        assert outsider.get(url).status_code == 404
    for action in ("start", "discard"):
        assert colleague.post(f"/jobs/{job.pk}/{action}").status_code == 404

    start_through_the_page(connected, job, django_capture_on_commit_callbacks)
    assert colleague.get(f"/jobs/{job.pk}").status_code == 200  # once started, the team's
    for action in ("pause", "cancel"):
        assert outsider.post(f"/jobs/{job.pk}/{action}").status_code == 404
    assert outsider.get(f"/jobs/{job.pk}").status_code == 404
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    assert not AuditEntry.objects.filter(action=Action.JOB_RESULTS_EXPORTED).exists()


def test_discarding_a_preview_deletes_it_and_sends_nothing(connected: Connected) -> None:
    job = draft(connected, addresses(2)).job

    response = connected.client.post(f"/jobs/{job.pk}/discard", follow=True)

    assert "Preview discarded; nothing was sent." in page_messages(response)
    assert not Job.objects.filter(pk=job.pk).exists()
    assert audited(Action.JOB_DISCARDED, job) == 1
    assert connected.sandbox.requests.count(INVITATIONS) == 0


# -- what the engine promises, seen from the page --------------------------------------------


def seats_taken(sb: RunningSandbox) -> int:
    pending = [
        i
        for i in sb.invitations.values()
        if i.organization == sb.org_uuid and i.status == "pending"
    ]
    return len(sb.org_memberships(sb.org_uuid)) + len(pending)


def test_no_seats_left_pauses_the_job_with_the_reason_and_resume_finishes_it(
    sandbox_factory: SandboxFactory,
    connect_to: ConnectTo,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    sb = sandbox_factory(seats=1000)
    sb.organization.seats = seats_taken(sb) + 3  # room for 3 of the file's 8
    connected = connect_to(sb)
    job = draft(connected, addresses(8)).job
    start_through_the_page(connected, job, django_capture_on_commit_callbacks)

    run_until_finished(job)

    job.refresh_from_db()
    assert job.state == Job.State.PAUSED
    assert "No free seats" in job.state_reason
    assert (job.succeeded, job.failed) == (3, 0)
    assert sorted(JobItem.objects.filter(job=job).values_list("state", flat=True)) == sorted(
        [JobItem.State.DONE] * 3 + [JobItem.State.PENDING] * 5
    )
    page = shown(connected.client.get(f"/jobs/{job.pk}"))
    assert "Paused" in page
    assert "No free seats" in page
    assert AuditEntry.objects.get(action=Action.JOB_PAUSED).actor_label == "The portal"

    sb.organization.seats = 1000
    with django_capture_on_commit_callbacks():
        connected.client.post(f"/jobs/{job.pk}/resume")
    run_until_finished(job)

    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed, job.state_reason) == (Job.State.DONE, 8, 0, "")
    assert sb.invitations_sent == {f"person{n}@example.com": 1 for n in range(8)}


def test_an_item_whose_worker_died_after_sending_is_reconciled_not_sent_again(
    connected: Connected, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    job = draft(connected, "email\nada@example.com\n").job
    start_through_the_page(connected, job, django_capture_on_commit_callbacks)
    # What a worker killed after its POST leaves: Calendly has the invitation, and the item is
    # still leased to the dead worker, its lease now run out.
    sent = httpx.post(
        f"{connected.org.uri}/invitations",
        json={"email": "ada@example.com"},
        headers={"Authorization": f"Bearer {connected.sandbox.owner_token}"},
    )
    assert sent.status_code == 201
    JobItem.objects.filter(job=job).update(
        state=JobItem.State.IN_FLIGHT,
        attempts=1,
        lease_token="dead-worker",
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    connected.sandbox.requests.reset()

    assert engine.run_slice(job.pk).done

    item = JobItem.objects.get(job=job)
    assert (item.state, item.outcome, item.attempts) == (JobItem.State.DONE, bulk.INVITED, 2)
    assert "an earlier attempt had reached Calendly, so nothing was sent again" in item.message
    assert connected.sandbox.requests.count(INVITATIONS) == 0
    assert connected.sandbox.invitations_sent == {"ada@example.com": 1}
    assert connected.sandbox.duplicate_invitations_refused == {}


def test_an_item_claimed_more_than_the_most_attempts_is_failed_without_being_sent(
    connected: Connected, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    job = draft(connected, "email\nada@example.com\n").job
    start_through_the_page(connected, job, django_capture_on_commit_callbacks)
    # Every claim so far ended with its worker dead (the item kills it, say).
    JobItem.objects.filter(job=job).update(
        state=JobItem.State.IN_FLIGHT,
        attempts=settings.JOB_MAX_ATTEMPTS,
        lease_token="dead-worker",
        lease_until=timezone.now() - timedelta(seconds=1),
    )

    assert engine.run_slice(job.pk).done

    item = JobItem.objects.get(job=job)
    assert item.state == JobItem.State.FAILED
    assert item.message.startswith(f"Stopped after {settings.JOB_MAX_ATTEMPTS} attempts.")
    assert connected.sandbox.requests.count(INVITATIONS) == 0
    job.refresh_from_db()
    assert (job.state, job.failed) == (Job.State.DONE, 1)


class AnotherIntegration:
    """Something else spending the same Calendly user's budget (its own token, the same
    user), as fast as it can, until the portal has been answered 429 `times` times."""

    def __init__(self, sb: RunningSandbox, *, times: int) -> None:
        self.sb = sb
        self.times = times
        self.token = sb.issue_pat(sb.owner_uuid)
        self.thread = threading.Thread(target=self._spend, daemon=True)

    def refused_the_portal(self) -> int:
        return self.sb.rate_limited_requests[self.sb.owner_token]

    def _spend(self) -> None:
        deadline = time.monotonic() + 30
        with httpx.Client(headers={"Authorization": f"Bearer {self.token}"}) as http:
            while self.refused_the_portal() < self.times and time.monotonic() < deadline:
                http.get(f"{self.sb.url}/users/me")

    def __enter__(self) -> AnotherIntegration:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join()


def test_calendly_answering_429_slows_the_job_but_fails_no_item_and_uses_no_attempt(
    sandbox_factory: SandboxFactory,
    connect_to: ConnectTo,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    sb = sandbox_factory(rate_limit=(3, 1))
    connected = connect_to(sb)
    job = draft(connected, addresses(15)).job
    start_through_the_page(connected, job, django_capture_on_commit_callbacks)

    with AnotherIntegration(sb, times=4) as other:
        run_until_finished(job)

    assert other.refused_the_portal() >= 4
    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed) == (Job.State.DONE, 15, 0)
    # No fault but 429s, and a 429 costs no attempt: every item took exactly one.
    assert set(JobItem.objects.filter(job=job).values_list("attempts", flat=True)) == {1}
    assert sb.invitations_sent == {f"person{n}@example.com": 1 for n in range(15)}


# -- the sweeper ------------------------------------------------------------------------------


def a_job(org: Organization, state: str, *, quiet_for: timedelta, item: str = "") -> Job:
    job = Job.objects.create(
        organization=org,
        kind=bulk.KIND,
        label="Invite people from team.csv",
        state=state,
        total=1,
        created_at=timezone.now() - quiet_for,
        progressed_at=timezone.now() - quiet_for,
    )
    JobItem.objects.create(job=job, position=1, key=item or f"job{job.pk}@example.com")
    return job


def runs_on(job: Job, *, living: int = 0, dead: int = 0) -> None:
    """Runs working on `job`: living ones beat just now, dead ones last beat over a lease ago."""
    long_ago = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS + 5)
    for n in range(living):
        JobRun.objects.create(job=job, key=f"living-{n}")
    for n in range(dead):
        JobRun.objects.create(job=job, key=f"dead-{n}", started_at=long_ago, beat_at=long_ago)


def test_the_sweeper_wakes_jobs_short_of_runs_and_forgets_old_drafts(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.JOB_PARALLEL_RUNS = 2
    woken: list[int] = []  # a job id per run woken

    def record(job_id: int, *, count: int = 1, countdown: float | None = None) -> bool:
        woken.extend([job_id] * count)
        return True

    monkeypatch.setattr(tasks, "wake", record)
    org = OrganizationFactory()
    quiet = timedelta(seconds=settings.JOB_STALL_SECONDS + 30)
    lost = a_job(org, Job.State.RUNNING, quiet_for=quiet)  # its wake-up was lost: no run
    busy = a_job(org, Job.State.RUNNING, quiet_for=timedelta(seconds=1))
    runs_on(busy, living=2)
    # Quiet (both runs sit in slow calls) but not short of runs: waking more would only
    # exceed JOB_PARALLEL_RUNS.
    slow = a_job(org, Job.State.RUNNING, quiet_for=quiet)
    runs_on(slow, living=2)
    # Making progress, but one of its two runs died with its worker.
    halved = a_job(org, Job.State.RUNNING, quiet_for=timedelta(seconds=1))
    runs_on(halved, living=1, dead=1)
    paused = a_job(org, Job.State.PAUSED, quiet_for=quiet)  # waits for a person, not a worker
    old_draft = a_job(org, Job.State.DRAFT, quiet_for=timedelta(hours=settings.JOB_DRAFT_HOURS + 1))
    new_draft = a_job(org, Job.State.DRAFT, quiet_for=timedelta(hours=1))

    assert tasks.sweep() == 3

    assert sorted(woken) == sorted([lost.pk, lost.pk, halved.pk])
    assert not JobRun.objects.filter(key__startswith="dead").exists()
    assert JobRun.objects.filter(job=halved).count() == 1
    assert paused.pk not in woken
    assert not Job.objects.filter(pk=old_draft.pk).exists()
    assert Job.objects.filter(pk=new_draft.pk).exists()
    # Woken once: until JOB_STALL_SECONDS pass, wake-ups waiting for a worker are not repeated.
    assert engine.runs_wanted() == {}
    later = timezone.now() + timedelta(seconds=settings.JOB_STALL_SECONDS + 1)
    assert engine.runs_wanted(later) == {lost.pk: 2, halved.pk: 1}


def test_the_sweeper_ignores_a_quiet_job_whose_items_are_all_waiting_out_a_backoff() -> None:
    org = OrganizationFactory()
    job = a_job(org, Job.State.RUNNING, quiet_for=timedelta(seconds=settings.JOB_STALL_SECONDS * 2))
    JobItem.objects.filter(job=job).update(next_attempt_at=timezone.now() + timedelta(minutes=1))

    assert engine.runs_wanted() == {}


def test_a_run_beyond_the_parallel_runs_ends_at_once_and_a_handed_back_task_takes_its_place(
    settings: Any,
) -> None:
    settings.JOB_PARALLEL_RUNS = 2
    org = OrganizationFactory()
    job = a_job(org, Job.State.RUNNING, quiet_for=timedelta(seconds=1))
    runs_on(job, living=2)

    assert engine.run_slice(job.pk, run_key="a third") == engine.SliceEnd()
    assert JobItem.objects.get(job=job).state == JobItem.State.PENDING  # claimed nothing
    assert not JobRun.objects.filter(key="a third").exists()

    # Celery hands a task back after its worker died: the same id takes over its run.
    assert engine.enlist(job, "living-0") == JobRun.objects.get(key="living-0")
    # A dead run's place is free.
    JobRun.objects.filter(key="living-1").update(
        beat_at=timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    )
    assert engine.enlist(job, "a third") is not None


def test_a_run_counted_dead_enlists_again_or_ends_when_its_place_was_taken(settings: Any) -> None:
    settings.JOB_PARALLEL_RUNS = 1
    org = OrganizationFactory()
    job = a_job(org, Job.State.RUNNING, quiet_for=timedelta(seconds=1))
    run = engine.enlist(job, "slow")
    assert run is not None
    JobRun.objects.filter(pk=run.pk).delete()  # the sweeper counted it dead

    again = engine.beat(job, run)
    assert again is not None
    assert again.key == "slow"

    JobRun.objects.filter(pk=again.pk).delete()
    runs_on(job, living=1)  # ... and woke a run that took its place
    assert engine.beat(job, again) is None


# -- the command ------------------------------------------------------------------------------


def a_csv(tmp_path: Path, text: str, name: str = "team.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return str(path)


def run_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("bulk_invite", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_dry_run_prints_the_counts_and_keeps_no_job(
    connected: Connected, tmp_path: Path
) -> None:
    path = a_csv(tmp_path, "email\nada@example.com\nnot-an-address\nada@example.com\n")

    out, err = run_command(path, "--dry-run")

    assert out == ""
    assert "3 rows read: 1 to invite." in err
    assert "Not an address: 1" in err
    assert "Repeated in the file: 1" in err
    assert "line 3: This is not an email address." in err
    assert "Dry run: nothing was sent." in err
    assert not Job.objects.exists()
    assert connected.sandbox.requests.total() == 0


def test_the_command_queues_the_job_and_prints_only_its_id(
    connected: Connected,
    tmp_path: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        out, err = run_command(a_csv(tmp_path, addresses(3)))

    job = Job.objects.get()
    assert out.strip() == str(job.pk)
    assert f"Job {job.pk} queued for the workers" in err
    assert (job.state, job.created_by_label) == (Job.State.QUEUED, bulk.COMMAND_ACTOR)
    assert [w.args for w in wake_ups(callbacks)] == [(job.pk,)]
    assert connected.sandbox.requests.count(INVITATIONS) == 0


def test_the_command_with_wait_runs_the_job_here_to_the_end(
    connected: Connected,
    tmp_path: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        out, _ = run_command(a_csv(tmp_path, addresses(3)), "--wait")

    job = Job.objects.get()
    assert out.strip().splitlines()[-1] == (
        f"Job {job.pk} finished: 3 invited, 0 failed, 0 skipped."
    )
    assert job.state == Job.State.DONE
    assert not wake_ups(callbacks)  # no worker needed
    assert connected.sandbox.invitations_sent == {f"person{n}@example.com": 1 for n in range(3)}


def test_the_command_asks_which_organization_when_two_are_connected(
    connected: Connected, tmp_path: Path
) -> None:
    other = OrganizationFactory()
    Connection.objects.create(
        organization=other,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri="https://api.calendly.com/users/OTHER",
        access_token="another-token",
    )
    path = a_csv(tmp_path, addresses(2))

    with pytest.raises(CommandError, match="Several organizations are connected; say which"):
        run_command(path, "--dry-run")
    _, err = run_command(path, "--dry-run", "--org", connected.org.uri)
    assert "2 rows read: 2 to invite." in err


def test_the_command_refuses_a_missing_file_and_a_binary_one_in_a_sentence(
    connected: Connected, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nowhere.csv")
    with pytest.raises(CommandError, match=r"^Cannot read .*nowhere\.csv: No such file"):
        run_command(missing)

    picture = tmp_path / "team.png"
    picture.write_bytes(PNG)
    with pytest.raises(CommandError, match="This is not a CSV text file: it holds binary data"):
        run_command(str(picture))
    assert not Job.objects.exists()


# -- the jobs list ----------------------------------------------------------------------------


def test_the_jobs_list_shows_started_jobs_not_previews_and_filters_by_state(
    connected: Connected, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    empty = shown(connected.client.get("/jobs/"))
    assert "No jobs yet." in empty

    done = draft(connected, addresses(2)).job
    start_through_the_page(connected, done, django_capture_on_commit_callbacks)
    run_until_finished(done)
    Job.objects.filter(pk=done.pk).update(label="Invite people from done.csv")
    queued = draft(connected, addresses(2, start=10)).job
    start_through_the_page(connected, queued, django_capture_on_commit_callbacks)
    Job.objects.filter(pk=queued.pk).update(label="Invite people from queued.csv")
    bulk.prepare(
        organization=connected.org,
        addresses=iter(()),
        source_name="draft.csv",
        actor=connected.admin,
    )

    every = shown(connected.client.get("/jobs/"))
    assert "done.csv" in every
    assert "queued.csv" in every
    assert "draft.csv" not in every
    assert "2 of 2 finished: 2 done, 0 failed, 0 skipped" in every

    finished = shown(connected.client.get("/jobs/", {"state": Job.State.DONE}))
    assert "done.csv" in finished
    assert "queued.csv" not in finished
    nothing = connected.client.get("/jobs/", {"state": Job.State.CANCELLED})
    assert "done.csv" not in shown(nothing)
