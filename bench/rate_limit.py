"""How close the portal's Calendly client runs to a user's rate limit without tripping it.

Two worker processes share one Calendly user (one token) and send GETs to the sandbox for
--seconds. The same run then repeats the load with a naive client (sequential, retry after a
fixed pause on 429). For each it prints the achieved rate over the steady state (after the
first window) divided by the ceiling, the share of requests answered 429, and failed calls.

    .venv/bin/python bench/rate_limit.py [--seconds 60] [--limit 100/10] [--workers 2]

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/11): the portal's limiter shares the
budget between processes through it. Targets: ours >= 0.95 of the ceiling, <= 1 % 429s, 0 failed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_ENV", "demo")
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-rate-limit-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import redis  # noqa: E402

from portal.calendly.client import CalendlyClient  # noqa: E402
from portal.calendly.errors import CalendlyError  # noqa: E402
from portal.calendly.ratelimit import RedisRateLimiter  # noqa: E402
from portal.sandbox import Sandbox, SandboxServer, seeded  # noqa: E402


@dataclass
class Outcome:
    completed: list[float] = field(default_factory=list)  # when each call succeeded
    failed: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


class CountingTransport(httpx.HTTPTransport):
    """Counts every answer by status, including the 429s the client absorbs."""

    def __init__(self, statuses: Counter[int]) -> None:
        super().__init__()
        self.statuses = statuses

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses[response.status_code] += 1
        return response


def portal_worker(url: str, token: str, key: str, redis_url: str, deadline: float) -> Outcome:
    outcome = Outcome()
    limiter = RedisRateLimiter(redis.Redis.from_url(redis_url), key)
    client = CalendlyClient(
        token=token, base_url=url, limiter=limiter, transport=CountingTransport(outcome.statuses)
    )
    with client:
        while time.time() < deadline:
            try:
                client.get_current_user()
            except CalendlyError:
                outcome.failed += 1
            else:
                outcome.completed.append(time.time())
    return outcome


def naive_worker(url: str, token: str, key: str, redis_url: str, deadline: float) -> Outcome:
    outcome = Outcome()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=20) as client:
        while time.time() < deadline:
            response = client.get("/users/me")
            outcome.statuses[response.status_code] += 1
            if response.status_code == 429:
                time.sleep(1.0)
            elif response.status_code == 200:
                outcome.completed.append(time.time())
            else:
                outcome.failed += 1
    return outcome


def run(kind: str, args: argparse.Namespace, limit: int, period: int) -> dict[str, float]:
    sandbox = seeded(Sandbox(members=30, seed=1, rate_limit=(limit, period)))
    server = SandboxServer(sandbox).start()
    owner_uri = f"{server.url}/users/{sandbox.owner.uuid}"
    key = f"{owner_uri}#bench-{uuid.uuid4().hex[:8]}"  # a fresh budget for each run
    worker = portal_worker if kind == "portal" else naive_worker
    started = time.time()
    deadline = started + args.seconds
    try:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            outcomes = pool.starmap(
                worker,
                [(server.url, sandbox.owner_token, key, args.redis_url, deadline)] * args.workers,
            )
    finally:
        server.stop()
    steady_from, steady_to = started + period, started + args.seconds
    completed = [t for o in outcomes for t in o.completed if steady_from <= t < steady_to]
    statuses: Counter[int] = sum((o.statuses for o in outcomes), Counter())
    answered = sum(statuses.values())
    ceiling = limit / period
    return {
        "ratio": len(completed) / (steady_to - steady_from) / ceiling,
        "share_429": statuses[429] / answered if answered else 0.0,
        "failed": float(sum(o.failed for o in outcomes)),
        "requests": float(answered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--limit", default="100/10", help="requests/seconds per user")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/11"
    )
    args = parser.parse_args()
    limit, period = (int(part) for part in args.limit.split("/"))
    if args.seconds < 2 * period:
        parser.error("--seconds must cover at least two rate-limit windows")
    print(
        f"{args.workers} processes, one Calendly user, ceiling {limit} requests / {period} s, "
        f"{args.seconds} s each; steady state = after the first window"
    )
    print(f"{'client':<8} {'rate/ceiling':>13} {'429 share':>10} {'failed':>7} {'requests':>9}")
    for kind in ("portal", "naive"):
        result = run(kind, args, limit, period)
        print(
            f"{kind:<8} {result['ratio']:>13.3f} {result['share_429']:>10.2%} "
            f"{int(result['failed']):>7} {int(result['requests']):>9}"
        )


if __name__ == "__main__":
    main()
