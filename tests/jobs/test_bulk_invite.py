"""Bulk invitations in this process: the preview, the job, its page, its command, and what
happens when Calendly or a worker misbehaves. Real worker processes: test_workers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.directory import bulk
from portal.jobs import engine
from portal.jobs.csvfile import read_text
from portal.jobs.models import Job
from tests.directory.test_actions import Connected, connect
from tests.jobs.inline import run_to_the_end
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.django_db

INVITATIONS = "POST /organizations/{uuid}/invitations"


@pytest.fixture(autouse=True)
def calendly_is_the_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    with override_settings(CALENDLY_API_URL=sandbox.url, CALENDLY_AUTH_URL=sandbox.url):
        yield


@pytest.fixture
def connected(sandbox: RunningSandbox) -> Connected:
    return connect(sandbox)


def addresses(count: int, start: int = 0) -> str:
    return "email\n" + "\n".join(f"person{n}@example.com" for n in range(start, start + count))


def draft(connected: Connected, text: str) -> bulk.Preview:
    return bulk.prepare(
        organization=connected.org,
        addresses=read_text(text),
        source_name="team.csv",
        actor=connected.admin,
    )


def started(connected: Connected, text: str, django_capture_on_commit_callbacks: object) -> Job:
    preview = draft(connected, text)
    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        engine.start(preview.job, actor=connected.admin)
    preview.job.refresh_from_db()
    return preview.job


def test_a_job_invites_every_address_once_and_records_each(
    connected: Connected, django_capture_on_commit_callbacks: object
) -> None:
    job = started(connected, addresses(12), django_capture_on_commit_callbacks)
    assert job.state == Job.State.QUEUED
    run_to_the_end(job)

    job.refresh_from_db()
    assert (job.state, job.total, job.succeeded, job.failed, job.skipped) == (
        Job.State.DONE,
        12,
        12,
        0,
        0,
    )
    sent = connected.sandbox.invitations_sent
    assert sent == {f"person{n}@example.com": 1 for n in range(12)}
    invited = AuditEntry.objects.filter(action=Action.INVITED)
    assert sorted(invited.values_list("target_label", flat=True)) == sorted(sent)
    assert all(entry.after["job"] == job.pk for entry in invited)
    assert AuditEntry.objects.filter(action=Action.JOB_STARTED, target_id=str(job.pk)).count() == 1
    assert AuditEntry.objects.filter(action=Action.JOB_FINISHED, target_id=str(job.pk)).count() == 1
