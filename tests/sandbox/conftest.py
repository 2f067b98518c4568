"""Clients for the sandbox's seeded people, and a webhook receiver to deliver to."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.sandbox_plugin import RunningSandbox

ClientFor = Callable[[str], httpx.Client]


@pytest.fixture
def client_for(sandbox: RunningSandbox) -> Iterator[ClientFor]:
    clients: list[httpx.Client] = []

    def make(token: str) -> httpx.Client:
        client = httpx.Client(
            base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def owner(sandbox: RunningSandbox, client_for: ClientFor) -> httpx.Client:
    return client_for(sandbox.owner_token)


@pytest.fixture
def admin(sandbox: RunningSandbox, client_for: ClientFor) -> httpx.Client:
    return client_for(sandbox.admin_tokens[0])


@pytest.fixture
def member(sandbox: RunningSandbox, client_for: ClientFor) -> httpx.Client:
    """A plain member (role `user`)."""
    return client_for(sandbox.user_token)


@pytest.fixture
def outsider(sandbox: RunningSandbox, client_for: ClientFor) -> httpx.Client:
    """The owner of the second, foreign organization."""
    return client_for(sandbox.other_org_token)


@pytest.fixture
def org_uri(sandbox: RunningSandbox) -> str:
    return sandbox.organization_uri(sandbox.url)


class Receiver:
    """Records every request (method, path, headers, body) and answers `statuses[path]`, else
    `status`. A 3xx points `Location` at `/moved`, which GET answers 200, so a client that
    followed the redirect would be seen to."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.received = threading.Event()
        self.status = 200
        self.statuses: dict[str, int] = {}
        self.url = ""

    def posts(self, path: str | None = None) -> list[dict[str, Any]]:
        """The POSTs received, to `path` (e.g. "/hooks/calendly/org") if given."""
        return [
            r
            for r in self.requests
            if r["method"] == "POST" and (path is None or r["path"] == path)
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP endpoint that records what the sandbox POSTs to it."""
    box = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.answer(box.statuses.get(self.path, box.status))

        def do_GET(self) -> None:
            self.answer(200)

        def answer(self, status: int) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            box.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/moved")
            self.send_header("Content-Length", "0")
            self.end_headers()
            box.received.set()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_port}/hooks/calendly"
    yield box
    server.shutdown()
    server.server_close()
    thread.join()
