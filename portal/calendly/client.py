"""The Calendly API v2 client: the one place that sends HTTP to Calendly.

One method per operation. Methods take keyword-only arguments and full Calendly URIs (path
parameters are cut from the URI's last segments), and return the pydantic models of
`calendly.schemas`. List methods are generators that fetch one page of 100 at a time while you
iterate; the three list endpoints without pagination return plain lists.

Failures are `calendly.errors.CalendlyError`s. What the client retries by itself:
- GET and DELETE: timeouts, connection errors and 5xx, up to `max_attempts` in all, with jittered
  exponential backoff (0.5 s doubling, capped at 5 s).
- Anything answered 429: wait for `Retry-After` (or `X-RateLimit-Reset`) and send again. A 429
  means nothing happened, so it never uses up an attempt; ten in a row raise `RateLimited`.
- Any request that provably never left (connect errors), and 400 "Race Condition" on invitations,
  which Calendly documents as "try again".
A POST that creates something is never replayed blindly: if its outcome is unknown (timeout after
sending, reset connection, 5xx) the client raises `AmbiguousWrite`, except where it can read the
result back. `invite_user_to_organization` lists the organization's pending invitations for that
email, and `create_webhook_subscription` lists the subscriptions with that callback URL; found
means it landed and is returned, not found means one more POST, still unknown means
`AmbiguousWrite`. Single-use links and shares cannot be listed back, so they raise at once.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib.metadata
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from django.conf import settings
from pydantic import BaseModel, ValidationError

from portal.calendly.auth import RenewingBearerAuth, StaticToken, TokenSource
from portal.calendly.errors import (
    AlreadyInvited,
    AmbiguousWrite,
    CalendlyError,
    Conflict,
    RaceCondition,
    ServerError,
    TransportFailure,
    UnexpectedResponse,
    Unreachable,
    error_from_response,
)
from portal.calendly.ratelimit import RateLimiter, limiter_for
from portal.calendly.schemas import (
    ActivityLogEntry,
    AvailabilitySchedule,
    BusyTime,
    Cancellation,
    EventType,
    EventTypeAvailableTime,
    EventTypeMembership,
    Group,
    GroupRelationship,
    Invitee,
    InviteeNoShow,
    Organization,
    OrganizationInvitation,
    OrganizationMembership,
    RoutingForm,
    RoutingFormSubmission,
    ScheduledEvent,
    SchedulingLink,
    Share,
    Team,
    User,
    WebhookPayload,
    WebhookSubscription,
    uuid_of,
)

# Seed operation key (integration component's action list) -> client method.
OPERATIONS: dict[str, str] = {
    "cancelEvent": "cancel_event",
    "createShare": "create_share",
    "createSingleUseSchedulingLink": "create_single_use_scheduling_link",
    "createWebhookSubscription": "create_webhook_subscription",
    "deleteInstancedWebhooks": "delete_webhook_subscriptions_for_url",
    "deleteInviteeData": "delete_invitee_data",
    "deleteScheduledEventData": "delete_scheduled_event_data",
    "deleteWebhookSubscription": "delete_webhook_subscription",
    "getCurrentUser": "get_current_user",
    "getEvent": "get_scheduled_event",
    "getEventInvitee": "get_invitee",
    "getEventType": "get_event_type",
    "getOrganizationInvitation": "get_organization_invitation",
    "getOrganizationMembership": "get_organization_membership",
    "getRoutingForm": "get_routing_form",
    "getRoutingFormSubmission": "get_routing_form_submission",
    "getUser": "get_user",
    "getUserAvailabilitySchedule": "get_user_availability_schedule",
    "getWebhookSubscription": "get_webhook_subscription",
    "inviteUserToOrganization": "invite_user_to_organization",
    "listActivityLogEntries": "list_activity_log_entries",
    "listEventInvitees": "list_invitees",
    "listEventTypeAvailableTimes": "list_event_type_available_times",
    "listEvents": "list_scheduled_events",
    "listOrganizationInvitations": "list_organization_invitations",
    "listOrganizationMemberships": "list_organization_memberships",
    "listRoutingFormSubmissions": "list_routing_form_submissions",
    "listRoutingForms": "list_routing_forms",
    "listUserAvailabilitySchedules": "list_user_availability_schedules",
    "listUserBusyTimes": "list_user_busy_times",
    "listUserEventTypes": "list_event_types",
    "listWebhookSubscription": "list_webhook_subscriptions",
    "rawRequest": "raw_request",
    "removeUserFromOrganization": "remove_user_from_organization",
    "revokeUserOrganizationInvitation": "revoke_user_organization_invitation",
}

DEFAULT_TIMEOUT = httpx.Timeout(connect=5, read=20, write=20, pool=5)
DEFAULT_MAX_ATTEMPTS = 4
MAX_CONSECUTIVE_429 = 10
BACKOFF_BASE = 0.5
BACKOFF_CAP = 5.0
PAGE_SIZE = 100
# When a 429 carries neither Retry-After nor X-RateLimit-Reset, wait out a whole window.
FALLBACK_RATE_LIMIT_WAIT = 60.0
# Waits longer than this are handed back to the caller (RateLimited / the 5xx error, with
# retry_after set): a worker should reschedule the item, not sleep through it.
LONGEST_WAIT = 120.0

type QueryValue = str | int | bool
type Query = dict[str, QueryValue]
type Body = dict[str, Any]


def _version() -> str:
    try:
        return importlib.metadata.version("calendly-portal")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"calendly-admin-portal/{_version()}"


class CalendlyClient:
    def __init__(
        self,
        *,
        token: str | None = None,
        tokens: TokenSource | None = None,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
        rate_limit_key: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Give `token` (used as it is) or `tokens` (asked for a token on every request, so
        long work outlives an access token: see `calendly.auth`).

        `limiter` should be `limiter_for(<Calendly user URI>, settings.REDIS_URL)` wherever
        several processes use the same Calendly user; without one, clients in this process
        share a local limiter per `rate_limit_key` (default: a fingerprint of the token)."""
        if (token is None) == (tokens is None):
            raise ValueError("CalendlyClient needs exactly one of token= and tokens=")
        source = tokens if tokens is not None else StaticToken(str(token))
        if limiter is None:
            key = rate_limit_key or hashlib.sha256(source.current().encode()).hexdigest()[:16]
            limiter = limiter_for(key)
        self._limiter = limiter
        self._sleep = sleep
        self._max_attempts = max(1, max_attempts)
        # Jitter only spreads retries out; it needs no cryptographic quality.
        self._random = random.Random()  # noqa: S311
        self._http = httpx.Client(
            base_url=base_url if base_url is not None else settings.CALENDLY_API_URL,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            auth=RenewingBearerAuth(source),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CalendlyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- users and organization -----------------------------------------------------------

    def get_current_user(self) -> User:
        return self._get("/users/me", User)

    def get_user(self, *, user: str) -> User:
        return self._get(f"/users/{_id(user, 'user')}", User)

    def get_organization(self, *, organization: str) -> Organization:
        return self._get(f"/organizations/{_id(organization, 'organization')}", Organization)

    def list_organization_memberships(
        self,
        *,
        organization: str | None = None,
        user: str | None = None,
        email: str | None = None,
        role: str | None = None,
    ) -> Iterator[OrganizationMembership]:
        query = _query(organization=_uri_or_none(organization, "organization"))
        query |= _query(user=_uri_or_none(user, "user"), email=email, role=role)
        return self._paginate("/organization_memberships", query, OrganizationMembership)

    def get_organization_membership(self, *, membership: str) -> OrganizationMembership:
        path = f"/organization_memberships/{_id(membership, 'membership')}"
        return self._get(path, OrganizationMembership)

    def remove_user_from_organization(self, *, membership: str) -> None:
        self._delete(f"/organization_memberships/{_id(membership, 'membership')}")

    def list_organization_invitations(
        self,
        *,
        organization: str,
        email: str | None = None,
        status: str | None = None,
        sort: str | None = None,
    ) -> Iterator[OrganizationInvitation]:
        path = f"/organizations/{_id(organization, 'organization')}/invitations"
        query = _query(email=email, status=status, sort=sort)
        return self._paginate(path, query, OrganizationInvitation)

    def get_organization_invitation(self, *, invitation: str) -> OrganizationInvitation:
        return self._get(_invitation_path(invitation), OrganizationInvitation)

    def invite_user_to_organization(
        self, *, organization: str, email: str
    ) -> OrganizationInvitation:
        """Send the invitation email. Raises AlreadyInvited / AlreadyOrganizationMember when
        Calendly says so on the first try; see the module docstring for lost answers."""
        path = f"/organizations/{_id(organization, 'organization')}/invitations"

        def find() -> OrganizationInvitation | None:
            # Only a pending invitation can be ours: an old declined one for the same address
            # would otherwise pass for a POST that never landed.
            wanted = email.casefold()
            pending = self.list_organization_invitations(
                organization=organization, email=email, status="pending"
            )
            return next((i for i in pending if i.email.casefold() == wanted), None)

        return self._create_reconciled(
            create=lambda: self._post(path, {"email": email}, OrganizationInvitation),
            find=find,
            duplicate=AlreadyInvited,
            what=f"invitation for {email}",
        )

    def revoke_user_organization_invitation(self, *, invitation: str) -> None:
        self._delete(_invitation_path(invitation))

    def list_groups(self, *, organization: str) -> Iterator[Group]:
        return self._paginate(
            "/groups", _query(organization=_uri(organization, "organization")), Group
        )

    def get_group(self, *, group: str) -> Group:
        return self._get(f"/groups/{_id(group, 'group')}", Group)

    def list_group_relationships(
        self,
        *,
        organization: str | None = None,
        group: str | None = None,
        owner: str | None = None,
    ) -> Iterator[GroupRelationship]:
        query = _query(
            organization=_uri_or_none(organization, "organization"),
            group=_uri_or_none(group, "group"),
            owner=_uri_or_none(owner, "owner"),
        )
        return self._paginate("/group_relationships", query, GroupRelationship)

    def get_group_relationship(self, *, relationship: str) -> GroupRelationship:
        path = f"/group_relationships/{_id(relationship, 'relationship')}"
        return self._get(path, GroupRelationship)

    def list_teams(self, *, user: str | None = None) -> Iterator[Team]:
        return self._paginate("/teams", _query(user=_uri_or_none(user, "user")), Team)

    def get_team(self, *, team: str) -> Team:
        return self._get(f"/teams/{_id(team, 'team')}", Team)

    def list_activity_log_entries(
        self,
        *,
        organization: str,
        search_term: str | None = None,
        actor: Sequence[str] | None = None,
        namespace: Sequence[str] | None = None,
        action: Sequence[str] | None = None,
        min_occurred_at: datetime | str | None = None,
        max_occurred_at: datetime | str | None = None,
        sort: Sequence[str] | None = None,
    ) -> Iterator[ActivityLogEntry]:
        query = _query(
            organization=_uri(organization, "organization"),
            search_term=search_term,
            # Array filters are comma-separated (style=form, explode=false).
            actor=_csv([_uri(a, "actor") for a in actor] if actor else None),
            namespace=_csv(namespace),
            action=_csv(action),
            min_occurred_at=_timestamp(min_occurred_at),
            max_occurred_at=_timestamp(max_occurred_at),
            sort=_csv(sort),
        )
        return self._paginate("/activity_log_entries", query, ActivityLogEntry)

    def delete_invitee_data(self, *, emails: Sequence[str]) -> None:
        """Ask Calendly to erase these invitees' data (Enterprise; asynchronous, no status)."""
        self._post_no_content("/data_compliance/deletion/invitees", {"emails": list(emails)})

    def delete_scheduled_event_data(
        self, *, start_time: datetime | str, end_time: datetime | str
    ) -> None:
        body = {"start_time": _timestamp(start_time), "end_time": _timestamp(end_time)}
        self._post_no_content("/data_compliance/deletion/events", body)

    # -- event types, availability and links ------------------------------------------------

    def list_event_types(
        self,
        *,
        organization: str | None = None,
        user: str | None = None,
        active: bool | None = None,
        admin_managed: bool | None = None,
        user_availability_schedule: str | None = None,
        sort: str | None = None,
    ) -> Iterator[EventType]:
        if organization is None and user is None:
            raise ValueError("list_event_types needs an organization or a user URI")
        query = _query(
            organization=_uri_or_none(organization, "organization"),
            user=_uri_or_none(user, "user"),
            active=active,
            admin_managed=admin_managed,
            user_availability_schedule=_uri_or_none(user_availability_schedule, "schedule"),
            sort=sort,
        )
        return self._paginate("/event_types", query, EventType)

    def get_event_type(self, *, event_type: str) -> EventType:
        return self._get(f"/event_types/{_id(event_type, 'event_type')}", EventType)

    def list_event_type_memberships(self, *, event_type: str) -> Iterator[EventTypeMembership]:
        query = _query(event_type=_uri(event_type, "event_type"))
        return self._paginate("/event_type_memberships", query, EventTypeMembership)

    def list_event_type_available_times(
        self, *, event_type: str, start_time: datetime | str, end_time: datetime | str
    ) -> list[EventTypeAvailableTime]:
        query = _query(
            event_type=_uri(event_type, "event_type"),
            start_time=_timestamp(start_time),
            end_time=_timestamp(end_time),
        )
        return self._list("/event_type_available_times", query, EventTypeAvailableTime)

    def list_user_availability_schedules(self, *, user: str) -> list[AvailabilitySchedule]:
        query = _query(user=_uri(user, "user"))
        return self._list("/user_availability_schedules", query, AvailabilitySchedule)

    def get_user_availability_schedule(self, *, schedule: str) -> AvailabilitySchedule:
        path = f"/user_availability_schedules/{_id(schedule, 'schedule')}"
        return self._get(path, AvailabilitySchedule)

    def list_user_busy_times(
        self, *, user: str, start_time: datetime | str, end_time: datetime | str
    ) -> list[BusyTime]:
        query = _query(
            user=_uri(user, "user"),
            start_time=_timestamp(start_time),
            end_time=_timestamp(end_time),
        )
        return self._list("/user_busy_times", query, BusyTime)

    def create_single_use_scheduling_link(self, *, event_type: str) -> SchedulingLink:
        # max_event_count only accepts 1; the integer is what Calendly's own examples send.
        body = {
            "max_event_count": 1,
            "owner": _uri(event_type, "event_type"),
            "owner_type": "EventType",
        }
        return self._post("/scheduling_links", body, SchedulingLink)

    def create_share(
        self,
        *,
        event_type: str,
        name: str | None = None,
        duration: int | None = None,
        duration_options: Sequence[int] | None = None,
        period_type: str | None = None,
        start_date: date | str | None = None,
        end_date: date | str | None = None,
        max_booking_time: int | None = None,
        hide_location: bool | None = None,
        location_configurations: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        availability_rule: Mapping[str, Any] | BaseModel | None = None,
    ) -> Share:
        """Settings left out are copied from the event type (one-on-one types only)."""
        body = _body(
            event_type=_uri(event_type, "event_type"),
            name=name,
            duration=duration,
            duration_options=duration_options,
            period_type=period_type,
            start_date=start_date,
            end_date=end_date,
            max_booking_time=max_booking_time,
            hide_location=hide_location,
            location_configurations=location_configurations,
            availability_rule=availability_rule,
        )
        return self._post("/shares", body, Share)

    def list_shares(
        self,
        *,
        user: str,
        event_type: str | None = None,
        min_created_at: datetime | str | None = None,
        max_created_at: datetime | str | None = None,
        sort: str | None = None,
    ) -> Iterator[Share]:
        """The shares `user` made (Calendly lists only the caller's own; added 2026-11-06).
        There is no GET of one share: find it here."""
        query = _query(
            user=_uri(user, "user"),
            event_type=_uri_or_none(event_type, "event_type"),
            min_created_at=_timestamp(min_created_at),
            max_created_at=_timestamp(max_created_at),
            sort=sort,
        )
        return self._paginate("/shares", query, Share)

    def update_share(
        self,
        *,
        share: str,
        name: str | None = None,
        duration: int | None = None,
        duration_options: Sequence[int] | None = None,
        period_type: str | None = None,
        start_date: date | str | None = None,
        end_date: date | str | None = None,
        max_booking_time: int | None = None,
        min_booking_time: int | None = None,
        hide_location: bool | None = None,
        location_configurations: Sequence[Mapping[str, Any] | BaseModel] | None = None,
        availability_rule: Mapping[str, Any] | BaseModel | None = None,
    ) -> Share:
        """PATCH the given settings only; Calendly refuses a booked or expired share."""
        body = _body(
            name=name,
            duration=duration,
            duration_options=duration_options,
            period_type=period_type,
            start_date=start_date,
            end_date=end_date,
            max_booking_time=max_booking_time,
            min_booking_time=min_booking_time,
            hide_location=hide_location,
            location_configurations=location_configurations,
            availability_rule=availability_rule,
        )
        response = self._send("PATCH", f"/shares/{_id(share, 'share')}", body=body, idempotent=True)
        return _parse_resource(response, Share)

    def delete_share(self, *, share: str) -> None:
        """Only unbooked shares can be deleted; Calendly refuses the others."""
        self._delete(f"/shares/{_id(share, 'share')}")

    # -- scheduled events -----------------------------------------------------------------

    def list_scheduled_events(
        self,
        *,
        user: str | None = None,
        organization: str | None = None,
        group: str | None = None,
        invitee_email: str | None = None,
        status: str | None = None,
        min_start_time: datetime | str | None = None,
        max_start_time: datetime | str | None = None,
        sort: str | None = None,
    ) -> Iterator[ScheduledEvent]:
        query = _query(
            user=_uri_or_none(user, "user"),
            organization=_uri_or_none(organization, "organization"),
            group=_uri_or_none(group, "group"),
            invitee_email=invitee_email,
            status=status,
            min_start_time=_timestamp(min_start_time),
            max_start_time=_timestamp(max_start_time),
            sort=sort,
        )
        return self._paginate("/scheduled_events", query, ScheduledEvent)

    def get_scheduled_event(self, *, event: str) -> ScheduledEvent:
        return self._get(f"/scheduled_events/{_id(event, 'event')}", ScheduledEvent)

    def cancel_event(self, *, event: str, reason: str | None = None) -> Cancellation:
        path = f"/scheduled_events/{_id(event, 'event')}/cancellation"
        return self._post(path, _body(reason=reason), Cancellation)

    def list_invitees(
        self,
        *,
        event: str,
        status: str | None = None,
        email: str | None = None,
        sort: str | None = None,
    ) -> Iterator[Invitee]:
        path = f"/scheduled_events/{_id(event, 'event')}/invitees"
        return self._paginate(path, _query(status=status, email=email, sort=sort), Invitee)

    def get_invitee(self, *, invitee: str) -> Invitee:
        event_id, invitee_id = _ids_after(invitee, "invitee", "scheduled_events", "invitees")
        return self._get(f"/scheduled_events/{event_id}/invitees/{invitee_id}", Invitee)

    def create_invitee_no_show(self, *, invitee: str) -> InviteeNoShow:
        return self._post("/invitee_no_shows", {"invitee": _uri(invitee, "invitee")}, InviteeNoShow)

    def get_invitee_no_show(self, *, no_show: str) -> InviteeNoShow:
        return self._get(f"/invitee_no_shows/{_id(no_show, 'no_show')}", InviteeNoShow)

    def delete_invitee_no_show(self, *, no_show: str) -> None:
        self._delete(f"/invitee_no_shows/{_id(no_show, 'no_show')}")

    # -- routing forms ----------------------------------------------------------------------

    def list_routing_forms(
        self, *, organization: str, sort: str | None = None
    ) -> Iterator[RoutingForm]:
        query = _query(organization=_uri(organization, "organization"), sort=sort)
        return self._paginate("/routing_forms", query, RoutingForm)

    def get_routing_form(self, *, routing_form: str) -> RoutingForm:
        return self._get(f"/routing_forms/{_id(routing_form, 'routing_form')}", RoutingForm)

    def list_routing_form_submissions(
        self, *, form: str, sort: str | None = None
    ) -> Iterator[RoutingFormSubmission]:
        query = _query(form=_uri(form, "form"), sort=sort)
        return self._paginate("/routing_form_submissions", query, RoutingFormSubmission)

    def get_routing_form_submission(self, *, submission: str) -> RoutingFormSubmission:
        path = f"/routing_form_submissions/{_id(submission, 'submission')}"
        return self._get(path, RoutingFormSubmission)

    # -- webhooks ---------------------------------------------------------------------------

    def list_webhook_subscriptions(
        self,
        *,
        organization: str,
        scope: str,
        user: str | None = None,
        group: str | None = None,
        sort: str | None = None,
    ) -> Iterator[WebhookSubscription]:
        query = _query(
            organization=_uri(organization, "organization"),
            scope=scope,
            user=_uri_or_none(user, "user"),
            group=_uri_or_none(group, "group"),
            sort=sort,
        )
        return self._paginate("/webhook_subscriptions", query, WebhookSubscription)

    def get_webhook_subscription(self, *, webhook_subscription: str) -> WebhookSubscription:
        path = f"/webhook_subscriptions/{_id(webhook_subscription, 'webhook_subscription')}"
        return self._get(path, WebhookSubscription)

    def create_webhook_subscription(
        self,
        *,
        url: str,
        events: Sequence[str],
        organization: str,
        scope: str,
        user: str | None = None,
        group: str | None = None,
        signing_key: str | None = None,
    ) -> WebhookSubscription:
        """Subscribe `url`. Raises Conflict when that URL is already subscribed (first try)."""
        body = _body(
            url=url,
            events=list(events),
            organization=_uri(organization, "organization"),
            scope=scope,
            user=_uri_or_none(user, "user"),
            group=_uri_or_none(group, "group"),
            signing_key=signing_key,
        )

        def find() -> WebhookSubscription | None:
            listed = self.list_webhook_subscriptions(
                organization=organization, scope=scope, user=user, group=group
            )
            return next((s for s in listed if s.callback_url == url), None)

        return self._create_reconciled(
            create=lambda: self._post("/webhook_subscriptions", body, WebhookSubscription),
            find=find,
            duplicate=Conflict,
            what=f"webhook subscription for {url}",
        )

    def delete_webhook_subscription(self, *, webhook_subscription: str) -> None:
        self._delete(f"/webhook_subscriptions/{_id(webhook_subscription, 'webhook_subscription')}")

    def delete_webhook_subscriptions_for_url(
        self,
        *,
        callback_url: str,
        organization: str,
        scope: str,
        user: str | None = None,
        group: str | None = None,
    ) -> list[str]:
        """Delete every subscription in that scope that delivers to `callback_url` (our
        receiver), e.g. before recreating it; returns the deleted subscriptions' URIs."""
        # Collect first: deleting while paging would shift the cursor under us.
        doomed = [
            s.uri
            for s in self.list_webhook_subscriptions(
                organization=organization, scope=scope, user=user, group=group
            )
            if s.callback_url == callback_url
        ]
        for uri in doomed:
            self.delete_webhook_subscription(webhook_subscription=uri)
        return doomed

    def get_sample_webhook_data(
        self,
        *,
        event: str,
        organization: str,
        scope: str,
        user: str | None = None,
        group: str | None = None,
    ) -> WebhookPayload:
        query = _query(
            event=event,
            organization=_uri(organization, "organization"),
            scope=scope,
            user=_uri_or_none(user, "user"),
            group=_uri_or_none(group, "group"),
        )
        return self._get("/sample_webhook_data", WebhookPayload, query)

    # -- escape hatch -----------------------------------------------------------------------

    def raw_request(
        self,
        *,
        method: str,
        path: str,
        params: Mapping[str, QueryValue] | None = None,
        json: Body | None = None,
    ) -> Any:
        """Call an endpoint this client has no method for; returns the decoded JSON (None when
        empty). Only paths on the configured API host are allowed, so the token cannot leak."""
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"raw_request takes a path such as /users/me, not {path!r}")
        verb = method.upper()
        response = self._send(
            verb, path, params=dict(params or {}), body=json, idempotent=verb in ("GET", "DELETE")
        )
        return _decode(response) if response.content else None

    # -- plumbing ---------------------------------------------------------------------------

    def _get[M: BaseModel](self, path: str, model: type[M], query: Query | None = None) -> M:
        return _parse_resource(self._send("GET", path, params=query, idempotent=True), model)

    def _list[M: BaseModel](self, path: str, query: Query, model: type[M]) -> list[M]:
        data = _decode(self._send("GET", path, params=query, idempotent=True))
        return [_validate(model, item) for item in _collection(data)]

    def _paginate[M: BaseModel](self, path: str, query: Query, model: type[M]) -> Iterator[M]:
        page: Query = {**query, "count": PAGE_SIZE}
        while True:
            data = _decode(self._send("GET", path, params=page, idempotent=True))
            for item in _collection(data):
                yield _validate(model, item)
            pagination = data.get("pagination") if isinstance(data, dict) else None
            token = pagination.get("next_page_token") if isinstance(pagination, dict) else None
            if not token:
                return
            # The token only says where to resume; the filters must be sent again with it.
            page = {**query, "count": PAGE_SIZE, "page_token": str(token)}

    def _post[M: BaseModel](self, path: str, body: Body, model: type[M]) -> M:
        return _parse_resource(self._send("POST", path, body=body, idempotent=False), model)

    def _post_no_content(self, path: str, body: Body) -> None:
        self._send("POST", path, body=body, idempotent=False)

    def _delete(self, path: str) -> None:
        self._send("DELETE", path, idempotent=True, gone_is_done=True)

    def _create_reconciled[M: BaseModel](
        self,
        *,
        create: Callable[[], M],
        find: Callable[[], M | None],
        duplicate: type[CalendlyError],
        what: str,
    ) -> M:
        unknown: CalendlyError | None = None
        for attempt in (1, 2):
            try:
                return create()
            except AmbiguousWrite as exc:
                unknown = exc
            except CalendlyError as exc:
                # "Already exists" right after an unanswered attempt means that attempt landed.
                if attempt == 1 or not isinstance(exc, duplicate):
                    raise
                unknown = exc
            try:
                found = find()
            except CalendlyError as exc:
                raise AmbiguousWrite(
                    message=f"The {what} may exist; reading it back failed too ({exc})"
                ) from exc
            if found is not None:
                return found
        raise AmbiguousWrite(
            message=f"The {what} was sent twice without an answer and is not listed"
        ) from unknown

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        body: Body | None = None,
        idempotent: bool,
        gone_is_done: bool = False,
    ) -> httpx.Response:
        attempt = 1
        consecutive_429 = 0
        while True:
            wait = self._limiter.acquire()
            if wait > 0:
                self._sleep(wait)
            try:
                response = self._http.request(method, path, params=params, json=body)
            except httpx.TransportError as exc:
                failure = _transport_failure(exc)
                if attempt < self._max_attempts and (idempotent or not failure.sent):
                    self._backoff(attempt, None)
                    attempt += 1
                    continue
                raise _settle(failure, idempotent) from exc

            self._observe(response)
            if response.status_code == 429:
                consecutive_429 += 1
                delay = _rate_limit_wait(response)
                self._limiter.pause(delay)
                if consecutive_429 >= MAX_CONSECUTIVE_429 or delay > LONGEST_WAIT:
                    raise error_from_response(429, _decode_quietly(response), retry_after=delay)
                self._sleep(delay)
                continue
            consecutive_429 = 0

            if response.is_success:
                return response
            if gone_is_done and attempt > 1 and response.status_code == 404:
                # An earlier attempt whose answer was lost already deleted it.
                return response
            error = error_from_response(
                response.status_code, _decode_quietly(response), retry_after=_retry_after(response)
            )
            may_resend = idempotent or isinstance(error, RaceCondition)
            soon_enough = error.retry_after is None or error.retry_after <= LONGEST_WAIT
            if error.retryable and may_resend and soon_enough and attempt < self._max_attempts:
                self._backoff(attempt, error.retry_after)
                attempt += 1
                continue
            raise _settle(error, idempotent)

    def _backoff(self, attempt: int, at_least: float | None) -> None:
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        jittered = delay * (0.5 + self._random.random() / 2)
        self._sleep(max(jittered, at_least or 0.0))

    def _observe(self, response: httpx.Response) -> None:
        headers = response.headers
        limit = _number(headers.get("X-RateLimit-Limit"))
        remaining = _number(headers.get("X-RateLimit-Remaining"))
        reset = _number(headers.get("X-RateLimit-Reset"))
        if limit is None and remaining is None:
            return
        self._limiter.observe(
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset=reset,
        )


