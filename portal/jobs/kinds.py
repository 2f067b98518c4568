"""What a kind of job does with one item, and the registry the engine finds kinds in.

A feature app (directory for bulk invites, later offboarding and data deletion) describes its
kind of job here from its own `AppConfig.ready`, so the engine never imports a feature app:

    register(Kind(name="bulk_invite", label="Bulk invitation", noun="address", open=...))

`open(job)` is a context manager yielding the function that does one item; it holds whatever a
run needs for a while (a Calendly client). The function returns an `Outcome`, or raises
`Retry` (try again later: Calendly busy or unreachable) or `Blocked` (nothing in this job can
go on until a person acts: no seats left, the connection needs reconnecting).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import Model

    from portal.accounts.models import User
    from portal.jobs.models import Job, JobItem


@dataclass(frozen=True)
class Outcome:
    """How an item ended: `state` is one of JobItem.FINAL_STATES."""

    state: str
    outcome: str
    message: str
    result: Mapping[str, Any] = field(default_factory=dict)
    # The audit row for it: the kind's own action (directory.invited) when it changed
    # something, else the engine's jobs.item_failed / jobs.item_skipped.
    audit_action: str = ""
    audit_target: Model | None = None


class Retry(Exception):
    """Try this item again later. `counts` is False when the item did nothing wrong (Calendly
    answered 429): such a retry never uses up one of the item's attempts."""

    def __init__(self, message: str, *, after: float | None = None, counts: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.after = after
        self.counts = counts


class Blocked(Exception):
    """Stop the whole job (paused, with `message` as the reason) and put the item back."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


type DoItem = Callable[["JobItem"], Outcome]


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    # What one item is, for sentences: "row" (of a file), "person".
    noun: str
    open: Callable[[Job], AbstractContextManager[DoItem]]
    # Calendly requests one item usually costs, for the time-left estimate.
    requests_per_item: float = 1.0
    # Labels for the item outcomes this kind reports, for the results and the counts.
    outcomes: Mapping[str, str] = field(default_factory=dict)
    # What a preview says of an item still to do.
    to_do: str = "To do"
    # Plural of `noun`; the Start button's verb and what a preview says will happen
    # ("29 of 30 rows will be invited"; "Invite 29 people").
    plural: str = ""
    verb: str = "Start"
    will: str = "will be done"
    # What the Start button counts ("Invite 29 people", "Send 3 requests").
    units: tuple[str, str] = ("person", "people")
    # Kinds whose changes cannot be undone (removals, deletions): Start asks the person to
    # type how many items it will act on, and with JOBS_NEED_APPROVAL a second admin approves.
    destructive: bool = False
    # Kinds that may wait for a start time (an offboarding at the end of someone's last day).
    schedulable: bool = False
    # The portal roles whose people may see, start and steer this kind's jobs (approving one
    # stays an admin's).
    roles: frozenset[str] = frozenset({"admin"})
    # What else starting one of these jobs starts (an offboarding's data-deletion request):
    # called with the job, who started it and their label, once the job is queued.
    on_start: Callable[[Job, User | None, str], None] | None = None
    # A kind's own parts of its page: the preview's details, the finished job's report.
    preview_template: str = ""
    report_template: str = ""

    @property
    def nouns(self) -> str:
        return self.plural or f"{self.noun}s"


_kinds: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    _kinds[kind.name] = kind


def get(name: str) -> Kind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"no kind of job is called {name!r}") from None


def all_kinds() -> Iterator[Kind]:
    return iter(_kinds.values())


def open_to(roles: Iterable[str]) -> list[str]:
    """The kinds of job people with these roles may see."""
    mine = set(roles)
    return [kind.name for kind in _kinds.values() if kind.roles & mine]
