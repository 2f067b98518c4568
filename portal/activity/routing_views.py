"""The routing forms pages (admins only): the organization's forms, one form's questions and
submissions, and a CSV of all its submissions. Everything is read live from Calendly."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, re_path
from django.views.decorators.http import require_safe

from portal import audit
from portal.accounts.connections import client_for
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id
from portal.activity import routing
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.calendly.schemas import RoutingForm, RoutingFormSubmission
from portal.directory.models import EventType
from portal.htmx import HtmxHttpRequest, render_page
from portal.lists import csv_response

# Calendly's ids are letters, digits and dashes; anything else names no routing form.
FORM_ID = "[A-Za-z0-9_-]{1,100}"


def _organization(request: HttpRequest) -> Organization:
    return Organization.objects.get(pk=organization_id(request))


def _event_type_names(org_id: int, uris: Iterable[str] | None = None) -> dict[str, str]:
    """Names of the organization's event types by URI, as last synced (all when `uris` is None)."""
    rows = EventType.objects.filter(organization_id=org_id)
    if uris is not None:
        rows = rows.filter(uri__in=set(uris))
    return dict(rows.values_list("uri", "name"))


@allow(Role.ADMIN)
@require_safe
def routing_forms(request: HtmxHttpRequest) -> HttpResponse:
    """Every routing form of the organization (organizations have few), oldest first."""
    org = _organization(request)
    context: dict[str, Any] = {"here": "routing_forms", "forms": None, "problem": None}
    try:
        with client_for(org) as client:
            context["forms"] = routing.all_forms(client, organization_uri=org.uri)
    except errors.UpgradeRequired as exc:
        context["problem"] = errors.explain(exc, doing="listing routing forms")
        context["plan_refused"] = True
    except errors.CalendlyError as exc:
        context["problem"] = errors.explain(exc, doing="listing routing forms")
    return render_page(request, "activity/routing_forms.html", "routing-forms", context)


@allow(Role.ADMIN)
@require_safe
def routing_form(request: HtmxHttpRequest, uuid: str) -> HttpResponse:
    """One form's questions, then one page of its submissions, newest first."""
    org = _organization(request)
    token = routing.valid_token(request.GET.get("page_token"))
    context: dict[str, Any] = {"uuid": uuid, "form": None, "problem": None, "first_page": not token}
    try:
        with client_for(org) as client:
            form = _form(client, org, uuid)
            context["form"] = form
            page = routing.submissions_page(client, form=form, page_token=token)
    except errors.CalendlyError as exc:
        what = "reading the routing form" if context["form"] is None else "listing its submissions"
        context["problem"] = errors.explain(exc, doing=what)
    else:
        names = _event_type_names(
            org.pk,
            (s.result.value for s in page.rows if s.result and isinstance(s.result.value, str)),
        )
        context["submissions"] = [routing.describe(s, form, names) for s in page.rows]
        context["next_token"] = page.next_token
    return render_page(request, "activity/routing_form.html", "submissions", context)


@allow(Role.ADMIN)
@require_safe
def routing_submission(request: HttpRequest, uuid: str) -> HttpResponse:
    """One submission read from Calendly: its answers, tracking, result and, when the person
    went on to book, the meeting's invitee."""
    org = _organization(request)
    context: dict[str, Any] = {"uuid": uuid, "submission": None, "form": None, "problem": None}
    try:
        with client_for(org) as client:
            try:
                found, form = routing.submission_of(client, organization_uri=org.uri, uuid=uuid)
            except errors.NotFound:
                # Unknown, or another organization's (its form is not ours): the same answer.
                raise Http404("No such routing form submission") from None
            context["form"] = form
            names = _event_type_names(
                org.pk,
                [found.result.value]
                if found.result and isinstance(found.result.value, str)
                else [],
            )
            context["submission"] = routing.describe(found, form, names)
            if found.submitter:
                context.update(_booked(client, found.submitter))
    except errors.CalendlyError as exc:
        context["problem"] = errors.explain(exc, doing="reading the routing form submission")
    return render(request, "activity/routing_submission.html", context)


