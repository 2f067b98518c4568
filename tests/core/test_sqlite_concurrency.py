"""The demo runs its web server and worker on one SQLite file; concurrent writers must wait
for each other instead of failing with "database is locked"."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PYTHON, ROOT

WORKERS, WRITES = 16, 25


def run_writers(mode: str, demo_env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [
            PYTHON,
            str(Path(__file__).with_name("sqlite_writers.py")),
            mode,
            str(WORKERS),
            str(WRITES),
        ],
        cwd=ROOT,
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.slow
def test_sixteen_concurrent_writers_lose_nothing_on_the_demo_database(
    demo_env: dict[str, str],
) -> None:
    report = run_writers("IMMEDIATE", demo_env)
    assert report["errors"] == []
    assert report["rows"] == WORKERS * WRITES


@pytest.mark.slow
def test_the_same_load_fails_with_deferred_transactions(demo_env: dict[str, str]) -> None:
    # The control: without IMMEDIATE the workload above does hit "database is locked",
    # so the test above would notice if the setting were lost.
    report = run_writers("DEFERRED", demo_env)
    errors = report["errors"]
    assert isinstance(errors, list)
    assert errors
    assert all("locked" in error for error in errors)
