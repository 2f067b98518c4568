"""Offboarding as a job, against the sandbox over real HTTP: each step, each refusal, repeats
that change nothing twice, and the `deprovision` command's report."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from io import StringIO
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from portal.accounts.models import Connection, Organization, Role
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly.client import CalendlyClient
from portal.calendly.ratelimit import LocalRateLimiter
from portal.directory import offboarding
from portal.directory.models import Invitation, Member
from portal.jobs import engine
from portal.jobs.csvfile import read_text
from portal.jobs.models import Job, JobItem
from tests.directory.test_actions import Connected, connect
from tests.factories import UserFactory
from tests.jobs.inline import run_to_the_end
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

REMOVALS = "DELETE /organization_memberships/{uuid}"
REVOCATIONS = "DELETE /organizations/{org_uuid}/invitations/{uuid}"


@pytest.fixture(autouse=True)
def calendly_is_the_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    with override_settings(CALENDLY_API_URL=sandbox.url, CALENDLY_AUTH_URL=sandbox.url):
        yield


@pytest.fixture
def connected(sandbox: RunningSandbox) -> Connected:
    return connect(sandbox)


def plain_members(connected: Connected, count: int) -> list[Member]:
    people = list(
        Member.objects.filter(organization=connected.org, role=Member.Role.USER).order_by("pk")[
            :count
        ]
    )
    assert len(people) == count
    return people


def invite_in_calendly(connected: Connected, email: str) -> None:
    answer = httpx.post(
        f"{connected.org.uri}/invitations",
        json={"email": email},
        headers={"Authorization": f"Bearer {connected.sandbox.owner_token}"},
    )
    assert answer.status_code == 201, answer.text


def draft(connected: Connected, *emails: str) -> offboarding.Preview:
    return offboarding.prepare(
        organization=connected.org,
        addresses=read_text("\n".join(emails)),
        source_name="a pasted list",
        actor=connected.admin,
    )


def offboarded(connected: Connected, *emails: str) -> Job:
    preview = draft(connected, *emails)
    engine.start(preview.job, actor=connected.admin, hand_over=False)
    return run_to_the_end(preview.job)


def outcomes(job: Job) -> dict[str, tuple[str, str]]:
    return {
        str(item.source.get("written")): (item.outcome, item.message)
        for item in JobItem.objects.filter(job=job)
    }


def test_the_preview_lists_what_each_person_leaves_and_settles_what_cannot_be_done(
    connected: Connected,
) -> None:
    leaver = plain_members(connected, 1)[0]
    owner = connected.sandbox.owner.email

    preview = draft(connected, leaver.email, "not an address", leaver.email, owner, "x@example.com")

    items = {item.position: item for item in JobItem.objects.filter(job=preview.job)}
    assert preview.to_offboard == 2
    assert items[1].state == JobItem.State.PENDING
    assert items[1].source["inventory"]["name"] == leaver.name
    assert items[1].source["inventory"]["role"] == "user"
    assert "event_types" in items[1].source["inventory"]
    assert (items[2].outcome, items[3].outcome, items[4].outcome) == (
        offboarding.INVALID,
        offboarding.DUPLICATE,
        offboarding.OWNER,
    )
    assert "transfer ownership" in items[4].message
    assert items[5].state == JobItem.State.PENDING
    assert items[5].source["inventory"] == {"pending_invitations": 0}
    # Preparing asks Calendly nothing.
    assert connected.sandbox.requests.total() == 0


def test_offboarding_revokes_invitations_removes_members_and_records_each(
    connected: Connected,
) -> None:
    leaver, stayer = plain_members(connected, 2)
    portal_user = UserFactory(
        organization=connected.org, role=Role.SALES, calendly_uri=leaver.user_uri
    )
    invite_in_calendly(connected, "invited@example.com")

    job = offboarded(connected, leaver.email, "invited@example.com", "stranger@example.com")

    assert (job.state, job.succeeded, job.skipped, job.failed) == (Job.State.DONE, 2, 1, 0)
    found = outcomes(job)
    assert found[leaver.email][0] == offboarding.REMOVED
    assert found["invited@example.com"][0] == offboarding.INVITATION_REVOKED
    assert found["stranger@example.com"] == (
        offboarding.NOT_IN_ORGANIZATION,
        "Not in the organization: Calendly has no membership or pending invitation for this "
        "address.",
    )
    sandbox = connected.sandbox
    assert sandbox.memberships_removed == {leaver.email.lower(): 1}
    assert sandbox.invitations_revoked == {"invited@example.com": 1}
    leaver.refresh_from_db()
    stayer.refresh_from_db()
    assert leaver.removed_at is not None
    assert stayer.removed_at is None
    portal_user.refresh_from_db()
    assert portal_user.is_active is False

    removed = AuditEntry.objects.get(action=Action.MEMBER_REMOVED)
    assert (removed.target_id, removed.actor_id) == (str(leaver.pk), connected.admin.pk)
    revoked = AuditEntry.objects.get(action=Action.INVITATION_REVOKED)
    assert revoked.target_label == "invited@example.com"
    item = JobItem.objects.get(job=job, key=leaver.email.lower())
    assert any("seat is still billed" in step for step in item.result["to_do_in_calendly"])


def test_doing_a_person_again_removes_and_revokes_nothing_twice(connected: Connected) -> None:
    leaver = plain_members(connected, 1)[0]
    invite_in_calendly(connected, "invited@example.com")
    job = offboarded(connected, leaver.email, "invited@example.com")
    requests = connected.sandbox.requests
    sent = (requests.count(REMOVALS), requests.count(REVOCATIONS))

    # Another attempt at each (a worker killed after Calendly acted, before it was recorded).
    with CalendlyClient(
        token=connected.sandbox.owner_token,
        base_url=connected.sandbox.url,
        limiter=LocalRateLimiter(),
    ) as client:
        for item in JobItem.objects.filter(job=job):
            again = offboarding.offboard_one(client, job, item)
            assert again.outcome == offboarding.NOT_IN_ORGANIZATION

    assert (requests.count(REMOVALS), requests.count(REVOCATIONS)) == sent == (1, 1)
    assert connected.sandbox.memberships_removed == {leaver.email.lower(): 1}
    assert connected.sandbox.invitations_revoked == {"invited@example.com": 1}


def test_a_removal_calendly_made_without_our_hearing_is_recorded_without_a_second(
    connected: Connected,
) -> None:
    leaver = plain_members(connected, 1)[0]
    # The membership is gone in Calendly; the mirror still has it.
    answer = httpx.delete(
        leaver.uri, headers={"Authorization": f"Bearer {connected.sandbox.owner_token}"}
    )
    assert answer.status_code == 204
    connected.sandbox.requests.reset()

    job = offboarded(connected, leaver.email)

    outcome, message = outcomes(job)[leaver.email]
    assert outcome == offboarding.REMOVED
    assert "already done in Calendly, so nothing was sent again" in message
    assert connected.sandbox.requests.count(REMOVALS) == 0
    leaver.refresh_from_db()
    assert leaver.removed_at is not None
    assert AuditEntry.objects.filter(
        action=Action.MEMBER_REMOVED, target_id=str(leaver.pk)
    ).exists()


def test_calendly_refusing_the_owner_or_the_connected_account_is_said_and_the_rest_go_on(
    connected: Connected,
) -> None:
    # The mirror is behind: it knows neither who owns the organization nor whose account the
    # connection uses, so only Calendly refuses.
    leaver = plain_members(connected, 1)[0]
    owner = connected.member(connected.sandbox.owner.email)
    Member.objects.filter(pk=owner.pk).update(role=Member.Role.USER)
    admin_account = connected.sandbox.admins[0]
    Connection.objects.filter(organization=connected.org).update(
        access_token=connected.sandbox.issue_pat(admin_account.uuid), owner_uri=""
    )

    job = offboarded(connected, owner.email, admin_account.email, leaver.email)

    assert job.state == Job.State.DONE
    found = outcomes(job)
    assert found[owner.email][0] == offboarding.OWNER
    assert found[admin_account.email] == (
        "failed",
        f"Calendly refused offboarding {admin_account.email.lower()}: the portal is connected "
        "as this person, and nobody can remove themselves. Connect the portal as another admin "
        "first.",
    )
    assert found[leaver.email][0] == offboarding.REMOVED
    assert connected.sandbox.memberships_removed == {leaver.email.lower(): 1}


def test_the_connected_account_known_to_the_mirror_is_settled_before_calendly_is_asked(
    connected: Connected,
) -> None:
    admin_member = connected.member(connected.sandbox.admins[0].email)
    Connection.objects.filter(organization=connected.org).update(owner_uri=admin_member.user_uri)

    preview = draft(connected, admin_member.email)

    item = JobItem.objects.get(job=preview.job)
    assert item.outcome == offboarding.CONNECTION_USER
    assert "Connect the portal as another admin first." in item.message
    assert preview.to_offboard == 0


def test_a_scim_managed_organization_fails_each_person_in_words_and_carries_on(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(scim=True)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        connected = connect(sandbox)
        first, second = plain_members(connected, 2)
        job = offboarded(connected, first.email, second.email)

    assert (job.state, job.failed, job.succeeded) == (Job.State.DONE, 2, 0)
    for outcome, message in outcomes(job).values():
        assert outcome == "failed"
        assert "manages its members through SCIM" in message
    assert Member.objects.current().filter(pk__in=[first.pk, second.pk]).count() == 2
    assert not AuditEntry.objects.filter(action=Action.MEMBER_REMOVED).exists()


def test_the_command_waits_and_reports_on_every_address_given(connected: Connected) -> None:
    leaver = plain_members(connected, 1)[0]
    out, err = StringIO(), StringIO()

    call_command(
        "deprovision",
        leaver.email,
        "stranger@example.com",
        "nonsense",
        connected.sandbox.owner.email,
        "--wait",
        stdout=out,
        stderr=err,
    )

    report = out.getvalue()
    assert f"{leaver.email}: Removed. Removed from the organization." in report
    assert "  - Their paid seat is still billed" in report
    assert "stranger@example.com: Not in the organization." in report
    assert "line 3 ('nonsense'): Not an address." in report
    assert f"{connected.sandbox.owner.email}: Owner: not removed." in report
    assert "1 offboarded, 0 failed, 3 skipped." in report
    assert f"{leaver.name} (user)" in err.getvalue()
    entry = AuditEntry.objects.get(action=Action.MEMBER_REMOVED)
    assert entry.actor_id is None
    assert entry.actor_label == offboarding.COMMAND_ACTOR
    assert connected.sandbox.memberships_removed == {leaver.email.lower(): 1}


def test_the_command_dry_run_changes_nothing(connected: Connected) -> None:
    leaver = plain_members(connected, 1)[0]
    err = StringIO()

    call_command("deprovision", leaver.email, "--dry-run", stdout=StringIO(), stderr=err)

    assert "Dry run: nothing was changed." in err.getvalue()
    assert f"{leaver.email}: {leaver.name} (user)" in err.getvalue()
    assert not Job.objects.exists()
    assert connected.sandbox.requests.total() == 0
    leaver.refresh_from_db()
    assert leaver.removed_at is None


def test_without_wait_the_command_queues_the_job_and_prints_its_id(
    connected: Connected, django_capture_on_commit_callbacks: object
) -> None:
    leaver = plain_members(connected, 1)[0]
    out = StringIO()

    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        call_command("deprovision", leaver.email, stdout=out, stderr=StringIO())

    job = Job.objects.get()
    assert out.getvalue().strip() == str(job.pk)
    assert (job.kind, job.state) == (offboarding.KIND, Job.State.QUEUED)
    assert connected.sandbox.requests.count(REMOVALS) == 0


def test_the_job_page_and_results_say_each_outcome_in_words(connected: Connected) -> None:
    leaver = plain_members(connected, 1)[0]
    job = offboarded(connected, leaver.email, "stranger@example.com")

    page = connected.client.get(f"/jobs/{job.pk}").content.decode()
    results = b"".join(connected.client.get(f"/jobs/{job.pk}/results.csv").streaming_content)

    assert "Offboarding" in page
    assert "Removed" in page
    assert "Not in the organization" in page
    text = results.decode()
    assert leaver.email.lower() in text
    assert "Not in the organization" in text


# -- the pages --------------------------------------------------------------------------------


def test_admins_can_tick_members_on_the_members_page_and_others_cannot(
    connected: Connected,
) -> None:
    person = plain_members(connected, 1)[0]
    page = connected.client.get("/members/").content.decode()
    assert (
        f'<input type="checkbox" form="offboard-selection" name="member" value="{person.pk}" '
        f'aria-label="Select {person.name}">'
    ) in page
    assert 'id="offboard-selection"' in page

    viewer = UserFactory(organization=connected.org, role=Role.VIEWER)
    connected.client.force_login(viewer)
    page = connected.client.get("/members/").content.decode()
    assert 'form="offboard-selection"' not in page
    assert connected.client.post("/members/offboard", {"member": [person.pk]}).status_code == 403
    assert not Job.objects.exists()


def test_a_selection_becomes_a_preview_with_each_persons_inventory(connected: Connected) -> None:
    leaver, other = plain_members(connected, 2)
    owner = connected.member(connected.sandbox.owner.email)

    answer = connected.client.post("/members/offboard", {"member": [leaver.pk, other.pk, owner.pk]})

    job = Job.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == f"/jobs/{job.pk}"
    page = connected.client.get(f"/jobs/{job.pk}").content.decode()
    assert "2</strong> of 3\n    people will be offboarded." in page
    assert "What they leave behind" in page
    assert f"{leaver.name} <span" in page
    assert "owns the organization" in page  # the owner, settled with the reason
    assert "Type 2 to confirm: this cannot be undone" in page
    assert ">Offboard 2 people</button>" in page
    assert connected.sandbox.requests.total() == 0


def test_another_organizations_member_cannot_be_chosen(connected: Connected) -> None:
    elsewhere = Member.objects.create(
        organization=Organization.objects.create(uri="https://api.calendly.com/organizations/X"),
        uri="https://api.calendly.com/organization_memberships/X1",
        user_uri="https://api.calendly.com/users/X1",
        name="Someone Else",
        email="else@example.com",
        role=Member.Role.USER,
    )

    answer = connected.client.post("/members/offboard", {"member": [elsewhere.pk]})

    assert answer.status_code == 400
    assert "not members of this organization" in answer.content.decode()
    assert not Job.objects.exists()


def test_pasted_addresses_and_an_empty_request_are_answered_in_words(
    connected: Connected,
) -> None:
    empty = connected.client.post("/members/offboard", {})
    assert empty.status_code == 400
    assert "Nobody was chosen" in empty.content.decode()

    pasted = connected.client.post(
        "/members/offboard", {"addresses": "stranger@example.com\nnot an address"}
    )
    job = Job.objects.get()
    assert pasted["Location"] == f"/jobs/{job.pk}"
    assert job.total == 2
    assert job.remaining == 1


def test_start_needs_the_typed_count_and_can_be_scheduled(
    connected: Connected, django_capture_on_commit_callbacks: object
) -> None:
    leaver, other = plain_members(connected, 2)
    connected.client.post("/members/offboard", {"member": [leaver.pk, other.pk]})
    job = Job.objects.get()

    refused = connected.client.post(f"/jobs/{job.pk}/start", {"confirm": "3"}, follow=True)
    assert "type 2 (how many people this acts on) to confirm" in refused.content.decode()
    job.refresh_from_db()
    assert job.state == Job.State.DRAFT

    past = connected.client.post(
        f"/jobs/{job.pk}/start", {"confirm": "2", "not_before": "2020-01-01T09:00"}, follow=True
    )
    assert "The start time has passed" in past.content.decode()

    later = (timezone.localtime() + timezone.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        scheduled = connected.client.post(
            f"/jobs/{job.pk}/start", {"confirm": "2", "not_before": later}, follow=True
        )
    assert "Scheduled." in scheduled.content.decode()
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    assert job.not_before is not None
    assert job.not_before > timezone.now() + timezone.timedelta(days=1)
    assert engine.run_slice(job.pk).wake_in is not None  # not before its time
    assert connected.sandbox.requests.count(REMOVALS) == 0
    started = AuditEntry.objects.get(action=Action.JOB_STARTED)
    assert started.after["not_before"]

    # Until it starts, it can be cancelled.
    connected.client.post(f"/jobs/{job.pk}/cancel")
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED


def test_the_finished_job_reports_each_person_with_what_is_left_in_calendly(
    connected: Connected,
) -> None:
    leaver = plain_members(connected, 1)[0]
    connected.client.post("/members/offboard", {"member": [leaver.pk]})
    job = Job.objects.get()
    connected.client.post(f"/jobs/{job.pk}/start", {"confirm": "1"})
    run_to_the_end(job)

    page = connected.client.get(f"/jobs/{job.pk}").content.decode()

    assert f"<strong>{leaver.name} ({leaver.email.lower()})</strong>:" in page
    assert "Removed from the organization." in page
    assert "Left to do in Calendly" in page
    assert '<a href="https://calendly.com/app/admin/billing"' in page
    leaver.refresh_from_db()
    assert leaver.removed_at is not None


# -- a second admin's approval (JOBS_NEED_APPROVAL) ---------------------------------------------


@override_settings(JOBS_NEED_APPROVAL=True)
def test_with_approval_on_a_second_admin_sees_the_inventory_and_approves(
    connected: Connected, django_capture_on_commit_callbacks: object
) -> None:
    leaver = plain_members(connected, 1)[0]
    connected.client.post("/members/offboard", {"member": [leaver.pk]})
    job = Job.objects.get()

    asked = connected.client.post(f"/jobs/{job.pk}/start", {"confirm": "1"}, follow=True)
    job.refresh_from_db()
    assert job.state == Job.State.AWAITING_APPROVAL
    assert "another admin has to approve this job" in asked.content.decode()
    assert "You started this job; another admin has to approve it." in asked.content.decode()
    # Approving one's own job is refused.
    own = connected.client.post(f"/jobs/{job.pk}/approve", follow=True)
    assert "You started this job; another admin has to approve it." in own.content.decode()
    job.refresh_from_db()
    assert job.state == Job.State.AWAITING_APPROVAL
    assert connected.sandbox.requests.count(REMOVALS) == 0

    second = UserFactory(organization=connected.org, role=Role.ADMIN)
    connected.client.force_login(second)
    page = connected.client.get(f"/jobs/{job.pk}").content.decode()
    assert "What they leave behind" in page
    assert f"{leaver.name} <span" in page
    assert ">Approve: offboard 1 person</button>" in page
    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        connected.client.post(f"/jobs/{job.pk}/approve")
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    assert job.approved_by_label
    run_to_the_end(job)

    assert connected.sandbox.memberships_removed == {leaver.email.lower(): 1}
    trail = list(
        AuditEntry.objects.filter(action__startswith="jobs.", target_id=str(job.pk))
        .order_by("pk")
        .values_list("action", "actor_id")
    )
    assert trail[:3] == [
        (Action.JOB_APPROVAL_REQUESTED, connected.admin.pk),
        (Action.JOB_APPROVED, second.pk),
        (Action.JOB_STARTED, second.pk),
    ]


@override_settings(JOBS_NEED_APPROVAL=True)
def test_a_job_waiting_for_approval_can_be_turned_down(connected: Connected) -> None:
    leaver = plain_members(connected, 1)[0]
    connected.client.post("/members/offboard", {"member": [leaver.pk]})
    job = Job.objects.get()
    connected.client.post(f"/jobs/{job.pk}/start", {"confirm": "1"})

    second = UserFactory(organization=connected.org, role=Role.ADMIN)
    connected.client.force_login(second)
    connected.client.post(f"/jobs/{job.pk}/cancel")

    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    engine.run_slice(job.pk)  # a worker woken anyway does nothing
    assert connected.sandbox.requests.count(REMOVALS) == 0
    leaver.refresh_from_db()
    assert leaver.removed_at is None


@override_settings(JOBS_NEED_APPROVAL=True)
def test_with_approval_on_the_command_queues_for_approval_and_refuses_to_wait(
    connected: Connected,
) -> None:
    leaver = plain_members(connected, 1)[0]
    with pytest.raises(CommandError, match="needs a second admin's approval"):
        call_command("deprovision", leaver.email, "--wait", stdout=StringIO(), stderr=StringIO())
    assert not Job.objects.exists()

    out, err = StringIO(), StringIO()
    call_command("deprovision", leaver.email, stdout=out, stderr=err)
    job = Job.objects.get()
    assert out.getvalue().strip() == str(job.pk)
    assert job.state == Job.State.AWAITING_APPROVAL
    assert "waits for an admin to approve it" in err.getvalue()
    assert connected.sandbox.requests.count(REMOVALS) == 0


def test_a_revocation_calendly_made_without_our_hearing_is_recorded_on_the_next_attempt(
    connected: Connected,
) -> None:
    headers = {"Authorization": f"Bearer {connected.sandbox.owner_token}"}
    sent = httpx.post(
        f"{connected.org.uri}/invitations", json={"email": "invited@example.com"}, headers=headers
    ).json()["resource"]
    row = Invitation.objects.create(
        organization=connected.org, uri=sent["uri"], email=sent["email"], status="pending"
    )
    preview = draft(connected, "invited@example.com")
    engine.start(preview.job, actor=connected.admin, hand_over=False)
    # The first attempt's revocation reached Calendly; the worker died before recording it.
    assert httpx.delete(sent["uri"], headers=headers).status_code == 204
    item = JobItem.objects.get(job=preview.job)
    item.attempts = 2
    connected.sandbox.requests.reset()

    with CalendlyClient(
        token=connected.sandbox.owner_token,
        base_url=connected.sandbox.url,
        limiter=LocalRateLimiter(),
    ) as client:
        outcome = offboarding.offboard_one(client, preview.job, item)

    assert outcome.outcome == offboarding.INVITATION_REVOKED
    assert connected.sandbox.requests.count(REVOCATIONS) == 0
    row.refresh_from_db()
    assert row.removed_at is not None
    entry = AuditEntry.objects.get(action=Action.INVITATION_REVOKED)
    assert entry.after["already_done_in_calendly"] is True


def test_offboarding_may_also_request_deletion_of_their_invitee_data(
    connected: Connected, django_capture_on_commit_callbacks: object
) -> None:
    leaver, other = plain_members(connected, 2)
    connected.client.post(
        "/members/offboard", {"member": [leaver.pk, other.pk], "delete_invitee_data": "on"}
    )
    job = Job.objects.get(kind=offboarding.KIND)
    linked = Job.objects.get(pk=job.parameters["deletion_job"])
    assert (linked.kind, linked.state, linked.remaining) == ("delete_invitee_data", "draft", 1)
    page = connected.client.get(f"/jobs/{job.pk}").content.decode()
    assert "Starting this also sends a data-deletion request" in page

    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        connected.client.post(f"/jobs/{job.pk}/start", {"confirm": "2"})
    linked.refresh_from_db()
    assert linked.state == Job.State.QUEUED
    run_to_the_end(job)
    run_to_the_end(linked)

    emails = {leaver.email.lower(), other.email.lower()}
    assert connected.sandbox.memberships_removed == dict.fromkeys(emails, 1)
    assert connected.sandbox.deletions_requested == dict.fromkeys(emails, 1)
    report = connected.client.get(f"/jobs/{job.pk}").content.decode()
    assert f"the data-deletion request (job {linked.pk})" in report


def test_the_command_may_also_request_deletion_and_a_dry_run_makes_no_request(
    connected: Connected,
) -> None:
    leaver = plain_members(connected, 1)[0]
    call_command(
        "deprovision",
        leaver.email,
        "--delete-invitee-data",
        "--dry-run",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    assert not Job.objects.exists()

    err = StringIO()
    call_command(
        "deprovision",
        leaver.email,
        "--delete-invitee-data",
        "--wait",
        stdout=StringIO(),
        stderr=err,
    )
    linked = Job.objects.get(kind="delete_invitee_data")
    assert linked.state == Job.State.QUEUED
    assert f"data-deletion request job {linked.pk} runs in the background" in err.getvalue()
    assert linked.created_by_label == offboarding.COMMAND_ACTOR


def a_host_with_meetings_and_a_webhook(connected: Connected) -> tuple[Any, int]:
    """The plain member with the most upcoming meetings in the sandbox, given a webhook
    subscription of their own; with how many upcoming meetings they have."""
    sandbox = connected.sandbox
    now = sandbox.now()
    hosts = [
        (
            user,
            sum(
                1
                for e in sandbox.scheduled_events.values()
                if user.uuid in e.hosts and e.status == "active" and e.start_time >= now
            ),
        )
        for user in sandbox.plain_users
    ]
    user, upcoming = max(hosts, key=lambda pair: pair[1])
    assert upcoming > 0, "the sandbox seeds upcoming meetings"
    made = httpx.post(
        f"{sandbox.url}/webhook_subscriptions",
        json={
            "url": "https://hooks.example.com/theirs",
            "events": ["invitee.created"],
            "organization": connected.org.uri,
            "user": f"{sandbox.url}/users/{user.uuid}",
            "scope": "user",
        },
        headers={"Authorization": f"Bearer {sandbox.issue_pat(user.uuid)}"},
    )
    assert made.status_code == 201, made.text
    return user, upcoming


def test_the_report_names_their_upcoming_meetings_and_webhooks_read_from_calendly(
    connected: Connected,
) -> None:
    user, upcoming = a_host_with_meetings_and_a_webhook(connected)

    job = offboarded(connected, user.email)

    item = JobItem.objects.get(job=job)
    assert item.outcome == offboarding.REMOVED
    assert item.result["upcoming_meetings"] == upcoming
    assert item.result["webhooks"] == ["https://hooks.example.com/theirs"]
    steps = " ".join(item.result["to_do_in_calendly"])
    assert f"They had {upcoming} upcoming meeting(s)" in steps
    assert "https://hooks.example.com/theirs" in steps


def test_a_csv_file_of_leavers_becomes_a_preview(connected: Connected) -> None:
    leaver = plain_members(connected, 1)[0]
    upload = SimpleUploadedFile(
        "leavers.csv", f"name,email\n{leaver.name},{leaver.email}\nX,=HYPERLINK(1)\n".encode()
    )

    answer = connected.client.post("/members/offboard", {"file": upload})

    job = Job.objects.get()
    assert answer["Location"] == f"/jobs/{job.pk}"
    assert job.label == "Offboard people from leavers.csv"
    assert (job.total, job.remaining) == (2, 1)


def test_a_file_and_pasted_addresses_at_once_are_refused(connected: Connected) -> None:
    upload = SimpleUploadedFile("leavers.csv", b"email\nana@example.com\n")

    answer = connected.client.post(
        "/members/offboard", {"file": upload, "addresses": "bo@example.com"}
    )

    assert answer.status_code == 400
    assert "one of them" in answer.content.decode()
    assert not Job.objects.exists()


def test_the_preview_reads_their_meetings_and_webhooks_from_calendly_before_confirming(
    connected: Connected,
) -> None:
    user, upcoming = a_host_with_meetings_and_a_webhook(connected)
    connected.client.post("/members/offboard", {"addresses": user.email})
    job = Job.objects.get()
    preview = connected.client.get(f"/jobs/{job.pk}").content.decode()
    assert f'hx-get="/members/offboard/{job.pk}/calendly"' in preview

    part = connected.client.get(f"/members/offboard/{job.pk}/calendly").content.decode()

    # Each count opens their upcoming meetings on the meetings page, to move or cancel them.
    link = re.search(r'<a href="(/meetings/\?rep=[^"]+)">(\d+)<', part)
    assert link is not None
    assert int(link.group(2)) == upcoming
    assert f"rep={quote(user.email)}" in html.unescape(link.group(1))
    assert "https://hooks.example.com/theirs" in part
    assert connected.sandbox.requests.count(REMOVALS) == 0
    # Calendly out of reach: the preview says so, and that the job reads them again.
    Connection.objects.filter(organization=connected.org).update(
        status=Connection.Status.NEEDS_REAUTHORIZATION
    )
    broken = connected.client.get(f"/members/offboard/{job.pk}/calendly").content.decode()
    assert "The job reads them again for each person as it runs" in broken
