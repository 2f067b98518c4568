"""The sandbox's in-memory Calendly: organizations, people, links, events, tokens.

Everything lives in plain dataclasses keyed by Calendly-style opaque ids (16 upper-case
characters). URIs are never stored: they are built from the base URL of the request that asks,
so the same state answers `http://127.0.0.1:8765` and `http://localhost:8765` consistently.
One re-entrant lock guards all of it; handlers are short, so contention does not matter here.

This module is the bottom of the sandbox: it imports no other sandbox module. `seed.seeded`
fills a new `Sandbox` with its organization, and `webhooks` sends what lands in its outbox.
"""

from __future__ import annotations

import itertools
import random
import string
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

ID_ALPHABET = string.ascii_uppercase + string.digits
TOKEN_ALPHABET = string.ascii_letters + string.digits
DEFAULT_SIGNING_KEY = "sandbox-webhook-signing-key"
# Seconds between attempts at one webhook delivery: doubling from 1 s, then hourly. Calendly
# documents exponential back-off for 24 hours without the schedule itself.
DEFAULT_RETRY_DELAYS = (*(float(2**n) for n in range(12)), 3600.0)
DAY = 24 * 3600.0
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
WORKING_HOURS: list[JSON] = [
    {
        "type": "wday",
        "wday": day,
        "intervals": [] if day in {"saturday", "sunday"} else [{"from": "09:00", "to": "17:00"}],
    }
    for day in WEEKDAYS
]


@dataclass(slots=True)
class Organization:
    uuid: str
    name: str
    plan: str
    stage: str
    created_at: datetime
    updated_at: datetime
    kind: str = "multiple"
    seats: int | None = None


@dataclass(slots=True)
class User:
    uuid: str
    name: str
    slug: str
    email: str
    timezone: str
    organization: str
    created_at: datetime
    updated_at: datetime
    locale: str = "en"
    schedules: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Membership:
    uuid: str
    user: str
    organization: str
    role: str
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class Invitation:
    uuid: str
    organization: str
    email: str
    status: str
    created_at: datetime
    updated_at: datetime
    last_sent_at: datetime | None
    user: str | None = None


@dataclass(slots=True)
class Group:
    uuid: str
    organization: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class GroupRelationship:
    uuid: str
    group: str
    organization: str
    role: str
    # "membership" or "invitation": pending invitees can already belong to a group.
    owner_kind: str
    owner: str
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class Team:
    uuid: str
    organization: str
    name: str
    slug: str
    members: list[str]


@dataclass(slots=True)
class EventType:
    uuid: str
    organization: str
    name: str
    slug: str
    kind: str
    pooling_type: str | None
    profile_type: str
    owner: str
    hosts: dict[str, str]
    active: bool
    secret: bool
    admin_managed: bool
    duration: int
    color: str
    position: int
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    internal_note: str | None = None
    duration_options: list[int] | None = None
    locations: list[JSON] | None = None
    locale: str = "en"
    custom_questions: list[JSON] = field(default_factory=list)
    schedule: str | None = None
    max_invitees: int = 1
    deleted_at: datetime | None = None
    type: str = "StandardEventType"

    @property
    def kind_description(self) -> str:
        if self.kind == "group":
            return "Group"
        if self.pooling_type == "round_robin":
            return "Round Robin"
        if self.pooling_type == "collective":
            return "Collective"
        return "One-on-One"


@dataclass(slots=True)
class ScheduledEvent:
    uuid: str
    event_type: str
    organization: str
    name: str
    status: str
    start_time: datetime
    end_time: datetime
    hosts: list[str]
    location: JSON
    created_at: datetime
    updated_at: datetime
    invitees: list[str] = field(default_factory=list)
    invitee_limit: int = 1
    cancellation: JSON | None = None


@dataclass(slots=True)
class Invitee:
    uuid: str
    event: str
    name: str
    email: str
    status: str
    timezone: str
    created_at: datetime
    updated_at: datetime
    questions_and_answers: list[JSON] = field(default_factory=list)
    tracking: JSON = field(default_factory=dict)
    no_show: str | None = None
    cancellation: JSON | None = None
    scheduling_method: str | None = None
    routing_form_submission: str | None = None
    # A rescheduled invitee is canceled and points at its successor (`new_invitee`), which
    # points back (`old_invitee`); both hold invitee ids.
    rescheduled: bool = False
    old_invitee: str | None = None
    new_invitee: str | None = None


