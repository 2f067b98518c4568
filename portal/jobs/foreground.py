"""Running a job to its end in this process: what `--wait` does in the commands that start jobs.

The same code path a worker runs (`engine.run_slice`), without a slice limit; progress is said
every two seconds. Should this process die, the sweeper hands the job to the workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from portal.jobs import engine
from portal.jobs.models import Job, JobItem

PROGRESS_EVERY_SECONDS = 2.0


def run_here(job: Job, *, say: Callable[[str], None]) -> Job:
    """Work on `job` here until it ends or is paused (blocked: its reason says what to fix);
    return it as it then stands."""
    last_report = 0.0

    def report(job: Job, item: JobItem, outcome: str) -> None:
        nonlocal last_report
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            job.refresh_from_db()
            say(f"{job.finished:,} of {job.total:,} finished")

    while True:
        end = engine.run_slice(job.pk, seconds=math.inf, on_item=report)
        job.refresh_from_db()
        if end.done or not job.is_open or job.state == Job.State.PAUSED:
            return job
        if end.wake_in is not None:
            time.sleep(min(end.wake_in, 5.0))
        else:
            # Items held by another process (a worker): wait for it, or for their leases.
            time.sleep(1.0)
