from __future__ import annotations

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import timezone

from portal.jobs.models import Probe


@shared_task(bind=True, base=DjangoTask)
def complete_probe(self: DjangoTask[[int], None], probe_id: int) -> None:
    # Running twice is harmless: the first completion wins and later runs change nothing.
    hostname = self.request.hostname or ""
    Probe.objects.filter(pk=probe_id, completed_at__isnull=True).update(
        completed_at=timezone.now(), completed_by=hostname
    )