@dataclass(slots=True)
class NoShow:
    uuid: str
    invitee: str
    created_at: datetime


@dataclass(slots=True)
class AvailabilitySchedule:
    uuid: str
    user: str
    name: str
    default: bool
    timezone: str
    rules: list[JSON]


@dataclass(slots=True)
class RoutingForm:
    uuid: str
    organization: str
    name: str
    status: str
    questions: list[JSON]
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class RoutingFormSubmission:
    uuid: str
    form: str
    questions_and_answers: list[JSON]
    tracking: JSON
    result: JSON
    submitter: tuple[str, str] | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class ActivityEntry:
    uuid: str
    organization: str
    occurred_at: datetime
    namespace: str
    action: str
    actor: str | None
    details: JSON


@dataclass(slots=True)
class WebhookSubscription:
    uuid: str
    organization: str
    callback_url: str
    events: list[str]
    scope: str
    user: str | None
    group: str | None
    creator: str
    signing_key: str | None
    created_at: datetime
    updated_at: datetime
    state: str = "active"
    retry_started_at: datetime | None = None


@dataclass(slots=True)
class Share:
    uuid: str
    event_type: str
    creator: str
    settings: JSON
    link: str
    created_at: datetime
    updated_at: datetime
    deleted: bool = False


@dataclass(slots=True)
class SchedulingLink:
    code: str
    event_type: str
    creator: str
    created_at: datetime
    share: str | None = None
    max_event_count: int = 1
    bookings: int = 0

    @property
    def used_up(self) -> bool:
        return self.bookings >= self.max_event_count


