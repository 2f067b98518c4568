"""pytest fixtures for the Calendly sandbox (portal/sandbox).

`sandbox` is a fresh, small organization served on a free port for one test; use
`sandbox_factory(members=..., faults=..., rate_limit=...)` for other shapes. Both stop their
servers afterwards. The running server is on `sandbox.server` (`sandbox.server.url`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.sandbox import Sandbox, SandboxServer, seeded


class RunningSandbox(Sandbox):
    """A Sandbox that knows the server answering for it."""

    server: SandboxServer

    @property
    def url(self) -> str:
        return self.server.url


SandboxFactory = Callable[..., RunningSandbox]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    servers: list[SandboxServer] = []

    def start(**kwargs: Any) -> RunningSandbox:
        kwargs.setdefault("members", 30)
        sandbox = seeded(RunningSandbox(**kwargs))
        sandbox.server = SandboxServer(sandbox).start()
        servers.append(sandbox.server)
        return sandbox

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> RunningSandbox:
    return sandbox_factory()
