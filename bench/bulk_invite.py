"""How close a bulk invitation job runs to a Calendly user's rate limit, and what a big file costs.

All in one run, each against a fresh sandbox at --limit (requests/seconds per user):

1. portal, alone: a job of --invites addresses done by two real Celery worker processes
   (concurrency 1 each, a private Redis, the engine's deployed timings);
2. portal with another integration: the same, while a separate process spends 30 % of the same
   user's budget (GET /users/me with a second token of the same user, evenly spaced);
3. a naive loop: one process POSTing --naive-invites invitations in turn, sleeping 1 s on 429;
4. memory: one process (a worker's code path) prepares a --memory-rows CSV job, then works on
   it for --memory-seconds against an unlimited sandbox; its peak RSS minus its RSS after
   Django started.

Rates are the sandbox's own invitation timestamps over the steady state (the whole windows
after the first, up to the one the last invitation fell in), divided by the ceiling, or by what
the other integration leaves; 429 shares are the sandbox's count of answers to the portal's
(or the naive loop's) token.

    .venv/bin/python bench/bulk_invite.py [--invites 1000] [--limit 100/10]

Needs PostgreSQL and redis-server on PATH. The database named by BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/bench_bulk) is dropped and created afresh: never point it at
one you keep. Each portal run starts its own redis-server on a free port. Linux only (peak RSS
is read from /proc). About five minutes.

Targets: alone >= 0.95 of the ceiling; with the other integration >= 0.95 of what is left and
<= 1 % of the portal's requests answered 429; no failed items; memory growth < 100 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_bulk"
os.environ["PORTAL_ENV"] = "test"
# Its own variable, not DATABASE_URL: this database is dropped at every run.
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
if __name__ == "__main__":
    # Spawned children import this module as __mp_main__ and keep the bench's folder (its keys).
    os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-bulk-invite-")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.side_by_side import recreate_database  # noqa: E402
from portal.accounts.models import Connection, Organization  # noqa: E402
from portal.directory import bulk  # noqa: E402
from portal.jobs import engine  # noqa: E402
from portal.jobs.csvfile import read_addresses, read_text  # noqa: E402
from portal.jobs.models import Job, JobItem  # noqa: E402
from portal.sandbox import Sandbox, SandboxServer, seeded  # noqa: E402
from tests.jobs.workers import (  # noqa: E402
    ENGINE_TIMINGS,
    WorkerPool,
    finished,
    private_redis,
    wait_for,
    wake,
)

ACTOR = "bench/bulk_invite.py"
OTHER_SHARE = 0.3
NAIVE_PAUSE = 1.0
# Calendly without a limit, for the memory run: the file's cost, not the budget, is measured.
UNLIMITED = (1_000_000, 60)


@dataclass(frozen=True)
class Run:
    invited: int
    per_second: float  # invitations per second over the steady state
    requests: int  # the measured client's requests counted against the user's budget
    refused: int  # of those, answered 429
    failed: int
    seconds: float  # first invitation to last
    other_requests: int = 0
    other_refused: int = 0

    @property
    def share_429(self) -> float:
        return self.refused / self.requests if self.requests else 0.0


# -- setup ------------------------------------------------------------------------------------


def fresh_database() -> None:
    """Drop and create the bench's database, then migrate it: every run starts empty."""
    connection.close()
    recreate_database(os.environ["DATABASE_URL"])
    call_command("migrate", verbosity=0)


def start_sandbox(rate_limit: tuple[int, int]) -> tuple[Sandbox, SandboxServer]:
    sandbox = seeded(Sandbox(members=30, seed=1, rate_limit=rate_limit))
    return sandbox, SandboxServer(sandbox).start()


def connect(sandbox: Sandbox, url: str) -> Organization:
    """The organization connected with its owner's personal access token, as `manage.py
    connect` stores it. No mirror: every address in the bench is new to Calendly."""
    organization = Organization.objects.create(uri=sandbox.organization_uri(url))
    Connection.objects.create(
        organization=organization,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri=f"{url}/users/{sandbox.owner_uuid}",
        access_token=sandbox.owner_token,
    )
    return organization


