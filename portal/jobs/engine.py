"""The job engine: claiming items, doing them once, and never losing one.

The item table is the truth; Redis only carries wake-ups (`portal.jobs.wake`). A run of a job
(`run_slice`, what a Celery task or `manage.py bulk_invite --wait` calls) goes:

1. claim one due item atomically: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, and on
   every database a conditional UPDATE that only succeeds while the item is still claimable,
   stamping a fresh lease token and counting the attempt;
2. do it through its kind, outside any transaction (it calls Calendly);
3. in one transaction: finish the item only if our lease token still holds it, bump the job's
   counts and write the item's audit row;
4. repeat until the slice's time is up, then hand over to a continuation (a new task), so no
   task outlives the broker's visibility timeout however long the job is.

What can go wrong, and what happens:
- A worker dies (kill -9, OOM, a machine lost) holding an item: its lease runs out and the
  item is claimable again; the sweeper (`sweep`, on beat) wakes jobs whose progress stopped.
  The next attempt is a *retry*, and a kind reads Calendly before writing again on a retry,
  since the dead attempt may have reached Calendly (an ambiguous write).
- An item that kills its worker every time: each claim counts an attempt, and past
  `JOB_MAX_ATTEMPTS` it is failed with a reason instead of being claimed again.
- Calendly answers 429: the item goes back with its next-attempt time after the wait, and the
  attempt is not counted. 5xx, timeouts, resets: back with exponential backoff, counted.
- No seats, SCIM, a missing scope, a broken connection: the job is paused with the reason and
  the item put back untouched; a person fixes the cause and resumes.
- A wake-up lost (Redis down when it was sent, a message dropped): the sweeper sends another.
  Extra wake-ups are harmless: a run that finds nothing to claim ends at once.

Retries never use Celery countdowns beyond `JOB_LONGEST_WAKE_DELAY` (well inside the
visibility timeout); an item's wait lives in its `next_attempt_at` row.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from portal import audit
from portal.accounts.connections import ConnectionUnavailable, client_for, note_failure
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.jobs import kinds
from portal.jobs.models import Job, JobItem, JobRun
from portal.jobs.wake import wake_after_commit

if TYPE_CHECKING:
    from portal.accounts.models import Organization, User

log = logging.getLogger(__name__)

State = JobItem.State

# Lost races in a row before a run gives up claiming for now (only SQLite, which has no row
# locks, can lose one).
CLAIM_TRIES = 20


# -- the errors every kind meets ----------------------------------------------------------


def calendly_client(job: Job) -> CalendlyClient:
    """The job's organization's Calendly client, for a kind's `open`; a missing or broken
    connection stops the whole job (Blocked), with what to do."""
    try:
        return client_for(job.organization)
    except ConnectionUnavailable as exc:
        raise kinds.Blocked(errors.explain(exc)) from exc


def calendly_failure(
    organization: Organization, error: errors.CalendlyError, *, doing: str
) -> kinds.Retry | kinds.Blocked:
    """What a Calendly error means for a job, when it is not about this one item.

    Returns `Retry` for what passes (busy, unreachable, an answer lost on the way) and
    `Blocked` for what stops every item alike until a person acts (the connection is marked
    when it is the cause); the caller raises it. Errors about the item itself (already a
    member, not found) are the kind's to judge.
    """
    failure = _failure(error, doing=doing)
    if isinstance(failure, kinds.Blocked):
        note_failure(organization, error)
    return failure


def _failure(error: errors.CalendlyError, *, doing: str) -> kinds.Retry | kinds.Blocked:
    words = errors.explain(error, doing=doing, changing=True)
    if isinstance(error, errors.RateLimited):
        return kinds.Retry(words, after=error.retry_after, counts=False)
    if isinstance(
        error,
        errors.ServerError
        | errors.TransportFailure
        | errors.AmbiguousWrite
        | errors.UnexpectedResponse,
    ):
        return kinds.Retry(words)
    if isinstance(
        error,
        errors.SeatsExhausted
        | errors.ScimManaged
        | errors.UpgradeRequired
        | errors.PermissionDenied
        | errors.Unauthenticated
        | errors.TokenUnavailable
        | errors.OAuthError,
    ):
        return kinds.Blocked(words)
    return kinds.Retry(words)


# -- claiming -----------------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    return Q(state=State.PENDING, next_attempt_at__lte=now) | Q(
        state=State.IN_FLIGHT, lease_until__lt=now
    )


def claim(job: Job) -> JobItem | None:
    """Take the next due item of `job` for this process, or None when none is due."""
    now = timezone.now()
    token = secrets.token_hex(16)
    lease_until = now + timedelta(seconds=settings.JOB_LEASE_SECONDS)
    for _ in range(CLAIM_TRIES):
        with transaction.atomic():
            candidates = JobItem.objects.filter(_claimable(now), job=job).order_by("position")
            if connection.features.has_select_for_update_skip_locked:
                candidates = candidates.select_for_update(skip_locked=True)
            candidate = candidates.values_list("pk", flat=True).first()
            if candidate is None:
                return None
            # Conditional: on SQLite (no row locks) another process may have taken it
            # meanwhile, and then this updates nothing and we look again.
            taken = JobItem.objects.filter(_claimable(now), pk=candidate).update(
                state=State.IN_FLIGHT,
                lease_until=lease_until,
                lease_token=token,
                attempts=F("attempts") + 1,
            )
        if taken:
            return JobItem.objects.get(pk=candidate, lease_token=token)
    return None


# -- finishing an item --------------------------------------------------------------------

COUNTER = {State.DONE: "succeeded", State.FAILED: "failed", State.SKIPPED: "skipped"}


def finish(job: Job, item: JobItem, outcome: kinds.Outcome) -> bool:
    """Record `outcome` for an item we hold; False when our lease was lost (another process
    took the item over after it ran out, and its outcome is the one that counts)."""
    state = State(outcome.state)
    now = timezone.now()
    with transaction.atomic():
        held = JobItem.objects.filter(
            pk=item.pk, lease_token=item.lease_token, state=State.IN_FLIGHT
        ).update(
            state=state,
            outcome=outcome.outcome[:32],
            message=outcome.message,
            result=dict(outcome.result),
            finished_at=now,
            lease_until=None,
        )
        if not held:
            log.warning("Job %s item %s: lease lost before its outcome was stored", job.pk, item.pk)
            return False
        Job.objects.filter(pk=job.pk).update(
            **{COUNTER[state]: F(COUNTER[state]) + 1}, progressed_at=now
        )
        _audit_item(job, item, outcome)
    return True


def _audit_item(job: Job, item: JobItem, outcome: kinds.Outcome) -> None:
    fallback = {
        State.DONE: audit.Action.JOB_ITEM_DONE,
        State.FAILED: audit.Action.JOB_ITEM_FAILED,
    }.get(State(outcome.state), audit.Action.JOB_ITEM_SKIPPED)
    action = outcome.audit_action or fallback
    audit.record(
        action=action,
        organization=job.organization,
        actor=job.created_by,
        actor_label=job.created_by_label,
        target=outcome.audit_target,
        target_type="" if outcome.audit_target is not None else "jobs.jobitem",
        target_id="" if outcome.audit_target is not None else item.pk,
        target_label=item.key,
        after={
            "job": job.pk,
            "item": item.pk,
            "outcome": outcome.outcome,
            "message": outcome.message,
            "attempts": item.attempts,
            # What Calendly answered, as the kind kept it: where Calendly gives nothing to look
            # up later (a data-deletion request), this row is the evidence.
            **({"result": dict(outcome.result)} if outcome.result else {}),
        },
    )


def put_back(item: JobItem, *, message: str, after: float | None, counts: bool) -> bool:
    """Release an item we hold for a later attempt; False when our lease was lost."""
    attempts = item.attempts if counts else max(0, item.attempts - 1)
    delay = after if after is not None else backoff(attempts)
    updated = JobItem.objects.filter(
        pk=item.pk, lease_token=item.lease_token, state=State.IN_FLIGHT
    ).update(
        state=State.PENDING,
        attempts=attempts,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        lease_until=None,
        message=message,
    )
    return bool(updated)


def backoff(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from JOB_RETRY_BASE, capped, jittered."""
    base = settings.JOB_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    capped = min(float(settings.JOB_RETRY_CAP_SECONDS), base)
    # Jitter only spreads retries out; it needs no cryptographic quality.
    return float(capped * (0.5 + random.random() / 2))  # noqa: S311


