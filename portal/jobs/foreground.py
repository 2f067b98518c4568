"""Running a job to its end in this process: what `--wait` does in the commands that start jobs.

The same code path a worker runs (`engine.run_slice`), without a slice limit; progress is said
every two seconds. Should this process die, the sweeper hands the job to the workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from django.core.management.base import CommandError

from portal.jobs import engine, kinds
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


def start_from_command(
    job: Job,
    *,
    actor_label: str,
    wait: bool,
    out: Callable[[str], None],
    err: Callable[[str], None],
    discard: Callable[[Job], object] | None = None,
) -> Job | None:
    """Start a previewed job as every job command does: with `wait`, run it here to its end
    and return it; else hand it to the workers (or, when it needs approval, to an admin),
    print its id alone on `out` for scripts, and return None."""
    label = kinds.get(job.kind).label
    if wait and engine.needs_approval(job):
        (discard or Job.delete)(job)
        raise CommandError(
            f"{label} needs a second admin's approval here (JOBS_NEED_APPROVAL), so it cannot "
            "run to its end in this command. Run it without --wait: the job then waits for an "
            "admin to approve it on its page."
        )
    engine.start(job, actor=None, actor_label=actor_label, hand_over=not wait)
    if job.state == Job.State.AWAITING_APPROVAL:
        out(str(job.pk))
        err(
            f"Job {job.pk} waits for an admin to approve it on its page (/jobs/{job.pk}); "
            "nothing changes until then."
        )
        return None
    if not wait:
        out(str(job.pk))
        err(f"Job {job.pk} queued for the workers; follow it on its page (/jobs/{job.pk}).")
        return None
    job = run_here(job, say=err)
    if job.state == Job.State.PAUSED:
        # Blocked (no seats, connection broken): the reason says what to fix.
        raise CommandError(
            f"Job {job.pk} is paused: {job.state_reason} Resume it on its page, or run this "
            "command again after fixing the cause."
        )
    return job
