"""What every page benchmark shares: gunicorn serving the portal, wrk loading it, and the table
of ratios to the empty page measured side by side in alternating rounds."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
P95_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("P95_MS %.3f\\n", latency:percentile(95) / 1000))
end
"""
EMPTY = "/bench/empty"


def environment(database_url: str, static_root: str) -> dict[str, str]:
    return {
        **os.environ,
        "PORTAL_ENV": "production",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONPATH": str(ROOT),
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "FIELD_ENCRYPTION_KEY": "m3dW0mGm0N0JtqCPWUpTfZpJqR1Gq2sXhQ7nC8yFv1w=",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/8",
        # Plain HTTP on loopback: no redirect to HTTPS.
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "WARNING",
    }


def recreate_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')


def vacuum(database_url: str) -> None:
    """What autovacuum does soon after a bulk load: statistics, and index-only counts."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def wrk(url: str, cookie: str, seconds: int, connections: int, script: Path) -> tuple[float, float]:
    """Requests per second and p95 latency (ms) of `url` with a session cookie."""
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            "-H",
            f"Cookie: __Host-sessionid={cookie}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p95 = re.search(r"P95_MS ([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if rate is None or p95 is None:
        sys.exit(f"could not read wrk's output:\n{output}")
    if errors:
        sys.exit(f"{url} answered {errors.group(1)} errors; is the session valid?\n{output}")
    return float(rate.group(1)), float(p95.group(1))


def compare(
    base: str,
    args: argparse.Namespace,
    script: Path,
    *,
    sizes: list[int],
    sessions: dict[str, str],
    searches: Callable[[int], dict[str, str]],
    size_label: tuple[str, Callable[[int], int]],
) -> None:
    """Print, for each size, the empty page's rate and each search's rate, ratio and p95
    (medians of alternating rounds), then each search's p95 over its p95 at the first size.

    `searches(size)` gives the URLs to measure by name ("common", "rare"); `size_label` is the
    first column's heading and what it shows for a size (members, event types, ...)."""
    heading, shown = size_label
    names = list(searches(sizes[0]))
    print(
        f"gunicorn ({args.workers} sync workers, production settings, PostgreSQL), "
        f"wrk -t2 -c{args.connections} -d{args.seconds}s; {args.rounds} rounds of the empty "
        f"page and the searches {', '.join(map(repr, searches(sizes[0]).values()))}, medians"
    )
    width = max(len(heading), 8)
    columns = [f"{heading:>{width}}", f"{'empty req/s':>12}"]
    for name in names:
        columns += [f"{name + ' req/s':>13}", f"{'ratio':>6}", f"{'p95 ms':>7}"]
    print(" ".join(columns))
    p95s: dict[tuple[str, int], float] = {}
    for size in sizes:
        cookie = sessions[str(size)]
        urls = {"empty": EMPTY, **searches(size)}
        rates: dict[str, list[float]] = {name: [] for name in urls}
        ratios: dict[str, list[float]] = {name: [] for name in names}
        latencies: dict[str, list[float]] = {name: [] for name in names}
        # Alternating rounds: a noisy moment on a shared machine spoils one set, and the
        # median sets it aside.
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
        cells = [f"{shown(size):>{width},}", f"{statistics.median(rates['empty']):>12.0f}"]
        for name in names:
            p95s[name, size] = statistics.median(latencies[name])
            cells += [
                f"{statistics.median(rates[name]):>13.0f}",
                f"{statistics.median(ratios[name]):>6.2f}",
                f"{p95s[name, size]:>7.1f}",
            ]
        print(" ".join(cells))
    first = sizes[0]
    for name in names:
        spread = ", ".join(
            f"{shown(size):,}: {p95s[name, size] / p95s[name, first]:.2f}" for size in sizes[1:]
        )
        print(f"{name} search p95 / p95 at {shown(first):,}: {spread}")


def run(
    doc: str | None,
    *,
    default_database: str,
    size_option: tuple[str, str],
    setup: Callable[[list[int]], str],
    searches: Callable[[int], dict[str, str]],
    size_label: tuple[str, Callable[[int], int]],
) -> None:
    """A page benchmark's whole run: read the command line, recreate and migrate the database,
    fill it for each size with `setup(sizes)` (a `manage.py shell` script printing
    "SESSION <size> <session key>" per size), then compare each size's searches with the empty
    page."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    option, default_sizes = size_option
    parser.add_argument(option, dest="sizes", default=default_sizes)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", default_database)
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        env = environment(args.database_url, str(work / "static"))
        recreate_database(args.database_url)
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "collectstatic", "--noinput", "-v0")
        sizes = [int(size) for size in args.sizes.split(",")]
        filled = manage(env, "shell", stdin=setup(sizes))
        sessions = dict(re.findall(r"SESSION (\d+) (\S+)", filled))
        vacuum(args.database_url)
        script = work / "p95.lua"
        script.write_text(P95_SCRIPT)
        with gunicorn(env, args.workers) as base:
            compare(
                base,
                args,
                script,
                sizes=sizes,
                sessions=sessions,
                searches=searches,
                size_label=size_label,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
