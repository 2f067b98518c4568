"""Customized shares against the sandbox over real HTTP: every validation rule (refused before
any Calendly request), making, changing and deleting a share, the refusal to delete a booked
one, the background refresh of statuses, and who may do what."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from typing import Any

import httpx
import pytest
from django import forms
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse

from portal.accounts.models import Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.celery import app as celery_app
from portal.directory.models import EventType, Member, SyncRun
from portal.directory.sync import sync_organization
from portal.links.models import IssuedLink
from portal.links.shares import ShareForm
from portal.links.tasks import refresh_all_shares_task
from portal.sandbox.state import SchedulingLink
from portal.sandbox.state import Share as SandboxShare
from tests.directory.test_sync import NO_RATE_LIMIT, connect
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox.test_links import book_first_slot
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

CREATE = "POST /shares"
LIST = "GET /shares"
UPDATE = "PATCH /shares/{uuid}"
DELETE = "DELETE /shares/{uuid}"
NEW = "/links/shares/new"
Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@dataclass
class Portal:
    sandbox: RunningSandbox
    org: Organization
    support: User
    client: Client

    @property
    def owner_uri(self) -> str:
        return f"{self.sandbox.url}/users/{self.sandbox.owner_uuid}"

    def event_type(self, name: str = "30 Minute Meeting", owner: str | None = None) -> EventType:
        return EventType.objects.get(
            organization=self.org, name=name, profile_owner_uri=owner or self.owner_uri
        )

    def reps_event_type(self) -> EventType:
        """A plain member's one-on-one type: the owner's listing of shares never holds it."""
        rep = self.sandbox.plain_users[0]
        return self.event_type(owner=f"{self.sandbox.url}/users/{rep.uuid}")

    def make(self, event_type: EventType | None = None, **fields: str) -> IssuedLink:
        event_type = event_type or self.event_type()
        response = self.client.post(NEW, {"event_type": event_type.pk, **fields})
        assert response.status_code == 302, response.content.decode()
        row = IssuedLink.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))
        self.sandbox.requests.reset()
        return row

    def calendly(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.sandbox.url,
            headers={"Authorization": f"Bearer {self.sandbox.owner_token}"},
        )

    def in_sandbox(self, row: IssuedLink) -> SandboxShare:
        return self.sandbox.shares[row.share_uri.rsplit("/", 1)[1]]


@pytest.fixture
def calendly(sandbox_factory: SandboxFactory) -> Iterator[RunningSandbox]:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url, CALENDLY_AUTH_URL=sandbox.url):
        yield sandbox


@pytest.fixture
def portal(calendly: RunningSandbox) -> Portal:
    org = connect(calendly)
    run = sync_organization(org, trigger=SyncRun.Trigger.COMMAND)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    calendly.requests.reset()
    support = UserFactory(organization=org, role=Role.SUPPORT)
    client = Client()
    client.force_login(support)
    return Portal(sandbox=calendly, org=org, support=support, client=client)


@pytest.fixture
def tasks_run_here() -> Iterator[None]:
    """Tasks run in this process when enqueued, against the sandbox, as a worker would."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


def page_messages(response: Any) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def refused_before_calendly(portal: Portal, fields: dict[str, str], said: str) -> None:
    """Posting the form with `fields` shows `said` next to a field, and nothing reaches Calendly."""
    response = portal.client.post(NEW, {"event_type": portal.event_type().pk, **fields})
    assert response.status_code == 400
    assert said in response.content.decode()
    assert "Nothing was sent to Calendly" in response.content.decode()
    assert portal.sandbox.requests.total() == 0
    assert not IssuedLink.objects.exists()


def form_data(row: IssuedLink, **changes: str) -> dict[str, str]:
    """What the edit page's form sends back as it was shown, with `changes` typed in."""
    form = ShareForm(current=row.settings, customer=row.customer, ticket=row.ticket)
    data: dict[str, str] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else str(value)
    data.update(changes)
    return data


# -- validation: one rule each, and Calendly is never asked ------------------------------------


