"""The members list's reading of the mirror: one compiled statement, pages and counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts.models import Organization
from portal.directory import people
from portal.directory.models import Invitation, Member
from tests.factories import InvitationFactory, MemberFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

ROLES = [Member.Role.USER, Member.Role.ADMIN, Member.Role.OWNER]


@pytest.fixture
def org() -> Organization:
    organization = OrganizationFactory()
    now = timezone.now()
    # Every sort key distinct (roles tie, then names decide), so an order has one answer.
    for i in range(30):
        MemberFactory(
            organization=organization,
            name=f"Person {(i * 7) % 30:02d}",
            role=ROLES[i % 3],
            calendly_created_at=now - timedelta(hours=(i * 11) % 30),
            removed_at=now - timedelta(hours=(i * 13) % 30) if i % 2 else None,
        )
        InvitationFactory(
            organization=organization,
            email=f"invitee{(i * 7) % 30:02d}@example.com",
            status=Invitation.Status.PENDING,
            calendly_created_at=now - timedelta(hours=(i * 11) % 30),
            last_sent_at=now - timedelta(hours=(i * 17) % 30),
        )
    return organization


CASES = [
    *((people.Status.ACTIVE, sort) for sort in people.MEMBER_SORTS),
    *((people.Status.REMOVED, sort) for sort in people.MEMBER_SORTS),
    *((people.Status.PENDING, sort) for sort in people.INVITATION_SORTS),
]


@pytest.mark.parametrize(("status", "sort"), CASES)
def test_a_counted_page_is_the_page_the_plain_statement_reads(
    org: Organization, status: str, sort: str
) -> None:
    wanted = people.Wanted(q="", status=status, role="", group=None, sort=sort)
    selected = people.rows(org.pk, wanted)
    columns = people.INVITATION_COLUMNS if wanted.is_invitations else people.MEMBER_COLUMNS
    compiled = people.CompiledList(
        selected, columns, scalars={"total": people.total_of(org.pk, status)}
    )
    assert compiled.order
    total = selected.count()
    assert compiled.count() == compiled.scalars()["total"] == total
    expected = [tuple(row) for row in selected.values_list(*columns)]
    for offset in (0, 4, 8):
        rows, counted, scalars = compiled.counted_slice(offset, 4, 12)
        assert rows == expected[offset : offset + 4]
        assert (counted, scalars) == (min(total, 12), {"total": total})
        assert compiled.slice(offset, 4) == expected[offset : offset + 4]
    assert compiled.counted_slice(0, 4, 100)[1] == total
    with pytest.raises(ValueError, match="within the counted matches"):
        compiled.counted_slice(10, 4, 12)


def test_an_order_the_statement_cannot_restate_falls_back_to_two_queries(
    org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(people, "PAGE_SIZE", 10)
    # Sorted by a column the list does not select: no window, a page and a separate count.
    selected = Member.objects.filter(organization=org).order_by("uri")
    scalars = {"total": people.total_of(org.pk, "active"), "sync": people.latest_sync_of(org.pk)}
    compiled = people.CompiledList(selected, people.MEMBER_COLUMNS, scalars=scalars)
    assert compiled.order == ""
    results = people.results_page(compiled, "2", filtered=True)
    expected = list(selected.values_list("pk", flat=True)[10:20])
    assert [row[0] for row in results.rows] == expected
    assert (results.count, results.more, results.has_next) == (30, False, True)
    # The scalars came by themselves: the active total (every other person was removed), and
    # no sync run yet.
    assert results.scalars == {"total": 15, "sync": None}
