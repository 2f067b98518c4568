"""Request ids travel with every response; client addresses come from headers only when trusted."""

from __future__ import annotations

import re

import pytest
from django.test import Client, RequestFactory, override_settings

from portal.audit.middleware import client_ip

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_fresh_request_id(client: Client) -> None:
    first, second = client.get("/healthz"), client.get("/no-such-page")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_sane_incoming_request_id_is_kept_and_echoed(client: Client) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c12.0001:edge"})
    assert response["X-Request-ID"] == "lb-7f3a9c12.0001:edge"


@pytest.mark.parametrize(
    "incoming",
    [
        "short",
        "has spaces in it",
        "x" * 129,
        "<script>alert(1)</script>",
        "=cmd|calc",
        "ünïcode-id-123",
    ],
)
def test_a_malformed_incoming_request_id_is_replaced(client: Client, incoming: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_the_client_address_is_the_connecting_address_by_default(rf: RequestFactory) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", headers={"X-Forwarded-For": "203.0.113.9"})
    assert client_ip(request) == "10.0.0.5"


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.5"),
        (1, "", "10.0.0.5"),
        (1, "2001:DB8::1", "2001:db8::1"),
    ],
)
def test_forwarded_addresses_are_read_only_from_the_configured_number_of_proxies(
    rf: RequestFactory, proxies: int, forwarded_for: str, expected: str
) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", headers={"X-Forwarded-For": forwarded_for})
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert client_ip(request) == expected


def test_an_address_that_is_not_an_ip_is_not_recorded(rf: RequestFactory) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", headers={"X-Forwarded-For": "not-an-ip"})
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert client_ip(request) is None