def test_only_one_on_one_event_types_can_be_shared(portal: Portal) -> None:
    round_robin = EventType.objects.filter(organization=portal.org, pooling_type="round_robin")[0]
    group = EventType.objects.filter(organization=portal.org, kind="group")[0]
    for event_type in (round_robin, group):
        page = portal.client.get(NEW, {"event_type": event_type.pk}).content.decode()
        assert "Calendly customizes and shares only one-on-one event types" in page
        assert "Create share" not in page
        response = portal.client.post(NEW, {"event_type": event_type.pk, "name": "Try anyway"})
        assert response.status_code == 400
        assert "only one-on-one event types" in response.content.decode()
    assert portal.sandbox.requests.total() == 0
    assert not IssuedLink.objects.exists()


def test_a_window_between_two_dates_needs_both_dates(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"period_type": "fixed", "start_date": "2030-01-10"},
        "A window between two dates needs its last day.",
    )


def test_a_window_between_two_dates_cannot_end_before_it_starts(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"period_type": "fixed", "start_date": "2030-01-10", "end_date": "2030-01-09"},
        "The last day cannot come before the first.",
    )


def test_a_window_counted_in_days_needs_how_many(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"period_type": "moving"},
        "Say how many days ahead the invitee may book; this window counts them.",
    )


def test_the_duration_must_be_one_of_the_options(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"duration": "50", "duration_options": "30, 45"},
        "The duration must be one of the options (30, 45 minutes).",
    )


def test_options_without_a_duration_must_hold_the_event_types_duration(portal: Portal) -> None:
    # The owner's "30 Minute Meeting" lasts 30 minutes.
    refused_before_calendly(
        portal,
        {"duration_options": "15, 45"},
        "The current duration, 30 minutes, is not among the options (15, 45)",
    )


def test_the_duration_must_be_one_of_the_event_types_own_options(portal: Portal) -> None:
    # The owner's "60 Minute Consultation" offers 30 or 60 minutes (mirrored by the sync).
    consultation = portal.event_type("60 Minute Consultation")
    assert consultation.duration_options == [30, 60]
    response = portal.client.post(NEW, {"event_type": consultation.pk, "duration": "45"})
    assert response.status_code == 400
    assert "The duration must be one of the options (30, 60 minutes)." in response.content.decode()
    assert portal.sandbox.requests.total() == 0
    assert not IssuedLink.objects.exists()


def test_at_most_four_duration_options(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"duration": "15", "duration_options": "15, 30, 45, 60, 90"},
        "At most 4 options; Calendly takes no more.",
    )


def test_each_duration_option_is_one_to_720_minutes(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"duration": "30", "duration_options": "30, 721"},
        "Each option is a number of minutes from 1 to 720 (not “721”).",
    )


def test_duration_options_are_unique(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"duration": "30", "duration_options": "30, 30"},
        "Each duration can be offered only once.",
    )


def test_a_call_the_invitee_makes_needs_a_phone_number(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"location_0_kind": "inbound_call"},
        "A call the invitee makes needs the number to call.",
    )


def test_an_address_only_goes_with_locations_that_take_one(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"location_0_kind": "zoom_conference", "location_0_location": "Room 4"},
        "Only in-person, custom and ask-the-invitee locations take an address or details.",
    )


def test_hours_need_a_time_zone(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"hours_monday": "09:00-12:00"},
        "Calendly needs the time zone these hours are in",
    )


def test_a_time_zone_needs_hours(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"timezone": "Europe/Paris"},
        "Calendly takes a time zone only with the hours it applies to",
    )


def test_the_time_zone_must_be_one_calendly_knows(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"timezone": "Mars/Olympus_Mons", "hours_monday": "09:00-12:00"},
        "Not a time zone Calendly knows",
    )


def test_intervals_are_written_hh_mm(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"timezone": "Europe/Paris", "hours_tuesday": "9am-5pm"},
        "Write each interval as hh:mm-hh:mm, for example 09:00-12:00 (not “9am-5pm”).",
    )


def test_intervals_end_after_they_start(portal: Portal) -> None:
    refused_before_calendly(
        portal,
        {"timezone": "Europe/Paris", "date_overrides": "2030-12-24 13:00-12:00"},
        "Line 1: An interval must end after it starts: 13:00-12:00 does not.",
    )


def test_a_name_longer_than_calendly_takes_is_refused(portal: Portal) -> None:
    refused_before_calendly(portal, {"name": "x" * 56}, "at most 55 characters")


