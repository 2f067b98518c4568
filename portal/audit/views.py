from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from portal import csvexport
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id
from portal.audit import Action, record
from portal.audit.forms import AuditFilterForm
from portal.audit.models import AuditEntry
from portal.htmx import HtmxHttpRequest, render_page

PAGE_SIZE = 50
CSV_COLUMNS = [
    "time (UTC)",
    "actor",
    "action",
    "target type",
    "target id",
    "target label",
    "before",
    "after",
    "ip",
    "user agent",
    "request id",
]


@allow(Role.ADMIN)
@require_safe
def log(request: HtmxHttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.for_organization(organization_id(request))
    form = AuditFilterForm(request.GET, actions=entries.actions_present())
    wanted = form.audit_filter()
    page = Paginator(entries.matching(wanted), PAGE_SIZE).get_page(form.page_number())
    context = {
        "form": form,
        "page": page,
        # Unfiltered, the page count is the total; a second count only when filters apply.
        "total": entries.count() if wanted.as_dict() else page.paginator.count,
        "filtered": bool(wanted.as_dict()),
    }
    return render_page(request, "audit/log.html", "audit-rows", context)


@allow(Role.ADMIN)
@require_safe
def export(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    organization = Organization.objects.get(pk=organization_id(request))
    entries = AuditEntry.objects.for_organization(organization.pk)
    form = AuditFilterForm(request.GET, actions=entries.actions_present())
    if not form.is_valid():
        # Exporting "the current view" needs a view that makes sense: show the page with the
        # filters' errors instead, and record no export.
        page = log(request)
        page.status_code = 400
        return page
    wanted = form.audit_filter()
    receipt = record(
        action=Action.EXPORTED,
        organization=organization,
        after={"filters": wanted.as_dict()},
        request=request,
    )
    # Rows are read while streaming, after the receipt is written: leave the receipt out so
    # the file holds exactly what the page showed.
    rows = entries.matching(wanted).filter(pk__lt=receipt.pk).iterator(chunk_size=2000)
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    filename = f"audit-log-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    return csvexport.lines(
        CSV_COLUMNS,
        (
            (
                entry.created_at.astimezone(UTC).isoformat(),
                entry.actor_label,
                entry.action,
                entry.target_type,
                entry.target_id,
                entry.target_label,
                _json_cell(entry.before),
                _json_cell(entry.after),
                entry.ip or "",
                entry.user_agent,
                entry.request_id,
            )
            for entry in entries
        ),
    )


def _json_cell(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True)
