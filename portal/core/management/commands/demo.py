"""Runs the whole portal on one machine for a demo: the Calendly sandbox with a seeded
organization, migrations, a Celery worker and beat on the Redis-free filesystem broker, and the
dev server, all pointed at the sandbox. Ctrl+C (or SIGTERM) stops everything.

The parts' output passes through this command, a line at a time, so their lines never mix and
the portal's URL is the last thing printed once the demo is ready: the server answers, the
worker has reported in and the first sync of the demo organization is done, so the first page
opened shows a populated organization. Celery's start-up banners are left out (--quiet).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from types import FrameType
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.directory.models import SyncRun
from portal.jobs.models import WorkerHeartbeat

# Once ready, the URL waits until the parts have printed nothing for this long (their last
# start-up lines can trail the moment the database says they are ready), but no longer than
# SETTLE_LIMIT.
QUIET_SECONDS = 0.5
SETTLE_LIMIT = 5.0


class Command(BaseCommand):
    help = "Run the portal in demo mode (SQLite, a background worker without Redis, dev server)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8765)
        parser.add_argument(
            "--members", type=int, default=250, help="size of the demo organization"
        )
        parser.add_argument("--ready-timeout", type=float, default=60.0)

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        sandbox_port: int,
        members: int,
        ready_timeout: float,
        **opts: Any,
    ) -> None:
        if settings.PORTAL_ENV != "demo":
            raise CommandError("The demo runs with PORTAL_ENV=demo; start it with scripts/demo.")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"Database ready: {settings.DATABASES['default']['NAME']}")

        self.children: list[tuple[str, subprocess.Popen[str]]] = []
        self.relays: list[threading.Thread] = []
        self.output: queue.Queue[str] = queue.Queue()
        self.child_env: dict[str, str] = dict(os.environ)
        self.stopping = False
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            sandbox_url = f"http://{host}:{sandbox_port}"
            self._start(
                "sandbox",
                [
                    *("manage.py", "sandbox", "--host", host, "--port", str(sandbox_port)),
                    *("--members", str(members), "--seed", "1"),
                ],
            )
            self._wait_until_ready(f"{sandbox_url}/_sandbox/info", ready_timeout)
            sandbox = self._read_json(f"{sandbox_url}/_sandbox/info")
            # Every part of the portal talks to the sandbox as if it were Calendly.
            self.child_env = {
                **os.environ,
                "CALENDLY_API_URL": sandbox_url,
                "CALENDLY_AUTH_URL": sandbox_url,
                "CALENDLY_CLIENT_ID": sandbox["client_id"],
                "CALENDLY_CLIENT_SECRET": sandbox["client_secret"],
                "CALENDLY_WEBHOOK_SIGNING_KEY": sandbox["webhook_signing_key"],
                # Webhook subscriptions made in the demo point at this portal's receiver, which
                # the sandbox reaches on the same machine.
                "PORTAL_BASE_URL": f"http://{host}:{port}",
            }
            self.stdout.write(
                f"Calendly sandbox at {sandbox_url} with {members} members; "
                f"owner's personal access token: {sandbox['owner_token']}"
            )
            # Connect the demo organization with the owner's token; the first sync waits in
            # the queue for the worker started next. Signing in as anyone from the sandbox's
            # consent page then shows a populated organization.
            connected = subprocess.run(
                [sys.executable, "manage.py", "connect", "--token", sandbox["owner_token"]],
                cwd=settings.BASE_DIR,
                env=self.child_env,
                capture_output=True,
                text=True,
                check=False,
            )
            if connected.returncode:
                raise CommandError(f"Connecting the demo organization failed:\n{connected.stderr}")
            self.stdout.write(connected.stdout.strip())
            self._start(
                "worker",
                [
                    *("-m", "celery", "--quiet", "--app", "portal", "worker"),
                    *("--concurrency", "2", "--loglevel", "INFO", "--hostname", "demo@%h"),
                ],
            )
            # Beat runs on its own, as in production: embedded in the worker (--beat) it opens
            # its schedule file across a fork, which Python 3.13's sqlite-backed shelve rejects.
            self._start(
                "beat",
                [
                    *("-m", "celery", "--quiet", "--app", "portal", "beat", "--loglevel", "INFO"),
                    *("--schedule", str(settings.DATA_DIR / "celerybeat-schedule")),
                ],
            )
            self._start("web", ["manage.py", "runserver", f"{host}:{port}", "--noreload"])
            url = f"http://{host}:{port}/"
            self._wait_until_ready(url + "readyz", ready_timeout)
            self._wait_for_the_first_sync(ready_timeout)
            self._wait_until_quiet()
            self.stdout.write(self.style.SUCCESS(f"Portal running at {url}  (Ctrl+C to stop)"))
            self._supervise()
        finally:
            self._stop_all()

    def _start(self, name: str, arguments: list[str]) -> None:
        # A session of its own: Ctrl+C reaches only this supervisor, which then stops the
        # children in order instead of each reacting to the terminal's signal on its own.
        process = subprocess.Popen(
            [sys.executable, *arguments],
            cwd=settings.BASE_DIR,
            env={**self.child_env, "PYTHONUNBUFFERED": "1"},  # each line as it is written
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        relay = threading.Thread(target=self._relay, args=(process.stdout,), daemon=True)
        relay.start()
        self.relays.append(relay)
        self.children.append((name, process))

    def _relay(self, stream: IO[str]) -> None:
        for line in stream:
            self.output.put(line)

    def _pass_on_output(self, seconds: float) -> bool:
        """Print what the parts write during the next `seconds`; whether they wrote anything."""
        deadline = time.monotonic() + seconds
        printed = False
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.output.get(timeout=left)
            except queue.Empty:
                break
            self.stdout.write(line, ending="")
            printed = True
        self.stdout.flush()
        return printed

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _wait_until_ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            self._fail_if_a_child_died()
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own loopback URL)
                    return
            except (urllib.error.URLError, OSError):
                self._pass_on_output(0.25)
        if not self.stopping:
            raise CommandError(f"The portal did not answer {url} within {timeout:.0f}s.")

    def _wait_for_the_first_sync(self, timeout: float) -> None:
        """Until the worker has reported in and no sync waits or runs (one that failed says
        so on the page)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            self._fail_if_a_child_died()
            if (
                WorkerHeartbeat.objects.alive().exists()
                and not SyncRun.objects.filter(status__in=SyncRun.ACTIVE).exists()
            ):
                return
            self._pass_on_output(0.25)
        if not self.stopping:
            raise CommandError(f"The worker did not sync the organization within {timeout:.0f}s.")

    def _wait_until_quiet(self) -> None:
        deadline = time.monotonic() + SETTLE_LIMIT
        while time.monotonic() < deadline and self._pass_on_output(QUIET_SECONDS):
            pass

    def _read_json(self, url: str) -> dict[str, str]:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own sandbox)
            data: dict[str, str] = json.load(response)
        return data

    def _supervise(self) -> None:
        while not self.stopping:
            self._fail_if_a_child_died()
            self._pass_on_output(0.25)
        self.stdout.write("Stopping the demo…")

    def _fail_if_a_child_died(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise CommandError(f"The {name} process exited with code {process.returncode}.")

    def _stop_all(self) -> None:
        for _, process in self.children:
            if process.poll() is None:
                process.terminate()
        # The worker finishes its running tasks first (soft shutdown); then it is killed.
        deadline = time.monotonic() + settings.CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT + 10
        for name, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {name} process did not stop in time; killing it.")
                process.kill()
                process.wait()
            # The worker's pool processes and embedded beat can outlive its main process by a
            # moment; each child leads its own process group, so clear what is left of it.
            self._end_process_group(process.pid)
        # What the parts printed while stopping, a crash's traceback included, comes last.
        for relay in self.relays:
            relay.join(timeout=5)
        while not self.output.empty():
            self.stdout.write(self.output.get(), ending="")

    def _end_process_group(self, group: int) -> None:
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
