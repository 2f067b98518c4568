from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# Fixtures that start the Calendly sandbox (portal/sandbox) for tests that need Calendly.
pytest_plugins = ["tests.sandbox_plugin"]

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# What the test command exports for the suite itself; a child process that should run like a
# fresh demo or a production deployment must not inherit it.
SUITE_ONLY_VARIABLES = (
    "PORTAL_ENV",
    "PORTAL_DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "ALLOWED_HOSTS",
    "DEBUG",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def clean_environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SUITE_ONLY_VARIABLES}
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a child process that runs like the README's demo, in its own folder."""
    return clean_environment(PORTAL_ENV="demo", PORTAL_DATA_DIR=str(tmp_path / "demo-data"))


@pytest.fixture(autouse=True)
def calendly_is_nowhere_by_default(settings: Any) -> None:
    """Nothing in the suite may reach the real Calendly: tests that need Calendly point these
    settings at a sandbox themselves (after this fixture, so theirs win); the rest find a
    closed port, which answers at once (the home page and /healthz look for Calendly)."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings.CALENDLY_API_URL = nowhere
    settings.CALENDLY_AUTH_URL = nowhere


# Hypothesis: the same examples on every run by default, so CI never fails on a draw that the
# next run would not repeat; HYPOTHESIS_PROFILE=explore draws new ones (and many more).
hypothesis_settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "explore",
    parent=hypothesis_settings.get_profile("ci"),
    derandomize=False,
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def no_learned_rate_limits() -> None:
    """Each test starts with no Calendly budget learned. The shared limiter keeps what it learns
    in Redis per Calendly user URI, and a sandbox's URIs repeat whenever its free port does: a
    slow ceiling learned by an earlier test (or run) would otherwise pace a later one."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return
    client = redis.Redis.from_url(url)
    try:
        stale = list(client.scan_iter(match="calendly:ratelimit:*", count=1000))
        if stale:
            client.delete(*stale)
    finally:
        client.close()