# -- a run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SliceEnd:
    """How a run ended: `again` asks for another run now (work is left, time was up);
    `wake_in` asks for one after that many seconds (items wait for their next attempt or the
    job for its start time); neither: nothing to do until a person acts or the job is done."""

    again: bool = False
    wake_in: float | None = None
    done: bool = False


def run_slice(
    job_id: int,
    *,
    seconds: float | None = None,
    on_item: Callable[[Job, JobItem, str], None] | None = None,
    run_key: str = "",
) -> SliceEnd:
    """Work on a job for about `seconds` (JOB_SLICE_SECONDS by default; a command waiting for
    the job passes math.inf). `run_key` names the run: a Celery task passes its id, so the
    same task handed back after its worker died takes its dead run's place."""
    deadline = time.monotonic() + (settings.JOB_SLICE_SECONDS if seconds is None else seconds)
    job = Job.objects.select_related("organization", "created_by").filter(pk=job_id).first()
    if job is None or job.state not in Job.ACTIVE_STATES:
        return SliceEnd()
    now = timezone.now()
    if job.not_before and job.not_before > now:
        return SliceEnd(wake_in=(job.not_before - now).total_seconds())
    run = enlist(job, run_key or secrets.token_hex(16))
    if run is None:
        # Enough runs are on it already (a repeated or extra wake-up): theirs is the work.
        return SliceEnd()
    if job.state == Job.State.QUEUED:
        Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(
            state=Job.State.RUNNING, started_at=now, progressed_at=now
        )
    else:
        Job.objects.filter(pk=job.pk).update(progressed_at=now)
    kind = kinds.get(job.kind)
    try:
        with kind.open(job) as do_item:
            while time.monotonic() < deadline:
                if not _still_active(job):
                    return SliceEnd()
                run = beat(job, run)
                if run is None:
                    return SliceEnd()
                item = claim(job)
                if item is None:
                    break
                if not _work_on(job, item, do_item, on_item):
                    return SliceEnd()
            else:
                return SliceEnd(again=True)
    except kinds.Blocked as blocked:
        # Someone paused or cancelled it meanwhile: their word stands.
        with contextlib.suppress(JobRefused):
            pause(job, reason=blocked.message, actor=None, actor_label="The portal")
        return SliceEnd()
    finally:
        if run is not None:
            run.delete()
    return _after_running_out(job)


