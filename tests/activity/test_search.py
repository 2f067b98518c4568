"""Calendly's search operators over the activity log the portal keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db.models import Q

from portal.accounts.models import Role
from portal.activity import search
from portal.activity.models import ActivityEntry
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

ENTRIES = {
    "ana-added": ("User", "Add", "Ana Diaz", "ana@acme.com", {"role": "admin"}),
    "bo-removed": ("User", "Remove", "Bo Li", "bo@other.com", {}),
    "ana-group": ("Group", "Add", "Ana Diaz", "ana@acme.com", {"group": "Sales team"}),
    "support": ("User", "Update", "Calendly Support", None, {"note": "role changed"}),
}


@pytest.fixture
def log() -> Any:
    org = OrganizationFactory()
    for key, (namespace, action, name, email, details) in ENTRIES.items():
        ActivityEntry.objects.create(
            organization=org,
            uri=f"https://api.calendly.com/activity_log_entries/{key}",
            occurred_at=datetime(2026, 11, 30, tzinfo=UTC),
            namespace=namespace,
            action=action,
            actor_name=name,
            actor_email=email,
            details=details,
        )
    return org


def found(text: str) -> set[str]:
    def anywhere(term: str) -> Q:
        return (
            Q(namespace__icontains=term)
            | Q(action__icontains=term)
            | Q(actor_name__icontains=term)
            | Q(actor_email__icontains=term)
            | Q(details__icontains=term)
        )

    rows = ActivityEntry.objects.filter(search.parse(text, anywhere))
    return {uri.rsplit("/", 1)[-1] for uri in rows.values_list("uri", flat=True)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ana", {"ana-added", "ana-group"}),
        ("ana add", {"ana-added", "ana-group"}),
        ("ana + group", {"ana-group"}),
        ("remove | update", {"bo-removed", "support"}),
        ("ana -group", {"ana-added"}),
        ('"Calendly Support"', {"support"}),
        ('"Support Calendly"', set()),
        ("*@other.com", {"bo-removed"}),
        ("(remove | update) -support", {"bo-removed"}),
        ("user + (add | remove)", {"ana-added", "bo-removed"}),
        ("", set(ENTRIES)),
    ],
)
def test_each_operator_selects_what_calendly_would(log: Any, text: str, expected: set[str]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('"unclosed', "quotation mark is not closed"),
        ("(ana | bo", "parenthesis is not closed"),
        ("ana)", "closes that was not opened"),
        ("| ana", "needs a word before and after it"),
        ("ana +", "ends where a word was expected"),
        ("***", "a term is empty"),
    ],
)
def test_a_malformed_search_says_where(text: str, said: str) -> None:
    with pytest.raises(search.BadSearch, match=said):
        search.parse(text, lambda term: Q(action__icontains=term))


def test_the_page_applies_the_search_and_explains_a_malformed_one(log: Any, client: Any) -> None:
    client.force_login(UserFactory(organization=log, role=Role.ADMIN))
    page = client.get("/activity/log", {"q": "ana -group"}).content.decode()
    assert "1 of 4 entries" in page
    assert "&quot;role&quot;: &quot;admin&quot;" in page  # Ana's addition, not her group
    bad = client.get("/activity/log", {"q": "(ana"})
    assert "This search cannot be read: a parenthesis is not closed." in bad.content.decode()
