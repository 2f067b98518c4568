"""Calendly's answers as the portal's error classes, and the sentences people read about them.

The bodies are Calendly's own, as its API reference and error pages give them."""

from __future__ import annotations

import httpx
import pytest

from portal.calendly import errors
from portal.calendly.client import _transport_failure
from portal.calendly.errors import error_from_oauth_response, error_from_response, explain

SEATS = (
    "You already sent all the invitations you're allotted based upon the number of seats "
    "purchased with your account. Please purchase more seats to send more invitations."
)
TRIAL = "You already sent all the invitations allotted to you with a trial account."
SCIM = "You cannot perform this action for an organization with SCIM enabled."
DATA_REQUESTS = (
    "You must be an admin/owner with the data requests permission enabled to use this resource. "
    "Contact Calendly support and ask them to grant you data requests permission."
)


def refused(message: str, title: str = "Permission Denied") -> errors.CalendlyError:
    return error_from_response(403, {"title": title, "message": message})


def invalid(title: str, message: str = "") -> errors.CalendlyError:
    return error_from_response(400, {"title": title, "message": message})


# -- recognising an answer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Invalid Argument", errors.BadRequest),
        ("Already Invited", errors.AlreadyInvited),
        ("Already Organization Member", errors.AlreadyOrganizationMember),
        ("Invitation Already Accepted", errors.InvitationAlreadyAccepted),
        ("Race Condition", errors.RaceCondition),
    ],
)
def test_a_400_is_told_apart_by_its_title(title: str, expected: type[errors.CalendlyError]) -> None:
    assert type(invalid(title, "whatever it says")) is expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("ana@example.com has already been invited", errors.AlreadyInvited),
        ("ana@example.com is already in the organization", errors.AlreadyOrganizationMember),
        ("The invitation has already been accepted.", errors.InvitationAlreadyAccepted),
        ("A race condition occurred. Please try the request again.", errors.RaceCondition),
        ("The supplied parameters are invalid.", errors.BadRequest),
    ],
)
def test_a_400_under_the_exports_placeholder_title_is_told_apart_by_its_message(
    message: str, expected: type[errors.CalendlyError]
) -> None:
    assert type(invalid("Internal Server Error", message)) is expected


def test_only_a_race_condition_among_the_400s_is_worth_trying_again() -> None:
    assert invalid("Race Condition").retryable
    assert not invalid("Already Invited").retryable


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (SEATS, errors.SeatsExhausted),
        (TRIAL, errors.SeatsExhausted),
        (SCIM, errors.ScimManaged),
        ("Please upgrade your Calendly account to Enterprise.", errors.UpgradeRequired),
        ("Please upgrade to a paid Calendly account.", errors.UpgradeRequired),
        ("You do not have permission", errors.PermissionDenied),
        ("This user is not in your organization", errors.PermissionDenied),
        ("You can not change owner role", errors.CannotRemoveOwner),
        ("You can not remove yourself from organization", errors.CannotRemoveSelf),
        (DATA_REQUESTS, errors.DataRequestsNotPermitted),
    ],
)
def test_a_403_is_told_apart_by_its_message(
    message: str, expected: type[errors.CalendlyError]
) -> None:
    error = refused(message)
    assert type(error) is expected
    assert isinstance(error, errors.PermissionDenied)
    assert error.permanent


@pytest.mark.parametrize(
    ("message", "plan"),
    [
        ("Please upgrade your Calendly account to Enterprise.", "Enterprise"),
        ("Please upgrade to a paid Calendly account.", "a paid Calendly account"),
        ("Please upgrade your Calendly account to Professional.", "Professional"),
        ("Please upgrade your Calendly account to Standard", "Standard"),
    ],
)
def test_an_upgrade_refusal_keeps_the_plan_calendly_asks_for(message: str, plan: str) -> None:
    error = refused(message)
    assert isinstance(error, errors.UpgradeRequired)
    assert error.plan == plan


