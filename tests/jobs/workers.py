"""Real worker processes for the job engine: a private Redis, Celery workers and beat, and the
kills a machine suffers (a pool child killed by the OOM killer, the whole worker lost).

Used by tests/jobs/test_workers.py and bench/chaos_jobs.py. The processes share the database
the caller's Django connection points at (a test's must commit its rows: transaction=True) and
run with short engine timings, so a lease, a stall and a sweep take seconds, not minutes.
Nothing here touches the shared Redis on 6379: each `private_redis()` is its own server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote

import redis
from celery import Celery
from django.conf import settings
from django.db import connection
from django.db.models import Count
from redis.backoff import NoBackoff
from redis.retry import Retry

from portal.jobs.models import Job, JobItem
from portal.jobs.wake import RUN_TASK
from tests.conftest import PYTHON, ROOT, clean_environment, free_port

# Seconds, as strings for the environment. Sanity checks in settings.py accept them: the slice
# plus the lease fit far inside the task time limit, every value is positive.
ENGINE_TIMINGS = {
    "JOB_LEASE_SECONDS": "5",
    "JOB_STALL_SECONDS": "3",
    "JOB_SWEEP_SECONDS": "2",
    "JOB_SLICE_SECONDS": "5",
    "JOB_RETRY_BASE_SECONDS": "1",
    "JOB_RETRY_CAP_SECONDS": "3",
    "WORKER_HEARTBEAT_SECONDS": "1",
}
# How long a process gets to stop after SIGTERM: a warm shutdown waits for the running slice
# (JOB_SLICE_SECONDS plus one item), on a loaded machine.
STOP_GRACE = 30.0
READY_TIMEOUT = 60.0


# -- Redis ----------------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    """A redis-server of our own on `port`, keeping nothing on disk: a restart loses every
    queued wake-up, which is what the engine must survive."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("this Redis is already running")
        log = (self.directory / "redis.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    *("--port", str(self.port)),
                    *("--bind", "127.0.0.1"),
                    *("--save", ""),
                    *("--appendonly", "no"),
                    *("--dir", str(self.directory)),
                ],
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.answers, 20, f"Redis to answer on port {self.port}")

    def answers(self) -> bool:
        # No retries: a refused connection is the answer "not yet".
        client = redis.Redis(
            port=self.port,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGTERM is SHUTDOWN for redis-server (nothing to save with --save ""); sent as a
        # command instead, redis-py would retry it against the closed port for seconds.
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def private_redis(directory: Path | None = None) -> Iterator[PrivateRedis]:
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="redis-")))
        server = PrivateRedis(port=free_port(), directory=directory)
        try:
            server.start()
            yield server
        finally:
            server.stop()


def wake(redis_url: str, job_id: int, *, count: int = 1) -> None:
    """What `engine.start` sends once its transaction commits, sent to `redis_url`: the test
    process's own Celery app is bound to the suite's broker, which no worker here reads."""
    app = Celery("wake", broker=redis_url, set_as_current=False)
    try:
        for _ in range(count):
            app.send_task(RUN_TASK, args=[job_id])
    finally:
        app.close()


# -- processes --------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Direct children of `pid`, read from /proc (psutil is not a dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent id follows it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def processes_with(variable: str, value: str) -> list[int]:
    """Live processes whose environment has `variable=value`: every process a pool started,
    and every process those forked, however orphaned."""
    needle = f"{variable}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def database_url() -> str:
    """The database this process's Django connection uses: a test's own test database."""
    db = connection.settings_dict
    user = quote(str(db["USER"] or ""), safe="")
    password = quote(str(db["PASSWORD"] or ""), safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}{host}{port}/{quote(str(db['NAME']), safe='')}"


@dataclass
class Worker:
    index: int
    process: subprocess.Popen[bytes] | None = None
    # Where each start's output begins in the log, to wait for that start's "ready".
    log_offset: int = 0


