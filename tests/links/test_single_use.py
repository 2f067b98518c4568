"""Single-use links from the New link page and from `manage.py single_use_link`, against the
sandbox over real HTTP, and the ledger that is their only record."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from portal.accounts.models import Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly.client import CalendlyClient
from portal.directory.models import EventType, Member
from portal.links.models import IssuedLink
from tests.directory.test_sync import NO_RATE_LIMIT, connect, sync
from tests.factories import OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

SCHEDULING_LINKS = "POST /scheduling_links"


@dataclass
class Linked:
    sandbox: RunningSandbox
    org: Organization
    support: User
    client: Client  # signed in as `support`

    def calendly_calls(self) -> dict[str, int]:
        return self.sandbox.requests.snapshot()

    def rep_with_types(self) -> tuple[Member, EventType]:
        """A current member who owns an active event type a link can be made for."""
        for event_type in EventType.objects.current().filter(
            organization=self.org, active=True, profile_type="User"
        ):
            rep = Member.objects.current().filter(user_uri=event_type.profile_owner_uri).first()
            if rep is not None and event_type.type != "AdhocEventType":
                return rep, event_type
        raise AssertionError("the sandbox seeds no personal event type")


@pytest.fixture
def linked(sandbox_factory: SandboxFactory) -> Iterator[Linked]:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        org = connect(sandbox)
        assert sync(org, sandbox).status == "succeeded"
        sandbox.requests.reset()
        support = UserFactory(organization=org, role=Role.SUPPORT)
        client = Client()
        client.force_login(support)
        yield Linked(sandbox, org, support, client)


def test_the_page_finds_a_rep_then_makes_one_link_with_one_request(linked: Linked) -> None:
    rep, event_type = linked.rep_with_types()
    found = linked.client.get("/links/new", {"rep_q": rep.name.split()[0]})
    assert f"?rep={rep.pk}" in found.content.decode()

    chosen = linked.client.get("/links/new", {"rep": rep.pk})
    assert f'value="{event_type.pk}"' in chosen.content.decode()

    response = linked.client.post(
        f"/links/new?rep={rep.pk}",
        {"event_type": event_type.pk, "customer": "Buyer@Example.com", "ticket": "T-42"},
        follow=True,
    )
    assert linked.calendly_calls() == {SCHEDULING_LINKS: 1}
    row = IssuedLink.objects.get()
    assert row.kind == IssuedLink.Kind.SINGLE_USE
    assert row.booking_url.startswith("http")
    assert (row.customer, row.ticket) == ("buyer@example.com", "T-42")
    assert (row.rep, row.event_type, row.created_by) == (rep, event_type, linked.support)
    assert row.origin == IssuedLink.Origin.PORTAL
    # Shown large with a Copy button on its ledger entry.
    assert response.redirect_chain[-1][0] == f"/links/ledger/{row.pk}"
    assert f'data-copy="{row.booking_url}"' in response.content.decode()
    entry = AuditEntry.objects.get(action=Action.LINK_CREATED)
    assert entry.actor == linked.support
    assert entry.after["booking_url"] == row.booking_url


def test_only_types_a_link_can_be_made_for_are_offered(linked: Linked) -> None:
    rep, event_type = linked.rep_with_types()
    off = EventType.objects.create(
        organization=linked.org,
        uri=f"{event_type.uri}-off",
        name="Turned off",
        active=False,
        scheduling_url="https://calendly.example/off",
        profile_type="User",
        profile_owner_uri=rep.user_uri,
    )
    page = linked.client.get("/links/new", {"rep": rep.pk}).content.decode()
    assert f'value="{event_type.pk}"' in page
    assert f'value="{off.pk}"' not in page

    refused = linked.client.post(f"/links/new?rep={rep.pk}", {"event_type": off.pk})
    assert refused.status_code == 400
    assert linked.calendly_calls() == {}
    assert not IssuedLink.objects.exists()


def test_a_bad_customer_address_is_refused_before_calendly(linked: Linked) -> None:
    rep, event_type = linked.rep_with_types()
    response = linked.client.post(
        f"/links/new?rep={rep.pk}", {"event_type": event_type.pk, "customer": "not an address"}
    )
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert linked.calendly_calls() == {}
    assert not IssuedLink.objects.exists()


def test_a_rep_of_another_organization_is_not_found(linked: Linked) -> None:
    stranger = Member.objects.create(
        organization=OrganizationFactory(),
        uri="https://api.calendly.com/organization_memberships/OTHER",
        user_uri="https://api.calendly.com/users/OTHER",
        name="Somebody Else",
        email="else@example.org",
        role="user",
    )
    response = linked.client.get("/links/new", {"rep": stranger.pk})
    assert "not a member of your organization" in response.content.decode()
    assert 'name="event_type"' not in response.content.decode()


def test_calendly_refusing_leaves_no_ledger_row_and_says_why(linked: Linked) -> None:
    rep, event_type = linked.rep_with_types()
    # Deleted in Calendly since the last sync: Calendly answers 404.
    linked.sandbox.event_types.pop(event_type.uri.rsplit("/", 1)[1])
    response = linked.client.post(f"/links/new?rep={rep.pk}", {"event_type": event_type.pk})
    assert response.status_code == 409
    assert 'role="alert"' in response.content.decode()
    assert linked.calendly_calls() == {SCHEDULING_LINKS: 1}
    assert not IssuedLink.objects.exists()
    assert not AuditEntry.objects.filter(action=Action.LINK_CREATED).exists()


@pytest.mark.parametrize("reference", ["uri", "scheduling_url"])
def test_the_command_makes_the_same_link_and_names_itself(
    linked: Linked, reference: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rep, event_type = linked.rep_with_types()
    call_command(
        "single_use_link", "--event-type", getattr(event_type, reference), "--for", "TICKET-9"
    )
    row = IssuedLink.objects.get()
    out = capsys.readouterr()
    assert out.out.strip() == row.booking_url
    assert linked.calendly_calls() == {SCHEDULING_LINKS: 1}
    assert (row.ticket, row.customer, row.rep) == ("TICKET-9", "", rep)
    assert row.origin == IssuedLink.Origin.COMMAND
    assert row.created_by is None
    assert row.created_by_label == "manage.py single_use_link"
    entry = AuditEntry.objects.get(action=Action.LINK_CREATED)
    assert entry.actor is None
    assert entry.actor_label == "manage.py single_use_link"


def test_the_command_takes_an_address_as_the_customer_and_checks_the_organization(
    linked: Linked,
) -> None:
    _, event_type = linked.rep_with_types()
    with pytest.raises(CommandError, match="No organization"):
        call_command(
            "single_use_link", "--event-type", event_type.uri, "--org", "https://nowhere.example"
        )
    other = OrganizationFactory()
    with pytest.raises(CommandError, match="No event type in"):
        call_command("single_use_link", "--event-type", event_type.uri, "--org", other.uri)
    assert linked.calendly_calls() == {}
    call_command(
        "single_use_link",
        "--event-type",
        event_type.uri,
        "--for",
        "Customer@Example.com",
        "--org",
        linked.org.uri,
    )
    assert IssuedLink.objects.get().customer == "customer@example.com"


def make_entries(org: Organization, count: int, **fields: object) -> list[IssuedLink]:
    return IssuedLink.objects.bulk_create(
        IssuedLink(
            organization=org,
            kind=fields.get("kind", IssuedLink.Kind.SINGLE_USE),
            booking_url=f"https://calendly.example/d/{org.pk}-{i}",
            event_type_uri=f"https://api.calendly.com/event_types/E{i}",
            event_type_name=str(fields.get("event_type_name", f"Demo {i}")),
            rep_name=str(fields.get("rep_name", f"Rep {i}")),
            customer=str(fields.get("customer", f"customer{i}@example.com")),
            ticket=str(fields.get("ticket", f"T-{i}")),
            created_by_label=str(fields.get("created_by_label", "Sam Support")),
            status=fields.get("status", IssuedLink.Status.ACTIVE),
        )
        for i in range(count)
    )


@pytest.fixture
def support_client() -> tuple[Client, User]:
    user = UserFactory(role=Role.SUPPORT)
    client = Client()
    client.force_login(user)
    return client, user


def test_an_empty_ledger_says_how_links_get_into_it(support_client: tuple[Client, User]) -> None:
    client, _ = support_client
    page = client.get("/links/ledger").content.decode()
    assert "No links yet" in page
    assert "New link" in page


def test_the_ledger_searches_and_filters_and_exports_exactly_that(
    support_client: tuple[Client, User], django_assert_max_num_queries: object
) -> None:
    client, user = support_client
    assert user.organization is not None
    make_entries(user.organization, 30)
    make_entries(user.organization, 2, customer="vip@bigco.example", ticket="ZD-77")
    make_entries(
        user.organization, 1, customer="gone@bigco.example", status=IssuedLink.Status.BOOKED
    )
    make_entries(OrganizationFactory(), 5, customer="vip@bigco.example")  # another org's

    page = client.get("/links/ledger", {"q": "bigco"}).content.decode()
    assert "3 of 33 links" in page
    assert "2 of 33 links" in client.get("/links/ledger", {"q": "ZD-77"}).content.decode()
    booked = client.get("/links/ledger", {"status": "booked"}).content.decode()
    assert "1 of 33 links" in booked
    assert "gone@bigco.example" in booked

    export = client.get("/links/ledger/export.csv", {"q": "bigco"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted(r["customer"] for r in rows) == [
        "gone@bigco.example",
        "vip@bigco.example",
        "vip@bigco.example",
    ]
    receipt = AuditEntry.objects.get(action=Action.LEDGER_EXPORTED)
    assert receipt.after == {"filters": {"q": "bigco"}}


def test_a_ledger_page_view_runs_bounded_queries_and_no_calendly_call(
    support_client: tuple[Client, User],
    django_assert_max_num_queries: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_calendly(*args: object, **kwargs: object) -> None:
        raise AssertionError("a ledger page made a Calendly client")

    monkeypatch.setattr(CalendlyClient, "__init__", no_calendly)
    client, user = support_client
    assert user.organization is not None
    for size in (5, 200):
        IssuedLink.objects.all().delete()
        make_entries(user.organization, size)
        # Session and person, the page with its count, the total (and a session save).
        with django_assert_max_num_queries(7):  # type: ignore[operator]
            assert client.get("/links/ledger", {"q": "customer"}).status_code == 200


def test_bad_ledger_filters_are_field_errors(support_client: tuple[Client, User]) -> None:
    client, _ = support_client
    response = client.get("/links/ledger", {"date_to": "9999-12-31", "status": "lost"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ensure this value is less than or equal to" in page
    assert "Select a valid choice" in page
    assert client.get("/links/ledger/export.csv", {"date_to": "9999-12-31"}).status_code == 400
    assert not AuditEntry.objects.filter(action=Action.LEDGER_EXPORTED).exists()


def test_another_organizations_entry_is_not_found(support_client: tuple[Client, User]) -> None:
    client, _ = support_client
    (theirs,) = make_entries(OrganizationFactory(), 1)
    assert client.get(f"/links/ledger/{theirs.pk}").status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.SALES, 403), (Role.VIEWER, 403), (Role.COMPLIANCE, 403), (Role.ADMIN, 200)],
)
def test_only_support_and_admins_make_links(role: Role, status: int) -> None:
    user = UserFactory(role=role)
    client = Client()
    client.force_login(user)
    assert client.get("/links/new").status_code == status
    assert client.get("/links/ledger").status_code == status
    if status == 403:
        assert client.post("/links/new?rep=1", {"event_type": 1}).status_code == 403


@pytest.mark.parametrize(("role", "offered"), [(Role.SUPPORT, True), (Role.SALES, False)])
def test_the_links_pages_offer_new_link_and_ledger_to_those_who_may_use_them(
    role: Role, offered: bool
) -> None:
    user = UserFactory(role=role)
    client = Client()
    client.force_login(user)
    tabs = (
        client.get("/links/").content.decode().split('<nav class="tabs"', 1)[1].split("</nav>")[0]
    )
    assert 'href="/links/"' in tabs
    assert ('href="/links/new"' in tabs) is offered
    assert ('href="/links/ledger"' in tabs) is offered


def test_a_shares_entry_says_its_settings_in_words(support_client: tuple[Client, User]) -> None:
    client, user = support_client
    assert user.organization is not None
    (share,) = make_entries(user.organization, 1, kind=IssuedLink.Kind.SHARE)
    share.share_uri = "https://api.calendly.com/shares/S1"
    share.settings = {
        "name": "fixed",  # a name is shown as typed, even one that is a period's name
        "period_type": "fixed",
        "duration_options": [30, 60],
        "hide_location": False,
        "availability_rule": {"timezone": "Europe/Paris", "rules": [{"type": "wday"}]},
    }
    share.save()
    page = client.get(f"/links/ledger/{share.pk}").content.decode()
    assert "<dt>Name</dt><dd>fixed</dd>" in page
    assert "<dt>Booking window</dt><dd>Between two dates</dd>" in page
    assert "<dd>30, 60</dd>" in page
    assert "<dd>1 rule in Europe/Paris</dd>" in page
    assert "Edit settings" in page
    assert "Delete share…" in page
