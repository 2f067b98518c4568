"""`manage.py sandbox`: run the Calendly sandbox in the foreground for the demo or by hand."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.sandbox import Sandbox, SandboxServer, seeded


def rate_limit(value: str) -> tuple[int, int]:
    requests, _, seconds = value.partition("/")
    try:
        parsed = int(requests), int(seconds or 60)
    except ValueError:
        raise CommandError(f"--rate-limit must look like 500/60, not {value!r}") from None
    if parsed[0] < 1 or parsed[1] < 1:
        raise CommandError("--rate-limit needs positive numbers")
    return parsed


class Command(BaseCommand):
    help = "Run a stateful Calendly API + OAuth emulator until Ctrl+C or SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--members", type=int, default=250)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--rate-limit", default="500/60", help="requests/seconds per user")
        parser.add_argument("--faults", type=float, default=0.0, help="share of failing calls")
        parser.add_argument(
            "--fault-delay", type=float, default=3.0, help="seconds for slow faults"
        )
        parser.add_argument("--owner-token", default=None, help="fix the owner's access token")
        parser.add_argument("--token-ttl", type=int, default=7200, help="OAuth access token TTL")
        parser.add_argument("--retry-after", action="store_true", help="send Retry-After on 429")
        parser.add_argument("--verbose", action="store_true", help="log every request")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0.0 <= options["faults"] <= 1.0:
            raise CommandError("--faults is a rate between 0 and 1")
        sandbox = seeded(
            Sandbox(
                members=options["members"],
                seed=options["seed"],
                rate_limit=rate_limit(options["rate_limit"]),
                faults=options["faults"],
                owner_token=options["owner_token"],
                access_token_ttl=options["token_ttl"],
                fault_delay=options["fault_delay"],
                retry_after=options["retry_after"],
            )
        )
        server = SandboxServer(
            sandbox, options["host"], options["port"], verbose=options["verbose"]
        ).start()
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Calendly sandbox listening on {server.url}")
        self.stdout.write(f"Organization: {sandbox.organization_uri(server.url)}")
        self.stdout.write(f"Owner: {sandbox.owner.name} <{sandbox.owner.email}>")
        self.stdout.write(f"Owner personal access token: {sandbox.owner_token}")
        self.stdout.write(f"OAuth client: {sandbox.client_id} / {sandbox.client_secret}")
        self.stdout.write(
            f'Try: curl -H "Authorization: Bearer {sandbox.owner_token}" {server.url}/users/me'
        )
        self.stdout.flush()
        try:
            while not stopping.wait(0.5):
                pass
        finally:
            server.stop()
            self.stdout.write("Calendly sandbox stopped.")
