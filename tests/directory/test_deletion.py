"""Data-deletion requests as a job, against the sandbox over real HTTP: requests of at most
EMAILS_PER_REQUEST addresses, each address asked for once, a request that may have been sent
never sent again by itself, Calendly's refusals in words, and the `delete_invitee_data`
command's report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import timezone

from portal.accounts.models import Role
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly.client import CalendlyClient
from portal.calendly.ratelimit import LocalRateLimiter
from portal.directory import deletion
from portal.jobs import engine, kinds
from portal.jobs.csvfile import read_text
from portal.jobs.models import Job, JobItem
from portal.sandbox.state import AccessToken
from tests.directory.test_actions import Connected, connect
from tests.factories import UserFactory
from tests.jobs.inline import run_to_the_end
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

DELETIONS = "POST /data_compliance/deletion/invitees"
N = deletion.EMAILS_PER_REQUEST


@pytest.fixture(autouse=True)
def calendly_is_the_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    with override_settings(CALENDLY_API_URL=sandbox.url, CALENDLY_AUTH_URL=sandbox.url):
        yield


@pytest.fixture
def connected(sandbox: RunningSandbox) -> Connected:
    return connect(sandbox)


def addresses(count: int) -> list[str]:
    return [f"guest{n:03}@example.com" for n in range(1, count + 1)]


def draft(connected: Connected, *emails: str) -> deletion.Preview:
    return deletion.prepare(
        organization=connected.org,
        addresses=read_text("\n".join(emails)),
        source_name="a pasted list",
        actor=connected.admin,
    )


def requested(connected: Connected, *emails: str) -> Job:
    preview = draft(connected, *emails)
    engine.start(preview.job, actor=connected.admin, hand_over=False)
    return run_to_the_end(preview.job)


def the_request(job: Job) -> JobItem:
    return JobItem.objects.get(job=job, key__startswith="request ")


class WorkerKilled(BaseException):
    """The process died: nothing in the portal catches it, as nothing survives a kill -9."""


class DiesAfterSending(httpx.BaseTransport):
    """Sends the request to the sandbox, which acts on it; the worker dies before the answer."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.inner.handle_request(request).read()
        raise WorkerKilled


def client_with(sandbox: RunningSandbox, transport: httpx.BaseTransport) -> CalendlyClient:
    return CalendlyClient(
        token=sandbox.owner_token,
        base_url=sandbox.url,
        transport=transport,
        limiter=LocalRateLimiter(),
        max_attempts=1,
    )


def test_the_preview_groups_addresses_into_requests_and_settles_the_rest(
    connected: Connected,
) -> None:
    given = addresses(2 * N + 5)

    preview = draft(connected, *given[:3], "not an address", given[0].upper(), *given[3:])

    requests = list(JobItem.objects.filter(job=preview.job, state=JobItem.State.PENDING))
    assert [len(item.source["emails"]) for item in requests] == [N, N, 5]
    assert [email for item in requests for email in item.source["emails"]] == given
    assert requests[0].key == f"request 1 ({N} addresses)"
    skipped = {item.key: item for item in JobItem.objects.filter(job=preview.job, state="skipped")}
    assert (skipped["line 4"].outcome, skipped["line 5"].outcome) == (
        deletion.INVALID,
        deletion.DUPLICATE,
    )
    assert skipped["line 5"].message == "Appears earlier in the file, on line 1."
    assert (preview.requests, preview.to_request) == (3, 2 * N + 5)
    assert (preview.job.total, preview.job.skipped) == (5, 2)
    # Preparing asks Calendly nothing.
    assert connected.sandbox.requests.total() == 0