def test_a_missing_scope_is_recognised_by_title_or_by_its_list_of_scopes() -> None:
    by_title = error_from_response(
        403,
        {
            "title": "Insufficient scope",
            "message": "This operation requires the scopes listed in the 'required_scopes' array.",
            "required_scopes": ["organizations:write"],
        },
    )
    by_list = error_from_response(
        403, {"title": "Internal Server Error", "message": "", "required_scopes": ["groups:read"]}
    )
    assert isinstance(by_title, errors.InsufficientScope)
    assert by_title.required_scopes == ("organizations:write",)
    assert isinstance(by_list, errors.InsufficientScope)
    assert by_list.required_scopes == ("groups:read",)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"title": "Unauthenticated", "message": "invalid"}, errors.Unauthenticated),
        (404, {"title": "Resource Not Found", "message": "gone"}, errors.NotFound),
        (409, {"title": "Already Exists", "message": "Hook exists"}, errors.Conflict),
        (429, None, errors.RateLimited),
        (500, {"title": "Internal Server Error", "message": "x"}, errors.ServerError),
        (503, "<html>Service Unavailable</html>", errors.ServerError),
        (424, {"title": "External Calendar Error", "message": "x"}, errors.CalendlyError),
        # Status first: no title or message makes another status's error.
        (404, {"title": "Internal Server Error", "message": SCIM}, errors.NotFound),
        (500, {"title": "Already Invited", "message": SEATS}, errors.ServerError),
        (401, {"title": "Permission Denied", "message": SEATS}, errors.Unauthenticated),
    ],
)
def test_the_status_decides_first(
    status: int, body: object, expected: type[errors.CalendlyError]
) -> None:
    assert type(error_from_response(status, body)) is expected


def test_a_transport_failure_that_never_left_is_unreachable() -> None:
    never_sent = _transport_failure(httpx.ConnectError("refused"))
    lost = _transport_failure(httpx.ReadTimeout("slow"))

    assert type(never_sent) is errors.Unreachable
    assert never_sent.sent is False
    assert never_sent.retryable
    assert type(lost) is errors.TransportFailure
    assert lost.sent is True


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": "invalid_grant", "error_description": "used"}, errors.InvalidGrant),
        (401, {"error": "invalid_client", "error_description": "bad"}, errors.InvalidClient),
        (401, None, errors.InvalidClient),
        (429, {"error": "rate_limited"}, errors.OAuthRateLimited),
        (502, None, errors.AmbiguousTokenResponse),
        (400, {"error": "invalid_request", "error_description": "x"}, errors.OAuthError),
    ],
)
def test_the_oauth_servers_answers_become_their_own_errors(
    status: int, body: object, expected: type[errors.CalendlyError]
) -> None:
    assert type(error_from_oauth_response(status, body, retry_after=12)) is expected


def test_the_log_line_keeps_what_calendly_said() -> None:
    error = error_from_response(
        400,
        {
            "title": "Invalid Argument",
            "message": "The supplied parameters are invalid.",
            "details": [{"parameter": "email", "message": "must be filled"}],
        },
    )
    assert str(error) == (
        "BadRequest: Calendly answered 400 Invalid Argument: The supplied parameters are invalid "
        "(email: must be filled); not retryable."
    )
    assert str(error_from_response(429, None, retry_after=12)) == (
        "RateLimited: Calendly answered 429; retryable after 12 s."
    )


# -- in words for a person ---------------------------------------------------------------------


def test_no_free_seats_says_where_to_add_them() -> None:
    assert explain(refused(SEATS)) == (
        "No free seats: every seat the organization pays for (or its trial allows) is taken or "
        "already invited. Add seats on Calendly's billing page, then try again."
    )


def test_a_scim_managed_organization_is_sent_to_its_identity_provider() -> None:
    assert explain(refused(SCIM), doing="removing Ana Lima") == (
        "Your organization manages its members through SCIM (your identity provider), so "
        "Calendly refuses removing Ana Lima from the portal. Make the change in your identity "
        "provider."
    )


def test_an_accepted_invitation_points_to_removing_the_member() -> None:
    error = invalid("Invitation Already Accepted", "The invitation has already been accepted.")
    assert explain(error, doing="revoking the invitation of ana@example.com") == (
        "Calendly refused revoking the invitation of ana@example.com: the invitation was already "
        "accepted, so the person is a member now. Remove them as a member instead."
    )


def test_duplicates_are_said_as_calendly_said_them() -> None:
    assert explain(invalid("Already Invited")) == "Already invited (says Calendly); still pending."
    assert explain(invalid("Already Organization Member")) == "Already a member (says Calendly)."


def test_a_missing_scope_names_the_scopes_to_allow() -> None:
    error = error_from_response(403, {"required_scopes": ["groups:read", "teams:read"]})
    assert explain(error, doing="listing groups") == (
        "The organization's Calendly connection lacks the permission for listing groups "
        "(groups:read, teams:read). An owner or admin needs to connect again and allow it."
    )


