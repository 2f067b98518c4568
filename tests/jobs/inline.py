"""Running a job in the test's own process, as a worker would, with no waiting: what the
in-process job tests share (real worker processes: workers.py)."""

from __future__ import annotations

from django.utils import timezone

from portal.jobs import engine
from portal.jobs.models import Job, JobItem


def run_to_the_end(job: Job) -> Job:
    """Slices until the job has nothing left to do; items waiting out a backoff are made due
    at once. Fails the test when the job does not end."""
    for _ in range(50):
        end = engine.run_slice(job.pk)
        if end.done or (not end.again and end.wake_in is None):
            job.refresh_from_db()
            return job
        JobItem.objects.filter(job=job, state=JobItem.State.PENDING).update(
            next_attempt_at=timezone.now()
        )
    raise AssertionError("the job did not finish")
