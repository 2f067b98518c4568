"""A job's page (preview, progress, results) and the jobs list. Admins only for now: the kinds
of job so far (bulk invitations, offboarding) are theirs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling

from portal import audit
from portal.accounts.connections import ConnectionUnavailable, get_connection
from portal.accounts.models import Role, User
from portal.accounts.roles import allow, organization_id, person
from portal.calendly.ratelimit import known_budget
from portal.htmx import HtmxHttpRequest, render_page
from portal.jobs import engine, kinds, listing
from portal.jobs.models import Job, JobItem, WorkerHeartbeat
from portal.lists import ListContext, csv_response, read_page

PROGRESS = "jobs/job.html#job-progress"
# Rows of a preview or of a job's failures shown on the page; the CSV has them all.
SHOWN_ITEMS = 100


# Who may open the jobs pages at all; each kind of job says whose its jobs are (`Kind.roles`).
JOB_ROLES = (Role.ADMIN, Role.SUPPORT, Role.COMPLIANCE)


def _job(request: HtmxHttpRequest, pk: int) -> Job:
    # Another organization's job is simply not found; so is someone else's preview.
    job = get_object_or_404(
        Job.objects.select_related("organization"), pk=pk, organization_id=organization_id(request)
    )
    if job.state == Job.State.DRAFT and job.created_by_id != person(request).pk:
        raise Http404("No such job")
    # A kind of job that is not this person's (a support person and an offboarding) is, to
    # them, not there at all.
    if job.kind not in kinds.open_to(person(request).roles):
        raise Http404("No such job")
    return job


@allow(*JOB_ROLES)
@require_safe
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    rows = listing.jobs(org_id).filter(kind__in=kinds.open_to(person(request).roles))
    form = listing.JobFilter(request.GET)
    page = read_page(
        form.filter_rows(rows),
        fields=listing.FIELDS,
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
            columns=listing.COLUMNS,
            base_url=reverse("jobs:list"),
            export_url="",
            noun=("job", "jobs"),
            target="job-results",
            empty=listing.EMPTY,
        ),
    }
    return render_page(request, "jobs/list.html", "job-results", context)


@allow(*JOB_ROLES)
@require_safe
def job(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    row = _job(request, pk)
    context = job_context(row)
    if not request.htmx:
        return render(request, "jobs/job.html", context)
    response = render(request, PROGRESS, context)
    if row.is_open:
        return response
    # 286 stops the polling; the final state is still swapped in.
    return HttpResponseStopPolling(response.content, content_type=response["Content-Type"])


def job_context(job: Job) -> dict[str, object]:
    kind = kinds.get(job.kind)
    by_state = dict(
        JobItem.objects.filter(job=job).values_list("state").annotate(n=Count("pk")).order_by()
    )
    by_outcome = dict(
        JobItem.objects.filter(job=job)
        .exclude(outcome="")
        .values_list("outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    context: dict[str, object] = {
        "job": job,
        "kind": kind,
        "waiting": by_state.get(JobItem.State.PENDING, 0),
        "in_flight": by_state.get(JobItem.State.IN_FLIGHT, 0),
        "outcomes": [
            (kind.outcomes.get(name, name), count) for name, count in sorted(by_outcome.items())
        ],
    }
    if job.state == Job.State.DRAFT:
        context["time_zone_name"] = timezone.get_current_timezone_name()
        context["to_do"] = by_state.get(JobItem.State.PENDING, 0)
        context["settled"] = JobItem.objects.filter(job=job, state=JobItem.State.SKIPPED)[
            :SHOWN_ITEMS
        ]
        context["to_do_items"] = JobItem.objects.filter(
            job=job, state=JobItem.State.PENDING
        ).order_by("position")[:SHOWN_ITEMS]
        return context
    if kind.report_template and not job.is_open:
        context["report_items"] = JobItem.objects.filter(job=job).order_by("position")[:SHOWN_ITEMS]
    if job.state == Job.State.AWAITING_APPROVAL:
        # The approver sees what the one who started it saw.
        context["to_do"] = job.remaining
        context["to_do_items"] = JobItem.objects.filter(
            job=job, state=JobItem.State.PENDING
        ).order_by("position")[:SHOWN_ITEMS]
        return context
    context["failures"] = JobItem.objects.filter(job=job, state=JobItem.State.FAILED)[:SHOWN_ITEMS]
    if job.is_open:
        context["progress"] = engine.progress(job, budget=_budget(job))
        context["delayed"] = _delayed(job)
        context["workers_running"] = WorkerHeartbeat.objects.alive().exists()
    return context


def _budget(job: Job) -> tuple[int, float] | None:
    try:
        connection = get_connection(job.organization)
    except ConnectionUnavailable:
        return None
    return known_budget(connection.owner_uri, settings.REDIS_URL or None)


def _delayed(job: Job) -> bool:
    """Work is due and nothing has moved for a while: workers or the queue are down."""
    if job.state not in Job.ACTIVE_STATES or job.progressed_at is None:
        return False
    if job.not_before and job.not_before > timezone.now():
        return False
    quiet = timezone.now() - job.progressed_at
    return quiet > timedelta(seconds=settings.JOB_STALL_SECONDS)


@allow(*JOB_ROLES)
@require_safe
def results(request: HtmxHttpRequest, pk: int) -> StreamingHttpResponse:
    row = _job(request, pk)
    audit.record(
        action=audit.Action.JOB_RESULTS_EXPORTED,
        organization=row.organization,
        target=row,
        after={"state": row.state},
        request=request,
    )
    items = JobItem.objects.filter(job=row).order_by("position").iterator(chunk_size=2000)
    name = "dry-run" if row.state == Job.State.DRAFT else "results"
    return csv_response(
        f"job-{row.pk}-{name}", listing.RESULT_COLUMNS, listing.result_rows(row, items)
    )


# How far ahead a job may be scheduled: a date mistyped by a year is refused, not kept.
LONGEST_SCHEDULE = timedelta(days=90)


class StartForm(forms.Form):
    """What Start may carry: a start time (kinds that can wait) and the typed count (kinds
    whose changes cannot be undone)."""

    not_before = forms.DateTimeField(required=False, label="Start at")
    confirm = forms.CharField(required=False, max_length=20)

    def __init__(self, data: Mapping[str, Any], *, kind: kinds.Kind, to_do: int) -> None:
        super().__init__(data)
        self.kind = kind
        self.to_do = to_do

    def clean_not_before(self) -> datetime | None:
        value: datetime | None = self.cleaned_data.get("not_before")
        if value is None or not self.kind.schedulable:
            return None
        now = timezone.now()
        if value <= now:
            raise forms.ValidationError("The start time has passed; leave it empty to start now.")
        if value > now + LONGEST_SCHEDULE:
            raise forms.ValidationError(
                f"A job can be scheduled at most {LONGEST_SCHEDULE.days} days ahead."
            )
        return value

    def clean_confirm(self) -> str:
        typed = (self.cleaned_data.get("confirm") or "").strip()
        if self.kind.destructive and typed != str(self.to_do):
            raise forms.ValidationError(
                f"Nothing was started: type {self.to_do} (how many {self.kind.nouns} this acts "
                "on) to confirm."
            )
        return typed


def _start(request: HtmxHttpRequest, row: Job, actor: User) -> None:
    if row.state != Job.State.DRAFT:
        raise engine.JobRefused("This job has already been started.")
    kind = kinds.get(row.kind)
    form = StartForm(request.POST, kind=kind, to_do=row.remaining)
    if not form.is_valid():
        raise engine.JobRefused(" ".join(str(e) for errs in form.errors.values() for e in errs))
    not_before = form.cleaned_data["not_before"]
    if not_before is not None:
        Job.objects.filter(pk=row.pk, state=Job.State.DRAFT).update(not_before=not_before)
        row.not_before = not_before
    engine.start(row, actor=actor, request=request)
    if row.state == Job.State.AWAITING_APPROVAL:
        messages.success(
            request,
            "Waiting for approval: another admin has to approve this job on its page before "
            "anything changes.",
        )
    elif not_before is not None:
        messages.success(
            request,
            "Scheduled. It starts at the time set, in the background; until then it can be "
            "cancelled here.",
        )
    else:
        messages.success(
            request, "Started. The job runs in the background; leaving this page does not stop it."
        )


def _act(request: HtmxHttpRequest, pk: int, action: str) -> HttpResponse:
    row = _job(request, pk)
    actor = person(request)
    try:
        if action == "start":
            _start(request, row, actor)
        elif action == "approve":
            engine.approve(row, actor=actor, request=request)
            messages.success(
                request,
                "Approved. It runs in the background"
                + (", from the start time set." if row.not_before else "."),
            )
        elif action == "pause":
            engine.pause(row, actor=actor, request=request)
            messages.success(
                request, "Paused. Items in progress finish; nothing else is sent until you resume."
            )
        elif action == "resume":
            engine.resume(row, actor=actor, request=request)
            messages.success(request, "Resumed.")
        elif action == "cancel":
            skipped = engine.cancel(row, actor=actor, request=request)
            messages.success(request, f"Cancelled; {skipped:,} items were not done.")
        elif action == "retry":
            again = engine.retry_failed(row, actor=actor, request=request)
            messages.success(request, f"Trying {again:,} failed items again.")
    except engine.JobRefused as refused:
        messages.error(request, refused.message)
    return redirect("jobs:job", pk=row.pk)


@allow(*JOB_ROLES)
@require_POST
def start(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "start")


@allow(Role.ADMIN)
@require_POST
def approve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "approve")


@allow(*JOB_ROLES)
@require_POST
def pause(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "pause")


@allow(*JOB_ROLES)
@require_POST
def resume(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "resume")


@allow(*JOB_ROLES)
@require_POST
def cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "cancel")


@allow(*JOB_ROLES)
@require_POST
def retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "retry")


@allow(*JOB_ROLES)
@require_POST
def discard(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Drop a preview that was never started (nothing was sent)."""
    row = _job(request, pk)
    if row.state != Job.State.DRAFT:
        messages.error(request, "Only a preview that was not started can be discarded.")
        return redirect("jobs:job", pk=row.pk)
    with transaction.atomic():
        audit.record(
            action=audit.Action.JOB_DISCARDED,
            organization=row.organization,
            target=row,
            after={"items": row.total},
            request=request,
        )
        row.delete()
    messages.success(request, "Preview discarded; nothing was sent.")
    return redirect("directory:bulk_invite")
