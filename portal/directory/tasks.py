"""Background syncs of the organization mirror.

Tasks take ids and may run twice (acks_late hands a dead worker's task to another): a run
that already finished is left alone, and the one-running-sync rule keeps a second copy of a
scheduled sync from starting a parallel run. Calendly failures end the run as failed inside
`run_sync` and never reach Celery, so nothing is retried in a loop; the next Refresh or beat
tick is the retry.
"""

from __future__ import annotations

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from portal.accounts.models import Connection, Organization, User
from portal.directory.models import SyncRun
from portal.directory.sync import run_sync, sync_organization, take_over


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
