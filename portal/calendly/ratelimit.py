"""Pacing requests under Calendly's per-user budget, shared by every process using that user.

Calendly counts requests per Calendly user per minute (500 on paid plans, 50 on free ones), across
every integration that user has connected, and says how much is left in `X-RateLimit-*` headers on
every answer. So the ceiling is learned from those headers at run time, the pace is kept a little
under it (0.97), and one bucket is shared by all workers: a GCRA schedule kept in Redis (one
"theoretical arrival time" per key, advanced atomically in Lua), plus a "paused until" timestamp
that any process sets when Calendly answers 429 or reports zero remaining, so all of them stop at
once. Celery's own `rate_limit` is per worker and cannot express this.

Another integration may spend the same user's budget. So the pace also follows what is left:
every answer's `Remaining` and `Reset`, with a count of our own answers in the window, tell
what the others spent so far; they are expected to go on at that pace, and what is left after
their share is spread over the rest of the window (`spacing`). Without keeping their share,
the portal would spend what is left just as they reach for it, and meet a 429 at the end of
every window. Alone, that spacing is never the slower.

A limiter only says how long to wait; the client does the sleeping, so tests can fake time.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol, cast

import redis

log = logging.getLogger(__name__)

# Before the first answer tells us the real ceiling, assume the free plan's, the lowest published.
DEFAULT_LIMIT = 50
# Calendly's documented window; the real one is learned from X-RateLimit-Reset, which counts
# down to the end of the current window: the largest value seen is the window's length (a
# user's first request opens a window, so the first answer usually shows all of it).
PERIOD_SECONDS = 60.0
PACE = 0.97
# Answers of ours that Calendly has counted but that have not been read yet (another worker's
# request under way): not taken for another integration's spending.
IN_FLIGHT = 1
# Before this share of the window has passed, the others' pace is judged over this share, so
# a few early requests do not read as a flood.
EARLIEST_ESTIMATE = 0.1
# After Redis fails, pace locally for this long before trying it again, so an outage costs one
# connection timeout per process rather than one per request.
REDIS_RETRY_AFTER = 30.0


class RateLimiter(Protocol):
    def acquire(self) -> float:
        """Reserve the next send slot; return how many seconds to wait before sending."""
        ...

    def observe(self, *, limit: int | None, remaining: int | None, reset: float | None) -> None:
        """Learn from an answer's X-RateLimit-Limit / -Remaining / -Reset headers."""
        ...

    def pause(self, seconds: float) -> None:
        """Stop every user of this budget for `seconds` (after a 429)."""
        ...


class LocalRateLimiter:
    """The same schedule kept in this process only, for when there is no Redis."""

    def __init__(
        self,
        *,
        default_limit: int = DEFAULT_LIMIT,
        period: float = PERIOD_SECONDS,
        pace: float = PACE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._period = period
        self._learned_period = 0.0
        self._pace = pace
        self._limit = default_limit
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        # Spacing from Remaining/Reset, and when the window it was read in ends.
        self._spacing = 0.0
        self._spacing_until = -math.inf
        self._answers = WindowCount()

    @property
    def limit(self) -> int:
        return self._limit

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot, self._paused_until)
            interval = self._period / (self._limit * self._pace)
            if now < self._spacing_until:
                interval = max(interval, self._spacing)
            self._next_slot = slot + interval
            return slot - now

    @property
    def period(self) -> float:
        return self._period

    def observe(self, *, limit: int | None, remaining: int | None, reset: float | None) -> None:
        with self._lock:
            if limit is not None and limit > 0:
                self._limit = limit
            window = learned_window(reset)
            if window > self._learned_period:
                self._learned_period = self._period = window
            interval: float | None = 0.0
            if remaining is not None and reset is not None and reset > 0:
                now = self._clock()
                ours = self._answers.count(now, reset, self._period)
                interval = spacing(
                    limit=self._limit,
                    remaining=remaining,
                    reset=reset,
                    window=self._period,
                    ours=ours,
                    pace=self._pace,
                )
                if interval is not None:
                    self._spacing, self._spacing_until = interval, now + reset
        if interval is None and reset is not None:
            self.pause(reset)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