def test_every_address_is_asked_for_once_in_requests_of_at_most_the_batch_size(
    connected: Connected,
) -> None:
    given = addresses(2 * N + 5)

    job = requested(connected, *given)

    assert (job.state, job.succeeded, job.failed, job.skipped) == (Job.State.DONE, 3, 0, 0)
    sandbox = connected.sandbox
    assert sandbox.deletions_requested == dict.fromkeys(given, 1)
    assert [len(r["emails"]) for r in sandbox.deletion_requests] == [N, N, 5]
    assert sandbox.requests.count(DELETIONS) == 3
    for item in JobItem.objects.filter(job=job):
        assert item.outcome == deletion.REQUESTED
        assert item.result["status"] == 202
        assert item.result["emails"] == item.source["emails"]
        assert "up to 7 days" in item.message
    rows = AuditEntry.objects.filter(action=Action.INVITEE_DATA_DELETION_REQUESTED)
    assert rows.count() == 3
    assert sorted(e for row in rows for e in row.after["result"]["emails"]) == given
    assert {row.actor_id for row in rows} == {connected.admin.pk}


def test_an_answer_lost_after_sending_is_may_have_been_sent_and_not_sent_again(
    connected: Connected,
) -> None:
    # Calendly takes the request, then the connection drops before its answer.
    connected.sandbox.inject_fault("drop")

    job = requested(connected, "ana@example.com", "bo@example.com")

    item = the_request(job)
    assert (job.state, job.failed) == (Job.State.DONE, 1)
    assert (item.state, item.outcome) == (JobItem.State.FAILED, deletion.UNCONFIRMED)
    assert item.message.startswith("May have been sent: the request went to Calendly at ")
    assert "Calendly's answer was lost. Calendly gives no way to check" in item.message
    assert item.result["status"] == "unknown"
    assert item.result["sent_at"]
    assert connected.sandbox.requests.count(DELETIONS) == 1
    assert connected.sandbox.deletions_requested == {"ana@example.com": 1, "bo@example.com": 1}
    row = AuditEntry.objects.get(action=Action.INVITEE_DATA_DELETION_UNCONFIRMED)
    assert row.after["result"]["emails"] == ["ana@example.com", "bo@example.com"]


