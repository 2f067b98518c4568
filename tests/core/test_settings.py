"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import PYTHON, ROOT, clean_environment

PRODUCTION = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-" + "y" * 30,
    "FIELD_ENCRYPTION_KEY": "m3dW0mGm0N0JtqCPWUpTfZpJqR1Gq2sXhQ7nC8yFv1w=",
    "ALLOWED_HOSTS": "portal.example.com",
    # A database that answers: some checks (generated columns) ask the server its version.
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    "REDIS_URL": "redis://redis.example.com:6379/0",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_passes_with_production_settings() -> None:
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env=clean_environment(**PRODUCTION)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_on_demo_settings(tmp_path: Path) -> None:
    # The check itself must be able to fail: the demo runs with DEBUG on and plain cookies.
    env = clean_environment(PORTAL_ENV="demo", PORTAL_DATA_DIR=str(tmp_path))
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "DEBUG" in result.stderr + result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = clean_environment(**{k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_is_the_default_environment() -> None:
    env = clean_environment()
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_to_start_without_the_encryption_key() -> None:
    env = clean_environment(**{k: v for k, v in PRODUCTION.items() if k != "FIELD_ENCRYPTION_KEY"})
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr


def test_demo_creates_its_secret_key_once_and_keeps_it(tmp_path: Path) -> None:
    env = clean_environment(PORTAL_ENV="demo", PORTAL_DATA_DIR=str(tmp_path))
    script = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_manage("shell", "-c", script, env=env)
    second = run_manage("shell", "-c", script, env=env)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip().splitlines()[-1]
    assert key == second.stdout.strip().splitlines()[-1]
    assert len(key) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_malformed_boolean_is_refused_with_the_variable_named() -> None:
    env = clean_environment(**PRODUCTION, DEBUG="sometimes")
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def variables_read_by_settings() -> set[str]:
    source = (ROOT / "portal" / "settings.py").read_text()
    pattern = (
        r'(?:env_str|env_bool|env_int|env_list|required_in_production|environ\.get)\(\s*"([A-Z_]+)"'
    )
    return set(re.findall(pattern, source))


def test_env_example_lists_every_variable_the_settings_read() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", example, flags=re.MULTILINE))
    read = variables_read_by_settings()
    assert read, "the settings read no variables: the pattern above is out of date"
    assert read - documented == set(), "missing from .env.example"
    assert documented - read == set(), ".env.example lists variables nothing reads"


def test_every_variable_in_env_example_has_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^#?\s*[A-Z_]+=", line):
            assert index > 0, f"no comment above {line!r}"
            assert lines[index - 1].startswith("# "), f"no comment above {line!r}"


def test_a_wake_up_countdown_that_could_outlive_the_visibility_timeout_is_refused() -> None:
    # Redis hands an unacknowledged message to another worker after the visibility timeout;
    # a countdown past it would run the same wake-up again and again (celery#2599).
    result = run_manage(
        "check",
        env=clean_environment(
            **PRODUCTION, CELERY_VISIBILITY_TIMEOUT="600", JOB_LONGEST_WAKE_DELAY="400"
        ),
    )
    assert result.returncode != 0
    assert "JOB_LONGEST_WAKE_DELAY must be under half the visibility timeout" in result.stderr


def test_a_slice_and_lease_longer_than_a_task_may_run_are_refused() -> None:
    result = run_manage(
        "check",
        env=clean_environment(
            **PRODUCTION, CELERY_VISIBILITY_TIMEOUT="600", JOB_SLICE_SECONDS="200"
        ),
    )
    assert result.returncode != 0
    assert "must fit in the task time limit" in result.stderr
