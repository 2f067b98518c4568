"""The README's first command, run as a person would: the portal and a real worker come up,
the URL is printed last once everything is ready, a background task goes through the worker,
and Ctrl+C stops everything."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PYTHON, ROOT, free_port

pytestmark = pytest.mark.slow


def follow(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


def wait_for_line(lines: queue.Queue[str], needle: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} not printed within {timeout}s:\n{''.join(seen)}")


def printed_within(lines: queue.Queue[str], seconds: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            seen.append(lines.get(timeout=left))
        except queue.Empty:
            break
    return seen


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def test_demo_command_serves_the_portal_runs_background_tasks_and_stops_cleanly(
    demo_env: dict[str, str],
) -> None:
    port, sandbox_port = free_port(), free_port()
    data_dir = demo_env["PORTAL_DATA_DIR"]
    demo = subprocess.Popen(
        [str(ROOT / "scripts" / "demo"), "--port", str(port), "--sandbox-port", str(sandbox_port)],
        cwd=ROOT,
        env=demo_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=follow, args=(demo.stdout, lines), daemon=True).start()
    try:
        output = wait_for_line(lines, f"Portal running at http://127.0.0.1:{port}/", 240)
        # The URL is the last thing printed: nothing follows it until someone uses the portal,
        # no worker or beat start-up line in particular.
        assert printed_within(lines, 3) == []
        printed = "".join(output)

        # Printed once everything is up: /healthz is 200 only when the worker has reported in.
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        checks = health.json()["checks"]
        assert checks["database"]["ok"]
        assert checks["database"]["detail"] == "sqlite"
        assert checks["worker"]["ok"]
        assert checks["broker"]["detail"] == "filesystem"

        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200

        # The sandbox runs a seeded organization, its printed token works, and the portal's
        # processes talk to it instead of api.calendly.com.
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        token = re.search(rf"Calendly sandbox at {sandbox_url} .*token: (\S+)", printed)
        assert token is not None, printed
        me = httpx.get(
            f"{sandbox_url}/users/me",
            headers={"Authorization": f"Bearer {token.group(1)}"},
            timeout=10,
        )
        assert me.status_code == 200
        assert me.json()["resource"]["current_organization"].startswith(sandbox_url)
        assert checks["calendly"]["detail"].startswith(f"{sandbox_url}:")
        assert "1 organization(s) connected" in checks["calendly"]["detail"]
        assert "Connected " in printed

        # The first sync of the demo organization ran in the background worker, before the
        # URL was printed: the first page opened shows the whole organization.
        count_members = (
            "from portal.directory.models import Member, SyncRun\n"
            "synced = SyncRun.objects.filter(status='succeeded').count()\n"
            "print(Member.objects.current().count(), synced)"
        )
        assert django_shell(demo_env, count_members).split()[-2:] == ["250", "1"]

        # The members list's own SQL (a window-counted page, its scalars, timestamps) runs on
        # SQLite too.
        members_page = (
            "from django.test import Client\n"
            "from django.test.utils import setup_test_environment\n"
            "from portal.accounts.models import Organization, User\n"
            "setup_test_environment()\n"
            "org = Organization.objects.get()\n"
            "admin = User.objects.create(username='demo-check', organization=org,"
            " calendly_role='admin')\n"
            "client = Client(SERVER_NAME='127.0.0.1')\n"
            "client.force_login(admin)\n"
            "page = client.get('/members/?q=a&sort=-joined&page=2')\n"
            "results = page.context['list'].page\n"
            "print('PAGE', page.status_code, len(results.rows), results.count, results.total,"
            " results.rows[0].calendly_created_at.utcoffset().total_seconds(),"
            " page.context['latest_sync'].status)\n"
        )
        shown = django_shell(demo_env, members_page)
        page = re.findall(r"^PAGE (.*)$", shown, re.M)[-1].split()
        status, rows, count, total, offset, synced = page
        assert (status, rows, total, offset, synced) == (
            "200",
            "50",
            "250",
            "0.0",
            "succeeded",
        ), shown
        assert 100 < int(count) <= 250, shown

        # A task submitted from another process, like a page would, through the broker.
        probe = subprocess.run(
            [PYTHON, "manage.py", "probe_worker", "--timeout", "60"],
            cwd=ROOT,
            env=demo_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert "completed by demo@" in probe.stdout

        # A bulk invitation job, queued from the shell, done by the demo's worker on SQLite.
        addresses = Path(data_dir) / "team.csv"
        addresses.write_text("email\n" + "".join(f"demo.hire{n}@example.com\n" for n in range(5)))
        queued = subprocess.run(
            [PYTHON, "manage.py", "bulk_invite", str(addresses)],
            cwd=ROOT,
            env=demo_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert queued.returncode == 0, queued.stdout + queued.stderr
        job_id = int(queued.stdout.split()[-1])
        job_state = (
            "from portal.jobs.models import Job\n"
            f"job = Job.objects.get(pk={job_id})\n"
            "print('JOB', job.state, job.succeeded, job.failed)\n"
        )
        deadline = time.monotonic() + 90
        while True:
            state = re.findall(r"^JOB (.*)$", django_shell(demo_env, job_state), re.M)[-1]
            if state.startswith("done") or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert state == "done 5 0", state
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            returncode = demo.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    output += list(lines.queue)
    printed = "".join(output)
    assert returncode == 0, printed
    assert "Stopping the demo" in printed
    # A part that crashed in the background (the worker, beat, the server) prints a traceback
    # even when the rest carries on.
    assert "Traceback" not in printed, printed
    assert "beat: Starting" in printed
    # Celery's start-up banners are left out; its log lines say what it does.
    for banner in ("[tasks]", "[queues]", "celery beat v", "LocalTime ->"):
        assert banner not in printed, printed
    # Nothing is left behind: no worker (its beat schedule lives in the data folder) and no
    # dev server on the port.
    time.sleep(0.5)
    assert processes_mentioning(data_dir) == []
    assert processes_mentioning(f"runserver 127.0.0.1:{port}") == []
    assert processes_mentioning(f"--port {sandbox_port}") == []
    assert (Path(data_dir) / "portal.sqlite3").exists()


def test_demo_database_uses_write_ahead_logging(demo_env: dict[str, str]) -> None:
    script = (
        "from django.db import connection\n"
        "cursor = connection.cursor(); cursor.execute('PRAGMA journal_mode')\n"
        "print(cursor.fetchone()[0])"
    )
    assert django_shell(demo_env, script).strip().splitlines()[-1] == "wal"


def django_shell(env: dict[str, str], script: str) -> str:
    """What `manage.py shell -c script` prints, run with the demo's settings."""
    return subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
