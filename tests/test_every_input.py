"""Generated values in every GET parameter and POST field of every page, as an admin: the
portal answers each with a page or a refusal, never a server error.

The fields come from the pages themselves: every form and every link with a query string on
every page an admin can open is read, so a new field or page is fuzzed without anyone
listing it here. Runs on PostgreSQL (the test database), which refuses what SQLite lets
through: NUL characters, numbers beyond 64 bits, over-long values for a column.
"""

from __future__ import annotations

from collections import defaultdict
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from portal.accounts.models import Connection
from tests.sandbox_plugin import RunningSandbox
from tests.test_access import RULES, World, job_entry, make_world

pytestmark = pytest.mark.django_db

# Values that have broken web apps before, beside whatever Hypothesis makes up.
AWKWARD = [
    "",
    "0",
    "-1",
    "1.5",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1e400",
    "9999-12-31",
    "0001-01-01",
    "0000-00-00",
    "2026-02-30",
    "\x00",
    "a\x00b",
    "x" * 10_000,
    "\U0001f600" * 300,
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "../../etc/passwd",
    "javascript:alert(1)",
    "https://evil.example/",
    "//evil.example",
    "<script>alert(1)</script>",
]

# Lone surrogates are left out: a browser cannot send them (UTF-8 cannot encode them).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
VALUES = st.one_of(
    st.sampled_from(AWKWARD),
    TEXT,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.dates().map(str),
)


class Forms(HTMLParser):
    """Where a page's forms and query links send what: (method, path) -> {field: known values}."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.found: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(
            lambda: defaultdict(set)
        )
        self.form: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form":
            method = (attr.get("method") or "get").upper()
            self.form = (method, urlsplit(urljoin(self.page_url, attr.get("action", ""))).path)
            self.found[self.form]  # a form without fields is still a target
        elif tag in ("input", "select", "textarea", "button") and self.form and attr.get("name"):
            if attr["name"] != "csrfmiddlewaretoken":
                self.found[self.form][attr["name"]].add(attr.get("value", ""))
        elif tag == "a" and "?" in attr.get("href", ""):
            url = urljoin(self.page_url, attr["href"])
            fields = self.found[("GET", urlsplit(url).path)]
            for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
                fields[name].add(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.form = None


def admin_client(world: World) -> Client:
    client = Client()
    admin = world.people["admin"]
    assert admin is not None
    client.force_login(admin)
    return client


def catalogue(world: World) -> dict[tuple[str, str], dict[str, set[str]]]:
    """Every (method, path) an admin's pages submit to, with the fields they send."""
    client = admin_client(world)
    found: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    pages = [
        reverse(name, kwargs=rule.args(world))
        for name, rule in RULES.items()
        if rule.method == "GET" and rule.expected("admin") == 200
    ]
    # The members list shows other forms and links per status.
    members = reverse("directory:members")
    pages += [f"{members}?status={status}" for status in ("pending", "declined", "removed")]
    # The New link page shows its form once a rep is chosen.
    pages.append(f"{reverse('links:new')}?rep={world.mirrored.pk}")
    for url in pages:
        response = client.get(url)
        if response.get("Content-Type", "").startswith("text/html"):
            parser = Forms(url)
            parser.feed(response.content.decode())
            for target, fields in parser.found.items():
                merged = found[target]  # kept even without fields (a lone button)
                for name, values in fields.items():
                    merged[name] |= values
    return found


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def connected_world(world: World, sandbox: RunningSandbox, settings: object) -> World:
    """Actions reach a real (sandbox) Calendly, which refuses this made-up organization."""
    settings.CALENDLY_API_URL = sandbox.url  # type: ignore[attr-defined]
    settings.CALENDLY_AUTH_URL = sandbox.url  # type: ignore[attr-defined]
    Connection.objects.create(
        organization=world.org,
        kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
        owner_uri=f"{sandbox.url}/users/{sandbox.owner_uuid}",
        access_token=sandbox.owner_token,
    )
    return world


