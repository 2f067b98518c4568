from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from portal import health
from portal.accounts.models import Role, User
from portal.directory.hygiene import hygiene
from portal.directory.models import SyncRun
from portal.directory.sync_views import sync_progress
from portal.health import Check
from portal.jobs.models import Job
from portal.webhooks.subscriptions import trouble as webhook_trouble

# Loopback callers are this machine: the container health check and `scripts/demo`.
LOOPBACK = frozenset({"127.0.0.1", "::1"})


def _shows_details(request: HttpRequest) -> bool:
    """Whether this caller may learn which part failed (settings.HEALTH_DETAILS says who)."""
    user = request.user
    if settings.HEALTH_DETAILS == "public" or (
        isinstance(user, User) and user.has_role(Role.ADMIN)
    ):
        return True
    # REMOTE_ADDR is the address that opened the connection. X-Forwarded-For is whatever the
    # caller chose to write, so it cannot vouch for anyone being local.
    return settings.HEALTH_DETAILS == "loopback" and request.META.get("REMOTE_ADDR") in LOOPBACK


def _report(request: HttpRequest, checks: list[Check]) -> JsonResponse:
    # Everyone gets the status code and the word: load balancers need nothing more.
    ok = all(check.ok for check in checks if check.required)
    body: dict[str, object] = {"status": "ok" if ok else "failing"}
    if _shows_details(request):
        body["checks"] = {c.name: c.as_dict() for c in checks}
    return JsonResponse(body, status=200 if ok else 503)


@login_not_required
@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Everything the portal needs to do its work: database, broker and a live worker."""
    return _report(request, health.health())


@login_not_required
@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Whether this web process can serve pages: the database answers and is migrated."""
    return _report(request, health.readiness())


@login_not_required
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {}
    user = request.user
    if isinstance(user, User) and user.has_role(Role.SALES) and not user.has_role(Role.ADMIN):
        # Sales people come for reps' links: the link directory is their home page.
        return redirect("links:directory")
    if isinstance(user, User) and user.organization_id and user.has_role(Role.ADMIN):
        # Only admins see the service status: it names the Calendly host and the deployment.
        context["checks"] = health.health()
        context["hygiene"] = hygiene(user.organization_id)
        runs = SyncRun.objects.filter(organization_id=user.organization_id)
        context["last_sync"] = runs.filter(finished_at__isnull=False).first()
        context["open_jobs"] = list(
            Job.objects.filter(organization_id=user.organization_id, state__in=Job.OPEN_STATES)[:10]
        )
        context["webhook_trouble"] = webhook_trouble(user.organization_id)
        active = runs.filter(status__in=SyncRun.ACTIVE).first()
        if active is not None:
            # The same progress the Refresh button shows, polling until the run ends.
            context["sync"] = sync_progress(active)
    return render(request, "portal/home.html", context)
