"""Team calendar feeds: meetings written by real invitee deliveries, read back by calendar apps
through the feed's secret address, and the admins' pages that make and revoke feeds."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from icalendar.parser import unescape_backslash
from pytest_django import DjangoAssertNumQueries

from portal.accounts.models import Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.directory.models import EventType, GroupRelationship, Member, Team
from portal.webhooks import feeds, processing
from portal.webhooks.models import Delivery, Endpoint, Feed, Meeting, MeetingHost, Subscription
from tests.factories import (
    EventTypeFactory,
    GroupFactory,
    MemberFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.webhooks.signing import body_of, endpoint_for, envelope, post_signed

pytestmark = pytest.mark.django_db

API = "https://api.calendly.com"


# -- deliveries, as Calendly sends them -------------------------------------------------------


def calendly_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def invitee(
    uuid: str,
    *,
    event_type: EventType,
    hosts: list[Member],
    start: datetime,
    status: str = "active",
    name: str = "Ana Diaz",
    email: str = "ana@example.com",
    event_name: str = "Intro call",
    location: str = "https://zoom.example/j/1",
    rescheduled: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """An Invitee with its scheduled event embedded, as `invitee.*` deliveries carry it."""
    event = f"{API}/scheduled_events/EV-{uuid}"
    return {
        "uri": f"{event}/invitees/{uuid}",
        "email": email,
        "name": name,
        "status": status,
        "event": event,
        "rescheduled": rescheduled,
        "cancellation": {"reason": reason, "canceler_type": "invitee"} if reason else None,
        "created_at": calendly_time(start - timedelta(days=2)),
        "scheduled_event": {
            "uri": event,
            "name": event_name,
            "status": status,
            "start_time": calendly_time(start),
            "end_time": calendly_time(start + timedelta(minutes=30)),
            "event_type": event_type.uri,
            "location": {"type": "zoom_conference", "join_url": location},
            "event_memberships": [
                {"user": host.user_uri, "user_email": host.email, "user_name": host.name}
                for host in hosts
            ],
        },
    }


def deliver(endpoint: Endpoint, event: str, payload: dict[str, Any], *, at: datetime) -> None:
    """Post a signed delivery to the organization's address, then process it as the task would."""
    body = body_of(envelope(event=event, payload=payload, created_at=calendly_time(at)))
    answer = post_signed(Client(), endpoint, body)
    assert answer.status_code == 202
    delivery_id = answer.json()["delivery"]
    assert processing.process(delivery_id) is True
    row = Delivery.objects.get(pk=delivery_id)
    assert row.status == Delivery.Status.PROCESSED, row.outcome


def book(endpoint: Endpoint, uuid: str, **fields: Any) -> dict[str, Any]:
    payload = invitee(uuid, **fields)
    deliver(endpoint, "invitee.created", payload, at=timezone.now() - timedelta(minutes=5))
    return payload


def cancel(endpoint: Endpoint, booked: dict[str, Any], **changes: Any) -> None:
    payload = {**booked, "status": "canceled", **changes}
    payload["scheduled_event"] = {**booked["scheduled_event"], "status": "canceled"}
    deliver(endpoint, "invitee.canceled", payload, at=timezone.now())


# -- reading a feed, as a calendar app does ---------------------------------------------------


def fetch(token: str, headers: dict[str, str] | None = None) -> Any:
    return Client().get(reverse("feed_ics", kwargs={"token": token}), headers=headers)


def events_of(answer: Any) -> dict[str, icalendar.Event]:
    """The feed's events by SUMMARY's invitee part."""
    assert answer.status_code == 200
    calendar = icalendar.Calendar.from_ical(answer.content)
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def only_event(answer: Any) -> icalendar.Event:
    found = list(events_of(answer).values())
    assert len(found) == 1, [str(event["summary"]) for event in found]
    return found[0]


def summaries(answer: Any) -> set[str]:
    return {str(event["summary"]) for event in events_of(answer).values()}


# -- the organization ------------------------------------------------------------------------