def addresses(count: int) -> list[str]:
    return [f"bench{n}@example.org" for n in range(count)]


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Variables for processes spawned inside the block (they copy os.environ at start)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- measuring --------------------------------------------------------------------------------


def invitation_times(sandbox: Sandbox, emails: list[str]) -> list[float]:
    wanted = set(emails)
    with sandbox.lock:
        return sorted(
            i.created_at.timestamp() for i in sandbox.invitations.values() if i.email in wanted
        )


def window_starts(times: list[float], period: int) -> list[float]:
    """When the sandbox's fixed windows opened: at the first request after the last one ran
    out. Exact when the measured client sends all the user's requests and each succeeds (a
    429 never opens a window); with another integration sending too, a boundary may fall a
    request late, which changes nothing for a client that sends evenly."""
    starts: list[float] = []
    for t in times:
        if not starts or t >= starts[-1] + period:
            starts.append(t)
    return starts


def steady_rate(times: list[float], period: int) -> float:
    """Invitations per second over whole windows, from the end of the first (which holds the
    start-up) to the start of the last (which the job leaves part-used): a loop that bursts at
    each window's start is not flattered by its last burst."""
    starts = window_starts(times, period)
    if len(starts) < 3:
        return 0.0
    begin, end = starts[1], starts[-1]
    return sum(1 for t in times if begin <= t < end) / (end - begin)


def measured(
    sandbox: Sandbox, emails: list[str], period: int, token: str, failed: int, other: str = ""
) -> Run:
    times = invitation_times(sandbox, emails)
    with sandbox.lock:
        return Run(
            invited=len(times),
            per_second=steady_rate(times, period),
            requests=sandbox.budgeted_requests[token],
            refused=sandbox.rate_limited_requests[token],
            failed=failed,
            seconds=times[-1] - times[0] if times else 0.0,
            other_requests=sandbox.budgeted_requests[other] if other else 0,
            other_refused=sandbox.rate_limited_requests[other] if other else 0,
        )


# -- 1 and 2: the portal's workers --------------------------------------------------------------


class DeployedWorkerPool(WorkerPool):
    """The tests' worker processes with the engine's deployed timings (a 60 s slice, not 5 s):
    how often a run hands over to the next is part of what a deployment gets."""

    def environment(self) -> dict[str, str]:
        return super().environment() | {
            name: str(getattr(settings, name)) for name in ENGINE_TIMINGS
        }


@contextlib.contextmanager
def deployed_workers(redis_url: str, calendly_url: str, directory: Path) -> Iterator[WorkerPool]:
    pool = DeployedWorkerPool(
        redis_url=redis_url, calendly_url=calendly_url, directory=directory, workers=2
    )
    try:
        yield pool.start()
    finally:
        pool.stop()


def other_integration(url: str, token: str, per_second: float, sending: Event, stop: Event) -> None:
    """Another integration of the same Calendly user: evenly spaced reads until told to stop,
    answered or not (its 429s are its own business)."""
    headers = {"Authorization": f"Bearer {token}"}
    sent = 0
    with httpx.Client(base_url=url, headers=headers, timeout=20) as client:
        begin = time.monotonic()
        while not stop.is_set():
            client.get("/users/me")
            sent += 1
            sending.set()
            stop.wait(max(0.0, begin + sent / per_second - time.monotonic()))


