"""Sessions end on time, and people lose access as soon as Calendly's answer changes."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from portal.accounts.models import CalendlyRole, Connection, Role
from portal.audit import Action
from portal.audit.models import AuditEntry
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def later(**delta: float) -> mock._patch[object]:
    moment = timezone.now() + timedelta(**delta)
    return mock.patch("portal.accounts.middleware.timezone.now", return_value=moment)


def test_a_session_ends_after_thirty_idle_minutes(client: Client) -> None:
    client.force_login(UserFactory(role=Role.ADMIN))
    assert client.get("/accounts/people").status_code == 200
    with later(minutes=29):
        assert client.get("/accounts/people").status_code == 200
    with later(minutes=29 + 31):
        response = client.get("/accounts/people")
    assert response.status_code == 302
    assert "/accounts/sign-in" in response["Location"]


def test_activity_keeps_a_session_alive_but_not_past_twelve_hours(client: Client) -> None:
    client.force_login(UserFactory(role=Role.ADMIN))
    client.get("/accounts/people")
    for minutes in range(20, 12 * 60, 20):
        with later(minutes=minutes):
            assert client.get("/accounts/people").status_code == 200, minutes
    with later(hours=12, minutes=5):
        assert client.get("/accounts/people").status_code == 302


def test_a_person_demoted_in_calendly_loses_admin_pages_at_the_next_request(
    client: Client,
) -> None:
    admin = UserFactory(role=Role.ADMIN)
    client.force_login(admin)
    assert client.get("/accounts/people").status_code == 200
    # What the organization mirror does when Calendly reports the new role.
    admin.calendly_role = CalendlyRole.USER
    admin.save()
    assert client.get("/accounts/people").status_code == 403


def test_a_person_removed_from_the_organization_is_signed_out_at_the_next_request(
    client: Client,
) -> None:
    member = UserFactory(role=Role.SALES)
    client.force_login(member)
    member.is_active = False  # what the mirror does when the membership disappears
    member.save()
    response = client.get("/accounts/people")
    assert response.status_code == 302
    assert "/accounts/sign-in" in response["Location"]


def test_disconnecting_needs_a_confirmation_and_is_recorded(client: Client) -> None:
    organization = OrganizationFactory()
    Connection.objects.create(
        organization=organization,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri="https://api.calendly.com/users/OWNER",
        access_token="pat",
    )
    client.force_login(UserFactory(organization=organization, role=Role.ADMIN))

    client.post("/accounts/disconnect")
    assert Connection.objects.filter(organization=organization).exists()

    client.post("/accounts/disconnect", {"confirm": "disconnect"})
    assert not Connection.objects.filter(organization=organization).exists()
    entry = AuditEntry.objects.get(action=Action.DISCONNECTED)
    assert entry.before is not None
    assert entry.before["kind"] == Connection.Kind.PERSONAL_ACCESS_TOKEN
    assert "pat" not in str(entry.before)


def test_the_start_page_tells_a_member_without_a_role_what_to_do(client: Client) -> None:
    client.force_login(UserFactory(role=Role.VIEWER, portal_role=""))
    assert "You have no portal role yet" in client.get("/").content.decode()


def test_the_start_page_leads_admins_to_their_pages(client: Client) -> None:
    client.force_login(UserFactory(role=Role.ADMIN))
    page = client.get("/").content.decode()
    for url in ("/accounts/connect", "/accounts/people", "/audit/"):
        assert f'href="{url}"' in page


def test_the_menu_links_only_the_sections_a_role_may_use(client: Client) -> None:
    client.force_login(UserFactory(role=Role.SALES))
    page = client.get("/").content.decode()
    assert 'href="/audit/"' not in page
    client.force_login(UserFactory(role=Role.ADMIN))
    assert 'href="/audit/"' in client.get("/").content.decode()
