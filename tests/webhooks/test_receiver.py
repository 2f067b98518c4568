"""The receiver at /hooks/calendly/<token>: what it refuses (with a 4xx, a log line and nothing
stored), what it accepts under production's redirect, CSRF and sign-in rules, and a delivery
that arrives more than once (stored once, answered 2xx each time, processed once)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings

from portal.calendly.signatures import HEADER, sign_webhook
from portal.webhooks import handlers, processing
from portal.webhooks.models import Delivery, Endpoint, Meeting
from tests.factories import OrganizationFactory
from tests.webhooks.signing import body_of, endpoint_for, envelope, post_signed

pytestmark = pytest.mark.django_db

RECEIVER_LOG = "portal.webhooks.receiver"
APP_KEY = "the-oauth-apps-own-signing-key"
# What production sets (portal/settings.py, PORTAL_ENV=production): TLS ends at a proxy that
# says so in X-Forwarded-Proto, plain HTTP is redirected except on these paths.
PRODUCTION_REDIRECTS = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_REDIRECT_EXEMPT": [r"^healthz$", r"^readyz$", r"^hooks/"],
    "APPEND_SLASH": True,
}


@pytest.fixture
def endpoint() -> Endpoint:
    return endpoint_for(OrganizationFactory())


def invitee_body(number: int = 1, *, created_at: str = "2026-12-01T10:00:00.000000Z") -> bytes:
    """An `invitee.created` delivery whose processing adds one Meeting."""
    api = "https://api.calendly.test"
    return body_of(
        envelope(
            event="invitee.created",
            created_at=created_at,
            payload={
                "uri": f"{api}/scheduled_events/EV{number}/invitees/INV{number}",
                "email": f"invitee{number}@example.org",
                "name": f"Invitee {number}",
                "status": "active",
                "created_at": created_at,
                "scheduled_event": {
                    "uri": f"{api}/scheduled_events/EV{number}",
                    "name": "Intro call",
                    "status": "active",
                    "start_time": "2026-12-10T15:00:00.000000Z",
                    "end_time": "2026-12-10T15:30:00.000000Z",
                    "event_type": f"{api}/event_types/ET1",
                    "event_memberships": [{"user": f"{api}/users/HOST"}],
                },
            },
        )
    )


def refused(
    answer: HttpResponse, status: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer is `status`, the receiver logged why in one line, and nothing was stored."""
    assert answer.status_code == status, answer.content
    assert reason in json.loads(answer.content)["error"]
    lines = [r.getMessage() for r in caplog.records if r.name == RECEIVER_LOG]
    assert len(lines) == 1, lines
    assert f"({status})" in lines[0]
    assert reason in lines[0]
    assert Delivery.objects.count() == 0


@pytest.fixture(autouse=True)
def _capture_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)


# -- what is refused ----------------------------------------------------------------------


