"""Data-deletion requests (compliance officers and admins): a list of invitees' addresses
becomes a preview (the job's page), a typed confirmation sends the requests, and the evidence
(who asked, when, which addresses, what Calendly answered) downloads as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django import forms
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from portal import audit
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.directory import deletion
from portal.htmx import HtmxHttpRequest
from portal.jobs.csvfile import MAX_ROWS, CsvRefused, read_text
from portal.jobs.models import Job, JobItem
from portal.lists import csv_response, utc_text

EVIDENCE_COLUMNS = [
    "job",
    "asked by",
    "approved by",
    "started (UTC)",
    "request",
    "addresses",
    "events (UTC)",
    "sent (UTC)",
    "Calendly's answer",
    "outcome",
    "what it means",
]


class EventWindowForm(forms.Form):
    """A window of scheduled events to delete, in the viewer's time zone."""

    start = forms.DateTimeField(label="From")
    end = forms.DateTimeField(label="To")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if isinstance(start, datetime) and isinstance(end, datetime):
            problem = deletion.event_window_problem(start, end, timezone.now())
            if problem:
                raise forms.ValidationError(problem)
        return data


class DeletionForm(forms.Form):
    addresses = forms.CharField(
        label="Invitees' email addresses",
        max_length=2_000_000,
        widget=forms.Textarea(attrs={"rows": 8, "placeholder": "ada@example.com"}),
        help_text=f"One per line, up to {MAX_ROWS:,}.",
    )


@allow(Role.ADMIN, Role.COMPLIANCE)
@require_http_methods(["GET", "HEAD", "POST"])
def data_deletion(request: HtmxHttpRequest) -> HttpResponse:
    """Two kinds of request: invitees by address, or scheduled events in a past window."""
    posted = request.method == "POST"
    asking = None
    if posted:
        asking = "events" if request.POST.get("what") == "events" else "invitees"
    form = DeletionForm(request.POST if asking == "invitees" else None)
    window = EventWindowForm(request.POST if asking == "events" else None, prefix="events")
    status = 400 if posted else 200
    organization = Organization.objects.get(pk=organization_id(request))
    try:
        if asking == "invitees" and form.is_valid():
            preview = deletion.prepare(
                organization=organization,
                addresses=read_text(form.cleaned_data["addresses"]),
                source_name="pasted addresses",
                actor=person(request),
            )
            return redirect("jobs:job", pk=preview.job.pk)
        if asking == "events" and window.is_valid():
            preview = deletion.prepare_events(
                organization=organization,
                start=window.cleaned_data["start"],
                end=window.cleaned_data["end"],
                actor=person(request),
            )
            return redirect("jobs:job", pk=preview.job.pk)
    except CsvRefused as refused:
        form.add_error(None, refused.message)
    jobs = Job.objects.visible().filter(organization=organization, kind=deletion.KIND)
    context = {
        "form": form,
        "window": window,
        "time_zone_name": timezone.get_current_timezone_name(),
        "jobs": jobs.order_by("-created_at")[:20],
    }
    response = render(request, "directory/data_deletion.html", context)
    response.status_code = status
    return response


@allow(Role.ADMIN, Role.COMPLIANCE)
@require_safe
def evidence(request: HtmxHttpRequest, pk: int) -> StreamingHttpResponse:
    """Everything the portal can show of a deletion job's requests: Calendly gives no status,
    so this record is the evidence."""
    job = get_object_or_404(
        Job,
        pk=pk,
        organization_id=organization_id(request),
        kind=deletion.KIND,
        state__in=[Job.State.RUNNING, Job.State.PAUSED, Job.State.DONE, Job.State.CANCELLED],
    )
    audit.record(
        action=audit.Action.JOB_RESULTS_EXPORTED,
        organization=job.organization,
        target=job,
        after={"state": job.state, "evidence": True},
        request=request,
    )
    return csv_response(f"job-{job.pk}-deletion-evidence", EVIDENCE_COLUMNS, _evidence(job))


def _evidence(job: Job) -> Iterator[list[object]]:
    labels = deletion.OUTCOMES
    items = JobItem.objects.filter(job=job).order_by("position").iterator(chunk_size=500)
    for item in items:
        result = item.result or {}
        emails = result.get("emails") or item.source.get("emails") or []
        window = item.source.get("start_time"), item.source.get("end_time")
        yield [
            job.pk,
            job.created_by_label,
            job.approved_by_label,
            utc_text(job.started_at),
            item.key,
            " ".join(emails),
            f"{window[0]} to {window[1]}" if all(window) else "",
            result.get("requested_at") or result.get("sent_at") or "",
            result.get("status", ""),
            labels.get(item.outcome, item.get_state_display()),
            item.message,
        ]