def test_changing_the_duration_checks_the_shares_current_options(portal: Portal) -> None:
    row = portal.make(duration="45", duration_options="30, 45")
    response = portal.client.post(
        reverse("links:share_edit", args=[row.pk]), form_data(row, duration="60")
    )
    assert response.status_code == 400
    assert "The duration must be one of the options (30, 45 minutes)." in response.content.decode()
    assert portal.sandbox.requests.total() == 0


# -- making, changing, deleting ------------------------------------------------------------


def test_making_a_share_stores_it_in_the_ledger_after_one_request(portal: Portal) -> None:
    event_type = portal.event_type()
    form_page = portal.client.get(NEW, {"event_type": event_type.pk})
    assert form_page.status_code == 200
    assert "Create share" in form_page.content.decode()
    assert portal.sandbox.requests.total() == 0  # showing the form asks Calendly nothing

    response = portal.client.post(
        NEW,
        {
            "event_type": event_type.pk,
            "customer": "Pat@Prospect.example",
            "ticket": "T-1042",
            "name": "Renewal chat",
            "duration": "45",
            "duration_options": "30, 45",
            "period_type": "fixed",
            "start_date": "2030-01-10",
            "end_date": "2030-01-20",
            "location_0_kind": "physical",
            "location_0_location": "1 Main St",
            "location_1_kind": "zoom_conference",
            "timezone": "Europe/Paris",
            "hours_monday": "09:00-12:00, 13:00-17:00",
            "hours_friday": "10:00-12:00",
            "date_overrides": "2030-01-15 off",
        },
    )

    row = IssuedLink.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("links:entry", kwargs={"pk": row.pk})
    assert portal.sandbox.requests.count(CREATE) == 1
    assert portal.sandbox.requests.total() == 1
    assert row.kind == IssuedLink.Kind.SHARE
    assert row.origin == IssuedLink.Origin.PORTAL
    assert row.share_uri.startswith(f"{portal.sandbox.url}/shares/")
    assert row.booking_url.startswith(f"{portal.sandbox.url}/d/")
    assert row.status == IssuedLink.Status.ACTIVE
    assert (row.event_type, row.event_type_uri) == (event_type, event_type.uri)
    owner = Member.objects.get(organization=portal.org, user_uri=portal.owner_uri)
    assert (row.rep, row.rep_email) == (owner, owner.email)
    assert (row.customer, row.ticket) == ("pat@prospect.example", "T-1042")
    assert row.created_by == portal.support
    assert row.settings["name"] == "Renewal chat"
    assert row.settings["duration_options"] == [30, 45]
    assert row.settings["availability_rule"]["timezone"] == "Europe/Paris"
    # What Calendly received: the settings typed, every weekday, the day off.
    sent = portal.in_sandbox(row).settings
    assert sent["period_type"] == "fixed"
    assert (sent["start_date"], sent["end_date"]) == ("2030-01-10", "2030-01-20")
    assert [loc["kind"] for loc in sent["location_configurations"]] == [
        "physical",
        "zoom_conference",
    ]
    rules = {r.get("wday") or r["date"]: r["intervals"] for r in sent["availability_rule"]["rules"]}
    assert rules["monday"] == [{"from": "09:00", "to": "12:00"}, {"from": "13:00", "to": "17:00"}]
    assert rules["sunday"] == []
    assert rules["2030-01-15"] == []
    entry = AuditEntry.objects.get(action=Action.SHARE_CREATED)
    assert entry.actor == portal.support
    assert entry.target_id == str(row.pk)
    assert entry.after["customer"] == "pat@prospect.example"  # type: ignore[index]


def test_calendly_refusing_a_share_is_explained_and_nothing_is_stored(portal: Portal) -> None:
    # The owner's consultation offers 30 or 60 minutes; the mirror has not seen the options yet
    # (they were set in Calendly after the last sync), so only Calendly can refuse 45.
    consultation = portal.event_type("60 Minute Consultation")
    EventType.objects.filter(pk=consultation.pk).update(duration_options=[])
    response = portal.client.post(NEW, {"event_type": consultation.pk, "duration": "45"})
    assert response.status_code == 409
    assert "Calendly refused making the share as invalid" in response.content.decode()
    assert portal.sandbox.requests.count(CREATE) == 1
    assert not IssuedLink.objects.exists()
    assert not AuditEntry.objects.filter(action=Action.SHARE_CREATED).exists()


