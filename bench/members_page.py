"""How fast the members page answers a search, compared with the portal's own empty page.

Serves the portal with gunicorn and production settings on PostgreSQL, fills mirrors of
1,000, 10,000 and 100,000 members, signs an admin in (a real session cookie), and loads each
page with wrk on loopback, side by side in one run. Two searches: a common fragment of names
("an": a full page of matches, counted up to the limit) and a rare one that matches a single
person (a whole email address). Prints throughput ratios (search page / empty page) and each
search's p95 latency, and p95 at each size over p95 at 1,000.

    .venv/bin/python -m bench.members_page [--seconds 5] [--rounds 5] [--connections 8]
        [--workers 2] [--sizes 1000,10000,100000]

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bench_portal; the
database is recreated) and wrk (apt-get install wrk). Targets, for both searches at every
size: ratio >= 0.5; p95 within 1.5x of p95 at 1,000.
"""

from __future__ import annotations

from bench.side_by_side import run

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_portal"
COMMON = "/members/?q=an"  # a common fragment of names: many matches, a full 50-row page


def rare(size: int) -> str:
    """A whole email address: one person matches, somewhere in the middle of the list."""
    return f"/members/?q=person{size // 2 + 7}%40bench{size}.example"


SETUP = """
import sys
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from portal.accounts.models import Organization, Role, User
from portal.directory.models import Group, GroupRelationship, Member, SyncRun

FIRST = ["Ana", "Ben", "Chandra", "Dana", "Elena", "Frank", "Grace", "Hans", "Ivan", "Joanna"]
LAST = ["Anderson", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hansen", "Ito"]
for size in SIZES:
    org = Organization.objects.create(
        uri=f"https://api.calendly.com/organizations/BENCH{size}", name=f"Bench {size}"
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
            email=f"person{i}@bench{size}.example",
            role="user" if i % 20 else "admin",
            calendly_created_at=timezone.now(),
        )
        for i in range(size)
    ], batch_size=2000)
    GroupRelationship.objects.bulk_create([
        GroupRelationship(
            organization=org, uri=f"{m.uri}/group", group=groups[i % 10], role="member",
            owner_uri=m.uri, member=m,
        )
        for i, m in enumerate(members)
    ], batch_size=2000)
    # The page says when the mirror was last synced, and what that sync noted.
    SyncRun.objects.create(
        organization=org, trigger="schedule", status="succeeded", finished_at=timezone.now(),
        counts={"members": size}, notes=["Routing forms were skipped: not in this plan."],
    )
    admin = User.objects.create(
        username=f"bench-admin-{size}", email=f"admin@bench{size}.example",
        organization=org, calendly_role="admin",
        calendly_uri=f"{org.uri}/users/admin",
    )
    session = SessionStore()
    session[SESSION_KEY] = str(admin.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = admin.get_session_auth_hash()
    session["signed_in_at"] = timezone.now().isoformat()
    session["last_seen_at"] = timezone.now().isoformat()
    session.set_expiry(12 * 3600)
    session.save()
    print(f"SESSION {size} {session.session_key}")
"""


def main() -> None:
    run(
        __doc__,
        default_database=DEFAULT_DATABASE,
        size_option=("--sizes", "1000,10000,100000"),
        setup=lambda sizes: f"SIZES = {sizes!r}\n{SETUP}",
        searches=lambda size: {"common": COMMON, "rare": rare(size)},
        size_label=("members", lambda size: size),
    )


if __name__ == "__main__":
    main()
