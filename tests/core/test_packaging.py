"""Production packaging cannot be run here (no Docker engine), so these tests check that
docker-compose.yml and the Dockerfile refer only to things that exist in the project."""

from __future__ import annotations

import importlib
import re
import shlex
from typing import Any

import pytest
import yaml
from django.core.management import get_commands

from tests.conftest import ROOT
from tests.core.test_settings import variables_read_by_settings

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def command_words(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return list(command) if isinstance(command, list) else shlex.split(command)


def test_compose_runs_the_five_services_with_health_checks() -> None:
    assert set(SERVICES) == {"postgres", "redis", "web", "worker", "beat"}
    for name, service in SERVICES.items():
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_portal_services_build_this_project_and_read_the_env_file() -> None:
    assert (ROOT / "Dockerfile").exists()
    for name in ("web", "worker", "beat"):
        service = SERVICES[name]
        assert service["build"] == "."
        assert service["env_file"] == ".env"
        assert set(service["depends_on"]) == {"postgres", "redis"}


def test_web_migrates_then_serves_the_wsgi_application_with_gunicorn() -> None:
    words = command_words(SERVICES["web"])
    script = " ".join(words)
    assert script.index("manage.py migrate") < script.index("gunicorn")
    target = re.search(r"gunicorn (\S+)", script)
    assert target is not None
    module, attribute = target.group(1).split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert "migrate" in get_commands()


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_celery_services_point_at_the_portal_celery_app(name: str) -> None:
    words = command_words(SERVICES[name])
    assert words[0] == "celery"
    app = words[words.index("--app") + 1]
    celery_module = importlib.import_module(f"{app}.celery")
    assert celery_module.app.main == app
    assert words[words.index("--app") + 2] == name


def test_the_static_files_are_served_by_whitenoise_in_production() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile
    from django.conf import settings

    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE


def test_every_file_the_dockerfile_copies_exists() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_env_file_defines_what_production_requires() -> None:
    example = (ROOT / ".env.example").read_text()
    for name in (
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "ALLOWED_HOSTS",
    ):
        assert re.search(rf"^{name}=", example, re.MULTILINE), name
    # The database URL in the example points at the compose service and its credentials.
    database_url = re.search(r"^DATABASE_URL=(\S+)", example, re.MULTILINE)
    assert database_url is not None
    postgres = SERVICES["postgres"]["environment"]
    assert database_url.group(1) == (
        f"postgres://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    redis_url = re.search(r"^REDIS_URL=(\S+)", example, re.MULTILINE)
    assert redis_url is not None
    assert redis_url.group(1).startswith("redis://redis:6379")


def test_compose_only_names_variables_the_settings_read() -> None:
    named: set[str] = set()
    for name in ("web", "worker", "beat"):
        named |= set(SERVICES[name].get("environment", {}) or {})
    assert named <= variables_read_by_settings()


def test_container_health_checks_use_endpoints_that_exist() -> None:
    check = " ".join(SERVICES["web"]["healthcheck"]["test"])
    path = re.search(r"127\.0\.0\.1:8000(/\w+)", check)
    assert path is not None
    assert path.group(1) in ("/readyz", "/healthz")
    from django.urls import resolve

    assert resolve(path.group(1)).url_name == path.group(1).strip("/")


def test_redis_never_evicts_queued_work() -> None:
    assert "noeviction" in command_words(SERVICES["redis"])
