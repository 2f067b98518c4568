"""Every time is shown in the viewer's own time zone, named, with the exact UTC on hover."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.template import Context, Template
from django.test import Client, override_settings
from django.urls import path
from django.utils import timezone

from portal.accounts.models import Connection
from portal.core.templatetags.portal import moment
from tests.accounts.test_sign_in import sign_in, signed_in_user
from tests.factories import UserFactory
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.django_db

NOON_UTC = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SHOWN = Template("{% load portal %}{% moment when %}")


# A page that only this module routes to: one time, rendered as any page renders it.
@login_not_required
def _noon(request: HttpRequest) -> HttpResponse:
    return HttpResponse(SHOWN.render(Context({"when": NOON_UTC})))


@login_not_required
def _end_of_the_calendar(request: HttpRequest) -> HttpResponse:
    return HttpResponse(SHOWN.render(Context({"when": datetime(9999, 12, 31, 23, 0, tzinfo=UTC)})))


urlpatterns = [path("noon", _noon), path("end", _end_of_the_calendar)]


def noon_as_seen_by(zone: str | None, url: str = "/noon") -> str:
    client = Client()
    if zone is not None:
        client.force_login(UserFactory(timezone=zone))
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.urls("tests.core.test_moments")
def test_a_person_in_new_york_sees_seven_in_the_morning_est_with_utc_on_hover() -> None:
    assert noon_as_seen_by("America/New_York") == (
        '<time datetime="2026-01-05T12:00:00Z" title="2026-01-05 12:00:00 UTC">'
        "5 Jan 2026, 07:00 EST</time>"
    )


@pytest.mark.urls("tests.core.test_moments")
def test_a_person_in_auckland_sees_the_next_day() -> None:
    assert ">6 Jan 2026, 01:00 NZDT</time>" in noon_as_seen_by("Pacific/Auckland")


@pytest.mark.urls("tests.core.test_moments")
def test_a_zone_without_an_abbreviation_is_named_by_its_offset() -> None:
    assert ">5 Jan 2026, 09:00 UTC-03</time>" in noon_as_seen_by("America/Sao_Paulo")


@pytest.mark.urls("tests.core.test_moments")
@pytest.mark.parametrize("zone", ["", "Mars/Olympus_Mons", "../../etc/passwd", "America/"])
def test_a_missing_or_unknown_zone_shows_utc(zone: str) -> None:
    assert ">5 Jan 2026, 12:00 UTC</time>" in noon_as_seen_by(zone)


@pytest.mark.urls("tests.core.test_moments")
def test_people_signed_out_see_utc() -> None:
    assert ">5 Jan 2026, 12:00 UTC</time>" in noon_as_seen_by(None)


@pytest.mark.urls("tests.core.test_moments")
def test_a_time_the_viewers_zone_cannot_hold_is_shown_in_utc() -> None:
    assert ">31 Dec 9999, 23:00 UTC</time>" in noon_as_seen_by("Asia/Tokyo", "/end")


@pytest.mark.urls("tests.core.test_moments")
def test_the_viewers_zone_ends_with_their_request() -> None:
    noon_as_seen_by("America/New_York")
    assert timezone.get_current_timezone_name() == "UTC"


def test_no_time_is_shown_as_a_dash() -> None:
    assert moment(None) == "—"


@pytest.fixture
def calendly_is_the_sandbox(sandbox: RunningSandbox) -> Iterator[None]:
    with override_settings(
        CALENDLY_API_URL=sandbox.url,
        CALENDLY_AUTH_URL=sandbox.url,
        CALENDLY_CLIENT_ID=sandbox.client_id,
        CALENDLY_CLIENT_SECRET=sandbox.client_secret,
    ):
        yield


@pytest.mark.usefixtures("calendly_is_the_sandbox")
def test_signing_in_keeps_the_calendly_time_zone_and_pages_show_times_in_it(
    sandbox: RunningSandbox,
) -> None:
    client = Client(SERVER_NAME="127.0.0.1")  # the sandbox accepts localhost redirects only
    sign_in(client, sandbox, who="owner")
    owner = signed_in_user(client)
    assert owner is not None
    assert owner.timezone == sandbox.owner.timezone != ""

    client.post("/accounts/connect")
    connected_at = Connection.objects.get().created_at.astimezone(ZoneInfo(owner.timezone))
    page = client.get("/accounts/connect").content.decode()
    assert f"{connected_at:%H:%M} {connected_at.tzname()}</time>" in page
