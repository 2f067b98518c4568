"""The Celery application shared by the web processes (which enqueue) and the workers.

Configuration lives in settings.py under the CELERY_ prefix. Redis carries wake-ups in
production; the demo and a fresh checkout use kombu's filesystem transport, so a real worker
process runs jobs without any server.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes this worker's heartbeat to the database, where /healthz and the pages look.

    The database rather than Celery's remote control: it needs no broadcast support from the
    broker and works the same for the demo's filesystem broker and for workers on many hosts.
    """

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer_ref: Any = None

    def start(self, worker: Any) -> None:
        from django.conf import settings

        from portal.jobs.models import WorkerHeartbeat as Heartbeat

        Heartbeat.objects.beat(hostname=worker.hostname, pid=os.getpid())
        self.timer_ref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS,
            Heartbeat.objects.beat,
            kwargs={"hostname": worker.hostname, "pid": os.getpid()},
        )

    def stop(self, worker: Any) -> None:
        from portal.jobs.models import WorkerHeartbeat as Heartbeat

        if self.timer_ref is not None:
            self.timer_ref.cancel()
        Heartbeat.objects.stopped(hostname=worker.hostname)


app.steps["worker"].add(WorkerHeartbeat)
