"""The members pages read the mirror only: search, filters, sorting, counts, export, detail."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from portal import lists
from portal.accounts.models import Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.directory.members import MembersFilter
from portal.directory.mirror import mirror_changed
from portal.directory.models import EventTypeHost, GroupRelationship, Invitation, Member, SyncRun
from tests.factories import (
    EventTypeFactory,
    GroupFactory,
    InvitationFactory,
    MemberFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def org() -> Organization:
    return OrganizationFactory()


@pytest.fixture
def admin(client: Client, org: Organization) -> User:
    person = UserFactory(organization=org, role=Role.ADMIN)
    client.force_login(person)
    return person


def names(response: object) -> list[str]:
    page = response.context["list"].page  # type: ignore[attr-defined]
    return [row.name if hasattr(row, "name") else row.email for row in page.rows]


def test_search_finds_part_of_a_name_or_an_email_in_any_case(
    client: Client, org: Organization, admin: User
) -> None:
    MemberFactory(organization=org, name="Ada Lovelace", email="ada@acme.test")
    MemberFactory(organization=org, name="Grace Hopper", email="grace@acme.test")
    MemberFactory(organization=org, name="Alan Turing", email="lovelace.fan@acme.test")

    assert sorted(names(client.get("/members/?q=LOVEL"))) == ["Ada Lovelace", "Alan Turing"]
    assert names(client.get("/members/?q=grace@")) == ["Grace Hopper"]


def test_filters_by_role_group_and_status(client: Client, org: Organization, admin: User) -> None:
    ada = MemberFactory(organization=org, name="Ada", role=Member.Role.ADMIN)
    MemberFactory(organization=org, name="Bob")
    MemberFactory(organization=org, name="Cy", removed_at=timezone.now())
    sales = GroupFactory(organization=org, name="Sales")
    GroupRelationship.objects.create(
        organization=org,
        uri="https://api.calendly.com/group_relationships/R1",
        group=sales,
        role=GroupRelationship.Role.MEMBER,
        owner_uri=ada.uri,
        member=ada,
    )
    InvitationFactory(organization=org, email="new@acme.test")
    InvitationFactory(organization=org, email="no@acme.test", status=Invitation.Status.DECLINED)

    assert names(client.get("/members/?role=admin")) == ["Ada"]
    assert names(client.get(f"/members/?group={sales.pk}")) == ["Ada"]
    assert sorted(names(client.get("/members/"))) == ["Ada", "Bob"]
    assert names(client.get("/members/?status=removed")) == ["Cy"]
    assert names(client.get("/members/?status=pending")) == ["new@acme.test"]
    assert names(client.get("/members/?status=declined")) == ["no@acme.test"]


def test_sorting_follows_the_column_and_direction(
    client: Client, org: Organization, admin: User
) -> None:
    now = timezone.now()
    for name, days in (("Bea", 3), ("Al", 1), ("Cleo", 2)):
        MemberFactory(organization=org, name=name, calendly_created_at=now - timedelta(days=days))
    assert names(client.get("/members/?sort=name")) == ["Al", "Bea", "Cleo"]
    assert names(client.get("/members/?sort=-name")) == ["Cleo", "Bea", "Al"]
    assert names(client.get("/members/?sort=-joined")) == ["Al", "Cleo", "Bea"]


def test_counts_say_how_many_match(client: Client, org: Organization, admin: User) -> None:
    MemberFactory.create_batch(3, organization=org, name="Zed Person")
    MemberFactory(organization=org, name="Olga")
    MemberFactory(organization=org, name="Pat")
    assert "5 members" in client.get("/members/").content.decode()
    assert "3 of 5 members" in client.get("/members/?q=zed").content.decode()
    assert "1 of 5 members" in client.get("/members/?q=olga").content.decode()
    MemberFactory(organization=org, name="Quinn", removed_at=timezone.now())
    assert "0 of 1 removed member" in client.get("/members/?status=removed&q=zzz").content.decode()


def test_a_search_counts_up_to_a_limit_then_says_more_than(
    client: Client, org: Organization, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    monkeypatch.setattr(lists, "COUNT_LIMIT", 4)
    MemberFactory.create_batch(7, organization=org, name="Zed Person")
    searched = client.get("/members/?q=zed")
    assert "More than 4 of 7 members match" in searched.content.decode()
    assert searched.context["list"].page.num_pages is None
    assert "Page 1</span>" in searched.content.decode()
    # Deeper in, counting goes on to the page's end; the last page knows the total.
    assert searched.context["list"].page.has_next
    last = client.get("/members/?q=zed&page=4")
    assert last.context["list"].page.count == 7
    assert "Page 4 of 4" in last.content.decode()
    # Unfiltered, the count is the total the database keeps, exact whatever the size.
    assert "7 members" in client.get("/members/").content.decode()
    assert "Page 1 of 4" in client.get("/members/").content.decode()


def test_a_page_past_the_end_shows_the_last_page(
    client: Client, org: Organization, admin: User
) -> None:
    MemberFactory.create_batch(60, organization=org)
    response = client.get("/members/?page=9")
    assert response.context["list"].page.number == 2
    assert len(response.context["list"].page.rows) == 10
    assert client.get("/members/?page=bogus").context["list"].page.number == 1


def test_pages_hold_fifty_rows(client: Client, org: Organization, admin: User) -> None:
    MemberFactory.create_batch(120, organization=org)
    first = client.get("/members/")
    assert len(first.context["list"].page.rows) == 50
    assert "Page 1 of 3" in first.content.decode()
    assert len(client.get("/members/?page=3").context["list"].page.rows) == 20


def test_htmx_requests_get_only_the_results(client: Client, org: Organization, admin: User) -> None:
    MemberFactory(organization=org, name="Ada Lovelace")
    response = client.get("/members/?q=ada", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "Ada Lovelace" in body
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_export_holds_exactly_the_filtered_rows(
    client: Client, org: Organization, admin: User
) -> None:
    MemberFactory(organization=org, name="Ada", email="ada@acme.test", role=Member.Role.ADMIN)
    MemberFactory(
        organization=org, name="=HYPERLINK(evil)", email="x@acme.test", role=Member.Role.ADMIN
    )
    MemberFactory(organization=org, name="Bob", email="bob@acme.test")
    response = client.get("/members/export.csv?role=admin&sort=name")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0][:3] == ["name", "email", "role"]
    assert [row[0] for row in rows[1:]] == ["'=HYPERLINK(evil)", "Ada"]


def test_the_member_page_shows_groups_event_types_and_invitations(
    client: Client, org: Organization, admin: User
) -> None:
    ada = MemberFactory(organization=org, name="Ada Lovelace", email="ada@acme.test")
    group = GroupFactory(organization=org, name="Engines")
    GroupRelationship.objects.create(
        organization=org,
        uri="https://api.calendly.com/group_relationships/R2",
        group=group,
        role=GroupRelationship.Role.ADMIN,
        owner_uri=ada.uri,
        member=ada,
    )
    solo = EventTypeFactory(organization=org, name="Intro with Ada", profile_owner_uri=ada.user_uri)
    pool = EventTypeFactory(organization=org, name="Team demo", pooling_type="round_robin")
    EventTypeHost.objects.create(event_type=pool, member=ada)
    EventTypeFactory(organization=org, name="Someone else's")
    InvitationFactory(organization=org, email="ADA@acme.test", status=Invitation.Status.ACCEPTED)

    page = client.get(f"/members/{ada.pk}").content.decode()
    assert "Engines (group admin)" in page
    assert "Intro with Ada" in page
    assert "Team demo" in page
    assert "Round robin" in page
    assert "Someone else" not in page
    assert f'data-copy="{solo.scheduling_url}"' in page
    assert "Accepted" in page


def test_people_of_another_organization_are_not_found(client: Client, admin: User) -> None:
    stranger = MemberFactory(organization=OrganizationFactory(), name="Stranger")
    assert client.get(f"/members/{stranger.pk}").status_code == 404
    assert "Stranger" not in client.get("/members/?q=stranger").content.decode()


def test_empty_states_explain_what_to_do(client: Client, org: Organization, admin: User) -> None:
    assert "first sync with Calendly" in client.get("/members/").content.decode()
    MemberFactory(organization=org, name="Ada")
    assert "Nothing matches these filters" in client.get("/members/?q=zzz").content.decode()


def test_malformed_filters_are_reported_not_widened(
    client: Client, org: Organization, admin: User
) -> None:
    MemberFactory(organization=org, name="Ada")
    response = client.get("/members/?group=not-a-number&status=bogus")
    assert "Some filters were not understood" in response.content.decode()


@pytest.mark.parametrize("query", ["", "?q=a&role=user&sort=-joined&page=2", "?status=pending"])
def test_the_page_runs_a_bounded_number_of_queries_whatever_the_size(
    client: Client,
    org: Organization,
    admin: User,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    query: str,
) -> None:
    group = GroupFactory(organization=org)
    for member in MemberFactory.create_batch(300, organization=org):
        GroupRelationship.objects.create(
            organization=org,
            uri=f"{member.uri}/rel",
            group=group,
            role=GroupRelationship.Role.MEMBER,
            owner_uri=member.uri,
            member=member,
        )
    InvitationFactory.create_batch(60, organization=org)
    client.get(f"/members/{query}")  # the first request after sign-in also notes the session
    with django_assert_max_num_queries(10):
        client.get(f"/members/{query}")
    with django_assert_max_num_queries(10):
        client.get(f"/members/{query}", headers={"HX-Request": "true"})


def test_the_dashboard_counts_what_needs_an_admins_look_and_links_to_it(
    client: Client, org: Organization, admin: User
) -> None:
    now = timezone.now()
    SyncRun.objects.create(organization=org, trigger="manual", status="succeeded", finished_at=now)
    InvitationFactory(
        organization=org, email="week@x.test", calendly_created_at=now - timedelta(days=8)
    )
    InvitationFactory(
        organization=org, email="month@x.test", calendly_created_at=now - timedelta(days=40)
    )
    InvitationFactory(
        organization=org, email="fresh@x.test", calendly_created_at=now - timedelta(days=1)
    )
    InvitationFactory(organization=org, status=Invitation.Status.DECLINED)
    busy = MemberFactory(organization=org, name="Busy")
    EventTypeFactory(organization=org, profile_owner_uri=busy.user_uri)
    host = MemberFactory(organization=org, name="Host")
    pool = EventTypeFactory(organization=org, pooling_type="round_robin")
    EventTypeHost.objects.create(event_type=pool, member=host)
    idle = MemberFactory(organization=org, name="Idle")
    EventTypeFactory(organization=org, profile_owner_uri=idle.user_uri, active=False)
    MemberFactory(organization=org, name="Left", removed_at=now - timedelta(days=3))
    MemberFactory(organization=org, name="Long gone", removed_at=now - timedelta(days=90))

    items = {item.label: item for item in client.get("/").context["hygiene"]}

    assert items["Invitations pending more than 7 days"].count == 2
    assert items["Invitations pending more than 30 days"].count == 1
    assert items["Declined invitations"].count == 1
    assert items["Members with no active event type"].count == 1
    assert items["People removed in the last 30 days"].count == 1
    # Every number leads to exactly the rows it counted.
    for item in items.values():
        assert len(client.get(item.url).context["list"].page.rows) == item.count, item.label
    assert names(client.get(items["Members with no active event type"].url)) == ["Idle"]


def test_the_dashboard_shows_no_numbers_before_the_first_sync(
    client: Client, org: Organization, admin: User
) -> None:
    assert "these numbers appear after the first sync" in client.get("/").content.decode()


def test_rows_list_current_groups_and_group_admins(
    client: Client, org: Organization, admin: User
) -> None:
    ada = MemberFactory(organization=org, name="Ada")
    for name, role in (("support", "admin"), ("Sales", "member")):
        GroupRelationship.objects.create(
            organization=org,
            uri=f"https://api.calendly.com/group_relationships/{name}",
            group=GroupFactory(organization=org, name=name),
            role=role,
            owner_uri=ada.uri,
            member=ada,
        )
    page = client.get("/members/").content.decode()
    assert "<td>Sales, support (group admin)</td>" in page
    # The export says the same.
    export = client.get("/members/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[1][3] == "Sales; support (group admin)"


def test_groups_written_by_a_later_sync_appear_in_the_filter(
    client: Client, org: Organization, admin: User
) -> None:
    now = timezone.now()
    SyncRun.objects.create(organization=org, trigger="manual", status="succeeded", finished_at=now)
    GroupFactory(organization=org, name="Engines")
    assert "Engines" in client.get("/members/").content.decode()
    # Only a sync writes groups, and it says so when it finishes (as tests/directory/test_sync.py
    # shows against the sandbox); until then the page keeps what it read.
    GroupFactory(organization=org, name="Looms")
    assert "Looms" not in client.get("/members/").content.decode()
    mirror_changed(org.pk)
    page = client.get("/members/").content.decode()
    assert "Engines" in page
    assert "Looms" in page


def test_the_page_says_when_it_last_synced_and_why_the_latest_sync_failed(
    client: Client, org: Organization, admin: User
) -> None:
    MemberFactory(organization=org, name="Ada")
    assert "Not synced with Calendly yet." in client.get("/members/").content.decode()

    good = SyncRun.objects.create(
        organization=org,
        trigger="schedule",
        status="succeeded",
        finished_at=timezone.now(),
        notes=["Groups were skipped: they need Calendly's Enterprise plan."],
    )
    mirror_changed(org.pk)  # as every change of a sync run does
    page = client.get("/members/").content.decode()
    assert "Last synced with Calendly" in page
    assert "Groups were skipped" in page

    failed = SyncRun.objects.create(
        organization=org, trigger="manual", status="failed", error="Calendly answered 500."
    )
    mirror_changed(org.pk)  # as every change of a sync run does
    page = client.get("/members/").content.decode()
    assert "The latest sync failed: Calendly answered 500." in page
    assert "Last synced with Calendly" in page  # the last good copy is still what is shown
    assert "Groups were skipped" in page

    running = SyncRun.objects.create(organization=org, trigger="manual", status="running")
    mirror_changed(org.pk)  # as every change of a sync run does
    page = client.get("/members/").content.decode()
    assert f"/members/sync/{running.pk}" in page  # progress is polled
    assert "The latest sync failed" not in page
    assert good.pk != failed.pk != running.pk


def test_a_group_of_another_organization_is_reported_and_set_aside(
    client: Client, org: Organization, admin: User
) -> None:
    MemberFactory(organization=org, name="Ada")
    MemberFactory(organization=org, name="Bob")
    elsewhere = GroupFactory(organization=OrganizationFactory(), name="Not ours")
    response = client.get(f"/members/?group={elsewhere.pk}&q=ada")
    assert "Some filters were not understood" in response.content.decode()
    assert "There is no such group in this organization" in response.content.decode()
    assert "Not ours" not in response.content.decode()
    # The group is set aside; the filters that were understood still apply.
    assert names(response) == ["Ada"]


def test_a_group_number_beyond_any_database_id_is_a_field_error(
    client: Client, org: Organization, admin: User
) -> None:
    response = client.get("/members/?group=9223372036854775808")
    assert response.status_code == 200
    assert "There is no such group in this organization" in response.content.decode()
    assert not MembersFilter({"group": "9223372036854775808"}, groups=[]).is_valid()


def test_a_note_with_a_nul_character_is_refused_and_records_nothing(
    client: Client, org: Organization, admin: User
) -> None:
    member = MemberFactory(organization=org)
    response = client.post(
        f"/members/{member.pk}/note-change", {"change": "make admin\x00now"}, follow=True
    )
    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()
    assert not AuditEntry.objects.filter(action=Action.CHANGE_REQUESTED).exists()


def test_a_note_longer_than_the_form_takes_is_refused_not_cut(
    client: Client, org: Organization, admin: User
) -> None:
    member = MemberFactory(organization=org)
    response = client.post(f"/members/{member.pk}/note-change", {"change": "x" * 501}, follow=True)
    assert "at most 500 characters" in response.content.decode()
    assert not AuditEntry.objects.filter(action=Action.CHANGE_REQUESTED).exists()


def test_a_dashboard_filter_is_shown_on_the_list_and_can_be_cleared(
    client: Client, org: Organization, admin: User
) -> None:
    now = timezone.now()
    InvitationFactory(organization=org, email="old@x.test", calendly_created_at=now - timedelta(9))
    InvitationFactory(organization=org, email="new@x.test", calendly_created_at=now)

    page = client.get("/members/?status=pending&older_than=7")

    html = page.content.decode()
    assert names(page) == ["old@x.test"]
    assert "Invited more than 7 days ago" in html
    assert 'href="/members/?status=pending"' in html  # clears that filter, keeps the list
    assert names(client.get("/members/?status=pending")) == ["new@x.test", "old@x.test"]


def test_only_links_that_can_be_booked_get_a_copy_button(
    client: Client, org: Organization, admin: User
) -> None:
    ada = MemberFactory(organization=org, name="Ada")
    bookable = EventTypeFactory(organization=org, name="Intro", profile_owner_uri=ada.user_uri)
    secret = EventTypeFactory(
        organization=org, name="Hidden", profile_owner_uri=ada.user_uri, secret=True
    )
    inactive = EventTypeFactory(
        organization=org, name="Old", profile_owner_uri=ada.user_uri, active=False
    )

    page = client.get(f"/members/{ada.pk}").content.decode()
    assert f'data-copy="{bookable.scheduling_url}"' in page
    assert f'data-copy="{secret.scheduling_url}"' in page
    assert "not listed on the scheduling page" in page
    assert f'data-copy="{inactive.scheduling_url}"' not in page
    assert "Inactive: the link does not take bookings" in page

    Member.objects.filter(pk=ada.pk).update(removed_at=timezone.now())
    page = client.get(f"/members/{ada.pk}").content.decode()
    assert "data-copy=" not in page
    assert "removed" in page
