"""Whether Calendly's API answers at all: the Calendly line of /healthz and the admins' home page.

The probe sends `GET /users/me` without a token. Any HTTP answer (Calendly says 401) proves the
host is up and reachable from here; only a connection that fails or stays silent means it is
not. It uses no one's token, so it costs no organization's rate budget.

A load balancer may poll /healthz every few seconds, and a page should not wait on Calendly
each time it loads, so each process asks Calendly at most once per `CACHE_SECONDS` and repeats
the last answer in between (Django's cache: per process, as settings configure no shared one).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.cache import cache

from portal.calendly.client import USER_AGENT

# Short on purpose: a health check that waits as long as the client's calls would make the
# load balancer's request time out instead of reporting.
PROBE_TIMEOUT = httpx.Timeout(connect=2, read=3, write=3, pool=2)
CACHE_SECONDS = 30


@dataclass(frozen=True)
class Reachability:
    reachable: bool
    detail: str


def calendly_reachability() -> Reachability:
    """The last answer for `settings.CALENDLY_API_URL`, probing again once it is stale."""
    api_url: str = settings.CALENDLY_API_URL
    # Keyed by URL, so pointing the portal elsewhere never repeats the old host's answer.
    key = f"calendly-reachability:{api_url}"
    cached = cache.get(key)
    if isinstance(cached, Reachability):
        return cached
    result = _probe(api_url)
    cache.set(key, result, CACHE_SECONDS)
    return result


def _probe(api_url: str) -> Reachability:
    try:
        response = httpx.get(
            f"{api_url}/users/me", headers={"User-Agent": USER_AGENT}, timeout=PROBE_TIMEOUT
        )
    except httpx.TransportError as exc:
        return Reachability(False, f"{api_url} did not answer ({type(exc).__name__})")
    return Reachability(True, f"{api_url} answered (HTTP {response.status_code})")