def test_editing_sends_only_what_changed(portal: Portal) -> None:
    row = portal.make(name="Renewal chat", customer="pat@prospect.example")
    edit_url = reverse("links:share_edit", args=[row.pk])
    page = portal.client.get(edit_url).content.decode()
    assert 'value="Renewal chat"' in page
    assert portal.sandbox.requests.total() == 0

    response = portal.client.post(edit_url, form_data(row, name="Renewal, second try"))

    assert response.status_code == 302
    assert response["Location"] == reverse("links:entry", kwargs={"pk": row.pk})
    assert portal.sandbox.requests.count(UPDATE) == 1
    assert portal.sandbox.requests.total() == 1
    # Only the name was sent: Calendly's share overrides nothing else.
    assert portal.in_sandbox(row).settings == {"name": "Renewal, second try"}
    row.refresh_from_db()
    assert row.settings["name"] == "Renewal, second try"
    entry = AuditEntry.objects.get(action=Action.SHARE_UPDATED)
    assert entry.before == {"name": "Renewal chat"}
    assert entry.after == {"name": "Renewal, second try"}


def test_sending_the_edit_form_back_untouched_changes_nothing(portal: Portal) -> None:
    row = portal.make(
        duration="45",
        duration_options="30, 45",
        period_type="fixed",
        start_date="2030-01-10",
        end_date="2030-01-20",
        location_0_kind="inbound_call",
        location_0_phone_number="+1 555 010 0100",
        location_0_additional_info="Ask for Pat",
        hide_location="on",
        timezone="Europe/Paris",
        hours_wednesday="09:00-12:00",
        date_overrides="2030-01-15 10:00-11:00",
    )
    response = portal.client.post(reverse("links:share_edit", args=[row.pk]), form_data(row))
    assert response.status_code == 302
    assert portal.sandbox.requests.total() == 0
    assert not AuditEntry.objects.filter(action=Action.SHARE_UPDATED).exists()

    # A window counted in days replaces the dates: the window goes with what it needs.
    portal.client.post(
        reverse("links:share_edit", args=[row.pk]),
        form_data(row, period_type="moving", max_booking_time="14"),
    )
    assert portal.sandbox.requests.count(UPDATE) == 1
    sent = portal.in_sandbox(row).settings
    assert (sent["period_type"], sent["max_booking_time"]) == ("moving", 14)
    assert AuditEntry.objects.get(action=Action.SHARE_UPDATED).after == {
        "period_type": "moving",
        "max_booking_time": 14,
    }


def test_changing_only_for_whom_asks_calendly_nothing(portal: Portal) -> None:
    row = portal.make(customer="pat@prospect.example")
    response = portal.client.post(
        reverse("links:share_edit", args=[row.pk]), form_data(row, ticket="T-77")
    )
    assert response.status_code == 302
    assert portal.sandbox.requests.total() == 0
    row.refresh_from_db()
    assert row.ticket == "T-77"
    entry = AuditEntry.objects.get(action=Action.SHARE_UPDATED)
    assert (entry.before, entry.after) == ({"ticket": ""}, {"ticket": "T-77"})


def test_deleting_a_share_asks_first_then_deletes_it(portal: Portal) -> None:
    row = portal.make(customer="pat@prospect.example")
    delete_url = reverse("links:share_delete", args=[row.pk])

    confirm = portal.client.get(delete_url).content.decode()
    assert "Delete the share of 30 Minute Meeting" in confirm
    assert "for pat@prospect.example?" in confirm
    assert row.booking_url in confirm
    assert portal.sandbox.requests.total() == 0

    response = portal.client.post(delete_url, follow=True)

    assert "Deleted the share for pat@prospect.example" in page_messages(response)
    assert portal.sandbox.requests.count(DELETE) == 1
    assert portal.in_sandbox(row).deleted
    row.refresh_from_db()
    assert row.status == IssuedLink.Status.DELETED
    assert row.deleted_at is not None
    entry = AuditEntry.objects.get(action=Action.SHARE_DELETED)
    assert entry.before == {"status": "active", "booking_url": row.booking_url}