# -- runs on a job ----------------------------------------------------------------------------


def _silent_since(now: datetime) -> datetime:
    """A run whose last beat is older than this died: a living one claims again within a
    lease, or the item it holds is taken from it anyway."""
    return now - timedelta(seconds=settings.JOB_LEASE_SECONDS)


def enlist(job: Job, key: str) -> JobRun | None:
    """Count run `key` as working on `job`, unless JOB_PARALLEL_RUNS other living runs are on
    it. A run by that key already there (its worker died; Celery handed the task back) is
    taken over. The job's row is locked meanwhile, so two runs starting at once cannot both
    take the last place."""
    with transaction.atomic():
        Job.objects.select_for_update().filter(pk=job.pk).values_list("pk").first()
        now = timezone.now()
        runs = JobRun.objects.filter(job=job)
        mine = runs.filter(key=key).first()
        if mine is not None:
            mine.beat_at = now
            mine.save(update_fields=["beat_at"])
            return mine
        if runs.filter(beat_at__gte=_silent_since(now)).count() >= settings.JOB_PARALLEL_RUNS:
            return None
        return JobRun.objects.create(job=job, key=key, started_at=now, beat_at=now)


def beat(job: Job, run: JobRun) -> JobRun | None:
    """Say this run lives, before each claim. A run silent for longer than a lease (a call that
    hung, a process stopped and continued) was counted dead and maybe replaced by the sweeper:
    it enlists again, and ends when its place was taken."""
    if JobRun.objects.filter(pk=run.pk).update(beat_at=timezone.now()):
        return run
    log.warning("Job %s: a run was silent for longer than a lease and counted dead", job.pk)
    return enlist(job, run.key)


def _still_active(job: Job) -> bool:
    state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
    return state in Job.ACTIVE_STATES


