"""Processing stored deliveries: each exactly once, whoever gets to it first.

A delivery is processed by the task its receiver published, or by the sweep when that task
was lost (the broker down when it was sent). Both call `process()`, which claims the row
(`SELECT … FOR UPDATE SKIP LOCKED` on a row still `received`) and runs the handler in the same
transaction as the status change: a second task, a sweep or a repeat of the message finds the
row taken or done and does nothing, and a worker that dies mid-way leaves the row `received`
for the next try.

A handler that raises is an error in the portal or in the data, not in delivery: the attempt
is counted and the message kept, and after `WEBHOOK_PROCESS_ATTEMPTS` the delivery is marked
failed with the reason, for an admin to read and reprocess from the delivery log.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.webhooks.handlers import HANDLERS, NOT_HANDLED, Unprocessable, organization_of
from portal.webhooks.models import Delivery

log = logging.getLogger(__name__)

# A delivery the portal sent itself from the delivery log's "Send test delivery" carries this
# header: it is checked and stored like any other, and processing leaves the mirror, the
# ledger and the feeds alone (its sample data describes no real booking).
TEST_HEADER = "X-Portal-Test-Delivery"
TEST_OUTCOME = "A test delivery: signature checked and stored; nothing applied."
# Rows one sweep processes before handing over to the next tick.
SWEEP_BATCH = 500


def process(delivery_id: int) -> bool:
    """Process one delivery if it still waits; True when this call did it."""
    with transaction.atomic():
        row = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=Delivery.Status.RECEIVED)
            .first()
        )
        if row is None:
            return False
        row.attempts += 1
        try:
            with transaction.atomic():
                outcome = _handle(row)
        except Unprocessable as refused:
            row.status = Delivery.Status.FAILED
            row.outcome = str(refused)
        except Exception as error:  # a bug or bad data: kept for the log, tried again later
            log.exception("Processing webhook delivery %s (%s) failed", row.pk, row.event)
            row.outcome = f"Processing failed: {type(error).__name__}: {error}"
            if row.attempts >= settings.WEBHOOK_PROCESS_ATTEMPTS:
                row.status = Delivery.Status.FAILED
        else:
            row.status = Delivery.Status.PROCESSED
            row.outcome = outcome
        row.processed_at = timezone.now()
        row.save(update_fields=["status", "outcome", "attempts", "processed_at", "organization"])
        return row.status != Delivery.Status.RECEIVED


def _handle(row: Delivery) -> str:
    body = json.loads(bytes(row.body))
    if row.organization_id is None:
        # Sent to the OAuth app's shared address: the log shows it to the organization whose
        # member made the subscription, once known.
        row.organization = organization_of(row, body)
    if row.headers.get(TEST_HEADER):
        return TEST_OUTCOME
    handler = HANDLERS.get(row.event)
    if handler is None:
        return NOT_HANDLED
    return handler(row, body)


def waiting(*, older_than: float) -> list[int]:
    """Deliveries still to process that their own task should have reached by now."""
    before = timezone.now() - timedelta(seconds=older_than)
    return list(
        Delivery.objects.filter(status=Delivery.Status.RECEIVED, received_at__lte=before)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )


def sweep(*, older_than: float | None = None) -> int:
    """Process what waits (oldest first); how many this call processed."""
    grace = settings.WEBHOOK_SWEEP_SECONDS if older_than is None else older_than
    done = 0
    while batch := waiting(older_than=grace):
        progressed = sum(process(pk) for pk in batch)
        done += progressed
        if not progressed:
            break  # every row left is held by another worker or keeps failing for now
    return done


def reprocess(delivery: Delivery) -> bool:
    """An admin's "Process again" of a failed delivery."""
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.FAILED).update(
        status=Delivery.Status.RECEIVED, attempts=0
    )
    return process(delivery.pk)
