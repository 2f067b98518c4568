"""How fast the link directory answers a search, compared with the portal's own empty page.

The method of bench/members_page.py (whose helpers it uses): gunicorn with production settings
on PostgreSQL, wrk on loopback with a real session cookie, side by side in one run. Fills
mirrors of 1,000 and 10,000 members with 5 event types each (5,000 and 50,000 rows: four of
a rep's own, one of them inactive every seventh rep and one secret every third, and a team's
pool, round robin or collective, hosted by three reps), signs a sales person in, and loads
the empty page, a search for a common fragment ("an": a full page of 50 rows, counted up to
the limit) and a rare one that matches a single rep (a whole email address: their own types
and the pools they host). Prints throughput ratios (search page / empty page), each search's
p95 latency, and p95 at 50,000 over p95 at 5,000.

    .venv/bin/python -m bench.link_directory [--seconds 5] [--rounds 5] [--connections 8]
        [--workers 2] [--reps 1000,10000]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bench_links; the
database is recreated) and wrk (apt-get install wrk). Targets, for both searches at both
sizes: ratio >= 0.5; p95 at 50,000 within 1.5x of p95 at 5,000.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.members_page import (
    P95_SCRIPT,
    ROOT,
    environment,
    free_port,
    manage,
    recreate_database,
    vacuum,
    wrk,
)

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_links"
TYPES_PER_REP = 5
COMMON = "/links/?q=an"  # a common fragment of names: many matches, a full 50-row page


def rare(reps: int) -> str:
    """A whole email address: one rep's types and pools, somewhere in the middle of the list."""
    return f"/links/?q=person{reps // 2 + 7}%40bench{reps}.example"


SETUP = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from portal.accounts.models import Organization, User
from portal.directory.models import (
    EventType, EventTypeHost, Group, GroupRelationship, Member, SyncRun,
)