def _work_on(
    job: Job,
    item: JobItem,
    do_item: kinds.DoItem,
    on_item: Callable[[Job, JobItem, str], None] | None,
) -> bool:
    """Do one claimed item; False when the job must stop (blocked)."""
    if item.attempts > settings.JOB_MAX_ATTEMPTS:
        outcome = kinds.Outcome(
            state=State.FAILED,
            outcome="gave_up",
            message=(
                f"Stopped after {settings.JOB_MAX_ATTEMPTS} attempts. "
                + (
                    f"The last one said: {item.message}"
                    if item.message
                    else "Each attempt ended without an answer (the worker doing it stopped)."
                )
            ),
        )
        finish(job, item, outcome)
        if on_item:
            on_item(job, item, outcome.outcome)
        return True
    try:
        outcome = do_item(item)
    except kinds.Retry as retry:
        if retry.counts and item.attempts >= settings.JOB_MAX_ATTEMPTS:
            outcome = kinds.Outcome(
                state=State.FAILED,
                outcome="gave_up",
                message=f"Stopped after {item.attempts} attempts. {retry.message}",
            )
        else:
            put_back(item, message=retry.message, after=retry.after, counts=retry.counts)
            if on_item:
                on_item(job, item, "retry")
            return True
    except kinds.Blocked as blocked:
        put_back(item, message="", after=0.0, counts=False)
        raise blocked
    except Exception:
        # A bug, not Calendly: keep the item (its attempts still count, so a bug that always
        # strikes ends in a failed item, not a loop) and keep the job going.
        log.exception("Job %s item %s failed unexpectedly", job.pk, item.pk)
        if item.attempts >= settings.JOB_MAX_ATTEMPTS:
            outcome = kinds.Outcome(
                state=State.FAILED,
                outcome="error",
                message="The portal hit an unexpected error on this item; it is in the logs.",
            )
        else:
            put_back(
                item,
                message="The portal hit an unexpected error; trying again.",
                after=None,
                counts=True,
            )
            return True
    finish(job, item, outcome)
    if on_item:
        on_item(job, item, outcome.outcome)
    return True


def _after_running_out(job: Job) -> SliceEnd:
    """Nothing was claimable: finish the job, or say when its next item falls due."""
    open_items = JobItem.objects.filter(job=job, state__in=[State.PENDING, State.IN_FLIGHT])
    waits = open_items.aggregate(
        pending=Min("next_attempt_at", filter=Q(state=State.PENDING)),
        leased=Min("lease_until", filter=Q(state=State.IN_FLIGHT)),
    )
    if waits["pending"] is None and waits["leased"] is None:
        complete(job)
        return SliceEnd(done=True)
    now = timezone.now()
    if waits["pending"] is not None:
        return SliceEnd(wake_in=max(0.0, (waits["pending"] - now).total_seconds()))
    # Only items another process holds: it finishes them, or the sweeper finds them expired.
    return SliceEnd()


def complete(job: Job) -> None:
    now = timezone.now()
    with transaction.atomic():
        finished = Job.objects.filter(pk=job.pk, state__in=Job.ACTIVE_STATES).update(
            state=Job.State.DONE, finished_at=now, progressed_at=now
        )
        if finished:
            job.refresh_from_db()
            audit.record(
                action=audit.Action.JOB_FINISHED,
                organization=job.organization,
                actor=job.created_by,
                actor_label=job.created_by_label,
                target=job,
                after=counts(job),
            )


def counts(job: Job) -> dict[str, int]:
    return {
        "total": job.total,
        "succeeded": job.succeeded,
        "failed": job.failed,
        "skipped": job.skipped,
    }


# -- what people do to a job ----------------------------------------------------------------


class JobRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def needs_approval(job: Job) -> bool:
    """Whether starting `job` only asks a second admin (JOBS_NEED_APPROVAL, for kinds whose
    changes cannot be undone)."""
    return settings.JOBS_NEED_APPROVAL and kinds.get(job.kind).destructive


def start(
    job: Job,
    *,
    actor: User | None,
    actor_label: str = "",
    request: Any = None,
    hand_over: bool = True,
) -> None:
    """A draft (its items written, its preview shown) goes to the workers once this commits
    (`hand_over=False`: the caller runs it itself), or, when it needs approval, waits for a
    second admin's (`approve`)."""
    if needs_approval(job):
        _ask_approval(job, actor=actor, actor_label=actor_label, request=request)
        return
    with transaction.atomic():
        _queue(job, Job.State.DRAFT, actor=actor, actor_label=actor_label, request=request)
        if hand_over and job.remaining:
            _wake_after_commit(job, parallel=True)
        _started(job, actor, actor_label)


def _started(job: Job, actor: User | None, actor_label: str) -> None:
    """What the kind starts with its job (in the same transaction)."""
    also = kinds.get(job.kind).on_start
    if also is not None:
        also(job, actor, actor_label)


def _ask_approval(job: Job, *, actor: User | None, actor_label: str, request: Any) -> None:
    with transaction.atomic():
        asked = Job.objects.filter(pk=job.pk, state=Job.State.DRAFT).update(
            state=Job.State.AWAITING_APPROVAL, created_at=timezone.now()
        )
        if not asked:
            raise JobRefused("This job has already been started.")
        job.refresh_from_db()
        audit.record(
            action=audit.Action.JOB_APPROVAL_REQUESTED,
            organization=job.organization,
            actor=actor,
            actor_label=actor_label,
            target=job,
            after={"kind": job.kind, "to_do": job.remaining, "not_before": job.not_before},
            request=request,
        )


