"""How many signed deliveries a second the webhook receiver takes, and what a broker outage costs.

1. Throughput, side by side in one run: wrk POSTs signed `invitee.created` deliveries to the
   receiver (/hooks/calendly/<token>: signature check, one row stored, processing queued on a
   real Redis) and, in alternating rounds, the same bodies to a floor in the same server (a
   view that only inserts the raw body in one transaction: bench/webhook_floor.py). Every
   delivery is distinct (its own invitee URI) and signed shortly before its round, so none is
   a repeat or out of the time window. Prints each round's rates, the medians and the ratio
   receiver / floor (target >= 0.7).
2. A burst with the broker down: --burst deliveries from a few concurrent clients while a real
   Celery worker (and beat, sweeping every 2 s) processes them; Redis is stopped once a third
   have been answered and started again at two thirds. Prints how many were sent, answered
   2xx, stored, processed, and processed more than once (by the deliveries' `attempts` and by
   the meetings their handler wrote: each delivery adds one Meeting, and a second processing
   would bump its sequence), answer times, and how many publishes the receiver gave up on.
   Exits non-zero unless every delivery was answered 2xx, stored once and processed once.

    .venv/bin/python bench/webhook_receiver.py [--quick] [--seconds 5] [--rounds 5]
        [--connections 8] [--workers 2] [--burst 2000] [--clients 8]

gunicorn (sync workers) serves the portal with production settings (PORTAL_ENV=production,
HTTPS redirect on: /hooks/ is exempt) on PostgreSQL; the run starts its own redis-server on a
free port, never another. Needs wrk and redis-server on the PATH. The database named by
--database-url (default postgres://postgres@127.0.0.1:5432/bench_webhooks) is dropped and
created afresh: never point it at one you keep. About three minutes; --quick is a smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.side_by_side import environment, free_port, recreate_database  # noqa: E402

if TYPE_CHECKING:
    from tests.jobs.workers import PrivateRedis

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_webhooks"
SIGNING_KEY = "bench-receivers-signing-key-" + "k" * 20
TOKEN = "bench-receiver-token-0123456789abcd"  # noqa: S105 (a URL token, made up here)
HEADER = "Calendly-Webhook-Signature"
# wrk's threads; each takes every THREADS-th body of its round.
THREADS = 2
# Bodies signed for one wrk run: far more than a 2-core machine answers in --seconds (wrk
# would otherwise send a body twice, and a repeat costs less than a new delivery).
BODIES_PER_SECOND = 4000
# Calendly's own limit: an answer later than this counts as a failed delivery.
CALENDLY_WAIT = 10.0
BURST_TIMEOUT = 180.0

API = "https://api.calendly.com"
# One invitee.created delivery as Calendly sends it; {n} makes each one its own booking.
TEMPLATE = json.dumps(
    {
        "created_at": "2026-12-01T10:00:00.000000Z",
        "created_by": f"{API}/users/BENCHOWNER",
        "event": "invitee.created",
        "payload": {
            "cancel_url": "https://calendly.com/cancellations/INV{n}",
            "created_at": "2026-12-01T10:00:00.000000Z",
            "email": "invitee{n}@bench.example",
            "event": f"{API}/scheduled_events/EV{{n}}",
            "first_name": None,
            "last_name": None,
            "name": "Bench Invitee {n}",
            "new_invitee": None,
            "no_show": None,
            "old_invitee": None,
            "payment": None,
            "questions_and_answers": [
                {"answer": "A quick chat about the plan", "position": 0, "question": "Topic"}
            ],
            "reconfirmation": None,
            "reschedule_url": "https://calendly.com/reschedulings/INV{n}",
            "rescheduled": False,
            "routing_form_submission": None,
            "scheduled_event": {
                "created_at": "2026-12-01T10:00:00.000000Z",
                "end_time": "2026-12-10T15:30:00.000000Z",
                "event_guests": [],
                "event_memberships": [
                    {
                        "user": f"{API}/users/BENCHHOST",
                        "user_email": "host@bench.example",
                        "user_name": "Bench Host",
                    }
                ],
                "event_type": f"{API}/event_types/BENCHTYPE",
                "invitees_counter": {"active": 1, "limit": 1, "total": 1},
                "location": {"join_url": "https://meet.example/bench", "type": "custom"},
                "name": "Intro call",
                "start_time": "2026-12-10T15:00:00.000000Z",
                "status": "active",
                "updated_at": "2026-12-01T10:00:00.000000Z",
                "uri": f"{API}/scheduled_events/EV{{n}}",
            },
            "status": "active",
            "text_reminder_number": None,
            "timezone": "Europe/Berlin",
            "tracking": {
                "c_campaign": None,
                "salesforce_uuid": None,
                "utm_campaign": None,
                "utm_content": None,
                "utm_medium": None,
                "utm_source": None,
                "utm_term": None,
            },
            "updated_at": "2026-12-01T10:00:00.000000Z",
            "uri": f"{API}/scheduled_events/EV{{n}}/invitees/INV{{n}}",
        },
    },
    separators=(",", ":"),
)
PARTS = TEMPLATE.split("{n}")


def body(number: int) -> bytes:
    return str(number).join(PARTS).encode()


def sign(payload: bytes, at: int) -> str:
    digest = hmac.new(SIGNING_KEY.encode(), f"{at}.".encode() + payload, hashlib.sha256)
    return f"t={at},v1={digest.hexdigest()}"


# -- the server and its database --------------------------------------------------------------


def configure(database_url: str, work: Path) -> dict[str, str]:
    """Set up this process (it prepares the database, counts rows and runs the worker pool)
    and return the server's environment: production settings with the floor's URLconf."""
    server_env = environment(database_url, str(work / "static"))
    server_env.update(DJANGO_SETTINGS_MODULE="bench.webhook_settings", SECURE_SSL_REDIRECT="true")
    os.environ.update(
        PORTAL_ENV="test",
        PORTAL_DATA_DIR=str(work / "data"),
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="portal.settings",
        # The workers decrypt nothing, but this process writes the receiver's signing key,
        # which the server reads: one key for both.
        SECRET_KEY=server_env["SECRET_KEY"],
        FIELD_ENCRYPTION_KEY=server_env["FIELD_ENCRYPTION_KEY"],
    )
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    (work / "static").mkdir(parents=True, exist_ok=True)
    return server_env


def prepare_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    from bench.webhook_floor import CREATE_FLOOR_TABLE
    from portal.accounts.models import Organization
    from portal.webhooks.models import Endpoint

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(CREATE_FLOOR_TABLE)
    organization = Organization.objects.create(
        uri=f"{API}/organizations/BENCHORG", name="Bench organization"
    )
    Endpoint.objects.create(organization=organization, token=TOKEN, signing_key=SIGNING_KEY)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int, log: Path) -> Iterator[str]:
    """As bench/side_by_side.py's, with the server's log kept in a file: the burst makes it
    log a warning for every delivery it could not queue."""
    port = free_port()
    with log.open("ab") as output:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "bench.wsgi_app:application"),
                *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
                *("--log-level", "warning"),
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310 (loopback)
                break
            except urllib.error.HTTPError:
                break  # it answers, whatever it thinks of its health
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"gunicorn exited:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def count(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (our own table names)
        (rows,) = cursor.fetchone()
    return int(rows)


# -- throughput ---------------------------------------------------------------------------------

LUA = """
local PATH = "{path}"
local PARTS = {{{parts}}}
local SIGS = {{}}
for line in io.lines("{signatures}") do SIGS[#SIGS + 1] = line end
local FIXED = "{fixed}"
local BASE = {base}
local THREADS = {threads}
local threads = {{}}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

sent = 0

function request()
  local slot = id + sent * THREADS + 1
  sent = sent + 1
  local count = math.max(#SIGS, {slots})
  if slot > count then slot = ((slot - 1) % count) + 1 end
  local n = BASE + slot
  local pieces = {{PARTS[1]}}
  for i = 2, #PARTS do
    pieces[#pieces + 1] = n
    pieces[#pieces + 1] = PARTS[i]
  end
  local signature = SIGS[slot] or FIXED
  return wrk.format("POST", PATH, {{
    ["Content-Type"] = "application/json",
    ["Calendly-Webhook-Signature"] = signature,
  }}, table.concat(pieces))
end

function done(summary, latency, requests)
  local most = 0
  for _, thread in ipairs(threads) do most = math.max(most, thread:get("sent")) end
  io.write(string.format("P95_MS %.3f\\n", latency:percentile(95) / 1000))
  io.write(string.format("SENT_PER_THREAD %d\\n", most))
end
"""


def lua_string(text: str) -> str:
    assert "]==]" not in text
    assert text.isascii()
    return f"[==[{text}]==]"


@dataclass
class Round:
    rate: float
    p95: float
    requests: int
    stored: int


def wrk_round(
    base: str, path: str, first: int, slots: int, args: argparse.Namespace, work: Path
) -> Round:
    """One wrk run POSTing bodies first+1 .. first+slots to `path`, signed now when it is the
    receiver (the floor gets a signature-shaped header it never reads)."""
    from bench.webhook_floor import FLOOR_PATH, FLOOR_TABLE

    signed = path != f"/{FLOOR_PATH}"
    now = int(time.time())
    signatures = work / "signatures.txt"
    signatures.write_text(
        "".join(f"{sign(body(first + slot), now)}\n" for slot in range(1, slots + 1))
        if signed
        else ""
    )
    script = work / "round.lua"
    script.write_text(
        LUA.format(
            path=path,
            parts=",".join(lua_string(part) for part in PARTS),
            signatures=signatures,
            fixed=sign(b"", 0),
            base=first,
            threads=THREADS,
            slots=slots,
        )
    )
    table = "webhooks_delivery" if signed else FLOOR_TABLE
    before = count(table)
    output = subprocess.run(
        [
            *("wrk", f"-t{THREADS}", f"-c{args.connections}", f"-d{args.seconds}s"),
            *("--timeout", "10s", "-s", str(script), f"{base}{path}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stored = count(table) - before
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    p95 = re.search(r"P95_MS ([\d.]+)", output)
    most = re.search(r"SENT_PER_THREAD (\d+)", output)
    if rate is None or total is None or p95 is None or most is None:
        sys.exit(f"could not read wrk's output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        sys.exit(f"{path} answered {errors.group(1)} errors:\n{output}")
    if int(most.group(1)) * THREADS > slots:
        sys.exit(
            f"{path} needed more than {slots} bodies in {args.seconds}s; raise BODIES_PER_SECOND"
        )
    requests = int(total.group(1))
    # Every answer was a new row (no redirect, no repeat); a request in flight when wrk
    # stopped may be stored unanswered.
    if not requests <= stored <= requests + args.connections:
        sys.exit(f"{path}: {requests} answered, {stored} stored:\n{output}")
    return Round(float(rate.group(1)), float(p95.group(1)), requests, stored)


def throughput(base: str, args: argparse.Namespace, work: Path) -> float:
    from bench.webhook_floor import FLOOR_PATH

    slots = BODIES_PER_SECOND * args.seconds
    paths = {"receiver": f"/hooks/calendly/{TOKEN}", "floor": f"/{FLOOR_PATH}"}
    print(
        f"Throughput: gunicorn ({args.workers} sync workers, production settings, PostgreSQL, "
        f"Redis broker), wrk -t{THREADS} -c{args.connections} -d{args.seconds}s; "
        f"{args.rounds} rounds, receiver and floor in alternating order"
    )
    columns = ["round", "receiver req/s", "p95 ms", "floor req/s", "p95 ms", "ratio"]
    widths = [5, 15, 7, 12, 7, 6]
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)))
    results: dict[str, list[Round]] = {"receiver": [], "floor": []}
    ratios: list[float] = []
    first = 0
    # A short warm-up of each, unmeasured: connections, imports, the first query plans.
    for name in ("receiver", "floor"):
        warm = argparse.Namespace(**{**vars(args), "seconds": 1})
        wrk_round(base, paths[name], first, BODIES_PER_SECOND, warm, work)
        first += BODIES_PER_SECOND
    for number in range(1, args.rounds + 1):
        order = ["receiver", "floor"] if number % 2 else ["floor", "receiver"]
        measured = {}
        for name in order:
            measured[name] = wrk_round(base, paths[name], first, slots, args, work)
            first += slots
            results[name].append(measured[name])
        ratios.append(measured["receiver"].rate / measured["floor"].rate)
        print(
            f"{number:>5} {measured['receiver'].rate:>15.0f} {measured['receiver'].p95:>7.1f} "
            f"{measured['floor'].rate:>12.0f} {measured['floor'].p95:>7.1f} {ratios[-1]:>6.2f}"
        )
    median = statistics.median(ratios)
    receiver = statistics.median(r.rate for r in results["receiver"])
    floor = statistics.median(r.rate for r in results["floor"])
    print(
        f"median: receiver {receiver:.0f} deliveries/s, floor {floor:.0f}/s, "
        f"ratio {median:.2f} (target >= 0.7)"
    )
    return median


# -- the burst with Redis down ------------------------------------------------------------------


@dataclass
class Burst:
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    redis_stopped_at: int = 0
    redis_started_at: int = 0


def post_all(port: int, numbers: list[int], signatures: dict[int, str], burst: Burst) -> None:
    """POST each delivery in turn over this thread's own connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for number in numbers:
            payload = body(number)
            started = time.monotonic()
            try:
                connection.request(
                    "POST",
                    f"/hooks/calendly/{TOKEN}",
                    body=payload,
                    headers={"Content-Type": "application/json", HEADER: signatures[number]},
                )
                response = connection.getresponse()
                response.read()
                outcome = str(response.status)
            except (OSError, http.client.HTTPException) as error:
                outcome = type(error).__name__
                connection.close()
            with burst.lock:
                burst.statuses[outcome] += 1
                burst.seconds.append(time.monotonic() - started)
    finally:
        connection.close()


def answered(burst: Burst) -> int:
    with burst.lock:
        return sum(burst.statuses.values())


def given_up(log: Path) -> int:
    """Deliveries whose publish the receivers gave up on so far, by their log lines."""
    found = re.findall(r"queue (\d+) webhook deliveries", log.read_text(errors="replace"))
    return sum(int(n) for n in found)


def run_burst(base: str, redis_server: PrivateRedis, args: argparse.Namespace, log: Path) -> bool:
    from django.db.models import Q

    from portal.webhooks.models import Delivery, Meeting
    from tests.jobs.workers import wait_for

    total = args.burst
    numbers = list(range(10_000_000, 10_000_000 + total))
    now = int(time.time())
    signatures = {number: sign(body(number), now) for number in numbers}
    burst = Burst(sent=total)
    port = int(base.rsplit(":", 1)[1])
    logged_before = given_up(log)
    clients = [
        threading.Thread(
            target=post_all, args=(port, numbers[i :: args.clients], signatures, burst)
        )
        for i in range(args.clients)
    ]
    started = time.monotonic()
    for client in clients:
        client.start()
    # Redis goes away once a third is answered, and comes back at two thirds.
    while answered(burst) < total // 3:
        time.sleep(0.005)
    redis_server.stop()
    burst.redis_stopped_at = answered(burst)
    while answered(burst) < 2 * total // 3:
        time.sleep(0.005)
    burst.redis_started_at = answered(burst)
    redis_server.start()
    for client in clients:
        client.join()
    sending = time.monotonic() - started

    def all_processed() -> bool:
        return not Delivery.objects.filter(status=Delivery.Status.RECEIVED).exists()

    try:
        wait_for(
            all_processed, BURST_TIMEOUT, "the worker and beat's sweep to process every delivery"
        )
        waited = "by the worker and beat's sweep"
    except AssertionError:
        from portal.webhooks import processing

        left = processing.sweep(older_than=0)
        waited = (
            f"NOT all by the worker and beat's sweep within {BURST_TIMEOUT:.0f} s: "
            f"the bench swept {left}"
        )
    settled = time.monotonic() - started

    deliveries = Delivery.objects.filter(endpoint__token=TOKEN)
    stored = deliveries.count()
    processed = deliveries.filter(status=Delivery.Status.PROCESSED).count()
    twice = deliveries.filter(attempts__gt=1).count()
    meetings = Meeting.objects.filter(invitee_email__endswith="@bench.example")
    meetings_twice = meetings.filter(Q(sequence__gt=0)).count()
    repeats = sum(deliveries.values_list("repeats", flat=True))
    ok_answers = sum(n for status, n in burst.statuses.items() if status.startswith("2"))
    late = sum(1 for seconds in burst.seconds if seconds > CALENDLY_WAIT)
    gave_up = given_up(log) - logged_before
    ordered = sorted(burst.seconds)
    exactly_once = (
        ok_answers == total
        and stored == total
        and processed == total
        and meetings.count() == total
        and twice == 0
        and meetings_twice == 0
        and repeats == 0
        and late == 0
    )
    print(
        f"\nBurst: {total} deliveries from {args.clients} clients; Redis stopped after "
        f"{burst.redis_stopped_at} answers, started again after {burst.redis_started_at}; "
        f"a Celery worker and beat (sweep every 2 s) processing"
    )
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    lines = [
        ("sent", f"{total}"),
        ("answered 2xx", f"{ok_answers}  {dict(sorted(burst.statuses.items()))}"),
        (
            "answer time",
            f"median {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms; over {CALENDLY_WAIT:.0f} s: {late}",
        ),
        ("publishes given up", f"{gave_up} deliveries  (left to the sweep)"),
        ("stored", f"{stored}  (repeats counted: {repeats})"),
        ("processed", f"{processed}  ({waited}); meetings written: {meetings.count()}"),
        (
            "processed more than once",
            f"{twice + meetings_twice}  (attempts > 1: {twice}; "
            f"meetings written again: {meetings_twice})",
        ),
        ("time", f"sending {sending:.1f} s; all processed {settled:.1f} s after the first"),
        ("all exactly once", "yes" if exactly_once else "NO"),
    ]
    for name, value in lines:
        print(f"  {name:<26}{value}")
    return exactly_once


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: ratio >= 0.7; in the burst every delivery answered 2xx within 10 s, "
        "stored once and processed once.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 rounds of 2 s, a burst of 300"
    )
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--burst", type=int, default=2000, help="deliveries in the burst (default 2000)"
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="concurrent clients in the burst (default 8)"
    )
    parser.add_argument(
        "--only", choices=["throughput", "burst"], help="run one of the two parts (default both)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE),
        help="dropped and created afresh (default %(default)s)",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.burst = 2, 2, 300
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install {tool.replace('-server', '')}")

    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    try:
        recreate_database(args.database_url)
        server_env = configure(args.database_url, work)

        import django

        django.setup()
        prepare_database()
        ok = measure(args, server_env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not ok:
        sys.exit(1)


def measure(args: argparse.Namespace, server_env: dict[str, str], work: Path) -> bool:
    from tests.jobs.workers import private_redis

    (work / "redis").mkdir()
    log = work / "gunicorn.log"
    ratio = exactly_once = None
    with private_redis(work / "redis") as redis_server:
        server_env["REDIS_URL"] = redis_server.url
        with gunicorn(server_env, args.workers, log) as base:
            if args.only in (None, "throughput"):
                ratio = throughput(base, args, work)
            if args.only in (None, "burst"):
                start_afresh(redis_server)
                exactly_once = burst_with_workers(base, redis_server, args, work, log)
    summary = []
    if ratio is not None:
        summary.append(
            f"the receiver took {ratio:.2f} of the floor's deliveries per second (target >= 0.7)"
        )
    if exactly_once is not None:
        summary.append(
            f"with Redis down for a third of a {args.burst}-delivery burst, "
            + (
                "every delivery was answered 2xx, stored once and processed once"
                if exactly_once
                else "NOT every delivery was answered 2xx, stored once and processed once"
            )
        )
    print(f"\nSummary: {'; '.join(summary)}.")
    return exactly_once is not False


def start_afresh(redis_server: PrivateRedis) -> None:
    """No rows and no queued tasks left from the rounds: once what wrk left in flight has
    landed (the row count holds still), empty the tables and the broker."""
    import redis
    from django.db import connection

    from bench.webhook_floor import FLOOR_TABLE

    previous = -1
    while (current := count("webhooks_delivery") + count(FLOOR_TABLE)) != previous:
        previous = current
        time.sleep(0.5)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE webhooks_delivery, {FLOOR_TABLE}")
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushdb()
    finally:
        client.close()


def burst_with_workers(
    base: str, redis_server: PrivateRedis, args: argparse.Namespace, work: Path, log: Path
) -> bool:
    """The burst, with one Celery worker (two processes) and beat sweeping every 2 s."""
    from tests.jobs.workers import WorkerPool

    # Processing calls no Calendly; anything that tries finds a closed port.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        pool = WorkerPool(
            redis_url=redis_server.url,
            calendly_url=f"http://127.0.0.1:{closed.getsockname()[1]}",
            directory=work / "pool",
            workers=1,
            concurrency=2,
            extra_env={"WEBHOOK_SWEEP_SECONDS": "2", "WEBHOOK_REFRESH_MINUTES": "0"},
        )
        pool.start()
        try:
            return run_burst(base, redis_server, args, log)
        finally:
            pool.stop()


if __name__ == "__main__":
    main()
