"""The shared cache as a convenience, never as a dependency of a page.

Pages keep a little in the shared cache (the mirror's generation, whether Calendly answers).
When Redis is down (restarting, out of reach), Django's Redis cache raises on every call and
every such page would answer 500. Here a failed read is a miss and a failed write is dropped,
logged at most once a minute per process: pages get slower, not broken, and the background
jobs carry on from their rows once Redis is back.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)

# Seconds between two warnings about the same outage.
WARN_EVERY = 60.0


class ForgivingRedisCache(RedisCache):
    _warned_at = -WARN_EVERY

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            type(self)._warned_at = now
            log.warning("The shared cache (Redis) failed; carrying on without it: %s", exc)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except redis.RedisError as exc:
            self._failed(exc)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except redis.RedisError as exc:
            self._failed(exc)
            return {}

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except redis.RedisError as exc:
            self._failed(exc)
            return False

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except redis.RedisError as exc:
            self._failed(exc)

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except redis.RedisError as exc:
            self._failed(exc)
            return False