@dataclass
class WorkerPool:
    """`workers` Celery workers (prefork, `concurrency` children each) and, with `beat`, one
    beat process running the sweeper, all pointed at `redis_url` and Calendly at
    `calendly_url`."""

    redis_url: str
    calendly_url: str
    directory: Path
    workers: int = 2
    concurrency: int = 1
    beat: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    _workers: list[Worker] = field(default_factory=list)
    _beat: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        return clean_environment(
            PORTAL_ENV="test",
            PORTAL_DATA_DIR=str(self.directory),
            DATABASE_URL=database_url(),
            REDIS_URL=self.redis_url,
            CALENDLY_API_URL=self.calendly_url,
            CALENDLY_AUTH_URL=self.calendly_url,
            # Tokens are encrypted at rest: the workers must read what this process wrote.
            SECRET_KEY=settings.SECRET_KEY,
            FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),
            # The hourly mirror refresh would only add Calendly traffic to count around.
            MIRROR_SYNC_MINUTES="0",
            **ENGINE_TIMINGS,
            **self.extra_env,
        )

    def log_path(self, index: int) -> Path:
        return self.directory / f"w{index}.log"

    def start(self) -> WorkerPool:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._workers = [Worker(index) for index in range(self.workers)]
        for worker in self._workers:
            self._launch(worker)
        if self.beat:
            with (self.directory / "beat.log").open("ab") as log:
                self._beat = self._popen(
                    [
                        *("-m", "celery", "-A", "portal", "beat"),
                        *("--schedule", str(self.directory / "beat-schedule")),
                        *("--loglevel", "INFO"),
                    ],
                    log,
                )
        for worker in self._workers:
            self._wait_ready(worker)
        return self

    def _popen(self, arguments: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [PYTHON, *arguments],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _launch(self, worker: Worker) -> None:
        path = self.log_path(worker.index)
        worker.log_offset = path.stat().st_size if path.exists() else 0
        with path.open("ab") as log:
            worker.process = self._popen(
                [
                    *("-m", "celery", "-A", "portal", "worker"),
                    *("--pool", "prefork", "--concurrency", str(self.concurrency)),
                    *("--hostname", f"w{worker.index}@%h"),
                    "--without-gossip",
                    "--without-mingle",
                    *("--loglevel", "INFO"),
                ],
                log,
            )

    def _wait_ready(self, worker: Worker) -> None:
        def ready() -> bool:
            process = worker.process
            if process is None or process.poll() is not None:
                raise AssertionError(
                    f"worker {worker.index} exited while starting:\n{self.log_tail(worker.index)}"
                )
            with self.log_path(worker.index).open("rb") as log:
                log.seek(worker.log_offset)
                # Celery logs "w0@host ready." once it consumes from the broker.
                return b" ready." in log.read()

        wait_for(ready, READY_TIMEOUT, f"worker {worker.index} to be ready", pool=self)

    def main_pid(self, index: int) -> int:
        process = self._workers[index].process
        assert process is not None, f"worker {index} was never started"
        assert process.poll() is None, f"worker {index} is not running"
        return process.pid

    def child_pids(self, index: int) -> list[int]:
        return children_of(self.main_pid(index))

    def kill_child(self, index: int) -> int:
        """SIGKILL one prefork child of worker `index` (the OOM killer's way); its main process
        forks a new one. Returns the killed pid."""
        children = self.child_pids(index)
        assert children, f"worker {index} has no pool child to kill"
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def kill_main(self, index: int) -> None:
        """SIGKILL worker `index`'s main process and then its children, as losing the machine
        would: nothing of that worker runs, acknowledges or cleans up afterwards."""
        worker = self._workers[index]
        assert worker.process is not None
        # Read before the kill: an orphan's parent is no longer the main process.
        children = children_of(worker.process.pid)
        worker.process.kill()
        worker.process.wait(timeout=10)
        for pid in children:
            _signal(pid, signal.SIGKILL)

    def restart(self, index: int) -> None:
        """Start worker `index` again (after `kill_main`, or stopping it first if it runs)."""
        worker = self._workers[index]
        if worker.process is not None and worker.process.poll() is None:
            self._terminate([worker.process])
        self._launch(worker)
        self._wait_ready(worker)

    def _terminate(self, processes: list[subprocess.Popen[bytes]]) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM everything (warm shutdown: the running slice finishes), SIGKILL what is left
        after the grace period, and fail if any process of this pool still runs."""
        processes = [w.process for w in self._workers if w.process is not None]
        if self._beat is not None:
            processes.append(self._beat)
        self._terminate(processes)
        marker = str(self.directory)
        # Pool children orphaned by kill_main, or left by a main process killed above.
        leftovers = processes_with("PORTAL_DATA_DIR", marker)
        for pid in leftovers:
            _signal(pid, signal.SIGKILL)
        if leftovers:
            wait_for(
                lambda: not processes_with("PORTAL_DATA_DIR", marker),
                10,
                "leftover worker processes to die",
            )
        assert processes_with("PORTAL_DATA_DIR", marker) == [], "worker processes left behind"

    def log_tail(self, index: int | None = None, lines: int = 30) -> str:
        names = (
            [f"w{index}.log"]
            if index is not None
            else sorted(path.name for path in self.directory.glob("*.log"))
        )
        parts = []
        for name in names:
            path = self.directory / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name}\n" + "\n".join(text))
        return "\n".join(parts)

    def log_text(self, index: int) -> str:
        return self.log_path(index).read_text(errors="replace")


# -- waiting ----------------------------------------------------------------------------------


def job_summary(job_id: int) -> str:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return f"job {job_id} does not exist"
    states = dict(
        JobItem.objects.filter(job_id=job_id)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    return (
        f"job {job_id}: {job.state}, {job.succeeded} succeeded, {job.failed} failed, "
        f"{job.skipped} skipped of {job.total}; items by state {states}"
    )


def wait_for(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    *,
    pool: WorkerPool | None = None,
    job_id: int | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `predicate` until it is true; after `timeout` seconds (a guard against hanging,
    never a measurement) fail saying what was awaited, where the job stands and what the
    workers logged last."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            details = [f"Timed out after {timeout:g}s waiting for {what}."]
            if job_id is not None:
                details.append(job_summary(job_id))
            if pool is not None:
                details.append(pool.log_tail())
            raise AssertionError("\n".join(details))
        time.sleep(interval)


def finished(job_id: int) -> Callable[[], bool]:
    def done() -> bool:
        state = Job.objects.filter(pk=job_id).values_list("state", flat=True).first()
        return state == Job.State.DONE

    return done


def items_finished_at_least(job_id: int, count: int) -> Callable[[], bool]:
    def reached() -> bool:
        job = Job.objects.filter(pk=job_id).first()
        return job is not None and job.succeeded + job.failed >= count

    return reached
