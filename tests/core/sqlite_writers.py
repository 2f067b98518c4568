"""Many processes writing to the demo's SQLite file at once (run by test_sqlite_concurrency).

Usage: python tests/core/sqlite_writers.py MODE WORKERS WRITES, with PORTAL_ENV=demo and
PORTAL_DATA_DIR set. MODE overrides the transaction mode ("IMMEDIATE" is the portal's).
Prints a JSON line: {"errors": [...], "rows": N}.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time


def setup(mode: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.conf import settings

    settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] = mode
    import django

    django.setup()


def writer(mode: str, worker: int, writes: int) -> list[str]:
    setup(mode)
    from django.db import OperationalError, transaction

    from portal.jobs.models import Probe

    errors = []
    for index in range(writes):
        try:
            # Read, then write in the same transaction: the pattern that fails with
            # "database is locked" when two deferred transactions both try to upgrade.
            with transaction.atomic():
                Probe.objects.filter(completed_by__startswith=f"{worker}-").count()
                time.sleep(0.002)
                Probe.objects.create(completed_by=f"{worker}-{index}")
        except OperationalError as exc:
            errors.append(str(exc))
    return errors


def main() -> None:
    mode, workers, writes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    setup(mode)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from portal.jobs.models import Probe

    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        results = pool.starmap(writer, [(mode, worker, writes) for worker in range(workers)])
    errors = [error for result in results for error in result]
    print(json.dumps({"errors": errors, "rows": Probe.objects.count()}))


if __name__ == "__main__":
    main()
