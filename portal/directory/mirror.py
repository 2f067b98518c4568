"""What the members pages show about the mirror besides its rows, kept in each process.

The organization's groups (the group filter's options, and names for the groups column), its
sync line (the latest run, and the latest that succeeded) and who is in which group are read on
every members page, but change only when a sync run starts, changes status or finishes, or
when an action writes the mirror (removing a member). `sync.py` and such actions call
`mirror_changed()` at each of those moments, which starts a new generation in
the deployment's shared cache (Redis; a folder in the demo), so a worker's sync reaches every
web process. Each process keeps what it read with the generation it read it at, and reads
again when the shared generation is no longer that one: a page costs one small cache read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from uuid import uuid4

from django.core.cache import cache
from django.db import transaction

from portal.directory.members import MemberGroups, groups_of
from portal.directory.models import Group, SyncRun

# A day: the state is cleared when it changes; this only bounds what a forgotten one costs.
KEEP_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class MirrorState:
    groups: dict[int, str]  # id: name, by name: the group filter's options
    latest_sync: SyncRun | None
    last_good_sync: SyncRun | None
    version: str  # the generation it was read at


# Per process: organization id -> (the generation it was read at, who is in which group).
_member_groups: dict[int, tuple[str, MemberGroups]] = {}


def member_groups(organization_id: int, state: MirrorState) -> MemberGroups:
    """Every current member's groups, as of `state`: read once per process per state."""
    kept = _member_groups.get(organization_id)
    if kept is not None and kept[0] == state.version:
        return kept[1]
    found = groups_of(organization_id, state.groups)
    _member_groups[organization_id] = (state.version, found)
    return found


def _key(organization_id: int) -> str:
    return f"directory:mirror-generation:{organization_id}"


# Per process: organization id -> (the generation it was read at, the state).
_states: dict[int, tuple[str, MirrorState]] = {}


def mirror_state(organization_id: int) -> MirrorState:
    """The organization's state as of its current generation: one small read of the shared
    cache per page, and the database only after a change."""
    generation = cache.get(_key(organization_id))
    kept = _states.get(organization_id)
    if generation is not None and kept is not None and kept[0] == generation:
        return kept[1]
    if generation is None:
        # Never changed since the cache started (or it forgot): begin a generation. add() is
        # atomic, so racing processes agree on the one that got in first.
        cache.add(_key(organization_id), uuid4().hex, KEEP_SECONDS)
        # With the cache down (it fails open), a generation of this read alone: nothing kept
        # in this process can then pass for current, and every page reads the database.
        generation = cache.get(_key(organization_id)) or f"uncached-{uuid4().hex}"
    state = _read(organization_id, generation)
    _states[organization_id] = (generation, state)
    return state


def mirror_changed(organization_id: int) -> None:
    """Start a new generation now, and again once the current transaction commits: a page
    reading in between could otherwise keep the state from before the change."""
    renew = partial(_new_generation, organization_id)
    renew()
    transaction.on_commit(renew)


def _new_generation(organization_id: int) -> None:
    cache.set(_key(organization_id), uuid4().hex, KEEP_SECONDS)


def _read(organization_id: int, generation: str) -> MirrorState:
    groups = dict(
        Group.objects.current()
        .filter(organization_id=organization_id)
        .order_by("name")
        .values_list("pk", "name")
    )
    runs = SyncRun.objects.filter(organization_id=organization_id).only(
        "organization_id", "status", "error", "finished_at", "notes"
    )
    latest = runs.first()
    good = latest
    if latest is not None and latest.status != SyncRun.Status.SUCCEEDED:
        good = runs.filter(status=SyncRun.Status.SUCCEEDED).first()
    return MirrorState(groups, latest, good, version=generation)
