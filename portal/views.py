from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from portal import health
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
    return render(request, "portal/home.html", {"checks": health.health()})
