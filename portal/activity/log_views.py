"""Calendly's activity log as the portal keeps it: the list, its CSV export, and Import now.

Entries come from the import (portal/activity/importing.py), never from a live call, so the
list is instant and reaches further back than Calendly's 90 days. Admins only: the log names
who changed what across the whole organization.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from portal import audit
from portal.accounts.connections import ConnectionUnavailable, get_connection
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.activity import search, tasks
from portal.activity.importing import last_import, running_import
from portal.activity.models import ActivityEntry, ActivityImport
from portal.calendly import errors
from portal.htmx import HtmxHttpRequest, render_page
from portal.lists import (
    Column,
    Details,
    Hint,
    Lines,
    ListContext,
    ListForm,
    csv_response,
    day_field,
    read_page,
    utc_text,
)

FIELDS = (
    "pk",
    "occurred_at",
    "namespace",
    "action",
    "actor_type",
    "actor_name",
    "actor_email",
    "actor_uri",
    "details",
)

CSV_COLUMNS = [
    "occurred (UTC)",
    "namespace",
    "action",
    "actor type",
    "actor",
    "actor email",
    "actor URI",
    "details (JSON)",
    "entry URI",
]

# The choices of the namespace and action filters come from what is stored; the cap keeps a
# strange log from making the form enormous.
MAX_CHOICES = 300


def _anywhere(term: str) -> Q:
    """Entries whose action, namespace, actor or details contain the term."""
    return (
        Q(namespace__icontains=term)
        | Q(action__icontains=term)
        | Q(actor_name__icontains=term)
        | Q(actor_email__icontains=term)
        | Q(details__icontains=term)
    )


class LogFilter(ListForm):
    q = forms.CharField(
        required=False,
        max_length=300,
        label="Search actions, actors and details",
        help_text='As in Calendly: a | b (either), a + b (both), "exact words", -term '
        "(without), ( ) to group, * at either end.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    actor = forms.CharField(
        required=False,
        max_length=200,
        label="Actor (name or email)",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    namespace = forms.ChoiceField(required=False, label="Namespace")
    action = forms.ChoiceField(required=False, label="Action")
    date_from = day_field("Occurred from")
    date_to = day_field("Occurred until")

    sorts = {"occurred": ("occurred_at", "pk")}
    default_sort = "-occurred"

    def __init__(self, data: Any, *, organization_id: int, **kwargs: Any) -> None:
        self.organization_id = organization_id
        super().__init__(data, **kwargs)

    def prepare_fields(self) -> None:
        stored = entries(self.organization_id)
        namespaces = stored.order_by("namespace").values_list("namespace", flat=True).distinct()
        actions = stored.order_by("action").values_list("action", flat=True).distinct()
        self.fields["namespace"].choices = [  # type: ignore[attr-defined]
            ("", "Any namespace"),
            *((n, n) for n in namespaces[:MAX_CHOICES]),
        ]
        self.fields["action"].choices = [  # type: ignore[attr-defined]
            ("", "Any action"),
            *((a, a) for a in actions[:MAX_CHOICES]),
        ]

    def clean_q(self) -> str:
        text: str = self.cleaned_data.get("q") or ""
        try:
            search.parse(text, _anywhere)
        except search.BadSearch as bad:
            raise forms.ValidationError(f"This search cannot be read: {bad}.") from None
        return text

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        data = self.cleaned_data
        if data.get("q"):
            rows = rows.filter(search.parse(data["q"], _anywhere))
        for word in (data.get("actor") or "").split():
            rows = rows.filter(Q(actor_name__icontains=word) | Q(actor_email__icontains=word))
        if data.get("namespace"):
            rows = rows.filter(namespace=data["namespace"])
        if data.get("action"):
            rows = rows.filter(action=data["action"])
        # Days are the viewer's: "from 3 December" means their 3 December.
        zone = timezone.get_current_timezone()
        if data.get("date_from"):
            rows = rows.filter(occurred_at__gte=datetime.combine(data["date_from"], time(), zone))
        if data.get("date_to"):
            end = datetime.combine(data["date_to"] + timedelta(days=1), time(), zone)
            rows = rows.filter(occurred_at__lt=end)
        return rows

    def describe(self, name: str) -> str:
        value = self.cleaned_data[name]
        if name == "q":
            return f"Matching “{value}”"
        if name == "actor":
            return f"Actor “{value}”"
        if name in ("date_from", "date_to"):
            return f"{self.fields[name].label} {value.day} {value:%b %Y}"
        return super().describe(name)


def entries(organization_id: int) -> QuerySet[ActivityEntry]:
    return ActivityEntry.objects.filter(organization_id=organization_id)


def _what(row: Any) -> Lines:
    return Lines((row.action, Hint(row.namespace) if row.namespace else None))


def _actor(row: Any) -> Lines | None:
    name = row.actor_name or row.actor_email or row.actor_uri
    if not name:
        return Lines((Hint(row.actor_type),)) if row.actor_type else None
    email = Hint(row.actor_email) if row.actor_email and row.actor_email != name else None
    system = Hint("automated") if row.actor_type == "System" else None
    return Lines((name, email, system))


def _details(row: Any) -> Details | None:
    if not row.details:
        return None
    return Details("Details", (("", json.dumps(row.details, indent=2, ensure_ascii=False)),))


COLUMNS = [
    Column("Occurred", lambda row: row.occurred_at, sort="occurred"),
    Column("Action", _what),
    Column("Actor", _actor),
    Column("Details", _details),
]


def csv_rows(rows: Iterable[ActivityEntry]) -> Iterator[list[object]]:
    for row in rows:
        yield [
            utc_text(row.occurred_at),
            row.namespace,
            row.action,
            row.actor_type,
            row.actor_name or "",
            row.actor_email or "",
            row.actor_uri or "",
            json.dumps(row.details, ensure_ascii=False, sort_keys=True),
            row.uri,
        ]


def _empty(last: ActivityImport | None) -> str:
    """Why the list is empty, in words: the plan, a failed import, or not imported yet."""
    if last is None:
        return (
            "Nothing imported yet. Calendly's activity log is read every hour (or now, with "
            "Import now) and kept here after Calendly's 90 days."
        )
    if last.status in (ActivityImport.Status.NOT_ON_PLAN, ActivityImport.Status.FAILED):
        return f"Nothing could be imported: {last.error}"
    return "Calendly's activity log has no entries for your organization yet."


@allow(Role.ADMIN)
@require_safe
def log(request: HtmxHttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    rows = entries(org_id)
    form = LogFilter(request.GET, organization_id=org_id)
    page = read_page(
        form.filter_rows(rows),
        fields=FIELDS,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=rows.count,
    )
    last = last_import(org_id)
    context = {
        "form": form,
        "last_import": last,
        "running_import": running_import(org_id),
        "list": ListContext(
            form=form,
            page=page,
            columns=COLUMNS,
            base_url=reverse("activity:log"),
            export_url=reverse("activity:log_export"),
            noun=("entry", "entries"),
            target="activity-results",
            empty=_empty(last),
        ),
    }
    return render_page(request, "activity/log.html", "activity-results", context)


@allow(Role.ADMIN)
@require_safe
def log_export(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    org_id = organization_id(request)
    form = LogFilter(request.GET, organization_id=org_id)
    if form.errors:
        # The current view must make sense to be exported: show the filters' errors instead.
        page = log(request)
        page.status_code = 400
        return page
    audit.record(
        action=audit.Action.ACTIVITY_EXPORTED,
        organization=Organization.objects.get(pk=org_id),
        after={
            "filters": {
                name: str(value)
                for name, value in form.cleaned_data.items()
                if value not in (None, "") and name != "page"
            }
        },
        request=request,
    )
    rows = form.filter_rows(entries(org_id)).order_by(*form.order_by()).iterator(chunk_size=2000)
    return csv_response("calendly-activity-log", CSV_COLUMNS, csv_rows(rows))


@allow(Role.ADMIN)
@require_POST
def log_import(request: HttpRequest) -> HttpResponse:
    """Ask a background worker to import what is new in Calendly's activity log."""
    organization = Organization.objects.get(pk=organization_id(request))
    try:
        get_connection(organization)
    except ConnectionUnavailable as exc:
        messages.error(request, errors.explain(exc, doing="importing the activity log"))
        return redirect("activity:log")
    if tasks.queue_import(organization.pk, requested_by_id=person(request).pk):
        messages.success(
            request,
            "Importing Calendly's activity log in the background; new entries appear here in "
            "a minute or so.",
        )
    else:
        messages.error(
            request,
            "The background workers could not take the import just now. The log is imported "
            "every hour anyway; try again in a few minutes.",
        )
    return redirect("activity:log")


urls: list[URLPattern] = [
    path("log", log, name="log"),
    path("log/export", log_export, name="log_export"),
    path("log/import", log_import, name="log_import"),
]
