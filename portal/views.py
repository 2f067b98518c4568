from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from portal import health
from portal.accounts.models import Role, User
from portal.directory.hygiene import hygiene
from portal.directory.models import SyncRun
from portal.health import Check


def _report(checks: list[Check]) -> JsonResponse:
    ok = all(check.ok for check in checks if check.required)
    return JsonResponse(
        {"status": "ok" if ok else "failing", "checks": {c.name: c.as_dict() for c in checks}},
        status=200 if ok else 503,
    )


@login_not_required
@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Everything the portal needs to do its work: database, broker and a live worker."""
    return _report(health.health())


@login_not_required
@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Whether this web process can serve pages: the database answers and is migrated."""
    return _report(health.readiness())


@login_not_required
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {"checks": health.health()}
    user = request.user
    if isinstance(user, User) and user.organization_id and user.has_role(Role.ADMIN):
        context["hygiene"] = hygiene(user.organization_id)
        context["last_sync"] = (
            SyncRun.objects.filter(organization_id=user.organization_id)
            .only("status", "finished_at", "error")
            .first()
        )
    return render(request, "portal/home.html", context)
