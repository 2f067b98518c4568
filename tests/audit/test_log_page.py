"""The audit page: admins of one organization see that organization's log, filtered by the URL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from portal.accounts.models import Organization, Role, User
from portal.audit import Action
from portal.audit.models import AuditEntry
from tests.audit.factories import AuditEntryFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client: Client) -> User:
    person = UserFactory(role=Role.ADMIN)
    client.force_login(person)
    return person


@pytest.fixture
def org(admin: User) -> Organization:
    assert admin.organization is not None
    return admin.organization


def rows(html: str) -> list[str]:
    """The target column of each row shown, in order."""
    return re.findall(r'<tr><th scope="row">.*?</th><td>.*?</td><td>.*?</td><td>([^<]*)', html)


def page(client: Client, query: str = "", **headers: str) -> str:
    response = client.get(f"/audit/{query}", headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_admins_see_their_organizations_entries_newest_first(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org, target_label="older", created_at=at(1))
    AuditEntryFactory(organization=org, target_label="newer", created_at=at(2))
    html = page(client)
    assert rows(html) == ["newer", "older"]
    assert "2 entries" in html


def test_entries_of_another_organization_never_appear_and_filters_cannot_reach_them(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org, target_label="ours", action=Action.SIGN_IN)
    AuditEntryFactory(target_label="theirs", action=Action.ROLE_REVOKED, actor_label="Mallory")
    AuditEntryFactory(organization=None, target_label="no-organization")

    assert rows(page(client)) == ["ours"]
    for query in ("?target=theirs", "?actor=Mallory", f"?action={Action.ROLE_REVOKED}"):
        html = page(client, query)
        assert rows(html) == [], query
        assert "0 of 1 entry" in html
    # Another organization's actions are not offered in the action list either.
    assert f'value="{Action.ROLE_REVOKED}"' not in page(client)


@pytest.mark.parametrize("role", [Role.SALES, Role.SUPPORT, Role.COMPLIANCE, Role.VIEWER])
def test_every_role_other_than_admin_is_refused(client: Client, role: Role) -> None:
    client.force_login(UserFactory(role=role))
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403


def test_anonymous_people_are_sent_to_sign_in(client: Client) -> None:
    response = client.get("/audit/")
    assert response.status_code == 302
    assert "next=/audit/" in response["Location"]


def test_the_actor_filter_matches_part_of_a_name_or_email(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org, actor_label="Ada Lovelace (ada@acme.com)", target_label="a")
    AuditEntryFactory(
        organization=org, actor_label="Grace Hopper (grace@acme.com)", target_label="g"
    )
    assert rows(page(client, "?actor=lovel")) == ["a"]
    assert rows(page(client, "?actor=GRACE@")) == ["g"]


def test_the_action_filter_is_exact_and_offers_the_actions_present(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org, action=Action.ROLE_GRANTED, target_label="granted")
    AuditEntryFactory(organization=org, action=Action.ROLE_REVOKED, target_label="revoked")
    AuditEntryFactory(organization=org, action="directory.member_removed_later", target_label="x")
    html = page(client, f"?action={Action.ROLE_GRANTED}")
    assert rows(html) == ["granted"]
    assert "1 of 3 entries" in html
    assert f'<option value="{Action.ROLE_GRANTED}" selected>Granted a portal role</option>' in html
    assert f'<option value="{Action.SIGN_IN}"' not in html
    assert rows(page(client, "?action=accounts.role")) == []


def test_the_target_filter_matches_the_label_or_the_id(client: Client, org: Organization) -> None:
    AuditEntryFactory(organization=org, target_label="Sales demo (30 min)", target_id="ET-77")
    AuditEntryFactory(organization=org, target_label="Support call", target_id="ET-88")
    assert rows(page(client, "?target=demo")) == ["Sales demo (30 min)"]
    assert rows(page(client, "?target=et-88")) == ["Support call"]


def test_the_date_filters_include_both_whole_days(client: Client, org: Organization) -> None:
    for day, hour in ((1, 23), (2, 0), (3, 23), (4, 0)):
        AuditEntryFactory(organization=org, created_at=at(day, hour), target_label=f"{day}")
    assert rows(page(client, "?date_from=2026-03-02&date_to=2026-03-03")) == ["3", "2"]
    assert rows(page(client, "?date_from=2026-03-04")) == ["4"]
    assert rows(page(client, "?date_to=2026-03-01")) == ["1"]


def test_an_invalid_date_is_reported_and_the_other_filters_still_apply(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org, target_label="kept", actor_label="Ada")
    AuditEntryFactory(organization=org, target_label="other", actor_label="Bob")
    html = page(client, "?date_from=yesterday&actor=ada")
    assert rows(html) == ["kept"]
    assert "Enter a valid date." in html


def test_times_carry_the_exact_utc_value_for_machines_and_on_hover(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org, created_at=datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC))
    html = page(client)
    assert 'datetime="2026-03-05T14:07:09' in html
    assert 'title="2026-03-05 14:07:09 UTC"' in html


def test_before_and_after_are_shown_in_a_details_element(client: Client, org: Organization) -> None:
    AuditEntryFactory(
        organization=org,
        before={"role": "viewer", "team": "x"},
        after={"role": "sales", "team": "x"},
    )
    html = page(client)
    assert "<summary>Changed: role</summary>" in html
    assert "&quot;role&quot;: &quot;viewer&quot;" in html
    assert "&quot;role&quot;: &quot;sales&quot;" in html


def test_an_empty_log_explains_what_gets_recorded(client: Client, admin: User) -> None:
    html = page(client)
    assert "Nothing recorded yet" in html
    assert "signing in and out" in html
    assert "Export CSV" not in html


def test_filters_that_match_nothing_say_so_and_offer_to_clear_them(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org)
    html = page(client, "?actor=nobody")
    assert "Nothing matches these filters" in html
    assert "0 of 1 entry" in html


def test_counts_use_thousands_separators(client: Client, org: Organization) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(organization=org, action=Action.SIGN_IN, actor_label=f"P{n}")
        for n in range(1001)
    )
    AuditEntryFactory(organization=org, action=Action.SIGN_OUT)
    assert "1,002 entries" in page(client)
    assert "1,001 of 1,002 entries" in page(client, f"?action={Action.SIGN_IN}")


def test_pages_hold_fifty_entries_and_keep_the_filters(client: Client, org: Organization) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(
            organization=org, action=Action.SIGN_IN, target_label=f"t{n:03}", created_at=at(1)
        )
        for n in range(60)
    )
    AuditEntryFactory(organization=org, action=Action.SIGN_OUT)
    first = page(client, f"?action={Action.SIGN_IN}")
    assert len(rows(first)) == 50
    assert "Page 1 of 2" in first
    assert f'href="/audit/?action={Action.SIGN_IN}&amp;page=2"' in first
    second = page(client, f"?action={Action.SIGN_IN}&page=2")
    assert len(rows(second)) == 10
    assert set(rows(first)).isdisjoint(rows(second))
    assert len(rows(page(client, "?page=999"))) == 11


def test_an_htmx_request_gets_only_the_results_and_the_new_count(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org, target_label="ours")
    response = client.get("/audit/?target=ours", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert "<form" not in html
    assert rows(html) == ["ours"]
    assert '<p class="count">1 of 1 entry' in html
    assert "HX-Request" in response["Vary"]


def test_the_full_page_wires_the_filter_form_to_the_results(client: Client, admin: User) -> None:
    html = page(client)
    assert 'hx-get="/audit/"' in html
    assert 'hx-target="#audit-results"' in html
    assert 'hx-push-url="true"' in html
    assert 'hx-trigger="input delay:300ms, submit"' in html
    # The count is inside the swapped results, which screen readers are told about.
    assert '<div id="audit-results" aria-live="polite">' in html
    for name in ("actor", "action", "target", "date_from", "date_to"):
        assert f'<label for="id_{name}">' in html


@pytest.mark.parametrize("query", ["", "?actor=person&target=Target&date_from=2020-01-01&page=3"])
def test_the_page_runs_a_small_fixed_number_of_queries(
    client: Client,
    org: Organization,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    query: str,
) -> None:
    AuditEntryFactory.create_batch(220, organization=org)
    # The first request after signing in also records when the session was last seen (a
    # write that happens at most once a minute); measure the page as people see it after that.
    page(client, query)
    with django_assert_max_num_queries(8):
        page(client, query)
    with django_assert_max_num_queries(8):
        page(client, query, **{"HX-Request": "true"})
