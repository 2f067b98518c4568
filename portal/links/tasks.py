"""Background refreshes of the shares' statuses (booked, expired, deleted) from Calendly.

Statuses are read in the background, never on a page view: beat refreshes every connected
organization on a schedule (settings.CELERY_BEAT_SCHEDULE), and the ledger's Refresh button
queues one organization. A refresh may run twice (acks_late): it only writes what Calendly
listed, so a second run changes nothing more. A failed listing is logged and changes nothing;
the next tick is the retry.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from portal.accounts.connections import each_usable_organization
from portal.accounts.models import Organization, User
from portal.links.shares import TASK_ACTOR, refresh_shares

log = logging.getLogger(__name__)


@shared_task(base=DjangoTask, name="links.refresh_shares")
def refresh_shares_task(organization_id: int, requested_by_id: int | None = None) -> None:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return
    actor = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    result = refresh_shares(organization=organization, actor=actor, actor_label=TASK_ACTOR)
    if result.error:
        log.warning("Refreshing the shares of %s failed: %s", organization, result.error)


@shared_task(base=DjangoTask, name="links.refresh_all_shares")
def refresh_all_shares_task() -> int:
    """Beat's periodic refresh: one task per organization with a usable connection."""
    return each_usable_organization(refresh_shares_task)


def queue_refresh(organization_id: int, *, requested_by_id: int | None = None) -> bool:
    """Hand one organization's refresh to a worker once the current transaction commits.

    False when the broker refused it at once (outside a transaction, `delay_on_commit` sends
    right away): said to the person instead of failing the page; beat refreshes anyway.
    """
    try:
        refresh_shares_task.delay_on_commit(organization_id, requested_by_id)
    except Exception:
        log.exception(
            "Could not hand the shares refresh of organization %s to a worker", organization_id
        )
        return False
    return True
