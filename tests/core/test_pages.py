"""The base layout: CSP nonces, htmx configuration, CSRF for htmx, navigation, messages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.test import Client
from django.urls import include, path

from portal import context_processors

pytestmark = pytest.mark.django_db


def csp_directives(response: HttpResponse) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_every_html_page_has_a_nonce_csp_and_the_page_uses_that_nonce(client: Client) -> None:
    for url in ("/", "/no-such-page"):
        response = client.get(url)
        assert response["Content-Type"].startswith("text/html")
        csp = csp_directives(response)
        nonces = [v for v in csp["script-src"] if v.startswith("'nonce-")]
        assert len(nonces) == 1, url
        nonce = nonces[0].removeprefix("'nonce-").removesuffix("'")
        if response.status_code == 200:
            scripts = re.findall(rb"<script[^>]*>", response.content)
            assert scripts
            for tag in scripts:
                assert f'nonce="{nonce}"'.encode() in tag


def test_csp_forbids_objects_base_and_framing_and_never_allows_eval() -> None:
    first, second = Client().get("/"), Client().get("/")
    csp = csp_directives(first)
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in first["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp["script-src"]
    # A nonce is per response, never reused.
    assert csp["script-src"] != csp_directives(second)["script-src"]


def test_htmx_is_served_from_our_static_files_with_a_locked_down_configuration(
    client: Client,
) -> None:
    page = client.get("/").content.decode()
    assert re.search(r'<script src="/static/vendor/htmx-2\.[0-9.]+\.min\.js"', page)
    match = re.search(r"name=\"htmx-config\" content='([^']*)'", page)
    assert match is not None
    config = json.loads(match.group(1))
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["selfRequestsOnly"] is True
    assert config["historyCacheSize"] == 0
    assert "https://" not in re.findall(r"<script[^>]*>", page)[0]


def test_body_sends_the_csrf_token_on_every_htmx_request(client: Client) -> None:
    response = client.get("/")
    headers = re.search(r"<body hx-headers='([^']*)'", response.content.decode())
    assert headers is not None
    token = json.loads(headers.group(1))["X-CSRFToken"]
    assert len(token) >= 32


def test_navigation_names_every_section(client: Client) -> None:
    nav = re.search(
        r'<nav aria-label="Sections">(.*?)</nav>', client.get("/").content.decode(), re.S
    )
    assert nav is not None
    labels = re.findall(r"<li><(?:a|span)[^>]*>([^<]+)", nav.group(1))
    assert labels == [
        "Members",
        "Links",
        "Meetings",
        "Groups",
        "Seat use",
        "Webhooks",
        "Activity",
        "Jobs",
        "Data deletion",
        "Audit",
    ]


def test_a_section_not_built_yet_says_so_in_words(client: Client, monkeypatch: Any) -> None:
    # Every section is built today; the next one is listed before its pages exist.
    monkeypatch.setattr(
        context_processors,
        "SECTIONS",
        [*context_processors.SECTIONS, ("Forecasts", "forecasts:list")],
    )
    nav = re.search(
        r'<nav aria-label="Sections">(.*?)</nav>', client.get("/").content.decode(), re.S
    )
    assert nav is not None
    # Not by colour alone: on screen and to screen readers.
    later = re.findall(r'<span class="nav-later">(.*?)</span></li>', nav.group(1), re.S)
    assert len(later) == 1
    assert "Forecasts" in later[0]
    for section in later:
        assert '<span class="soon" aria-hidden="true">soon</span>' in section
        assert '<span class="visually-hidden"> (not available yet)</span>' in section


def test_navigation_never_links_to_a_missing_page(client: Client) -> None:
    nav = re.search(
        r'<nav aria-label="Sections">(.*?)</nav>', client.get("/").content.decode(), re.S
    )
    assert nav is not None
    for href in re.findall(r'href="([^"]+)"', nav.group(1)):
        assert client.get(href).status_code in (200, 302)


def test_signed_out_home_page_offers_sign_in_and_says_who_it_is_for(client: Client) -> None:
    page = client.get("/").content.decode()
    assert "Sign in with Calendly" in page
    assert "Who it is for" in page
    assert "Service status" not in page  # shown to admins only (tests/core/test_health.py)


# A view that only this test module routes to: it adds a message the way later pages will.
@login_not_required
def _add_message(request: HttpRequest) -> HttpResponse:
    messages.success(request, "Invitation sent to ada@example.com")
    if request.GET.get("then") == "redirect":
        return redirect("/")
    return render(request, "components/messages.html", {"messages": []})


urlpatterns = [path("message", _add_message), path("", include("portal.urls"))]


@pytest.mark.urls("tests.core.test_pages")
def test_htmx_responses_carry_pending_messages_out_of_band(client: Client) -> None:
    response = client.get("/message", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert 'hx-swap-oob="true"' in body
    assert "Invitation sent to ada@example.com" in body


@pytest.mark.urls("tests.core.test_pages")
def test_plain_requests_leave_messages_to_the_page_layout(client: Client) -> None:
    body = client.get("/message").content.decode()
    assert "hx-swap-oob" not in body


@pytest.mark.urls("tests.core.test_pages")
def test_htmx_redirects_keep_messages_for_the_next_page(client: Client) -> None:
    response = client.get("/message?then=redirect", headers={"HX-Request": "true"})
    assert response.status_code == 302
    assert b"Invitation sent" not in response.content
    next_page = client.get("/").content.decode()
    assert "Invitation sent to ada@example.com" in next_page
