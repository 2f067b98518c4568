from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id
from portal.audit import Action, record
from portal.audit.forms import AuditFilterForm
from portal.audit.models import AuditEntry, action_label, changed_keys, pretty_json
from portal.htmx import HtmxHttpRequest, render_page
from portal.lists import (
    Code,
    Column,
    Details,
    Hint,
    Lines,
    ListContext,
    csv_response,
    read_page,
    utc_text,
)

# What the list reads of each entry: what it shows.
FIELDS = (
    "pk",
    "created_at",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "before",
    "after",
    "ip",
    "request_id",
)
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


def _action(entry: Any) -> Lines:
    label = action_label(entry.action)
    return Lines((label, Code(entry.action) if label != entry.action else None))


def _target(entry: Any) -> Lines | None:
    if not (entry.target_label or entry.target_id):
        return None
    kind = f"{entry.target_type} #{entry.target_id}" if entry.target_id else entry.target_type
    return Lines((entry.target_label or entry.target_id, Hint(kind) if entry.target_type else None))


def _details(entry: Any) -> Lines:
    blocks = tuple(
        (title, pretty_json(value))
        for title, value in (("Before", entry.before), ("After", entry.after))
        if value is not None
    )
    changed = changed_keys(entry.before, entry.after)
    summary = f"Changed: {', '.join(changed)}" if changed else "Details"
    origin = " · ".join(
        part
        for part in (
            f"from {entry.ip}" if entry.ip else "",
            f"request {entry.request_id}" if entry.request_id else "",
        )
        if part
    )
    return Lines((Details(summary, blocks) if blocks else None, Hint(origin) if origin else None))


COLUMNS = [
    Column("When", lambda entry: entry.created_at, sort="when"),
    Column("Who", lambda entry: entry.actor_label or "The portal"),
    Column("Action", _action),
    Column("What", _target),
    Column("Details", _details),
]

EMPTY = (
    "Nothing recorded yet. The audit log records every change made through the portal: people "
    "signing in and out, connecting or disconnecting Calendly, portal roles granted or revoked, "
    "changes to members, links and webhook subscriptions, and exports of this log. Each entry "
    "keeps who did it, what changed, when, and from which address."
)


@allow(Role.ADMIN)
@require_safe
def log(request: HtmxHttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.for_organization(organization_id(request))
    form = AuditFilterForm(request.GET, actions=entries.actions_present())
    page = read_page(
        form.filter_rows(entries),
        fields=FIELDS,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=entries.count,
        # An audit answer is exact: "1,001 of 1,002 entries", never "more than".
        exact=True,
    )
    context = {
        "form": form,
        "list": ListContext(
            form=form,
            page=page,
            columns=COLUMNS,
            base_url=reverse("audit:log"),
            export_url=reverse("audit:export"),
            noun=("entry", "entries"),
            target="audit-results",
            empty=EMPTY,
        ),
    }
    return render_page(request, "audit/log.html", "audit-results", context)


@allow(Role.ADMIN)
@require_safe
def export(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    organization = Organization.objects.get(pk=organization_id(request))
    entries = AuditEntry.objects.for_organization(organization.pk)
    form = AuditFilterForm(request.GET, actions=entries.actions_present())
    if form.errors:
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
    rows = (
        form.filter_rows(entries)
        .filter(pk__lt=receipt.pk)
        .order_by(*form.order_by())
        .iterator(chunk_size=2000)
    )
    return csv_response("audit-log", CSV_COLUMNS, _csv_rows(rows))


def _csv_rows(entries: Iterable[AuditEntry]) -> Iterator[list[object]]:
    for entry in entries:
        yield [
            utc_text(entry.created_at),
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
        ]


def _json_cell(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True)
