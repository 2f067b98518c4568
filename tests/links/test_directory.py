"""The link directory reads the mirror only: search, filters, grouping, Copy buttons, export,
roles, and the database-kept search text and totals behind them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from portal.accounts.models import Organization, Role, User
from portal.directory.mirror import mirror_changed
from portal.directory.models import (
    EventType,
    EventTypeHost,
    GroupRelationship,
    Member,
    MirrorTotal,
)
from tests.directory.test_actions import Connected
from tests.directory.test_actions import connect as connect_as_owner
from tests.directory.test_sync import NO_RATE_LIMIT, connect, sync
from tests.factories import (
    EventTypeFactory,
    GroupFactory,
    MemberFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

DIRECTORY = "/links/"
EXPORT = "/links/export.csv"


@dataclass
class Acme:
    """An organization with two reps, a removed one and a team's pools."""

    org: Organization
    ada: Member
    bob: Member
    gone: Member
    intro: EventType  # Ada's
    demo: EventType  # Ada's, secret and admin-managed
    board: EventType  # Ada's, inactive
    office: EventType  # Bob's group event, 60 minutes
    old: EventType  # the removed rep's
    round_robin: EventType  # the sales team's, hosted by Ada and Bob
    panel: EventType  # the sales team's collective, hosted by Bob


def own_type(member: Member, name: str, **fields: Any) -> EventType:
    slug = fields.pop("slug", name.lower().replace(" ", "-"))
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


def team_type(org: Organization, name: str, pooling: str, hosts: list[Member]) -> EventType:
    slug = name.lower().replace(" ", "-")
    pool = EventTypeFactory(
        organization=org,
        name=name,
        slug=slug,
        scheduling_url=f"https://calendly.test/team/sales/{slug}",
        pooling_type=pooling,
        profile_type="Team",
        profile_name="Sales Team",
        profile_owner_uri="https://api.calendly.test/teams/SALES",
    )
    for host in hosts:
        EventTypeHost.objects.create(event_type=pool, member=host)
    return pool


@pytest.fixture
def acme() -> Acme:
    org = OrganizationFactory()
    ada = MemberFactory(
        organization=org, name="Ada Lovelace", email="ada@acme.test", slug="ada-lovelace"
    )
    bob = MemberFactory(organization=org, name="Bob Stone", email="bob@acme.test", slug="bob")
    gone = MemberFactory(
        organization=org,
        name="Gina Gone",
        email="gina@acme.test",
        slug="gina",
        removed_at=timezone.now(),
    )
    return Acme(
        org=org,
        ada=ada,
        bob=bob,
        gone=gone,
        intro=own_type(ada, "Intro Call", duration=30),
        demo=own_type(
            ada, "Product Demo", slug="demo-xyz", duration=45, secret=True, admin_managed=True
        ),
        board=own_type(ada, "Board Prep", active=False),
        office=own_type(bob, "Office Hours", kind="group", duration=60),
        old=own_type(gone, "Old Chat"),
        round_robin=team_type(org, "Sales Intro", "round_robin", [ada, bob]),
        panel=team_type(org, "Panel Review", "collective", [bob]),
    )


def sign_in(client: Client, org: Organization, role: Role = Role.SALES) -> User:
    person = UserFactory(organization=org, role=role)
    client.force_login(person)
    return person


@pytest.fixture
def sales(client: Client, acme: Acme) -> User:
    return sign_in(client, acme.org)


def names(response: Any) -> list[str]:
    return [row.name for row in response.context["list"].page.rows]


