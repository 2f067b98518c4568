from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from execnet import XSpec
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
def calendly_is_nowhere_by_default(settings: Any) -> Iterator[None]:
    """Nothing in the suite may reach the real Calendly: tests that need Calendly point these
    settings at a sandbox themselves (after this fixture, so theirs win); the rest find a
    closed port, which answers at once (the home page and /healthz look for Calendly)."""
    with socket.socket() as closed:
        # Bound but never listening: a connection is refused at once, and the port stays ours
        # for the whole test, so a sandbox started meanwhile by another xdist worker (or
        # another run on this machine) cannot be handed it and answer in Calendly's place.
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
        settings.CALENDLY_API_URL = nowhere
        settings.CALENDLY_AUTH_URL = nowhere
        yield


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


def redis_url_for_worker(url: str, index: int) -> str:
    """The Redis database `index` places after the one `url` names (db 0 when it names none)."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + index}"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: list[XSpec]) -> None:
    """Give each xdist worker its own Redis database and data folder, set in its environment
    before it starts: Django reads both while pytest-django starts up, before any conftest
    hook runs in the worker. Without this, the workers would share the cache (one worker's
    mirror generation seen by the other), the Celery queues and the filesystem broker's
    folder. gw0 keeps the database the run was given, gw1 the next one, so two runs side by
    side (CI on 14, someone on 5) stay apart. Test databases need nothing: pytest-django
    names them per worker (test_<name>_gw0)."""
    redis_url = os.environ.get("REDIS_URL")
    data_dir = Path(os.environ.get("PORTAL_DATA_DIR") or ROOT / "var")
    # execnet names the gateways gw0, gw1, ... in the order of these specs.
    for index, spec in enumerate(specs):
        if redis_url:
            spec.env["REDIS_URL"] = redis_url_for_worker(redis_url, index)
        spec.env["PORTAL_DATA_DIR"] = str(data_dir / f"gw{index}")
