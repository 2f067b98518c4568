"""Bulk invitations survive workers killed at random moments: nothing lost, nothing twice.

Each trial runs a job of --items invitations on two real Celery workers (prefork, one child
each, plus beat) against the Calendly sandbox, kills at a random moment either a pool child
(SIGKILL; its main process forks a new one) or a whole worker (SIGKILL of the main process and
its children, then a replacement is started), and waits for the job to end. The moment is
drawn uniformly over the job's progress (items done before the kill). Per trial it prints the
kind of kill, the moment, the addresses never invited, those invited more than once (plus the
duplicates Calendly refused), the items a new attempt took over after the kill, and the
recovery time (kill to job done); then totals with the median and worst recovery.

    .venv/bin/python -m bench.chaos_jobs [--trials 20] [--items 300] [--seed N]

Needs PostgreSQL (--database-url, default postgres://postgres@127.0.0.1:5432/bench_chaos,
dropped and created afresh) and redis-server on the PATH: the run starts its own Redis on a
free port and never touches another. Engine timings are the tests' short ones (a 5 s lease, a
job stalled after 3 s, beat sweeping every 2 s). Exits non-zero if anything was lost or
duplicated.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.accounts.models import Organization
    from portal.sandbox import Sandbox, SandboxServer
    from tests.jobs.workers import WorkerPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_chaos"
JOB_TIMEOUT = 300.0


def configure(database_url: str) -> None:
    """This process prepares jobs and counts what Calendly received; the workers do the
    work. Its own broker is never used (wake-ups go to the private Redis), so it has none."""
    os.environ.update(
        PORTAL_ENV="test",
        PORTAL_DATA_DIR=str(WORK / "data"),
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEY"):
        os.environ.pop(name, None)


@dataclass(frozen=True)
class Trial:
    kill: str
    moment: int
    lost: int
    duplicated: int
    taken_over: int
    recovery: float


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--seed", type=int, default=None, help="for a repeatable sequence")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    args = parser.parse_args()
    if args.items < 20:
        parser.error("--items must be at least 20")
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    try:
        trials = run(args, random.Random(seed))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    lost = sum(t.lost for t in trials)
    duplicated = sum(t.duplicated for t in trials)
    recoveries = [t.recovery for t in trials]
    print(
        f"summary: {len(trials)} trials (seed {seed}), "
        f"{sum(t.kill == 'child' for t in trials)} child / "
        f"{sum(t.kill == 'main' for t in trials)} main kills, "
        f"{len(trials) * args.items} invitations: lost {lost}, duplicated {duplicated}, "
        f"taken over {sum(t.taken_over for t in trials)}; recovery median "
        f"{statistics.median(recoveries):.1f} s, max {max(recoveries):.1f} s"
    )
    if lost or duplicated:
        sys.exit(1)


def run(args: argparse.Namespace, rng: random.Random) -> list[Trial]:
    # Django is set up only once the database named on the command line exists, so the
    # portal's imports wait until then.
    from bench.side_by_side import recreate_database

    recreate_database(args.database_url)
    configure(args.database_url)

    import django

    django.setup()

    from django.core.management import call_command

    from portal.accounts.models import Connection, Organization
    from portal.sandbox import Sandbox, SandboxServer, seeded
    from tests.jobs.workers import WorkerPool, private_redis

    call_command("migrate", verbosity=0)
    sandbox = seeded(Sandbox(members=30, rate_limit=(100_000, 60)))
    server = SandboxServer(sandbox).start()
    quiet_about_resets(server)
    organization = Organization.objects.create(uri=sandbox.organization_uri(server.url))
    Connection.objects.create(
        organization=organization,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri=f"{server.url}/users/{sandbox.owner.uuid}",
        access_token=sandbox.owner_token,
    )
    (WORK / "redis").mkdir()
    trials: list[Trial] = []
    try:
        with private_redis(WORK / "redis") as redis:
            pool = WorkerPool(redis_url=redis.url, calendly_url=server.url, directory=WORK / "pool")
            pool.start()
            try:
                print(
                    f"{args.trials} trials of {args.items} invitations, 2 workers x 1 child "
                    f"+ beat; logs in {pool.directory}"
                )
                print(
                    f"{'trial':>5} {'kill':>5} {'moment':>11} {'lost':>5} {'duplicated':>10} "
                    f"{'taken over':>10} {'recovery s':>10}"
                )
                for number in range(1, args.trials + 1):
                    trial = one_trial(
                        number, args.items, rng, pool, redis.url, sandbox, organization
                    )
                    trials.append(trial)
                    print(
                        f"{number:>5} {trial.kill:>5} {trial.moment:>5}/{args.items:<5} "
                        f"{trial.lost:>5} {trial.duplicated:>10} {trial.taken_over:>10} "
                        f"{trial.recovery:>10.1f}",
                        flush=True,
                    )
            finally:
                pool.stop()
    finally:
        server.stop()
    return trials


def quiet_about_resets(server: SandboxServer) -> None:
    """A worker killed mid-request resets its connection, and the sandbox's HTTP server prints
    a traceback for each: expected in this run, and it would bury the table."""
    default = server.httpd.handle_error

    def handle_error(request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            default(request, client_address)  # type: ignore[arg-type]

    server.httpd.handle_error = handle_error  # type: ignore[method-assign]


def one_trial(
    number: int,
    items: int,
    rng: random.Random,
    pool: WorkerPool,
    redis_url: str,
    sandbox: Sandbox,
    organization: Organization,
) -> Trial:
    from portal.directory import bulk
    from portal.jobs import engine
    from portal.jobs.csvfile import read_text
    from portal.jobs.models import Job, JobItem
    from tests.jobs.workers import finished, items_finished_at_least, wait_for, wake

    emails = [f"trial{number}-{n}@chaos.example" for n in range(items)]
    preview = bulk.prepare(
        organization=organization,
        addresses=read_text("email\n" + "\n".join(emails)),
        source_name=f"trial {number}",
        actor=None,
        actor_label="bench/chaos_jobs.py",
    )
    engine.start(preview.job, actor=None, actor_label="bench", hand_over=False)
    job_id = preview.job.pk
    wake(redis_url, job_id, count=2)

    kill = rng.choice(["child", "main"])
    victim = rng.randrange(2)
    # Uniform over the job's progress; the last items are left out so that the kill lands
    # before the job ends however fast the workers are.
    target = rng.randint(1, items - 10)
    wait_for(items_finished_at_least(job_id, target), JOB_TIMEOUT, "the moment", pool=pool)
    moment = Job.objects.get(pk=job_id).succeeded
    killed_at = time.monotonic()
    if kill == "child":
        pool.kill_child(victim)
    else:
        pool.kill_main(victim)
        pool.restart(victim)
    wait_for(finished(job_id), JOB_TIMEOUT, "the job to end", pool=pool, job_id=job_id)
    recovery = time.monotonic() - killed_at

    with sandbox.lock:
        sent = {email: sandbox.invitations_sent[email] for email in emails}
        refused = sum(sandbox.duplicate_invitations_refused[email] for email in emails)
    return Trial(
        kill=kill,
        moment=moment,
        lost=sum(1 for times in sent.values() if times == 0),
        duplicated=sum(1 for times in sent.values() if times > 1) + refused,
        taken_over=JobItem.objects.filter(job_id=job_id, attempts__gt=1).count(),
        recovery=recovery,
    )


if __name__ == "__main__":
    main()