# -- helpers ----------------------------------------------------------------------------------


def _uri(value: str, name: str) -> str:
    """Calendly wants full URIs in queries and bodies; a bare UUID fails there (400/404)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
        raise ValueError(f"{name} must be a full Calendly URI, not {value!r}")
    return value


def _uri_or_none(value: str | None, name: str) -> str | None:
    return None if value is None else _uri(value, name)


def _id(uri: str, name: str) -> str:
    return quote(uuid_of(_uri(uri, name)), safe="")


def _ids_after(uri: str, name: str, outer: str, inner: str) -> tuple[str, str]:
    """The two ids in `.../<outer>/<id>/<inner>/<id>` URIs (invitations, invitees)."""
    segments = urlsplit(_uri(uri, name)).path.strip("/").split("/")
    if len(segments) < 4 or segments[-4] != outer or segments[-2] != inner:
        raise ValueError(f"{name} must look like .../{outer}/<id>/{inner}/<id>, not {uri!r}")
    return quote(segments[-3], safe=""), quote(segments[-1], safe="")


def _invitation_path(invitation: str) -> str:
    org_id, invitation_id = _ids_after(invitation, "invitation", "organizations", "invitations")
    return f"/organizations/{org_id}/invitations/{invitation_id}"


def _timestamp(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("Calendly filters are in UTC; pass an aware datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _csv(values: Sequence[str] | None) -> str | None:
    return ",".join(values) if values else None


def _query(**values: QueryValue | None) -> Query:
    return {k: v for k, v in values.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _body(**values: Any) -> Body:
    return {k: _plain(v) for k, v in values.items() if v is not None}


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise UnexpectedResponse(
            status=response.status_code, message="the body is not JSON"
        ) from exc


def _decode_quietly(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _collection(data: Any) -> list[Any]:
    items = data.get("collection") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UnexpectedResponse(message="the answer has no collection[]")
    return items


def _validate[M: BaseModel](model: type[M], payload: Any) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise UnexpectedResponse(
            message=f"{model.__name__} did not validate ({exc.error_count()} problems: {exc})"
        ) from exc


def _parse_resource[M: BaseModel](response: httpx.Response, model: type[M]) -> M:
    data = _decode(response)
    # Single resources come wrapped in {"resource": ...}; sample webhook data does not.
    payload = data["resource"] if isinstance(data, dict) and "resource" in data else data
    return _validate(model, payload)


def _transport_failure(exc: httpx.TransportError) -> TransportFailure:
    # Connect failures and pool timeouts happen before any byte is sent, so even a create is
    # safe to send again; after that, the server may have acted on it.
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Unreachable(reason=reason) if never_sent else TransportFailure(reason=reason, sent=True)


def _settle(error: CalendlyError, idempotent: bool) -> CalendlyError:
    """Turn a failed create whose effect is unknown into AmbiguousWrite."""
    if idempotent:
        return error
    unknown = isinstance(error, ServerError) or (isinstance(error, TransportFailure) and error.sent)
    if not unknown:
        return error
    ambiguous = AmbiguousWrite(status=error.status, title=error.title, message=error.message)
    ambiguous.__cause__ = error
    return ambiguous


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _rate_limit_wait(response: httpx.Response) -> float:
    # Retry-After is not in Calendly's documented headers but is honoured when present.
    retry_after = _retry_after(response)
    if retry_after is not None:
        return retry_after
    reset = _number(response.headers.get("X-RateLimit-Reset"))
    return max(0.0, reset) if reset is not None else FALLBACK_RATE_LIMIT_WAIT
