"""How fast the link directory answers a search, compared with the portal's own empty page.

The method of bench/members_page.py (bench/side_by_side.py measures both): gunicorn with
production settings on PostgreSQL, wrk on loopback with a real session cookie, side by side in
one run. Fills mirrors of 1,000 and 10,000 members with 5 event types each (5,000 and 50,000
rows: four of a rep's own, one of them inactive every seventh rep and one secret every third,
and a team's pool, round robin or collective, hosted by three reps), signs a sales person in,
and loads the empty page, a search for a common fragment ("an": a full page of 50 rows, counted
up to the limit) and a rare one that matches a single rep (a whole email address: their own
types and the pools they host). Prints throughput ratios (search page / empty page), each
search's p95 latency, and p95 at 50,000 over p95 at 5,000.

    .venv/bin/python -m bench.link_directory [--seconds 5] [--rounds 5] [--connections 8]
        [--workers 2] [--reps 1000,10000]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bench_links; the
database is recreated) and wrk (apt-get install wrk). Targets, for both searches at both
sizes: ratio >= 0.5; p95 at 50,000 within 1.5x of p95 at 5,000.
"""

from __future__ import annotations

from bench.side_by_side import run

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_links"
TYPES_PER_REP = 5
COMMON = "/links/?q=an"  # a common fragment of names: many matches, a full 50-row page


def rare(reps: int) -> str:
    """A whole email address: one rep's types and pools, somewhere in the middle of the list."""
    return f"/links/?q=person{reps // 2 + 7}%40bench{reps}.example"


SETUP = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from portal.accounts.models import Organization, User
from portal.directory.models import (
    EventType, EventTypeHost, Group, GroupRelationship, Member, SyncRun,
)

FIRST = ["Ana", "Ben", "Chandra", "Dana", "Elena", "Frank", "Grace", "Hans", "Ivan", "Joanna"]
LAST = ["Anderson", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hansen", "Ito"]
OWN = [("30 Minute Meeting", 30), ("Discovery Call", 15), ("Product Demo", 45), ("Deep Dive", 60)]
for reps in REPS:
    org = Organization.objects.create(
        uri=f"https://api.calendly.com/organizations/LINKS{reps}", name=f"Bench {reps}"
    )
    groups = Group.objects.bulk_create(
        Group(organization=org, uri=f"{org.uri}/groups/{i}", name=f"Group {i}") for i in range(10)
    )
    members = Member.objects.bulk_create([
        Member(
            organization=org,
            uri=f"{org.uri}/memberships/{i}",
            user_uri=f"{org.uri}/users/{i}",
            name=f"{FIRST[i % len(FIRST)]} {LAST[(i // 7) % len(LAST)]} {i}",
            email=f"person{i}@bench{reps}.example",
            role="user",
            slug=f"person-{i}",
            scheduling_url=f"https://calendly.com/person-{i}",
            calendly_created_at=timezone.now(),
        )
        for i in range(reps)
    ], batch_size=2000)
    GroupRelationship.objects.bulk_create([
        GroupRelationship(
            organization=org, uri=f"{m.uri}/group", group=groups[i % 10], role="member",
            owner_uri=m.uri, member=m,
        )
        for i, m in enumerate(members)
    ], batch_size=2000)
    types = []
    for i, m in enumerate(members):
        for position, (name, duration) in enumerate(OWN):
            slug = name.lower().replace(" ", "-")
            types.append(EventType(
                organization=org, uri=f"{org.uri}/event_types/{i}-{position}", name=name,
                slug=slug, active=not (position == 3 and i % 7 == 0),
                scheduling_url=f"https://calendly.com/person-{i}/{slug}", duration=duration,
                kind="solo", type="StandardEventType", secret=position == 2 and i % 3 == 0,
                admin_managed=position == 2, profile_type="User", profile_name=m.name,
                profile_owner_uri=m.user_uri,
            ))
        team = f"{LAST[i % len(LAST)]} Team {i // 50}"
        types.append(EventType(
            organization=org, uri=f"{org.uri}/event_types/{i}-pool", name=f"Intro {i}",
            slug=f"intro-{i}", active=True,
            scheduling_url=f"https://calendly.com/team-{i // 50}/intro-{i}", duration=30,
            kind="solo", pooling_type="round_robin" if i % 2 else "collective",
            type="StandardEventType", profile_type="Team", profile_name=team,
            profile_owner_uri=f"{org.uri}/teams/{i // 50}",
        ))
    types = EventType.objects.bulk_create(types, batch_size=2000)
    pools = [t for t in types if t.pooling_type]
    EventTypeHost.objects.bulk_create([
        EventTypeHost(event_type=pool, member=members[(i + k) % reps])
        for i, pool in enumerate(pools)
        for k in range(3)
    ], batch_size=2000)
    SyncRun.objects.create(
        organization=org, trigger="schedule", status="succeeded", finished_at=timezone.now(),
        counts={"members": reps, "event_types": len(types)},
    )
    sales = User.objects.create(
        username=f"bench-sales-{reps}", email=f"sales@bench{reps}.example",
        organization=org, calendly_role="user", portal_role="sales",
        calendly_uri=f"{org.uri}/users/sales",
    )
    session = SessionStore()
    session[SESSION_KEY] = str(sales.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = sales.get_session_auth_hash()
    session["signed_in_at"] = timezone.now().isoformat()
    session["last_seen_at"] = timezone.now().isoformat()
    session.set_expiry(12 * 3600)
    session.save()
    print(f"SESSION {reps} {session.session_key}")
"""


def main() -> None:
    run(
        __doc__,
        default_database=DEFAULT_DATABASE,
        size_option=("--reps", "1000,10000"),
        setup=lambda reps: f"REPS = {reps!r}\n{SETUP}",
        searches=lambda reps: {"common": COMMON, "rare": rare(reps)},
        size_label=("event types", lambda reps: reps * TYPES_PER_REP),
    )


if __name__ == "__main__":
    main()
