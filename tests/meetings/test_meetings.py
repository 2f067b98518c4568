"""Meetings: finding the organization's scheduled events live in Calendly (the sandbox, over
real HTTP), reading one, and acting on it: cancel, no-show marks, a new-time link."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from portal.accounts.connections import get_connection, shared_limiter
from portal.accounts.models import Connection, Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.directory.models import EventType
from portal.links.models import IssuedLink
from portal.meetings import meetings
from portal.meetings.forms import SearchForm
from portal.sandbox.state import ScheduledEvent
from tests.directory.test_sync import NO_RATE_LIMIT, connect, sync
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@dataclass
class Meetings:
    sandbox: RunningSandbox
    org: Organization
    support: User
    client: Client  # signed in as `support`

    def events(self, *, status: str, past: bool) -> list[ScheduledEvent]:
        now = self.sandbox.now()
        return sorted(
            (
                e
                for e in self.sandbox.scheduled_events.values()
                if e.organization == self.sandbox.org_uuid
                and e.status == status
                and (e.start_time < now) == past
            ),
            key=lambda e: e.start_time,
        )

    def email_of(self, event: ScheduledEvent) -> str:
        return self.sandbox.invitees[event.invitees[0]].email

    def results(self, **query: str) -> str:
        response = self.client.get("/meetings/", query, **HTMX)
        assert response.status_code == 200
        return response.content.decode()

    def calls(self) -> dict[str, int]:
        return self.sandbox.requests.snapshot()


@pytest.fixture
def calendly(sandbox_factory: SandboxFactory) -> Iterator[Meetings]:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    meetings.forget_everything()
    with override_settings(CALENDLY_API_URL=sandbox.url):
        org = connect(sandbox)
        assert sync(org, sandbox).status == "succeeded"
        # The shared pacing assumes Calendly's lowest budget until an answer says otherwise:
        # told the sandbox's, so the test's requests are not spaced out by it.
        limit, period = NO_RATE_LIMIT
        shared_limiter(get_connection(org)).observe(limit=limit, remaining=limit, reset=period)
        sandbox.requests.reset()
        support = UserFactory(organization=org, role=Role.SUPPORT)
        client = Client()
        client.force_login(support)
        yield Meetings(sandbox, org, support, client)
    meetings.forget_everything()


def shown(page: str) -> set[str]:
    """The event UUIDs a results fragment links to."""
    return {
        part.split('"', 1)[0]
        for part in page.split('href="/meetings/events/')[1:]
        if "/" not in part.split('"', 1)[0]
    }


def wide() -> dict[str, str]:
    today = timezone.localdate()
    return {
        "start_from": (today - timedelta(days=40)).isoformat(),
        "start_to": (today + timedelta(days=40)).isoformat(),
    }


def test_the_page_answers_without_asking_calendly_and_loads_results_after(
    calendly: Meetings,
) -> None:
    page = calendly.client.get("/meetings/", {"invitee_email": "x@example.com"})
    body = page.content.decode()
    assert page.status_code == 200
    assert 'hx-trigger="load"' in body
    assert "Asking Calendly…" in body
    assert calendly.calls() == {}
    assert 'href="/meetings/availability"' in body


def test_finds_meetings_by_invitee_email(calendly: Meetings) -> None:
    event = calendly.events(status="active", past=False)[0]
    email = calendly.email_of(event)
    page = calendly.results(invitee_email=email.upper(), **wide())
    assert shown(page) == {event.uuid}
    assert calendly.calls() == {"GET /scheduled_events": 1}
    # Asked again within seconds: the same page comes from the short cache.
    calendly.results(invitee_email=email.upper(), **wide())
    assert calendly.calls() == {"GET /scheduled_events": 1}


def test_finds_meetings_by_rep(calendly: Meetings) -> None:
    event = calendly.events(status="active", past=False)[0]
    host = calendly.sandbox.users[event.hosts[0]]
    theirs = {e.uuid for e in calendly.sandbox.scheduled_events.values() if host.uuid in e.hosts}
    page = calendly.results(rep=host.email, **wide())
    assert shown(page) == theirs
    assert len(theirs) < len(shown(calendly.results(**wide())))

    unknown = calendly.results(rep="nobody@example.com")
    assert "No member of your organization has this email." in unknown


def test_finds_meetings_by_event_type(calendly: Meetings) -> None:
    event = calendly.events(status="active", past=False)[0]
    mirrored = EventType.objects.get(organization=calendly.org, uri__endswith=event.event_type)
    of_type = {
        e.uuid
        for e in calendly.sandbox.scheduled_events.values()
        if e.event_type == event.event_type
    }
    page = calendly.results(event_type=str(mirrored.pk), **wide())
    assert shown(page) == of_type


def test_finds_meetings_by_days_in_a_bounded_range(calendly: Meetings) -> None:
    event = calendly.events(status="active", past=False)[0]
    day = timezone.localtime(event.start_time).date().isoformat()
    same_day = {
        e.uuid
        for e in calendly.sandbox.scheduled_events.values()
        if timezone.localtime(e.start_time).date().isoformat() == day
    }
    page = calendly.results(start_from=day, start_to=day)
    assert event.uuid in shown(page)
    assert shown(page) == same_day

    too_long = calendly.results(start_from="2026-01-01", start_to="2027-06-01")
    assert "Search at most 366 days at a time." in too_long
    assert calendly.calls() == {"GET /scheduled_events": 1}


def test_the_next_page_token_travels_in_the_url(
    calendly: Meetings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(meetings, "PAGE_SIZE", 2)
    first = calendly.results(**wide())
    assert len(shown(first)) == 2
    next_url = html.unescape(first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0])
    query = parse_qs(urlsplit(next_url).query)
    assert query["page_token"]
    assert query["start_from"] == [wide()["start_from"]]

    second = calendly.client.get(next_url, **HTMX).content.decode()
    assert len(shown(second)) == 2
    assert not shown(first) & shown(second)
    assert "First page" in second
    assert 'rel="prev"' in second


def test_the_meeting_page_shows_hosts_invitees_and_their_answers(calendly: Meetings) -> None:
    event = calendly.events(status="canceled", past=False)[0]
    invitee = calendly.sandbox.invitees[event.invitees[0]]
    host = calendly.sandbox.users[event.hosts[0]]
    page = calendly.client.get(f"/meetings/events/{event.uuid}").content.decode()
    for text in (
        event.name,
        host.name,
        invitee.email,
        "What would you like to discuss?",
        "Pricing",
        "Something came up",  # the cancellation's reason
        "Canceled",
        "meet.google.com",
    ):
        assert text in page
    assert "Cancel meeting…" not in page  # already canceled

    assert calendly.client.get("/meetings/events/NOSUCHEVENT0000").status_code == 404


def test_cancel_asks_first_then_cancels_for_everyone_in_calendly(calendly: Meetings) -> None:
    event = calendly.events(status="active", past=False)[0]
    url = f"/meetings/events/{event.uuid}/cancel"
    confirm = calendly.client.get(url).content.decode()
    assert "canceled for every invitee" in confirm
    assert calendly.email_of(event) in confirm
    assert event.status == "active"

    assert calendly.client.post(url, {"reason": ""}).status_code == 400
    assert event.status == "active"

    done = calendly.client.post(url, {"reason": "Rep is ill"}, follow=True)
    assert done.redirect_chain[-1][0] == f"/meetings/events/{event.uuid}"
    assert event.status == "canceled"
    assert event.cancellation is not None
    assert event.cancellation["reason"] == "Rep is ill"
    assert "Rep is ill" in done.content.decode()
    entry = AuditEntry.objects.get(action=Action.MEETING_CANCELED)
    assert entry.actor == calendly.support
    assert entry.after["reason"] == "Rep is ill"


def test_a_past_meeting_is_not_canceled(calendly: Meetings) -> None:
    event = calendly.events(status="active", past=True)[0]
    url = f"/meetings/events/{event.uuid}/cancel"
    assert "already started or taken place" in calendly.client.get(url).content.decode()
    refused = calendly.client.post(url, {"reason": "Too late"})
    assert refused.status_code == 409
    assert event.status == "active"
    assert "POST /scheduled_events/{uuid}/cancellation" not in str(calendly.calls())
    assert not AuditEntry.objects.filter(action=Action.MEETING_CANCELED).exists()


def test_no_show_is_marked_and_taken_back_in_calendly(calendly: Meetings) -> None:
    event = calendly.events(status="active", past=True)[0]
    invitee = calendly.sandbox.invitees[event.invitees[0]]
    page = calendly.client.get(f"/meetings/events/{event.uuid}").content.decode()
    assert "Mark as no-show" in page

    calendly.client.post(f"/meetings/events/{event.uuid}/no-show", {"invitee": invitee.uuid})
    assert invitee.no_show is not None
    page = calendly.client.get(f"/meetings/events/{event.uuid}").content.decode()
    assert "Marked as a no-show" in page

    calendly.client.post(f"/meetings/events/{event.uuid}/no-show/undo", {"invitee": invitee.uuid})
    assert invitee.no_show is None
    assert [e.action for e in AuditEntry.objects.order_by("pk")] == [
        Action.NO_SHOW_MARKED,
        Action.NO_SHOW_UNMARKED,
    ]


def test_a_new_time_is_a_single_use_link_for_the_invitee(calendly: Meetings) -> None:
    event = calendly.events(status="canceled", past=False)[0]
    invitee = calendly.sandbox.invitees[event.invitees[0]]
    response = calendly.client.post(
        f"/meetings/events/{event.uuid}/new-time", {"invitee": invitee.uuid}, follow=True
    )
    row = IssuedLink.objects.get()
    assert row.kind == IssuedLink.Kind.SINGLE_USE
    assert row.customer == invitee.email.lower()
    assert row.event_type_uri.endswith(event.event_type)
    assert f'data-copy="{row.booking_url}"' in response.content.decode()
    assert AuditEntry.objects.get(action=Action.LINK_CREATED).actor == calendly.support
    # The event type was checked in Calendly before the link was made.
    assert calendly.calls()["GET /event_types/{uuid}"] == 1


def test_sales_and_viewers_cannot_reach_meetings(calendly: Meetings) -> None:
    event = calendly.events(status="active", past=False)[0]
    invitee = event.invitees[0]
    for role in (Role.SALES, Role.VIEWER):
        client = Client()
        client.force_login(UserFactory(organization=calendly.org, role=role))
        assert client.get("/meetings/").status_code == 403
        assert client.get(f"/meetings/events/{event.uuid}").status_code == 403
        for action in ("cancel", "no-show", "no-show/undo", "new-time"):
            url = f"/meetings/events/{event.uuid}/{action}"
            assert client.post(url, {"invitee": invitee, "reason": "x"}).status_code == 403
    assert calendly.calls() == {}
    assert event.status == "active"


def test_another_organizations_admin_does_not_find_the_meeting(calendly: Meetings) -> None:
    sandbox = calendly.sandbox
    other = OrganizationFactory(uri=f"{sandbox.url}/organizations/{sandbox.other_org_uuid}")
    Connection.objects.create(
        organization=other,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri=f"{sandbox.url}/users/{sandbox.other_owner_uuid}",
        owner_label=sandbox.other_owner.email,
        access_token=sandbox.other_org_token,
    )
    client = Client()
    limit, period = NO_RATE_LIMIT
    shared_limiter(get_connection(other)).observe(limit=limit, remaining=limit, reset=period)
    client.force_login(UserFactory(organization=other, role=Role.ADMIN))
    event = calendly.events(status="active", past=False)[0]
    assert client.get(f"/meetings/events/{event.uuid}").status_code == 404
    cancel = client.post(f"/meetings/events/{event.uuid}/cancel", {"reason": "Not yours"})
    assert cancel.status_code == 404
    assert event.status == "active"


def test_a_calendly_refusal_is_said_in_words(calendly: Meetings) -> None:
    # Connected with a member's token instead of an admin's: Calendly refuses organization-wide
    # listings and other people's events.
    Connection.objects.filter(organization=calendly.org).update(
        access_token=calendly.sandbox.user_token
    )
    page = html.unescape(calendly.results(**wide()))
    assert 'role="alert"' in page
    assert "Calendly refused listing the organization's meetings" in page
    assert "An owner or admin may need to connect" in page


def test_searched_days_are_days_in_the_viewers_zone() -> None:
    with timezone.override("America/New_York"):
        form = SearchForm(
            {"start_from": "2026-03-01", "start_to": "2026-03-01"},
            organization_id=OrganizationFactory().pk,
        )
        assert form.is_valid(), form.errors
        filters = form.filters()
    assert filters.min_start == datetime.fromisoformat("2026-03-01T05:00:00+00:00")
    assert filters.max_start == datetime.fromisoformat("2026-03-02T05:00:00+00:00")


INVITEE = "GET /scheduled_events/{event_uuid}/invitees/{invitee_uuid}"


def test_a_stale_page_neither_marks_twice_nor_takes_back_a_mark_already_gone(
    calendly: Meetings,
) -> None:
    event = calendly.events(status="active", past=True)[0]
    invitee = calendly.sandbox.invitees[event.invitees[0]]
    url = f"/meetings/events/{event.uuid}/no-show"
    # Two tabs showed "Mark as no-show"; the first one's click marked the invitee.
    calendly.client.post(url, {"invitee": invitee.uuid})
    first_mark = invitee.no_show
    assert first_mark is not None
    calendly.sandbox.requests.reset()

    again = calendly.client.post(url, {"invitee": invitee.uuid}, follow=True)

    assert f"{invitee.email} is already marked as a no-show; nothing changed." in html.unescape(
        again.content.decode()
    )
    assert invitee.no_show == first_mark
    calls = calendly.calls()
    assert calls[INVITEE] == 1
    assert "POST /invitee_no_shows" not in calls

    # Someone took the mark back in Calendly; a page still offering "Take back" changes nothing.
    with calendly.sandbox.lock:
        invitee.no_show = None
    calendly.sandbox.requests.reset()
    undo = calendly.client.post(f"{url}/undo", {"invitee": invitee.uuid}, follow=True)

    assert f"{invitee.email} is not marked as a no-show; nothing changed." in html.unescape(
        undo.content.decode()
    )
    calls = calendly.calls()
    assert calls[INVITEE] == 1
    assert "DELETE /invitee_no_shows/{uuid}" not in calls
    assert [e.action for e in AuditEntry.objects.all()] == [Action.NO_SHOW_MARKED]


def test_a_no_show_for_an_invitee_of_another_meeting_is_not_found(calendly: Meetings) -> None:
    past = calendly.events(status="active", past=True)
    event, other = past[0], past[1]
    stranger = calendly.sandbox.invitees[other.invitees[0]]
    response = calendly.client.post(
        f"/meetings/events/{event.uuid}/no-show", {"invitee": stranger.uuid}
    )
    assert response.status_code == 404
    assert stranger.no_show is None
    assert calendly.calls()[INVITEE] == 1


def test_a_new_time_is_refused_when_the_event_type_was_turned_off_in_calendly(
    calendly: Meetings,
) -> None:
    event = calendly.events(status="canceled", past=False)[0]
    invitee = calendly.sandbox.invitees[event.invitees[0]]
    with calendly.sandbox.lock:
        calendly.sandbox.event_types[event.event_type].active = False
    # The mirror still says the event type is on: only Calendly knows better.
    mirrored = EventType.objects.get(organization=calendly.org, uri__endswith=event.event_type)
    assert mirrored.active
    page = calendly.client.get(f"/meetings/events/{event.uuid}").content.decode()
    assert "Offer a new time" in page

    response = calendly.client.post(
        f"/meetings/events/{event.uuid}/new-time", {"invitee": invitee.uuid}, follow=True
    )

    name = mirrored.name or mirrored.slug
    assert f"{name} is turned off in Calendly now" in html.unescape(response.content.decode())
    assert not IssuedLink.objects.exists()
    calls = calendly.calls()
    assert calls["GET /event_types/{uuid}"] == 1
    assert "POST /scheduling_links" not in calls
