"""Routing forms and their submissions, read live from Calendly (nothing is kept locally).

Calendly lists an organization's routing forms (`GET /routing_forms?organization=`) and a form's
submissions (`GET /routing_form_submissions?form=`) with cursor pagination: each answer carries
`next_page_token`, and the next page is asked for with the same filters plus that token. An
organization has few forms, so the list reads them all through the client's own paging; a form's
submissions are read one page at a time so the token can travel in the portal's URL, and the
export walks every page.

A submission names its answers by question text and uuid, its `tracking` (utm_* parameters),
its `result` (`event_type` with the event type's URI, `external_url` with the URL, or
`custom_message` with a headline and body) and its `submitter`: the invitee's URI when the
person went on to book, null otherwise (https://developer.calendly.com/api-docs, "Routing Forms").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from pydantic import BaseModel, ValidationError

from portal.calendly.client import CalendlyClient
from portal.calendly.errors import NotFound, UnexpectedResponse
from portal.calendly.schemas import (
    Pagination,
    RoutingForm,
    RoutingFormSubmission,
    uuid_of,
)
from portal.lists import utc_text

# Submissions on one page of the form's page; Calendly allows 1 to 100.
PAGE_SIZE = 20
# Calendly's page tokens are opaque, URL-safe strings; anything else in the URL is not one.
PAGE_TOKEN = re.compile(r"[A-Za-z0-9_\-.~=+/]{1,500}")

UTM_FIELDS = ("utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term")
RESULT_KINDS = {
    "event_type": "Event type",
    "external_url": "External URL",
    "custom_message": "Custom message",
}


@dataclass(frozen=True)
class Page[T]:
    """One page of a Calendly listing and the token of the next, if there is one."""

    rows: list[T]
    next_token: str | None


def valid_token(value: str | None) -> str | None:
    """The page token from the URL when it can be one, else None (the first page)."""
    return value if value and PAGE_TOKEN.fullmatch(value) else None


def _page[M: BaseModel](
    client: CalendlyClient, path: str, params: dict[str, str | int], model: type[M]
) -> Page[M]:
    # The client's list methods walk every page; a page of the portal's own needs the token.
    data = client.raw_request(method="GET", path=path, params=params)
    if not isinstance(data, dict) or not isinstance(data.get("collection"), list):
        raise UnexpectedResponse(message=f"{path} did not answer with a collection")
    try:
        rows = [model.model_validate(item) for item in data["collection"]]
        pagination = Pagination.model_validate(data.get("pagination") or {})
    except ValidationError as exc:
        raise UnexpectedResponse(message=f"{path}: {exc.error_count()} unreadable fields") from exc
    return Page(rows, pagination.next_page_token)


def all_forms(client: CalendlyClient, *, organization_uri: str) -> list[RoutingForm]:
    """Every routing form of the organization, oldest first (Calendly's only sort)."""
    return list(client.list_routing_forms(organization=organization_uri))


def submissions_page(
    client: CalendlyClient, *, form: RoutingForm, page_token: str | None = None
) -> Page[RoutingFormSubmission]:
    """One page of the form's submissions, newest first."""
    params: dict[str, str | int] = {
        "form": form.uri,
        "count": PAGE_SIZE,
        "sort": "created_at:desc",
    }
    if page_token:
        params["page_token"] = page_token
    return _page(client, "/routing_form_submissions", params, RoutingFormSubmission)


def form_of(client: CalendlyClient, *, organization_uri: str, uuid: str) -> RoutingForm:
    """The routing form `uuid` if it belongs to the organization; NotFound otherwise.

    Calendly already hides other organizations' forms from a token; checking the form's
    organization here as well keeps that promise if a token ever reaches further."""
    uri = f"{settings.CALENDLY_API_URL.rstrip('/')}/routing_forms/{uuid}"
    form = client.get_routing_form(routing_form=uri)
    if form.organization.rstrip("/") != organization_uri.rstrip("/"):
        raise NotFound(status=404, message="The routing form belongs to another organization")
    return form


def submission_of(
    client: CalendlyClient, *, organization_uri: str, uuid: str
) -> tuple[RoutingFormSubmission, RoutingForm]:
    """The submission `uuid` and its form, if the form belongs to the organization; NotFound
    otherwise (the form's organization is what says whose a submission is)."""
    uri = f"{settings.CALENDLY_API_URL.rstrip('/')}/routing_form_submissions/{uuid}"
    submission = client.get_routing_form_submission(submission=uri)
    form = form_of(client, organization_uri=organization_uri, uuid=uuid_of(submission.routing_form))
    return submission, form


def booked_event_uuid(invitee_uri: str) -> str | None:
    """The scheduled event's uuid in an invitee URI (`.../scheduled_events/<uuid>/invitees/<id>`),
    or None when the URI is not one."""
    parts = urlsplit(invitee_uri)
    segments = parts.path.strip("/").split("/")
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return None
    if len(segments) >= 4 and segments[-4] == "scheduled_events" and segments[-2] == "invitees":
        return segments[-3] or None
    return None


# -- a submission as a person reads it --------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A submission with everything resolved to text: what the pages and the export show."""

    uri: str
    submitted_at: Any
    submitter: str
    answers: list[tuple[str, str]]
    tracking: list[tuple[str, str]]
    result_kind: str
    result: str
    result_url: str | None
    booked: bool
    invitee_uri: str

    @property
    def uuid(self) -> str:
        return uuid_of(self.uri)


def _submitter_questions(form: RoutingForm) -> tuple[set[str], set[str]]:
    """The uuids of the form's email questions and of its name questions.

    Calendly gives a question a `type` (an email question has type "email"); a name is an
    ordinary text question, so it is recognised by its label."""
    emails = {q.uuid for q in form.questions if q.type == "email" or "email" in q.name.lower()}
    names = {
        q.uuid
        for q in form.questions
        if q.uuid not in emails and re.search(r"\bname\b", q.name, re.IGNORECASE)
    }
    return emails, names


def _result(
    submission: RoutingFormSubmission, event_type_names: Mapping[str, str]
) -> tuple[str, str, str | None]:
    """The result's kind, what it says, and a link when it is one."""
    result = submission.result
    if result is None:
        return "None", "", None
    kind = RESULT_KINDS.get(result.type, result.type)
    value = result.value
    if result.type == "event_type" and isinstance(value, str):
        return kind, event_type_names.get(value, value), None
    if result.type == "external_url" and isinstance(value, str):
        return kind, value, value if value.startswith(("https://", "http://")) else None
    if result.type == "custom_message" and isinstance(value, dict):
        said = [str(value[key]) for key in ("headline", "body") if value.get(key)]
        return kind, " — ".join(said), None
    return kind, "" if value is None else str(value), None


def describe(
    submission: RoutingFormSubmission,
    form: RoutingForm,
    event_type_names: Mapping[str, str],
) -> Submission:
    """`submission` in words; `event_type_names` maps event type URIs to their names."""
    emails, names = _submitter_questions(form)
    answers = [(qa.question, qa.answer or "") for qa in submission.questions_and_answers]
    email = next(
        (qa.answer for qa in submission.questions_and_answers if qa.question_uuid in emails), None
    )
    name = next(
        (qa.answer for qa in submission.questions_and_answers if qa.question_uuid in names), None
    )
    submitter = " ".join(part for part in (name, f"<{email}>" if name and email else email) if part)
    tracking = []
    if submission.tracking is not None:
        for field in UTM_FIELDS:
            value = getattr(submission.tracking, field)
            if value:
                tracking.append((field, value))
    kind, said, link = _result(submission, event_type_names)
    return Submission(
        uri=submission.uri,
        submitted_at=submission.created_at,
        submitter=submitter,
        answers=answers,
        tracking=tracking,
        result_kind=kind,
        result=said,
        result_url=link,
        booked=submission.submitter is not None,
        invitee_uri=submission.submitter or "",
    )


# -- the export -------------------------------------------------------------------------------


def csv_header(form: RoutingForm) -> list[str]:
    return [
        "Submitted at (UTC)",
        "Submitter",
        *(question.name for question in form.questions),
        "Other answers",
        *UTM_FIELDS,
        "Result",
        "Result value",
        "Meeting booked",
        "Invitee URI",
        "Submission URI",
    ]


def csv_rows(
    submissions: Iterable[RoutingFormSubmission],
    form: RoutingForm,
    event_type_names: Mapping[str, str],
) -> Iterator[list[object]]:
    """One row per submission, its answers under the form's questions.

    Answers to questions the form no longer has (edited since) go to "Other answers" as
    "question: answer", so nothing a person typed is dropped."""
    for row in submissions:
        seen = describe(row, form, event_type_names)
        by_question = {qa.question_uuid: qa.answer or "" for qa in row.questions_and_answers}
        known = {question.uuid for question in form.questions}
        others = [
            f"{qa.question}: {qa.answer or ''}"
            for qa in row.questions_and_answers
            if qa.question_uuid not in known
        ]
        tracking = dict(seen.tracking)
        yield [
            utc_text(seen.submitted_at),
            seen.submitter,
            *(by_question.get(question.uuid, "") for question in form.questions),
            "; ".join(others),
            *(tracking.get(field, "") for field in UTM_FIELDS),
            seen.result_kind,
            seen.result,
            "yes" if seen.booked else "no",
            seen.invitee_uri,
            seen.uri,
        ]
