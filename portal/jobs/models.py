from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkerHeartbeatQuerySet(models.QuerySet["WorkerHeartbeat"]):
    def beat(self, *, hostname: str, pid: int) -> None:
        now = timezone.now()
        self.update_or_create(
            hostname=hostname,
            defaults={"pid": pid, "last_seen": now, "stopped_at": None},
            create_defaults={"pid": pid, "last_seen": now, "started_at": now},
        )

    def stopped(self, *, hostname: str) -> None:
        self.filter(hostname=hostname).update(stopped_at=timezone.now())

    def alive(self) -> WorkerHeartbeatQuerySet:
        cutoff = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
        return self.filter(stopped_at__isnull=True, last_seen__gte=cutoff)


class WorkerHeartbeat(models.Model):
    """One row per Celery worker (by node name), refreshed every few seconds while it runs."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = WorkerHeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return self.hostname


class Probe(models.Model):
    """A trivial task sent through the broker to prove a worker picks up and finishes work."""

    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"probe {self.pk}"
