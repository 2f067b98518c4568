"""The mirror's totals are kept by database triggers, through every kind of write."""

from __future__ import annotations

import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from django.utils import timezone

from portal.accounts.models import Organization
from portal.directory.models import EventType, Invitation, Member, MirrorTotal
from tests.conftest import PYTHON, ROOT, clean_environment
from tests.factories import InvitationFactory, MemberFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def counted(organization: Organization) -> Counter[str]:
    """What the totals should say, counted row by row."""
    totals: Counter[str] = Counter()
    for removed_at in Member.objects.filter(organization=organization).values_list(
        "removed_at", flat=True
    ):
        totals["active" if removed_at is None else "removed"] += 1
    invitations = Invitation.objects.filter(organization=organization, removed_at__isnull=True)
    totals.update(invitations.values_list("status", flat=True))
    # The link directory's totals (migration directory 0008): event types not removed.
    event_types = EventType.objects.filter(organization=organization, removed_at__isnull=True)
    for active in event_types.values_list("active", flat=True):
        totals["active_types" if active else "inactive_types"] += 1
    return totals


def kept(organization: Organization) -> Counter[str]:
    rows = MirrorTotal.objects.filter(organization=organization).values_list("kind", "n")
    return Counter({kind: n for kind, n in rows if n})


def test_totals_follow_inserts_updates_and_deletes() -> None:
    org, other = OrganizationFactory(), OrganizationFactory()
    now = timezone.now()
    members = MemberFactory.create_batch(6, organization=org)
    MemberFactory.create_batch(2, organization=other)
    invitations = [
        InvitationFactory(organization=org, status=status)
        for status in ("pending", "pending", "pending", "declined", "accepted")
    ]
    assert kept(org) == counted(org) == Counter(active=6, pending=3, declined=1, accepted=1)

    Member.objects.filter(pk__in=[members[0].pk, members[1].pk]).update(removed_at=now)
    members[1].removed_at = None
    members[1].save()  # back again: a later sync listed them
    members[2].delete()
    members[3].name = "Renamed"  # not a change of kind
    members[3].save()
    Invitation.objects.filter(pk=invitations[0].pk).update(removed_at=now)  # revoked
    Invitation.objects.filter(pk=invitations[1].pk).update(status="accepted")
    invitations[4].delete()
    Member.objects.bulk_create(
        [
            Member(
                organization=org,
                uri=members[4].uri,
                user_uri=members[4].user_uri,
                name="Upserted",
                email=members[4].email,
                role="user",
                removed_at=now,
            )
        ],
        update_conflicts=True,
        unique_fields=["uri"],
        update_fields=["name", "removed_at"],
    )

    assert (
        kept(org) == counted(org) == Counter(active=3, removed=2, pending=1, accepted=1, declined=1)
    )
    assert kept(other) == counted(other) == Counter(active=2)


def test_deleting_an_organization_takes_its_totals_along() -> None:
    org = OrganizationFactory()
    MemberFactory.create_batch(3, organization=org)
    InvitationFactory(organization=org)
    org.delete()
    assert not MirrorTotal.objects.filter(organization_id=org.pk).exists()


def migrate_sqlite(path: Path, *target: str) -> None:
    subprocess.run(
        [PYTHON, "manage.py", "migrate", *target, "--verbosity", "0"],
        cwd=ROOT,
        env=clean_environment(
            PORTAL_ENV="test", DATABASE_URL=f"sqlite:///{path}", PORTAL_DATA_DIR=str(path.parent)
        ),
        check=True,
        timeout=120,
    )


@pytest.mark.slow
def test_totals_survive_the_migration_that_rebuilds_the_tables_on_sqlite(tmp_path: Path) -> None:
    """SQLite rebuilds a table to change a column's type, which drops its triggers: the
    migration to text columns must put them back and recount (the demo runs on SQLite)."""
    database = tmp_path / "portal.sqlite3"
    migrate_sqlite(database, "directory", "0002")
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO accounts_organization (uri, name, created_at, updated_at) "
            "VALUES ('https://api.calendly.com/organizations/O', '', 0, 0)"
        )
        for n in range(3):
            db.execute(
                "INSERT INTO directory_member (organization_id, uri, user_uri, name, email, role,"
                " slug, scheduling_url, timezone, avatar_url) VALUES (1, ?, ?, 'N', ?, 'user',"
                " '', '', '', '')",
                (f"m{n}", f"u{n}", f"m{n}@example.com"),
            )

    migrate_sqlite(database)

    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO directory_member (organization_id, uri, user_uri, name, email, role,"
            " slug, scheduling_url, timezone, avatar_url) VALUES (1, 'm9', 'u9', ?, 'x@y', "
            "'user', '', '', '', '')",
            ("N" * 320,),
        )
        db.execute(
            "INSERT INTO directory_invitation (organization_id, uri, email, status, user_uri)"
            " VALUES (1, 'i1', 'i@example.com', 'pending', '')"
        )
        totals = dict(db.execute("SELECT kind, n FROM directory_mirrortotal"))
    assert totals == {"active": 4, "pending": 1}
