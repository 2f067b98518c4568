"""What /healthz and /readyz report: one small function per part the portal depends on."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from portal.accounts.models import Connection
from portal.calendly.reachability import calendly_reachability
from portal.celery import app as celery_app
from portal.jobs.models import WorkerHeartbeat


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_database() -> Check:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return Check("database", False, f"cannot query the database: {type(exc).__name__}")
    return Check("database", True, connections[DEFAULT_DB_ALIAS].vendor)


def check_migrations() -> Check:
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return Check("migrations", False, f"cannot read migrations: {type(exc).__name__}")
    if pending:
        return Check("migrations", False, f"{len(pending)} not applied: run manage.py migrate")
    return Check("migrations", True, "all applied")


def check_broker() -> Check:
    transport = celery_app.conf.broker_url.split("://", 1)[0]
    try:
        with celery_app.connection_for_write(connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    except Exception as exc:
        return Check("broker", False, f"{transport} broker unreachable: {type(exc).__name__}")
    return Check("broker", True, transport)


# Largest first: a span is said in the largest unit that divides it exactly.
SPAN_UNITS = (("hour", 3600), ("minute", 60), ("second", 1))


def last_span(seconds: int) -> str:
    """60 -> "the last minute", 90 -> "the last 90 seconds", 300 -> "the last 5 minutes"."""
    unit, size = next((unit, size) for unit, size in SPAN_UNITS if seconds % size == 0)
    count = seconds // size
    return f"the last {unit}" if count == 1 else f"the last {count} {unit}s"


def check_worker() -> Check:
    alive = WorkerHeartbeat.objects.alive().count()
    if not alive:
        span = last_span(settings.WORKER_STALE_SECONDS)
        return Check("worker", False, f"no worker has reported in {span}")
    return Check("worker", True, f"{alive} alive")


def check_calendly() -> Check:
    # Informational: a revoked grant is an admin's job to fix (the pages say so), and an outage
    # at Calendly leaves every page readable from the mirror; neither is a reason for the load
    # balancer to take the portal out of service.
    reachability = calendly_reachability()
    if not reachability.reachable:
        return Check(
            "calendly", False, f"Calendly cannot be reached: {reachability.detail}", required=False
        )
    statuses = list(Connection.objects.values_list("status", flat=True))
    broken = sum(status != Connection.Status.HEALTHY for status in statuses)
    if not statuses:
        detail = f"{settings.CALENDLY_API_URL}: no organization connected yet"
    else:
        detail = (
            f"{settings.CALENDLY_API_URL}: {len(statuses)} organization(s) connected, "
            f"{broken} need(s) attention"
        )
    return Check("calendly", broken == 0, detail, required=False)


def health() -> list[Check]:
    database = check_database()
    if not database.ok:
        # Without the database nothing else can be read; say so once rather than five times.
        return [database]
    return [database, check_migrations(), check_broker(), check_worker(), check_calendly()]


def readiness() -> list[Check]:
    database = check_database()
    return [database, check_migrations()] if database.ok else [database]
