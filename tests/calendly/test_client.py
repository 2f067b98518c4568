"""The client against httpx.MockTransport: what Calendly receives, and how failures are handled."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from portal.calendly import errors
from portal.calendly.client import OPERATIONS, USER_AGENT, CalendlyClient
from portal.calendly.ratelimit import LocalRateLimiter
from portal.calendly.schemas import OrganizationInvitation, User
from tests.calendly import samples
from tests.calendly.fakes import FakeClock, Recorder, make_client
from tests.calendly.samples import ORG, USER, invitation, json_response, page_info

# The 35 action keys of the Calendly integration component the portal replaces, one per
# operation it offered.
SEED_OPERATIONS = {
    "cancelEvent",
    "createShare",
    "createSingleUseSchedulingLink",
    "createWebhookSubscription",
    "deleteInstancedWebhooks",
    "deleteInviteeData",
    "deleteScheduledEventData",
    "deleteWebhookSubscription",
    "getCurrentUser",
    "getEvent",
    "getEventInvitee",
    "getEventType",
    "getOrganizationInvitation",
    "getOrganizationMembership",
    "getRoutingForm",
    "getRoutingFormSubmission",
    "getUser",
    "getUserAvailabilitySchedule",
    "getWebhookSubscription",
    "inviteUserToOrganization",
    "listActivityLogEntries",
    "listEventInvitees",
    "listEventTypeAvailableTimes",
    "listEvents",
    "listOrganizationInvitations",
    "listOrganizationMemberships",
    "listRoutingFormSubmissions",
    "listRoutingForms",
    "listUserAvailabilitySchedules",
    "listUserBusyTimes",
    "listUserEventTypes",
    "listWebhookSubscription",
    "rawRequest",
    "removeUserFromOrganization",
    "revokeUserOrganizationInvitation",
}


def always(response: Callable[[], httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: response()


def in_turn(*answers: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """Answer each request with the next item; an exception is raised as a transport failure."""
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


ME = json_response(200, {"resource": samples.user()})


def test_every_seed_operation_has_a_client_method() -> None:
    assert len(SEED_OPERATIONS) == 35
    assert set(OPERATIONS) == SEED_OPERATIONS
    for key, name in OPERATIONS.items():
        assert callable(getattr(CalendlyClient, name, None)), f"{key} -> {name} is missing"


def test_requests_carry_the_bearer_token_user_agent_and_json() -> None:
    recorder = Recorder(samples.answer)
    client = make_client(recorder)

    me = client.get_current_user()
    client.create_single_use_scheduling_link(event_type=samples.EVENT_TYPE)

    assert isinstance(me, User)
    assert me.email == "ada@example.com"
    get, post = recorder.requests
    assert get.url == "https://api.calendly.com/users/me"
    assert get.headers["Authorization"] == "Bearer test-token"
    assert get.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("calendly-admin-portal/")
    assert post.headers["Content-Type"] == "application/json"
    assert json.loads(post.content) == {
        "max_event_count": 1,
        "owner": samples.EVENT_TYPE,
        "owner_type": "EventType",
    }


def test_paths_are_built_from_the_uris_last_segments() -> None:
    recorder = Recorder(samples.answer)
    client = make_client(recorder)

    client.get_invitee(invitee=samples.INVITEE)
    client.revoke_user_organization_invitation(invitation=samples.INVITATION)
    client.remove_user_from_organization(membership=samples.MEMBERSHIP)

    assert [(r.method, r.url.path) for r in recorder.requests] == [
        ("GET", "/scheduled_events/EV1/invitees/INVITEE1"),
        ("DELETE", "/organizations/ORG1/invitations/INV1"),
        ("DELETE", "/organization_memberships/MEM1"),
    ]


def test_bare_uuids_are_refused_before_anything_is_sent() -> None:
    recorder = Recorder(samples.answer)
    client = make_client(recorder)

    with pytest.raises(ValueError, match="full Calendly URI"):
        client.get_user(user="USER1")
    with pytest.raises(ValueError, match="full Calendly URI"):
        client.list_event_types(organization="ORG1")
    with pytest.raises(ValueError, match="invitations"):
        client.revoke_user_organization_invitation(invitation=USER)
    assert recorder.requests == []


def test_list_follows_25_pages_resending_the_same_filters_with_count_100() -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page_token", "p0")[1:])
        following = f"p{number + 1}" if number < 24 else None
        item = samples.event_type(uri=f"{samples.API}/event_types/ET{number}")
        return json_response(200, {"collection": [item], "pagination": page_info(following)})

    recorder = Recorder(pages)
    client = make_client(recorder)

    event_types = client.list_event_types(organization=ORG, user=USER, active=True)
    first = next(event_types)
    assert len(recorder.requests) == 1, "pages are fetched as the caller iterates"
    rest = list(event_types)

    assert [first.uuid, *(e.uuid for e in rest)] == [f"ET{n}" for n in range(25)]
    assert len(recorder.requests) == 25
    for number, request in enumerate(recorder.requests):
        params = request.url.params
        assert params["organization"] == ORG
        assert params["user"] == USER
        assert params["active"] == "true"
        assert params["count"] == "100"
        assert params.get("page_token") == (f"p{number}" if number else None)


def test_endpoints_without_pagination_return_plain_lists() -> None:
    recorder = Recorder(samples.answer)
    client = make_client(recorder)
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    busy = client.list_user_busy_times(user=USER, start_time=start, end_time="2030-01-05T00:00:00Z")
    schedules = client.list_user_availability_schedules(user=USER)
    times = client.list_event_type_available_times(
        event_type=samples.EVENT_TYPE, start_time=start, end_time=start
    )

    assert [type(x).__name__ for x in (*busy, *schedules, *times)] == [
        "BusyTime",
        "AvailabilitySchedule",
        "EventTypeAvailableTime",
    ]
    assert recorder.requests[0].url.params["start_time"] == "2030-01-02T03:04:05.000000Z"
    assert "count" not in recorder.requests[0].url.params


def test_naive_datetimes_are_refused_because_calendly_filters_are_utc() -> None:
    client = make_client(samples.answer)
    with pytest.raises(ValueError, match="aware"):
        client.list_user_busy_times(user=USER, start_time=datetime(2030, 1, 1), end_time="x")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"title": "Invalid Argument", "message": "bad"}, errors.BadRequest),
        (400, {"title": "Already Invited", "message": "b@x has"}, errors.AlreadyInvited),
        (
            400,
            {"title": "Already Organization Member", "message": "b@x is"},
            errors.AlreadyOrganizationMember,
        ),
        (401, {"title": "Unauthenticated", "message": "invalid"}, errors.Unauthenticated),
        (403, {"title": "Permission Denied", "message": "no"}, errors.PermissionDenied),
        (404, {"title": "Resource Not Found", "message": "gone"}, errors.NotFound),
        (409, {"title": "Already Exists", "message": "Hook exists"}, errors.Conflict),
        (424, {"title": "External Calendar Error", "message": "x"}, errors.CalendlyError),
        # The 2026 export's "Internal Server Error" title on a 404 must not make it a 5xx.
        (404, {"title": "Internal Server Error", "message": "x"}, errors.NotFound),
    ],
)
def test_each_status_becomes_its_own_error(
    status: int, body: dict[str, str], expected: type[errors.CalendlyError]
) -> None:
    client = make_client(always(lambda: json_response(status, body)))

    with pytest.raises(expected) as caught:
        client.get_current_user()

    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.title == body["title"]
    assert caught.value.retryable is False


def test_insufficient_scope_lists_the_scopes_to_grant() -> None:
    body = {
        "title": "Insufficient scope",
        "message": "This operation requires the scopes listed in the 'required_scopes' array.",
        "required_scopes": ["organizations:write"],
    }
    client = make_client(always(lambda: json_response(403, body)))

    with pytest.raises(errors.InsufficientScope) as caught:
        client.revoke_user_organization_invitation(invitation=samples.INVITATION)

    assert caught.value.required_scopes == ("organizations:write",)
    assert isinstance(caught.value, errors.PermissionDenied)
    assert "organizations:write" in str(caught.value)


def test_validation_details_are_kept_and_shown() -> None:
    body = {
        "title": "Invalid Argument",
        "message": "The supplied parameters are invalid.",
        "details": [{"parameter": "email", "message": "must be filled", "code": "blank"}],
    }
    client = make_client(always(lambda: json_response(400, body)))

    with pytest.raises(errors.BadRequest) as caught:
        client.invite_user_to_organization(organization=ORG, email="")

    assert caught.value.details == (errors.ErrorDetail("email", "must be filled", "blank"),)
    assert "email: must be filled" in str(caught.value)


def test_a_429_waits_for_retry_after_then_succeeds() -> None:
    clock = FakeClock()
    client = make_client(in_turn(json_response(429, {}, Retry_After="7"), ME), clock)

    assert client.get_current_user().uri == USER
    assert clock.sleeps == [7.0]


def test_a_429_without_retry_after_waits_for_the_rate_limit_reset() -> None:
    clock = FakeClock()
    limited = json_response(
        429,
        {"title": "Too Many Requests", "message": "slow down"},
        X_RateLimit_Limit="500",
        X_RateLimit_Remaining="0",
        X_RateLimit_Reset="42",
    )
    client = make_client(in_turn(limited, ME), clock)

    client.get_current_user()

    assert clock.sleeps == [42.0]


def test_a_429_pauses_every_client_sharing_the_budget() -> None:
    frozen = FakeClock()  # the budget's clock stands still, so the pause is still on later
    shared = LocalRateLimiter(default_limit=1_000_000, clock=frozen)
    limited_sleeps, other_sleeps = FakeClock(), FakeClock()
    answers = in_turn(json_response(429, {}, Retry_After="30"), ME)
    limited = make_client(answers, limited_sleeps, limiter=shared)
    other = make_client(always(lambda: ME), other_sleeps, limiter=shared)

    limited.get_current_user()
    other.get_current_user()

    assert limited_sleeps.sleeps[0] == 30.0
    assert other_sleeps.sleeps == [pytest.approx(30.0, abs=0.01)]


def test_zero_remaining_pauses_until_the_window_resets() -> None:
    clock = FakeClock()
    last = json_response(
        200, {"resource": samples.user()}, X_RateLimit_Remaining="0", X_RateLimit_Reset="12"
    )
    client = make_client(in_turn(last, ME), clock)

    client.get_current_user()
    client.get_current_user()

    assert clock.sleeps == [pytest.approx(12.0)]


def test_429s_do_not_use_up_the_attempts_for_errors() -> None:
    clock = FakeClock()
    answers = in_turn(
        json_response(429, {}, Retry_After="1"),
        json_response(503, {"title": "Service Unavailable", "message": "x"}),
        json_response(429, {}, Retry_After="1"),
        json_response(429, {}, Retry_After="1"),
        ME,
    )
    client = make_client(answers, clock, max_attempts=2)

    assert client.get_current_user().uri == USER


def test_ten_429s_in_a_row_give_up_with_rate_limited() -> None:
    clock = FakeClock()
    recorder = Recorder(always(lambda: json_response(429, {}, Retry_After="5")))
    client = make_client(recorder, clock)

    with pytest.raises(errors.RateLimited) as caught:
        client.get_current_user()

    assert len(recorder.requests) == 10
    assert clock.sleeps == [5.0] * 9
    assert caught.value.retryable


def test_a_429_asking_for_a_very_long_wait_is_handed_back_to_the_caller() -> None:
    clock = FakeClock()
    client = make_client(always(lambda: json_response(429, {}, Retry_After="3600")), clock)

    with pytest.raises(errors.RateLimited) as caught:
        client.get_current_user()

    assert caught.value.retry_after == 3600
    assert clock.sleeps == []


def test_a_5xx_on_get_is_retried_with_growing_jittered_backoff() -> None:
    clock = FakeClock()
    failing = json_response(500, {"title": "Internal Server Error", "message": "x"})
    client = make_client(in_turn(failing, json_response(502, None), failing, ME), clock)

    assert client.get_current_user().uri == USER
    first, second, third = clock.sleeps
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0
    assert 1.0 <= third <= 2.0


def test_backoff_never_exceeds_five_seconds_and_attempts_are_bounded() -> None:
    clock = FakeClock()
    recorder = Recorder(always(lambda: json_response(503, None)))
    client = make_client(recorder, clock, max_attempts=8)

    with pytest.raises(errors.ServerError) as caught:
        client.get_current_user()

    assert len(recorder.requests) == 8
    assert max(clock.sleeps) <= 5.0
    assert caught.value.retryable


def test_timeouts_and_dropped_connections_on_get_are_retried() -> None:
    client = make_client(in_turn(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), ME))
    assert client.get_current_user().uri == USER


def test_get_gives_up_with_a_retryable_transport_failure() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    recorder = Recorder(hang)
    client = make_client(recorder, max_attempts=3)

    with pytest.raises(errors.TransportFailure) as caught:
        client.get_current_user()

    assert len(recorder.requests) == 3
    assert caught.value.retryable
    assert caught.value.sent


def test_a_request_that_never_reached_calendly_gives_up_as_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    recorder = Recorder(refuse)
    client = make_client(recorder, max_attempts=3)

    with pytest.raises(errors.Unreachable) as caught:
        client.create_single_use_scheduling_link(event_type=samples.EVENT_TYPE)

    # Tried three times: a request that never left may be sent again, even a create.
    assert len(recorder.sent("POST")) == 3
    assert caught.value.sent is False
    assert caught.value.reason == "ConnectError: refused"


def test_a_5xx_on_a_create_is_not_retried_blindly() -> None:
    recorder = Recorder(always(lambda: json_response(500, {"title": "x", "message": "y"})))
    client = make_client(recorder)

    with pytest.raises(errors.AmbiguousWrite) as caught:
        client.create_single_use_scheduling_link(event_type=samples.EVENT_TYPE)

    assert len(recorder.sent("POST")) == 1
    assert isinstance(caught.value.__cause__, errors.ServerError)


def test_a_create_that_never_left_is_sent_again() -> None:
    link = json_response(201, {"resource": {"booking_url": "https://calendly.com/d/x"}})
    recorder = Recorder(in_turn(httpx.ConnectError("refused"), link))
    client = make_client(recorder)

    assert client.create_single_use_scheduling_link(event_type=samples.EVENT_TYPE).booking_url
    assert len(recorder.sent("POST")) == 2


@pytest.mark.parametrize(
    "lost_answer",
    [
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("peer closed connection"),
        json_response(503, {"title": "Service Unavailable", "message": "x"}),
    ],
    ids=["read-timeout", "connection-reset", "503"],
)
def test_a_data_deletion_request_whose_answer_was_lost_is_not_sent_again(
    lost_answer: Exception | httpx.Response,
) -> None:
    # Calendly keeps no trace of a deletion request to read back, so nothing can reconcile it.
    recorder = Recorder(in_turn(lost_answer))
    client = make_client(recorder)

    with pytest.raises(errors.AmbiguousWrite):
        client.delete_invitee_data(emails=["a@example.com", "b@example.com"])

    assert len(recorder.sent("POST")) == 1


def test_a_data_deletion_request_that_never_left_is_sent_again_and_202_is_success() -> None:
    recorder = Recorder(in_turn(httpx.ConnectError("refused"), json_response(202, {})))
    client = make_client(recorder)

    assert client.delete_invitee_data(emails=["a@example.com"]) is None
    posts = recorder.sent("POST")
    assert len(posts) == 2
    assert posts[-1].url.path == "/data_compliance/deletion/invitees"
    assert json.loads(posts[-1].content) == {"emails": ["a@example.com"]}


class FakeInvitations:
    """Calendly's invitations endpoints, with a switch to lose the answer to a POST."""

    def __init__(self, lose: list[Exception | httpx.Response | None]) -> None:
        self.stored: list[dict[str, object]] = []
        self.lose = lose  # per POST: None answers normally; else the lost-answer outcome
        self.lands = True
        self.listed_late = 0  # how many listings miss a fresh invitation (replica lag)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            email = json.loads(request.content)["email"]
            if any(i["email"] == email for i in self.stored):
                return json_response(400, {"title": "Already Invited", "message": "invited"})
            created = invitation(email=email)
            if self.lands:
                self.stored.append(created)
            outcome = self.lose.pop(0) if self.lose else None
            if isinstance(outcome, Exception):
                raise outcome
            return outcome or json_response(201, {"resource": created})
        if self.listed_late:
            self.listed_late -= 1
            return json_response(200, {"collection": [], "pagination": page_info(None)})
        params = request.url.params
        found = [
            i
            for i in self.stored
            if i["email"] == params["email"] and i["status"] == params["status"]
        ]
        return json_response(200, {"collection": found, "pagination": page_info(None)})