def test_a_share_the_ledger_knows_is_booked_is_not_deleted(portal: Portal) -> None:
    row = portal.make()
    IssuedLink.objects.filter(pk=row.pk).update(status=IssuedLink.Status.BOOKED)
    delete_url = reverse("links:share_delete", args=[row.pk])

    confirm = portal.client.get(delete_url).content.decode()
    response = portal.client.post(delete_url, follow=True)

    assert "Calendly does not delete booked shares" in confirm
    assert "Delete share</button>" not in confirm
    assert "Calendly does not delete booked shares" in page_messages(response)
    assert portal.sandbox.requests.total() == 0
    assert not portal.in_sandbox(row).deleted


def test_calendly_refusing_to_delete_a_booked_share_is_explained(portal: Portal) -> None:
    row = portal.make(customer="pat@prospect.example")
    assert book_first_slot(row.booking_url).status_code == 200
    portal.sandbox.requests.reset()  # the ledger has not heard of the booking yet

    response = portal.client.post(reverse("links:share_delete", args=[row.pk]), follow=True)

    said = page_messages(response)
    assert "Calendly refused deleting the share for pat@prospect.example as invalid" in said
    assert "Calendly deletes only shares nobody has booked" in said
    assert portal.sandbox.requests.count(DELETE) == 1
    row.refresh_from_db()
    assert row.status == IssuedLink.Status.ACTIVE
    assert not AuditEntry.objects.filter(action=Action.SHARE_DELETED).exists()


# -- refreshing statuses ---------------------------------------------------------------------


@pytest.mark.usefixtures("tasks_run_here")
def test_refresh_updates_statuses_and_adds_shares_made_outside_the_portal(
    portal: Portal, django_capture_on_commit_callbacks: Capture
) -> None:
    booked = portal.make(customer="booked@prospect.example")
    deleted_in_calendly = portal.make(customer="gone@prospect.example")
    reps = portal.make(portal.reps_event_type(), customer="rep@prospect.example")
    book_first_slot(booked.booking_url)
    with portal.calendly() as calendly:
        calendly.delete(deleted_in_calendly.share_uri.removeprefix(portal.sandbox.url))
        outside = calendly.post(
            "/shares", json={"event_type": portal.event_type().uri, "name": "Made in Calendly"}
        ).json()["resource"]
    portal.sandbox.requests.reset()

    with django_capture_on_commit_callbacks(execute=True):
        response = portal.client.post(reverse("links:shares_refresh"), follow=True)

    assert "Checking the shares with Calendly in the background" in page_messages(response)
    assert portal.sandbox.requests.count(LIST) == 1
    booked.refresh_from_db()
    assert booked.status == IssuedLink.Status.BOOKED
    assert booked.booked_at is not None
    assert booked.status_checked_at is not None
    deleted_in_calendly.refresh_from_db()
    assert deleted_in_calendly.status == IssuedLink.Status.DELETED
    # The owner's listing never holds shares of other reps' event types: left as they were.
    reps.refresh_from_db()
    assert reps.status == IssuedLink.Status.ACTIVE
    added = IssuedLink.objects.get(share_uri=outside["uri"])
    assert added.origin == IssuedLink.Origin.CALENDLY
    assert added.event_type == portal.event_type()
    assert added.rep is not None
    assert added.rep.user_uri == portal.owner_uri
    assert added.booking_url == outside["scheduling_links"][0]["booking_url"]
    assert added.settings["name"] == "Made in Calendly"
    entry = AuditEntry.objects.get(action=Action.SHARES_REFRESHED)
    assert entry.actor == portal.support
    assert entry.after is not None
    assert (entry.after["updated"], entry.after["added"], entry.after["deleted"]) == (1, 1, 1)


def test_a_failed_refresh_changes_nothing(portal: Portal) -> None:
    booked = portal.make(customer="booked@prospect.example")
    deleted_in_calendly = portal.make(customer="gone@prospect.example")
    book_first_slot(booked.booking_url)
    with portal.calendly() as calendly:
        calendly.delete(deleted_in_calendly.share_uri.removeprefix(portal.sandbox.url))
    # More than a page of older shares, so the listing fails after its first page was read.
    sandbox = portal.sandbox
    source = portal.event_type().uri.rsplit("/", 1)[1]
    with sandbox.lock:
        long_ago = sandbox.now() - timedelta(days=30)
        for _ in range(100):
            link = SchedulingLink(sandbox.new_link_code(), source, sandbox.owner_uuid, long_ago)
            share = SandboxShare(
                sandbox.new_id(), source, sandbox.owner_uuid, {}, link.code, long_ago, long_ago
            )
            link.share = share.uuid
            sandbox.links[link.code] = link
            sandbox.shares[share.uuid] = share
        sandbox.forced_faults.extend(["none", "error", "error", "error", "error"])
    before = list(IssuedLink.objects.order_by("pk").values())

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("refresh_shares", "--org", portal.org.uri, stdout=out, stderr=err)

    assert "nothing changed. Calendly failed while listing the organization's shares" in (
        err.getvalue()
    )
    assert sandbox.requests.count(LIST) == 5  # the first page, then the second one four times
    assert list(IssuedLink.objects.order_by("pk").values()) == before
    assert not AuditEntry.objects.filter(action=Action.SHARES_REFRESHED).exists()