def portal_run(
    args: argparse.Namespace, limit: int, period: int, work: Path, *, with_other: bool
) -> Run:
    sandbox, server = start_sandbox((limit, period))
    organization = connect(sandbox, server.url)
    emails = addresses(args.invites)
    context = multiprocessing.get_context("spawn")
    stop, sending = context.Event(), context.Event()
    other: multiprocessing.process.BaseProcess | None = None
    other_token = ""
    name = "other" if with_other else "alone"
    try:
        with (
            private_redis() as redis,
            deployed_workers(redis.url, server.url, work / f"workers-{name}") as pool,
        ):
            preview = bulk.prepare(
                organization=organization,
                addresses=read_text("email\n" + "\n".join(emails)),
                source_name="bench.csv",
                actor=None,
                actor_label=ACTOR,
            )
            job = preview.job
            if with_other:
                with sandbox.lock:
                    other_token = sandbox.issue_pat(sandbox.owner_uuid)
                other = context.Process(
                    target=other_integration,
                    args=(server.url, other_token, OTHER_SHARE * limit / period, sending, stop),
                )
                other.start()
                if not sending.wait(60):
                    raise RuntimeError("the other integration never sent a request")
            engine.start(job, actor=None, actor_label=ACTOR, hand_over=False)
            # What engine.start sends after its commit, sent to the workers' own Redis.
            wake(redis.url, job.pk, count=settings.JOB_PARALLEL_RUNS)
            # A guard against hanging, never a measurement: a quarter of the ceiling.
            timeout = 120 + args.invites / (limit / period) * 4
            wait_for(finished(job.pk), timeout, "the job to finish", pool=pool, job_id=job.pk)
            job.refresh_from_db()
    finally:
        stop.set()
        if other is not None:
            other.join(30)
        server.stop()
    failed = job.failed + JobItem.objects.filter(job=job).exclude(state=JobItem.State.DONE).count()
    return measured(sandbox, emails, period, sandbox.owner_token, failed, other_token)


# -- 3: the naive loop --------------------------------------------------------------------------


def naive_loop(url: str, token: str, organization: str, emails: list[str]) -> int:
    """POST each invitation in turn; on 429 sleep and send it again. Returns the failures."""
    headers = {"Authorization": f"Bearer {token}"}
    failed = 0
    with httpx.Client(base_url=url, headers=headers, timeout=20) as client:
        for email in emails:
            while True:
                response = client.post(
                    f"/organizations/{organization}/invitations", json={"email": email}
                )
                if response.status_code != 429:
                    break
                time.sleep(NAIVE_PAUSE)
            failed += response.status_code != 201
    return failed


def naive_run(args: argparse.Namespace, limit: int, period: int) -> Run:
    sandbox, server = start_sandbox((limit, period))
    emails = addresses(args.naive_invites)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            failed = pool.apply(
                naive_loop, (server.url, sandbox.owner_token, sandbox.org_uuid, emails)
            )
    finally:
        server.stop()
    return measured(sandbox, emails, period, sandbox.owner_token, failed)


# -- 4: memory --------------------------------------------------------------------------------


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def memory_child(organization_id: int, path: str, seconds: float) -> dict[str, float]:
    """A worker's work on a big file, in a fresh process: prepare the job, then run it."""
    gc.collect()
    baseline = status_kb("VmRSS")
    organization = Organization.objects.get(pk=organization_id)
    began = time.monotonic()
    with open(path, "rb") as stream:
        preview = bulk.prepare(
            organization=organization,
            addresses=read_addresses(stream),
            source_name=Path(path).name,
            actor=None,
            actor_label=ACTOR,
        )
    prepared = time.monotonic()
    after_prepare = status_kb("VmHWM")
    engine.start(preview.job, actor=None, actor_label=ACTOR, hand_over=False)
    engine.run_slice(preview.job.pk, seconds=seconds)
    worked = time.monotonic()
    job = Job.objects.get(pk=preview.job.pk)
    return {
        "rows": job.total,
        "prepare_seconds": prepared - began,
        "prepare_growth_mb": (after_prepare - baseline) / 1024,
        "growth_mb": (status_kb("VmHWM") - baseline) / 1024,
        "invited": job.succeeded,
        "invited_per_second": job.succeeded / (worked - prepared),
    }


def memory_run(args: argparse.Namespace, work: Path) -> dict[str, float]:
    sandbox, server = start_sandbox(UNLIMITED)
    organization = connect(sandbox, server.url)
    path = work / "big.csv"
    with path.open("w") as file:
        file.write("email\n")
        for email in addresses(args.memory_rows):
            file.write(f"{email}\n")
    try:
        with (
            private_redis() as redis,
            environment(
                REDIS_URL=redis.url, CALENDLY_API_URL=server.url, CALENDLY_AUTH_URL=server.url
            ),
            multiprocessing.get_context("spawn").Pool(1) as pool,
        ):
            result: dict[str, float] = pool.apply(
                memory_child, (organization.pk, str(path), args.memory_seconds)
            )
    finally:
        server.stop()
    return result


