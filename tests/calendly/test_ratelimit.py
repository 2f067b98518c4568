"""Pacing under the per-user budget: in one process, and shared by processes through Redis."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from multiprocessing.queues import Queue
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from portal.calendly.ratelimit import LocalRateLimiter, RedisRateLimiter, limiter_for
from tests.calendly.fakes import FakeClock

# The test run's own Redis database: another run beside this one (a second checkout) clears
# learned budgets in its database before each of its tests, and must not clear these.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13"
CEILING = 20
PERIOD = 2.0


def run_for(limiter: LocalRateLimiter, clock: FakeClock, seconds: float) -> int:
    """How many requests the limiter lets through in `seconds` of fake time."""
    end = clock.now + seconds
    sent = 0
    while True:
        wait = limiter.acquire()
        clock.sleep(wait)
        if clock.now >= end:
            return sent
        sent += 1


def test_before_any_answer_the_pace_is_the_free_plans() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock=clock)

    assert 45 <= run_for(limiter, clock, 60) <= 50


def test_the_pace_follows_the_ceiling_calendly_reports_at_97_percent() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock=clock)
    limiter.observe(limit=500, remaining=499, reset=60)

    sent = run_for(limiter, clock, 60)

    assert limiter.limit == 500
    assert 475 <= sent <= 500


def test_the_window_length_is_learned_from_the_reset_countdown() -> None:
    # A user whose budget is 100 per 10 s (as the sandbox can be told to run) is paced at
    # 97 per 10 s, not 97 per minute.
    clock = FakeClock()
    limiter = LocalRateLimiter(clock=clock)
    limiter.observe(limit=100, remaining=99, reset=10)

    assert limiter.period == 10
    assert 95 <= run_for(limiter, clock, 10) <= 100


def test_a_later_shorter_countdown_does_not_shrink_the_window() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock=clock)
    limiter.observe(limit=100, remaining=99, reset=10)
    limiter.observe(limit=100, remaining=40, reset=3)

    assert limiter.period == 10


def test_zero_remaining_stops_sending_until_the_reset() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock=clock)
    limiter.observe(limit=500, remaining=0, reset=25)

    assert limiter.acquire() == pytest.approx(25)


class FixedWindow:
    """A Calendly user's budget: `limit` requests per `period` from a window's first request
    (whoever sends it), each answer saying what is left and when the window ends, rounded up."""

    def __init__(self, clock: FakeClock, limit: int, period: float) -> None:
        self.clock, self.limit, self.period = clock, limit, period
        self.started = -math.inf
        self.used = 0

    def answer(self) -> tuple[int, int, bool]:
        """Count one request: (remaining, reset, refused with 429)."""
        now = self.clock.now
        if now >= self.started + self.period:
            self.started, self.used = now, 0
        self.used += 1
        reset = max(1, math.ceil(self.started + self.period - now))
        return max(0, self.limit - self.used), reset, self.used > self.limit


def share_budget(
    limiter: LocalRateLimiter,
    clock: FakeClock,
    budget: FixedWindow,
    *,
    others: float,
    seconds: float,
) -> tuple[int, int]:
    """We send as the limiter says (each answer taking 20 ms) while another integration of the
    same user sends `others` requests a second, evenly, refused or not. Returns how many we
    sent and how many of ours were answered 429."""
    next_other = clock.now + 0.37 if others else math.inf
    next_ours = clock.now + limiter.acquire()
    end = clock.now + seconds
    sent = refused = 0
    while min(next_other, next_ours) < end:
        if next_other <= next_ours:
            clock.now = next_other
            budget.answer()
            next_other += 1 / others
            continue
        clock.now = next_ours
        remaining, reset, over = budget.answer()
        sent += 1
        refused += over
        limiter.observe(limit=budget.limit, remaining=remaining, reset=reset)
        if over:
            limiter.pause(reset)
        next_ours = clock.now + 0.02 + limiter.acquire()
    return sent, refused


@pytest.mark.parametrize(("limit", "period"), [(100, 10.0), (500, 60.0)])
@pytest.mark.parametrize("their_share", [0.1, 0.3, 0.5, 0.8])
def test_another_integration_keeps_its_share_and_we_meet_no_429(
    limit: int, period: float, their_share: float
) -> None:
    # Spending what is left as if it were all ours runs into a 429 near the end of every
    # window, when they reach for their part: their pace so far is kept for them.
    clock = FakeClock()
    budget = FixedWindow(clock, limit, period)

    sent, refused = share_budget(
        LocalRateLimiter(clock=clock),
        clock,
        budget,
        others=their_share * limit / period,
        seconds=10 * period,
    )

    assert refused == 0
    assert sent >= 0.9 * 10 * limit * (1 - their_share)


def test_alone_the_pace_stays_at_the_ceiling_with_no_429() -> None:
    clock = FakeClock()
    budget = FixedWindow(clock, 100, 10)

    sent, refused = share_budget(
        LocalRateLimiter(clock=clock), clock, budget, others=0, seconds=100
    )

    assert refused == 0
    assert sent >= 0.94 * 1000


def test_someone_who_spent_the_window_leaves_us_waiting_for_the_reset() -> None:
    # Two answered of ours, and 90 spent by someone else in the first 3 s of a 10-s window:
    # at that pace they need what is left, so we wait for the next window.
    clock = FakeClock()
    limiter = LocalRateLimiter(clock=clock)
    limiter.observe(limit=100, remaining=99, reset=10)
    clock.sleep(3)
    limiter.observe(limit=100, remaining=8, reset=7)

    assert limiter.acquire() == pytest.approx(7)


def test_spacing_follows_what_others_leave() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(clock=clock)
    limiter.observe(limit=20, remaining=19, reset=10)
    clock.sleep(4)
    # 5 spent by someone else in 5 s: 5.5 more kept for them, 6.5 ours over 5.5 s.
    limiter.observe(limit=20, remaining=12, reset=6)
    limiter.acquire()

    assert limiter.acquire() == pytest.approx(5.5 / (6.5 * 0.97), abs=0.01)


def test_limiter_for_shares_one_local_budget_per_key() -> None:
    key = f"test-{uuid.uuid4().hex}"
    assert limiter_for(key) is limiter_for(key)
    assert limiter_for(key) is not limiter_for(f"{key}-other")


@pytest.fixture
def redis_key() -> Iterator[str]:
    """A key of our own, removed afterwards (the database is shared with other tests)."""
    key = f"test-{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(REDIS_URL)
    probe = RedisRateLimiter(client, key)
    client.delete(
        probe.tat_key,
        probe.paused_key,
        probe.limit_key,
        probe.period_key,
        probe.spacing_key,
        probe.window_end_key,
        probe.answers_key,
    )
    client.close()


def _limiter(key: str) -> RedisRateLimiter:
    return RedisRateLimiter(
        redis.Redis.from_url(REDIS_URL), key, default_limit=CEILING, period=PERIOD
    )


def _send_paced(key: str, count: int, start_at: float, out: Queue[Any]) -> None:
    limiter = _limiter(key)
    time.sleep(max(0.0, start_at - time.time()))
    granted = []
    for _ in range(count):
        wait = limiter.acquire()
        granted.append(time.time() + wait)
        time.sleep(wait)
    out.put(granted)


def _pause_for(key: str, seconds: float, out: Queue[Any]) -> None:
    _limiter(key).pause(seconds)
    out.put(time.time())


def _acquire_once(key: str, out: Queue[Any]) -> None:
    out.put(_limiter(key).acquire())


def _run(target: Any, *args: Any) -> Any:
    # spawn, not fork: the test process runs threads (sandbox servers, Django), and forking a
    # threaded process can deadlock the child.
    context = multiprocessing.get_context("spawn")
    out: Queue[Any] = context.Queue()
    process = context.Process(target=target, args=(*args, out))
    process.start()
    return process, out


def test_two_processes_share_one_budget_through_redis(redis_key: str) -> None:
    start_at = time.time() + 3.0
    runs = [_run(_send_paced, redis_key, 15, start_at) for _ in range(2)]
    per_process = [out.get(timeout=30) for _, out in runs]
    for process, _ in runs:
        process.join(timeout=10)

    granted = sorted(t for times in per_process for t in times)
    assert len(granted) == 30
    # Any CEILING + 1 consecutive sends must be spread over about a period (about half of it if
    # each process had its own budget); the allowance absorbs a child being descheduled between
    # Redis's answer and reading its clock on a busy machine.
    spans = [granted[i + CEILING] - granted[i] for i in range(len(granted) - CEILING)]
    assert min(spans) > PERIOD * 0.9
    # Both processes really were sending at the same time, interleaved.
    first, second = per_process
    assert min(second) < max(first)
    assert min(first) < max(second)


def test_a_pause_set_by_one_process_stops_the_other(redis_key: str) -> None:
    # Nobody sleeps through the pause here; the other process is only told how long to wait.
    pauser, paused_out = _run(_pause_for, redis_key, 60)
    paused_out.get(timeout=10)
    pauser.join(timeout=10)

    other, other_out = _run(_acquire_once, redis_key)
    wait = other_out.get(timeout=10)
    other.join(timeout=10)

    assert 50 < wait <= 60


def test_the_spacing_is_shared_through_redis(redis_key: str) -> None:
    limiter = _limiter(redis_key)
    limiter.observe(limit=CEILING, remaining=19, reset=10)
    # Another process of ours reads the next answer: the count of our answers is shared too.
    _limiter(redis_key).observe(limit=CEILING, remaining=12, reset=6)
    first = limiter.acquire()
    second = _limiter(redis_key).acquire()

    # 5 spent by someone else; 6.5 of the 12 left are ours over 5.5 s: 0.87 s apart, not 0.5 s.
    assert first == pytest.approx(0.0, abs=0.05)
    assert second == pytest.approx(5.5 / (6.5 * 0.97), abs=0.05)


def test_a_window_count_kept_in_redis_starts_again_with_the_next_window(redis_key: str) -> None:
    limiter = _limiter(redis_key)
    limiter.observe(limit=CEILING, remaining=19, reset=10)
    limiter.observe(limit=CEILING, remaining=18, reset=10)
    client = redis.Redis.from_url(REDIS_URL)
    assert int(client.get(limiter.answers_key) or 0) == 2
    # Calendly's next window: its end is a whole window later than the kept one.
    client.set(limiter.window_end_key, "1.0")
    limiter.observe(limit=CEILING, remaining=19, reset=10)

    assert int(client.get(limiter.answers_key) or 0) == 1


def test_the_learned_ceiling_is_shared_through_redis(redis_key: str) -> None:
    one, two = _limiter(redis_key), _limiter(redis_key)
    one.observe(limit=600, remaining=599, reset=PERIOD)

    two.acquire()
    waits = [two.acquire() for _ in range(3)]

    # 600 per 2 s at 97 % is about 3.4 ms apart, far tighter than the default 20.
    assert max(waits) < 0.05


def test_the_learned_window_is_shared_through_redis(redis_key: str) -> None:
    one, two = _limiter(redis_key), _limiter(redis_key)
    one.observe(limit=100, remaining=99, reset=5)

    waits = [two.acquire() for _ in range(3)]

    # Without the window learned, `two` would space requests PERIOD / (100 * 0.97) apart.
    assert waits[2] - waits[1] == pytest.approx(5 / (100 * 0.97), abs=0.015)


def test_without_redis_the_limiter_falls_back_to_local_pacing() -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(unreachable, "nowhere", default_limit=CEILING, period=PERIOD)

    assert limiter.acquire() == 0
    assert limiter.acquire() > 0
    limiter.pause(5)
    assert limiter.acquire() > 4


def test_while_redis_is_down_it_is_not_asked_on_every_request() -> None:
    calls = []

    class Down(redis.Redis):
        def evalsha(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            raise redis.ConnectionError("down")

    limiter = RedisRateLimiter(Down(), "nowhere", default_limit=CEILING, period=PERIOD)
    for _ in range(5):
        limiter.acquire()

    assert len(calls) == 1
