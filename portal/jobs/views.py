"""A job's page (preview, progress, results) and the jobs list. Admins only for now: the one
kind of job so far (bulk invitations) is theirs."""

from __future__ import annotations

from datetime import timedelta

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
from portal.accounts.models import Role
from portal.accounts.roles import allow, organization_id, person
from portal.calendly.ratelimit import known_budget
from portal.htmx import HtmxHttpRequest, render_page
from portal.jobs import engine, kinds, listing
from portal.jobs.models import Job, JobItem, WorkerHeartbeat
from portal.lists import ListContext, csv_response, read_page

PROGRESS = "jobs/job.html#job-progress"
# Rows of a preview or of a job's failures shown on the page; the CSV has them all.
SHOWN_ITEMS = 100


def _job(request: HtmxHttpRequest, pk: int) -> Job:
    # Another organization's job is simply not found; so is someone else's preview.
    job = get_object_or_404(
        Job.objects.select_related("organization"), pk=pk, organization_id=organization_id(request)
    )
    if job.state == Job.State.DRAFT and job.created_by_id != person(request).pk:
        raise Http404("No such job")
    return job


@allow(Role.ADMIN)
@require_safe
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    rows = listing.jobs(org_id)
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


@allow(Role.ADMIN)
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
        context["to_do"] = by_state.get(JobItem.State.PENDING, 0)
        context["settled"] = JobItem.objects.filter(job=job, state=JobItem.State.SKIPPED)[
            :SHOWN_ITEMS
        ]
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


@allow(Role.ADMIN)
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


def _act(request: HtmxHttpRequest, pk: int, action: str) -> HttpResponse:
    row = _job(request, pk)
    actor = person(request)
    try:
        if action == "start":
            engine.start(row, actor=actor, request=request)
            messages.success(
                request,
                "Started. The job runs in the background; leaving this page does not stop it.",
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


@allow(Role.ADMIN)
@require_POST
def start(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "start")


@allow(Role.ADMIN)
@require_POST
def pause(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "pause")


@allow(Role.ADMIN)
@require_POST
def resume(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "resume")


@allow(Role.ADMIN)
@require_POST
def cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "cancel")


@allow(Role.ADMIN)
@require_POST
def retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "retry")


@allow(Role.ADMIN)
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