# -- the table --------------------------------------------------------------------------------


def row(measure: str, value: str, target: str, ok: bool | None) -> str:
    verdict = "info" if ok is None else "ok" if ok else "MISS"
    return f"{measure:<44} {value:>10} {target:>10}  {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invites", type=int, default=1000)
    parser.add_argument("--limit", default="100/10", help="requests/seconds per user")
    parser.add_argument(
        "--naive-invites",
        type=int,
        default=300,
        help="the naive loop's job (fewer than --invites: its pace is plain after a few windows)",
    )
    parser.add_argument("--memory-rows", type=int, default=50_000)
    parser.add_argument("--memory-seconds", type=float, default=20.0)
    args = parser.parse_args()
    limit, period = (int(part) for part in args.limit.split("/"))
    ceiling = limit / period
    for count in (args.invites, args.naive_invites):
        if count < 3 * limit:
            parser.error("each job must fill at least three rate-limit windows")

    work = Path(os.environ["PORTAL_DATA_DIR"])
    try:
        fresh_database()
        print(
            f"ceiling {limit} requests / {period} s per Calendly user; {args.invites:,} invites "
            f"by 2 worker processes (naive loop: {args.naive_invites:,}); "
            "steady state = whole windows after the first",
            flush=True,
        )
        alone = portal_run(args, limit, period, work, with_other=False)
        other = portal_run(args, limit, period, work, with_other=True)
        naive = naive_run(args, limit, period)
        memory = memory_run(args, work)
    finally:
        connection.close()
        shutil.rmtree(work, ignore_errors=True)

    left = (1 - OTHER_SHARE) * ceiling
    print()
    print(f"{'measure':<44} {'value':>10} {'target':>10}  ok")
    lines = [
        row(
            "portal alone: rate / ceiling",
            f"{alone.per_second / ceiling:.3f}",
            ">= 0.95",
            alone.per_second / ceiling >= 0.95,
        ),
        row("portal alone: 429 share", f"{alone.share_429:.2%}", "<= 1%", alone.share_429 <= 0.01),
        row("portal alone: failed items", str(alone.failed), "0", alone.failed == 0),
        row(
            "portal + other integration: rate / left",
            f"{other.per_second / left:.3f}",
            ">= 0.95",
            other.per_second / left >= 0.95,
        ),
        row(
            "portal + other integration: 429 share",
            f"{other.share_429:.2%}",
            "<= 1%",
            other.share_429 <= 0.01,
        ),
        row("portal + other integration: failed items", str(other.failed), "0", other.failed == 0),
        row("naive loop: rate / ceiling", f"{naive.per_second / ceiling:.3f}", "-", None),
        row("naive loop: 429 share", f"{naive.share_429:.2%}", "-", None),
        row("naive loop: failed", str(naive.failed), "-", None),
        row(
            f"memory: peak RSS growth, {int(memory['rows']):,}-row CSV",
            f"{memory['growth_mb']:.1f} MB",
            "< 100 MB",
            memory["growth_mb"] < 100,
        ),
    ]
    print("\n".join(lines))
    print()
    for name, run in (("alone", alone), ("with other", other), ("naive", naive)):
        print(
            f"{name}: {run.invited:,} invited in {run.seconds:.1f} s "
            f"({run.per_second:.2f}/s steady), {run.requests:,} requests, "
            f"{run.refused} answered 429"
            + (
                f"; other integration {run.other_requests:,} requests, {run.other_refused} 429"
                if run.other_requests
                else ""
            )
        )
    print(
        f"memory: prepare {memory['prepare_seconds']:.1f} s (growth "
        f"{memory['prepare_growth_mb']:.1f} MB), then {int(memory['invited']):,} invited in "
        f"{args.memory_seconds:g} s ({memory['invited_per_second']:.0f}/s, unlimited sandbox)"
    )


if __name__ == "__main__":
    main()