def test_a_forged_signature_is_refused(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    forged = f"t={int(time.time())},v1={'ab' * 32}"
    answer = post_signed(Client(), endpoint, body_of(envelope()), header=forged)
    refused(answer, 403, "does not match the body", caplog)


def test_a_signature_made_with_another_key_is_refused(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    answer = post_signed(Client(), endpoint, body_of(envelope()), key="somebody-elses-key")
    refused(answer, 403, "does not match the body", caplog)


@pytest.mark.parametrize(
    "offset", [-181, -3600, 181, 86_400], ids=["stale", "old", "ahead", "day-ahead"]
)
def test_a_timestamp_outside_the_default_window_is_refused(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, offset: int
) -> None:
    answer = post_signed(Client(), endpoint, body_of(envelope()), at=int(time.time()) + offset)
    refused(answer, 403, "outside the allowed window", caplog)


@pytest.mark.parametrize("offset", [-170, 170])
def test_a_timestamp_inside_the_default_window_is_accepted(endpoint: Endpoint, offset: int) -> None:
    answer = post_signed(Client(), endpoint, body_of(envelope()), at=int(time.time()) + offset)
    assert answer.status_code == 202


@override_settings(WEBHOOK_TOLERANCE_SECONDS=30)
@pytest.mark.parametrize("offset", [-45, 45])
def test_the_window_follows_the_setting(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, offset: int
) -> None:
    """45 s off is inside the default three minutes and outside a 30-second window."""
    moment = int(time.time()) + offset
    answer = post_signed(Client(), endpoint, body_of(envelope()), at=moment)
    refused(answer, 403, "outside the allowed window", caplog)
    within = post_signed(Client(), endpoint, body_of(envelope()), at=int(time.time()) - 15)
    assert within.status_code == 202


def test_a_delivery_without_the_signature_header_is_refused(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    answer = Client().post(
        f"/hooks/calendly/{endpoint.token}",
        data=body_of(envelope()),
        content_type="application/json",
    )
    refused(answer, 400, "the signature header is missing", caplog)


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    ("make_header", "reason"),
    [
        (lambda sig: "", "missing"),
        (lambda sig: "garbage", "malformed"),
        (lambda sig: f"t={_now()}", "lacks t= or v1="),
        (lambda sig: f"v1={sig}", "lacks t= or v1="),
        (lambda sig: f"t=,v1={sig}", "malformed"),
        (lambda sig: f"t={_now()},v1=", "malformed"),
        (lambda sig: f"t={_now()},,v1={sig}", "malformed"),
        (lambda sig: f"t={_now()};v1={sig}", "lacks t= or v1="),
        (lambda sig: f"t=soon,v1={sig}", "not a number"),
        (lambda sig: f"t=-{_now()},v1={sig}", "not a number"),
        (lambda sig: f"t={'9' * 40},v1={sig}", "not a number"),
        (lambda sig: "t=١٧٩٠٠٠٠٠٠٠,v1=" + sig, "not a number"),  # Arabic-Indic digits
    ],
    ids=[
        "empty",
        "garbage",
        "no-v1",
        "no-t",
        "empty-t",
        "empty-v1",
        "empty-part",
        "semicolon",
        "word",
        "negative",
        "huge",
        "unicode-digits",
    ],
)
def test_a_malformed_signature_header_is_refused(
    endpoint: Endpoint,
    caplog: pytest.LogCaptureFixture,
    make_header: Callable[[str], str],
    reason: str,
) -> None:
    body = body_of(envelope())
    good = sign_webhook(body, endpoint.signing_key, _now()).split("v1=")[1]
    answer = post_signed(Client(), endpoint, body, header=make_header(good))
    refused(answer, 400, reason, caplog)


def test_a_body_changed_after_signing_is_refused(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    body = body_of(envelope())
    header = sign_webhook(body, endpoint.signing_key, _now())
    tampered = body.replace(b"invitee.created", b"invitee.canceled")
    answer = post_signed(Client(), endpoint, tampered, header=header)
    refused(answer, 403, "does not match the body", caplog)
    # One byte at the very end (a space JSON ignores) is a different body too.
    again = post_signed(Client(), endpoint, body + b" ", header=header)
    assert again.status_code == 403
    assert Delivery.objects.count() == 0


@override_settings(WEBHOOK_MAX_BODY_BYTES=2000)
def test_a_body_over_the_limit_is_refused(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    body = body_of(envelope(payload={"uri": "https://api.calendly.test/x/1", "pad": "x" * 2000}))
    answer = post_signed(Client(), endpoint, body)
    refused(answer, 413, "larger than 2000 bytes", caplog)


@override_settings(WEBHOOK_MAX_BODY_BYTES=2000)
@pytest.mark.parametrize(
    ("declared", "status", "reason"),
    [
        ("2001", 413, "larger than 2000 bytes"),  # says too big: not read at all
        ("9" * 5000, 413, "larger than 2000 bytes"),  # beyond what int() parses
        ("100", 403, "does not match the body"),  # says small: only that much is read
        ("-1", 400, "not a number"),
        ("1e3", 400, "not a number"),
    ],
)
def test_a_content_length_that_lies_stores_nothing(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, declared: str, status: int, reason: str
) -> None:
    body = body_of(envelope(payload={"uri": "https://api.calendly.test/x/1", "pad": "x" * 3000}))
    header = sign_webhook(body, endpoint.signing_key, _now())
    answer = Client().post(
        f"/hooks/calendly/{endpoint.token}",
        data=body,
        content_type="application/json",
        headers={HEADER: header},
        CONTENT_LENGTH=declared,
    )
    refused(answer, status, reason, caplog)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_a_body_not_sent_as_json_is_refused(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, content_type: str
) -> None:
    answer = post_signed(Client(), endpoint, body_of(envelope()), content_type=content_type)
    refused(answer, 415, "must be sent as application/json", caplog)


def test_json_with_a_charset_is_json(endpoint: Endpoint) -> None:
    answer = post_signed(
        Client(), endpoint, body_of(envelope()), content_type="Application/JSON; charset=utf-8"
    )
    assert answer.status_code == 202


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"event=invitee.created", "not JSON"),
        (b" ", "not JSON"),
        (b"\xff\xfe{", "not JSON"),
        (b"[" * 100_000, "not JSON"),  # nested past the parser's recursion limit
        (b'["invitee.created"]', "not a JSON object"),
        (b'"invitee.created"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"payload": {"uri": "x"}}', "names no event"),
        (b'{"event": ""}', "names no event"),
        (b'{"event": 7}', "names no event"),
        (b'{"event": ["invitee.created"]}', "names no event"),
    ],
    ids=lambda value: value[:24] if isinstance(value, bytes) else value,
)
def test_a_signed_body_that_is_not_an_event_is_refused(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, body: bytes, reason: str
) -> None:
    answer = post_signed(Client(), endpoint, body)
    refused(answer, 400, reason, caplog)


@override_settings(CALENDLY_WEBHOOK_SIGNING_KEY=APP_KEY)
@pytest.mark.parametrize("token", ["no-such-receiver", "a\x00b", "ключ", "x" * 500])
def test_an_unknown_address_is_not_found(caplog: pytest.LogCaptureFixture, token: str) -> None:
    """Even with the app-wide key configured and a body signed with it."""
    body = body_of(envelope())
    answer = Client().post(
        f"/hooks/calendly/{token}",
        data=body,
        content_type="application/json",
        headers={HEADER: sign_webhook(body, APP_KEY, _now())},
    )
    refused(answer, 404, "no receiver has this address", caplog)


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    answer = getattr(Client(), method)(f"/hooks/calendly/{endpoint.token}")
    assert answer.status_code == 405
    assert any("Method Not Allowed" in r.getMessage() for r in caplog.records)
    assert Delivery.objects.count() == 0


def test_the_shared_address_refuses_everything_without_the_app_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = body_of(envelope())
    answer = Client().post(
        "/hooks/calendly",
        data=body,
        content_type="application/json",
        headers={HEADER: sign_webhook(body, APP_KEY, _now())},
    )
    refused(answer, 403, "no signing key is configured", caplog)


# -- what is accepted ---------------------------------------------------------------------


@override_settings(CALENDLY_WEBHOOK_SIGNING_KEY=APP_KEY)
def test_the_app_key_is_accepted_at_the_shared_address_and_at_a_token_address(
    endpoint: Endpoint,
) -> None:
    shared = body_of(envelope(payload={"uri": "https://api.calendly.test/x/shared"}))
    answer = Client().post(
        "/hooks/calendly",
        data=shared,
        content_type="application/json",
        headers={HEADER: sign_webhook(shared, APP_KEY, _now())},
    )
    assert answer.status_code == 202
    own = body_of(envelope(payload={"uri": "https://api.calendly.test/x/own"}))
    assert post_signed(Client(), endpoint, own, key=APP_KEY).status_code == 202
    # The address's own key still works beside the app's.
    third = body_of(envelope(payload={"uri": "https://api.calendly.test/x/third"}))
    assert post_signed(Client(), endpoint, third).status_code == 202

    rows = {row.payload_uri: row for row in Delivery.objects.all()}
    assert rows["https://api.calendly.test/x/shared"].endpoint is None
    assert rows["https://api.calendly.test/x/shared"].organization is None
    assert rows["https://api.calendly.test/x/own"].endpoint == endpoint
    assert rows["https://api.calendly.test/x/third"].organization == endpoint.organization


@pytest.mark.parametrize("proto", ["https", None], ids=["behind-the-proxy", "plain-http"])
def test_production_redirect_rules_never_redirect_a_delivery(
    endpoint: Endpoint, proto: str | None
) -> None:
    """Calendly counts a redirect as a failure. HTTPS through the proxy is served; plain HTTP
    (a proxy that forgot the header) is exempt on /hooks/ rather than redirected."""
    headers = {"X-Forwarded-Proto": proto} if proto else {}
    with override_settings(**PRODUCTION_REDIRECTS):
        client = Client()
        for number, path in enumerate([f"/hooks/calendly/{endpoint.token}", "/hooks/calendly"]):
            body = body_of(envelope(payload={"uri": f"https://api.calendly.test/x/{number}"}))
            key = endpoint.signing_key if "/calendly/" in path else APP_KEY
            with override_settings(CALENDLY_WEBHOOK_SIGNING_KEY=APP_KEY):
                answer = client.post(
                    path,
                    data=body,
                    content_type="application/json",
                    headers={HEADER: sign_webhook(body, key, _now()), **headers},
                )
            assert answer.status_code == 202, (path, answer.status_code, answer.get("Location"))
        # The rules are in force: a page on plain HTTP is redirected.
        if proto is None:
            assert client.get("/members/").status_code == 301
    assert Delivery.objects.count() == 2


def test_csrf_checks_and_no_session_do_not_stop_a_delivery(endpoint: Endpoint) -> None:
    client = Client(enforce_csrf_checks=True)
    answer = post_signed(client, endpoint, body_of(envelope()))
    assert answer.status_code == 202
    assert "_auth_user_id" not in client.session
    assert Delivery.objects.get().endpoint == endpoint


# -- the same delivery more than once -----------------------------------------------------


def test_a_replayed_delivery_is_stored_and_processed_once(endpoint: Endpoint) -> None:
    body = invitee_body()
    client = Client()
    first = post_signed(client, endpoint, body)
    assert first.status_code == 202
    assert processing.process(Delivery.objects.get().pk) is True

    signed_at = _now()
    same_bytes = post_signed(client, endpoint, body, at=signed_at)
    # Calendly's retry is signed afresh: a new timestamp, so a new signature.
    resigned = post_signed(client, endpoint, body, at=signed_at + 5)
    reformatted = json.dumps(json.loads(body), indent=2, sort_keys=True).encode()
    assert reformatted != body
    spaced = post_signed(client, endpoint, reformatted)

    assert [a.status_code for a in (same_bytes, resigned, spaced)] == [200, 200, 200]
    row = Delivery.objects.get()
    assert (row.repeats, bytes(row.body)) == (3, body)
    assert processing.sweep(older_than=0) == 0
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("processed", 1)
    meeting = Meeting.objects.get()
    assert (meeting.sequence, meeting.invitee_email) == (0, "invitee1@example.org")


def test_a_different_created_at_is_a_different_delivery(endpoint: Endpoint) -> None:
    """Calendly sends the same invitee again when something about it changes; each is its own
    message, told apart by `created_at`."""
    first = post_signed(Client(), endpoint, invitee_body(created_at="2026-12-01T10:00:00.000000Z"))
    later = post_signed(Client(), endpoint, invitee_body(created_at="2026-12-01T10:05:00.000000Z"))
    assert (first.status_code, later.status_code) == (202, 202)
    assert Delivery.objects.count() == 2


def test_text_postgresql_cannot_hold_is_stored_with_the_body_intact(endpoint: Endpoint) -> None:
    body = body_of(envelope(event="invitee.created\u0000", payload={"uri": "https://x/\u0000"}))
    answer = Client().post(
        f"/hooks/calendly/{endpoint.token}",
        data=body,
        content_type="application/json",
        headers={
            HEADER: sign_webhook(body, endpoint.signing_key, _now()) + ",x=\x00",
            "User-Agent": "Calendly\x00",
        },
    )
    assert answer.status_code == 202
    row = Delivery.objects.get()
    assert (row.event, row.payload_uri, bytes(row.body)) == ("invitee.created", "https://x/", body)
    assert row.headers["User-Agent"] == "Calendly"


# -- threads on PostgreSQL ----------------------------------------------------------------


def _in_threads(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in its own thread (its own database connection); their results."""
    results: list[Any] = [None] * len(work)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            results[index] = job()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return results


@pytest.mark.django_db(transaction=True)
def test_two_processes_at_once_process_once(
    monkeypatch: pytest.MonkeyPatch, endpoint: Endpoint
) -> None:
    """The second `process()` arrives while the first is inside the handler, holding the row:
    it skips the row at once instead of waiting, and the handler runs once."""
    assert post_signed(Client(), endpoint, invitee_body()).status_code == 202
    delivery = Delivery.objects.get()
    inside, release = threading.Event(), threading.Event()
    calls: list[int] = []
    real = handlers.HANDLERS["invitee.created"]

    def held(row: Delivery, body: dict[str, Any]) -> str:
        calls.append(row.pk)
        inside.set()
        assert release.wait(10), "the second process() never finished"
        return real(row, body)

    monkeypatch.setitem(handlers.HANDLERS, "invitee.created", held)

    def second() -> bool:
        assert inside.wait(10), "the first process() never reached the handler"
        try:
            return processing.process(delivery.pk)
        finally:
            release.set()

    first_result, second_result = _in_threads(lambda: processing.process(delivery.pk), second)
    assert (first_result, second_result, calls) == (True, False, [delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("processed", 1)
    assert Meeting.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_delivery_arriving_twice_at_once_is_stored_once(endpoint: Endpoint) -> None:
    body = invitee_body()
    barrier = threading.Barrier(4)

    def post() -> int:
        barrier.wait(10)
        return post_signed(Client(), endpoint, body).status_code

    statuses = sorted(_in_threads(post, post, post, post))
    assert statuses == [200, 200, 200, 202]
    row = Delivery.objects.get()
    assert row.repeats == 3


@pytest.mark.django_db(transaction=True)
def test_an_address_deleted_after_a_delivery_is_not_found(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """The receiver remembers an address for a minute after reading it; one deleted meanwhile
    is still answered 404, and the delivery is not kept."""
    first = body_of(envelope(payload={"uri": "https://api.calendly.test/x/1"}))
    assert post_signed(Client(), endpoint, first).status_code == 202
    Endpoint.objects.filter(pk=endpoint.pk).delete()
    caplog.clear()

    later = body_of(envelope(payload={"uri": "https://api.calendly.test/x/2"}))
    answer = post_signed(Client(), endpoint, later)

    assert answer.status_code == 404
    assert [row.payload_uri for row in Delivery.objects.all()] == ["https://api.calendly.test/x/1"]
    assert any("(404): no receiver has this address" in r.getMessage() for r in caplog.records)
    # Forgotten, so the next delivery is refused without the round trip to the insert.
    assert post_signed(Client(), endpoint, later).status_code == 404
