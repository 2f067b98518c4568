"""The break-glass Django admin: password sign-in is limited by django-axes (5 failures per
username and address lock it for 15 minutes), and every attempt is in the audit log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings
from django.urls import resolve
from django.utils import timezone

from portal.accounts.models import User
from portal.audit import Action
from portal.audit.models import AuditEntry

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

SIGN_IN = "/django-admin/login/"
PASSWORD = "correct-horse-battery-staple"
WRONG = "Tr0ub4dor&3-not-it"
HOME = "203.0.113.10"
ELSEWHERE = "198.51.100.20"


@pytest.fixture(autouse=True)
def fast_password_hashing() -> Iterator[None]:
    # Each attempt checks a password; the production hasher would make this file take a minute.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


def sign_in(client: Client, username: str, password: str, address: str = HOME) -> Response:
    return client.post(
        SIGN_IN,
        {"username": username, "password": password, "next": "/django-admin/"},
        REMOTE_ADDR=address,
        headers={"User-Agent": "Firefox/140"},
    )


def rows(action: Action) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def everything_in_the_audit_log() -> str:
    return json.dumps(list(AuditEntry.objects.values()), default=str)


def signed_in(client: Client) -> bool:
    return client.get("/django-admin/").status_code == 200


def test_the_sign_in_page_is_the_admin_s_own_so_the_role_check_leaves_it_alone() -> None:
    match = resolve(SIGN_IN)
    assert match.namespaces == ["admin"]
    assert match.url_name == "login"


def test_a_superuser_with_the_right_password_is_signed_in_and_audited(
    client: Client, superuser: User
) -> None:
    response = sign_in(client, "root", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/django-admin/"
    assert signed_in(client)
    [entry] = AuditEntry.objects.all()
    assert entry.action == Action.ADMIN_SIGN_IN
    assert entry.actor == superuser
    assert entry.organization is None
    assert entry.ip == HOME
    assert entry.user_agent == "Firefox/140"
    assert entry.request_id
    assert PASSWORD not in everything_in_the_audit_log()


def test_five_wrong_passwords_are_five_audited_failures_and_the_fifth_locks(
    client: Client, superuser: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [sign_in(client, "root", f"{WRONG}-{n}") for n in range(5)]

    for answer in answers[:4]:
        assert answer.status_code == 200
        assert "Please enter the correct username and password" in answer.content.decode()
    assert answers[4].status_code == 429
    assert "Sign-in locked" in answers[4].content.decode()
    failures = rows(Action.ADMIN_SIGN_IN_FAILED)
    assert len(failures) == 5
    assert AuditEntry.objects.count() == 5
    for number, entry in enumerate(failures, start=1):
        assert entry.organization is None
        assert entry.actor is None
        assert entry.actor_label == "username 'root'"
        assert entry.ip == HOME
        assert entry.after == {"failures": number, "locked": number == 5}
    log = everything_in_the_audit_log()
    stored = json.dumps(list(AccessAttempt.objects.values()), default=str)
    for n in range(5):
        assert f"{WRONG}-{n}" not in log
        assert f"{WRONG}-{n}" not in stored
        assert f"{WRONG}-{n}" not in caplog.text
    assert not signed_in(client)


def test_the_sixth_attempt_is_refused_even_with_the_right_password(
    client: Client, superuser: User
) -> None:
    for n in range(5):
        sign_in(client, "root", f"{WRONG}-{n}")

    response = sign_in(client, "root", PASSWORD)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in locked" in page
    assert "locked for 15" in page
    assert "minutes" in page
    [locked] = rows(Action.ADMIN_LOCKED_OUT)
    assert locked.actor is None
    assert locked.organization is None
    assert locked.actor_label == "username 'root'"
    assert locked.ip == HOME
    assert len(rows(Action.ADMIN_SIGN_IN_FAILED)) == 5
    assert rows(Action.ADMIN_SIGN_IN) == []
    assert PASSWORD not in everything_in_the_audit_log()
    assert not signed_in(client)


def test_every_attempt_while_locked_is_audited_once_and_does_not_extend_the_lock(
    client: Client, superuser: User
) -> None:
    for n in range(5):
        sign_in(client, "root", f"{WRONG}-{n}")
    counted = AccessAttempt.objects.get()

    for _ in range(3):
        assert sign_in(client, "root", PASSWORD).status_code == 429

    assert len(rows(Action.ADMIN_LOCKED_OUT)) == 3
    assert AuditEntry.objects.count() == 8
    again = AccessAttempt.objects.get()
    assert again.failures_since_start == counted.failures_since_start == 5
    assert again.attempt_time == counted.attempt_time


def test_after_the_cool_off_the_right_password_signs_in_again(
    client: Client, superuser: User
) -> None:
    for n in range(5):
        sign_in(client, "root", f"{WRONG}-{n}")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert sign_in(client, "root", PASSWORD).status_code == 302
    assert len(rows(Action.ADMIN_SIGN_IN)) == 1


def test_a_success_starts_the_count_again(client: Client, superuser: User) -> None:
    for n in range(4):
        sign_in(client, "root", f"{WRONG}-{n}")
    assert sign_in(client, "root", PASSWORD).status_code == 302
    client.logout()

    for n in range(4):
        assert sign_in(client, "root", f"{WRONG}-{n}").status_code == 200
    assert rows(Action.ADMIN_LOCKED_OUT) == []


def test_the_lock_holds_for_that_username_at_that_address_only(
    client: Client, superuser: User
) -> None:
    User.objects.create_superuser("backup", "backup@example.com", PASSWORD)
    for n in range(5):
        sign_in(client, "root", f"{WRONG}-{n}")
    assert sign_in(client, "root", PASSWORD).status_code == 429

    elsewhere = Client()
    assert sign_in(elsewhere, "root", PASSWORD, address=ELSEWHERE).status_code == 302
    other_name = Client()
    assert sign_in(other_name, "backup", PASSWORD).status_code == 302
    assert [entry.ip for entry in rows(Action.ADMIN_SIGN_IN)] == [ELSEWHERE, HOME]


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_lock_and_the_audit_log_name_the_forwarded_address(
    client: Client, superuser: User
) -> None:
    proxy = "10.0.0.2"

    def through_proxy(who: Client, client_address: str, password: str) -> Response:
        return who.post(
            SIGN_IN,
            {"username": "root", "password": password},
            REMOTE_ADDR=proxy,
            headers={"X-Forwarded-For": f"6.6.6.6, {client_address}"},
        )

    for n in range(5):
        through_proxy(client, HOME, f"{WRONG}-{n}")
    assert through_proxy(client, HOME, PASSWORD).status_code == 429
    assert through_proxy(Client(), ELSEWHERE, PASSWORD).status_code == 302

    assert {entry.ip for entry in rows(Action.ADMIN_SIGN_IN_FAILED)} == {HOME}
    assert [entry.ip for entry in rows(Action.ADMIN_LOCKED_OUT)] == [HOME]
    assert [entry.ip for entry in rows(Action.ADMIN_SIGN_IN)] == [ELSEWHERE]


def test_a_username_with_a_nul_byte_is_refused_plainly_and_audited(
    client: Client, superuser: User
) -> None:
    response = sign_in(client, "ro\x00ot", PASSWORD)

    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()
    [entry] = rows(Action.ADMIN_SIGN_IN_FAILED)
    assert entry.actor_label == "username 'root'"
    assert not signed_in(client)


def test_a_ten_thousand_character_username_is_refused_plainly_and_audited(
    client: Client, superuser: User
) -> None:
    response = sign_in(client, "r" * 10_000, PASSWORD)

    assert response.status_code == 200
    assert "Ensure this value has at most 150 characters" in response.content.decode()
    [entry] = rows(Action.ADMIN_SIGN_IN_FAILED)
    assert entry.actor_label.startswith("username 'rrrr")
    assert len(entry.actor_label) <= 255
    assert not signed_in(client)
