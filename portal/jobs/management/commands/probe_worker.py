from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from portal.jobs.models import Probe
from portal.jobs.tasks import complete_probe


class Command(BaseCommand):
    help = "Send a trivial task through the broker and wait until a worker completes it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")

    def handle(self, *args: Any, timeout: float, **options: Any) -> None:
        with transaction.atomic():
            probe = Probe.objects.create()
            complete_probe.delay_on_commit(probe.pk)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            probe.refresh_from_db()
            if probe.completed_at is not None:
                elapsed = time.monotonic() - started
                self.stdout.write(
                    f"Probe {probe.pk} completed by {probe.completed_by or 'a worker'} "
                    f"in {elapsed:.1f}s"
                )
                return
            time.sleep(0.2)
        raise CommandError(
            f"No worker completed probe {probe.pk} within {timeout:.0f}s. "
            "Is a worker running against the same broker and database?"
        )
