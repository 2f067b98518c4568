from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from portal.accounts.models import Organization, Role, User
from portal.accounts.roles import allow
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
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _organization_id(request: HttpRequest) -> int:
    # Only people with a role reach these views, and roles need an organization; the check
    # keeps that promise here instead of trusting it from afar. The id, not the row: the page
    # needs no organization query.
    user = request.user
    if not isinstance(user, User) or user.organization_id is None:
        raise Http404("No organization")
    return user.organization_id


@allow(Role.ADMIN)
@require_safe
def log(request: HtmxHttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.for_organization(_organization_id(request))
    form = AuditFilterForm(request.GET, actions=entries.actions_present())
    wanted = form.audit_filter()
    page = Paginator(entries.matching(wanted), PAGE_SIZE).get_page(request.GET.get("page"))
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
def export(request: HttpRequest) -> StreamingHttpResponse:
    organization = Organization.objects.get(pk=_organization_id(request))
    entries = AuditEntry.objects.for_organization(organization.pk)
    wanted = AuditFilterForm(request.GET, actions=[]).audit_filter()
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


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries:
        yield writer.writerow(
            _cell(value)
            for value in (
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
        )


def _json_cell(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True)


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
