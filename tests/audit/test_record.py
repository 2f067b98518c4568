"""record() is the one writer: one row per change, with who, what, where from, and no secrets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from portal.accounts.models import Role
from portal.audit import Action, record
from portal.audit.middleware import RequestIdMiddleware
from portal.audit.models import AuditEntry
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def through_middleware(request: HttpRequest) -> HttpRequest:
    RequestIdMiddleware(lambda r: HttpResponse())(request)
    return request


def test_record_writes_one_row_with_every_field(rf: RequestFactory) -> None:
    admin = UserFactory(
        role=Role.ADMIN, first_name="Ada", last_name="Lovelace", email="ada@acme.com"
    )
    person = UserFactory(
        organization=admin.organization, first_name="Grace", last_name="Hopper", email="g@acme.com"
    )
    request = rf.post(
        "/people/1/role",
        REMOTE_ADDR="203.0.113.7",
        headers={"User-Agent": "Firefox/140", "X-Request-ID": "req-0123456789abcdef"},
    )
    request.user = admin
    through_middleware(request)

    entry = record(
        action=Action.ROLE_GRANTED,
        organization=admin.organization,
        target=person,
        before={"role": ""},
        after={"role": "sales"},
        request=request,
    )

    assert AuditEntry.objects.count() == 1
    entry.refresh_from_db()
    assert entry.organization == admin.organization
    assert entry.actor == admin
    assert entry.actor_label == "Ada Lovelace (ada@acme.com)"
    assert entry.action == "accounts.role_granted"
    assert entry.target_type == "accounts.user"
    assert entry.target_id == str(person.pk)
    assert entry.target_label == "Grace Hopper (g@acme.com)"
    assert entry.before == {"role": ""}
    assert entry.after == {"role": "sales"}
    assert entry.ip == "203.0.113.7"
    assert entry.user_agent == "Firefox/140"
    assert entry.request_id == "req-0123456789abcdef"
    assert entry.created_at is not None


def test_a_request_through_the_client_gives_the_row_its_request_id(client: Client) -> None:
    # The id a person can quote from the response header finds the row it produced.
    admin = UserFactory(role=Role.ADMIN)
    client.force_login(admin)
    response = client.get("/audit/export.csv", headers={"User-Agent": "curl/8"})
    entry = AuditEntry.objects.get(action=Action.EXPORTED)
    assert entry.request_id == response["X-Request-ID"]
    assert entry.user_agent == "curl/8"
    assert entry.ip == "127.0.0.1"
    assert entry.actor == admin


def test_explicit_target_fields_are_kept_when_there_is_no_model_instance() -> None:
    entry = record(
        action="directory.member_removed",
        organization=OrganizationFactory(),
        target_type="calendly.membership",
        target_id="https://api.calendly.com/organization_memberships/M1",
        target_label="Ada Lovelace (ada@acme.com)",
    )
    assert entry.target_type == "calendly.membership"
    assert entry.target_id.endswith("/M1")
    assert entry.target_label == "Ada Lovelace (ada@acme.com)"
    assert entry.actor is None
    assert entry.actor_label == ""
    assert entry.ip is None
    assert entry.request_id == ""


def test_secrets_never_reach_the_log_at_any_depth() -> None:
    entry = record(
        action=Action.CONNECTED,
        organization=OrganizationFactory(),
        before={"access_token": "at-1", "scope": "default"},
        after={
            "Refresh_Token": "rt-1",
            "client_secret": "cs",
            "password": "pw",
            "api_key": "k",
            "connection": {"id_token": "it", "owner": "ada", "headers": {"Authorization": "B"}},
            "history": [{"token": "t", "at": "09:00"}],
        },
    )
    entry.refresh_from_db()
    assert entry.before == {"scope": "default"}
    assert entry.after == {
        "connection": {"owner": "ada", "headers": {}},
        "history": [{"at": "09:00"}],
    }


def test_values_are_made_json_safe() -> None:
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    entry = record(
        action=Action.ROLE_GRANTED,
        organization=None,
        after={"when": when, "id": key, "price": Decimal("9.50"), "roles": {"sales", "admin"}},
    )
    entry.refresh_from_db()
    assert entry.after == {
        "when": "2026-03-01T09:30:00Z",
        "id": str(key),
        "price": "9.50",
        "roles": ["admin", "sales"],
    }


def test_an_anonymous_request_records_no_actor(rf: RequestFactory) -> None:
    request = through_middleware(rf.get("/", REMOTE_ADDR="198.51.100.2"))
    request.user = AnonymousUser()
    entry = record(action=Action.SIGN_IN, organization=None, request=request)
    assert entry.actor is None
    assert entry.ip == "198.51.100.2"
    assert len(entry.request_id) == 32


def test_a_very_long_user_agent_is_cut_to_a_sane_length(rf: RequestFactory) -> None:
    request = rf.get("/", headers={"User-Agent": "x" * 5000})
    entry = record(action=Action.SIGN_IN, organization=None, request=request)
    assert len(entry.user_agent) == 512


@pytest.mark.parametrize("action", ["", "sign_in", "Accounts.SignIn", "accounts.sign in", "a..b"])
def test_a_malformed_action_name_is_refused(action: str) -> None:
    with pytest.raises(ValueError, match="dotted"):
        record(action=action, organization=None)
    assert not AuditEntry.objects.exists()
