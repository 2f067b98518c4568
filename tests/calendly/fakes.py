"""Time and transport doubles, so the client's waits are asserted without waiting."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from portal.calendly.client import CalendlyClient
from portal.calendly.ratelimit import LocalRateLimiter


class FakeClock:
    """A clock that only moves when the code under test sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder:
    """A MockTransport handler that keeps every request and delegates the answer."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def sent(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: FakeClock | None = None,
    **kwargs: object,
) -> CalendlyClient:
    clock = clock or FakeClock()
    # A generous ceiling keeps pacing waits out of the recorded sleeps unless a test wants them.
    limiter = kwargs.pop("limiter", None) or LocalRateLimiter(default_limit=1_000_000, clock=clock)
    return CalendlyClient(
        token="test-token",
        base_url="https://api.calendly.com",
        transport=httpx.MockTransport(handler),
        limiter=limiter,  # type: ignore[arg-type]
        sleep=clock.sleep,
        **kwargs,  # type: ignore[arg-type]
    )