class CopyButtons(HTMLParser):
    """Each Copy button of a page: its accessible name and what it puts on the clipboard."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "button" and "data-copy" in attr:
            self.found[attr.get("aria-label") or ""] = attr["data-copy"] or ""


def copy_buttons(response: Any) -> dict[str, str]:
    return CopyButtons(response.content.decode()).found


# -- search -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("sales")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # The rep's name finds their own types and the pool they host.
        ("LOVEL", ["Intro Call", "Product Demo", "Sales Intro"]),
        ("ada@acme", ["Intro Call", "Product Demo", "Sales Intro"]),
        # A host's name finds the pools they host, besides their own types.
        ("stone", ["Office Hours", "Panel Review", "Sales Intro"]),
        ("office h", ["Office Hours"]),
        ("demo-xyz", ["Product Demo"]),
        ("sales team", ["Panel Review", "Sales Intro"]),
        ("nobody-at-all", []),
    ],
)
def test_one_search_finds_rep_name_or_email_host_name_event_name_and_slug(
    client: Client, acme: Acme, query: str, expected: list[str]
) -> None:
    assert sorted(names(client.get(DIRECTORY, {"q": query}))) == expected


@pytest.mark.usefixtures("sales")
def test_a_whole_address_finds_only_that_rep_though_the_domain_is_everyones(
    client: Client, acme: Acme
) -> None:
    # The index is asked for the part before the "@"; the whole address is then checked.
    assert sorted(names(client.get(DIRECTORY, {"q": "bob@acme.test"}))) == [
        "Office Hours",
        "Panel Review",
        "Sales Intro",
    ]
    assert names(client.get(DIRECTORY, {"q": "bob@elsewhere.test"})) == []


def test_the_search_follows_renamed_members_and_changed_hosts(
    client: Client, acme: Acme, sales: User
) -> None:
    Member.objects.filter(pk=acme.bob.pk).update(name="Robert Stone", email="robert@acme.test")
    assert "Sales Intro" in names(client.get(DIRECTORY, {"q": "robert@acme"}))
    EventTypeHost.objects.filter(event_type=acme.round_robin, member=acme.bob).delete()
    assert "Sales Intro" not in names(client.get(DIRECTORY, {"q": "robert"}))
    carol = MemberFactory(organization=acme.org, name="Carol Quill")
    EventTypeHost.objects.create(event_type=acme.round_robin, member=carol)
    assert names(client.get(DIRECTORY, {"q": "quill"})) == ["Sales Intro"]
    # A save from a stale copy of the row cannot bring back old text.
    stale = EventType.objects.get(pk=acme.intro.pk)
    stale.search_text = "nonsense"
    stale.name = "First Call"
    stale.save()
    assert names(client.get(DIRECTORY, {"q": "nonsense"})) == []
    assert names(client.get(DIRECTORY, {"q": "first call"})) == ["First Call"]


# -- filters ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("sales")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"pooling": "round_robin"}, ["Sales Intro"]),
        ({"pooling": "collective"}, ["Panel Review"]),
        ({"pooling": "none"}, ["Intro Call", "Office Hours", "Old Chat", "Product Demo"]),
        ({"kind": "group"}, ["Office Hours"]),
        ({"duration": "45"}, ["Product Demo"]),
        ({"admin_managed": "yes"}, ["Product Demo"]),
        ({"secret": "yes"}, ["Product Demo"]),
        ({"secret": "no", "pooling": "none", "q": "ada"}, ["Intro Call"]),
        ({"state": "inactive"}, ["Board Prep"]),
        (
            {"state": "all", "q": "lovelace"},
            ["Board Prep", "Intro Call", "Product Demo", "Sales Intro"],
        ),
    ],
)
def test_each_filter_narrows_the_list(
    client: Client, acme: Acme, query: dict[str, str], expected: list[str]
) -> None:
    assert sorted(names(client.get(DIRECTORY, query))) == expected


def test_the_group_filter_keeps_the_groups_reps_types_and_the_pools_they_host(
    client: Client, acme: Acme, sales: User
) -> None:
    emea = GroupFactory(organization=acme.org, name="EMEA")
    GroupRelationship.objects.create(
        organization=acme.org,
        uri="https://api.calendly.test/group_relationships/R1",
        group=emea,
        role=GroupRelationship.Role.MEMBER,
        owner_uri=acme.ada.uri,
        member=acme.ada,
    )
    mirror_changed(acme.org.pk)  # the group list is kept per process until the mirror changes
    response = client.get(DIRECTORY, {"group": str(emea.pk)})
    assert sorted(names(response)) == ["Intro Call", "Product Demo", "Sales Intro"]
    assert "Group: EMEA" in [chip.text for chip in response.context["list"].chips]


@pytest.mark.usefixtures("sales")
def test_active_filters_are_said_in_words_each_with_a_way_to_clear_it(
    client: Client, acme: Acme
) -> None:
    query = {"q": "ada", "duration": "45", "admin_managed": "no", "secret": "yes", "kind": "solo"}
    chips = client.get(DIRECTORY, query).context["list"].chips
    assert [chip.text for chip in chips] == [
        "Rep, host or event type contains “ada”",
        "Kind: One-on-one",
        "45 minutes",
        "Not admin-managed",
        "Secret",
    ]
    assert chips[0].clear_url == "/links/?kind=solo&duration=45&admin_managed=no&secret=yes"


@pytest.mark.usefixtures("sales")
def test_inactive_types_are_hidden_by_default_and_the_count_says_of_how_many(
    client: Client, acme: Acme
) -> None:
    response = client.get(DIRECTORY)
    assert "Board Prep" not in names(response)
    assert response.context["list"].count_line == "6 event types"
    assert client.get(DIRECTORY, {"q": "lovelace"}).context["list"].count_line == (
        "3 of 6 event types"
    )
    inactive = client.get(DIRECTORY, {"state": "inactive"}).context["list"]
    assert inactive.count_line == "1 inactive event type"


@pytest.mark.usefixtures("sales")
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"duration": "0"}, "duration"),
        ({"duration": "abc"}, "duration"),
        ({"duration": "99999999999999999999"}, "duration"),
        ({"group": "999999"}, "group"),
        ({"pooling": "multi"}, "pooling"),
        ({"state": "deleted"}, "state"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"sort": "-color"}, "sort"),
    ],
)
def test_a_filter_not_understood_is_said_and_the_rest_still_apply(
    client: Client, acme: Acme, query: dict[str, str], field: str
) -> None:
    response = client.get(DIRECTORY, {**query, "kind": "group"})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert "Some filters were not understood" in response.content.decode()
    assert names(response) == ["Office Hours"]


# -- rows -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("sales")
def test_rows_are_grouped_by_rep_then_event_and_team_types_by_team(
    client: Client, acme: Acme
) -> None:
    rows = client.get(DIRECTORY).context["list"].page.rows
    assert [(row.profile_name, row.name) for row in rows] == [
        ("Ada Lovelace", "Intro Call"),
        ("Ada Lovelace", "Product Demo"),
        ("Bob Stone", "Office Hours"),
        ("Gina Gone", "Old Chat"),
        ("Sales Team", "Panel Review"),
        ("Sales Team", "Sales Intro"),
    ]
    html = client.get(DIRECTORY).content.decode()
    assert "Round robin" in html
    assert "Collective" in html


@pytest.mark.usefixtures("sales")
def test_each_bookable_link_has_a_copy_button_that_names_it(client: Client, acme: Acme) -> None:
    buttons = copy_buttons(client.get(DIRECTORY))
    assert buttons["Copy the link to Intro Call (Ada Lovelace)"] == acme.intro.scheduling_url
    assert buttons["Copy the link to Sales Intro (Sales Team)"] == acme.round_robin.scheduling_url
    assert buttons["Copy the link to Panel Review (Sales Team)"] == acme.panel.scheduling_url


@pytest.mark.usefixtures("sales")
def test_removed_members_and_inactive_types_offer_no_copy(client: Client, acme: Acme) -> None:
    response = client.get(DIRECTORY, {"state": "all"})
    copied = set(copy_buttons(response).values())
    html = response.content.decode()
    assert acme.old.scheduling_url in html
    assert acme.board.scheduling_url in html
    assert acme.old.scheduling_url not in copied
    assert acme.board.scheduling_url not in copied
    assert "Removed from the organization" in html
    assert "The owner was removed from the organization: the link takes no bookings" in html
    assert "Inactive: the link takes no bookings" in html
    # Nor do they go into anyone's "Copy all".
    assert not any(acme.board.scheduling_url in text for text in copied)


@pytest.mark.usefixtures("sales")
def test_a_secret_type_says_its_link_works_but_is_not_on_the_landing_page(
    client: Client, acme: Acme
) -> None:
    response = client.get(DIRECTORY, {"q": "product demo"})
    assert "Secret: the link works, but it is not on the landing page" in (
        response.content.decode()
    )
    assert acme.demo.scheduling_url in copy_buttons(response).values()
    assert (
        "not on the landing page" not in client.get(DIRECTORY, {"q": "intro call"}).content.decode()
    )


@pytest.mark.usefixtures("sales")
def test_a_reps_first_row_offers_the_landing_page_and_all_their_links(
    client: Client, acme: Acme
) -> None:
    buttons = copy_buttons(client.get(DIRECTORY))
    assert buttons["Copy the landing page link of Ada Lovelace"] == acme.ada.scheduling_url
    # Every link of Ada's that takes bookings, the secret one too; not her inactive type.
    assert buttons["Copy all links for this rep, Ada Lovelace"] == (
        f"Landing page: {acme.ada.scheduling_url}\n"
        f"Intro Call: {acme.intro.scheduling_url}\n"
        f"Product Demo: {acme.demo.scheduling_url}"
    )
    # Once per rep, even when the page shows one of their types only.
    searched = copy_buttons(client.get(DIRECTORY, {"q": "product"}))
    assert searched["Copy all links for this rep, Ada Lovelace"].count("\n") == 2
    assert list(buttons).count("Copy all links for this rep, Ada Lovelace") == 1
    # A removed rep has no landing page or "Copy all" to offer.
    assert not any("Gina Gone" in label for label in buttons)


@pytest.mark.usefixtures("sales")
def test_a_link_that_is_not_a_web_address_is_shown_as_text(client: Client, acme: Acme) -> None:
    EventType.objects.filter(pk=acme.intro.pk).update(scheduling_url="javascript:alert(1)")
    html = client.get(DIRECTORY, {"q": "intro call"}).content.decode()
    assert "javascript:alert(1)" in html
    assert 'href="javascript' not in html


@pytest.mark.usefixtures("sales")
def test_an_htmx_search_gets_the_results_only_and_the_url_carries_the_state(
    client: Client, acme: Acme
) -> None:
    response = client.get(
        DIRECTORY, {"q": "ada", "pooling": "none"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "<h1>" not in html
    assert "Intro Call" in html
    assert 'href="/links/export.csv?q=ada&amp;pooling=none' in html


# -- export -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("sales")
def test_the_export_holds_exactly_the_current_filter_in_the_lists_order(
    client: Client, acme: Acme
) -> None:
    query = {"q": "stone", "sort": "-event"}
    shown = names(client.get(DIRECTORY, query))
    response = client.get(EXPORT, query)
    assert response["Content-Disposition"].startswith('attachment; filename="scheduling-links-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert (
        [row["event type"] for row in rows]
        == shown
        == ["Sales Intro", "Panel Review", "Office Hours"]
    )
    sales_intro = rows[0]
    assert sales_intro["hosts"] == "Ada Lovelace; Bob Stone"
    assert sales_intro["type"] == "Round robin"
    assert sales_intro["scheduling link"] == acme.round_robin.scheduling_url
    office = rows[2]
    assert (office["rep email"], office["rep landing page"]) == (
        "bob@acme.test",
        acme.bob.scheduling_url,
    )
    assert office["takes bookings"] == "yes"


# -- who sees what ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.SALES, 200),
        (Role.SUPPORT, 200),
        (Role.VIEWER, 200),
        (Role.ADMIN, 200),
        (Role.COMPLIANCE, 403),
    ],
)
def test_sales_support_viewers_and_admins_read_the_directory(
    client: Client, acme: Acme, role: Role, status: int
) -> None:
    sign_in(client, acme.org, role)
    assert client.get(DIRECTORY).status_code == status
    assert client.get(EXPORT).status_code == status


def test_a_person_without_a_portal_role_is_refused(client: Client, acme: Acme) -> None:
    client.force_login(UserFactory(organization=acme.org, portal_role=""))
    assert client.get(DIRECTORY).status_code == 403


def test_another_organization_sees_none_of_these_links(client: Client, acme: Acme) -> None:
    sign_in(client, OrganizationFactory(), Role.SALES)
    response = client.get(DIRECTORY, {"state": "all"})
    assert names(response) == []
    assert acme.intro.scheduling_url not in response.content.decode()
    exported = b"".join(client.get(EXPORT, {"state": "all"}).streaming_content).decode()
    assert exported.count("\n") == 1  # the header only


@pytest.mark.parametrize(
    ("role", "lands_on"),
    [(Role.SALES, DIRECTORY), (Role.SUPPORT, None), (Role.ADMIN, None)],
)
def test_a_sales_person_lands_on_the_directory_after_sign_in(
    client: Client, role: Role, lands_on: str | None
) -> None:
    sign_in(client, OrganizationFactory(), role)
    response = client.get("/")
    if lands_on is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response["Location"] == lands_on
        # The search box is focused when the page opens.
        assert 'name="q"' in client.get(lands_on).content.decode()
        assert "autofocus" in client.get(lands_on).content.decode()


# -- what the database keeps ------------------------------------------------------------------


def test_the_totals_follow_every_write_to_event_types(acme: Acme) -> None:
    def totals() -> dict[str, int]:
        kept = MirrorTotal.objects.filter(organization=acme.org, kind__endswith="_types")
        return dict(kept.values_list("kind", "n"))

    assert totals() == {"active_types": 6, "inactive_types": 1}
    EventType.objects.filter(pk=acme.board.pk).update(active=True)
    EventType.objects.filter(pk=acme.old.pk).update(removed_at=timezone.now())
    acme.office.delete()
    own_type(acme.bob, "Second Office", active=False)
    assert totals() == {"active_types": 5, "inactive_types": 1}
    # A sync's bulk upsert passes through the same triggers.
    EventType.objects.bulk_create(
        [EventType(**{**_fields(acme.intro), "active": False})],
        update_conflicts=True,
        unique_fields=["uri"],
        update_fields=["active"],
    )
    assert totals() == {"active_types": 4, "inactive_types": 2}


def _fields(event_type: EventType) -> dict[str, Any]:
    return {
        f.attname: getattr(event_type, f.attname)
        for f in EventType._meta.concrete_fields
        if not f.primary_key
    }


# -- the cost of a page -----------------------------------------------------------------------


def fill(org: Organization, reps: int) -> None:
    """`reps` reps with three event types each, and a pool hosted by all of them."""
    members = MemberFactory.create_batch(reps, organization=org)
    pool = team_type(org, "Everyone Intro", "round_robin", [])
    for member in members:
        for name in ("Intro", "Demo", "Review"):
            own_type(member, f"{name} {member.pk}")
        EventTypeHost.objects.create(event_type=pool, member=member)


def test_a_page_runs_a_bounded_number_of_queries_whatever_the_size(
    client: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    org = OrganizationFactory()
    sign_in(client, org)
    for reps in (5, 120):
        fill(org, reps)
        client.get(DIRECTORY)  # the first request after sign-in also notes the session
        # The second shows the pool beside reps' own types: every query a page may run.
        for query in ({}, {"q": "intro", "sort": "event"}, {"q": "member", "pooling": "none"}):
            # Session and person; the page with its count and total; the owners with their
            # links; the pools' hosts (and a session save).
            with django_assert_max_num_queries(7):
                assert client.get(DIRECTORY, query).status_code == 200
            with django_assert_max_num_queries(7):
                client.get(DIRECTORY, query, headers={"HX-Request": "true"})


@pytest.fixture
def synced(sandbox_factory: SandboxFactory) -> Iterator[tuple[Organization, Any]]:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        org = connect(sandbox)
        assert sync(org, sandbox).status == "succeeded"
        sandbox.requests.reset()
        yield org, sandbox


def test_after_a_sync_a_hosts_name_finds_the_round_robin_and_no_page_calls_calendly(
    client: Client, synced: tuple[Organization, Any]
) -> None:
    org, sandbox = synced
    sign_in(client, org)
    pool = EventType.objects.get(
        organization=org, pooling_type="round_robin", name="Sales Intro Call"
    )
    host = pool.hosts.order_by("name").first()
    assert host is not None
    response = client.get(DIRECTORY, {"q": host.name.split()[-1][:4]})
    assert pool.scheduling_url in copy_buttons(response).values()
    client.get(EXPORT)
    assert sandbox.requests.snapshot() == {}
    # Another sync rewrites every row: the text and the totals stay right.
    assert sync(org, sandbox).status == "succeeded"
    assert pool.scheduling_url in copy_buttons(client.get(DIRECTORY, {"q": host.email})).values()
    totals = dict(MirrorTotal.objects.filter(organization=org).values_list("kind", "n"))
    current = EventType.objects.current().filter(organization=org)
    assert totals["active_types"] == current.filter(active=True).count()
    assert totals["inactive_types"] == current.filter(active=False).count()


def test_removing_a_rep_takes_their_copy_buttons_away_at_once(sandbox: RunningSandbox) -> None:
    # Owners and hosts are kept per process until the mirror changes: removing a member is a
    # change, so the next page reads them again without waiting for a sync.
    with override_settings(CALENDLY_API_URL=sandbox.url):
        connected = connect_as_owner(sandbox)
        rep = Member.objects.filter(organization=connected.org, role=Member.Role.USER).first()
        assert rep is not None
        _remove_and_look(connected, rep)


def _remove_and_look(connected: Connected, rep: Member) -> None:
    intro = own_type(rep, "Intro Call")
    before = connected.client.get(DIRECTORY, {"q": "intro call"})
    assert intro.scheduling_url in copy_buttons(before).values()

    connected.client.post(f"/members/{rep.pk}/remove", {"confirm": rep.email})

    after = connected.client.get(DIRECTORY, {"q": "intro call", "state": "all"})
    assert intro.scheduling_url in after.content.decode()
    assert intro.scheduling_url not in copy_buttons(after).values()
    assert "The owner was removed from the organization" in after.content.decode()
