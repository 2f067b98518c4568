"""Customized shares (new, edit, delete, refresh) and single-use links for a list of customers."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.connections import ConnectionUnavailable, get_connection
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.calendly import errors
from portal.directory.models import EventType
from portal.links import bulk, shares, single_use, tasks
from portal.links.issue import LinkRefused, rep_of
from portal.links.models import IssuedLink

# Primary keys are 64-bit; a larger number can name nothing and must not reach the database.
MAX_PK = 2**63 - 1


class EventTypeChoice(forms.Form):
    event_type = forms.IntegerField(min_value=1, max_value=MAX_PK)


def _organization(request: HttpRequest) -> Organization:
    return Organization.objects.get(pk=organization_id(request))


def _share(request: HttpRequest, pk: int) -> IssuedLink:
    # Another organization's share (or a single-use link) is simply not found.
    return get_object_or_404(
        IssuedLink, pk=pk, organization_id=organization_id(request), kind=IssuedLink.Kind.SHARE
    )


@allow(Role.ADMIN, Role.SUPPORT)
@require_http_methods(["GET", "HEAD", "POST"])
def new_share(request: HttpRequest) -> HttpResponse:
    """The share form for `?event_type=<pk>` (one of the organization's event types)."""
    posted = request.method == "POST"
    choice = EventTypeChoice(request.POST if posted else request.GET)
    if not choice.is_valid():
        messages.info(request, "Choose a rep and one of their one-on-one event types first.")
        return redirect("links:new")
    event_type = get_object_or_404(
        EventType,
        pk=choice.cleaned_data["event_type"],
        organization_id=organization_id(request),
    )
    refusal = shares.share_refusal(event_type)
    form = shares.ShareForm(request.POST if posted else None, event_type=event_type)
    status = 200
    if posted:
        if refusal is None and form.is_valid():
            actor = person(request)
            try:
                row = shares.create_share(
                    organization=_organization(request),
                    event_type=event_type,
                    settings=form.wanted(),
                    customer=form.cleaned_data["customer"],
                    ticket=form.cleaned_data["ticket"],
                    actor=actor,
                    request=request,
                )
            except LinkRefused as refused:
                form.add_error(None, refused.message)
                status = 409
            else:
                messages.success(request, "Share made; its link takes one booking.")
                return redirect("links:entry", pk=row.pk)
        else:
            status = 400
    context = {
        "form": form,
        "event_type": event_type,
        "refusal": refusal,
        "row": None,
        "rep_timezone": _rep_timezone(event_type),
    }
    return render(request, "links/share_form.html", context, status=status)


def _rep_timezone(event_type: EventType | None) -> str:
    rep = rep_of(event_type) if event_type is not None else None
    return rep.timezone if rep else ""


@allow(Role.ADMIN, Role.SUPPORT)
@require_http_methods(["GET", "HEAD", "POST"])
def edit_share(request: HttpRequest, pk: int) -> HttpResponse:
    row = _share(request, pk)
    refusal = shares.edit_refusal(row)
    posted = request.method == "POST"
    form = shares.ShareForm(
        request.POST if posted else None,
        current=row.settings if isinstance(row.settings, dict) else {},
        customer=row.customer,
        ticket=row.ticket,
    )
    status = 200
    if posted:
        if refusal is None and form.is_valid():
            try:
                changed = shares.update_share(
                    organization=_organization(request),
                    row=row,
                    changes=form.changes(),
                    customer=form.cleaned_data["customer"],
                    ticket=form.cleaned_data["ticket"],
                    actor=person(request),
                    request=request,
                )
            except LinkRefused as refused:
                form.add_error(None, refused.message)
                status = 409
            else:
                if changed:
                    messages.success(request, "Share changed; its link stays the same.")
                else:
                    messages.info(request, "Nothing was changed.")
                return redirect("links:entry", pk=row.pk)
        else:
            status = 400
    context = {
        "form": form,
        "event_type": row.event_type,
        "refusal": refusal,
        "row": row,
        "rep_timezone": _rep_timezone(row.event_type),
    }
    return render(request, "links/share_form.html", context, status=status)


@allow(Role.ADMIN, Role.SUPPORT)
@require_http_methods(["GET", "HEAD", "POST"])
def delete_share(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation, naming the share; POST deletes it."""
    row = _share(request, pk)
    refusal = shares.delete_refusal(row)
    if request.method != "POST":
        return render(request, "links/share_delete.html", {"row": row, "refusal": refusal})
    try:
        shares.delete_share(
            organization=_organization(request), row=row, actor=person(request), request=request
        )
    except LinkRefused as refused:
        messages.error(request, refused.message)
        return redirect("links:entry", pk=row.pk)
    messages.success(
        request, f"Deleted the share for {shares.for_whom(row)}; its link no longer takes bookings."
    )
    return redirect("links:ledger")


@allow(Role.ADMIN, Role.SUPPORT)
@require_POST
def refresh_shares(request: HttpRequest) -> HttpResponse:
    """Ask a background worker to read the shares' statuses from Calendly."""
    organization = _organization(request)
    try:
        get_connection(organization)
    except ConnectionUnavailable as exc:
        messages.error(request, errors.explain(exc, doing="refreshing the shares"))
        return redirect("links:ledger")
    if tasks.queue_refresh(organization.pk, requested_by_id=person(request).pk):
        messages.success(
            request,
            "Checking the shares with Calendly in the background; their statuses here update "
            "in a minute or so.",
        )
    else:
        messages.error(
            request,
            "The background workers could not take the refresh just now. Statuses are "
            "refreshed on a schedule anyway; try again in a few minutes.",
        )
    return redirect("links:ledger")


class BulkLinksForm(forms.Form):
    lines = forms.CharField(
        label="Customers, one per line",
        max_length=bulk.MAX_LINES * 400,
        widget=forms.Textarea(
            attrs={"rows": 10, "placeholder": "ana@example.com #4512\nbo@example.com"}
        ),
        help_text=(
            "An email address, then optionally a ticket reference, on each line; up to "
            f"{bulk.MAX_LINES:,} lines."
        ),
    )


@allow(Role.ADMIN, Role.SUPPORT)
@require_http_methods(["GET", "HEAD", "POST"])
def bulk_links(request: HttpRequest) -> HttpResponse:
    """One single-use link per customer on a list, for `?event_type=<pk>`, as a job."""
    posted = request.method == "POST"
    choice = EventTypeChoice(request.GET)
    if not choice.is_valid():
        messages.info(request, "Choose a rep and one of their event types first.")
        return redirect("links:new")
    event_type = get_object_or_404(
        EventType, pk=choice.cleaned_data["event_type"], organization_id=organization_id(request)
    )
    problem = single_use.refusal(event_type)
    form = BulkLinksForm(request.POST if posted else None)
    status = 200
    if posted:
        if problem is None and form.is_valid():
            try:
                preview = bulk.prepare(
                    organization=_organization(request),
                    event_type=event_type,
                    text=form.cleaned_data["lines"],
                    actor=person(request),
                )
            except LinkRefused as refused:
                form.add_error(None, refused.message)
                status = 409
            else:
                return redirect("jobs:job", pk=preview.job.pk)
        else:
            status = 400 if problem is None else 409
    response = render(
        request,
        "links/bulk.html",
        {"form": form, "event_type": event_type, "problem": problem},
    )
    response.status_code = status
    return response
