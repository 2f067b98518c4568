from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from portal.accounts.models import Connection
from portal.celery import app as celery_app
from portal.jobs.models import WorkerHeartbeat
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_worker() -> WorkerHeartbeat:
    WorkerHeartbeat.objects.beat(hostname="celery@test", pid=1234)
    return WorkerHeartbeat.objects.get(hostname="celery@test")


@pytest.fixture
def unreachable_broker() -> Iterator[None]:
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:9/0"  # the discard port: nothing listens
    try:
        yield
    finally:
        celery_app.conf.broker_url = original


def test_healthz_is_ok_when_database_broker_and_a_worker_are_up(
    client: Client, live_worker: WorkerHeartbeat
) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "migrations": True,
        "broker": True,
        "worker": True,
        "calendly": True,
    }
    assert body["checks"]["broker"]["detail"] == "redis"


def test_healthz_fails_without_a_worker_heartbeat(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["ok"] is False


def test_healthz_fails_when_the_last_heartbeat_is_stale(
    client: Client, live_worker: WorkerHeartbeat
) -> None:
    WorkerHeartbeat.objects.update(last_seen=timezone.now() - timedelta(minutes=5))
    assert client.get("/healthz").status_code == 503


def test_healthz_fails_once_the_worker_has_stopped(
    client: Client, live_worker: WorkerHeartbeat
) -> None:
    WorkerHeartbeat.objects.stopped(hostname="celery@test")
    assert client.get("/healthz").status_code == 503


def test_healthz_fails_when_the_broker_is_unreachable(
    client: Client, live_worker: WorkerHeartbeat, unreachable_broker: None
) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert broker["ok"] is False
    assert "unreachable" in broker["detail"]


def test_a_broken_calendly_connection_shows_but_does_not_fail_health(
    client: Client, live_worker: WorkerHeartbeat
) -> None:
    Connection.objects.create(
        organization=OrganizationFactory(),
        kind=Connection.Kind.OAUTH,
        owner_uri="https://api.calendly.com/users/OWNER",
        access_token="a",
        status=Connection.Status.NEEDS_REAUTHORIZATION,
    )
    response = client.get("/healthz")
    assert response.status_code == 200
    calendly = response.json()["checks"]["calendly"]
    assert calendly["ok"] is False
    assert calendly["required"] is False
    assert "1 need(s) attention" in calendly["detail"]


def test_readyz_needs_only_the_database(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "migrations"}


def test_health_endpoints_are_not_cached_and_answer_anonymous_callers(client: Client) -> None:
    response = client.get("/readyz")
    assert "no-cache" in response["Cache-Control"]


def test_health_endpoints_refuse_writes(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


def test_a_worker_heartbeat_is_updated_not_duplicated() -> None:
    WorkerHeartbeat.objects.beat(hostname="celery@a", pid=1)
    WorkerHeartbeat.objects.stopped(hostname="celery@a")
    WorkerHeartbeat.objects.beat(hostname="celery@a", pid=2)
    heartbeat = WorkerHeartbeat.objects.get()
    assert heartbeat.pid == 2
    assert heartbeat.stopped_at is None
