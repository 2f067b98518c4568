"""Background syncs of the organization mirror, and handing a sync to them.

Tasks take ids and may run twice (acks_late hands a dead worker's task to another): a run
that already finished is left alone, and the one-running-sync rule keeps a second copy of a
scheduled sync from starting a parallel run. Calendly failures end the run as failed inside
`run_sync` and never reach Celery, so nothing is retried in a loop; the next Refresh or beat
tick is the retry.

This module imports `sync`, never the other way round: the views and commands that want a sync
in the background ask for it here (`request_sync`).
"""

from __future__ import annotations

import logging
from functools import partial

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.db import transaction
from django.http import HttpRequest

from portal.accounts.models import Connection, Organization, User
from portal.directory.models import SyncRun
from portal.directory.sync import (
    not_handed_over,
    queue_sync,
    run_sync,
    sync_organization,
    take_over,
)

log = logging.getLogger(__name__)


@shared_task(base=DjangoTask, name="directory.sync_organization")
def sync_organization_task(
    organization_id: int,
    trigger: str,
    requested_by_id: int | None = None,
    run_id: int | None = None,
) -> None:
    """Sync one organization; `run_id` is a run already claimed by whoever asked."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return
    if run_id is not None:
        run = SyncRun.objects.filter(pk=run_id, organization=organization).first()
        # Taken over by `manage.py sync_org`, finished, or a second delivery: nothing to do.
        if run is None or not take_over(run):
            return
        run_sync(run)
        return
    requested_by = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    sync_organization(organization, trigger=trigger, requested_by=requested_by)


@shared_task(base=DjangoTask, name="directory.sync_all")
def sync_all_task() -> int:
    """Beat's periodic sync: one task per organization with a usable connection."""
    organizations = Connection.objects.exclude(
        status=Connection.Status.NEEDS_REAUTHORIZATION
    ).values_list("organization_id", flat=True)
    count = 0
    for organization_id in organizations:
        sync_organization_task.delay_on_commit(organization_id, SyncRun.Trigger.SCHEDULE)
        count += 1
    return count


def request_sync(
    organization: Organization,
    *,
    trigger: str,
    requested_by: User | None = None,
    request: HttpRequest | None = None,
) -> tuple[SyncRun, bool]:
    """Claim a run for a worker and hand it over once the current transaction commits.

    Returns the run to show progress for, and whether it is new (False: one was queued or
    running, and nothing is handed over).
    """
    run, started = queue_sync(
        organization, trigger=trigger, requested_by=requested_by, request=request
    )
    if started:
        transaction.on_commit(partial(_hand_over, run))
    return run, started


def _hand_over(run: SyncRun) -> None:
    # What `delay_on_commit` does, plus what to do when the broker cannot take the task: raised
    # after the commit, the error would leave the run queued for a worker that never gets it.
    try:
        sync_organization_task.delay(
            run.organization_id, run.trigger, run.requested_by_id, run_id=run.pk
        )
    except Exception as exc:
        log.exception("Could not hand sync %s to a background worker", run.pk)
        not_handed_over(run, exc)
