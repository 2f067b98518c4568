"""Background imports of Calendly's activity log.

Beat runs `activity.import_all` on a schedule (settings.CELERY_BEAT_SCHEDULE); the log page's
Import now button queues `activity.import_organization` for one organization. An import may
run twice (acks_late): entries are deduplicated by URI, so a second run only counts them as
already had. `import_activity` ends every failure as a row, and these tasks never raise into
Celery, so nothing is retried in a loop; the next tick is the retry.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from portal.accounts.connections import each_usable_organization
from portal.accounts.models import Organization, User
from portal.activity.importing import import_activity
from portal.activity.models import ActivityImport

log = logging.getLogger(__name__)


@shared_task(base=DjangoTask, name="activity.import_organization")
def import_organization_task(
    organization_id: int,
    trigger: str = ActivityImport.Trigger.SCHEDULE,
    requested_by_id: int | None = None,
) -> None:
    try:
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            return
        requested_by = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
        run = import_activity(organization, trigger=trigger, requested_by=requested_by)
        if run.status == ActivityImport.Status.FAILED:
            log.warning("Importing the activity log of %s failed: %s", organization, run.error)
    except Exception:
        log.exception("Importing the activity log of organization %s failed", organization_id)


@shared_task(base=DjangoTask, name="activity.import_all")
def import_all_task() -> int:
    """Beat's periodic import: one task per organization with a usable connection."""
    return each_usable_organization(import_organization_task)


def queue_import(organization_id: int, *, requested_by_id: int) -> bool:
    """Hand one organization's import to a worker once the current transaction commits.

    False when the broker refused it at once: said to the person instead of failing the page.
    """
    try:
        import_organization_task.delay_on_commit(
            organization_id, ActivityImport.Trigger.MANUAL, requested_by_id
        )
    except Exception:
        log.exception(
            "Could not hand the activity import of organization %s to a worker", organization_id
        )
        return False
    return True