class Org:
    def __init__(self) -> None:
        self.org: Organization = OrganizationFactory()
        self.admin: User = UserFactory(organization=self.org, role=Role.ADMIN)
        self.endpoint = endpoint_for(self.org)
        self.ana = MemberFactory(organization=self.org, name="Ana Rep", email="ana.rep@acme.test")
        self.bo = MemberFactory(organization=self.org, name="Bo Rep", email="bo.rep@acme.test")
        self.intro = EventTypeFactory(organization=self.org, name="Intro call")
        self.demo = EventTypeFactory(organization=self.org, name="Demo")

    def client(self) -> Client:
        client = Client()
        client.force_login(self.admin)
        return client

    def feed(self, **fields: Any) -> tuple[Feed, str]:
        fields.setdefault("name", "Sales meetings")
        fields.setdefault("kind", Feed.Kind.EVENT_TYPES)
        if fields["kind"] == Feed.Kind.EVENT_TYPES:
            fields.setdefault("event_types", [self.intro])
        return feeds.create_feed(organization=self.org, actor=self.admin, **fields)


@pytest.fixture
def acme() -> Org:
    return Org()


SOON = timezone.now().replace(microsecond=0) + timedelta(days=3)


# -- what a feed shows -----------------------------------------------------------------------


def test_a_booking_delivered_to_the_portal_appears_in_the_feed(acme: Org) -> None:
    _, token = acme.feed(name="Sales, EMEA; intro calls")
    book(acme.endpoint, "INV-1", event_type=acme.intro, hosts=[acme.ana], start=SOON)

    answer = fetch(token)

    assert answer["Content-Type"] == "text/calendar; charset=utf-8"
    assert answer["Cache-Control"] == "private, max-age=300"
    assert answer["ETag"].startswith('"')
    assert answer["Last-Modified"]
    calendar = icalendar.Calendar.from_ical(answer.content)
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["prodid"]) == feeds.PRODID
    name = unescape_backslash(str(calendar["x-wr-calname"]))
    assert name == "Sales, EMEA; intro calls"
    event = only_event(answer)
    assert str(event["summary"]) == "Intro call — Ana Diaz"
    assert event.decoded("dtstart") == SOON
    assert event.decoded("dtend") == SOON + timedelta(minutes=30)
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert str(event["location"]) == "https://zoom.example/j/1"
    assert "ana@example.com" in str(event["description"])
    assert "Ana Rep" in str(event["description"])
    assert (str(event["status"]), int(event["sequence"])) == ("CONFIRMED", 0)
    assert str(event["uid"]) == "inv1@invitees.calendly-portal"
    assert "dtstamp" in event


def test_a_cancellation_marks_the_event_cancelled_with_a_higher_sequence(acme: Org) -> None:
    _, token = acme.feed()
    booked = book(acme.endpoint, "INV-1", event_type=acme.intro, hosts=[acme.ana], start=SOON)
    before = only_event(fetch(token))

    cancel(acme.endpoint, booked, cancellation={"reason": "Double-booked, sorry"})

    after = only_event(fetch(token))
    assert str(after["uid"]) == str(before["uid"])
    assert str(after["status"]) == "CANCELLED"
    assert int(after["sequence"]) > int(before["sequence"])
    assert str(after["summary"]) == "Canceled: Intro call — Ana Diaz"
    assert "Double-booked, sorry" in str(after["description"])
    assert str(after["transp"]) == "TRANSPARENT"


def test_a_reschedule_cancels_the_old_time_and_adds_the_new_one(acme: Org) -> None:
    _, token = acme.feed()
    old = book(acme.endpoint, "INV-OLD", event_type=acme.intro, hosts=[acme.ana], start=SOON)
    later = SOON + timedelta(days=1)

    cancel(acme.endpoint, old, rescheduled=True, new_invitee=f"{API}/x/invitees/INV-NEW")
    book(acme.endpoint, "INV-NEW", event_type=acme.intro, hosts=[acme.ana], start=later)

    found = events_of(fetch(token))
    old_event = found["invold@invitees.calendly-portal"]
    new_event = found["invnew@invitees.calendly-portal"]
    assert (str(old_event["status"]), int(old_event["sequence"])) == ("CANCELLED", 1)
    assert str(old_event["summary"]).startswith("Rescheduled: ")
    assert (str(new_event["status"]), new_event.decoded("dtstart")) == ("CONFIRMED", later)