def test_the_command_prints_what_changed(portal: Portal) -> None:
    booked = portal.make(customer="booked@prospect.example")
    book_first_slot(booked.booking_url)

    out = StringIO()
    call_command("refresh_shares", "--org", portal.org.uri, stdout=out)

    printed = out.getvalue()
    assert "1 share listed by Calendly; 1 updated, 0 added, 0 marked deleted." in printed
    assert "30 Minute Meeting for booked@prospect.example: active → booked" in printed
    entry = AuditEntry.objects.get(action=Action.SHARES_REFRESHED)
    assert entry.actor_label == "manage.py refresh_shares"


@pytest.mark.usefixtures("tasks_run_here")
def test_beat_refreshes_every_connected_organization(
    portal: Portal, django_capture_on_commit_callbacks: Capture
) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["links.refresh_all_shares"]["task"] == (
        "links.refresh_all_shares"
    )
    booked = portal.make()
    book_first_slot(booked.booking_url)

    with django_capture_on_commit_callbacks(execute=True):
        assert refresh_all_shares_task() == 1

    booked.refresh_from_db()
    assert booked.status == IssuedLink.Status.BOOKED
    assert AuditEntry.objects.get(action=Action.SHARES_REFRESHED).actor_label == (
        "background refresh of shares"
    )


# -- who may do what -------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.SALES, Role.VIEWER])
def test_sales_and_viewers_cannot_touch_shares(portal: Portal, role: Role) -> None:
    row = portal.make()
    client = Client()
    client.force_login(UserFactory(organization=portal.org, role=role))
    edit = reverse("links:share_edit", args=[row.pk])
    delete = reverse("links:share_delete", args=[row.pk])
    for method, url, data in (
        ("get", NEW, {"event_type": portal.event_type().pk}),
        ("post", NEW, {"event_type": portal.event_type().pk}),
        ("get", edit, {}),
        ("post", edit, form_data(row, name="Mine now")),
        ("get", delete, {}),
        ("post", delete, {}),
        ("post", reverse("links:shares_refresh"), {}),
    ):
        assert getattr(client, method)(url, data).status_code == 403, (method, url)
    assert portal.sandbox.requests.total() == 0
    row.refresh_from_db()
    assert row.status == IssuedLink.Status.ACTIVE


def test_admins_may_make_shares_too(portal: Portal) -> None:
    client = Client()
    client.force_login(UserFactory(organization=portal.org, role=Role.ADMIN))
    response = client.post(NEW, {"event_type": portal.event_type().pk, "ticket": "T-9"})
    assert response.status_code == 302
    assert IssuedLink.objects.get().ticket == "T-9"


def test_another_organization_finds_neither_the_shares_nor_the_event_types(
    portal: Portal,
) -> None:
    row = portal.make()
    for role in (Role.ADMIN, Role.SUPPORT):
        client = Client()
        client.force_login(UserFactory(organization=OrganizationFactory(), role=role))
        edit = reverse("links:share_edit", args=[row.pk])
        delete = reverse("links:share_delete", args=[row.pk])
        assert client.get(edit).status_code == 404
        assert client.post(edit, form_data(row, name="Theirs")).status_code == 404
        assert client.get(delete).status_code == 404
        assert client.post(delete).status_code == 404
        assert client.get(NEW, {"event_type": portal.event_type().pk}).status_code == 404
    assert portal.sandbox.requests.total() == 0
    row.refresh_from_db()
    assert row.status == IssuedLink.Status.ACTIVE
    assert portal.in_sandbox(row).settings == {}
