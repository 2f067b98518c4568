"""The client against the sandbox over real HTTP: two implementations of Calendly's API,
written separately from the spec and the notes, meeting in the middle."""

from __future__ import annotations

import pytest

from portal.calendly.client import CalendlyClient
from portal.calendly.errors import (
    AlreadyInvited,
    AlreadyOrganizationMember,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from portal.calendly.ratelimit import LocalRateLimiter
from tests.sandbox_plugin import RunningSandbox, SandboxFactory


def client_for(sandbox: RunningSandbox, token: str | None = None) -> CalendlyClient:
    # No real sleeping in tests: waits are recorded, and the sandbox's clock is not wall time.
    return CalendlyClient(
        token=token or sandbox.owner_token,
        base_url=sandbox.url,
        limiter=LocalRateLimiter(),
        sleep=lambda seconds: None,
    )


def test_listing_every_member_follows_the_pages_with_the_same_filters(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(members=250)
    with client_for(sandbox) as client:
        organization = client.get_current_user().current_organization
        members = list(client.list_organization_memberships(organization=organization))
    assert len(members) == 250
    assert len({m.uri for m in members}) == 250
    # ceil(250 / 100) pages, nothing more.
    assert sandbox.requests.count("GET /organization_memberships") == 3


def test_an_invitation_can_be_sent_found_and_revoked(sandbox: RunningSandbox) -> None:
    with client_for(sandbox) as client:
        organization = client.get_current_user().current_organization
        invitation = client.invite_user_to_organization(
            organization=organization, email="new.hire@example.com"
        )
        assert invitation.status == "pending"
        listed = list(
            client.list_organization_invitations(
                organization=organization, email="new.hire@example.com"
            )
        )
        assert [i.uri for i in listed] == [invitation.uri]
        client.revoke_user_organization_invitation(invitation=invitation.uri)
        with pytest.raises(NotFound):
            client.get_organization_invitation(invitation=invitation.uri)


def test_duplicate_invitations_and_members_are_recognised(sandbox: RunningSandbox) -> None:
    with client_for(sandbox) as client:
        organization = client.get_current_user().current_organization
        client.invite_user_to_organization(organization=organization, email="twice@example.com")
        with pytest.raises(AlreadyInvited):
            client.invite_user_to_organization(organization=organization, email="twice@example.com")
        with pytest.raises(AlreadyOrganizationMember):
            client.invite_user_to_organization(
                organization=organization, email=sandbox.admins[0].email
            )


def test_an_invitation_whose_answer_was_lost_is_not_sent_twice(sandbox: RunningSandbox) -> None:
    # The sandbox applies the write, then closes the connection without answering.
    sandbox.inject_fault("drop")
    with client_for(sandbox) as client:
        organization = client.get_current_user().current_organization
        invitation = client.invite_user_to_organization(
            organization=organization, email="lost.answer@example.com"
        )
        pending = list(
            client.list_organization_invitations(
                organization=organization, email="lost.answer@example.com"
            )
        )
    assert invitation.email == "lost.answer@example.com"
    assert len(pending) == 1
    assert sandbox.requests.count("POST /organizations/{uuid}/invitations") == 1


def test_server_errors_on_reads_are_retried(sandbox: RunningSandbox) -> None:
    sandbox.inject_fault("error", times=2)
    with client_for(sandbox) as client:
        assert client.get_current_user().email == sandbox.owner.email
    assert sandbox.requests.count("GET /users/me") == 3


class NeverPaces:
    """A limiter that lets everything through, so only the sandbox's 429 can stop the client."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def acquire(self) -> float:
        return 0.0

    def observe(self, *, limit: int | None, remaining: int | None, reset: float | None) -> None:
        return None

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.mark.parametrize("retry_after", [False, True])
def test_a_429_makes_the_client_wait_as_told_and_then_succeed(
    sandbox_factory: SandboxFactory, retry_after: bool
) -> None:
    sandbox = sandbox_factory(rate_limit=(5, 60), retry_after=retry_after)
    limiter = NeverPaces()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        sandbox.advance(seconds)

    with CalendlyClient(
        token=sandbox.owner_token, base_url=sandbox.url, limiter=limiter, sleep=sleep
    ) as client:
        for _ in range(7):
            client.get_current_user()

    # Five answered, the sixth refused with 429, retried after the wait, the seventh answered.
    assert sandbox.requests.count("GET /users/me") == 8
    assert len(limiter.pauses) == 1
    assert waits == limiter.pauses
    assert 0 < waits[0] <= 60


def test_plain_members_are_refused_organization_wide_calls(sandbox: RunningSandbox) -> None:
    with client_for(sandbox, sandbox.user_token) as client:
        organization = client.get_current_user().current_organization
        with pytest.raises(PermissionDenied):
            client.invite_user_to_organization(organization=organization, email="x@example.com")


def test_an_unknown_token_is_unauthenticated(sandbox: RunningSandbox) -> None:
    with client_for(sandbox, "not-a-token") as client, pytest.raises(Unauthenticated):
        client.get_current_user()


def test_event_types_across_the_organization_carry_scheduling_links(
    sandbox: RunningSandbox,
) -> None:
    with client_for(sandbox) as client:
        organization = client.get_current_user().current_organization
        event_types = list(client.list_event_types(organization=organization))
    assert event_types
    assert all(e.scheduling_url.startswith(sandbox.url) for e in event_types)
    assert {e.pooling_type for e in event_types} >= {None, "round_robin", "collective"}
