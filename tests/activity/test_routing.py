"""The routing forms pages against the sandbox over real HTTP: the list, a form's questions and
submissions with Calendly's page tokens, the CSV export, the organization boundary, a plan that
lacks routing forms, and who may open them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from django.test import Client, override_settings

from portal.accounts.models import Organization, Role
from portal.activity import routing, routing_views
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly import client as calendly_client
from portal.calendly.client import CalendlyClient
from portal.sandbox.state import RoutingForm, RoutingFormSubmission
from tests.directory.test_sync import NO_RATE_LIMIT, Faulty, connect
from tests.factories import EventTypeFactory, OrganizationFactory, UserFactory
from tests.sandbox_plugin import RunningSandbox, SandboxFactory

pytestmark = pytest.mark.django_db

DEMO = "Inbound Demo Request"


@dataclass
class Routed:
    sandbox: RunningSandbox
    org: Organization
    client: Client  # signed in as an admin

    def form_uuid(self, name: str = DEMO) -> str:
        return next(f.uuid for f in self.sandbox.routing_forms.values() if f.name == name)

    def submissions(self) -> list[RoutingFormSubmission]:
        """The sandbox's rows of the demo form, oldest first."""
        form = self.form_uuid()
        rows = [s for s in self.sandbox.submissions.values() if s.form == form]
        return sorted(rows, key=lambda s: s.created_at)


@pytest.fixture
def routed(sandbox_factory: SandboxFactory) -> Iterator[Routed]:
    sandbox = sandbox_factory(members=12, rate_limit=NO_RATE_LIMIT)
    with override_settings(CALENDLY_API_URL=sandbox.url):
        org = connect(sandbox)
        client = Client()
        client.force_login(UserFactory(organization=org, role=Role.ADMIN))
        yield Routed(sandbox, org, client)


def test_the_list_shows_each_form_with_its_status_and_question_count(
    routed: Routed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calendly_client, "PAGE_SIZE", 1)  # two forms, two of Calendly's pages
    routed.sandbox.requests.reset()

    response = routed.client.get("/activity/routing-forms")

    assert routed.sandbox.requests.count("GET /routing_forms") == 2
    page = response.content.decode()
    assert response.status_code == 200
    assert DEMO in page
    assert "Partner Intake" in page
    assert f'href="/activity/routing-forms/{routed.form_uuid()}"' in page
    assert "Published" in page
    assert "Draft" in page
    assert "<td>2</td>" in page  # both seeded forms ask two questions
    assert "2 routing forms, oldest first" in page


def test_a_form_shows_its_questions_then_its_submissions_in_words(routed: Routed) -> None:
    oldest, *_rest, newest = routed.submissions()
    event = next(iter(routed.sandbox.scheduled_events.values()))
    invitee = next(i for i in routed.sandbox.invitees.values() if i.event == event.uuid)
    with routed.sandbox.lock:
        newest.submitter = (event.uuid, invitee.uuid)
        newest.tracking = {**newest.tracking, "utm_source": "newsletter"}
    demo_type = next(
        et for et in routed.sandbox.event_types.values() if et.uuid == oldest.result["value"]
    )
    EventTypeFactory(
        organization=routed.org,
        uri=f"{routed.sandbox.url}/event_types/{demo_type.uuid}",
        name="Product demo",
    )

    response = routed.client.get(f"/activity/routing-forms/{routed.form_uuid()}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "What is your industry?" in page
    assert "IT &amp; Software, Financial Services, Healthcare" in page
    assert "Required" in page
    for n in range(5):
        assert f"lead{n}@prospect.example" in page
    assert page.index("lead4@prospect.example") < page.index("lead0@prospect.example")
    assert "Event type: Product demo" in page
    assert "Custom message: Thanks! — We will be in touch." in page
    assert "utm_source: newsletter" in page
    assert page.count("<td>Yes</td>") == 1
    assert page.count("<td>No</td>") == 4


def test_a_submission_has_its_own_page_with_the_meeting_it_led_to(routed: Routed) -> None:
    *_rest, newest = routed.submissions()
    event = next(iter(routed.sandbox.scheduled_events.values()))
    invitee = next(i for i in routed.sandbox.invitees.values() if i.event == event.uuid)
    with routed.sandbox.lock:
        newest.submitter = (event.uuid, invitee.uuid)
        newest.tracking = {**newest.tracking, "utm_campaign": "spring"}
    EventTypeFactory(
        organization=routed.org,
        uri=f"{routed.sandbox.url}/event_types/{newest.result['value']}",
        name="Product demo",
    )
    form_page = routed.client.get(f"/activity/routing-forms/{routed.form_uuid()}")
    assert f'href="/activity/routing-forms/submissions/{newest.uuid}"' in form_page.content.decode()
    routed.sandbox.requests.reset()

    response = routed.client.get(f"/activity/routing-forms/submissions/{newest.uuid}")

    page = response.content.decode()
    assert response.status_code == 200
    calls = routed.sandbox.requests
    assert calls.count("GET /routing_form_submissions/{uuid}") == 1
    assert calls.count("GET /scheduled_events/{event_uuid}/invitees/{invitee_uuid}") == 1
    assert "lead4@prospect.example" in page
    assert "What is your industry?" in page
    assert "utm_campaign</dt><dd>spring" in page
    assert "Event type: Product demo" in page
    assert invitee.email in page
    assert f'href="/meetings/events/{event.uuid}"' in page
    assert f'href="/activity/routing-forms/{routed.form_uuid()}"' in page


def test_a_submission_without_a_booking_says_so(routed: Routed) -> None:
    oldest = routed.submissions()[0]
    page = routed.client.get(f"/activity/routing-forms/submissions/{oldest.uuid}").content
    assert "No meeting was booked after this submission." in page.decode()
    assert "/meetings/events/" not in page.decode()


def test_submissions_page_with_calendlys_token_in_the_url(
    routed: Routed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routing, "PAGE_SIZE", 2)
    url = f"/activity/routing-forms/{routed.form_uuid()}"
    first = routed.client.get(url).content.decode()
    assert "lead4@" in first
    assert "lead3@" in first
    assert "lead2@" not in first
    token = first.split('href="?page_token=', 1)[1].split('"', 1)[0]

    second = routed.client.get(url, {"page_token": token}, headers={"HX-Request": "true"})
    page = second.content.decode()
    assert "lead2@" in page
    assert "lead1@" in page
    assert "lead4@" not in page
    assert "<h2" not in page  # htmx gets the submissions alone
    assert "First page" in page


def test_the_export_has_every_submission_across_pages_formula_safe_and_audited(
    routed: Routed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calendly_client, "PAGE_SIZE", 2)  # five rows take three pages
    oldest = routed.submissions()[0]
    with routed.sandbox.lock:
        oldest.questions_and_answers[1]["answer"] = '=HYPERLINK("https://evil.example")'
    uuid = routed.form_uuid()

    response = routed.client.get(f"/activity/routing-forms/{uuid}/export")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["Email"] for row in rows) == [f"lead{n}@prospect.example" for n in range(5)]
    assert rows[0]["Submitter"] == "lead0@prospect.example"
    assert rows[0]["What is your industry?"] == '\'=HYPERLINK("https://evil.example")'
    assert {row["Meeting booked"] for row in rows} == {"no"}
    entry = AuditEntry.objects.get(action=Action.ROUTING_EXPORTED)
    assert (entry.organization, entry.target_id, entry.target_label) == (routed.org, uuid, DEMO)


