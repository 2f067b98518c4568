"""Celery's half of the job engine: a run of a job, and the sweeper.

Both take ids and are safe to run twice or at once: every item is claimed in the database
before it is done (see `portal.jobs.engine`), so a repeated, late or duplicated message
finds nothing left to claim and ends.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.utils import timezone

from portal.jobs import engine
from portal.jobs.models import Probe
from portal.jobs.wake import RUN_TASK, wake

log = logging.getLogger(__name__)


@shared_task(bind=True, base=DjangoTask)
def complete_probe(self: DjangoTask[[int], None], probe_id: int) -> None:
    # Running twice is harmless: the first completion wins and later runs change nothing.
    hostname = self.request.hostname or ""
    Probe.objects.filter(pk=probe_id, completed_at__isnull=True).update(
        completed_at=timezone.now(), completed_by=hostname
    )


@shared_task(base=DjangoTask, name=RUN_TASK)
def run_job(job_id: int) -> None:
    """One slice of a job; hands over to the next slice rather than running for hours."""
    end = engine.run_slice(job_id)
    if end.again:
        wake(job_id)
    elif end.wake_in is not None:
        wake(job_id, countdown=end.wake_in)


@shared_task(base=DjangoTask, name="jobs.sweep")
def sweep() -> int:
    """Beat's safety net: wake jobs whose progress stopped with work due, and drop old
    previews. Returns how many jobs it woke."""
    stalled = engine.stalled_jobs()
    for job_id in stalled:
        log.info("Job %s has work due and no progress; waking it", job_id)
        wake(job_id, count=settings.JOB_PARALLEL_RUNS)
    engine.forget_old_drafts()
    return len(stalled)
