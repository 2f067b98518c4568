"""Support's pages: making a single-use link, and the ledger of every link handed out."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from portal import audit
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.htmx import HtmxHttpRequest, render_page
from portal.links import ledger as ledger_list
from portal.links import single_use
from portal.links.forms import RepSearchForm, SingleUseLinkForm
from portal.links.issue import LinkRefused
from portal.links.models import IssuedLink
from portal.lists import ListContext, csv_response, read_page


@allow(Role.ADMIN, Role.SUPPORT)
@require_http_methods(["GET", "HEAD", "POST"])
def new_link(request: HtmxHttpRequest) -> HttpResponse:
    """Pick a rep (typeahead), one of their event types, and for whom; then Create."""
    org_id = organization_id(request)
    search = RepSearchForm(request.GET, organization_id=org_id)
    rep = search.chosen_rep
    form = (
        SingleUseLinkForm(request.POST if request.method == "POST" else None, rep=rep)
        if rep
        else None
    )
    status = 200
    if request.method == "POST":
        if form is None:
            messages.error(request, "Choose a rep first.")
            return redirect("links:new")
        if form.is_valid():
            organization = Organization.objects.get(pk=org_id)
            try:
                row = single_use.create(
                    organization=organization,
                    event_type=form.chosen,
                    for_whom=form.for_whom,
                    actor=person(request),
                    rep=rep,
                    request=request,
                )
            except LinkRefused as refused:
                form.add_error(None, refused.message)
                status = 409
            else:
                messages.success(request, "Single-use link made; it takes one booking.")
                return redirect("links:entry", pk=row.pk)
        else:
            status = 400
    context = {"search": search, "rep": rep, "form": form}
    response = render_page(request, "links/new.html", "rep-results", context)
    response.status_code = status
    return response


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def ledger(request: HtmxHttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    rows = ledger_list.entries(org_id)
    form = ledger_list.LedgerFilter(request.GET)
    page = read_page(
        form.filter_rows(rows),
        fields=ledger_list.FIELDS,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=rows.count,
    )
    context = {
        "form": form,
        "list": ListContext(
            form=form,
            page=page,
            columns=ledger_list.COLUMNS,
            base_url=reverse("links:ledger"),
            export_url=reverse("links:ledger_export"),
            noun=("link", "links"),
            target="ledger-results",
            empty=ledger_list.EMPTY,
        ),
    }
    return render_page(request, "links/ledger.html", "ledger-results", context)


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def ledger_export(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    org_id = organization_id(request)
    form = ledger_list.LedgerFilter(request.GET)
    if form.errors:
        # The current view must make sense to be exported: show the filters' errors instead.
        page = ledger(request)
        page.status_code = 400
        return page
    audit.record(
        action=audit.Action.LEDGER_EXPORTED,
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
    rows = (
        form.filter_rows(ledger_list.entries(org_id))
        .order_by(*form.order_by())
        .iterator(chunk_size=2000)
    )
    return csv_response("link-ledger", ledger_list.CSV_COLUMNS, ledger_list.csv_rows(rows))


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def entry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Another organization's entry is simply not found.
    row = get_object_or_404(IssuedLink, pk=pk, organization_id=organization_id(request))
    return render_page(request, "links/entry.html", "entry", {"entry": row})
