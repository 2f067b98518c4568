"""The jobs list, built with the list toolkit (portal/lists.py), and a job's results as rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.urls import reverse

from portal.jobs import kinds
from portal.jobs.models import Job, JobItem
from portal.lists import Column, Hint, Lines, Link, ListForm, utc_text

FIELDS = (
    "pk",
    "created_at",
    "kind",
    "label",
    "state",
    "state_reason",
    "total",
    "succeeded",
    "failed",
    "skipped",
    "created_by_label",
    "finished_at",
)
STATES = dict(Job.State.choices)

EMPTY = (
    "No jobs yet. Bulk work runs here in the background: invite people from a file "
    "(Members, then Invite from a file), and follow each job's progress on its page."
)


class JobFilter(ListForm):
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Name or who started it",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Any state"), *[c for c in Job.State.choices if c[0] != Job.State.DRAFT]],
        label="State",
    )

    sorts = {"started": ("created_at", "pk"), "name": ("label", "pk")}
    default_sort = "-started"

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        data = self.cleaned_data
        for word in (data.get("q") or "").split():
            rows = rows.filter(Q(label__icontains=word) | Q(created_by_label__icontains=word))
        if data.get("state"):
            rows = rows.filter(state=data["state"])
        return rows

    def describe(self, name: str) -> str:
        if name == "q":
            return f"Matching “{self.cleaned_data[name]}”"
        return super().describe(name)


def jobs(organization_id: int) -> QuerySet[Job]:
    return Job.objects.visible().filter(organization_id=organization_id)


def kind_label(name: str) -> str:
    try:
        return kinds.get(name).label
    except LookupError:
        return name


def _name(row: Any) -> Lines:
    return Lines((Link(row.label, reverse("jobs:job", args=[row.pk])), Hint(kind_label(row.kind))))


def _state(row: Any) -> Lines:
    return Lines(
        (STATES.get(row.state, row.state), Hint(row.state_reason) if row.state_reason else None)
    )


def _progress(row: Any) -> str:
    finished = row.succeeded + row.failed + row.skipped
    return (
        f"{finished:,} of {row.total:,} finished: {row.succeeded:,} done, "
        f"{row.failed:,} failed, {row.skipped:,} skipped"
    )


COLUMNS = [
    Column("Started", lambda row: row.created_at, sort="started"),
    Column("Job", _name, sort="name"),
    Column("State", _state),
    Column("Progress", _progress),
    Column("Started by", lambda row: row.created_by_label),
]

RESULT_COLUMNS = [
    "line",
    "written",
    "item",
    "state",
    "outcome",
    "message",
    "attempts",
    "finished (UTC)",
    "Calendly",
]


def result_rows(job: Job, items: Iterable[JobItem]) -> Iterator[list[object]]:
    kind = kinds.get(job.kind)
    labels = kind.outcomes
    # In a preview every row is settled (skipped, with why) or still to do: say which.
    to_do = kind.to_do if job.state == Job.State.DRAFT else ""
    for item in items:
        yield [
            item.source.get("line", ""),
            item.source.get("written", ""),
            item.key,
            item.get_state_display(),
            labels.get(item.outcome, item.outcome) if item.outcome else to_do,
            item.message,
            item.attempts,
            utc_text(item.finished_at),
            " ".join(str(value) for value in item.result.values()),
        ]
