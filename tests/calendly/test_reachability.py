"""Whether Calendly answers at all: any HTTP answer counts, a failed connection does not."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from django.core.cache import cache
from django.test import override_settings

from portal.calendly import reachability
from portal.calendly.reachability import Reachability, calendly_reachability
from tests.conftest import free_port
from tests.sandbox_plugin import RunningSandbox


@pytest.fixture(autouse=True)
def nothing_remembered() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def test_calendly_on_a_closed_port_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with override_settings(CALENDLY_API_URL=url):
        result = calendly_reachability()

    assert result == Reachability(False, f"{url} did not answer (ConnectError)")


def test_calendly_that_answers_401_is_reachable(sandbox: RunningSandbox) -> None:
    with override_settings(CALENDLY_API_URL=sandbox.url):
        result = calendly_reachability()

    assert result == Reachability(True, f"{sandbox.url} answered (HTTP 401)")


def test_calendly_that_accepts_the_connection_but_never_answers_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reachability, "PROBE_TIMEOUT", httpx.Timeout(0.2))
    with socket.socket() as silent:
        # Listening but never accepting: the kernel completes the handshake, nobody replies.
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with override_settings(CALENDLY_API_URL=f"http://127.0.0.1:{silent.getsockname()[1]}"):
            result = calendly_reachability()

    assert result.reachable is False
    assert "ReadTimeout" in result.detail


def test_a_second_look_within_the_window_sends_no_request(sandbox: RunningSandbox) -> None:
    with override_settings(CALENDLY_API_URL=sandbox.url):
        first = calendly_reachability()
        second = calendly_reachability()

    assert first == second
    assert sandbox.requests.count("GET /users/me") == 1
    assert httpx.get(f"{sandbox.url}/_sandbox/requests").json()["total"] == 1


def test_a_new_api_url_is_probed_rather_than_given_the_old_answer(
    sandbox: RunningSandbox,
) -> None:
    with override_settings(CALENDLY_API_URL=f"http://127.0.0.1:{free_port()}"):
        assert calendly_reachability().reachable is False
    with override_settings(CALENDLY_API_URL=sandbox.url):
        assert calendly_reachability().reachable is True