def test_an_event_types_feed_shows_only_the_chosen_event_types(acme: Org) -> None:
    _, token = acme.feed(event_types=[acme.intro])
    book(acme.endpoint, "INV-1", event_type=acme.intro, hosts=[acme.ana], start=SOON, name="In")
    book(acme.endpoint, "INV-2", event_type=acme.demo, hosts=[acme.ana], start=SOON, name="Out")
    # Another organization's booking of an event type with the same UUID stays out.
    other = Org()
    twin = EventTypeFactory(organization=other.org, uri=acme.intro.uri.upper() + "/")
    book(other.endpoint, "INV-3", event_type=twin, hosts=[other.ana], start=SOON, name="Theirs")

    assert summaries(fetch(token)) == {"Intro call — In"}


def test_a_group_feed_shows_the_meetings_its_members_host(acme: Org) -> None:
    sales = GroupFactory(organization=acme.org, name="Sales")
    GroupRelationship.objects.create(
        organization=acme.org,
        uri=f"{API}/group_relationships/GR1",
        group=sales,
        role=GroupRelationship.Role.MEMBER,
        owner_uri=acme.ana.uri,
        member=acme.ana,
    )
    _, token = acme.feed(kind=Feed.Kind.GROUP, group=sales)
    # Calendly spells the same user URI in more than one way; the host still matches.
    ana_as_sent = MemberFactory.build(
        user_uri=acme.ana.user_uri.replace("MUSR", "musr"), name="Ana Rep", email="a@x.test"
    )
    book(acme.endpoint, "INV-1", event_type=acme.intro, hosts=[ana_as_sent], start=SOON, name="A")
    book(
        acme.endpoint,
        "INV-2",
        event_type=acme.demo,
        hosts=[acme.bo, acme.ana],
        start=SOON,
        name="Both",
    )
    book(acme.endpoint, "INV-3", event_type=acme.intro, hosts=[acme.bo], start=SOON, name="Bo's")

    assert summaries(fetch(token)) == {"Intro call — A", "Intro call — Both"}


def test_a_team_feed_shows_the_meetings_of_the_teams_event_types(acme: Org) -> None:
    team = Team.objects.create(organization=acme.org, uri=f"{API}/teams/TEAM-1", name="Support")
    team_type = EventTypeFactory(
        organization=acme.org,
        name="Support call",
        profile_type="Team",
        profile_owner_uri=f"{API}/teams/team1",  # the same team, spelled otherwise
    )
    _, token = acme.feed(kind=Feed.Kind.TEAM, team=team)
    book(acme.endpoint, "INV-1", event_type=team_type, hosts=[acme.ana], start=SOON, name="T")
    book(acme.endpoint, "INV-2", event_type=acme.intro, hosts=[acme.ana], start=SOON, name="U")

    assert summaries(fetch(token)) == {"Intro call — T"}


def test_meetings_that_ended_more_than_thirty_days_ago_leave_the_feed(acme: Org) -> None:
    _, token = acme.feed()
    now = timezone.now()
    book(
        acme.endpoint,
        "INV-1",
        event_type=acme.intro,
        hosts=[acme.ana],
        start=now - timedelta(days=29),
        name="Recent",
    )
    book(
        acme.endpoint,
        "INV-2",
        event_type=acme.intro,
        hosts=[acme.ana],
        start=now - timedelta(days=31),
        name="Old",
    )

    assert summaries(fetch(token)) == {"Intro call — Recent"}


