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

from portal.accounts.connections import each_usable_organization
from portal.accounts.models import Organization, User
from portal.directory.models import SeatScan, SyncRun
from portal.directory.seats import scan_seat_use
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
    return each_usable_organization(sync_organization_task, SyncRun.Trigger.SCHEDULE)


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


# -- seat use (portal/directory/seats.py) -----------------------------------------------------
# A scan may run twice (acks_late): meetings are deduplicated by URI, so a second copy only
# reads again what the first stored. `scan_seat_use` ends every failure as a row; these tasks
# never raise into Celery, so nothing is retried in a loop: the next tick is the retry.


@shared_task(base=DjangoTask, name="directory.scan_seat_use")
def scan_seat_use_task(
    organization_id: int,
    trigger: str = SeatScan.Trigger.SCHEDULE,
    requested_by_id: int | None = None,
) -> None:
    try:
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            return
        requested_by = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
        scan = scan_seat_use(organization, trigger=trigger, requested_by=requested_by)
        if scan.status == SeatScan.Status.FAILED:
            log.warning("Scanning the seat use of %s failed: %s", organization, scan.error)
    except Exception:
        log.exception("Scanning the seat use of organization %s failed", organization_id)


@shared_task(base=DjangoTask, name="directory.scan_all_seat_use")
def scan_all_seat_use_task() -> int:
    """Beat's periodic scan: one task per organization with a usable connection."""
    return each_usable_organization(scan_seat_use_task)


def queue_seat_scan(organization_id: int, *, requested_by_id: int) -> bool:
    """Hand one organization's scan to a worker once the current transaction commits.

    False when the broker refused it at once: said to the person instead of failing the page.
    """
    try:
        scan_seat_use_task.delay_on_commit(
            organization_id, SeatScan.Trigger.MANUAL, requested_by_id
        )
    except Exception:
        log.exception(
            "Could not hand the seat scan of organization %s to a worker", organization_id
        )
        return False
    return True
