"""The groups and teams pages read the mirror only: who is in a group, what they own, a team's
event types, and who may see them."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from portal.accounts.models import Organization, Role, User
from portal.directory.mirror import mirror_changed
from portal.directory.models import (
    EventType,
    EventTypeHost,
    Group,
    GroupRelationship,
    Invitation,
    Member,
    Team,
)
from tests.factories import (
    EventTypeFactory,
    GroupFactory,
    InvitationFactory,
    MemberFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TEAM_URI = "https://api.calendly.test/teams/SALES"


def relate(group: Group, role: str, *, member: Member | None = None, **fields: Any) -> None:
    owner = member.uri if member else fields["invitation"].uri
    GroupRelationship.objects.create(
        organization=group.organization,
        uri=f"https://api.calendly.test/group_relationships/{group.pk}-{owner}-{role}",
        group=group,
        role=role,
        owner_uri=owner,
        member=member,
        **fields,
    )


def own_type(member: Member, name: str, **fields: Any) -> EventType:
    slug = name.lower().replace(" ", "-")
    return EventTypeFactory(
        organization=member.organization,
        name=name,
        slug=slug,
        scheduling_url=f"https://calendly.test/{member.slug}/{slug}",
        profile_type="User",
        profile_name=member.name,
        profile_owner_uri=member.user_uri,
        **fields,
    )


@dataclass
class Acme:
    org: Organization
    sales: Group
    support: Group
    team: Team
    ada: Member
    bob: Member
    gina: Member
    cy: Member
    intro: EventType
    inactive: EventType
    gone: EventType
    other: EventType
    pool: EventType


@pytest.fixture
def acme() -> Acme:
    org = OrganizationFactory()
    ada = MemberFactory(organization=org, name="Ada Lovelace", email="ada@acme.test")
    bob = MemberFactory(organization=org, name="Bob Stone", email="bob@acme.test")
    gina = MemberFactory(
        organization=org, name="Gina Gone", email="gina@acme.test", removed_at=timezone.now()
    )
    cy = MemberFactory(organization=org, name="Cy Other", email="cy@acme.test")
    sales = GroupFactory(organization=org, name="Sales")
    support = GroupFactory(organization=org, name="Support")
    relate(sales, GroupRelationship.Role.MEMBER, member=ada)
    relate(sales, GroupRelationship.Role.MEMBER, member=gina)
    relate(sales, GroupRelationship.Role.ADMIN, member=bob)
    invited = InvitationFactory(organization=org, email="newbie@acme.test")
    relate(sales, GroupRelationship.Role.MEMBER, invitation=invited)
    relate(support, GroupRelationship.Role.MEMBER, member=cy)
    team = Team.objects.create(
        organization=org,
        uri=TEAM_URI,
        name="Sales Team",
        scheduling_url="https://calendly.test/team/sales",
    )
    pool = EventTypeFactory(
        organization=org,
        name="Sales Intro",
        slug="sales-intro",
        scheduling_url="https://calendly.test/team/sales/sales-intro",
        pooling_type="round_robin",
        profile_type="Team",
        profile_name="Sales Team",
        profile_owner_uri=TEAM_URI,
    )
    EventTypeHost.objects.create(event_type=pool, member=ada)
    EventTypeHost.objects.create(event_type=pool, member=bob)
    return Acme(
        org=org,
        sales=sales,
        support=support,
        team=team,
        ada=ada,
        bob=bob,
        gina=gina,
        cy=cy,
        intro=own_type(ada, "Intro Call"),
        inactive=own_type(ada, "Board Prep", active=False),
        gone=own_type(gina, "Old Chat"),
        other=own_type(cy, "Support Chat"),
        pool=pool,
    )


def sign_in(client: Client, org: Organization, role: Role = Role.VIEWER) -> User:
    person = UserFactory(organization=org, role=role)
    client.force_login(person)
    return person


class CopyButtons(HTMLParser):
    """What each Copy button of a page puts on the clipboard."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.copied: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "button" and "data-copy" in attr:
            self.copied.append(attr["data-copy"] or "")


def copied(response: Any) -> list[str]:
    return CopyButtons(response.content.decode()).copied


# -- the list ---------------------------------------------------------------------------------


def test_the_list_shows_groups_with_counts_and_admins_and_teams(client: Client, acme: Acme) -> None:
    sign_in(client, acme.org)
    response = client.get("/groups/")
    overview = response.context["overview"]
    assert [(g.name, g.members, g.admins) for g in overview.groups] == [
        ("Sales", 3, ("Bob Stone",)),
        ("Support", 1, ()),
    ]
    assert [(t.name, t.event_types, t.hosts) for t in overview.teams] == [("Sales Team", 1, 2)]
    html = response.content.decode()
    assert f'href="/groups/{acme.sales.pk}"' in html
    assert f'href="/groups/teams/{acme.team.pk}"' in html


def test_the_list_searches_by_name(client: Client, acme: Acme) -> None:
    sign_in(client, acme.org)
    overview = client.get("/groups/", {"q": "SUPP"}).context["overview"]
    assert [g.name for g in overview.groups] == ["Support"]
    assert overview.teams == []
    response = client.get("/groups/", {"q": "team"}, headers={"HX-Request": "true"})
    assert [t.name for t in response.context["overview"].teams] == ["Sales Team"]
    assert "<h1>" not in response.content.decode()


