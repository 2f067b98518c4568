"""Every Calendly operation the portal's client offers (the seed integration component's 35)
is reachable by someone: each names the page or command that performs it, the page or command
exists, and the code behind it calls that operation. The README's table is this one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands
from django.urls import NoReverseMatch, get_resolver

from portal.calendly.client import OPERATIONS

PORTAL = Path(__file__).resolve().parent.parent / "portal"

# Operation -> ("page", URL name) or ("command", manage.py command).
REACHED_BY: dict[str, tuple[str, str]] = {
    "cancelEvent": ("page", "meetings:cancel"),
    "createShare": ("page", "links:share_new"),
    "createSingleUseSchedulingLink": ("page", "links:new"),
    "createWebhookSubscription": ("page", "webhooks:subscription_new"),
    "deleteInstancedWebhooks": ("page", "webhooks:unsubscribe_all"),
    "deleteInviteeData": ("page", "compliance:deletion"),
    "deleteScheduledEventData": ("page", "compliance:deletion"),
    "deleteWebhookSubscription": ("page", "webhooks:subscription_delete"),
    "getCurrentUser": ("page", "accounts:connect"),
    "getEvent": ("page", "meetings:event"),
    "getEventInvitee": ("page", "meetings:no_show"),
    "getEventType": ("page", "meetings:new_time"),
    "getOrganizationInvitation": ("page", "directory:revoke"),
    "getOrganizationMembership": ("page", "directory:remove"),
    "getRoutingForm": ("page", "activity:routing_form"),
    "getRoutingFormSubmission": ("page", "activity:routing_submission"),
    "getUser": ("page", "meetings:rep_availability"),
    "getUserAvailabilitySchedule": ("page", "meetings:schedule"),
    "getWebhookSubscription": ("page", "webhooks:subscription_edit"),
    "inviteUserToOrganization": ("page", "directory:invite"),
    "listActivityLogEntries": ("page", "activity:log_import"),
    "listEventInvitees": ("page", "meetings:event"),
    "listEventTypeAvailableTimes": ("page", "meetings:availability_results"),
    "listEvents": ("page", "meetings:search"),
    "listOrganizationInvitations": ("page", "directory:refresh"),
    "listOrganizationMemberships": ("page", "directory:refresh"),
    "listRoutingFormSubmissions": ("page", "activity:routing_form"),
    "listRoutingForms": ("page", "activity:routing_forms"),
    "listUserAvailabilitySchedules": ("page", "meetings:rep_availability"),
    "listUserBusyTimes": ("page", "meetings:rep_availability"),
    "listUserEventTypes": ("page", "directory:refresh"),
    "listWebhookSubscription": ("page", "webhooks:subscriptions_refresh"),
    "rawRequest": ("command", "calendly_request"),
    "removeUserFromOrganization": ("page", "directory:remove"),
    "revokeUserOrganizationInvitation": ("page", "directory:revoke"),
}


def url_names() -> set[str]:
    names: set[str] = set()

    def walk(resolver: object, prefix: str) -> None:
        for pattern in getattr(resolver, "url_patterns", []):
            if hasattr(pattern, "url_patterns"):
                namespace = pattern.namespace
                walk(pattern, f"{prefix}{namespace}:" if namespace else prefix)
            elif pattern.name:
                names.add(prefix + pattern.name)

    walk(get_resolver(), "")
    return names


def app_of(target: tuple[str, str]) -> Path:
    """The app folder whose code performs the operation for the page or command."""
    kind, name = target
    if kind == "command":
        return PORTAL / get_commands()[name].removeprefix("portal.").replace(".", "/")
    namespace = name.split(":", 1)[0]
    folder = {
        "compliance": "directory",
        "groups": "directory",
        "accounts": "accounts",
    }.get(namespace, namespace)
    return PORTAL / folder


def test_every_operation_names_how_it_is_reached() -> None:
    assert set(REACHED_BY) == set(OPERATIONS)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_the_page_or_command_exists_and_its_app_calls_the_operation(operation: str) -> None:
    kind, name = REACHED_BY[operation]
    if kind == "page":
        if name not in url_names():
            raise NoReverseMatch(f"{operation}: no page named {name}")
    else:
        assert name in get_commands(), f"{operation}: no command {name}"
    method = OPERATIONS[operation]
    code = "\n".join(p.read_text() for p in app_of((kind, name)).rglob("*.py"))
    assert re.search(rf"\.{method}\(", code), f"{operation}: nothing in {name}'s app calls {method}"


def test_the_readme_carries_the_same_table() -> None:
    readme = (PORTAL.parent / "README.md").read_text()
    for operation, (kind, name) in REACHED_BY.items():
        shown = f"`{name}`" if kind == "page" else f"`manage.py {name}`"
        assert re.search(rf"\| `{operation}` \| {re.escape(shown)} \|", readme), operation
