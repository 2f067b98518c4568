from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone

from portal.accounts.models import Connection, Organization, Role
from portal.celery import app as celery_app
from portal.jobs.models import WorkerHeartbeat
from tests.conftest import clean_environment, free_port
from tests.core.test_settings import run_manage
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.9"  # TEST-NET-3: an address on no network of ours


@pytest.fixture(autouse=True)
def calendly_down() -> Iterator[None]:
    """Calendly at a port nothing listens on, unless a test starts the sandbox; and no answer
    remembered from an earlier test."""
    cache.clear()
    with override_settings(CALENDLY_API_URL=f"http://127.0.0.1:{free_port()}"):
        yield
    cache.clear()


@pytest.fixture
def calendly_up(sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    with override_settings(CALENDLY_API_URL=sandbox.url):
        yield sandbox


def connect(organization: Organization, status: str = Connection.Status.HEALTHY) -> Connection:
    return Connection.objects.create(
        organization=organization,
        kind=Connection.Kind.OAUTH,
        owner_uri="https://api.calendly.com/users/OWNER",
        access_token="a",
        status=status,
    )


def signed_in(role: Role) -> Client:
    """Someone of `role` signed in from outside this machine."""
    client = Client(REMOTE_ADDR=OUTSIDE)
    client.force_login(UserFactory(role=role))
    return client


def calendly_row(page: str) -> str:
    row = re.search(r'<th scope="row">Calendly</th>(.*?)</tr>', page, re.S)
    assert row is not None, page
    return row.group(1)


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


@pytest.mark.usefixtures("calendly_up")
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


@pytest.mark.usefixtures("calendly_up")
def test_a_broken_calendly_connection_shows_but_does_not_fail_health(
    client: Client, live_worker: WorkerHeartbeat
) -> None:
    connect(OrganizationFactory(), Connection.Status.NEEDS_REAUTHORIZATION)
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


def test_an_unreachable_calendly_shows_but_does_not_fail_health(
    client: Client, live_worker: WorkerHeartbeat
) -> None:
    connect(OrganizationFactory())

    response = client.get("/healthz")

    assert response.status_code == 200
    calendly = response.json()["checks"]["calendly"]
    assert calendly["ok"] is False
    assert calendly["required"] is False
    assert calendly["detail"].startswith("Calendly cannot be reached: ")
    assert "ConnectError" in calendly["detail"]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (60, "in the last minute"),
        (90, "in the last 90 seconds"),
        (300, "in the last 5 minutes"),
        (1, "in the last second"),
        (3600, "in the last hour"),
        (7200, "in the last 2 hours"),
    ],
)
def test_the_worker_line_says_how_long_the_portal_waited_for_a_heartbeat(
    client: Client, seconds: int, words: str
) -> None:
    with override_settings(WORKER_STALE_SECONDS=seconds):
        worker = client.get("/healthz").json()["checks"]["worker"]

    assert worker["detail"] == f"no worker has reported {words}"


def test_anonymous_callers_from_outside_learn_only_whether_the_portal_is_ok(
    live_worker: WorkerHeartbeat,
) -> None:
    connect(OrganizationFactory())
    client = Client(REMOTE_ADDR=OUTSIDE)

    healthz = client.get("/healthz")
    readyz = client.get("/readyz")

    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
    assert (readyz.status_code, readyz.json()) == (200, {"status": "ok"})
    body = healthz.content.decode()
    assert "calendly" not in body
    assert settings.CALENDLY_API_URL not in body


def test_a_failing_portal_still_answers_503_to_anonymous_callers_from_outside() -> None:
    response = Client(REMOTE_ADDR=OUTSIDE).get("/healthz")

    assert (response.status_code, response.json()) == (503, {"status": "failing"})


def test_a_forged_forwarded_for_header_does_not_make_a_caller_local() -> None:
    client = Client(REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1")

    assert "checks" not in client.get("/healthz").json()


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_callers_on_loopback_see_which_part_failed(address: str) -> None:
    checks = Client(REMOTE_ADDR=address).get("/healthz").json()["checks"]

    assert checks["worker"]["ok"] is False


def test_a_signed_in_admin_from_outside_sees_which_part_failed() -> None:
    checks = signed_in(Role.ADMIN).get("/healthz").json()["checks"]

    assert checks["worker"]["ok"] is False


def test_a_signed_in_member_who_is_not_an_admin_learns_only_the_status() -> None:
    assert signed_in(Role.VIEWER).get("/healthz").json() == {"status": "failing"}


@pytest.mark.parametrize(
    ("policy", "caller", "sees_details"),
    [
        ("loopback", "anonymous on loopback", True),
        ("loopback", "admin from outside", True),
        ("loopback", "anonymous from outside", False),
        ("admins", "anonymous on loopback", False),
        ("admins", "admin from outside", True),
        ("admins", "anonymous from outside", False),
        ("public", "anonymous on loopback", True),
        ("public", "admin from outside", True),
        ("public", "anonymous from outside", True),
    ],
)
def test_health_details_decides_who_sees_which_part_failed(
    policy: str, caller: str, sees_details: bool
) -> None:
    if caller == "admin from outside":
        client = signed_in(Role.ADMIN)
    else:
        client = Client(REMOTE_ADDR="127.0.0.1" if caller == "anonymous on loopback" else OUTSIDE)

    with override_settings(HEALTH_DETAILS=policy):
        healthz = client.get("/healthz")
        readyz = client.get("/readyz")

    assert healthz.status_code == 503
    assert ("checks" in healthz.json()) is sees_details
    assert ("checks" in readyz.json()) is sees_details


def test_the_portal_refuses_to_start_with_an_unknown_health_details_value(tmp_path: Path) -> None:
    env = clean_environment(
        PORTAL_ENV="demo", PORTAL_DATA_DIR=str(tmp_path), HEALTH_DETAILS="everyone"
    )

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "HEALTH_DETAILS must be one of loopback, admins, public" in result.stderr


def test_the_signed_out_home_page_names_no_part_of_the_deployment(client: Client) -> None:
    connect(OrganizationFactory())

    page = client.get("/").content.decode()

    assert "Sign in with Calendly" in page
    assert "Who it is for" in page
    assert settings.CALENDLY_API_URL not in page
    assert "organization(s) connected" not in page
    assert "Service status" not in page
    assert "<table" not in page


def test_a_member_who_is_not_an_admin_sees_no_service_status() -> None:
    connect(OrganizationFactory())

    page = signed_in(Role.SALES).get("/").content.decode()

    assert "Service status" not in page
    assert settings.CALENDLY_API_URL not in page
    assert "organization(s) connected" not in page


def test_an_admin_sees_the_service_status_on_the_home_page(
    calendly_up: RunningSandbox, live_worker: WorkerHeartbeat
) -> None:
    connect(OrganizationFactory())

    page = signed_in(Role.ADMIN).get("/").content.decode()

    assert "Service status" in page
    assert '<th scope="row">Worker</th>' in page
    assert f"{calendly_up.url}: 1 organization(s) connected" in calendly_row(page)
    assert "Working" in calendly_row(page)


def test_an_admin_home_page_says_when_calendly_cannot_be_reached(
    live_worker: WorkerHeartbeat,
) -> None:
    connect(OrganizationFactory())

    page = signed_in(Role.ADMIN).get("/").content.decode()

    row = calendly_row(page)
    assert "Calendly cannot be reached" in row
    assert "Not working" in row
    assert "Working" not in row