def test_another_organizations_form_is_not_found(routed: Routed) -> None:
    sandbox = routed.sandbox
    theirs = RoutingForm(
        sandbox.new_id(),
        sandbox.other_org_uuid,
        "Globex intake",
        "published",
        [],
        sandbox.now() - timedelta(days=1),
        sandbox.now() - timedelta(days=1),
    )
    with sandbox.lock:
        sandbox.routing_forms[theirs.uuid] = theirs

    submitted = RoutingFormSubmission(
        sandbox.new_id(),
        theirs.uuid,
        [],
        {},
        {"type": "custom_message", "value": {}},
        None,
        sandbox.now(),
        sandbox.now(),
    )
    with sandbox.lock:
        sandbox.submissions[submitted.uuid] = submitted

    assert routed.client.get(f"/activity/routing-forms/{theirs.uuid}").status_code == 404
    submission_url = f"/activity/routing-forms/submissions/{submitted.uuid}"
    assert routed.client.get(submission_url).status_code == 404
    assert routed.client.get("/activity/routing-forms/submissions/NOPE").status_code == 404
    assert routed.client.get(f"/activity/routing-forms/{theirs.uuid}/export").status_code == 404
    assert not AuditEntry.objects.filter(action=Action.ROUTING_EXPORTED).exists()


def test_a_plan_without_routing_forms_is_said_in_words(
    routed: Routed, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.startswith("/routing_forms"):
            body = {"title": "Permission Denied", "message": "Please upgrade to Teams."}
            return httpx.Response(403, content=json.dumps(body))
        return None

    def faulty_client(organization: Organization) -> CalendlyClient:
        return CalendlyClient(
            token=routed.sandbox.owner_token,
            base_url=routed.sandbox.url,
            transport=Faulty(refuse),
        )

    monkeypatch.setattr(routing_views, "client_for", faulty_client)
    response = routed.client.get("/activity/routing-forms")
    page = response.content.decode()
    assert response.status_code == 200
    assert "plan does not include listing routing forms" in page
    assert "an upgrade to Teams" in page
    assert "lists them as soon as it does" in page


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.SALES, Role.VIEWER])
def test_only_admins_may_open_routing_forms(routed: Routed, role: Role) -> None:
    other = Client()
    other.force_login(UserFactory(organization=routed.org, role=role))
    uuid = routed.form_uuid()
    for url in (
        "/activity/routing-forms",
        f"/activity/routing-forms/{uuid}",
        f"/activity/routing-forms/{uuid}/export",
        f"/activity/routing-forms/submissions/{routed.submissions()[0].uuid}",
    ):
        assert other.get(url).status_code == 403, url
    assert not routed.sandbox.requests.snapshot()


def test_without_a_connection_the_pages_say_what_to_do() -> None:
    admin = Client()
    admin.force_login(UserFactory(organization=OrganizationFactory(), role=Role.ADMIN))
    for url in (
        "/activity/routing-forms",
        "/activity/routing-forms/ABC/export",
        "/activity/routing-forms/submissions/ABC",
    ):
        response = admin.get(url)
        assert response.status_code == 200, url
        assert "connect the organization again" in response.content.decode(), url
