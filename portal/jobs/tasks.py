"""Celery's half of the job engine: a run of a job, and the sweeper.

Both take ids and are safe to run twice or at once: every item is claimed in the database
before it is done (see `portal.jobs.engine`), so a repeated, late or duplicated message
finds nothing left to claim and ends.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
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


@shared_task(bind=True, base=DjangoTask, name=RUN_TASK)
def run_job(self: DjangoTask[[int], None], job_id: int) -> None:
    """One slice of a job; hands over to the next slice rather than running for hours."""
    end = engine.run_slice(job_id, run_key=self.request.id or "")
    if end.again:
        wake(job_id)
    elif end.wake_in is not None:
        wake(job_id, countdown=end.wake_in)


@shared_task(base=DjangoTask, name="jobs.sweep")
def sweep() -> int:
    """Beat's safety net: wake jobs short of runs (a worker died with its run, a wake-up was
    lost) with work due, and drop old previews. Returns how many runs it woke."""
    wanted = engine.runs_wanted()
    for job_id, runs in wanted.items():
        log.info("Job %s has work due and %s run(s) short; waking them", job_id, runs)
        wake(job_id, count=runs)
    engine.forget_old_drafts()
    return sum(wanted.values())
