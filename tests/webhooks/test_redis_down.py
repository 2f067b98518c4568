"""The receiver with its broker gone: a Redis of the test's own, stopped or frozen while
deliveries arrive. Each is still answered 2xx and stored, none waits on Redis, and the sweep
processes them once Redis is back or not."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import current_app
from django.db import connection
from django.test import Client

from portal.webhooks import processing, tasks
from portal.webhooks.models import Delivery, Endpoint
from tests.factories import OrganizationFactory
from tests.jobs.workers import PrivateRedis, private_redis
from tests.webhooks.signing import body_of, endpoint_for, envelope, post_signed

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A guard against hanging, not a measurement. With Redis stopped Celery's own producer spent
# about six seconds on each delivery after the first, and waited without end on a frozen
# Redis; the receiver's publish gives up within a second.
ANSWERS_WITHIN = 8.0


@pytest.fixture
def broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    """The app's broker pointed at a Redis of this test's own, with no failure remembered."""
    original = current_app.conf.broker_url
    monkeypatch.setattr(tasks._publisher, "paused_until", 0.0)
    with private_redis(tmp_path) as server:
        current_app.conf.broker_url = server.url
        try:
            yield server
        finally:
            current_app.conf.broker_url = original
            if server.process is not None and server.process.poll() is None:
                os.kill(server.process.pid, signal.SIGCONT)


def answered_in_time(*posts: Callable[[], int]) -> list[int]:
    """The status of each POST, made in turn on another thread (its own connection, committing
    as a server would), failing if they have not all been answered within ANSWERS_WITHIN."""

    def run() -> list[int]:
        try:
            return [post() for post in posts]
        finally:
            connection.close()

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(run).result(timeout=ANSWERS_WITHIN)
    finally:
        pool.shutdown(wait=False)  # a thread still waiting on Redis must not hold the test up


def delivery(endpoint: Endpoint, number: int) -> Callable[[], int]:
    body = body_of(
        envelope(
            event="routing_form_submission.created",
            payload={"uri": f"https://api.calendly.test/routing_form_submissions/{number}"},
        )
    )
    return lambda: post_signed(Client(), endpoint, body).status_code


def task_arguments(server: PrivateRedis) -> list[list[list[int]]]:
    """The arguments of each processing task waiting in the broker's default queue."""
    client = redis.Redis(port=server.port)
    try:
        messages = [json.loads(raw) for raw in client.lrange("celery", 0, -1)]
    finally:
        client.close()
    assert [m["headers"]["task"] for m in messages] == [tasks.PROCESS_TASK] * len(messages)
    return [json.loads(base64.b64decode(m["body"]))[0] for m in messages]


def test_deliveries_are_answered_and_stored_while_redis_is_down(
    broker: PrivateRedis, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="portal.webhooks.tasks")
    endpoint = endpoint_for(OrganizationFactory())

    assert answered_in_time(delivery(endpoint, 1)) == [202]
    assert tasks.outbox.flush()
    first = Delivery.objects.get()
    assert task_arguments(broker) == [[[first.pk]]]  # one task, carrying one id

    # Frozen: Redis accepts the connection and never answers.
    assert broker.process is not None
    os.kill(broker.process.pid, signal.SIGSTOP)
    assert answered_in_time(delivery(endpoint, 2), delivery(endpoint, 3)) == [202, 202]
    assert tasks.outbox.flush()  # given up within a second
    os.kill(broker.process.pid, signal.SIGCONT)

    # Stopped: nothing listens on its port. (The pause after the last failure is forgotten,
    # so the first of these really tries Redis.)
    monkeypatch.setattr(tasks._publisher, "paused_until", 0.0)
    broker.stop()
    assert answered_in_time(*(delivery(endpoint, n) for n in range(4, 8))) == [202] * 4
    assert tasks.outbox.flush()

    assert Delivery.objects.count() == 7
    assert any(
        re.match(r"Could not queue \d+ webhook deliveries", r.getMessage()) for r in caplog.records
    )
    assert processing.sweep(older_than=0) == 7
    assert processing.sweep(older_than=0) == 0
    assert set(Delivery.objects.values_list("status", "attempts")) == {("processed", 1)}


def test_a_burst_goes_to_the_broker_as_one_task_and_each_delivery_is_processed_once(
    broker: PrivateRedis, settings: Any
) -> None:
    settings.WEBHOOK_PUBLISH_LINGER_MS = 300  # longer than the three posts take
    endpoint = endpoint_for(OrganizationFactory())

    assert answered_in_time(*(delivery(endpoint, n) for n in range(3))) == [202] * 3
    assert tasks.outbox.flush()

    stored = sorted(Delivery.objects.values_list("pk", flat=True))
    (carried,) = task_arguments(broker)
    assert sorted(carried[0]) == stored
    tasks.process(carried[0])
    tasks.process(carried[0])  # delivered again (acks_late after a lost worker): no effect
    assert set(Delivery.objects.values_list("status", "attempts")) == {("processed", 1)}