@dataclass(slots=True)
class AccessToken:
    value: str
    user: str
    kind: str
    scope: str
    created_at: float
    expires_at: float | None = None
    revoked: bool = False
    client_id: str | None = None
    refresh: str | None = None

    def active(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


@dataclass(slots=True)
class RefreshToken:
    value: str
    user: str
    scope: str
    client_id: str
    created_at: float
    used: bool = False
    revoked: bool = False


@dataclass(slots=True)
class AuthorizationCode:
    value: str
    user: str
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    scope: str
    expires_at: float
    used: bool = False


@dataclass(slots=True)
class Attempt:
    """One POST of a delivery: when it started (sandbox clock), the headers sent, the answer's
    status or the error that stood in for one."""

    at: datetime
    headers: dict[str, str]
    status: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class Delivery:
    """One webhook message to one subscription, with every attempt to POST it.

    `headers` are those signed when the message was queued (the first attempt's); `status` and
    `error` are the latest attempt's. `outcome` is "pending" until the message was
    "delivered", "failed" (its retries ran out, or its failure disabled the subscription) or
    "dropped" (its subscription was disabled or deleted before its next attempt).
    """

    url: str
    event: str
    body: bytes
    headers: dict[str, str]
    subscription: str
    status: int | None = None
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str = "pending"
    next_attempt_at: datetime | None = None


class RequestLog:
    """How often each endpoint was called, keyed "METHOD /path/{template}"."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def count(self, key: str) -> int:
        with self._lock:
            return self._counts[key]

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass
class RateWindow:
    started: float
    used: int = 0


class Sandbox:
    """A deterministic, stateful Calendly organization (plus a small second one).

    Empty when made: `seed.seeded(Sandbox(...))` generates its `members` people from `seed`
    (with `seats` paid seats when given); `rate_limit` is (requests, seconds) per user;
    `faults` is the share of API requests that fail on purpose (see `server.py`);
    `owner_token` fixes the owner's personal access token; `access_token_ttl` is the OAuth
    access-token lifetime in seconds; `revoke_ends_all_grants` makes a revocation end all of
    that user's grants to the app (the unconfirmed, pessimistic reading of Calendly's docs);
    `data_requests_permission=False` refuses data deletion as Calendly does until its support
    grants that permission.

    Webhooks: a failed delivery is attempted again after each of `webhook_retry_delays` in turn
    (seconds on the sandbox clock; the last one repeats) until one succeeds; a subscription that
    has been failing for `webhook_disable_after` seconds is disabled at its next failure.
    `resign_retries` signs every attempt afresh; False resends the first attempt's headers.
    """

    def __init__(
        self,
        members: int = 250,
        seed: int = 1,
        rate_limit: tuple[int, int] = (500, 60),
        faults: float = 0.0,
        owner_token: str | None = None,
        access_token_ttl: int = 7200,
        webhook_signing_key: str = DEFAULT_SIGNING_KEY,
        *,
        fault_kinds: tuple[str, ...] = ("error", "slow", "drop"),
        fault_delay: float = 3.0,
        retry_after: bool = False,
        token_rate_limit: tuple[int, int] = (8, 60),
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",  # noqa: S107 - a public test fixture value
        seats: int | None = None,
        webhook_timeout: float = 5.0,
        webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        webhook_disable_after: float = DAY,
        resign_retries: bool = True,
        scim: bool = False,
        revoke_ends_all_grants: bool = False,
        data_requests_permission: bool = True,
    ) -> None:
        if members < 5:
            raise ValueError("the sandbox needs at least 5 members (owner, admins, users)")
        if not webhook_retry_delays or min(webhook_retry_delays) < 0:
            raise ValueError("webhook_retry_delays needs at least one delay, none negative")
        self.members = members
        # An organization provisioned through SCIM refuses member changes over the REST API.
        self.scim = scim
        # Whether Calendly support has switched on the "data requests" permission that data
        # deletion needs besides the Enterprise plan and an owner's or admin's token. On by
        # default here (it is off in a real organization until support is asked).
        self.data_requests_permission = data_requests_permission
        # Whether revoking one OAuth token also ends every other grant the same user gave the
        # same app. Calendly's revoke documentation does not say; the portal must work either way.
        self.revoke_ends_all_grants = revoke_ends_all_grants
        self.seed = seed
        self.rate_limit = rate_limit
        self.token_rate_limit = token_rate_limit
        self.faults = faults
        self.fault_kinds = fault_kinds
        self.fault_delay = fault_delay
        self.retry_after = retry_after
        self.access_token_ttl = access_token_ttl
        self.seats = seats
        self.fixed_owner_token = owner_token
        self.webhook_signing_key = webhook_signing_key
        self.webhook_timeout = webhook_timeout
        self.webhook_retry_delays = webhook_retry_delays
        self.webhook_disable_after = webhook_disable_after
        # Whether Calendly signs a retry with a fresh timestamp is not documented; the portal
        # must accept both.
        self.resign_retries = resign_retries
        self.client_id = client_id
        self.client_secret = client_secret

        self.lock = threading.RLock()
        self.rng = random.Random(seed)  # noqa: S311 - deterministic fixtures, not secrets
        self.fault_rng = random.Random(seed + 1)  # noqa: S311
        self.requests = RequestLog()
        self.deliveries: list[Delivery] = []
        self.forced_faults: list[str] = []
        self.windows: dict[str, RateWindow] = {}
        self.token_windows: dict[str, RateWindow] = {}
        self._ids: set[str] = set()
        self.clock_offset = 0.0

        self.organizations: dict[str, Organization] = {}
        self.users: dict[str, User] = {}
        self.users_by_email: dict[str, str] = {}
        self.memberships: dict[str, Membership] = {}
        self.membership_order: dict[str, list[str]] = {}
        self.membership_of: dict[str, str] = {}
        self.invitations: dict[str, Invitation] = {}
        # Per address (lower case): invitations created, and creations refused because one was
        # pending. What bulk jobs are judged by: every address invited once, none twice.
        self.invitations_sent: Counter[str] = Counter()
        self.duplicate_invitations_refused: Counter[str] = Counter()
        # Per address: memberships removed and invitations revoked (offboarding is judged by
        # these: nobody removed twice, no invitation revoked twice).
        self.memberships_removed: Counter[str] = Counter()
        self.invitations_revoked: Counter[str] = Counter()
        # Per address (lower case): data-deletion requests accepted that named it (a request
        # cannot be checked afterwards, so a data-deletion job is judged by this: each address
        # asked for once).
        self.deletions_requested: Counter[str] = Counter()
        # Per access token: API requests counted against its user's budget, and those refused
        # with 429. Two integrations of one user share the budget; this tells their 429s apart.
        self.budgeted_requests: Counter[str] = Counter()
        self.rate_limited_requests: Counter[str] = Counter()
        self.groups: dict[str, Group] = {}
        self.group_relationships: dict[str, GroupRelationship] = {}
        self.teams: dict[str, Team] = {}
        self.event_types: dict[str, EventType] = {}
        self.scheduled_events: dict[str, ScheduledEvent] = {}
        self.invitees: dict[str, Invitee] = {}
        self.no_shows: dict[str, NoShow] = {}
        self.schedules: dict[str, AvailabilitySchedule] = {}
        self.routing_forms: dict[str, RoutingForm] = {}
        self.submissions: dict[str, RoutingFormSubmission] = {}
        self.activity: list[ActivityEntry] = []
        self.webhooks: dict[str, WebhookSubscription] = {}
        self.shares: dict[str, Share] = {}
        self.links: dict[str, SchedulingLink] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.deletion_requests: list[JSON] = []
        # Webhook attempts waiting for the sending thread, which `webhooks` starts on the first
        # delivery: a heap of (due on the sandbox clock, order queued, delivery). `outbox_ready`
        # (on the sandbox lock) is notified whenever one is queued or made, and when the clock
        # moves; `outbox_sending` is the delivery being POSTed.
        self.outbox: list[tuple[float, int, Delivery]] = []
        self.outbox_order = itertools.count()
        self.outbox_ready = threading.Condition(self.lock)
        self.outbox_sending: Delivery | None = None
        self.outbox_thread: threading.Thread | None = None

        # Set by `seed.seeded`: the main organization, the people tests reach for, and their
        # personal access tokens.
        self.org_uuid = ""
        self.owner_uuid = ""
        self.admin_uuids: list[str] = []
        self.other_org_uuid = ""
        self.other_owner_uuid = ""
        self.owner_token = ""
        self.admin_tokens: list[str] = []
        self.user_token = ""
        self.other_org_token = ""

    # -- identity -------------------------------------------------------------------------

    def new_id(self) -> str:
        while True:
            value = "".join(self.rng.choices(ID_ALPHABET, k=16))
            if value not in self._ids:
                self._ids.add(value)
                return value

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def clock(self) -> float:
        """Seconds since the epoch; tests move `clock_offset` to expire codes and tokens."""
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        with self.outbox_ready:
            self.clock_offset += seconds
            # Webhook retries fall due on this clock: the sending thread must look again.
            self.outbox_ready.notify_all()

    # -- convenient views for tests and the management command -----------------------------

    @property
    def organization(self) -> Organization:
        return self.organizations[self.org_uuid]

    @property
    def owner(self) -> User:
        return self.users[self.owner_uuid]

    @property
    def admins(self) -> list[User]:
        return [self.users[u] for u in self.admin_uuids]

    @property
    def plain_users(self) -> list[User]:
        return [self.users[m.user] for m in self.org_memberships(self.org_uuid) if m.role == "user"]

    @property
    def other_owner(self) -> User:
        return self.users[self.other_owner_uuid]

    def organization_uri(self, base: str) -> str:
        return f"{base}/organizations/{self.org_uuid}"

    def org_memberships(self, org: str) -> list[Membership]:
        return [self.memberships[m] for m in self.membership_order.get(org, [])]

    def role(self, user: User) -> str | None:
        membership = self.membership_of.get(user.uuid)
        return self.memberships[membership].role if membership else None

    def is_admin(self, user: User) -> bool:
        return self.role(user) in {"owner", "admin"}

    def user_by_email(self, email: str) -> User | None:
        uuid = self.users_by_email.get(email.lower())
        return self.users[uuid] if uuid else None

    # -- mutations shared by endpoints, the booking page and tests -------------------------

    def add_membership(self, user: User, org: str, role: str, when: datetime) -> Membership:
        membership = Membership(self.new_id(), user.uuid, org, role, when, when)
        self.memberships[membership.uuid] = membership
        self.membership_of[user.uuid] = membership.uuid
        self.membership_order.setdefault(org, []).append(membership.uuid)
        user.organization = org
        return membership

    def add_default_schedule(self, user: User) -> None:
        schedule = AvailabilitySchedule(
            self.new_id(), user.uuid, "Working Hours", True, user.timezone, WORKING_HOURS
        )
        self.schedules[schedule.uuid] = schedule
        user.schedules.append(schedule.uuid)

    def remove_membership(self, membership: Membership) -> None:
        """The person keeps their account and falls back to a personal free organization."""
        now = self.now()
        del self.memberships[membership.uuid]
        self.membership_order[membership.organization].remove(membership.uuid)
        self.membership_of.pop(membership.user, None)
        for rel in [r for r in self.group_relationships.values() if r.owner == membership.uuid]:
            del self.group_relationships[rel.uuid]
        personal = Organization(self.new_id(), "Personal", "basic", "free", now, now, "single")
        self.organizations[personal.uuid] = personal
        user = self.users[membership.user]
        user.organization = personal.uuid
        user.updated_at = now

    def accept_invitation(self, email: str, name: str | None = None) -> User:
        """Play the invitee clicking the emailed link: a new member with role `user`."""
        with self.lock:
            invitation = next(
                i
                for i in self.invitations.values()
                if i.email.lower() == email.lower() and i.status == "pending"
            )
            now = self.now()
            user = self.user_by_email(email)
            if user is None:
                local = email.split("@", 1)[0]
                display = name or " ".join(
                    p.capitalize() for p in local.replace("_", ".").split(".")
                )
                user = User(
                    self.new_id(),
                    display,
                    self.unique_slug(local.replace(".", "-").lower()),
                    email,
                    "America/New_York",
                    invitation.organization,
                    now,
                    now,
                )
                self.users[user.uuid] = user
                self.users_by_email[email.lower()] = user.uuid
                self.add_default_schedule(user)
            membership = self.add_membership(user, invitation.organization, "user", now)
            invitation.status = "accepted"
            invitation.user = user.uuid
            invitation.updated_at = now
            for rel in self.group_relationships.values():
                if rel.owner_kind == "invitation" and rel.owner == invitation.uuid:
                    rel.owner_kind, rel.owner, rel.updated_at = "membership", membership.uuid, now
            self.log_activity(invitation.organization, "User", "Add", user.uuid, {"email": email})
            return user

    def decline_invitation(self, email: str) -> None:
        with self.lock:
            for invitation in self.invitations.values():
                if invitation.email.lower() == email.lower() and invitation.status == "pending":
                    invitation.status = "declined"
                    invitation.updated_at = self.now()

    def unique_slug(self, wanted: str) -> str:
        taken = {u.slug for u in self.users.values()}
        slug, n = wanted, 1
        while slug in taken:
            n += 1
            slug = f"{wanted}-{n}"
        return slug

    def log_activity(
        self, org: str, namespace: str, action: str, actor: str | None, details: JSON
    ) -> None:
        entry = ActivityEntry(self.new_id(), org, self.now(), namespace, action, actor, details)
        self.activity.append(entry)

    # -- tokens -----------------------------------------------------------------------------

    def issue_pat(self, user: str, value: str | None = None) -> str:
        # Seeded, so a restarted demo with the same seed prints the same tokens.
        token = value or "sandbox-pat-" + "".join(self.rng.choices(TOKEN_ALPHABET, k=32))
        self.tokens[token] = AccessToken(token, user, "pat", "default", self.clock())
        return token

    def authenticate(self, value: str) -> AccessToken | None:
        with self.lock:
            token = self.tokens.get(value)
            if token is None or not token.active(self.clock()):
                return None
            if token.user not in self.users:
                return None
            return token

    def new_link_code(self) -> str:
        """Booking-link codes look like Calendly's `/d/abcd-brv8/...`."""
        while True:
            raw = "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=8))
            code = f"{raw[:4]}-{raw[4:]}"
            if code not in self.links:
                return code

    def inject_fault(self, kind: str, times: int = 1) -> None:
        """Make the next `times` API requests fail with `kind` ("error", "slow" or "drop")."""
        with self.lock:
            self.forced_faults.extend([kind] * times)