def approve(job: Job, *, actor: User, request: Any = None) -> None:
    """A second admin lets a job that waited for approval go to the workers."""
    if job.created_by_id is not None and job.created_by_id == actor.pk:
        raise JobRefused("You started this job; another admin has to approve it.")
    with transaction.atomic():
        approved = Job.objects.filter(pk=job.pk, state=Job.State.AWAITING_APPROVAL).update(
            approved_by_label=audit.describe(actor), approved_at=timezone.now()
        )
        if not approved:
            raise JobRefused("Only a job waiting for approval can be approved.")
        audit.record(
            action=audit.Action.JOB_APPROVED,
            organization=job.organization,
            actor=actor,
            target=job,
            request=request,
        )
        _queue(job, Job.State.AWAITING_APPROVAL, actor=actor, actor_label="", request=request)
        if job.remaining:
            _wake_after_commit(job, parallel=True)
        _started(job, actor, "")


def _queue(
    job: Job, from_state: str, *, actor: User | None, actor_label: str, request: Any
) -> None:
    """Within a transaction: `job` (in `from_state`) becomes queued, recorded as started."""
    now = timezone.now()
    started = Job.objects.filter(pk=job.pk, state=from_state).update(
        state=Job.State.QUEUED, created_at=now, progressed_at=now
    )
    if not started:
        raise JobRefused("This job has already been started.")
    job.refresh_from_db()
    audit.record(
        action=audit.Action.JOB_STARTED,
        organization=job.organization,
        actor=actor,
        actor_label=actor_label,
        target=job,
        after={
            "kind": job.kind,
            **counts(job),
            "to_do": job.remaining,
            "not_before": job.not_before,
            "parameters": job.parameters,
        },
        request=request,
    )
    if job.remaining == 0:
        complete(job)


def pause(
    job: Job,
    *,
    actor: User | None,
    actor_label: str = "",
    reason: str = "",
    request: Any = None,
) -> None:
    with transaction.atomic():
        paused = Job.objects.filter(pk=job.pk, state__in=Job.ACTIVE_STATES).update(
            state=Job.State.PAUSED, state_reason=reason
        )
        if not paused:
            raise JobRefused("Only a waiting or running job can be paused.")
        audit.record(
            action=audit.Action.JOB_PAUSED,
            organization=job.organization,
            actor=actor,
            actor_label=actor_label,
            target=job,
            after={"reason": reason} if reason else None,
            request=request,
        )


def resume(job: Job, *, actor: User | None, actor_label: str = "", request: Any = None) -> None:
    with transaction.atomic():
        resumed = Job.objects.filter(pk=job.pk, state=Job.State.PAUSED).update(
            state=Job.State.RUNNING if job.started_at else Job.State.QUEUED,
            state_reason="",
            progressed_at=timezone.now(),
        )
        if not resumed:
            raise JobRefused("Only a paused job can be resumed.")
        audit.record(
            action=audit.Action.JOB_RESUMED,
            organization=job.organization,
            actor=actor,
            actor_label=actor_label,
            target=job,
            request=request,
        )
        # Items waiting out a backoff from before the pause are due now.
        JobItem.objects.filter(job=job, state=State.PENDING).update(next_attempt_at=timezone.now())
        _wake_after_commit(job, parallel=True)


def cancel(job: Job, *, actor: User | None, actor_label: str = "", request: Any = None) -> int:
    """Stop a job: what is waiting is skipped (never sent); what a worker holds right now
    finishes. Returns how many items were skipped."""
    now = timezone.now()
    with transaction.atomic():
        cancelled = Job.objects.filter(pk=job.pk, state__in=Job.OPEN_STATES).update(
            state=Job.State.CANCELLED, finished_at=now, progressed_at=now
        )
        if not cancelled:
            raise JobRefused("Only a job that has not finished can be cancelled.")
        skipped = JobItem.objects.filter(job=job, state=State.PENDING).update(
            state=State.SKIPPED,
            outcome="cancelled",
            message="Not done: the job was cancelled first.",
            finished_at=now,
        )
        Job.objects.filter(pk=job.pk).update(skipped=F("skipped") + skipped)
        audit.record(
            action=audit.Action.JOB_CANCELLED,
            organization=job.organization,
            actor=actor,
            actor_label=actor_label,
            target=job,
            after={"not_done": skipped},
            request=request,
        )
    return skipped