def test_an_empty_list_says_where_groups_come_from(client: Client) -> None:
    sign_in(client, OrganizationFactory())
    html = client.get("/groups/").content.decode()
    assert "No groups or teams yet" in html
    assert "Enterprise" in html
    assert "read at each sync" in html
    assert "https://calendly.com/app/admin/groups" in html


# -- a group ----------------------------------------------------------------------------------


def test_a_group_shows_its_members_admins_and_pending_invitation(
    client: Client, acme: Acme
) -> None:
    sign_in(client, acme.org)
    response = client.get(f"/groups/{acme.sales.pk}")
    page = response.context["page"]
    assert [p.name for p in page.admins] == ["Bob Stone"]
    assert [(p.name, p.removed, p.pending) for p in page.members] == [
        ("Ada Lovelace", False, False),
        ("Gina Gone", True, False),
        ("newbie@acme.test", False, True),
    ]
    html = response.content.decode()
    assert 'newbie@acme.test <span class="hint">(invitation pending)</span>' in html
    assert "Cy Other" not in html
    assert "Calendly's API cannot change groups" in html
    assert 'href="https://calendly.com/app/admin/groups"' in html


def test_a_group_lists_its_members_event_types_with_copy_only_for_bookable_ones(
    client: Client, acme: Acme
) -> None:
    sign_in(client, acme.org)
    response = client.get(f"/groups/{acme.sales.pk}")
    rows = response.context["page"].event_types
    assert sorted(row.name for row in rows) == ["Board Prep", "Intro Call", "Old Chat"]
    html = response.content.decode()
    buttons = copied(response)
    assert acme.intro.scheduling_url in buttons
    for unbookable in (acme.inactive, acme.gone):
        assert unbookable.scheduling_url in html
        assert unbookable.scheduling_url not in buttons
    assert "Inactive: the link takes no bookings" in html
    assert "The owner was removed from the organization" in html
    # Another group's member's type, and the team's pool, are not the group's.
    assert acme.other.scheduling_url not in html
    assert acme.pool.scheduling_url not in html


def test_the_groups_members_link_lists_only_that_groups_members(client: Client, acme: Acme) -> None:
    sign_in(client, acme.org)
    members_url = client.get(f"/groups/{acme.sales.pk}").context["members_url"]
    listed = client.get(members_url).context["list"].page.rows
    # Its group filter holds members and group admins who joined and are still in the
    # organization: not Gina (removed), not the invitation, not Support's Cy.
    assert [row.name for row in listed] == ["Ada Lovelace", "Bob Stone"]


# -- a team -----------------------------------------------------------------------------------


def test_a_team_shows_its_event_types_hosts_and_page(client: Client, acme: Acme) -> None:
    EventTypeFactory(
        organization=acme.org,
        name="Team Retired",
        active=False,
        scheduling_url="https://calendly.test/team/sales/retired",
        profile_type="Team",
        profile_name="Sales Team",
        profile_owner_uri=TEAM_URI,
    )
    sign_in(client, acme.org)
    response = client.get(f"/groups/teams/{acme.team.pk}")
    assert [row.name for row in response.context["event_types"]] == [
        "Sales Intro",
        "Team Retired",
    ]
    html = response.content.decode()
    assert "Ada Lovelace, Bob Stone" in html
    buttons = copied(response)
    assert acme.pool.scheduling_url in buttons
    assert acme.team.scheduling_url in buttons
    assert "https://calendly.test/team/sales/retired" in html
    assert "https://calendly.test/team/sales/retired" not in buttons
    assert acme.intro.scheduling_url not in html


# -- who may see what -------------------------------------------------------------------------


def test_another_organizations_group_and_team_are_not_found(client: Client, acme: Acme) -> None:
    sign_in(client, OrganizationFactory(), Role.ADMIN)
    assert client.get(f"/groups/{acme.sales.pk}").status_code == 404
    assert client.get(f"/groups/teams/{acme.team.pk}").status_code == 404
    assert client.get("/groups/").context["overview"].groups == []


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.ADMIN, 200), (Role.VIEWER, 200), (Role.SALES, 403), (Role.SUPPORT, 403)],
)
def test_admins_and_viewers_may_see_groups_and_teams(
    client: Client, acme: Acme, role: Role, status: int
) -> None:
    sign_in(client, acme.org, role)
    for url in ("/groups/", f"/groups/{acme.sales.pk}", f"/groups/teams/{acme.team.pk}"):
        assert client.get(url).status_code == status, url


def test_pages_run_a_bounded_number_of_queries_whatever_the_group_size(
    client: Client, acme: Acme, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    sign_in(client, acme.org, Role.ADMIN)
    urls = ("/groups/", f"/groups/{acme.sales.pk}", f"/groups/teams/{acme.team.pk}")
    for size in (3, 60):
        for n in range(size):
            member = MemberFactory(organization=acme.org)
            relate(acme.sales, GroupRelationship.Role.MEMBER, member=member)
            relate(acme.sales, GroupRelationship.Role.ADMIN, member=member)
            own_type(member, f"Call {size}-{n}")
            EventTypeHost.objects.create(event_type=acme.pool, member=member)
        invited = InvitationFactory(organization=acme.org, status=Invitation.Status.PENDING)
        relate(acme.sales, GroupRelationship.Role.MEMBER, invitation=invited)
        mirror_changed(acme.org.pk)
        client.get("/groups/")  # the first request after sign-in also notes the session
        for url in urls:
            # Session and person, what the page reads, and the organization's owners, their
            # links and the pools' hosts once per change of the mirror (with its sync line).
            with django_assert_max_num_queries(12):
                assert client.get(url).status_code == 200