# All times are Redis's own clock (TIME), so processes on different hosts agree.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(redis.call('GET', KEYS[3]) or ARGV[1])
local period = tonumber(redis.call('GET', KEYS[4]) or ARGV[2])
local interval = math.max(period / (limit * tonumber(ARGV[3])),
                          tonumber(redis.call('GET', KEYS[5]) or 0))
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0),
                      tonumber(redis.call('GET', KEYS[2]) or 0))
local tat = slot + interval
redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
return string.format('%.6f', slot - now)
"""

# Keeps the longest window any process has seen.
_LEARN_PERIOD = """
local seen = tonumber(ARGV[1])
if seen > tonumber(redis.call('GET', KEYS[1]) or 0) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', 86400)
  return ARGV[1]
end
return redis.call('GET', KEYS[1])
"""

# Counts an answer in the current window of Calendly's budget and returns the count. The
# window is known by when it ends (now + Reset, to a second as Reset is rounded up); an end
# more than half a window after the one kept is a new window.
_COUNT_ANSWER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local reset = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local ends = now + reset
local kept = tonumber(redis.call('GET', KEYS[1]) or 0)
local ttl = math.ceil((reset + window) * 1000)
if ends > kept + window / 2 then
  redis.call('SET', KEYS[1], string.format('%.6f', ends), 'PX', ttl)
  redis.call('SET', KEYS[2], 1, 'PX', ttl)
  return 1
end
return redis.call('INCR', KEYS[2])
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or 0) then
  redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', math.ceil(ARGV[1] * 1000) + 1000)
end
return string.format('%.6f', until_)
"""


class RedisRateLimiter:
    """One budget per `key` (the Calendly user's URI) for every process sharing this Redis."""

    def __init__(
        self,
        redis_client: redis.Redis,
        key: str,
        *,
        default_limit: int = DEFAULT_LIMIT,
        period: float = PERIOD_SECONDS,
        pace: float = PACE,
    ) -> None:
        self._redis = redis_client
        # Braces keep the three keys in one Redis Cluster slot, which multi-key scripts require.
        base = f"calendly:ratelimit:{{{key}}}"
        self.tat_key = f"{base}:tat"
        self.paused_key = f"{base}:paused_until"
        self.limit_key = f"{base}:limit"
        self.period_key = f"{base}:period"
        self.spacing_key = f"{base}:spacing"
        self.window_end_key = f"{base}:window_end"
        self.answers_key = f"{base}:answers"
        self._default_limit = default_limit
        self._period = period
        self._pace = pace
        self._known_limit: int | None = None
        self._known_period = 0.0
        self._acquire_script = redis_client.register_script(_ACQUIRE)
        self._learn_period_script = redis_client.register_script(_LEARN_PERIOD)
        self._pause_script = redis_client.register_script(_PAUSE)
        self._count_script = redis_client.register_script(_COUNT_ANSWER)
        # Redis being down must slow us to per-process pacing, not stop every Calendly call.
        self._fallback = LocalRateLimiter(default_limit=default_limit, period=period, pace=pace)
        self._redis_down_until = -math.inf

    def _redis_usable(self) -> bool:
        return time.monotonic() >= self._redis_down_until

    def _redis_failed(self, exc: redis.RedisError) -> None:
        log.warning(
            "Rate limiter pacing locally for %g s: Redis failed: %s", REDIS_RETRY_AFTER, exc
        )
        self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER

    def acquire(self) -> float:
        if not self._redis_usable():
            return self._fallback.acquire()
        try:
            wait = self._acquire_script(
                keys=[
                    self.tat_key,
                    self.paused_key,
                    self.limit_key,
                    self.period_key,
                    self.spacing_key,
                ],
                args=[self._default_limit, self._period, self._pace],
            )
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return self._fallback.acquire()
        return max(0.0, float(wait))

    def observe(self, *, limit: int | None, remaining: int | None, reset: float | None) -> None:
        self._fallback.observe(limit=limit, remaining=None, reset=reset)
        if limit is not None and limit > 0 and limit != self._known_limit and self._redis_usable():
            try:
                self._redis.set(self.limit_key, limit, ex=86400)
            except redis.RedisError as exc:
                self._redis_failed(exc)
            else:
                self._known_limit = limit
        window = learned_window(reset)
        if window > self._known_period and self._redis_usable():
            try:
                self._known_period = float(
                    self._learn_period_script(keys=[self.period_key], args=[window])
                )
            except redis.RedisError as exc:
                self._redis_failed(exc)
        if remaining is None or reset is None or reset <= 0:
            return
        if remaining == 0:
            self.pause(reset)
            return
        if not self._redis_usable():
            return
        window = self._known_period or self._period
        try:
            ours = int(
                self._count_script(
                    keys=[self.window_end_key, self.answers_key], args=[reset, window]
                )
            )
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return
        interval = spacing(
            limit=self._known_limit or self._default_limit,
            remaining=remaining,
            reset=reset,
            window=window,
            ours=ours,
            pace=self._pace,
        )
        if interval is None:
            self.pause(reset)
        else:
            self._space(interval, reset)

    def _space(self, interval: float, seconds: float) -> None:
        """Space sends at least `interval` apart for the `seconds` left in this window."""
        try:
            self._redis.set(self.spacing_key, f"{interval:.6f}", px=max(1, int(seconds * 1000)))
        except redis.RedisError as exc:
            self._redis_failed(exc)

    def pause(self, seconds: float) -> None:
        self._fallback.pause(seconds)
        if not self._redis_usable():
            return
        try:
            self._pause_script(keys=[self.paused_key], args=[max(0.0, seconds)])
        except redis.RedisError as exc:
            self._redis_failed(exc)


