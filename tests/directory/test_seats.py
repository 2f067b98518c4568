"""Seat use: scans of the organization's scheduled events against the sandbox over real HTTP,
and the admins' list built on them (counts, order, group filter, CSV, the way to offboarding)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly.client import PAGE_SIZE
from portal.celery import app as celery_app
from portal.directory.models import GroupRelationship, Member, ScannedMeeting, SeatScan
from portal.directory.seats import OVERLAP, WINDOW, scan_seat_use, with_use
from portal.jobs.models import JobItem
from portal.sandbox.state import ScheduledEvent
from tests.directory.test_sync import NO_RATE_LIMIT, Faulty, connect, sandbox_client, sync
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@dataclass
class Seats:
    sandbox: RunningSandbox
    org: Organization
    admin: User
    client: Client  # signed in as `admin`
    asked: list[httpx.Request]  # every scheduled events request the scans sent

    def scan(self, transport: httpx.BaseTransport | None = None) -> SeatScan:
        def record(request: httpx.Request) -> None:
            if request.url.path.endswith("/scheduled_events"):
                self.asked.append(request)

        client, _ = sandbox_client(self.sandbox, transport=transport or Faulty(record))
        with client:
            return scan_seat_use(self.org, trigger=SeatScan.Trigger.COMMAND, client=client)

    def add_meeting(self, hosts: list[Member], start: datetime, status: str = "active") -> None:
        """A meeting in Calendly that the sandbox did not seed."""
        with self.sandbox.lock:
            template = next(iter(self.sandbox.scheduled_events.values()))
            uuid = self.sandbox.new_id()
            self.sandbox.scheduled_events[uuid] = ScheduledEvent(
                uuid,
                template.event_type,
                template.organization,
                template.name,
                status,
                start,
                start + timedelta(minutes=30),
                [member.user_uri.rsplit("/", 1)[1] for member in hosts],
                template.location,
                start - timedelta(days=1),
                start - timedelta(days=1),
            )

    def cancel_meetings_of(self, member: Member) -> None:
        uuid = member.user_uri.rsplit("/", 1)[1]
        with self.sandbox.lock:
            for event in self.sandbox.scheduled_events.values():
                if uuid in event.hosts:
                    event.status = "canceled"

    def expected(self) -> dict[int, tuple[int, int, datetime | None]]:
        """Per current member: active meetings hosted in 30 and 90 days, and the last start,
        as the sandbox holds them."""
        now = timezone.now()
        recent: Counter[str] = Counter()
        hosted: Counter[str] = Counter()
        last: dict[str, datetime] = {}
        for event in self.sandbox.scheduled_events.values():
            if event.status != "active" or not now - WINDOW <= event.start_time <= now:
                continue
            for host in event.hosts:
                hosted[host] += 1
                recent[host] += event.start_time >= now - timedelta(days=30)
                last[host] = max(last.get(host, event.start_time), event.start_time)
        found = {}
        for member in Member.objects.current().filter(organization=self.org):
            uuid = member.user_uri.rsplit("/", 1)[1]
            found[member.pk] = (recent[uuid], hosted[uuid], last.get(uuid))
        return found

    def listed(self, **query: Any) -> list[Any]:
        response = self.client.get(reverse("seats:list"), query)
        assert response.status_code == 200
        return list(response.context["list"].page.rows)


@pytest.fixture
def seats(sandbox_factory: SandboxFactory) -> Iterator[Seats]:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        org = connect(sandbox)
        assert sync(org, sandbox).status == "succeeded"
        admin = UserFactory(organization=org, role=Role.ADMIN)
        client = Client()
        client.force_login(admin)
        yield Seats(sandbox, org, admin, client, [])


def members_by_name(seats: Seats) -> list[Member]:
    return list(Member.objects.current().filter(organization=seats.org).order_by("name"))


# -- the scan ---------------------------------------------------------------------------------


def test_counts_are_each_members_active_meetings_in_the_last_30_and_90_days(seats: Seats) -> None:
    first, second, third = members_by_name(seats)[:3]
    now = timezone.now()
    seats.add_meeting([first], now - timedelta(days=45))  # in 90 days, not in 30
    seats.add_meeting([first, second], now - timedelta(days=2))  # two hosts
    seats.add_meeting([second], now - timedelta(days=3), status="canceled")
    seats.add_meeting([third], now - timedelta(days=120))  # before the window

    scan = seats.scan()

    assert scan.status == SeatScan.Status.SUCCEEDED, scan.error
    rows = with_use(Member.objects.current().filter(organization=seats.org), seats.org.pk)
    found = {m.pk: (m.recent, m.hosted, m.last_meeting) for m in rows}  # type: ignore[attr-defined]
    assert found == seats.expected()
    assert found[first.pk][:2] == (2, 3)
    assert scan.scanned_until == scan.started_at
    (asked,) = seats.asked
    assert asked.url.params["organization"] == seats.org.uri
    assert asked.url.params["sort"] == "start_time:asc"


def test_a_second_scan_asks_only_from_where_the_first_got_and_stores_no_duplicates(
    seats: Seats,
) -> None:
    first = seats.scan()
    stored = ScannedMeeting.objects.filter(organization=seats.org).count()
    assert stored == first.meetings_new > 0
    someone = members_by_name(seats)[0]
    seats.add_meeting([someone], timezone.now() - timedelta(minutes=5))

    second = seats.scan()

    asked_from = [r.url.params["min_start_time"] for r in seats.asked]
    assert asked_from[1] == (first.scanned_until - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert (second.meetings_new, second.meetings_read) == (1, 1)
    assert ScannedMeeting.objects.filter(organization=seats.org).count() == stored + 1


def test_a_scan_failing_half_way_keeps_what_it_stored_and_the_next_resumes_there(
    seats: Seats,
) -> None:
    host = members_by_name(seats)[0]
    now = timezone.now()
    for n in range(PAGE_SIZE + 20):
        seats.add_meeting([host], now - timedelta(days=80) + timedelta(hours=12 * n))
    in_window = sorted(
        e.start_time
        for e in seats.sandbox.scheduled_events.values()
        if now - WINDOW <= e.start_time <= now
    )

    def second_page_fails(request: httpx.Request) -> httpx.Response | None:
        if "page_token" in request.url.params:
            return httpx.Response(500, json={"title": "Internal Server Error"})
        return None

    failed = seats.scan(Faulty(second_page_fails))

    assert failed.status == SeatScan.Status.FAILED
    assert failed.error
    assert ScannedMeeting.objects.filter(organization=seats.org).count() == PAGE_SIZE
    assert failed.scanned_until == in_window[PAGE_SIZE - 1]

    resumed = seats.scan()

    assert resumed.status == SeatScan.Status.SUCCEEDED
    expected_from = (failed.scanned_until - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert seats.asked[-1].url.params["min_start_time"] == expected_from
    assert ScannedMeeting.objects.filter(organization=seats.org).count() == len(in_window)


# -- the page ---------------------------------------------------------------------------------


def test_before_the_first_scan_the_page_says_how_seat_use_gets_here_and_scan_now_fills_it(
    seats: Seats, django_capture_on_commit_callbacks: Capture
) -> None:
    page = seats.client.get(reverse("seats:list")).content.decode()
    assert "No meetings have been scanned yet" in page
    assert "Scan now" in page
    # Nothing to export yet: every count would read 0.
    exported = seats.client.get(reverse("seats:export"))
    assert exported["Content-Type"].startswith("text/html")
    assert "No meetings have been scanned yet" in exported.content.decode()

    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = seats.client.post(reverse("seats:scan"))
    finally:
        celery_app.conf.task_always_eager = False

    assert response["Location"] == reverse("seats:list")
    page = seats.client.get(reverse("seats:list")).content.decode()
    assert "Scanning Calendly&#x27;s scheduled events in the background" in page
    scan = SeatScan.objects.get(organization=seats.org)
    assert (scan.status, scan.trigger, scan.requested_by) == ("succeeded", "manual", seats.admin)
    assert f"{scan.meetings_read} meetings read, {scan.meetings_read} new." in page
    assert "No meetings have been scanned yet" not in page
    assert AuditEntry.objects.filter(action=Action.SEAT_SCAN_REQUESTED, actor=seats.admin).exists()


def test_the_list_puts_the_least_used_first_and_exports_the_same(seats: Seats) -> None:
    everyone = members_by_name(seats)
    idle, busy = everyone[-1], everyone[0]
    seats.cancel_meetings_of(idle)
    for days in (1, 2, 3):
        seats.add_meeting([busy], timezone.now() - timedelta(days=days))
    seats.scan()

    rows = seats.listed()

    assert rows[0].pk == idle.pk
    assert rows[0].last_meeting is None
    keys = [(r.idle_since, r.hosted) for r in rows]
    assert keys == sorted(keys)
    assert rows[-1].pk == busy.pk
    page = seats.client.get(reverse("seats:list")).content.decode()
    assert "none in 90 days" in page
    # The Select boxes post the chosen members to offboarding.
    assert f'form="seat-selection" name="member" value="{idle.pk}"' in page
    assert f'action="{reverse("directory:offboard")}"' in page

    exported = seats.client.get(reverse("seats:export"))
    assert exported.status_code == 200
    table = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert table[0][:5] == ["name", "email", "role", "meetings in 30 days", "meetings in 90 days"]
    assert [line[1] for line in table[1:]] == [r.email for r in rows]
    assert table[-1][3:5] == [str(rows[-1].recent), str(rows[-1].hosted)]
    assert AuditEntry.objects.filter(action=Action.SEATS_EXPORTED, actor=seats.admin).exists()


def test_the_group_filter_lists_the_groups_members_and_admins(seats: Seats) -> None:
    seats.scan()
    relationships = GroupRelationship.objects.current().filter(
        organization=seats.org, member__isnull=False
    )
    group_id = relationships.values_list("group_id", flat=True).first()
    in_group = set(relationships.filter(group_id=group_id).values_list("member_id", flat=True))
    assert GroupRelationship.Role.ADMIN in set(
        relationships.filter(group_id=group_id).values_list("role", flat=True)
    )

    assert {r.pk for r in seats.listed(group=group_id)} == in_group
    everyone = {r.pk for r in seats.listed()}
    assert in_group < everyone


def test_the_selection_leads_to_an_offboarding_preview_of_exactly_those_people(
    seats: Seats,
) -> None:
    seats.scan()
    chosen = [r for r in seats.listed() if r.role != Member.Role.OWNER][:2]

    response = seats.client.post(
        reverse("directory:offboard"), {"member": [r.pk for r in chosen]}, follow=True
    )

    assert response.status_code == 200
    job = response.context["job"]
    keys = set(JobItem.objects.filter(job=job).values_list("key", flat=True))
    assert keys == {r.email.lower() for r in chosen}


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.SALES, Role.VIEWER])
def test_only_admins_see_seat_use(role: str) -> None:
    client = Client()
    client.force_login(UserFactory(organization=OrganizationFactory(), role=role))
    assert client.get(reverse("seats:list")).status_code == 403
    assert client.get(reverse("seats:export")).status_code == 403
    assert client.post(reverse("seats:scan")).status_code == 403


def test_the_command_scans_and_says_how_many_members_hosted_nothing(seats: Seats) -> None:
    idle = members_by_name(seats)[0]
    seats.cancel_meetings_of(idle)
    out = StringIO()

    call_command("scan_seat_use", "--org", seats.org.uri, stdout=out)

    scan = SeatScan.objects.get(organization=seats.org)
    members = Member.objects.current().filter(organization=seats.org).count()
    assert scan.trigger == SeatScan.Trigger.COMMAND
    assert f"{scan.meetings_read:,} meetings read, {scan.meetings_new:,} new" in out.getvalue()
    assert f"; 1 of {members} members hosted no meeting in 90 days." in out.getvalue()
