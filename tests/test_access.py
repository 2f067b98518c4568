"""Every URL the portal serves, tried as every kind of person.

RULES says, for each URL pattern, what each kind of person gets. A pattern the portal serves
that RULES does not mention fails the test, so a new page cannot ship without a decision about
who may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from portal.accounts.models import Organization, Role, User
from portal.directory.models import Invitation, Member, SyncRun, Team
from portal.jobs.models import Job, JobItem
from portal.links.models import IssuedLink
from portal.webhooks.models import Delivery, Feed, Subscription
from tests.factories import (
    GroupFactory,
    InvitationFactory,
    MemberFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PEOPLE = ("anonymous", "no_role", "viewer", "sales", "support", "compliance", "admin", "other_org")
SIGN_IN = "sign-in"  # a redirect to the sign-in page


@dataclass
class World:
    org: Organization
    people: dict[str, User | None]
    member: User  # organization-A objects that object URLs point at
    mirrored: Member
    invitation: Invitation


@dataclass(frozen=True)
class Rule:
    method: str
    # What each person gets; people not named get `default`.
    expect: dict[str, int | str]
    default: int | str = 403
    args: Callable[[World], dict[str, object]] = field(default=lambda world: {})

    def expected(self, person: str) -> int | str:
        if person in self.expect:
            return self.expect[person]
        return SIGN_IN if person == "anonymous" else self.default


EVERYONE_OK = dict.fromkeys(PEOPLE, 200)
ADMINS_OK = {"admin": 200, "other_org": 200}
# An admin's job (a bulk invitation), to the others who may open jobs pages, or in another
# organization: not found.
NOT_THEIR_JOB = {"other_org": 404, "support": 404, "compliance": 404}

RULES: dict[str, Rule] = {
    # A sales person's home is the link directory.
    "home": Rule("GET", {**EVERYONE_OK, "sales": 302}),
    "readyz": Rule("GET", EVERYONE_OK),
    # 503 here: no worker runs during the test; the point is that nobody is refused.
    "healthz": Rule("GET", dict.fromkeys(PEOPLE, 503)),
    "accounts:sign_in": Rule("GET", EVERYONE_OK),
    # Nobody started a sign-in, so the callback fails closed for everyone alike.
    "accounts:callback": Rule("GET", dict.fromkeys(PEOPLE, 400)),
    "accounts:sign_out": Rule("POST", {}, default=302),
    "accounts:connect": Rule("GET", ADMINS_OK),
    "accounts:disconnect": Rule("POST", {"admin": 302, "other_org": 302}),
    "accounts:people": Rule("GET", ADMINS_OK),
    "accounts:set_role": Rule(
        "POST",
        # An organization-A person's URL: organization B's admin must not even learn it exists.
        {"admin": 302, "other_org": 404},
        args=lambda world: {"pk": world.member.pk},
    ),
    "audit:log": Rule("GET", ADMINS_OK),
    "directory:members": Rule("GET", {**ADMINS_OK, "viewer": 200}),
    "directory:export": Rule("GET", {**ADMINS_OK, "viewer": 200}),
    "directory:invite": Rule("POST", {"admin": 302, "other_org": 302}),
    "directory:revoke": Rule(
        "GET", {"admin": 200, "other_org": 404}, args=lambda world: {"pk": world.invitation.pk}
    ),
    "directory:remove": Rule(
        "GET", {"admin": 200, "other_org": 404}, args=lambda world: {"pk": world.mirrored.pk}
    ),
    "directory:give_role": Rule(
        "POST", {"admin": 302, "other_org": 404}, args=lambda world: {"pk": world.mirrored.pk}
    ),
    "directory:note_change": Rule(
        "POST", {"admin": 302, "other_org": 404}, args=lambda world: {"pk": world.mirrored.pk}
    ),
    "directory:member": Rule(
        "GET",
        {"admin": 200, "viewer": 200, "other_org": 404},
        args=lambda world: {"pk": world.mirrored.pk},
    ),
    "directory:refresh": Rule("POST", {"admin": 302, "other_org": 302}),
    "directory:sync_status": Rule(
        "GET",
        {"admin": 200, "viewer": 200, "other_org": 404},
        args=lambda world: {
            "pk": SyncRun.objects.create(
                organization=world.org, trigger="manual", status="succeeded"
            ).pk
        },
    ),
    "audit:export": Rule("GET", ADMINS_OK),
    "links:directory": Rule("GET", {**ADMINS_OK, "sales": 200, "support": 200, "viewer": 200}),
    "links:directory_export": Rule(
        "GET", {**ADMINS_OK, "sales": 200, "support": 200, "viewer": 200}
    ),
    "links:new": Rule("GET", {**ADMINS_OK, "support": 200}),
    "links:ledger": Rule("GET", {**ADMINS_OK, "support": 200}),
    "links:ledger_export": Rule("GET", {**ADMINS_OK, "support": 200}),
    "links:entry": Rule(
        "GET",
        {"admin": 200, "support": 200, "other_org": 404},
        args=lambda world: {"pk": ledger_entry(world.org).pk},
    ),
    # Without ?event_type the share form sends people to pick one on the New link page.
    "links:share_new": Rule("GET", {"admin": 302, "support": 302, "other_org": 302}),
    "links:share_edit": Rule(
        "GET",
        {"admin": 200, "support": 200, "other_org": 404},
        args=lambda world: {"pk": share_entry(world.org).pk},
    ),
    "links:share_delete": Rule(
        "GET",
        {"admin": 200, "support": 200, "other_org": 404},
        args=lambda world: {"pk": share_entry(world.org).pk},
    ),
    "links:shares_refresh": Rule("POST", {"admin": 302, "support": 302, "other_org": 302}),
    # Without ?event_type the bulk form, too, sends people to pick one on the New link page.
    "links:bulk": Rule("GET", {"admin": 302, "support": 302, "other_org": 302}),
    # Bulk work is the admins'; another organization's job is not found, as if it did not exist.
    "directory:bulk_invite": Rule("GET", ADMINS_OK),
    "directory:offboard": Rule("GET", ADMINS_OK),
    # Only an offboarding's preview has this part; a bulk invitation is not one.
    "directory:offboard_calendly": Rule(
        "GET", {"admin": 404, "other_org": 404}, args=lambda world: {"pk": job_entry(world).pk}
    ),
    "compliance:deletion": Rule("GET", {**ADMINS_OK, "compliance": 200}),
    # Only a deletion job has evidence; an admin's bulk invitation is not one.
    "compliance:evidence": Rule(
        "GET",
        {"admin": 404, "compliance": 404, "other_org": 404},
        args=lambda world: {"pk": job_entry(world).pk},
    ),
    # Support and compliance open the jobs pages for their own kinds of job (bulk single-use
    # links, data deletion); an admin's bulk invitation is, to them, not there.
    "jobs:list": Rule("GET", {**ADMINS_OK, "support": 200, "compliance": 200}),
    "jobs:job": Rule(
        "GET", {**NOT_THEIR_JOB, "admin": 200}, args=lambda world: {"pk": job_entry(world).pk}
    ),
    "jobs:results": Rule(
        "GET", {**NOT_THEIR_JOB, "admin": 200}, args=lambda world: {"pk": job_entry(world).pk}
    ),
    # Each action answers with the job's page (a refusal, such as resuming a running job, is a
    # message there).
    **{
        f"jobs:{action}": Rule(
            "POST",
            {**NOT_THEIR_JOB, "admin": 302},
            args=lambda world: {"pk": job_entry(world).pk},
        )
        for action in ("start", "pause", "resume", "cancel", "retry", "discard")
    },
    # Approving is an admin's alone.
    "jobs:approve": Rule(
        "POST", {"admin": 302, "other_org": 404}, args=lambda world: {"pk": job_entry(world).pk}
    ),
    # Webhooks are the admins'. Calendly's deliveries and calendar apps sign in to nothing:
    # the receiver judges a request by its signature (here: not even JSON, so 415 for all),
    # a feed by the secret in its address (here: none, so 404 for all).
    "webhook_receiver": Rule("POST", dict.fromkeys(PEOPLE, 415)),
    "feed_ics": Rule("GET", dict.fromkeys(PEOPLE, 404), args=lambda world: {"token": "no-feed"}),
    "webhooks:subscriptions": Rule("GET", ADMINS_OK),
    "webhooks:subscriptions_refresh": Rule("POST", {"admin": 302, "other_org": 302}),
    "webhooks:subscription_new": Rule("GET", ADMINS_OK),
    **{
        f"webhooks:subscription_{page}": Rule(
            "GET",
            {"admin": 200, "other_org": 404},
            args=lambda world: {"pk": subscription_entry(world.org).pk},
        )
        for page in ("edit", "delete")
    },
    "webhooks:subscription_recreate": Rule(
        "POST",
        {"admin": 302, "other_org": 404},
        args=lambda world: {"pk": subscription_entry(world.org).pk},
    ),
    "webhooks:unsubscribe_all": Rule("GET", ADMINS_OK),
    "webhooks:deliveries": Rule("GET", ADMINS_OK),
    "webhooks:deliveries_export": Rule("GET", ADMINS_OK),
    "webhooks:test_delivery": Rule("GET", ADMINS_OK),
    **{
        f"webhooks:{page}": Rule(
            "GET",
            {"admin": 200, "other_org": 404},
            args=lambda world: {"pk": delivery_entry(world.org).pk},
        )
        for page in ("delivery", "delivery_raw")
    },
    "webhooks:delivery_reprocess": Rule(
        "POST",
        {"admin": 302, "other_org": 404},
        args=lambda world: {"pk": delivery_entry(world.org).pk},
    ),
    # Meetings and availability are support's and the admins'. With no connection in this
    # world, a page that reads Calendly says so in words (502 for an event that cannot be read;
    # 400 for results asked for with no event type).
    "meetings:search": Rule("GET", {**ADMINS_OK, "support": 200}),
    "meetings:event": Rule(
        "GET", {"admin": 502, "support": 502, "other_org": 502}, args=lambda world: EVENT
    ),
    # Its confirmation needs the event read first: without a connection, back to the event.
    "meetings:cancel": Rule(
        "GET", {"admin": 302, "support": 302, "other_org": 302}, args=lambda world: EVENT
    ),
    **{
        f"meetings:{action}": Rule(
            "POST", {"admin": 404, "support": 404, "other_org": 404}, args=lambda world: EVENT
        )
        for action in ("no_show", "no_show_undo", "new_time")
    },
    "meetings:availability": Rule("GET", {**ADMINS_OK, "support": 200}),
    # Without a connection no schedule can be read, whoever's it is: the page says so.
    "meetings:schedule": Rule(
        "GET",
        {"admin": 200, "support": 200, "other_org": 200},
        args=lambda world: {"uuid": "ABCDEF"},
    ),
    "meetings:availability_results": Rule("GET", {"admin": 400, "support": 400, "other_org": 400}),
    "meetings:rep_availability": Rule(
        "GET",
        {"admin": 200, "support": 200, "other_org": 404},
        args=lambda world: {"pk": world.mirrored.pk},
    ),
    # Groups and teams: admins and viewers; another organization's are not found.
    "groups:list": Rule("GET", {**ADMINS_OK, "viewer": 200}),
    "groups:group": Rule(
        "GET",
        {"admin": 200, "viewer": 200, "other_org": 404},
        args=lambda world: {"pk": GroupFactory(organization=world.org).pk},
    ),
    "groups:team": Rule(
        "GET",
        {"admin": 200, "viewer": 200, "other_org": 404},
        args=lambda world: {"pk": team_entry(world.org).pk},
    ),
    # Seat use: admins.
    "seats:list": Rule("GET", ADMINS_OK),
    "seats:export": Rule("GET", ADMINS_OK),
    "seats:scan": Rule("POST", {"admin": 302, "other_org": 302}),
    # Routing forms and Calendly's activity log: admins.
    "activity:log": Rule("GET", ADMINS_OK),
    "activity:log_export": Rule("GET", ADMINS_OK),
    "activity:log_import": Rule("POST", {"admin": 302, "other_org": 302}),
    "activity:routing_forms": Rule("GET", ADMINS_OK),
    "activity:routing_form": Rule("GET", ADMINS_OK, args=lambda world: {"uuid": "ABC"}),
    "activity:routing_export": Rule("GET", ADMINS_OK, args=lambda world: {"uuid": "ABC"}),
    "activity:routing_submission": Rule("GET", ADMINS_OK, args=lambda world: {"uuid": "ABC"}),
    "webhooks:feeds": Rule("GET", ADMINS_OK),
    "webhooks:feed_new": Rule("GET", ADMINS_OK),
    "webhooks:feed_revoke": Rule(
        "GET", {"admin": 200, "other_org": 404}, args=lambda world: {"pk": feed_entry(world.org).pk}
    ),
}


EVENT = {"uuid": "EVENT1"}


def team_entry(org: Organization) -> Team:
    row, _ = Team.objects.get_or_create(
        organization=org,
        uri=f"https://api.calendly.com/teams/TEAM{org.pk}",
        defaults={"name": "Sales team"},
    )
    return row


def subscription_entry(org: Organization) -> Subscription:
    row, _ = Subscription.objects.get_or_create(
        organization=org,
        uri=f"https://api.calendly.com/webhook_subscriptions/HOOK{org.pk}",
        defaults={
            "callback_url": "https://crm.example/hooks/calendly",
            "state": Subscription.State.DISABLED,
            "events": ["invitee.created"],
            "scope": Subscription.Scope.ORGANIZATION,
        },
    )
    return row


def delivery_entry(org: Organization) -> Delivery:
    row, _ = Delivery.objects.get_or_create(
        dedupe_key=f"{org.pk:064d}",
        defaults={
            "organization": org,
            "event": "invitee.created",
            "body": b'{"event": "invitee.created", "payload": {"uri": "x"}}',
            "status": Delivery.Status.FAILED,
            "outcome": "The invitee in this delivery is incomplete.",
        },
    )
    return row


def feed_entry(org: Organization) -> Feed:
    row, _ = Feed.objects.get_or_create(
        organization=org,
        name="Sales team meetings",
        defaults={
            "kind": Feed.Kind.EVENT_TYPES,
            "token_digest": f"{org.pk:064d}",
            "token": f"secret-{org.pk}",
        },
    )
    return row


def ledger_entry(org: Organization) -> IssuedLink:
    return IssuedLink.objects.create(
        organization=org,
        kind=IssuedLink.Kind.SINGLE_USE,
        booking_url="https://calendly.example/d/abc",
        event_type_uri="https://api.calendly.com/event_types/E1",
    )


def share_entry(org: Organization) -> IssuedLink:
    # The same share each time, so the pages' forms are found at the URL that gets fuzzed.
    row, _ = IssuedLink.objects.get_or_create(
        organization=org,
        kind=IssuedLink.Kind.SHARE,
        share_uri=f"https://api.calendly.com/shares/SHARE{org.pk}",
        defaults={
            "booking_url": f"https://calendly.example/d/share-{org.pk}",
            "event_type_uri": "https://api.calendly.com/event_types/E1",
            "settings": {"name": "Renewal chat", "duration": 30, "period_type": "unlimited"},
        },
    )
    return row


def job_entry(world: World) -> Job:
    """A running bulk invitation with one item of each kind (done, failed, waiting), so its
    page shows every control; the same job each time, like `share_entry`."""
    job, created = Job.objects.get_or_create(
        organization=world.org,
        kind="bulk_invite",
        label="Invite people from team.csv",
        defaults={
            "state": Job.State.RUNNING,
            "created_by": world.people["admin"],
            "total": 3,
            "succeeded": 1,
            "failed": 1,
            "started_at": timezone.now(),
            "progressed_at": timezone.now(),
        },
    )
    if created:
        for position, (key, state) in enumerate(
            [
                ("ada@example.com", JobItem.State.DONE),
                ("bo@example.com", JobItem.State.FAILED),
                ("cy@example.com", JobItem.State.PENDING),
            ],
            start=1,
        ):
            JobItem.objects.create(
                job=job, position=position, key=key, state=state, source={"line": position + 1}
            )
    return job


def served_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[URLPattern | URLResolver], namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue  # Django's admin: staff only, guarded by the admin itself
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner)
            elif pattern.name:
                names.add(f"{namespace}{pattern.name}")
            else:
                raise AssertionError(f"URL pattern {pattern.pattern} has no name")

    walk(get_resolver().url_patterns, "")
    return names


def test_every_url_has_an_access_rule() -> None:
    assert served_url_names() - set(RULES) == set(), "add these URLs to RULES"
    assert set(RULES) - served_url_names() == set(), "RULES names URLs that no longer exist"


def make_world() -> World:
    """One organization with a person of every kind, and objects their URLs point at."""
    org = OrganizationFactory()
    people: dict[str, User | None] = {
        "anonymous": None,
        "no_role": UserFactory(organization=org, role=Role.VIEWER, portal_role=""),
        "viewer": UserFactory(organization=org, role=Role.VIEWER),
        "sales": UserFactory(organization=org, role=Role.SALES),
        "support": UserFactory(organization=org, role=Role.SUPPORT),
        "compliance": UserFactory(organization=org, role=Role.COMPLIANCE),
        "admin": UserFactory(organization=org, role=Role.ADMIN),
        "other_org": UserFactory(organization=OrganizationFactory(), role=Role.ADMIN),
    }
    member = UserFactory(organization=org, role=Role.VIEWER)
    return World(
        org=org,
        people=people,
        member=member,
        mirrored=MemberFactory(organization=org),
        invitation=InvitationFactory(organization=org),
    )


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("person", PEOPLE)
def test_each_person_gets_what_the_rule_says(world: World, name: str, person: str) -> None:
    rule = RULES[name]
    client = Client()
    user = world.people[person]
    if user is not None:
        client.force_login(user)
    url = reverse(name, kwargs=rule.args(world))
    response = client.generic(rule.method, url)
    expected = rule.expected(person)
    if expected == SIGN_IN:
        assert response.status_code == 302, f"{name} as {person}"
        assert response["Location"].startswith(reverse("accounts:sign_in")), f"{name} as {person}"
    else:
        assert response.status_code == expected, f"{name} as {person}"


# Calendly cannot send a CSRF token; the receiver's check is the delivery's signature.
SIGNED_NOT_CSRF = {"webhook_receiver"}


@pytest.mark.parametrize(
    "name", sorted(n for n, r in RULES.items() if r.method != "GET" and n not in SIGNED_NOT_CSRF)
)
def test_every_state_change_needs_a_csrf_token(world: World, name: str) -> None:
    rule = RULES[name]
    client = Client(enforce_csrf_checks=True)
    admin = world.people["admin"]
    assert admin is not None
    client.force_login(admin)
    response = client.generic(rule.method, reverse(name, kwargs=rule.args(world)))
    assert response.status_code == 403
    assert b"CSRF" in response.content


@pytest.mark.parametrize("name", sorted(n for n, r in RULES.items() if r.method != "GET"))
def test_state_changing_urls_refuse_get(world: World, name: str) -> None:
    client = Client()
    admin = world.people["admin"]
    assert admin is not None
    client.force_login(admin)
    assert client.get(reverse(name, kwargs=RULES[name].args(world))).status_code == 405


def test_signed_in_pages_are_never_cached(world: World) -> None:
    client = Client()
    admin = world.people["admin"]
    assert admin is not None
    client.force_login(admin)
    cache_control = client.get(reverse("accounts:people"))["Cache-Control"]
    assert "no-store" in cache_control
    assert "private" in cache_control
