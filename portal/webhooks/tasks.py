"""Celery's half of the webhooks: processing deliveries, the sweep, and subscription refreshes.

Publishing is the receiver's last step, after its row commits, and it must never make the
receiver slow or fail. So the receiver only hands the delivery's id to this process's outbox
and answers; a thread of the process publishes what the outbox holds as one task, after
`WEBHOOK_PUBLISH_LINGER_MS` to let the ids of a burst gather (one message for many deliveries:
a message costs far more than an id). Processing is per row and exactly once whatever carries
the id (`processing.process`), so a task with many ids is as safe as one per delivery.

The outbox thread publishes over a connection of its own that tries once, with a one-second
limit on connecting and on each command (Celery's own producer, even with `retry=False`,
spends about six seconds on a broker that is down and waits without end on one that hangs),
and after a failure it leaves the broker alone for a moment. Ids it could not publish, or that
a process took with it when it stopped, are in the database: the sweep processes them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from functools import partial
from typing import Any

from celery import current_app, shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.db import transaction
from kombu import Producer

from portal.accounts.connections import each_usable_organization
from portal.accounts.models import Organization, User
from portal.webhooks import processing, subscriptions

log = logging.getLogger(__name__)

PROCESS_TASK = "webhooks.process"
# Seconds a publish may wait for the broker to accept a connection, and for each command.
BROKER_TIMEOUT = 1.0
# Seconds after a failed publish during which this process does not try the broker again: a
# broker that hangs would otherwise cost every batch BROKER_TIMEOUT. The sweep has the rows.
BROKER_PAUSE = 2.0
# Ids one task carries at most (a worker processes them in turn).
BATCH_LIMIT = 200


class _Publisher:
    """The outbox thread's producer on its own connection to the broker, and the broker URL it
    was made for."""

    url: str = ""
    producer: Any = None
    paused_until: float = 0.0


_publisher = _Publisher()


def _producer() -> Any:
    url = current_app.conf.broker_write_url or current_app.conf.broker_url
    if _publisher.producer is None or _publisher.url != url:
        _forget_connection()
        connection = current_app.connection_for_write(
            url,
            connect_timeout=BROKER_TIMEOUT,
            transport_options={
                "max_retries": 0,  # kombu: one attempt to connect
                "socket_timeout": BROKER_TIMEOUT,
                "socket_connect_timeout": BROKER_TIMEOUT,
            },
        )
        _publisher.producer = Producer(connection, auto_declare=False)
        _publisher.url = url
    return _publisher.producer


def _forget_connection() -> None:
    producer, _publisher.producer = _publisher.producer, None
    if producer is not None:
        # Drops its sockets without talking to a broker that is gone; nothing more to do with
        # a broken connection if even that fails.
        with contextlib.suppress(Exception):
            producer.connection.collect()


def publish(delivery_ids: list[int]) -> bool:
    """Queue processing of stored deliveries as one task; False (logged) when the broker did
    not take it."""
    if time.monotonic() < _publisher.paused_until:
        log.warning(
            "Did not queue %s webhook deliveries: the broker failed a moment ago; "
            "the sweep will process them",
            len(delivery_ids),
        )
        return False
    try:
        current_app.send_task(PROCESS_TASK, args=[delivery_ids], producer=_producer(), retry=False)
    except Exception as exc:  # the broker's errors are many (kombu, redis, OSError)
        _forget_connection()
        _publisher.paused_until = time.monotonic() + BROKER_PAUSE
        log.warning(
            "Could not queue %s webhook deliveries (%s): %s; the sweep will process them",
            len(delivery_ids),
            ", ".join(map(str, delivery_ids)),
            exc,
        )
        return False
    return True


class _Outbox:
    """This process's committed deliveries not yet published, and the thread publishing them
    (started on first use, and again in a forked child, which inherits no threads)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.ids: list[int] = []
        self.busy = False
        self.thread: threading.Thread | None = None
        self.pid = 0

    def add(self, delivery_id: int) -> None:
        with self.changed:
            self.ids.append(delivery_id)
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._run, name="webhook-outbox", daemon=True)
                self.thread.start()
            self.changed.notify_all()

    def _run(self) -> None:
        while True:
            with self.changed:
                while not self.ids:
                    self.changed.wait()
                self.busy = True
            time.sleep(settings.WEBHOOK_PUBLISH_LINGER_MS / 1000)
            with self.changed:
                batch, self.ids = self.ids[:BATCH_LIMIT], self.ids[BATCH_LIMIT:]
            try:
                publish(batch)
            except Exception:  # never let the thread die: the next ids must still go out
                log.exception("Publishing webhook deliveries %s failed", batch)
            finally:
                with self.changed:
                    self.busy = False
                    self.changed.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every id handed over was published or given up on; False on timeout."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.ids or self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True


outbox = _Outbox()


def publish_after_commit(delivery_id: int) -> None:
    transaction.on_commit(partial(outbox.add, delivery_id))


@shared_task(base=DjangoTask, name=PROCESS_TASK)
def process(delivery_ids: list[int] | int) -> None:
    for delivery_id in [delivery_ids] if isinstance(delivery_ids, int) else delivery_ids:
        processing.process(delivery_id)


@shared_task(base=DjangoTask, name="webhooks.sweep")
def sweep() -> int:
    """Beat's safety net: stored deliveries whose task never came."""
    done = processing.sweep()
    if done:
        log.info("The webhook sweep processed %s stored deliveries", done)
    return done


@shared_task(base=DjangoTask, name="webhooks.refresh_organization")
def refresh_organization(organization_id: int, requested_by_id: int | None = None) -> None:
    """Read one organization's subscriptions from Calendly (the list's Refresh button). A
    failed pass is logged and changes nothing; the next one is the retry."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return
    actor = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    try:
        subscriptions.refresh(organization, actor=actor, actor_label=subscriptions.TASK_ACTOR)
    except subscriptions.SubscriptionRefused as refused:
        log.warning("Refreshing the subscriptions of %s failed: %s", organization, refused)


@shared_task(base=DjangoTask, name="webhooks.refresh_all")
def refresh_all() -> int:
    """Beat's periodic refresh (Calendly disables subscriptions and starts retry cycles without
    telling anyone): one task per organization with a usable connection."""
    return each_usable_organization(refresh_organization)