def spacing(
    *, limit: int, remaining: int, reset: float, window: float, ours: int, pace: float
) -> float | None:
    """How far apart to space sends for the rest of this window, given an answer's Limit,
    Remaining and Reset, the window's length and `ours`, the answers this budget has had in
    the window (this one included); None when nothing is left that other integrations of the
    same user will not take (stop until the reset).

    What was used and is not ours the others spent; they are expected to keep their pace
    until the window ends, and what they will need is kept for them."""
    if remaining <= 0:
        return None
    left = time_left(reset)
    others = max(0, limit - remaining - ours - IN_FLIGHT)
    elapsed = max(window - reset + 1, window * EARLIEST_ESTIMATE)
    mine = remaining - others / elapsed * left
    if mine < 1:
        return None
    return left / (mine * pace)


class WindowCount:
    """Answers counted in the current window of Calendly's budget, in one process (the Redis
    limiter keeps the same count in Redis, for every process)."""

    def __init__(self) -> None:
        self._ends = -math.inf
        self._count = 0

    def count(self, now: float, reset: float, window: float) -> int:
        """Count one answer; return the answers in its window so far."""
        ends = now + reset
        if ends > self._ends + window / 2:
            self._ends, self._count = ends, 0
        self._count += 1
        return self._count


def time_left(reset: float) -> float:
    """The seconds an X-RateLimit-Reset value leaves on average: Calendly rounds it up to
    whole seconds, so taken as it is it would slow every send a little."""
    return max(0.5, reset - 0.5) if reset >= 1 else reset


def learned_window(reset: float | None) -> float:
    """The window length an X-RateLimit-Reset value proves (0 when it proves nothing)."""
    if reset is None or reset <= 0:
        return 0.0
    return float(math.ceil(reset))


_local_limiters: dict[str, LocalRateLimiter] = {}
_redis_clients: dict[str, redis.Redis] = {}
_registry_lock = threading.Lock()


def limiter_for(key: str, redis_url: str | None = None) -> RateLimiter:
    """The limiter for one Calendly user: shared through Redis when a URL is given, else
    shared by every client in this process."""
    with _registry_lock:
        if redis_url:
            client = _redis_clients.get(redis_url)
            if client is None:
                client = _redis_clients[redis_url] = redis.Redis.from_url(redis_url)
            return RedisRateLimiter(client, key)
        limiter = _local_limiters.get(key)
        if limiter is None:
            limiter = _local_limiters[key] = LocalRateLimiter()
        return limiter


def known_budget(key: str, redis_url: str | None = None) -> tuple[int, float] | None:
    """The ceiling and window learned for one Calendly user (requests, seconds), or None
    before any answer has said. Read for estimates only: a page must not wait on Redis, so
    a failure reads as unknown."""
    if redis_url:
        base = f"calendly:ratelimit:{{{key}}}"
        try:
            client = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
            try:
                values = cast(list[bytes | None], client.mget(f"{base}:limit", f"{base}:period"))
            finally:
                client.close()
        except redis.RedisError:
            return None
        limit, period = values
        if limit is None:
            return None
        return int(limit), float(period) if period is not None else PERIOD_SECONDS
    local = _local_limiters.get(key)
    if local is None:
        return None
    return local.limit, local.period