@pytest.mark.parametrize(
    "lost_answer",
    [
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("peer closed connection"),
        json_response(503, {"title": "Service Unavailable", "message": "x"}),
    ],
    ids=["read-timeout", "connection-reset", "503-after-commit"],
)
def test_invitation_is_not_posted_twice_when_the_first_landed_but_its_answer_was_lost(
    lost_answer: Exception | httpx.Response,
) -> None:
    fake = FakeInvitations(lose=[lost_answer])
    recorder = Recorder(fake)
    client = make_client(recorder)

    result = client.invite_user_to_organization(organization=ORG, email="bob@example.com")

    assert isinstance(result, OrganizationInvitation)
    assert result.email == "bob@example.com"
    assert len(recorder.sent("POST")) == 1
    lookup = recorder.sent("GET")[0]
    assert lookup.url.path == "/organizations/ORG1/invitations"
    assert lookup.url.params["email"] == "bob@example.com"
    assert lookup.url.params["status"] == "pending"


def test_invitation_is_sent_once_more_when_the_lost_attempt_did_not_land() -> None:
    fake = FakeInvitations(lose=[httpx.ReadTimeout("no answer")])
    fake.lands = False
    recorder = Recorder(fake)
    client = make_client(recorder)

    def land_from_now_on(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            fake.lands = True
        return fake(request)

    recorder.handler = land_from_now_on

    result = client.invite_user_to_organization(organization=ORG, email="bob@example.com")

    assert result.status == "pending"
    assert len(recorder.sent("POST")) == 2
    assert len(fake.stored) == 1


def test_already_invited_after_a_lost_answer_means_the_first_attempt_landed() -> None:
    fake = FakeInvitations(lose=[httpx.ReadTimeout("no answer")])
    fake.listed_late = 1
    recorder = Recorder(fake)
    client = make_client(recorder)

    result = client.invite_user_to_organization(organization=ORG, email="bob@example.com")

    assert result.email == "bob@example.com"
    assert len(recorder.sent("POST")) == 2
    assert len(fake.stored) == 1


def test_invitation_whose_outcome_stays_unknown_raises_ambiguous_write() -> None:
    fake = FakeInvitations(lose=[httpx.ReadTimeout("no answer"), httpx.ReadTimeout("again")])
    fake.lands = False
    recorder = Recorder(fake)
    client = make_client(recorder)

    with pytest.raises(errors.AmbiguousWrite) as caught:
        client.invite_user_to_organization(organization=ORG, email="bob@example.com")

    assert len(recorder.sent("POST")) == 2
    assert "not listed" in str(caught.value)


def test_invitation_is_not_resent_when_reading_back_fails() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadTimeout("no answer")
        return json_response(503, None)

    recorder = Recorder(handler)
    client = make_client(recorder)

    with pytest.raises(errors.AmbiguousWrite, match="reading it back failed"):
        client.invite_user_to_organization(organization=ORG, email="bob@example.com")

    assert len(recorder.sent("POST")) == 1


def test_already_invited_on_the_first_try_is_reported_to_the_caller() -> None:
    fake = FakeInvitations(lose=[])
    fake.stored.append(invitation(email="bob@example.com"))
    client = make_client(fake)

    with pytest.raises(errors.AlreadyInvited):
        client.invite_user_to_organization(organization=ORG, email="bob@example.com")


def test_race_condition_on_an_invitation_is_tried_again() -> None:
    race = json_response(400, {"title": "Race Condition", "message": "Please try again."})
    created = json_response(201, {"resource": invitation()})
    clock = FakeClock()
    recorder = Recorder(in_turn(race, created))
    client = make_client(recorder, clock)

    assert client.invite_user_to_organization(organization=ORG, email="bob@example.com")
    assert len(recorder.sent("POST")) == 2
    assert len(clock.sleeps) == 1


def test_webhook_subscription_is_found_by_url_instead_of_being_created_twice() -> None:
    url = "https://portal.example.com/hooks/calendly"
    created: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            created.append(samples.webhook(url))
            raise httpx.ReadTimeout("no answer")
        others = [samples.webhook("https://elsewhere.example.com/")]
        body = {"collection": others + created, "pagination": page_info(None)}
        return json_response(200, body)

    recorder = Recorder(handler)
    client = make_client(recorder)

    result = client.create_webhook_subscription(
        url=url, events=["invitee.created"], organization=ORG, scope="organization"
    )

    assert result.callback_url == url
    assert len(recorder.sent("POST")) == 1
    assert recorder.sent("GET")[0].url.params["scope"] == "organization"


def test_a_delete_whose_answer_was_lost_counts_a_later_404_as_done() -> None:
    gone = json_response(404, {"title": "Resource Not Found", "message": "x"})
    recorder = Recorder(in_turn(httpx.ReadTimeout("no answer"), gone))
    client = make_client(recorder)

    client.delete_webhook_subscription(webhook_subscription=samples.WEBHOOK)

    assert len(recorder.sent("DELETE")) == 2


def test_a_404_on_the_first_delete_is_still_an_error() -> None:
    gone = json_response(404, {"title": "Resource Not Found", "message": "x"})
    client = make_client(in_turn(gone))

    with pytest.raises(errors.NotFound):
        client.delete_share(share=samples.SHARE)


def test_deleting_subscriptions_for_our_url_leaves_the_others_alone() -> None:
    ours = "https://portal.example.com/hooks/calendly"
    subscriptions = [
        {**samples.webhook(ours), "uri": f"{samples.API}/webhook_subscriptions/A"},
        {**samples.webhook("https://zapier.example.com/"), "uri": f"{samples.API}/x/B"},
        {**samples.webhook(ours), "uri": f"{samples.API}/webhook_subscriptions/C"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return json_response(200, {"collection": subscriptions, "pagination": page_info(None)})
        return httpx.Response(204)

    recorder = Recorder(handler)
    client = make_client(recorder)

    deleted = client.delete_webhook_subscriptions_for_url(
        callback_url=ours, organization=ORG, scope="organization"
    )

    assert [d.rsplit("/", 1)[1] for d in deleted] == ["A", "C"]
    assert [r.url.path for r in recorder.sent("DELETE")] == [
        "/webhook_subscriptions/A",
        "/webhook_subscriptions/C",
    ]


def test_raw_request_stays_on_the_api_host() -> None:
    recorder = Recorder(samples.answer)
    client = make_client(recorder)

    assert client.raw_request(method="get", path="/users/me")["resource"]["uri"] == USER
    assert client.raw_request(method="DELETE", path="/shares/SH1") is None
    for bad in ("https://evil.example.com/steal", "//evil.example.com/x", "users/me"):
        with pytest.raises(ValueError, match="path"):
            client.raw_request(method="GET", path=bad)
    assert len(recorder.requests) == 2


def test_an_answer_that_does_not_fit_the_model_is_an_unexpected_response() -> None:
    client = make_client(always(lambda: json_response(200, {"resource": {"uri": USER}})))

    with pytest.raises(errors.UnexpectedResponse, match="User did not validate"):
        client.get_current_user()


def test_sample_webhook_data_is_a_typed_payload() -> None:
    client = make_client(samples.answer)

    sample = client.get_sample_webhook_data(
        event="invitee.created", organization=ORG, scope="organization"
    )

    assert sample.event == "invitee.created"
    assert sample.invitee().email == "eve@example.com"
