"""Export CSV: exactly the filtered log, safe to open in a spreadsheet, and itself recorded."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.http import StreamingHttpResponse
from django.test import Client

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


def export(client: Client, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/audit/export.csv{query}")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    body = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    return list(csv.DictReader(io.StringIO(body)))


def test_the_export_holds_exactly_the_filtered_entries_in_page_order(
    client: Client, org: Organization
) -> None:
    for day in (1, 2, 3):
        AuditEntryFactory(
            organization=org,
            action=Action.ROLE_GRANTED,
            actor_label="Ada Lovelace (ada@acme.com)",
            target_label=f"granted {day}",
            created_at=datetime(2026, 3, day, tzinfo=UTC),
        )
    AuditEntryFactory(organization=org, action=Action.ROLE_REVOKED, actor_label="Ada Lovelace")
    AuditEntryFactory(organization=org, action=Action.ROLE_GRANTED, actor_label="Grace Hopper")
    AuditEntryFactory(action=Action.ROLE_GRANTED, actor_label="Ada of another organization")
    query = f"?actor=ada&action={Action.ROLE_GRANTED}&date_from=2026-03-02&page=1"

    exported = export(client, query)

    assert [row["target label"] for row in exported] == ["granted 3", "granted 2"]
    shown = client.get(f"/audit/{query}").content.decode()
    for row in exported:
        assert row["target label"] in shown
    # Five entries plus the export's own receipt.
    assert "2 of 6 entries" in shown


def test_every_column_is_written(client: Client, org: Organization) -> None:
    AuditEntryFactory(
        organization=org,
        actor_label="Ada Lovelace (ada@acme.com)",
        action=Action.ROLE_GRANTED,
        target_type="accounts.user",
        target_id="42",
        target_label="Grace Hopper",
        before={"role": ""},
        after={"role": "sales"},
        ip="2001:db8::1",
        user_agent="Firefox/140",
        request_id="req-0123456789",
        created_at=datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC),
    )
    assert export(client) == [
        {
            "time (UTC)": "2026-03-05T14:07:09+00:00",
            "actor": "Ada Lovelace (ada@acme.com)",
            "action": "accounts.role_granted",
            "target type": "accounts.user",
            "target id": "42",
            "target label": "Grace Hopper",
            "before": '{"role": ""}',
            "after": '{"role": "sales"}',
            "ip": "2001:db8::1",
            "user agent": "Firefox/140",
            "request id": "req-0123456789",
        }
    ]


@pytest.mark.parametrize(
    "dangerous", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
)
def test_cells_a_spreadsheet_would_run_as_formulas_are_defused(
    client: Client, org: Organization, dangerous: str
) -> None:
    AuditEntryFactory(organization=org, target_label=dangerous, actor_label=dangerous)
    (row,) = export(client)
    assert row["target label"] == "'" + dangerous
    assert row["actor"] == "'" + dangerous


def test_exporting_is_itself_recorded_with_the_filters(
    client: Client, org: Organization, admin: User
) -> None:
    AuditEntryFactory(organization=org, action=Action.SIGN_IN)
    export(client, f"?action={Action.SIGN_IN}&actor=ada&page=2")
    receipt = AuditEntry.objects.get(action=Action.EXPORTED)
    assert receipt.organization == org
    assert receipt.actor == admin
    assert receipt.after == {"filters": {"action": "accounts.sign_in", "actor": "ada"}}
    assert receipt.request_id


def test_the_receipt_of_an_export_is_not_part_of_that_export(
    client: Client, org: Organization
) -> None:
    assert export(client) == []
    # The next export sees the first one's receipt, like the page does.
    (row,) = export(client)
    assert row["action"] == Action.EXPORTED


def test_a_date_beyond_the_calendar_is_a_field_error_and_exports_nothing(
    client: Client, org: Organization
) -> None:
    AuditEntryFactory(organization=org)

    page = client.get("/audit/?date_to=9999-12-31")
    refused = client.get("/audit/export.csv?date_to=9999-12-31")

    assert page.status_code == 200
    assert "less than or equal to 2999-12-31" in page.content.decode()
    assert refused.status_code == 400
    assert "less than or equal to 2999-12-31" in refused.content.decode()
    assert not AuditEntry.objects.filter(action=Action.EXPORTED).exists()


def test_an_action_filter_that_is_not_an_action_name_is_a_field_error(
    client: Client, org: Organization
) -> None:
    response = client.get("/audit/?action=nope%00" + "x" * 300)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
