"""Data-deletion requests: asking Calendly to erase invitees' data, as a job, each request once.

`POST /data_compliance/deletion/invitees` erases what Calendly holds about the given addresses
in every event booked with the organization. It needs the Enterprise plan, an owner's or
admin's connection with the "data requests" permission (which only Calendly support switches
on) and the `data_compliance:write` scope. Calendly answers 202 with an empty body: no id, no
status to ask for later, no webhook when it is done (it can take up to 7 days). The portal's
record is therefore the only evidence there is: each request's item keeps the addresses, the
time Calendly accepted them and its answer, and its audit row says who asked.

`prepare` reads a list of addresses into a draft job. Addresses that are not addresses, and
repeats, are settled at once with the reason; the others are grouped into requests of at most
`EMAILS_PER_REQUEST`, one item per request. Starting the draft hands them to the workers,
which call `request_deletion` for each.

Requests that may have been sent. Calendly has nothing to read back, so a request whose answer
was lost cannot be checked, unlike an invitation or a removal. The rule is that the portal sends
a request by itself at most once, unless a failure proves Calendly did not take it:
- before sending, the item notes in its row (under its lease) that it is being sent; a 202
  replaces the note with the answer and its time;
- a refusal (any 4xx, including 429s the client gave up waiting out) or a request that never
  left (`Unreachable`) proves nothing was taken: the note is withdrawn, and the item is tried
  again or the job paused as for any other kind;
- an answer lost after sending (timeout, reset connection, 5xx: the client's `AmbiguousWrite`),
  or the note found by a later attempt (a worker killed mid-request), ends the request as
  "may have been sent", failed, with the time it went out. It is not sent again by itself;
- a person who wants certainty sends it again with "Retry failed" on the job's page (recorded
  as `jobs.retried` with their name) or starts another request for those addresses. That
  attempt sends, and keeps the earlier time in its result.
Why: a compliance officer must be able to say exactly what is known. A quiet second request
would hide the doubt behind a second time stamp and ask Calendly twice without anyone deciding
to; "may have been sent" keeps the doubt visible, names the people concerned, and leaves the
choice (send again, or accept that Calendly most likely has it) to a person, in the audit log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal import audit
from portal.accounts.models import Organization, Role, User
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.jobs import engine, kinds
from portal.jobs.csvfile import Address
from portal.jobs.models import Job, JobItem

KIND = "delete_invitee_data"
COMMAND_ACTOR = "manage.py delete_invitee_data"
# Calendly documents no maximum for `emails`. 50 is half of 100, the usual page size of its API,
# far from any limit a body of addresses is likely to meet, and requests are cheap
# (1,000 addresses are 20 of the 500 a minute Calendly allows). Smaller batches also mean
# fewer people in doubt when an answer is lost, since a whole request is then "may have been
# sent", and fewer held up when Calendly refuses one address of a request.
EMAILS_PER_REQUEST = 50
# Calendly's longest window of scheduled events in one request is "24 months"; 730 days is
# never longer than that.
LONGEST_EVENT_WINDOW = timedelta(days=730)
# Calendly began in 2013; earlier dates can hold nothing (and year 1 cannot even be moved to
# UTC from zones east of it).
EARLIEST_YEAR = 2010
# Rows written per INSERT while reading a list: memory stays flat however long it is.
CHUNK = 1000
DOING = "requesting data deletion"
ACCEPTED = 202

REQUESTED = "requested"
UNCONFIRMED = "unconfirmed"
INVALID = "invalid"
DUPLICATE = "duplicate"
TO_DO = "to_request"

OUTCOMES = {
    REQUESTED: "Deletion requested",
    UNCONFIRMED: "May have been sent",
    INVALID: "Not an address",
    DUPLICATE: "Repeated in the list",
    TO_DO: "To request",
    "failed": "Failed",
    "gave_up": "Failed",
    "error": "Failed",
    "cancelled": "Cancelled",
}


@dataclass(frozen=True)
class Preview:
    job: Job
    # Per address given: TO_DO, INVALID or DUPLICATE.
    counts: Counter[str]
    requests: int

    @property
    def to_request(self) -> int:
        return self.counts[TO_DO]


def prepare(
    *,
    organization: Organization,
    addresses: Iterable[Address],
    source_name: str,
    actor: User | None,
    actor_label: str = "",
) -> Preview:
    """Write a draft job asking Calendly to delete the data of `addresses` (raises `CsvRefused`
    from the reader, and then nothing is kept)."""
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    batch: list[Address] = []
    requests = 0
    with transaction.atomic():
        job = Job.objects.create(
            organization=organization,
            kind=KIND,
            label=f"Request deletion of invitee data from {source_name}"[:500],
            created_by=actor,
            created_by_label=audit.describe(actor) if actor is not None else actor_label,
            parameters={"source": source_name, "emails_per_request": EMAILS_PER_REQUEST},
        )
        rows: list[JobItem] = []
        for address in addresses:
            if address.problem:
                outcome = DUPLICATE if address.email and address.email in seen else INVALID
                counts[outcome] += 1
                rows.append(_settled(job, address, outcome))
            else:
                seen.add(address.email)
                counts[TO_DO] += 1
                batch.append(address)
                if len(batch) == EMAILS_PER_REQUEST:
                    requests += 1
                    rows.append(_request(job, requests, batch))
                    batch = []
            if len(rows) >= CHUNK:
                JobItem.objects.bulk_create(rows)
                rows.clear()
        if batch:
            requests += 1
            rows.append(_request(job, requests, batch))
        JobItem.objects.bulk_create(rows)
        job.skipped = counts[INVALID] + counts[DUPLICATE]
        job.total = requests + job.skipped
        job.save(update_fields=["total", "skipped"])
    return Preview(job=job, counts=counts, requests=requests)


def event_window_problem(start: datetime, end: datetime, now: datetime) -> str | None:
    """Why Calendly would refuse to delete the scheduled events between `start` and `end`
    (its rules: a window in the past, at most 24 months long); None when it would not."""
    if start.year < EARLIEST_YEAR:
        return f"Calendly holds no events from before {EARLIEST_YEAR}: start the window later."
    if end <= start:
        return "The end must come after the start."
    if end > now:
        return "Calendly deletes only events in the past: the end must be before now."
    if end - start > LONGEST_EVENT_WINDOW:
        return (
            "Calendly takes at most 24 months in one request: shorten the window, and send the "
            "rest as another request."
        )
    return None


def prepare_events(
    *,
    organization: Organization,
    start: datetime,
    end: datetime,
    actor: User | None,
    actor_label: str = "",
) -> Preview:
    """Write a draft job asking Calendly to delete the scheduled events between `start` and
    `end` (raises ValueError, with the reason, for a window Calendly would refuse)."""
    problem = event_window_problem(start, end, timezone.now())
    if problem:
        raise ValueError(problem)
    window = {
        "start_time": start.astimezone(UTC).isoformat(),
        "end_time": end.astimezone(UTC).isoformat(),
    }
    described = f"events from {when(window['start_time'])} to {when(window['end_time'])}"
    with transaction.atomic():
        job = Job.objects.create(
            organization=organization,
            kind=KIND,
            label=f"Request deletion of scheduled {described}"[:500],
            created_by=actor,
            created_by_label=audit.describe(actor) if actor is not None else actor_label,
            parameters={"source": "a window of scheduled events", **window},
        )
        JobItem.objects.create(
            job=job,
            position=1,
            key=f"request 1 ({described})",
            source={"request": 1, "line": 1, "written": described, **window},
        )
        job.total = 1
        job.save(update_fields=["total"])
    return Preview(job=job, counts=Counter({TO_DO: 1}), requests=1)


def _settled(job: Job, address: Address, outcome: str) -> JobItem:
    return JobItem(
        job=job,
        # Items sort by line, so a report can follow the list as it was given.
        position=address.line,
        # Unique in the job: a repeated or broken line is its line, not its address.
        key=f"line {address.line}",
        source={"line": address.line, "written": address.raw},
        state=JobItem.State.SKIPPED,
        outcome=outcome,
        message=address.problem or "",
    )


def _request(job: Job, number: int, batch: Sequence[Address]) -> JobItem:
    emails = [address.email for address in batch]
    return JobItem(
        job=job,
        position=batch[0].line,
        # Not the addresses themselves: fifty of them are too long for the unique index.
        key=f"request {number} ({_addresses(len(emails))})",
        source={
            "request": number,
            "line": batch[0].line,
            "written": ", ".join(emails),
            "emails": emails,
            "lines": [address.line for address in batch],
        },
    )


def _addresses(count: int) -> str:
    return f"{count} address" if count == 1 else f"{count} addresses"


# -- the workers' half ----------------------------------------------------------------------


@contextmanager
def _open(job: Job) -> Iterator[kinds.DoItem]:
    with engine.calendly_client(job) as client:
        yield partial(request_deletion, client, job)


def request_deletion(client: CalendlyClient, job: Job, item: JobItem) -> kinds.Outcome:
    """Send one request, unless an earlier attempt may have sent it (see the module's rule)."""
    what = _what(item.source)
    earlier: dict[str, Any] = dict(item.result)
    if earlier.get("status") == ACCEPTED:
        # The worker that heard the 202 stopped before the item was finished.
        return _accepted(earlier, late=True)
    if "sending_at" in earlier:
        return _unconfirmed(
            earlier,
            earlier["sending_at"],
            "the attempt that sent it stopped before Calendly's answer was recorded",
        )
    sending = {"sending_at": _now(), **what, **_history(earlier)}
    if not _note(item, sending):
        raise kinds.Retry("Another run took this request over.", counts=False)
    try:
        if "emails" in what:
            client.delete_invitee_data(emails=what["emails"])
        else:
            client.delete_scheduled_event_data(
                start_time=what["start_time"], end_time=what["end_time"]
            )
    except errors.AmbiguousWrite:
        return _unconfirmed(sending, sending["sending_at"], "Calendly's answer was lost")
    except errors.CalendlyError as error:
        # Refused, or it never left: Calendly took nothing, so a later attempt may send it.
        _note(item, earlier)
        if isinstance(error, errors.BadRequest | errors.NotFound):
            return kinds.Outcome(
                JobItem.State.FAILED,
                "failed",
                errors.explain(error, doing=DOING, changing=True),
                result=earlier,
            )
        raise engine.calendly_failure(job.organization, error, doing=DOING) from error
    accepted = {"status": ACCEPTED, "requested_at": _now(), **what, **_history(earlier)}
    # Kept at once, so a worker stopped before the item is finished cannot make it look unsent.
    _note(item, accepted)
    return _accepted(accepted, late=False)


def _note(item: JobItem, result: dict[str, Any]) -> bool:
    """Store `result` on the item while this attempt holds it; False when its lease was lost."""
    return bool(
        JobItem.objects.filter(
            pk=item.pk, lease_token=item.lease_token, state=JobItem.State.IN_FLIGHT
        ).update(result=result)
    )


def _history(earlier: dict[str, Any]) -> dict[str, Any]:
    """The times of earlier sends that may have reached Calendly, kept when it is sent again."""
    times = list(earlier.get("earlier_sends", []))
    if earlier.get("sent_at"):
        times.append(earlier["sent_at"])
    return {"earlier_sends": times} if times else {}


def _what(source: dict[str, Any]) -> dict[str, Any]:
    """What one request asks for: invitees' addresses, or a window of scheduled events."""
    if "emails" in source:
        return {"emails": list(source["emails"])}
    return {"start_time": source["start_time"], "end_time": source["end_time"]}


def _about(result: dict[str, Any]) -> str:
    if "emails" in result:
        return _addresses(len(result["emails"]))
    return f"events from {when(result['start_time'])} to {when(result['end_time'])}"


def _accepted(result: dict[str, Any], *, late: bool) -> kinds.Outcome:
    message = (
        f"Calendly accepted the request for {_about(result)} at "
        f"{when(result['requested_at'])}. It gives no status to check; deleting the data can "
        "take up to 7 days."
    )
    if late:
        message += " (Recorded after the worker that sent it stopped; nothing was sent again.)"
    return kinds.Outcome(
        JobItem.State.DONE,
        REQUESTED,
        message,
        result=result,
        audit_action=audit.Action.INVITEE_DATA_DELETION_REQUESTED,
    )


def _unconfirmed(result: dict[str, Any], sent_at: str, why: str) -> kinds.Outcome:
    kept = {k: v for k, v in result.items() if k != "sending_at"}
    return kinds.Outcome(
        JobItem.State.FAILED,
        UNCONFIRMED,
        f"May have been sent: the request went to Calendly at {when(sent_at)}, but {why}. "
        "Calendly gives no way to check, so it was not sent again. If this data must be "
        "deleted for certain, send it again (Retry failed on the job's page, or a new request "
        "for these addresses).",
        result={"status": "unknown", "sent_at": sent_at, **kept},
        audit_action=audit.Action.INVITEE_DATA_DELETION_UNCONFIRMED,
    )


def _now() -> str:
    return timezone.now().isoformat()


def when(moment: str) -> str:
    """A time kept in an item's result, as people read it (UTC)."""
    return datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


kinds.register(
    kinds.Kind(
        name=KIND,
        label="Data-deletion request",
        # An item is a request to Calendly, or an address given that was settled at once.
        noun="entry",
        plural="entries",
        open=_open,
        requests_per_item=1.0,
        outcomes=OUTCOMES,
        to_do="To request",
        verb="Send",
        will="will be sent to Calendly",
        units=("request", "requests"),
        report_template="directory/deletion_report.html",
        destructive=True,
        # Compliance officers ask for deletions; admins may too.
        roles=frozenset({Role.ADMIN.value, Role.COMPLIANCE.value}),
    )
)
