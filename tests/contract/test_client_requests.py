"""Every request the client sends, and every sample answer its unit tests feed it, must match
Calendly's OpenAPI descriptions (`tests/contract/specs.py` loads them).

Endpoints the April-2023 file describes are checked against it and against the 2026 export;
newer ones (groups, teams, organizations/{uuid}, event type memberships, sample webhook data)
and calls with filters newer than 2023 against the 2026 export only. The Share endpoints of
Calendly's release note of 2026-11-06 (list, update, delete; and the new fields of create) are
checked against `shares-2026-11-06.yaml`. The answers come from `tests/calendly/samples.py`,
checked with the request that asked for them, so a sample that drifts from the spec fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openapi_core.validation.request.exceptions import InvalidRequestBody, MissingRequiredParameter

from portal.calendly.client import CalendlyClient
from tests.calendly import samples
from tests.calendly.fakes import Recorder, make_client
from tests.contract import coverage, specs

# openapi-core cannot evaluate the oauth2 scheme (it warns and lets it pass); the bearer header
# itself is asserted in tests/calendly/test_client.py.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")
SOON = datetime.now(UTC) + timedelta(days=1)
LATER = SOON + timedelta(days=6)
BOTH = ("2023", "2026")


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # the spec's template, for the report
    run: Callable[[CalendlyClient], Any]
    specs: tuple[str, ...]  # the files (names in specs.FILES) to validate against


ORG, USER, GROUP = samples.ORG, samples.USER, samples.GROUP
HOOK = "https://portal.example.com/hooks/calendly"

CALLS = [
    Call("GET", "/users/me", lambda c: c.get_current_user(), BOTH),
    Call("GET", "/users/{uuid}", lambda c: c.get_user(user=USER), BOTH),
    Call(
        "GET",
        "/organizations/{uuid}",
        lambda c: c.get_organization(organization=ORG),
        ("2026",),
    ),
    Call(
        "GET",
        "/organization_memberships",
        lambda c: list(c.list_organization_memberships(organization=ORG, email="a@example.com")),
        BOTH,
    ),
    Call(
        "GET",
        "/organization_memberships",
        lambda c: list(c.list_organization_memberships(organization=ORG, role="admin")),
        ("2026",),
    ),
    Call(
        "GET",
        "/organization_memberships/{uuid}",
        lambda c: c.get_organization_membership(membership=samples.MEMBERSHIP),
        BOTH,
    ),
    Call(
        "DELETE",
        "/organization_memberships/{uuid}",
        lambda c: c.remove_user_from_organization(membership=samples.MEMBERSHIP),
        BOTH,
    ),
    Call(
        "GET",
        "/organizations/{uuid}/invitations",
        lambda c: list(
            c.list_organization_invitations(
                organization=ORG, email="b@example.com", status="pending", sort="created_at:asc"
            )
        ),
        BOTH,
    ),
    Call(
        "POST",
        "/organizations/{uuid}/invitations",
        lambda c: c.invite_user_to_organization(organization=ORG, email="b@example.com"),
        BOTH,
    ),
    Call(
        "GET",
        "/organizations/{org_uuid}/invitations/{uuid}",
        lambda c: c.get_organization_invitation(invitation=samples.INVITATION),
        BOTH,
    ),
    Call(
        "DELETE",
        "/organizations/{org_uuid}/invitations/{uuid}",
        lambda c: c.revoke_user_organization_invitation(invitation=samples.INVITATION),
        BOTH,
    ),
    Call("GET", "/groups", lambda c: list(c.list_groups(organization=ORG)), ("2026",)),
    Call("GET", "/groups/{uuid}", lambda c: c.get_group(group=GROUP), ("2026",)),
    Call(
        "GET",
        "/group_relationships",
        lambda c: list(
            c.list_group_relationships(organization=ORG, group=GROUP, owner=samples.MEMBERSHIP)
        ),
        ("2026",),
    ),
    Call(
        "GET",
        "/group_relationships/{uuid}",
        lambda c: c.get_group_relationship(relationship=samples.RELATIONSHIP),
        ("2026",),
    ),
    Call("GET", "/teams", lambda c: list(c.list_teams(user=USER)), ("2026",)),
    Call("GET", "/teams/{team_uuid}", lambda c: c.get_team(team=samples.TEAM), ("2026",)),
    Call(
        "GET",
        "/activity_log_entries",
        lambda c: list(
            c.list_activity_log_entries(
                organization=ORG,
                search_term="*@other.com",
                actor=[USER],
                namespace=["User", "Group"],
                action=["Add"],
                min_occurred_at=SOON - timedelta(days=30),
                max_occurred_at=SOON,
                sort=["occurred_at:desc"],
            )
        ),
        BOTH,
    ),
    Call(
        "POST",
        "/data_compliance/deletion/invitees",
        lambda c: c.delete_invitee_data(emails=["a@example.com", "b@example.com"]),
        BOTH,
    ),
    Call(
        "POST",
        "/data_compliance/deletion/events",
        lambda c: c.delete_scheduled_event_data(
            start_time=SOON - timedelta(days=400), end_time=SOON - timedelta(days=2)
        ),
        BOTH,
    ),
    Call(
        "GET",
        "/event_types",
        lambda c: list(
            c.list_event_types(
                organization=ORG, user=USER, active=True, admin_managed=False, sort="name:asc"
            )
        ),
        BOTH,
    ),
    Call(
        "GET",
        "/event_types",
        lambda c: list(c.list_event_types(user=USER, user_availability_schedule=samples.SCHEDULE)),
        ("2026",),
    ),
    Call(
        "GET",
        "/event_types/{uuid}",
        lambda c: c.get_event_type(event_type=samples.EVENT_TYPE),
        BOTH,
    ),
    Call(
        "GET",
        "/event_type_memberships",
        lambda c: list(c.list_event_type_memberships(event_type=samples.EVENT_TYPE)),
        ("2026",),
    ),
    Call(
        "GET",
        "/event_type_available_times",
        lambda c: c.list_event_type_available_times(
            event_type=samples.EVENT_TYPE, start_time=SOON, end_time=LATER
        ),
        BOTH,
    ),
    Call(
        "GET",
        "/user_availability_schedules",
        lambda c: c.list_user_availability_schedules(user=USER),
        BOTH,
    ),
    Call(
        "GET",
        "/user_availability_schedules/{uuid}",
        lambda c: c.get_user_availability_schedule(schedule=samples.SCHEDULE),
        BOTH,
    ),
    Call(
        "GET",
        "/user_busy_times",
        lambda c: c.list_user_busy_times(user=USER, start_time=SOON, end_time=LATER),
        BOTH,
    ),
    Call(
        "POST",
        "/scheduling_links",
        lambda c: c.create_single_use_scheduling_link(event_type=samples.EVENT_TYPE),
        BOTH,
    ),
    Call(
        "POST",
        "/shares",
        lambda c: c.create_share(
            event_type=samples.EVENT_TYPE,
            name="Intro for Acme",
            duration=30,
            period_type="fixed",
            start_date="2030-01-02",
            end_date="2030-01-09",
            hide_location=False,
            location_configurations=[{"kind": "physical", "location": "HQ", "position": 0}],
            availability_rule={
                "timezone": "Europe/Paris",
                "rules": [
                    {
                        "type": "wday",
                        "wday": "monday",
                        "intervals": [{"from": "09:00", "to": "12:00"}],
                    }
                ],
            },
        ),
        (*BOTH, "shares"),
    ),
    Call(
        "POST",
        "/shares",
        lambda c: c.create_share(
            event_type=samples.EVENT_TYPE,
            duration=30,
            duration_options=[15, 30],
            period_type="moving",
            max_booking_time=14,
        ),
        ("2026", "shares"),
    ),
    Call(
        "GET",
        "/shares",
        lambda c: list(c.list_shares(user=USER, event_type=samples.EVENT_TYPE)),
        ("shares",),
    ),
    Call(
        "PATCH",
        "/shares/{uuid}",
        lambda c: c.update_share(share=samples.SHARE, name="New", duration=45),
        ("shares",),
    ),
    Call("DELETE", "/shares/{uuid}", lambda c: c.delete_share(share=samples.SHARE), ("shares",)),
    Call(
        "GET",
        "/scheduled_events",
        lambda c: list(
            c.list_scheduled_events(
                organization=ORG,
                user=USER,
                invitee_email="eve@example.com",
                status="active",
                min_start_time=SOON,
                max_start_time=LATER,
                sort="start_time:asc",
            )
        ),
        BOTH,
    ),
    Call(
        "GET",
        "/scheduled_events",
        lambda c: list(c.list_scheduled_events(organization=ORG, group=GROUP)),
        ("2026",),
    ),
    Call(
        "GET",
        "/scheduled_events/{uuid}",
        lambda c: c.get_scheduled_event(event=samples.EVENT),
        BOTH,
    ),
    Call(
        "POST",
        "/scheduled_events/{uuid}/cancellation",
        lambda c: c.cancel_event(event=samples.EVENT, reason="Double booked"),
        BOTH,
    ),
    Call(
        "GET",
        "/scheduled_events/{uuid}/invitees",
        lambda c: list(
            c.list_invitees(
                event=samples.EVENT, status="active", email="eve@example.com", sort="created_at:asc"
            )
        ),
        BOTH,
    ),
    Call(
        "GET",
        "/scheduled_events/{event_uuid}/invitees/{invitee_uuid}",
        lambda c: c.get_invitee(invitee=samples.INVITEE),
        BOTH,
    ),
    Call(
        "POST",
        "/invitee_no_shows",
        lambda c: c.create_invitee_no_show(invitee=samples.INVITEE),
        BOTH,
    ),
    Call(
        "GET",
        "/invitee_no_shows/{uuid}",
        lambda c: c.get_invitee_no_show(no_show=samples.NO_SHOW),
        BOTH,
    ),
    Call(
        "DELETE",
        "/invitee_no_shows/{uuid}",
        lambda c: c.delete_invitee_no_show(no_show=samples.NO_SHOW),
        BOTH,
    ),
    Call(
        "GET",
        "/routing_forms",
        lambda c: list(c.list_routing_forms(organization=ORG, sort="created_at:desc")),
        BOTH,
    ),
    Call(
        "GET",
        "/routing_forms/{uuid}",
        lambda c: c.get_routing_form(routing_form=samples.ROUTING_FORM),
        BOTH,
    ),
    Call(
        "GET",
        "/routing_form_submissions",
        lambda c: list(
            c.list_routing_form_submissions(form=samples.ROUTING_FORM, sort="created_at:asc")
        ),
        BOTH,
    ),
    Call(
        "GET",
        "/routing_form_submissions/{uuid}",
        lambda c: c.get_routing_form_submission(submission=samples.SUBMISSION),
        BOTH,
    ),
    Call(
        "GET",
        "/webhook_subscriptions",
        lambda c: list(
            c.list_webhook_subscriptions(
                organization=ORG, scope="user", user=USER, sort="created_at:asc"
            )
        ),
        BOTH,
    ),
    Call(
        "GET",
        "/webhook_subscriptions",
        lambda c: list(c.list_webhook_subscriptions(organization=ORG, scope="group", group=GROUP)),
        ("2026",),
    ),
    Call(
        "POST",
        "/webhook_subscriptions",
        lambda c: c.create_webhook_subscription(
            url=HOOK,
            events=["invitee.created", "invitee.canceled"],
            organization=ORG,
            scope="user",
            user=USER,
            signing_key="s3cret",
        ),
        BOTH,
    ),
    Call(
        "POST",
        "/webhook_subscriptions",
        lambda c: c.create_webhook_subscription(
            url=HOOK,
            events=["invitee_no_show.created"],
            organization=ORG,
            scope="group",
            group=GROUP,
        ),
        ("2026",),
    ),
    Call(
        "GET",
        "/webhook_subscriptions/{webhook_uuid}",
        lambda c: c.get_webhook_subscription(webhook_subscription=samples.WEBHOOK),
        BOTH,
    ),
    Call(
        "DELETE",
        "/webhook_subscriptions/{webhook_uuid}",
        lambda c: c.delete_webhook_subscription(webhook_subscription=samples.WEBHOOK),
        BOTH,
    ),
    Call(
        "GET",
        "/sample_webhook_data",
        lambda c: c.get_sample_webhook_data(
            event="invitee.created", organization=ORG, scope="organization"
        ),
        ("2026",),
    ),
]


PARAMS = [
    pytest.param(call, id=f"{call.method} {call.path} {'+'.join(call.specs)}") for call in CALLS
]


def exchanges(call: Call) -> list[httpx.Response]:
    """Run the call against the sample answers; every answer, with the request it answered."""
    answers: list[httpx.Response] = []

    def answer(request: httpx.Request) -> httpx.Response:
        answers.append(samples.answer(request))
        return answers[-1]

    call.run(make_client(Recorder(answer)))
    sent = [a for a in answers if a.request.method == call.method]
    assert sent, f"{call.method} {call.path} was not sent"
    return sent


@pytest.mark.parametrize("call", PARAMS)
def test_request_matches_the_openapi_description(call: Call) -> None:
    sent = exchanges(call)

    assert all(a.request.url.host == "api.calendly.com" for a in sent)
    for name in call.specs:
        for answer in sent:
            specs.validate_request(name, answer.request)
        kind = f"client requests validated against {specs.FILES[name]}"
        coverage.record(kind, call.method, call.path)


@pytest.mark.parametrize("call", PARAMS)
def test_sample_answer_matches_the_openapi_description(call: Call) -> None:
    for name in call.specs:
        for answer in exchanges(call):
            specs.validate_answer(name, answer)
        kind = f"client samples validated against {specs.FILES[name]}"
        coverage.record(kind, call.method, call.path)


def test_the_validation_would_catch_a_request_that_breaks_the_spec() -> None:
    headers = {"Authorization": "Bearer t"}
    no_scope = httpx.Request(
        "GET", f"{samples.API}/webhook_subscriptions", params={"organization": ORG}, headers=headers
    )
    two_uses = httpx.Request(
        "POST",
        f"{samples.API}/scheduling_links",
        json={"max_event_count": 2, "owner": samples.EVENT_TYPE, "owner_type": "EventType"},
        headers=headers,
    )
    groups_of_nobody = httpx.Request("GET", f"{samples.API}/groups", headers=headers)
    empty_patch = httpx.Request("PATCH", samples.SHARE, json={}, headers=headers)

    with pytest.raises(MissingRequiredParameter):
        specs.validate_request("2023", no_scope)
    for name in BOTH:
        with pytest.raises(InvalidRequestBody):
            specs.validate_request(name, two_uses)
    with pytest.raises(MissingRequiredParameter):
        specs.validate_request("2026", groups_of_nobody)
    with pytest.raises(InvalidRequestBody):
        specs.validate_request("shares", empty_patch)


def test_every_client_method_is_exercised_by_this_module() -> None:
    exercised = {
        name for call in CALLS for name in call.run.__code__.co_names if not name.startswith("_")
    }
    public = {
        name
        for name in vars(CalendlyClient)
        if not name.startswith("_") and callable(getattr(CalendlyClient, name))
    }
    # raw_request forwards whatever it is given; close() sends nothing.
    assert public - exercised == {"raw_request", "close", "delete_webhook_subscriptions_for_url"}