def test_the_pages_show_the_fields_this_test_fuzzes(world: World) -> None:
    """The catalogue is read from the pages: make sure it found the forms that matter."""
    found = catalogue(world)
    assert {"q", "status", "role", "group", "sort"} <= set(
        found[("GET", reverse("directory:members"))]
    )
    assert {"actor", "action", "target", "date_from", "date_to"} <= set(
        found[("GET", reverse("audit:log"))]
    )
    assert "emails" in found[("POST", reverse("directory:invite"))]
    assert (
        "portal_role"
        in found[("POST", reverse("accounts:set_role", kwargs={"pk": world.member.pk}))]
    )
    assert {"q", "state"} <= set(found[("GET", reverse("jobs:list"))])
    assert {"file", "addresses"} <= set(found[("POST", reverse("directory:bulk_invite"))])
    job = job_entry(world)
    for action in ("pause", "cancel", "retry"):
        assert ("POST", reverse(f"jobs:{action}", kwargs={"pk": job.pk})) in found


def test_no_generated_upload_or_paste_makes_the_bulk_invite_page_fail(
    connected_world: World,
) -> None:
    """The upload form posts to the page it is on (a GET rule), so the sweep above sends it
    only GETs: its POST is fuzzed here, with text in the file as well as in the paste box."""
    world = connected_world
    url = reverse("directory:bulk_invite")
    fields = sorted(catalogue(world)[("POST", url)])
    assert fields == ["addresses", "file"]
    client = admin_client(world)
    client.raise_request_exception = False

    def post(data: dict[str, str]) -> int:
        files = {
            name: SimpleUploadedFile("team.csv", value.encode())
            for name, value in data.items()
            if name == "file"
        }
        rest = {name: value for name, value in data.items() if name != "file"}
        return client.post(url, {**rest, **files}).status_code

    for field in fields:
        for value in AWKWARD:
            answered = post({field: value})
            assert answered in (302, 400), f"POST {url} {field}={value[:40]!r} -> {answered}"

    @hypothesis_settings(max_examples=20)
    @given(data=st.fixed_dictionaries({}, optional=dict.fromkeys(fields, VALUES)))
    def answers_without_a_server_error(data: dict[str, str]) -> None:
        answered = post(data)
        assert answered in (302, 400), f"POST {url} {data!r} -> {answered}"

    answers_without_a_server_error()


@pytest.mark.parametrize("name", sorted(RULES))
def test_no_generated_input_makes_a_page_fail(connected_world: World, name: str) -> None:
    world = connected_world
    rule = RULES[name]
    url = reverse(name, kwargs=rule.args(world))
    methods = {rule.method, "GET"} if rule.method == "POST" else {"GET"}
    found = catalogue(world)
    # A page nothing links to with fields still gets made-up ones.
    fields = sorted(
        {name for method in methods for name in found.get((method, url), {})} | {"page"}
    )
    known = {
        field: sorted(v for method in methods for v in found.get((method, url), {}).get(field, ()))
        for field in fields
    }

    # /healthz answers 503 while no worker runs (none does in the tests): what a page says
    # without any input is the baseline, and no input may turn it into a server error.
    baseline = admin_client(world).get(url).status_code

    client = admin_client(world)
    client.raise_request_exception = False
    # Every awkward value in every field on its own first, so none of them is left to chance.
    for method in sorted(methods):
        for field in fields:
            for value in AWKWARD:
                send = client.get if method == "GET" else client.post
                answered = send(url, {field: value}).status_code
                assert answered < 500 or answered == baseline, (
                    f"{method} {url} {field}={value[:40]!r} -> {answered}"
                )

    @hypothesis_settings(max_examples=20)
    @given(
        method=st.sampled_from(sorted(methods)),
        data=st.fixed_dictionaries(
            {},
            optional={
                field: st.one_of(VALUES, st.sampled_from(known[field] or [""])) for field in fields
            },
        ),
    )
    def answers_without_a_server_error(method: str, data: dict[str, str]) -> None:
        client = admin_client(world)
        client.raise_request_exception = False
        response = client.get(url, data) if method == "GET" else client.post(url, data)
        answered = response.status_code
        assert answered < 500 or answered == baseline, f"{method} {url} {data!r} -> {answered}"

    answers_without_a_server_error()