def test_a_plan_refusal_names_the_plan_calendly_asks_for() -> None:
    error = refused("Please upgrade your Calendly account to Enterprise.")
    assert explain(error, doing="listing groups") == (
        "The organization's Calendly plan does not include listing groups: Calendly asks for an "
        "upgrade to Enterprise."
    )
    assert explain(refused("Please upgrade to a paid Calendly account.")) == (
        "The organization's Calendly plan does not include this: Calendly asks for an upgrade to "
        "a paid Calendly account."
    )


def test_data_deletion_without_the_data_requests_permission_points_to_calendly_support() -> None:
    assert explain(refused(DATA_REQUESTS), doing="requesting data deletion") == (
        "Calendly refused requesting data deletion: it needs an owner or admin account that "
        'Calendly support has given the "data requests" permission, and the connected account '
        "is not one. Ask Calendly support to grant it (or connect the portal as an owner or "
        "admin who has it), then resume."
    )


def test_any_other_refusal_quotes_calendly() -> None:
    assert explain(refused("You do not have permission")) == (
        "Calendly refused this: the connected account is not allowed to do it (You do not have "
        "permission). An owner or admin may need to connect with their own account."
    )
    assert explain(error_from_response(424, {"message": "Calendar error."})) == (
        "Calendly refused this: Calendar error."
    )


def test_a_refused_token_asks_for_connecting_again() -> None:
    error = error_from_response(401, {"title": "Unauthenticated"})
    assert explain(error, doing="listing members") == (
        "Calendly refused the organization's connection while listing members: its access was "
        "revoked or has expired. An owner or admin needs to connect the organization again."
    )


def test_a_connection_without_a_usable_token_asks_for_connecting_again() -> None:
    error = errors.TokenUnavailable(message="Refreshing the access token failed")
    assert explain(error) == (
        "The Calendly connection needs attention: Refreshing the access token failed. An owner "
        "or admin needs to connect the organization again."
    )


def test_rate_limiting_says_when_to_try_again() -> None:
    assert explain(error_from_response(429, None, retry_after=42.4)) == (
        "Calendly is pacing the portal: the connected user has used up their requests for the "
        "minute. Try again in about 42 seconds."
    )
    assert explain(error_from_response(429, None)).endswith("Try again in a minute.")


def test_calendly_out_of_reach_changed_nothing_even_for_a_change() -> None:
    error = errors.Unreachable(reason="ConnectError: refused")
    expected = (
        "Calendly could not be reached while inviting; nothing was changed (ConnectError: "
        "refused). Try again in a few minutes."
    )
    assert explain(error, doing="inviting") == expected
    assert explain(error, doing="inviting", changing=True) == expected


def test_a_failure_on_a_read_is_worth_trying_again() -> None:
    assert explain(error_from_response(500, None), doing="listing members") == (
        "Calendly failed while listing members (it answered 500). Try again in a few minutes."
    )
    lost = errors.TransportFailure(reason="ReadTimeout: slow", sent=True)
    assert explain(lost, doing="listing members") == (
        "Calendly did not answer while listing members (ReadTimeout: slow). Try again in a few "
        "minutes."
    )


@pytest.mark.parametrize(
    "error",
    [
        error_from_response(500, None),
        errors.TransportFailure(reason="ReadTimeout: slow", sent=True),
        errors.AmbiguousWrite(message="sent twice without an answer"),
    ],
)
def test_a_change_calendly_may_have_made_is_said_to_be_uncertain(
    error: errors.CalendlyError,
) -> None:
    assert explain(error, doing="removing Ana Lima", changing=True) == (
        "Calendly did not answer properly while removing Ana Lima, so it is not certain the "
        "change was made. Check Calendly's current state in a minute before trying again, so "
        "nothing is done twice."
    )


def test_the_sign_in_services_refusals_say_what_to_do() -> None:
    grant = error_from_oauth_response(400, {"error": "invalid_grant"})
    assert explain(grant, doing="signing you in") == (
        "Calendly refused the sign-in code or token while signing you in: it expired, was "
        "already used, or was revoked. Start again."
    )
    client = error_from_oauth_response(401, {"error": "invalid_client"})
    assert explain(client).endswith("need to check its client id and secret.")
    limited = error_from_oauth_response(429, {}, retry_after=60)
    assert explain(limited).endswith("Try again in a minute.")


def test_the_owner_and_the_connected_account_cannot_be_removed_and_say_what_to_do() -> None:
    owner = explain(refused("You can not change owner role"), doing="offboarding ana@example.com")
    assert owner == (
        "Calendly refused offboarding ana@example.com: this person owns the organization, and "
        "the owner cannot be removed. Transfer ownership in Calendly's admin center first."
    )
    assert "Connect the portal as another admin first." in explain(
        refused("You can not remove yourself from organization")
    )
