"""Every view declares the portal roles it allows; undeclared views refuse everyone."""

from __future__ import annotations

import pytest
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from portal.accounts.models import CalendlyRole, Role
from portal.accounts.roles import allow
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@allow(Role.ADMIN, Role.SALES)
def _sales_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("directory")


def _undeclared_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("secret")


@login_not_required
def _public_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("public")


urlpatterns = [
    path("sales", _sales_page),
    path("undeclared", _undeclared_page),
    path("public", _public_page),
    path("", include("portal.urls")),
]

mark_urls = pytest.mark.urls("tests.accounts.test_roles")


@mark_urls
def test_a_declared_role_may_use_the_page(client: Client) -> None:
    client.force_login(UserFactory(role=Role.SALES))
    assert client.get("/sales").content == b"directory"


@mark_urls
@pytest.mark.parametrize("role", [Role.SUPPORT, Role.COMPLIANCE, Role.VIEWER])
def test_other_roles_are_refused(client: Client, role: Role) -> None:
    client.force_login(UserFactory(role=role))
    assert client.get("/sales").status_code == 403


@mark_urls
def test_anonymous_people_are_sent_to_sign_in(client: Client) -> None:
    response = client.get("/sales")
    assert response.status_code == 302
    assert "next=/sales" in response["Location"]


@mark_urls
def test_a_page_without_a_declared_rule_refuses_even_admins(client: Client) -> None:
    client.force_login(UserFactory(role=Role.ADMIN))
    assert client.get("/undeclared").status_code == 403


@mark_urls
def test_public_pages_stay_public(client: Client) -> None:
    assert client.get("/public").content == b"public"


@mark_urls
@pytest.mark.parametrize("calendly_role", [CalendlyRole.OWNER, CalendlyRole.ADMIN])
def test_calendly_owners_and_admins_are_portal_admins(
    client: Client, calendly_role: CalendlyRole
) -> None:
    person = UserFactory(role=Role.VIEWER, calendly_role=calendly_role, portal_role="")
    assert person.roles == {Role.ADMIN}
    client.force_login(person)
    assert client.get("/sales").status_code == 200


def test_a_member_without_a_granted_role_has_no_portal_access() -> None:
    assert UserFactory(role=Role.VIEWER, portal_role="").roles == frozenset()


def test_a_deactivated_person_or_one_without_an_organization_has_no_roles() -> None:
    assert UserFactory(role=Role.ADMIN, is_active=False).roles == frozenset()
    assert UserFactory(role=Role.ADMIN, organization=None).roles == frozenset()


def test_break_glass_admin_sign_in_page_is_reachable(client: Client) -> None:
    assert client.get("/django-admin/login/").status_code == 200


def test_a_superuser_without_an_organization_can_use_the_django_admin(client: Client) -> None:
    client.force_login(
        UserFactory(organization=None, is_staff=True, is_superuser=True, role=Role.VIEWER)
    )
    assert client.get("/django-admin/").status_code == 200
    assert client.get("/django-admin/audit/auditentry/").status_code == 200


def test_portal_admins_are_not_django_admin_staff(client: Client) -> None:
    client.force_login(UserFactory(role=Role.ADMIN))
    response = client.get("/django-admin/")
    assert response.status_code == 302
    assert "/django-admin/login/" in response["Location"]
