"""Open times of an event type, and a rep's schedules and busy times, against the sandbox over
real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from portal.accounts.models import Organization, Role, User
from portal.directory.models import EventType, Member
from portal.meetings import availability
from portal.sandbox.booking import available_slots
from tests.directory.test_sync import NO_RATE_LIMIT, connect, sync
from tests.factories import MemberFactory, OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

OPEN_TIMES = "GET /event_type_available_times"
BUSY_TIMES = "GET /user_busy_times"
SCHEDULES = "GET /user_availability_schedules"
EVENTS = "GET /scheduled_events"
USER = "GET /users/{uuid}"
SCHEDULE = "GET /user_availability_schedules/{uuid}"


@dataclass
class Portal:
    sandbox: RunningSandbox
    org: Organization
    support: User
    client: Client  # signed in as `support`

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.support.timezone)

    def event_type(self) -> EventType:
        """An active personal event type whose owner is a current member."""
        for row in EventType.objects.current().filter(
            organization=self.org, active=True, profile_type="User", name="30 Minute Meeting"
        ):
            if Member.objects.current().filter(user_uri=row.profile_owner_uri).exists():
                return row
        raise AssertionError("the sandbox seeds no personal event type")

    def expected_slots(self, event_type: EventType, first_day: date, days: int) -> list[datetime]:
        with timezone.override(self.zone):
            start = availability.local_midnight(first_day)
            end = availability.local_midnight(first_day + timedelta(days=days))
        row = self.sandbox.event_types[event_type.uri.rsplit("/", 1)[1]]
        with self.sandbox.lock:
            # The sandbox reads the times Calendly is sent, which are in UTC.
            return available_slots(self.sandbox, row, start.astimezone(UTC), end.astimezone(UTC))

    def tomorrow(self) -> date:
        return datetime.now(self.zone).date() + timedelta(days=1)


@pytest.fixture
def portal(sandbox_factory: SandboxFactory) -> Iterator[Portal]:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        org = connect(sandbox)
        assert sync(org, sandbox).status == "succeeded"
        sandbox.requests.reset()
        support = UserFactory(organization=org, role=Role.SUPPORT, timezone="America/New_York")
        client = Client()
        client.force_login(support)
        yield Portal(sandbox, org, support, client)


def utc_attribute(moment: datetime) -> str:
    return f'datetime="{moment:%Y-%m-%dT%H:%M:%S}Z"'


def test_the_page_loads_the_open_times_after_it_with_one_booking_link_each(portal: Portal) -> None:
    event_type = portal.event_type()
    first_day = portal.tomorrow()
    query = {"event_type": event_type.pk, "start": first_day.isoformat(), "days": 7}

    page = portal.client.get("/meetings/availability", query).content.decode()
    assert 'hx-trigger="load"' in page
    assert "Asking Calendly for the open times" in page
    assert f'<option value="{event_type.pk}" selected>' in page
    assert portal.sandbox.requests.snapshot() == {}

    results = portal.client.get("/meetings/availability/results", query, HTTP_HX_REQUEST="true")
    html = results.content.decode()
    expected = portal.expected_slots(event_type, first_day, 7)
    assert expected
    assert html.count("data-copy=") == len(expected)
    for slot in expected:
        assert utc_attribute(slot) in html
    first = expected[0].astimezone(portal.zone)
    assert f"{first:%A} {first.day} {first:%B %Y}" in html  # grouped under the viewer's day
    assert f"{event_type.scheduling_url}/{expected[0]:%Y-%m-%dT%H:%M:%S}Z" in html
    assert "<html" not in html
    assert portal.sandbox.requests.snapshot() == {OPEN_TIMES: 1}


def test_a_range_longer_than_calendly_allows_is_asked_in_windows(portal: Portal) -> None:
    event_type = portal.event_type()
    first_day = portal.tomorrow()
    query = {"event_type": event_type.pk, "start": first_day.isoformat(), "days": 40}

    html = portal.client.get("/meetings/availability/results", query).content.decode()

    # 40 days are a 31-day window and a 9-day one; the second window's times are there too.
    assert portal.sandbox.requests.snapshot() == {OPEN_TIMES: 2}
    expected = portal.expected_slots(event_type, first_day, 40)
    assert html.count("data-copy=") == len(expected)
    assert utc_attribute(expected[-1]) in html
    start = datetime(2030, 1, 1, tzinfo=UTC)
    sizes = [
        high - low
        for low, high in availability.windows(
            start, start + timedelta(days=40), availability.AVAILABLE_TIMES_WINDOW
        )
    ]
    assert sizes == [timedelta(days=31), timedelta(days=9)]


@pytest.mark.parametrize(
    ("start_offset", "days"), [(-1, 7), (1, availability.MAX_DAYS + 1), (1, 0)]
)
def test_ranges_calendly_would_refuse_are_refused_before_asking(
    portal: Portal, start_offset: int, days: int
) -> None:
    first_day = portal.tomorrow() + timedelta(days=start_offset - 1)
    query = {"event_type": portal.event_type().pk, "start": first_day.isoformat(), "days": days}

    response = portal.client.get("/meetings/availability/results", query)

    assert response.status_code == 400
    assert portal.sandbox.requests.snapshot() == {}


def test_another_organizations_event_type_is_refused(portal: Portal) -> None:
    other = EventType.objects.create(
        organization=OrganizationFactory(),
        uri="https://api.calendly.com/event_types/ELSEWHERE",
        name="Someone else's meeting",
        active=True,
        scheduling_url="https://calendly.com/elsewhere/30min",
        profile_type="User",
    )
    query = {"event_type": other.pk, "start": portal.tomorrow().isoformat(), "days": 7}

    page = portal.client.get("/meetings/availability", query)
    results = portal.client.get("/meetings/availability/results", query)

    assert (page.status_code, results.status_code) == (400, 400)
    assert "Choose one of the organization&#x27;s active event types." in page.content.decode()
    assert "Someone else" not in page.content.decode()
    assert portal.sandbox.requests.snapshot() == {}


def test_an_empty_range_says_so(portal: Portal) -> None:
    event_type = portal.event_type()
    saturday = portal.tomorrow() + timedelta(days=(5 - portal.tomorrow().weekday()) % 7)
    # The sandbox opens weekdays only (in UTC), so a New York Sunday holds no open time.
    query = {"event_type": event_type.pk, "start": (saturday + timedelta(days=1)).isoformat()}
    html = portal.client.get("/meetings/availability/results", {**query, "days": 1}).content
    assert "No open times in these days" in html.decode()


def test_a_calendly_failure_is_told_in_words(portal: Portal) -> None:
    event_type = portal.event_type()
    with portal.sandbox.lock:
        del portal.sandbox.event_types[event_type.uri.rsplit("/", 1)[1]]
    query = {"event_type": event_type.pk, "start": portal.tomorrow().isoformat(), "days": 7}

    html = portal.client.get("/meetings/availability/results", query).content.decode()

    assert "Calendly could not find it while listing the open times of 30 Minute Meeting" in html
    assert "No open times" not in html


def test_a_reps_schedules_and_busy_times_for_a_week(portal: Portal) -> None:
    sandbox = portal.sandbox
    # The second seeded person has an extra schedule and an upcoming meeting.
    user = sandbox.users[sandbox.admin_uuids[0]]
    rep = Member.objects.current().get(organization=portal.org, user_uri__endswith=user.uuid)
    with sandbox.lock:
        evening = next(
            row for row in sandbox.schedules.values() if row.user == user.uuid and not row.default
        )
        evening.rules = [
            *evening.rules,
            {"type": "date", "date": "2030-01-02", "intervals": []},
        ]
        now = sandbox.now()
        meetings = [
            e
            for e in sandbox.scheduled_events.values()
            if user.uuid in e.hosts
            and e.status == "active"
            and now < e.start_time < now + timedelta(days=6)
        ]
    assert meetings

    html = portal.client.get(f"/meetings/availability/reps/{rep.pk}").content.decode()

    assert "Working Hours" in html
    assert "Default" in html
    assert "<dt>Monday</dt><dd>09:00 to 17:00</dd>" in html
    assert "<dt>Sunday</dt><dd>Unavailable</dd>" in html
    assert "Evening Hours" in html
    assert "<dt>Wed 2 Jan 2030</dt><dd>Unavailable</dd>" in html
    for meeting in meetings:
        assert utc_attribute(meeting.start_time) in html
        link = f'<a href="/meetings/events/{meeting.uuid}">{meeting.name}</a>'
        assert f"Calendly meeting: {link}" in html
    assert portal.sandbox.requests.snapshot() == {
        USER: 1,
        SCHEDULES: 1,
        BUSY_TIMES: 1,
        EVENTS: 1,
    }


def test_a_week_in_the_past_or_someone_elses_member_is_refused(portal: Portal) -> None:
    rep = Member.objects.current().filter(organization=portal.org).first()
    assert rep is not None
    yesterday = (portal.tomorrow() - timedelta(days=2)).isoformat()

    past = portal.client.get(f"/meetings/availability/reps/{rep.pk}", {"week": yesterday})
    assert past.status_code == 400
    assert "only tells busy times from today on" in past.content.decode()
    assert BUSY_TIMES not in portal.sandbox.requests.snapshot()

    elsewhere = Member.objects.create(
        organization=OrganizationFactory(),
        uri="https://api.calendly.com/organization_memberships/ELSEWHERE",
        user_uri="https://api.calendly.com/users/ELSEWHERE",
        name="Someone Else",
        email="someone@elsewhere.example",
        role="user",
    )
    assert portal.client.get(f"/meetings/availability/reps/{elsewhere.pk}").status_code == 404


@pytest.mark.parametrize("role", [Role.SALES, Role.VIEWER])
def test_sales_and_viewers_may_not_look(portal: Portal, role: Role) -> None:
    rep = Member.objects.current().filter(organization=portal.org).first()
    assert rep is not None
    client = Client()
    client.force_login(UserFactory(organization=portal.org, role=role))
    for url in (
        "/meetings/availability",
        "/meetings/availability/results",
        f"/meetings/availability/reps/{rep.pk}",
        f"/meetings/availability/schedules/{next(iter(portal.sandbox.schedules))}",
    ):
        assert client.get(url).status_code == 403
    assert portal.sandbox.requests.snapshot() == {}


def test_without_a_connection_the_rep_page_says_what_to_do() -> None:
    org = OrganizationFactory()
    rep = MemberFactory(organization=org, name="Ada Lovelace")
    client = Client()
    client.force_login(UserFactory(organization=org, role=Role.ADMIN))

    response = client.get(f"/meetings/availability/reps/{rep.pk}")

    assert response.status_code == 200
    assert (
        "The Calendly connection needs attention while reading Ada Lovelace&#x27;s availability: "
        "no organization admin has connected yet." in response.content.decode()
    )


def test_the_rep_page_shows_their_booking_page_and_their_time_zone_beside_yours(
    portal: Portal,
) -> None:
    sandbox = portal.sandbox
    user = sandbox.users[sandbox.admin_uuids[0]]
    rep = Member.objects.current().get(organization=portal.org, user_uri__endswith=user.uuid)
    with sandbox.lock:
        user.timezone = "Europe/Berlin"

    html = portal.client.get(f"/meetings/availability/reps/{rep.pk}").content.decode()

    assert f'data-copy="{sandbox.url}/{user.slug}"' in html
    assert "Europe/Berlin" in html
    assert "yours: America/New_York" in html
    assert portal.sandbox.requests.snapshot()[USER] == 1

    with sandbox.lock:
        user.timezone = "America/New_York"
    same = portal.client.get(f"/meetings/availability/reps/{rep.pk}").content.decode()
    assert "the same as yours" in same


def test_each_schedule_opens_its_own_page_read_from_calendly(portal: Portal) -> None:
    sandbox = portal.sandbox
    user = sandbox.users[sandbox.admin_uuids[0]]
    rep = Member.objects.current().get(organization=portal.org, user_uri__endswith=user.uuid)
    with sandbox.lock:
        evening = next(
            row for row in sandbox.schedules.values() if row.user == user.uuid and not row.default
        )
        evening.rules = [*evening.rules, {"type": "date", "date": "2030-01-02", "intervals": []}]
    url = f"/meetings/availability/schedules/{evening.uuid}"
    rep_page = portal.client.get(f"/meetings/availability/reps/{rep.pk}").content.decode()
    assert f'<a href="{url}">Evening Hours</a>' in rep_page
    sandbox.requests.reset()

    response = portal.client.get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Evening Hours</h1>" in html
    assert "<dt>Wed 2 Jan 2030</dt><dd>Unavailable</dd>" in html
    assert "<dt>Sunday</dt><dd>Unavailable</dd>" in html
    assert f"Hours in {evening.timezone}." in html
    assert f'href="/meetings/availability/reps/{rep.pk}"' in html
    assert sandbox.requests.snapshot() == {SCHEDULE: 1}


def test_a_schedule_outside_the_organizations_current_members_is_not_found(
    portal: Portal,
) -> None:
    sandbox = portal.sandbox
    user = sandbox.users[sandbox.admin_uuids[0]]
    theirs = user.schedules[0]
    elsewhere = sandbox.other_owner.schedules[0]
    for uuid in (elsewhere, "NOSUCHSCHEDULE", "x" * 65):
        assert portal.client.get(f"/meetings/availability/schedules/{uuid}").status_code == 404

    url = f"/meetings/availability/schedules/{theirs}"
    assert portal.client.get(url).status_code == 200
    Member.objects.filter(organization=portal.org, user_uri__endswith=user.uuid).update(
        removed_at=timezone.now()
    )
    assert portal.client.get(url).status_code == 404
    assert sandbox.requests.snapshot()[SCHEDULE] == 4


def test_without_a_connection_the_schedule_page_says_what_to_do() -> None:
    org = OrganizationFactory()
    client = Client()
    client.force_login(UserFactory(organization=org, role=Role.SUPPORT))

    response = client.get("/meetings/availability/schedules/ABCDEF")

    assert response.status_code == 200
    assert (
        "The Calendly connection needs attention while reading the availability schedule: "
        "no organization admin has connected yet." in response.content.decode()
    )
