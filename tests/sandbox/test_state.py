"""The seeded organization: deterministic, plausible, and cheap to make large."""

from __future__ import annotations

from portal.sandbox import Sandbox, seeded


def test_ten_thousand_members_generate_quickly() -> None:
    sandbox = seeded(Sandbox(members=10_000, seed=7))

    people = [sandbox.users[m.user] for m in sandbox.org_memberships(sandbox.org_uuid)]

    assert len(people) == 10_000
    assert len({p.email for p in people}) == 10_000
    assert len({p.name for p in people}) == 10_000
    assert len({p.slug for p in people}) == 10_000
    roles = [m.role for m in sandbox.org_memberships(sandbox.org_uuid)]
    assert roles.count("owner") == 1
    assert roles.count("admin") == 10


def test_same_seed_same_organization() -> None:
    first, second = seeded(Sandbox(members=40, seed=3)), seeded(Sandbox(members=40, seed=3))

    assert [u.email for u in first.users.values()] == [u.email for u in second.users.values()]
    assert list(first.event_types) == list(second.event_types)
    assert first.owner_token == second.owner_token


def test_different_seeds_differ() -> None:
    first, second = seeded(Sandbox(members=20, seed=1)), seeded(Sandbox(members=20, seed=2))

    assert first.owner.email != second.owner.email


def test_ids_are_calendly_style_opaque_strings() -> None:
    sandbox = seeded(Sandbox(members=10))

    assert all(len(u) == 16 for u in sandbox.users)
    assert all(u.isalnum() and u == u.upper() for u in sandbox.users)


def test_fixed_owner_token_is_used() -> None:
    sandbox = seeded(Sandbox(members=10, owner_token="let-me-in"))

    assert sandbox.authenticate("let-me-in") is not None
    assert sandbox.authenticate("let-me-in").user == sandbox.owner.uuid  # type: ignore[union-attr]


def test_seed_covers_invitations_of_every_status_and_groups() -> None:
    sandbox = seeded(Sandbox(members=30))

    statuses = {i.status for i in sandbox.invitations.values()}
    assert statuses == {"pending", "accepted", "declined"}
    assert {r.role for r in sandbox.group_relationships.values()} == {"member", "admin"}
    assert sandbox.routing_forms
    assert sandbox.submissions
    assert sandbox.activity
    assert {e.status for e in sandbox.scheduled_events.values()} == {"active", "canceled"}
