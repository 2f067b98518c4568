"""Wake-ups: telling a worker "look at job 42", by task name so the engine needs no tasks.

A wake-up carries only a job's id; the rows say what to do. One that is lost (the broker down
when it was sent) costs time, not work: the sweeper sends another once the job's progress has
stopped for a while. So a failure to publish is logged and reported, never raised into the
request or the transaction that made the job.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

RUN_TASK = "jobs.run"


def wake(job_id: int, *, count: int = 1, countdown: float | None = None) -> bool:
    """Send `count` wake-ups for a job (several runs share a big job); False when the broker
    could not take them."""
    if countdown is not None:
        # An item's wait lives in its row; a countdown is only a nudge, kept far inside the
        # broker's visibility timeout (a longer one is delivered again and again).
        countdown = min(max(0.0, countdown), float(settings.JOB_LONGEST_WAKE_DELAY))
    try:
        for _ in range(max(1, count)):
            current_app.send_task(RUN_TASK, args=[job_id], countdown=countdown)
    except Exception as exc:  # the broker's errors are many (kombu, redis, OSError)
        log.warning("Could not wake job %s: %s; the sweeper will try again", job_id, exc)
        return False
    return True


def wake_after_commit(job_id: int, *, count: int = 1) -> None:
    transaction.on_commit(partial(wake, job_id, count=count))
