"""`manage.py calendly_request`: one raw call through the organization's connection."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from portal.accounts.models import Organization
from portal.audit import Action
from portal.audit.models import AuditEntry
from tests.directory.test_sync import NO_RATE_LIMIT, connect
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(sandbox_factory: SandboxFactory) -> Iterator[tuple[RunningSandbox, Organization]]:
    sandbox = sandbox_factory(members=5, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        yield sandbox, connect(sandbox)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("calendly_request", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_get_prints_calendlys_json_and_is_audited(
    connected: tuple[RunningSandbox, Organization],
) -> None:
    sandbox, org = connected
    answer = json.loads(run("get", "/users/me"))
    assert answer["resource"]["email"] == sandbox.owner.email
    entry = AuditEntry.objects.get(action=Action.CALENDLY_REQUEST_SENT)
    assert (entry.organization, entry.after["method"], entry.after["path"]) == (
        org,
        "GET",
        "/users/me",
    )
    listed = json.loads(run("GET", f"/organization_memberships?organization={org.uri}&count=2"))
    assert len(listed["collection"]) == 2
    assert sandbox.requests.snapshot()["GET /organization_memberships"] == 1


def test_a_change_sends_the_body_and_is_on_record(
    connected: tuple[RunningSandbox, Organization],
) -> None:
    sandbox, _ = connected
    event_type = next(
        e for e in sandbox.event_types.values() if e.organization == sandbox.org_uuid and e.active
    )
    body = {
        "max_event_count": 1,
        "owner": f"{sandbox.url}/event_types/{event_type.uuid}",
        "owner_type": "EventType",
    }
    answer = json.loads(run("POST", "/scheduling_links", "--data", json.dumps(body)))
    assert answer["resource"]["booking_url"].startswith(sandbox.url)
    entry = AuditEntry.objects.get(action=Action.CALENDLY_REQUEST_SENT)
    assert entry.after["body"] == body


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("GET", "https://evil.example/users/me"), "PATH is a path on Calendly's API host"),
        (("POST", "/scheduling_links", "--data", "{nope"), "--data is not JSON"),
        (("DELETE", "/shares/X", "--data", "{}"), "A DELETE request takes no --data"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    connected: tuple[RunningSandbox, Organization], args: tuple[str, ...], said: str
) -> None:
    sandbox, _ = connected
    with pytest.raises(CommandError, match=said):
        run(*args)
    assert sandbox.requests.snapshot() == {}
    assert not AuditEntry.objects.exists()


def test_calendlys_refusal_is_said_in_words(
    connected: tuple[RunningSandbox, Organization],
) -> None:
    with pytest.raises(CommandError) as refused:
        run("GET", "/scheduled_events/NO-SUCH-EVENT")
    assert str(refused.value).startswith(
        "Calendly could not find it while sending GET /scheduled_events/NO-SUCH-EVENT"
    )