def retry_failed(
    job: Job, *, actor: User | None, actor_label: str = "", request: Any = None
) -> int:
    """Give failed items a new set of attempts; the job runs again for them."""
    if job.state not in (Job.State.DONE, Job.State.PAUSED, Job.State.RUNNING):
        raise JobRefused("Failed items can be retried once the job has run.")
    now = timezone.now()
    with transaction.atomic():
        again = JobItem.objects.filter(job=job, state=State.FAILED).update(
            state=State.PENDING,
            attempts=0,
            next_attempt_at=now,
            outcome="",
            finished_at=None,
        )
        if not again:
            raise JobRefused("No item of this job has failed.")
        Job.objects.filter(pk=job.pk).update(
            failed=F("failed") - again,
            state=Job.State.RUNNING if job.state != Job.State.PAUSED else Job.State.PAUSED,
            finished_at=None,
            progressed_at=now,
        )
        audit.record(
            action=audit.Action.JOB_RETRIED,
            organization=job.organization,
            actor=actor,
            actor_label=actor_label,
            target=job,
            after={"items": again},
            request=request,
        )
        if job.state != Job.State.PAUSED:
            _wake_after_commit(job, parallel=True)
    return again


def _wake_after_commit(job: Job, *, parallel: bool = False) -> None:
    wake_after_commit(job.pk, count=settings.JOB_PARALLEL_RUNS if parallel else 1)


# -- the sweeper ------------------------------------------------------------------------------


def runs_wanted(now: datetime | None = None) -> dict[int, int]:
    """Jobs short of runs, each with how many runs to wake: a job with work due and fewer than
    JOB_PARALLEL_RUNS living runs (a worker died with its run, a wake-up was lost, Redis was
    down), or whose start time has come. Each job at most once per JOB_STALL_SECONDS, so
    wake-ups waiting behind other work do not pile up; extra ones end at once (`enlist`).
    Forgets the runs that died."""
    now = now or timezone.now()
    JobRun.objects.filter(beat_at__lt=_silent_since(now)).delete()
    quiet = now - timedelta(seconds=settings.JOB_STALL_SECONDS)
    due_items = JobItem.objects.filter(_claimable(now))
    candidates = (
        Job.objects.filter(state__in=Job.ACTIVE_STATES)
        .filter(Q(swept_at__isnull=True) | Q(swept_at__lt=quiet))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    )
    wanted: dict[int, int] = {}
    for job_id in candidates.values_list("pk", flat=True):
        short = settings.JOB_PARALLEL_RUNS - JobRun.objects.filter(job_id=job_id).count()
        if short > 0 and due_items.filter(job_id=job_id).exists():
            wanted[job_id] = short
    Job.objects.filter(pk__in=wanted).update(swept_at=now)
    return wanted


def forget_old_drafts(now: datetime | None = None) -> int:
    """Previews never started are dropped after a day: they hold a file's addresses."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.JOB_DRAFT_HOURS)
    deleted, _ = Job.objects.filter(state=Job.State.DRAFT, created_at__lt=cutoff).delete()
    return deleted


# -- how far along ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    per_minute: float
    seconds_left: float | None
    budget: str


def progress(job: Job, *, budget: tuple[int, float] | None) -> Progress:
    """The rate over the last minute and the time left. The time left comes from Calendly's
    budget for the user (`budget`: requests per window and the window in seconds), or from the
    rate seen when that is slower (Calendly answering slowly, another integration spending
    the same budget)."""
    now = timezone.now()
    recent = JobItem.objects.filter(job=job, finished_at__gte=now - timedelta(seconds=60)).count()
    kind = kinds.get(job.kind)
    words = ""
    allowed_per_second = math.inf
    if budget is not None:
        limit, period = budget
        allowed_per_second = limit / period / max(kind.requests_per_item, 0.1)
        words = (
            f"Calendly allows {limit:,} requests "
            + ("a minute" if period == 60 else f"every {period:g} seconds")
            + " for this user"
        )
    seen_per_second = (
        recent / 60 if job.started_at and now - job.started_at > timedelta(seconds=60) else 0.0
    )
    pace = min(allowed_per_second, seen_per_second) if seen_per_second else allowed_per_second
    seconds_left = job.remaining / pace if pace and math.isfinite(pace) else None
    return Progress(per_minute=float(recent), seconds_left=seconds_left, budget=words)