def test_names_from_calendly_survive_the_round_trip_whatever_they_hold(acme: Org) -> None:
    hostile = 'Zoë "Z" O\'Brien, CEO; Ops\\Sales\nsecond line\r\nthird\rfourth 🦄🎉 \x07bell'
    long_name = "Ŵ😀" * 300  # 1,800 bytes of UTF-8, folded over many lines
    _, token = acme.feed(name="Sales; EMEA, 🦄\\ all")
    book(
        acme.endpoint,
        "INV-1",
        event_type=acme.intro,
        hosts=[acme.ana],
        start=SOON,
        name=hostile,
        email="odd,;\\name@example.com",
        event_name="Call; with, everything\\",
        location="Room 1, Floor 2; ask at the desk\nthen left",
    )
    book(
        acme.endpoint, "INV-2", event_type=acme.intro, hosts=[acme.ana], start=SOON, name=long_name
    )

    answer = fetch(token)

    assert all(len(line) <= 75 for line in answer.content.split(b"\r\n"))
    found = events_of(answer)
    event = found["inv1@invitees.calendly-portal"]
    readable = 'Zoë "Z" O\'Brien, CEO; Ops\\Sales\nsecond line\nthird\nfourth 🦄🎉 bell'
    assert str(event["summary"]) == f"Call; with, everything\\ — {readable}"
    assert str(event["location"]) == "Room 1, Floor 2; ask at the desk\nthen left"
    assert "odd,;\\name@example.com" in str(event["description"])
    stored = Meeting.objects.get(invitee_uri__endswith="/INV-2").invitee_name
    assert stored.startswith("Ŵ😀" * 100)
    assert str(found["inv2@invitees.calendly-portal"]["summary"]) == f"Intro call — {stored}"
    calendar = icalendar.Calendar.from_ical(answer.content)
    assert unescape_backslash(str(calendar["x-wr-calname"])) == "Sales; EMEA, 🦄\\ all"


# -- fetching ----------------------------------------------------------------------------------


def test_revoked_and_unknown_addresses_answer_the_same_404(acme: Org) -> None:
    feed, token = acme.feed()
    assert fetch(token).status_code == 200
    feeds.revoke_feed(feed=feed, actor=acme.admin)

    revoked, unknown, huge = fetch(token), fetch("x" * 43), fetch("x" * 5000)

    assert revoked.status_code == unknown.status_code == huge.status_code == 404
    assert revoked.content == unknown.content == huge.content
    assert revoked["Content-Type"] == unknown["Content-Type"]


def test_a_calendar_app_with_a_current_copy_gets_304(acme: Org) -> None:
    _, token = acme.feed()
    book(acme.endpoint, "INV-1", event_type=acme.intro, hosts=[acme.ana], start=SOON)
    first = fetch(token)

    again = fetch(token, {"If-None-Match": first["ETag"]})
    since = fetch(token, {"If-Modified-Since": first["Last-Modified"]})

    assert (again.status_code, again.content) == (304, b"")
    assert again["ETag"] == first["ETag"]
    assert since.status_code == 304
    book(acme.endpoint, "INV-2", event_type=acme.intro, hosts=[acme.ana], start=SOON)
    changed = fetch(token, {"If-None-Match": first["ETag"]})
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]


def test_a_group_feed_changes_its_etag_when_the_group_changes(acme: Org) -> None:
    sales = GroupFactory(organization=acme.org, name="Sales")
    _, token = acme.feed(kind=Feed.Kind.GROUP, group=sales)
    book(acme.endpoint, "INV-1", event_type=acme.intro, hosts=[acme.ana], start=SOON)
    empty = fetch(token)
    assert events_of(empty) == {}

    GroupRelationship.objects.create(
        organization=acme.org,
        uri=f"{API}/group_relationships/GR1",
        group=sales,
        role=GroupRelationship.Role.ADMIN,
        owner_uri=acme.ana.uri,
        member=acme.ana,
    )

    joined = fetch(token, {"If-None-Match": empty["ETag"]})
    assert joined.status_code == 200
    assert len(events_of(joined)) == 1


