"""The groups and teams pages: what the organization's groups and teams hold, read-only.

Calendly's API only reads groups and teams, so these pages show the last sync's copy and send
changes to Calendly's admin center. Event types are shown as the link directory shows them
(portal/links/directory.py), Copy buttons only on links that take bookings.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_safe

from portal.accounts import roles
from portal.accounts.models import Role
from portal.accounts.roles import allow
from portal.directory import groups
from portal.directory.mirror import mirror_state
from portal.directory.models import Group, Team
from portal.htmx import HtmxHttpRequest, render_page
from portal.links import directory as link_directory
from portal.lists import Column, rows_html

# Where groups are created, renamed and filled: Calendly's API cannot change them.
CALENDLY_GROUPS_ADMIN = "https://calendly.com/app/admin/groups"
# A search box's bound, as every list's.
SEARCH_MAX = 200


@allow(Role.ADMIN, Role.VIEWER)
@require_safe
def group_list(request: HtmxHttpRequest) -> HttpResponse:
    organization_id = roles.organization_id(request)
    search = request.GET.get("q", "")[:SEARCH_MAX].replace("\x00", "")
    context = {
        "search": search,
        "overview": groups.overview(organization_id, search),
        "last_good_sync": mirror_state(organization_id).last_good_sync,
        "list_limit": groups.LIST_LIMIT,
        "admin_center": CALENDLY_GROUPS_ADMIN,
    }
    return render_page(request, "groups/list.html", "group-results", context)


@allow(Role.ADMIN, Role.VIEWER)
@require_safe
def group(request: HttpRequest, pk: int) -> HttpResponse:
    organization_id = roles.organization_id(request)
    # Another organization's group is simply not found.
    found = get_object_or_404(Group, pk=pk, organization_id=organization_id)
    page = groups.group_page(
        found, link_directory.FIELDS, link_directory.DirectoryFilter.sorts["rep"]
    )
    columns = _event_type_columns(organization_id, page.event_types, with_owner=True)
    by_group = urlencode({"group": found.pk})
    return render(
        request,
        "groups/group.html",
        {
            "group": found,
            "page": page,
            "shown": groups.SHOWN,
            "headers": [column.label for column in columns],
            "event_type_rows": rows_html(columns, page.event_types),
            "members_url": f"{reverse('directory:members')}?{by_group}",
            "links_url": f"{reverse('links:directory')}?{by_group}",
            "admin_center": CALENDLY_GROUPS_ADMIN,
        },
    )


@allow(Role.ADMIN, Role.VIEWER)
@require_safe
def team(request: HttpRequest, pk: int) -> HttpResponse:
    organization_id = roles.organization_id(request)
    found = get_object_or_404(Team, pk=pk, organization_id=organization_id)
    event_types = groups.team_event_types(
        found, link_directory.FIELDS, link_directory.DirectoryFilter.sorts["event"]
    )
    # The team is the page's subject: its rows start with the event type.
    columns = _event_type_columns(organization_id, event_types, with_owner=False)
    return render(
        request,
        "groups/team.html",
        {
            "team": found,
            "event_types": event_types,
            "headers": [column.label for column in columns],
            "event_type_rows": rows_html(columns, event_types),
        },
    )


def _event_type_columns(
    organization_id: int, rows: list[object], *, with_owner: bool
) -> list[Column]:
    """The link directory's columns for these rows (its owners and hosts, read once per
    change of the organization's mirror)."""
    details = link_directory.page_details(organization_id, rows, mirror_state(organization_id))
    columns = link_directory.columns(details)
    return columns if with_owner else columns[1:]


urls: list[URLPattern] = [
    path("", group_list, name="list"),
    path("<int:pk>", group, name="group"),
    path("teams/<int:pk>", team, name="team"),
]
