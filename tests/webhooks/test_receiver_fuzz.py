"""Generated headers and bodies thrown at the signature check and at the receiver.

The check (a pure function) gets 10,000 examples, the receiver 2,000 through the test client
and every middleware. Neither may raise anything but a refusal, the receiver never answers
5xx, and only a body signed with a key the portal holds, over those exact bytes, within the
time window, is ever stored. The examples are counted, so the numbers above are shown, not
assumed. What is generated: any text as a header; near misses of `t=…,v1=…` (parts mutated,
repeated, empty, huge or non-ASCII numbers); any bytes as a body; JSON of any shape; genuine
signatures, and genuine signatures with one byte of the body or one character of the header
changed afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.calendly.signatures import (
    HEADER,
    InvalidSignature,
    sign_webhook,
    verify_webhook_signature,
    verify_with_any,
)
from portal.webhooks.models import Delivery
from tests.factories import OrganizationFactory
from tests.webhooks.signing import endpoint_for

KEY = "the-receivers-own-key"
APP_KEY = "the-oauth-apps-key"
WRONG_KEY = "a-key-the-portal-never-gave-out"
TOLERANCE = 180
NOW = 1_790_000_000
VERIFIER_EXAMPLES = 10_000
VIEW_EXAMPLES = 2_000
FUZZ = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    deadline=None,
)

# -- what is generated --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
envelopes = st.fixed_dictionaries(
    {"event": st.sampled_from(["invitee.created", "invitee.canceled"]) | st.text(max_size=20)},
    optional={
        "payload": st.fixed_dictionaries(
            {"uri": st.text(max_size=40)}, optional={"x": json_values}
        ),
        "created_at": st.text(max_size=30),
        "created_by": json_values,
    },
)


@st.composite
def json_bodies(draw: st.DrawFn, data: st.SearchStrategy[Any]) -> bytes:
    text = json.dumps(draw(data), ensure_ascii=draw(st.booleans()), indent=draw(WHITESPACE))
    # A lone surrogate in the text makes bytes that are not UTF-8; the receiver must say so.
    return text.encode("utf-8", "surrogatepass")


WHITESPACE = st.sampled_from([None, 2])
# The check reads bytes, whatever they hold; the receiver reads them as JSON too, so its bodies
# are mostly envelopes (which get as far as being stored) and JSON of other shapes.
check_bodies = st.binary(max_size=200)
receiver_bodies = st.one_of(
    json_bodies(envelopes), json_bodies(envelopes), json_bodies(json_values), st.binary(max_size=80)
)
# ASCII digits, huge and negative numbers, and Arabic-Indic, Devanagari and full-width digits
# (str.isdigit() says yes to each).
numbers = st.text(alphabet="0123456789", min_size=1, max_size=14) | st.sampled_from(
    [
        "",
        " ",
        "-1",
        "1e9",
        "0x10",
        "+1790000000",
        "1790000000.5",
        "9" * 40,
        "١٧٩٠٠٠٠٠٠٠",
        "१७९००००००",
        "１７９００００００",  # noqa: RUF001 (full-width digits on purpose)
    ]
)
hex_strings = st.text(alphabet="0123456789abcdefABCDEF ", max_size=70)
PART_NAMES = st.sampled_from(["t", "v1", "v0", "T", "V1", " t", "v1 ", "", "x"])
EQUALS = st.sampled_from(["=", "=", "==", "", ":"])
SEPARATORS = st.sampled_from([",", ", ", ",,", ";", " ", ",\t"])


@st.composite
def near_miss_headers(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(PART_NAMES)
        value = draw(numbers if name.strip().lower() == "t" else hex_strings)
        parts.append(f"{name}{draw(EQUALS)}{value}")
    return draw(SEPARATORS).join(parts)


@dataclass(frozen=True)
class Case:
    header: str | None
    body: bytes
    # True only for a header made with KEY or APP_KEY over these exact bytes, inside the window,
    # and left alone; the check must accept exactly these (and nothing else, barring a forged
    # HMAC).
    authentic: bool
    kind: str
    # The key the header was made with, if it was made with one.
    key: str | None = None


def _replace_char(text: str, position: int, replacement: str) -> str:
    if text[position] == replacement:
        replacement = "0" if replacement != "0" else "1"
    return text[:position] + replacement + text[position + 1 :]


# Five seconds from either edge of the window: the receiver reads its own clock.
INSIDE = st.integers(-TOLERANCE + 5, TOLERANCE - 5)
OUTSIDE = st.integers(TOLERANCE + 5, 10**9) | st.integers(-(10**9), -TOLERANCE - 5)
HEADER_KINDS = ["signed", "signed", "near miss", "any text", "latin-1", "none", "signed"]
CHANGES = ["none", "body byte", "signature char", "none", "timestamp", "dup before", "dup after"]


@st.composite
def cases(draw: st.DrawFn, now: float, bodies: st.SearchStrategy[bytes]) -> Case:
    body = draw(bodies)
    kind = draw(st.sampled_from(HEADER_KINDS))
    if kind == "any text":
        return Case(draw(st.text(max_size=100)), body, False, kind)
    if kind == "latin-1":
        return Case(
            draw(st.text(st.characters(max_codepoint=0xFF), max_size=100)), body, False, kind
        )
    if kind == "near miss":
        return Case(draw(near_miss_headers()), body, False, kind)
    if kind == "none":
        return Case(None, body, False, kind)
    key = draw(st.sampled_from([KEY, APP_KEY, APP_KEY, KEY, WRONG_KEY]))
    inside = draw(st.sampled_from([True, True, False]))
    offset = draw(INSIDE if inside else OUTSIDE)
    header = sign_webhook(body, key, int(now) + offset)
    authentic = key != WRONG_KEY and inside
    change = draw(st.sampled_from(CHANGES))
    if change == "body byte":
        if not body:
            return Case(header, b"x", False, "signed, body changed", key)
        position = draw(st.integers(0, len(body) - 1))
        flipped = body[position] ^ draw(st.integers(1, 255))
        body = body[:position] + bytes([flipped]) + body[position + 1 :]
        return Case(header, body, False, "signed, body changed", key)
    if change == "signature char":
        position = header.index("v1=") + 3 + draw(st.integers(0, 63))
        header = _replace_char(header, position, draw(st.sampled_from("0123456789abcdefA ")))
        return Case(header, body, False, "signed, signature changed", key)
    if change == "timestamp":
        stamp, signature = header.split(",", 1)
        header = f"t={draw(numbers)},{signature}"
        unchanged = header.startswith(stamp + ",")
        return Case(header, body, authentic and unchanged, "signed, t changed", key)
    if change == "dup before":
        # The first t= and v1= count: a genuine signature after a bogus one is not looked at.
        junk = f"t={draw(numbers)},v1={draw(hex_strings)}"
        return Case(f"{junk},{header}", body, False, "signed, bogus first", key)
    if change == "dup after":
        junk = draw(near_miss_headers())
        well_formed = all(part.strip().partition("=")[2] for part in junk.split(","))
        authentic = authentic and well_formed
        return Case(f"{header},{junk}", body, authentic, "signed, bogus after", key)
    spaced = draw(st.sampled_from(["", " "]))
    header = header.replace(",", f"{spaced},{spaced}")
    return Case(header, body, authentic, "signed" if authentic else "signed, refused", key)


def genuinely_signed(header: str, body: bytes, keys: list[str], now: float) -> bool:
    """Whether some `t=` and `v1=` in the header are a fresh HMAC of exactly `body` under one of
    `keys`: worked out apart from the verifier, from any of the parts rather than the first."""
    stamps = [p.strip()[2:] for p in header.split(",") if p.strip().startswith("t=")]
    signatures = {p.strip()[3:] for p in header.split(",") if p.strip().startswith("v1=")}
    for stamp in stamps:
        if not (stamp.isascii() and stamp.isdigit()) or abs(now - int(stamp)) > TOLERANCE:
            continue
        for key in keys:
            digest = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256)
            if digest.hexdigest() in signatures:
                return True
    return False


# -- the check ----------------------------------------------------------------------------


def passes(check: Callable[..., None], case: Case, **keys: Any) -> bool:
    """Whether `check` accepts the case; anything it raises but a refusal fails the test."""
    try:
        check(header=case.header, body=case.body, tolerance=TOLERANCE, now=NOW, **keys)
    except InvalidSignature:
        return False
    return True


def test_the_check_refuses_all_but_genuine_signatures_over_10000_examples() -> None:
    seen: Counter[str] = Counter()

    @settings(FUZZ, max_examples=VERIFIER_EXAMPLES)
    @given(cases(NOW, check_bodies))
    def check(case: Case) -> None:
        seen["examples"] += 1
        seen[case.kind] += 1
        keys = [KEY, APP_KEY]
        accepted = passes(verify_with_any, case, signing_keys=keys)
        seen["accepted" if accepted else "refused"] += 1
        assert accepted == case.authentic, "accepted a forgery" if accepted else "refused genuine"
        if accepted:
            assert case.header is not None
            assert genuinely_signed(case.header, case.body, keys, NOW), "accepted a forgery"
        # With one key, the single-key check accepts exactly what that key signed.
        alone = passes(verify_webhook_signature, case, signing_key=KEY)
        assert alone == (case.authentic and case.key == KEY)

    check()
    assert seen["examples"] >= VERIFIER_EXAMPLES, seen
    # Both outcomes were exercised, and every kind of header.
    assert seen["accepted"] > 500, seen
    assert seen["refused"] > 5000, seen
    kinds = ("any text", "near miss", "signed, body changed", "signed, bogus after")
    assert all(seen[kind] > 100 for kind in kinds), seen


# -- the receiver -------------------------------------------------------------------------


def _event_of(body: bytes) -> str | None:
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    event = data.get("event") if isinstance(data, dict) else None
    return event if isinstance(event, str) and event else None


@pytest.mark.django_db
@override_settings(CALENDLY_WEBHOOK_SIGNING_KEY=APP_KEY)
def test_the_receiver_stores_only_genuine_deliveries_over_2000_examples() -> None:
    endpoint = endpoint_for(OrganizationFactory(), key=KEY)
    client = Client()
    seen: Counter[str] = Counter()
    addresses = st.sampled_from(["own"] * 6 + ["shared", "unknown", "any"])
    content_types = st.sampled_from(["application/json"] * 6 + ["text/plain", "application/jsonx"])

    @settings(FUZZ, max_examples=VIEW_EXAMPLES)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(cases(time.time(), receiver_bodies))
        address = data.draw(addresses)
        if address == "any":
            address = data.draw(st.text(max_size=12))
        content_type = data.draw(content_types)
        path = {
            "own": f"/hooks/calendly/{endpoint.token}",
            "shared": "/hooks/calendly",
            "unknown": "/hooks/calendly/not-a-receiver",
        }.get(address) or f"/hooks/calendly/{quote(address, safe='')}"
        # The shared address holds only the app's key: a body signed with the receiver's own
        # key is refused there.
        signer_known = case.authentic and (
            address == "own" or (address == "shared" and case.key == APP_KEY)
        )
        wanted = signer_known and content_type == "application/json" and _event_of(case.body)
        before = Delivery.objects.count()
        headers = {HEADER: case.header} if case.header is not None else {}
        answer = client.post(path, data=case.body, content_type=content_type, headers=headers)
        stored = Delivery.objects.count() - before
        seen["examples"] += 1
        assert answer.status_code < 500
        if wanted:
            assert (answer.status_code, stored) in {(202, 1), (200, 0)}, (case, answer.content)
            seen["stored" if stored else "repeat"] += 1
        else:
            assert 400 <= answer.status_code < 500, (case, answer.status_code, answer.content)
            assert stored == 0, case
            seen[str(answer.status_code)] += 1

    check()
    assert seen["examples"] >= VIEW_EXAMPLES, seen
    assert seen["stored"] > 50, seen
    assert seen["stored"] + seen["repeat"] > 150, seen
    assert seen["403"] > 200, seen
    assert seen["400"] > 200, seen
    # Every stored row is one of the genuine ones, byte for byte.
    for row in Delivery.objects.all():
        signed = row.headers[HEADER]
        keys = [KEY, APP_KEY] if row.endpoint_id else [APP_KEY]
        moment = int(signed.split(",")[0].strip()[2:])
        assert genuinely_signed(signed, bytes(row.body), keys, moment)
