"""A refused request logs one line saying who was refused what; a server error its traceback."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from portal.accounts.models import Role
from portal.accounts.roles import allow
from portal.logs import NoClientErrorAccessLines
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.test_logs")]


# Pages that only this module routes to.
@allow(Role.ADMIN)
def _admins_only(request: HttpRequest) -> HttpResponse:
    return HttpResponse("for admins")


@login_not_required
def _broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a real bug")


urlpatterns = [
    path("admins-only", _admins_only),
    path("broken", _broken),
    path("", include("portal.urls")),
]


def django_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("django")]


def test_a_page_outside_the_persons_role_logs_one_line_without_a_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = UserFactory(role=Role.VIEWER)
    client.force_login(viewer)
    with caplog.at_level(logging.INFO):
        assert client.get("/admins-only").status_code == 403
    assert django_lines(caplog) == [
        f"GET /admins-only 403 Forbidden by user {viewer.pk}: "
        "Your portal role does not include this page."
    ]
    assert "Traceback" not in caplog.text


def test_a_missing_page_logs_one_line_without_a_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert client.get("/no-such-page").status_code == 404
    assert django_lines(caplog) == ["GET /no-such-page 404 Not Found by anonymous"]
    assert "Traceback" not in caplog.text


def test_a_crafted_path_cannot_forge_a_second_log_line(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        client.get("/nothing\nERROR forged")
    assert "\n" not in django_lines(caplog)[0]


def test_a_server_error_still_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert Client(raise_request_exception=False).get("/broken").status_code == 500
    assert django_lines(caplog) == ["Internal Server Error: /broken"]
    assert "Traceback" in caplog.text
    assert "RuntimeError: a real bug" in caplog.text


def test_the_development_servers_access_line_of_a_refusal_is_left_to_that_one_line() -> None:
    access_line = NoClientErrorAccessLines().filter
    assert not access_line(logging.makeLogRecord({"status_code": 403}))
    assert not access_line(logging.makeLogRecord({"status_code": 404}))
    assert access_line(logging.makeLogRecord({"status_code": 200}))
    assert access_line(logging.makeLogRecord({"status_code": 500}))


def test_django_records_are_printed_once_not_again_by_djangos_own_console_handler() -> None:
    assert logging.getLogger("django").handlers == []
