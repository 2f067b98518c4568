"""The seat use page: who hosted how many meetings lately, least used first, for admins.

The page reads only what seat scans stored (portal/directory/seats.py), so it is instant; Scan
now asks a background worker for what is new. Ticked members go straight to offboarding's
preview (`directory:offboard`), which changes nothing until it is confirmed.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST, require_safe

from portal import audit
from portal.accounts.connections import ConnectionUnavailable, get_connection
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.calendly import errors
from portal.directory import members, seats, tasks
from portal.directory.mirror import mirror_state
from portal.htmx import HtmxHttpRequest, render_page
from portal.lists import ListContext, csv_response, read_page


def _form(request: HttpRequest, org_id: int) -> seats.SeatFilter:
    return seats.SeatFilter(request.GET, groups=list(mirror_state(org_id).groups.items()))


@allow(Role.ADMIN)
@require_safe
def seat_list(request: HtmxHttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    form = _form(request, org_id)
    covered_until = seats.covered_until(org_id)
    context: dict[str, object] = {
        "form": form,
        "last_scan": seats.last_scan(org_id),
        "running_scan": seats.running_scan(org_id),
        "covered_from": seats.covered_from(org_id),
        "covered_until": covered_until,
        "selection_form": seats.SELECTION_FORM,
    }
    if covered_until is not None:
        rows = form.rows(org_id)
        page = read_page(
            rows,
            fields=seats.FIELDS,
            order_by=form.order_by(),
            page=form.page_number,
            filtered=form.filtered,
            total=members.total(org_id, members.Status.ACTIVE),
        )
        context["list"] = ListContext(
            form=form,
            page=page,
            columns=seats.columns(selectable=True),
            base_url=reverse("seats:list"),
            export_url=reverse("seats:export"),
            noun=("member", "members"),
            target="seat-results",
            empty="No members yet: they appear after the organization's first sync with Calendly.",
        )
    return render_page(request, "seats/list.html", "seat-results", context)


@allow(Role.ADMIN)
@require_safe
def seat_export(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    org_id = organization_id(request)
    form = _form(request, org_id)
    if form.errors or seats.covered_until(org_id) is None:
        # The current view must make sense to be exported: show the filters' errors, or that
        # nothing is scanned yet (every count would read 0), instead.
        page = seat_list(request)
        page.status_code = 400 if form.errors else 200
        return page
    audit.record(
        action=audit.Action.SEATS_EXPORTED,
        organization=Organization.objects.get(pk=org_id),
        after={
            "filters": {
                name: str(value)
                for name, value in form.cleaned_data.items()
                if value not in (None, "") and name != "page"
            }
        },
        request=request,
    )
    return csv_response("seat-use", seats.CSV_HEADER, seats.csv_rows(form, org_id))


@allow(Role.ADMIN)
@require_POST
def scan(request: HttpRequest) -> HttpResponse:
    """Ask a background worker to read the meetings scheduled since the last scan."""
    organization = Organization.objects.get(pk=organization_id(request))
    try:
        get_connection(organization)
    except ConnectionUnavailable as exc:
        messages.error(request, errors.explain(exc, doing=seats.DOING))
        return redirect("seats:list")
    if seats.running_scan(organization.pk) is not None:
        messages.info(request, "A scan is already running; its meetings appear here when it ends.")
    elif tasks.queue_seat_scan(organization.pk, requested_by_id=person(request).pk):
        audit.record(
            action=audit.Action.SEAT_SCAN_REQUESTED, organization=organization, request=request
        )
        messages.success(
            request,
            "Scanning Calendly's scheduled events in the background; the counts here are "
            "updated in a minute or so (longer on the first scan, which reads 90 days).",
        )
    else:
        messages.error(
            request,
            "The background workers could not take the scan just now. Seat use is scanned "
            "every day anyway; try again in a few minutes.",
        )
    return redirect("seats:list")


urls: list[URLPattern] = [
    path("", seat_list, name="list"),
    path("export.csv", seat_export, name="export"),
    path("scan", scan, name="scan"),
]
