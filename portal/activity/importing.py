"""Importing Calendly's activity log into `ActivityEntry`, one organization at a time.

The first import stores everything Calendly still keeps (90 days); each later one asks only
for entries from the newest one stored, less `OVERLAP`, and stores what it does not have yet
(deduplicated by URI in the database). Entries are asked for oldest first and stored a page at
a time, so an import that fails half-way keeps a gapless prefix and the next one resumes after
it; newest first would leave a hole below whatever was stored.

Every failure ends as data on the `ActivityImport` row, in words for the page: the
organization's plan lacking the activity log (Calendly offers it on Enterprise only and
answers 403 "Please upgrade your Calendly account to Enterprise."), a refused or missing
connection, Calendly failing. Nothing raises out of `import_activity`, so a scheduled import
never fails its Celery task; the next tick is the retry.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.utils import timezone

from portal import audit
from portal.accounts.connections import client_for, note_failure
from portal.accounts.models import Organization, User
from portal.activity.models import ActivityEntry, ActivityImport
from portal.calendly import schemas
from portal.calendly.client import PAGE_SIZE, CalendlyClient
from portal.calendly.errors import CalendlyError, UpgradeRequired, explain
from portal.core.text import storable

log = logging.getLogger(__name__)

# Calendly may write an entry a little after it occurred; asking again for the last minutes
# catches an entry that appeared behind the newest one stored. Duplicates are dropped by URI.
OVERLAP = timedelta(minutes=10)

COMMAND_ACTOR = "manage.py import_activity"
DOING = "reading Calendly's activity log"

INTERNAL_FAILURE = (
    "The import stopped on an error inside the portal (it is in the portal's log). The next "
    "import tries again from the newest entry stored."
)


def import_activity(
    organization: Organization,
    *,
    trigger: str,
    requested_by: User | None = None,
    client: CalendlyClient | None = None,
) -> ActivityImport:
    """Import what is new in the organization's activity log and return the finished run.

    `client` defaults to the organization's connection (`client_for`: its shared rate limit
    and token renewal). A run asked for by a person or the command is audited with its counts;
    a scheduled one is not (it would add a row every hour that says nothing new).
    """
    run = ActivityImport.objects.create(
        organization=organization, trigger=trigger, requested_by=requested_by
    )
    newest = ActivityEntry.objects.filter(organization=organization).aggregate(
        newest=Max("occurred_at")
    )["newest"]
    run.since = newest - OVERLAP if newest else None
    try:
        if client is None:
            with client_for(organization) as own:
                _read(run, own)
        else:
            _read(run, client)
        run.status = ActivityImport.Status.SUCCEEDED
    except UpgradeRequired as error:
        run.status = ActivityImport.Status.NOT_ON_PLAN
        run.error = explain(error, doing="Calendly's activity log")
    except CalendlyError as error:
        note_failure(organization, error)
        run.status = ActivityImport.Status.FAILED
        run.error = explain(error, doing=DOING)
    except Exception:
        log.exception("Importing the activity log of %s failed", organization)
        run.status = ActivityImport.Status.FAILED
        run.error = INTERNAL_FAILURE
    run.finished_at = timezone.now()
    run.save()
    if trigger != ActivityImport.Trigger.SCHEDULE:
        _audit(run)
    return run


def _read(run: ActivityImport, client: CalendlyClient) -> None:
    entries = client.list_activity_log_entries(
        organization=run.organization.uri,
        min_occurred_at=run.since,
        sort=["occurred_at:asc"],
    )
    for page in itertools.batched(entries, PAGE_SIZE):
        new = store(run.organization, page)
        run.new += new
        run.already_had += len(page) - new


def store(organization: Organization, entries: Iterable[schemas.ActivityLogEntry]) -> int:
    """Store the entries not stored yet and return how many were new."""
    now = timezone.now()
    rows: dict[str, ActivityEntry] = {}
    for entry in entries:
        row = _row(organization, entry, now)
        rows.setdefault(row.uri, row)
    had = set(
        ActivityEntry.objects.filter(organization=organization, uri__in=rows).values_list(
            "uri", flat=True
        )
    )
    fresh = [row for uri, row in rows.items() if uri not in had]
    # A concurrent import may store the same entry between the read above and this insert.
    ActivityEntry.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


def _row(
    organization: Organization, entry: schemas.ActivityLogEntry, now: datetime
) -> ActivityEntry:
    actor = entry.actor
    return ActivityEntry(
        organization=organization,
        uri=storable(entry.uri),  # indexed (unique): cut to what an index entry can hold
        occurred_at=entry.occurred_at,
        namespace=_whole(entry.namespace),
        action=_whole(entry.action),
        actor_type=_whole(actor.type) if actor else "",
        actor_uri=_maybe(actor.uri) if actor else None,
        actor_name=_maybe(actor.display_name) if actor else None,
        actor_email=_maybe(actor.alternative_identifier) if actor else None,
        details=_json(entry.details),
        imported_at=now,
    )


def _whole(value: str | None) -> str:
    """Text kept whole, without what PostgreSQL cannot hold (NUL, lone surrogates)."""
    return storable(value, max_bytes=sys.maxsize)


def _maybe(value: str | None) -> str | None:
    return None if value is None else _whole(value)


def _json(value: Any) -> Any:
    """A JSON value PostgreSQL's jsonb accepts: it refuses NUL (\\u0000) in keys and strings."""
    if isinstance(value, str):
        return _whole(value)
    if isinstance(value, dict):
        return {_whole(str(key)): _json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value


def _audit(run: ActivityImport) -> None:
    audit.record(
        action=audit.Action.ACTIVITY_IMPORTED,
        organization=run.organization,
        actor=run.requested_by,
        actor_label="" if run.requested_by else COMMAND_ACTOR,
        target_type="activity import",
        target_id=run.pk,
        target_label=f"Import of {run.started_at:%Y-%m-%d %H:%M} UTC",
        after={
            "status": run.status,
            "new": run.new,
            "already_had": run.already_had,
            "since": run.since.isoformat() if run.since else None,
            **({"error": run.error} if run.error else {}),
        },
    )


def last_import(organization_id: int) -> ActivityImport | None:
    """The newest finished import of the organization, for the page."""
    return (
        ActivityImport.objects.filter(organization_id=organization_id)
        .exclude(status=ActivityImport.Status.RUNNING)
        .first()
    )


def running_import(organization_id: int) -> ActivityImport | None:
    """An import started in the last hour and not finished (older ones lost their worker)."""
    return ActivityImport.objects.filter(
        organization_id=organization_id,
        status=ActivityImport.Status.RUNNING,
        started_at__gte=timezone.now() - timedelta(hours=1),
    ).first()
