"""Support's availability pages: an event type's open times, and a rep's schedules and busy
times, both read live from Calendly."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from portal.accounts.connections import client_for, note_failure
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id
from portal.calendly import errors
from portal.directory.models import EventType, Member
from portal.htmx import HtmxHttpRequest, render_page
from portal.meetings import availability

PAGE = "meetings/availability.html"
REP_PAGE = "meetings/rep_availability.html"
SCHEDULE_PAGE = "meetings/schedule.html"
# Calendly's UUIDs are short; a longer path segment names nothing.
MAX_UUID = 64


class OpenTimesForm(forms.Form):
    event_type = forms.ModelChoiceField(
        queryset=EventType.objects.none(),
        error_messages={"invalid_choice": "Choose one of the organization's active event types."},
    )
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    days = forms.IntegerField(label="Days", min_value=1, max_value=availability.MAX_DAYS, initial=7)

    def __init__(self, data: Any, *, organization_id: int) -> None:
        super().__init__(data)
        field = self.fields["event_type"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = availability.event_types(organization_id)

    def clean_start(self) -> date:
        start: date = self.cleaned_data["start"]
        if start < timezone.localdate():
            raise forms.ValidationError("Calendly only tells open times from today on.")
        return start

    @property
    def chosen(self) -> EventType:
        event_type: EventType = self.cleaned_data["event_type"]
        return event_type


def open_times_form(request: HtmxHttpRequest) -> OpenTimesForm | None:
    """The picker as the URL fills it; unbound (nothing asked yet) without an event type."""
    org_id = organization_id(request)
    if "event_type" not in request.GET:
        return None
    data = request.GET.copy()
    data.setdefault("start", timezone.localdate().isoformat())
    data.setdefault("days", "7")
    return OpenTimesForm(data, organization_id=org_id)


def picker_context(request: HtmxHttpRequest, form: OpenTimesForm | None) -> dict[str, Any]:
    rows = availability.event_types(organization_id(request))
    chosen = form.chosen if form is not None and form.is_valid() else None
    return {
        "form": form,
        "groups": availability.by_owner(rows),
        "chosen": chosen,
        "chosen_pk": str(form["event_type"].value()) if form is not None else "",
        "start": form["start"].value() if form is not None else timezone.localdate().isoformat(),
        "days": form["days"].value() if form is not None else 7,
        "max_days": availability.MAX_DAYS,
        "hosts": availability.hosts(chosen) if chosen else [],
    }


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def open_times_page(request: HtmxHttpRequest) -> HttpResponse:
    """Pick an event type and days; the open times load after the page (they take a call)."""
    form = open_times_form(request)
    context = picker_context(request, form)
    if context["chosen"] is not None:
        query = request.GET.urlencode()
        context["results_url"] = f"{reverse('meetings:availability_results')}?{query}"
    response = render_page(request, PAGE, "picker", context)
    if form is not None and not form.is_valid():
        response.status_code = 400
    return response


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def open_times_results(request: HtmxHttpRequest) -> HttpResponse:
    """The open times themselves, grouped by day: the fragment the page loads."""
    form = open_times_form(request)
    context = picker_context(request, form)
    if form is None or not form.is_valid():
        context["problem"] = "Choose an event type, a first day from today on and a number of days."
        response = render_page(request, PAGE, "results", {**context, "loaded": True})
        response.status_code = 400
        return response
    organization = Organization.objects.get(pk=organization_id(request))
    event_type = form.chosen
    first_day: date = form.cleaned_data["start"]
    days: int = form.cleaned_data["days"]
    try:
        with client_for(organization) as client:
            context["open_days"] = availability.open_times(
                client, event_type=event_type, first_day=first_day, days=days
            )
    except errors.CalendlyError as error:
        note_failure(organization, error)
        context["problem"] = errors.explain(
            error, doing=f"listing the open times of {event_type.name or event_type.slug}"
        )
    context.update(loaded=True, last_day=first_day + timedelta(days=days - 1))
    # htmx gets the fragment; a browser without scripts (the <noscript> link) the whole page.
    return render_page(request, PAGE, "results", context)


class WeekForm(forms.Form):
    week = forms.DateField(
        label="Week from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean_week(self) -> date:
        week: date | None = self.cleaned_data["week"]
        today = timezone.localdate()
        if week is None:
            return today
        if week < today:
            raise forms.ValidationError("Calendly only tells busy times from today on.")
        return week


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def rep_availability(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A rep's booking page and time zone (their Calendly user), their availability schedules
    in words, and their busy times over a chosen week."""
    org_id = organization_id(request)
    # Another organization's member, or one who left, is simply not found.
    rep = get_object_or_404(Member.objects.current(), pk=pk, organization_id=org_id)
    organization = Organization.objects.get(pk=org_id)
    form = WeekForm(request.GET)
    context: dict[str, Any] = {
        "rep": rep,
        "form": form,
        "viewer_zone": timezone.get_current_timezone_name(),
    }
    status = 200
    try:
        with client_for(organization) as client:
            context["calendly_user"] = client.get_user(user=rep.user_uri)
            context["schedules"] = availability.schedules(client, rep=rep)
            if form.is_valid():
                first_day: date = form.cleaned_data["week"]
                context["first_day"] = first_day
                context["last_day"] = first_day + timedelta(days=6)
                context["busy"] = availability.busy_week(
                    client, organization_uri=organization.uri, rep=rep, first_day=first_day
                )
            else:
                status = 400
    except errors.CalendlyError as error:
        note_failure(organization, error)
        context["problem"] = errors.explain(error, doing=f"reading {rep.name}'s availability")
    response = render_page(request, REP_PAGE, "busy", context)
    response.status_code = status
    return response


@allow(Role.ADMIN, Role.SUPPORT)
@require_safe
def schedule(request: HtmxHttpRequest, uuid: str) -> HttpResponse:
    """One availability schedule in words, read from Calendly now.

    Only a schedule of a current member of the viewer's organization is shown; any other, or
    one Calendly does not know, is not found.
    """
    if len(uuid) > MAX_UUID:
        raise Http404("No such schedule")
    org_id = organization_id(request)
    organization = Organization.objects.get(pk=org_id)
    try:
        with client_for(organization) as client:
            found = availability.schedule(client, uuid=uuid)
    except errors.NotFound as error:
        raise Http404("No such schedule") from error
    except errors.CalendlyError as error:
        # Calendly answers a plain 403 for a schedule of someone outside the organization:
        # outside the viewer's reach, like an unknown one. Scope or plan refusals are subclasses
        # and are told in words.
        if type(error) is errors.PermissionDenied:
            raise Http404("No such schedule") from error
        note_failure(organization, error)
        problem = errors.explain(error, doing="reading the availability schedule")
        return render(request, SCHEDULE_PAGE, {"problem": problem})
    rep = Member.objects.current().filter(organization_id=org_id, user_uri=found.user or "").first()
    if rep is None:
        raise Http404("No such schedule")
    context = {"rep": rep, "schedule": availability.described(found)}
    return render(request, SCHEDULE_PAGE, context)


urls: list[URLPattern] = [
    path("availability", open_times_page, name="availability"),
    path("availability/results", open_times_results, name="availability_results"),
    path("availability/reps/<int:pk>", rep_availability, name="rep_availability"),
    path("availability/schedules/<slug:uuid>", schedule, name="schedule"),
]
