"""Meetings for support and admins: find a scheduled event, read it, cancel it, mark no-shows,
and offer an invitee a new time with a single-use link. Every page asks Calendly live."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.htmx import HtmxHttpRequest
from portal.links.models import IssuedLink
from portal.meetings import meetings
from portal.meetings.forms import (
    DEFAULT_DAYS_AHEAD,
    DEFAULT_DAYS_BACK,
    CancelForm,
    InviteeForm,
    SearchForm,
)
from portal.meetings.meetings import AlreadySo, EventDetail, MeetingNotFound, MeetingRefused

# Calendly's event UUIDs are short; a longer path segment names nothing.
MAX_UUID = 64


def _organization(request: HttpRequest) -> Organization:
    return Organization.objects.get(pk=organization_id(request))


def _search_form(request: HttpRequest) -> SearchForm:
    data = request.GET.copy()
    if not data.get("start_from") and not data.get("start_to"):
        # Shown in the form, so the person sees which days were searched.
        today = timezone.localdate()
        data["start_from"] = (today - timedelta(days=DEFAULT_DAYS_BACK)).isoformat()
        data["start_to"] = (today + timedelta(days=DEFAULT_DAYS_AHEAD)).isoformat()
    return SearchForm(data, organization_id=organization_id(request))


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def search(request: HtmxHttpRequest) -> HttpResponse:
    """The search page answers at once; its results come from Calendly in a second request
    (htmx, on load or on submit), which gets only the results fragment."""
    form = _search_form(request)
    context: dict[str, object] = {"form": form}
    if not (request.htmx and not request.htmx.boosted):
        response = render(request, "meetings/search.html", context)
    else:
        if form.is_valid():
            token = form.cleaned_data["page_token"]
            try:
                page = meetings.search(_organization(request), form.filters(), token)
            except MeetingRefused as refused:
                context["problem"] = refused.message
            else:
                context.update(page=page, **_pager_links(request, page, first=bool(token)))
        response = render(request, "meetings/search.html#results", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _pager_links(request: HttpRequest, page: meetings.SearchPage, *, first: bool) -> dict[str, str]:
    """The same search at Calendly's next and previous pages: its cursor is the only position."""
    kept = [(key, value) for key, value in request.GET.items() if key != "page_token" and value]
    base = reverse("meetings:search")

    def at(token: str | None) -> str:
        query = kept + ([("page_token", token)] if token else [])
        return f"{base}?{urlencode(query)}" if query else base

    links = {"first_url": at(None)} if first else {}
    if page.next_token:
        links["next_url"] = at(page.next_token)
    if page.previous_token:
        links["previous_url"] = at(page.previous_token)
    return links


def _read(request: HttpRequest, uuid: str) -> EventDetail:
    if len(uuid) > MAX_UUID:
        raise Http404("No such meeting")
    try:
        return meetings.read_event(_organization(request), uuid)
    except MeetingNotFound as exc:
        raise Http404("No such meeting") from exc


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def event(request: HttpRequest, uuid: str) -> HttpResponse:
    try:
        detail = _read(request, uuid)
    except MeetingRefused as refused:
        return render(
            request, "meetings/event.html", {"problem": refused.message, "uuid": uuid}, status=502
        )
    offered = None
    link = request.GET.get("link", "")
    if link.isdigit() and len(link) < 19:
        # Only a link of this organization's ledger, made for this meeting's event type.
        offered = IssuedLink.objects.filter(
            pk=int(link),
            organization_id=organization_id(request),
            kind=IssuedLink.Kind.SINGLE_USE,
            event_type_uri=detail.event.event_type or "",
        ).first()
    return render(request, "meetings/event.html", {"detail": detail, "offered": offered})