def test_a_fetch_reads_the_same_few_rows_however_many_meetings(
    acme: Org, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    sales = GroupFactory(organization=acme.org, name="Sales")
    GroupRelationship.objects.create(
        organization=acme.org,
        uri=f"{API}/group_relationships/GR1",
        group=sales,
        role=GroupRelationship.Role.MEMBER,
        owner_uri=acme.ana.uri,
        member=acme.ana,
    )
    _, token = acme.feed(kind=Feed.Kind.GROUP, group=sales)
    book(acme.endpoint, "INV-0", event_type=acme.intro, hosts=[acme.ana, acme.bo], start=SOON)
    with django_assert_max_num_queries(5):
        assert len(events_of(fetch(token))) == 1
    # Many more meetings, written as the handler writes them (faster than 60 deliveries).
    for n in range(1, 61):
        meeting = Meeting.objects.create(
            organization=acme.org,
            invitee_uri=f"{API}/scheduled_events/E{n}/invitees/INV-{n}",
            event_type_uri=acme.intro.uri,
            event_type_key=feeds.key_of(acme.intro.uri),
            name="Intro call",
            start_time=SOON + timedelta(hours=n),
            end_time=SOON + timedelta(hours=n, minutes=30),
            as_of=timezone.now(),
        )
        MeetingHost.objects.bulk_create(
            MeetingHost(meeting=meeting, user_uri=m.user_uri, user_key=feeds.key_of(m.user_uri))
            for m in (acme.ana, acme.bo)
        )

    with django_assert_max_num_queries(5):
        answer = fetch(token)
    assert len(events_of(answer)) == 61
    with django_assert_max_num_queries(3):
        assert fetch(token, {"If-None-Match": answer["ETag"]}).status_code == 304


def test_the_feed_answers_head_and_refuses_post(acme: Org) -> None:
    _, token = acme.feed()
    url = reverse("feed_ics", kwargs={"token": token})

    assert Client().head(url).status_code == 200
    assert Client().post(url).status_code == 405


# -- the admins' pages -------------------------------------------------------------------------


def test_an_admin_makes_a_group_feed_and_gets_its_address_to_copy(acme: Org) -> None:
    sales = GroupFactory(organization=acme.org, name="Sales")
    client = acme.client()
    assert client.get(reverse("webhooks:feed_new")).status_code == 200

    answer = client.post(
        reverse("webhooks:feed_new"),
        {"name": "  Sales\nteam  ", "kind": "group", "group": sales.pk},
    )

    feed = Feed.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == f"{reverse('webhooks:feeds')}?made={feed.pk}"
    assert (feed.name, feed.kind, feed.group, feed.created_by_label) == (
        "Sales team",
        "group",
        sales,
        f"{acme.admin.get_full_name()} ({acme.admin.email})",
    )
    url = f"http://testserver/feeds/{feed.token}.ics"
    assert feed.token_digest == hashlib.sha256(feed.token.encode()).hexdigest()
    page = client.get(answer["Location"]).content.decode()
    assert "Subscribe to “Sales team” with this address" in page
    assert page.count(f'data-copy="{url}"') == 2  # the panel and the list
    assert fetch(feed.token).status_code == 200


def test_the_address_is_under_the_portals_public_address_when_set(acme: Org, settings: Any) -> None:
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    _, token = acme.feed()

    page = acme.client().get(reverse("webhooks:feeds")).content.decode()

    assert f'data-copy="https://portal.example.com/feeds/{token}.ics"' in page


def test_making_a_feed_is_audited_without_its_secret(acme: Org) -> None:
    acme.client().post(
        reverse("webhooks:feed_new"),
        {"name": "Intros", "kind": "event_types", "event_types": [acme.intro.pk, acme.demo.pk]},
    )

    feed = Feed.objects.get()
    entry = AuditEntry.objects.get(action=Action.FEED_CREATED)
    assert (entry.organization, entry.actor, entry.target_id) == (
        acme.org,
        acme.admin,
        str(feed.pk),
    )
    assert entry.after["event_types"] == ["Demo", "Intro call"]
    assert feed.event_type_uris == [acme.demo.uri, acme.intro.uri]
    written = json.dumps([entry.before, entry.after, entry.target_label, entry.actor_label])
    assert feed.token not in written
    assert feed.token_digest not in written


@pytest.mark.parametrize(
    "posted",
    [
        pytest.param(lambda other: {"kind": "group", "group": other["group"]}, id="group"),
        pytest.param(lambda other: {"kind": "team", "team": other["team"]}, id="team"),
        pytest.param(
            lambda other: {"kind": "event_types", "event_types": [other["event_type"]]},
            id="event type",
        ),
        pytest.param(lambda other: {"kind": "group", "group": "9" * 30}, id="huge id"),
        pytest.param(lambda other: {"kind": "group"}, id="no group"),
    ],
)
def test_a_choice_from_another_organization_is_refused(acme: Org, posted: Any) -> None:
    elsewhere = OrganizationFactory()
    other = {
        "group": GroupFactory(organization=elsewhere).pk,
        "team": Team.objects.create(organization=elsewhere, uri=f"{API}/teams/T9", name="T").pk,
        "event_type": EventTypeFactory(organization=elsewhere).pk,
    }

    answer = acme.client().post(reverse("webhooks:feed_new"), {"name": "Feed", **posted(other)})

    assert answer.status_code == 400
    assert "No feed was made" in answer.content.decode()
    assert not Feed.objects.exists()
    assert not AuditEntry.objects.filter(action=Action.FEED_CREATED).exists()


def test_the_feeds_pages_are_for_admins_only(acme: Org) -> None:
    feed, _ = acme.feed()
    client = Client()
    client.force_login(UserFactory(organization=acme.org, role=Role.SUPPORT))

    assert client.get(reverse("webhooks:feeds")).status_code == 403
    assert client.get(reverse("webhooks:feed_new")).status_code == 403
    assert client.post(reverse("webhooks:feed_revoke", args=[feed.pk])).status_code == 403
    assert Feed.objects.get().revoked_at is None


def test_revoking_a_feed_asks_first_then_its_address_answers_404(acme: Org) -> None:
    feed, token = acme.feed(name="Sales meetings")
    client = acme.client()
    url = reverse("webhooks:feed_revoke", args=[feed.pk])

    confirm = client.get(url)
    assert "Revoke the feed “Sales meetings”?" in confirm.content.decode()
    assert Feed.objects.get().revoked_at is None

    done = client.post(url)
    again = client.post(url, follow=True)

    assert done.status_code == 302
    assert Feed.objects.get().revoked_at is not None
    assert fetch(token).status_code == 404
    assert "was already revoked" in again.content.decode()
    entry = AuditEntry.objects.get(action=Action.FEED_REVOKED)
    assert (entry.target_id, entry.before) == (str(feed.pk), {"revoked_at": None})
    page = client.get(reverse("webhooks:feeds")).content.decode()
    assert "Revoked" in page
    assert token not in page


def test_another_organizations_feed_cannot_be_revoked(acme: Org) -> None:
    theirs, token = Org().feed()

    answer = acme.client().post(reverse("webhooks:feed_revoke", args=[theirs.pk]))

    assert answer.status_code == 404
    assert fetch(token).status_code == 200


def test_the_empty_list_says_where_meetings_come_from(acme: Org) -> None:
    page = acme.client().get(reverse("webhooks:feeds")).content.decode()

    assert "No feeds yet." in page
    assert f'href="{reverse("webhooks:subscriptions")}"' in page
    assert "no active webhook subscription of your organization sends" in page


def test_the_warning_goes_once_a_subscription_sends_both_events(acme: Org) -> None:
    Subscription.objects.create(
        organization=acme.org,
        uri=f"{API}/webhook_subscriptions/W1",
        callback_url="https://portal.example/hooks/calendly/x",
        state=Subscription.State.ACTIVE,
        events=["invitee.created", "invitee.canceled"],
        scope=Subscription.Scope.ORGANIZATION,
    )

    page = acme.client().get(reverse("webhooks:feeds")).content.decode()

    assert "no active webhook subscription of your organization sends" not in page