FIRST = ["Ana", "Ben", "Chandra", "Dana", "Elena", "Frank", "Grace", "Hans", "Ivan", "Joanna"]
LAST = ["Anderson", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hansen", "Ito"]
OWN = [("30 Minute Meeting", 30), ("Discovery Call", 15), ("Product Demo", 45), ("Deep Dive", 60)]
for reps in REPS:
    org = Organization.objects.create(
        uri=f"https://api.calendly.com/organizations/LINKS{reps}", name=f"Bench {reps}"
    )
    groups = Group.objects.bulk_create(
        Group(organization=org, uri=f"{org.uri}/groups/{i}", name=f"Group {i}") for i in range(10)
    )
    members = Member.objects.bulk_create([
        Member(
            organization=org,
            uri=f"{org.uri}/memberships/{i}",
            user_uri=f"{org.uri}/users/{i}",
            name=f"{FIRST[i % len(FIRST)]} {LAST[(i // 7) % len(LAST)]} {i}",
            email=f"person{i}@bench{reps}.example",
            role="user",
            slug=f"person-{i}",
            scheduling_url=f"https://calendly.com/person-{i}",
            calendly_created_at=timezone.now(),
        )
        for i in range(reps)
    ], batch_size=2000)
    GroupRelationship.objects.bulk_create([
        GroupRelationship(
            organization=org, uri=f"{m.uri}/group", group=groups[i % 10], role="member",
            owner_uri=m.uri, member=m,
        )
        for i, m in enumerate(members)
    ], batch_size=2000)
    types = []
    for i, m in enumerate(members):
        for position, (name, duration) in enumerate(OWN):
            slug = name.lower().replace(" ", "-")
            types.append(EventType(
                organization=org, uri=f"{org.uri}/event_types/{i}-{position}", name=name,
                slug=slug, active=not (position == 3 and i % 7 == 0),
                scheduling_url=f"https://calendly.com/person-{i}/{slug}", duration=duration,
                kind="solo", type="StandardEventType", secret=position == 2 and i % 3 == 0,
                admin_managed=position == 2, profile_type="User", profile_name=m.name,
                profile_owner_uri=m.user_uri,
            ))
        team = f"{LAST[i % len(LAST)]} Team {i // 50}"
        types.append(EventType(
            organization=org, uri=f"{org.uri}/event_types/{i}-pool", name=f"Intro {i}",
            slug=f"intro-{i}", active=True,
            scheduling_url=f"https://calendly.com/team-{i // 50}/intro-{i}", duration=30,
            kind="solo", pooling_type="round_robin" if i % 2 else "collective",
            type="StandardEventType", profile_type="Team", profile_name=team,
            profile_owner_uri=f"{org.uri}/teams/{i // 50}",
        ))
    types = EventType.objects.bulk_create(types, batch_size=2000)
    pools = [t for t in types if t.pooling_type]
    EventTypeHost.objects.bulk_create([
        EventTypeHost(event_type=pool, member=members[(i + k) % reps])
        for i, pool in enumerate(pools)
        for k in range(3)
    ], batch_size=2000)
    SyncRun.objects.create(
        organization=org, trigger="schedule", status="succeeded", finished_at=timezone.now(),
        counts={"members": reps, "event_types": len(types)},
    )
    sales = User.objects.create(
        username=f"bench-sales-{reps}", email=f"sales@bench{reps}.example",
        organization=org, calendly_role="user", portal_role="sales",
        calendly_uri=f"{org.uri}/users/sales",
    )
    session = SessionStore()
    session[SESSION_KEY] = str(sales.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = sales.get_session_auth_hash()
    session["signed_in_at"] = timezone.now().isoformat()
    session["last_seen_at"] = timezone.now().isoformat()
    session.set_expiry(12 * 3600)
    session.save()
    print(f"SESSION {reps} {session.session_key}")
"""


@contextmanager
def gunicorn(env: dict[str, str], workers: int) -> Iterator[str]:
    """The portal served on a free loopback port; yields its base URL once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.wsgi_app:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=1)  # noqa: S310 (loopback)
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", default="1000,10000")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="bench-links-"))
    env = environment(args.database_url, str(work / "static"))
    recreate_database(args.database_url)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    sizes = [int(reps) for reps in args.reps.split(",")]
    setup = f"REPS = {sizes!r}\n{SETUP}"
    sessions = dict(re.findall(r"SESSION (\d+) (\S+)", manage(env, "shell", stdin=setup)))
    vacuum(args.database_url)
    script = work / "p95.lua"
    script.write_text(P95_SCRIPT)

    try:
        with gunicorn(env, args.workers) as base:
            print(
                f"gunicorn ({args.workers} sync workers, production settings, PostgreSQL), "
                f"wrk -t2 -c{args.connections} -d{args.seconds}s; {args.rounds} rounds of the "
                f"empty page, the common search {COMMON!r} and the rare one (a whole email), "
                "medians"
            )
            header = ("event types", "empty req/s", "common req/s", "ratio", "p95 ms")
            print(
                "{:>11} {:>12} {:>13} {:>6} {:>7} {:>11} {:>6} {:>7}".format(
                    *header, "rare req/s", "ratio", "p95 ms"
                )
            )
            p95s: dict[tuple[str, int], float] = {}
            for reps in sizes:
                cookie = sessions[str(reps)]
                rates: dict[str, list[float]] = {"empty": [], "common": [], "rare": []}
                ratios: dict[str, list[float]] = {"common": [], "rare": []}
                latencies: dict[str, list[float]] = {"common": [], "rare": []}
                urls = {"empty": "/bench/empty", "common": COMMON, "rare": rare(reps)}
                # Alternating rounds: a noisy moment on a shared machine spoils one set, and
                # the median sets it aside.
                for _ in range(args.rounds):
                    measured = {
                        name: wrk(f"{base}{url}", cookie, args.seconds, args.connections, script)
                        for name, url in urls.items()
                    }
                    for name, (rate, p95) in measured.items():
                        rates[name].append(rate)
                        if name != "empty":
                            ratios[name].append(rate / measured["empty"][0])
                            latencies[name].append(p95)
                cells = [
                    f"{reps * TYPES_PER_REP:>11,}",
                    f"{statistics.median(rates['empty']):>12.0f}",
                ]
                for name in ("common", "rare"):
                    p95s[name, reps] = statistics.median(latencies[name])
                    cells += [
                        f"{statistics.median(rates[name]):>{13 if name == 'common' else 11}.0f}",
                        f"{statistics.median(ratios[name]):>6.2f}",
                        f"{p95s[name, reps]:>7.1f}",
                    ]
                print(" ".join(cells))
            first = sizes[0]
            for name in ("common", "rare"):
                spread = ", ".join(
                    f"{reps * TYPES_PER_REP:,}: {p95s[name, reps] / p95s[name, first]:.2f}"
                    for reps in sizes[1:]
                )
                print(f"{name} search p95 / p95 at {first * TYPES_PER_REP:,}: {spread}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