def _booked(client: CalendlyClient, invitee_uri: str) -> dict[str, Any]:
    """The booking a submission led to: the meeting's uuid for its page, and the invitee as
    Calendly has it now; when the invitee cannot be read, why (the meeting is still linked)."""
    event_uuid = routing.booked_event_uuid(invitee_uri)
    if event_uuid is None:
        return {"invitee_problem": "Calendly names who booked in a form this page cannot read."}
    booked: dict[str, Any] = {"event_uuid": event_uuid}
    try:
        booked["invitee"] = client.get_invitee(invitee=invitee_uri)
    except errors.NotFound:
        booked["invitee_problem"] = "Calendly no longer has this booking's invitee."
    except errors.CalendlyError as exc:
        booked["invitee_problem"] = errors.explain(exc, doing="reading who booked")
    return booked


@allow(Role.ADMIN)
@require_safe
def routing_export(request: HtmxHttpRequest, uuid: str) -> HttpResponse | StreamingHttpResponse:
    """Every submission of the form as CSV, all of Calendly's pages, streamed."""
    org = _organization(request)
    context: dict[str, Any] = {"uuid": uuid, "form": None, "first_page": True}
    client: CalendlyClient | None = None
    try:
        client = client_for(org)
        form = _form(client, org, uuid)
        context["form"] = form
        listed = client.list_routing_form_submissions(form=form.uri)
        # Ask for the first page now, so a refusal is a page in words rather than a broken file.
        first = next(listed, None)
    except errors.CalendlyError as exc:
        if client is not None:
            client.close()
        what = "reading the routing form" if context["form"] is None else "exporting submissions"
        context["problem"] = errors.explain(exc, doing=what)
        return render_page(request, "activity/routing_form.html", "submissions", context)
    audit.record(
        action=audit.Action.ROUTING_EXPORTED,
        organization=org,
        target_type="calendly.routing_form",
        target_id=form.uuid,
        target_label=form.name,
        after={"routing_form": form.uri},
        request=request,
    )
    rows = _rows_then_close(client, form, first, listed, _event_type_names(org.pk))
    return csv_response(f"routing-{form.uuid}", routing.csv_header(form), rows)


def _form(client: CalendlyClient, org: Organization, uuid: str) -> RoutingForm:
    try:
        return routing.form_of(client, organization_uri=org.uri, uuid=uuid)
    except errors.NotFound:
        # Unknown, gone, or another organization's: the same answer for all three.
        raise Http404("No such routing form") from None


def _rows_then_close(
    client: CalendlyClient,
    form: RoutingForm,
    first: RoutingFormSubmission | None,
    rest: Iterator[RoutingFormSubmission],
    names: dict[str, str],
) -> Iterator[list[object]]:
    """The CSV rows while the download streams; the client closes when it ends.

    A failure after the first page cannot become an error page (the file has started), so the
    file ends with a line that says it is incomplete and why."""
    try:
        if first is not None:
            yield from routing.csv_rows(chain([first], rest), form, names)
    except errors.CalendlyError as exc:
        said = errors.explain(exc, doing="reading the next page of submissions")
        yield [f"Export incomplete: {said}"]
    finally:
        client.close()


urls: list[URLPattern] = [
    path("routing-forms", routing_forms, name="routing_forms"),
    re_path(rf"^routing-forms/(?P<uuid>{FORM_ID})$", routing_form, name="routing_form"),
    re_path(rf"^routing-forms/(?P<uuid>{FORM_ID})/export$", routing_export, name="routing_export"),
    re_path(
        rf"^routing-forms/submissions/(?P<uuid>{FORM_ID})$",
        routing_submission,
        name="routing_submission",
    ),
]
