"""The Refresh button and the sync progress partial it swaps in."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling

from portal.accounts.models import Organization, Role, User
from portal.accounts.roles import allow
from portal.directory.models import SyncRun
from portal.directory.sync import stage_words, workers_running
from portal.directory.tasks import request_sync
from portal.htmx import HtmxHttpRequest

PROGRESS = "directory/sync_status.html#sync-progress"


def _organization(request: HttpRequest) -> Organization:
    user = request.user
    if not isinstance(user, User) or user.organization is None:
        raise Http404("No organization")
    return user.organization


@require_POST
@allow(Role.ADMIN)
def refresh(request: HtmxHttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    run, started = request_sync(
        _organization(request),
        trigger=SyncRun.Trigger.MANUAL,
        requested_by=request.user,
        request=request,
    )
    if request.htmx:
        return render(request, PROGRESS, sync_progress(run))
    if started:
        messages.success(request, "Syncing with Calendly; this page shows the result when done.")
    elif run.status == SyncRun.Status.QUEUED:
        messages.info(request, "A sync with Calendly is already waiting for a background worker.")
    else:
        messages.info(request, "A sync with Calendly is already running.")
    return redirect("directory:members")


@require_safe
@allow(Role.ADMIN, Role.VIEWER)
def sync_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Another organization's run is simply not found.
    run = get_object_or_404(SyncRun, pk=pk, organization=_organization(request))
    if not request.htmx:
        return render(request, "directory/sync_status.html", sync_progress(run))
    if run.is_active:
        return render(request, PROGRESS, sync_progress(run))
    # 286 tells htmx to stop polling; the final state is still swapped in.
    response = render(request, PROGRESS, sync_progress(run))
    return HttpResponseStopPolling(response.content, content_type=response["Content-Type"])


def sync_progress(run: SyncRun) -> dict[str, object]:
    """What the progress partial shows about a run."""
    return {
        "run": run,
        "stage": stage_words(run.stage),
        "counts": run.counts,
        # Asked only while the run waits: "none is running" is what to fix then.
        "workers_running": workers_running() if run.status == SyncRun.Status.QUEUED else None,
    }
