"""Fixtures for the tests that run real worker processes (test_workers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.workers import PrivateRedis, WorkerPool, private_redis
from tests.sandbox_plugin import RunningSandbox

type StartWorkers = Callable[..., WorkerPool]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    directory = tmp_path / "redis"
    directory.mkdir()
    with private_redis(directory) as server:
        yield server


@pytest.fixture
def start_workers(
    transactional_db: None, own_redis: PrivateRedis, tmp_path: Path
) -> Iterator[StartWorkers]:
    """Starts a pool against a sandbox; stops it before the database is flushed (the workers'
    connections would otherwise hold the flush up) and fails the test if any process of it
    is left."""
    pools: list[WorkerPool] = []

    def start(sandbox: RunningSandbox, **kwargs: Any) -> WorkerPool:
        pool = WorkerPool(
            redis_url=own_redis.url,
            calendly_url=sandbox.url,
            directory=tmp_path / f"pool{len(pools)}",
            **kwargs,
        )
        pools.append(pool)
        return pool.start()

    yield start
    for pool in pools:
        pool.stop()