def test_a_worker_killed_after_sending_leaves_a_request_the_next_attempt_does_not_resend(
    connected: Connected, sandbox: RunningSandbox
) -> None:
    preview = draft(connected, "ana@example.com", "bo@example.com")
    engine.start(preview.job, actor=connected.admin, hand_over=False)
    job = preview.job
    item = engine.claim(job)
    assert item is not None

    with pytest.raises(WorkerKilled), client_with(sandbox, DiesAfterSending()) as dying:
        deletion.request_deletion(dying, job, item)
    # Its lease runs out; the next attempt (the sweeper's run) takes the item over.
    JobItem.objects.filter(pk=item.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    job = run_to_the_end(job)

    item.refresh_from_db()
    assert (item.attempts, item.outcome) == (2, deletion.UNCONFIRMED)
    assert "the attempt that sent it stopped before Calendly's answer was recorded" in (
        item.message
    )
    assert sandbox.requests.count(DELETIONS) == 1
    assert sandbox.deletions_requested == {"ana@example.com": 1, "bo@example.com": 1}


def test_a_202_heard_by_a_worker_that_then_died_is_recorded_by_the_next_attempt_without_resending(
    connected: Connected, sandbox: RunningSandbox
) -> None:
    preview = draft(connected, "ana@example.com")
    engine.start(preview.job, actor=connected.admin, hand_over=False)
    item = engine.claim(preview.job)
    assert item is not None
    with client_with(sandbox, httpx.HTTPTransport()) as calendly:
        deletion.request_deletion(calendly, preview.job, item)
    # The worker dies before the outcome is stored; its lease runs out.
    JobItem.objects.filter(pk=item.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    job = run_to_the_end(preview.job)

    item.refresh_from_db()
    assert (item.attempts, item.outcome, item.result["status"]) == (2, deletion.REQUESTED, 202)
    assert item.message.endswith(
        "(Recorded after the worker that sent it stopped; nothing was sent again.)"
    )
    assert sandbox.deletions_requested == {"ana@example.com": 1}
    assert job.succeeded == 1


def test_a_compliance_officer_sees_a_doubtful_request_and_may_send_it_again_from_the_page(
    connected: Connected,
) -> None:
    connected.sandbox.inject_fault("drop")
    job = requested(connected, "ana@example.com")
    first = the_request(job).result["sent_at"]
    officer = UserFactory(organization=connected.org, role=Role.COMPLIANCE)
    browser = Client()
    browser.force_login(officer)

    page = browser.get(f"/jobs/{job.pk}").content.decode()
    assert "May have been sent" in page
    assert "Calendly gives no way to check, so it was not sent again." in page
    browser.post(f"/jobs/{job.pk}/retry")
    job = run_to_the_end(job)

    item = the_request(job)
    assert (job.succeeded, job.failed, item.outcome) == (1, 0, deletion.REQUESTED)
    assert item.result["earlier_sends"] == [first]
    assert connected.sandbox.deletions_requested == {"ana@example.com": 2}
    assert AuditEntry.objects.get(action=Action.JOB_RETRIED).actor_id == officer.pk


def test_a_request_that_never_left_is_sent_by_the_next_attempt(
    connected: Connected, sandbox: RunningSandbox
) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    preview = draft(connected, "ana@example.com")
    engine.start(preview.job, actor=connected.admin, hand_over=False)
    item = engine.claim(preview.job)
    assert item is not None

    with (
        pytest.raises(kinds.Retry, match="could not be reached while requesting") as retry,
        client_with(sandbox, httpx.MockTransport(unreachable)) as cut_off,
    ):
        deletion.request_deletion(cut_off, preview.job, item)
    # What the engine does with a Retry.
    engine.put_back(item, message=retry.value.message, after=0.0, counts=True)
    item.refresh_from_db()
    assert item.result == {}  # nothing can have reached Calendly: no doubt is kept

    job = run_to_the_end(preview.job)

    assert the_request(job).outcome == deletion.REQUESTED
    assert sandbox.deletions_requested == {"ana@example.com": 1}


def paused_on_the_first_request(connected: Connected) -> Job:
    job = requested(connected, "ana@example.com")
    assert job.state == Job.State.PAUSED
    item = the_request(job)
    # Put back as it was: nothing was sent, so resuming sends it.
    assert (item.state, item.result) == (JobItem.State.PENDING, {})
    assert connected.sandbox.deletions_requested == {}
    return job


def test_an_organization_without_the_enterprise_plan_pauses_the_job_saying_so(
    connected: Connected,
) -> None:
    connected.sandbox.organization.plan = "teams"

    job = paused_on_the_first_request(connected)

    assert job.state_reason == (
        "The organization's Calendly plan does not include requesting data deletion: Calendly "
        "asks for an upgrade to Enterprise."
    )


def test_without_the_data_requests_permission_the_job_pauses_pointing_to_calendly_support(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(data_requests_permission=False)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        job = paused_on_the_first_request(connect(sandbox))

    assert "Calendly support" in job.state_reason
    assert 'the "data requests" permission' in job.state_reason


def test_a_connection_without_the_scope_pauses_the_job_naming_it(sandbox: RunningSandbox) -> None:
    token = "no-data-compliance-scope"
    sandbox.tokens[token] = AccessToken(
        token, sandbox.owner.uuid, "oauth", "users:read organizations:read", sandbox.clock()
    )

    job = paused_on_the_first_request(connect(sandbox, token))

    assert job.state_reason == (
        "The organization's Calendly connection lacks the permission for requesting data "
        "deletion (data_compliance:write). An owner or admin needs to connect again and allow it."
    )


# -- the command --------------------------------------------------------------------------------


def test_the_command_waits_and_reports_every_address_with_the_evidence(
    connected: Connected,
) -> None:
    out, err = StringIO(), StringIO()

    call_command(
        "delete_invitee_data",
        "Ana@Example.com",
        "nonsense",
        "ana@example.com",
        "bo@example.com",
        "--wait",
        stdout=out,
        stderr=err,
    )

    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "ana@example.com: Deletion requested (request 1).",
        "line 2 ('nonsense'): Not an address. This is not an email address.",
        "line 3 ('ana@example.com'): Repeated in the list. Appears earlier in the file, on line 1.",
        "bo@example.com: Deletion requested (request 1).",
    ]
    evidence = lines[lines.index("Evidence (also in the audit log):") :]
    assert evidence[1] == "  Asked by: manage.py delete_invitee_data"
    assert evidence[3:5] == [
        "  Request 1 (2 addresses):",
        "    ana@example.com, bo@example.com",
    ]
    assert evidence[5].startswith("    Calendly answered 202 (accepted) at ")
    assert evidence[5].endswith(" UTC.")
    assert "deleting the data can take up to 7 days." in evidence[6]
    assert evidence[7].endswith(
        "finished: 1 request(s) accepted by Calendly, 0 may have been sent, 0 failed; "
        "2 address(es) skipped."
    )
    assert "ana@example.com: to send in request 1" in err.getvalue()
    assert connected.sandbox.deletions_requested == {"ana@example.com": 1, "bo@example.com": 1}
    entry = AuditEntry.objects.get(action=Action.INVITEE_DATA_DELETION_REQUESTED)
    assert entry.actor_id is None
    assert entry.actor_label == deletion.COMMAND_ACTOR
    assert entry.after["result"]["emails"] == ["ana@example.com", "bo@example.com"]


def test_the_commands_evidence_says_which_request_may_have_been_sent(
    connected: Connected,
) -> None:
    connected.sandbox.inject_fault("drop")
    out = StringIO()

    call_command("delete_invitee_data", "ana@example.com", "--wait", stdout=out, stderr=StringIO())

    report = out.getvalue()
    assert "ana@example.com: May have been sent (request 1)." in report
    assert "    May have been sent: the request went to Calendly at " in report
    assert "1 may have been sent, 0 failed" in report
    assert connected.sandbox.deletions_requested == {"ana@example.com": 1}


def test_the_command_dry_run_sends_nothing(connected: Connected) -> None:
    err = StringIO()

    call_command(
        "delete_invitee_data", "ana@example.com", "--dry-run", stdout=StringIO(), stderr=err
    )

    assert "ana@example.com: to send in request 1" in err.getvalue()
    assert "Dry run: nothing was sent to Calendly." in err.getvalue()
    assert not Job.objects.exists()
    assert connected.sandbox.requests.total() == 0


def test_without_wait_the_command_queues_the_job_and_prints_its_id(
    connected: Connected, django_capture_on_commit_callbacks: object
) -> None:
    out = StringIO()

    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        call_command("delete_invitee_data", "ana@example.com", stdout=out, stderr=StringIO())

    job = Job.objects.get()
    assert out.getvalue().strip() == str(job.pk)
    assert (job.kind, job.state) == (deletion.KIND, Job.State.QUEUED)
    assert connected.sandbox.requests.count(DELETIONS) == 0


@override_settings(JOBS_NEED_APPROVAL=True)
def test_where_jobs_need_approval_the_command_leaves_the_job_to_an_admin_and_sends_nothing(
    connected: Connected,
) -> None:
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="needs a second admin's approval"):
        call_command("delete_invitee_data", "ana@example.com", "--wait", stdout=out, stderr=err)
    assert not Job.objects.exists()

    call_command("delete_invitee_data", "ana@example.com", stdout=out, stderr=err)

    job = Job.objects.get()
    assert out.getvalue().strip() == str(job.pk)
    assert job.state == Job.State.AWAITING_APPROVAL
    assert "waits for an admin to approve it" in err.getvalue()
    assert connected.sandbox.requests.count(DELETIONS) == 0


def test_the_command_says_why_calendly_refused_and_sends_nothing(connected: Connected) -> None:
    connected.sandbox.organization.plan = "teams"

    with pytest.raises(CommandError, match="Calendly asks for an upgrade to Enterprise"):
        call_command(
            "delete_invitee_data",
            "ana@example.com",
            "--wait",
            stdout=StringIO(),
            stderr=StringIO(),
        )

    assert connected.sandbox.deletions_requested == {}
    assert not AuditEntry.objects.filter(action=Action.INVITEE_DATA_DELETION_REQUESTED).exists()


# -- the pages --------------------------------------------------------------------------------


def test_a_compliance_officer_previews_confirms_by_typing_and_downloads_the_evidence(
    connected: Connected,
) -> None:
    officer = UserFactory(organization=connected.org, role=Role.COMPLIANCE)
    client = Client()
    client.force_login(officer)
    emails = addresses(N + 3)

    form = client.get("/data-deletion/").content.decode()
    assert "Invitees&#x27; email addresses" in form
    answer = client.post("/data-deletion/", {"addresses": "\n".join([*emails, "nonsense"])})
    job = Job.objects.get()
    assert answer["Location"] == f"/jobs/{job.pk}"
    preview = client.get(f"/jobs/{job.pk}").content.decode()
    assert "Type 2 to confirm: this cannot be undone" in preview
    assert ">Send 2 requests</button>" in preview
    assert connected.sandbox.requests.count(DELETIONS) == 0

    refused = client.post(f"/jobs/{job.pk}/start", {"confirm": ""}, follow=True)
    assert "type 2 (how many entries this acts on) to confirm" in refused.content.decode()
    client.post(f"/jobs/{job.pk}/start", {"confirm": "2"})
    job = run_to_the_end(job)

    assert job.state == Job.State.DONE
    assert connected.sandbox.requests.count(DELETIONS) == 2
    page = client.get(f"/jobs/{job.pk}").content.decode()
    assert "Download the evidence (CSV)" in page
    evidence = b"".join(client.get(f"/data-deletion/{job.pk}/evidence.csv").streaming_content)
    text = evidence.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("job,asked by,approved by,started (UTC),request,")
    for email in emails:
        assert email in text
    assert text.count("Deletion requested") == 2
    assert job.created_by_label
    assert all(job.created_by_label in line for line in text.splitlines()[1:])
    listing = client.get("/data-deletion/").content.decode()
    assert f'href="/data-deletion/{job.pk}/evidence.csv"' in listing


def test_people_without_the_role_cannot_ask_for_deletions(connected: Connected) -> None:
    support = UserFactory(organization=connected.org, role=Role.SUPPORT)
    client = Client()
    client.force_login(support)

    assert client.get("/data-deletion/").status_code == 403
    assert client.post("/data-deletion/", {"addresses": "a@example.com"}).status_code == 403
    assert not Job.objects.exists()


def test_scheduled_events_in_a_past_window_are_one_request_with_its_evidence(
    connected: Connected,
) -> None:
    officer = UserFactory(organization=connected.org, role=Role.COMPLIANCE)
    client = Client()
    client.force_login(officer)
    start = timezone.now() - timedelta(days=400)
    end = timezone.now() - timedelta(days=30)
    fields = {
        "what": "events",
        "events-start": timezone.localtime(start).strftime("%Y-%m-%dT%H:%M"),
        "events-end": timezone.localtime(end).strftime("%Y-%m-%dT%H:%M"),
    }

    answer = client.post("/data-deletion/", fields)

    job = Job.objects.get()
    assert answer["Location"] == f"/jobs/{job.pk}"
    assert job.remaining == 1
    client.post(f"/jobs/{job.pk}/start", {"confirm": "1"})
    job = run_to_the_end(job)
    assert job.succeeded == 1
    assert [r["kind"] for r in connected.sandbox.deletion_requests] == ["events"]
    assert connected.sandbox.deletions_requested == {}
    item = JobItem.objects.get(job=job)
    assert item.message.startswith("Calendly accepted the request for events from ")
    evidence = b"".join(client.get(f"/data-deletion/{job.pk}/evidence.csv").streaming_content)
    assert item.source["start_time"] in evidence.decode("utf-8-sig")


@pytest.mark.parametrize(
    ("days_back", "length", "problem"),
    [
        (-2, 1, "the end must be before now"),
        (10, 800, "at most 24 months in one request"),
        (10, -1, "The end must come after the start."),
        (365 * 36, 1, "Calendly holds no events from before 2010"),
    ],
)
def test_a_window_calendly_would_refuse_is_refused_before_anything(
    connected: Connected, days_back: int, length: int, problem: str
) -> None:
    end = timezone.now() - timedelta(days=days_back)
    start = end - timedelta(days=length)
    fields = {
        "what": "events",
        "events-start": timezone.localtime(start).strftime("%Y-%m-%dT%H:%M"),
        "events-end": timezone.localtime(end).strftime("%Y-%m-%dT%H:%M"),
    }

    answer = connected.client.post("/data-deletion/", fields)

    assert answer.status_code == 400
    assert problem in answer.content.decode()
    assert not Job.objects.exists()