@allow(Role.ADMIN, Role.SUPPORT)
@require_http_methods(["GET", "HEAD", "POST"])
def cancel(request: HttpRequest, uuid: str) -> HttpResponse:
    """GET asks for confirmation, naming the meeting and everyone it is canceled for."""
    try:
        detail = _read(request, uuid)
    except MeetingRefused as refused:
        messages.error(request, refused.message)
        return redirect("meetings:event", uuid=uuid)
    posted = request.method == "POST"
    form = CancelForm(request.POST if posted else None)
    refusal = detail.cancel_refusal()
    status = 200
    if posted:
        if refusal is not None:
            status = 409
        elif form.is_valid():
            try:
                meetings.cancel(
                    organization=_organization(request),
                    detail=detail,
                    reason=form.cleaned_data["reason"],
                    actor=person(request),
                    request=request,
                )
            except MeetingRefused as refused:
                form.add_error(None, refused.message)
                status = 409
            else:
                messages.success(
                    request, "Meeting canceled; Calendly tells every invitee, with your reason."
                )
                return redirect("meetings:event", uuid=uuid)
        else:
            status = 400
    context = {"detail": detail, "form": form, "refusal": refusal}
    return render(request, "meetings/cancel.html", context, status=status)


def _invitee(request: HttpRequest, uuid: str) -> str:
    """The UUID of the invitee the form names; a malformed one names nobody."""
    form = InviteeForm(request.POST)
    if len(uuid) > MAX_UUID or not form.is_valid():
        raise Http404("No such invitee")
    invitee: str = form.cleaned_data["invitee"]
    return invitee


def _no_show(request: HttpRequest, uuid: str, *, mark: bool) -> HttpResponse:
    """Mark or take back a no-show; the invitee is read from Calendly again first, so a page
    loaded before someone else acted neither marks twice nor takes back a mark already gone."""
    invitee_uuid = _invitee(request, uuid)
    act = meetings.mark_no_show if mark else meetings.unmark_no_show
    try:
        invitee = act(
            organization=_organization(request),
            event_uuid=uuid,
            invitee_uuid=invitee_uuid,
            actor=person(request),
            request=request,
        )
    except MeetingNotFound as exc:
        raise Http404("No such invitee") from exc
    except AlreadySo as already:
        messages.info(request, already.message)
    except MeetingRefused as refused:
        messages.error(request, refused.message)
    else:
        if mark:
            messages.success(request, f"{invitee.email} is marked as a no-show.")
        else:
            messages.success(request, f"{invitee.email} is no longer marked as a no-show.")
    return redirect("meetings:event", uuid=uuid)


@allow(Role.ADMIN, Role.SUPPORT)
@require_POST
def no_show(request: HttpRequest, uuid: str) -> HttpResponse:
    return _no_show(request, uuid, mark=True)


@allow(Role.ADMIN, Role.SUPPORT)
@require_POST
def no_show_undo(request: HttpRequest, uuid: str) -> HttpResponse:
    return _no_show(request, uuid, mark=False)


@allow(Role.ADMIN, Role.SUPPORT)
@require_POST
def new_time(request: HttpRequest, uuid: str) -> HttpResponse:
    """A single-use link for the meeting's event type, made for one of its invitees."""
    invitee_uuid = _invitee(request, uuid)
    try:
        detail = _read(request, uuid)
        invitee = meetings.invitee_of(detail, invitee_uuid)
    except MeetingNotFound as exc:
        raise Http404("No such invitee") from exc
    except MeetingRefused as refused:
        messages.error(request, refused.message)
        return redirect("meetings:event", uuid=uuid)
    try:
        row = meetings.offer_new_time(
            organization=_organization(request),
            detail=detail,
            invitee=invitee,
            actor=person(request),
            request=request,
        )
    except MeetingRefused as refused:
        messages.error(request, refused.message)
        return redirect("meetings:event", uuid=uuid)
    messages.success(
        request,
        f"Single-use link made for {invitee.email}: send it to them. It takes one "
        "booking and stays in the link ledger.",
    )
    return redirect(f"{reverse('meetings:event', args=[uuid])}?link={row.pk}")


urls: list[URLPattern] = [
    path("", search, name="search"),
    path("events/<slug:uuid>", event, name="event"),
    path("events/<slug:uuid>/cancel", cancel, name="cancel"),
    path("events/<slug:uuid>/no-show", no_show, name="no_show"),
    path("events/<slug:uuid>/no-show/undo", no_show_undo, name="no_show_undo"),
    path("events/<slug:uuid>/new-time", new_time, name="new_time"),
]
