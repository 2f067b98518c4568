"""The link directory's pages: the list (a sales person's home page) and its CSV export."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from portal.accounts import roles
from portal.accounts.models import Role
from portal.accounts.roles import allow
from portal.directory.mirror import mirror_state
from portal.htmx import HtmxHttpRequest, render_page
from portal.links import directory as link_directory
from portal.lists import ListContext, csv_response, read_page

READERS = (Role.ADMIN, Role.SALES, Role.SUPPORT, Role.VIEWER)


@allow(*READERS)
@require_safe
def directory(request: HtmxHttpRequest) -> HttpResponse:
    organization_id = roles.organization_id(request)
    mirror = mirror_state(organization_id)
    form = link_directory.DirectoryFilter(request.GET, groups=list(mirror.groups.items()))
    page = read_page(
        form.rows(organization_id),
        fields=link_directory.FIELDS,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=link_directory.total(organization_id, form.chosen_state),
    )
    details = link_directory.page_details(organization_id, page.rows, mirror)
    context = {
        "form": form,
        "group_choices": form.fields["group"].choices,  # type: ignore[attr-defined]
        "list": ListContext(
            form=form,
            page=page,
            columns=link_directory.columns(details),
            base_url=reverse("links:directory"),
            export_url=reverse("links:directory_export"),
            noun=form.noun,
            target="directory-results",
            empty=_empty_words(form.chosen_state, mirror.last_good_sync is not None),
        ),
        "last_good_sync": mirror.last_good_sync,
    }
    return render_page(request, "links/directory.html", "directory-results", context)


def _empty_words(state: str, synced: bool) -> str:
    if state == link_directory.State.INACTIVE:
        return "No inactive event types."
    if synced:
        return "No event types in this organization yet."
    return (
        "No event types yet. They appear here after the organization's first sync with "
        "Calendly, which starts right after an admin connects the organization."
    )


@allow(*READERS)
@require_safe
def export(request: HttpRequest) -> StreamingHttpResponse:
    organization_id = roles.organization_id(request)
    mirror = mirror_state(organization_id)
    form = link_directory.DirectoryFilter(request.GET, groups=list(mirror.groups.items()))
    rows = link_directory.csv_rows(form, organization_id)
    return csv_response("scheduling-links", link_directory.CSV_HEADER, rows)
