"""Refreshing an organization's mirror from Calendly.

A sync is a `SyncRun` row first: claimed before any request is sent, updated after every page
(so the Refresh button's progress partial can poll it), finished as succeeded or failed. Each
listing streams pages of 100 and upserts each page in one statement, so memory stays flat
however large the organization. Every row seen is stamped `seen_in=run`; only once every
required listing has completed are the rows this run did not see marked removed, in the same
transaction that marks the run succeeded. A sync that fails half-way therefore removes nothing,
and the pages keep showing the last complete copy.

Calendly requests a sync sends (P = pooled team event types, each listing at least one page):

    1 (organization) + ceil(members/100) + ceil(invitations/100) + ceil(groups/100)
    + ceil(group relationships/100) + ceil(teams/100) + ceil(event types/100)
    + sum over the P pooled event types of ceil(hosts/100)

Solo event types cost nothing extra: their host is the profile owner, already mirrored.
The count stored on the run is measured (every request the client sends asks the rate limiter
for a slot first, retries included), not computed from this formula.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone

from portal import audit
from portal.accounts.connections import client_for, get_connection, note_failure, shared_limiter
from portal.accounts.models import Organization, User
from portal.calendly import schemas
from portal.calendly.client import PAGE_SIZE, CalendlyClient
from portal.calendly.errors import (
    BadRequest,
    CalendlyError,
    NotFound,
    PermissionDenied,
    explain,
)
from portal.calendly.ratelimit import RateLimiter
from portal.core.text import storable
from portal.directory.mirror import mirror_changed
from portal.directory.models import (
    EventType,
    EventTypeHost,
    Group,
    GroupRelationship,
    Invitation,
    Member,
    SyncRun,
    Team,
)
from portal.jobs.models import WorkerHeartbeat

log = logging.getLogger(__name__)

# A running sync writes its heartbeat with every page. One page can take a few minutes at worst
# (four attempts of 20 s each, backoff, a couple of one-minute rate-limit waits), so a run
# silent for longer than this lost its worker (killed, OOM, redeployed) and may be taken over.
STALE_AFTER = timedelta(minutes=15)

LAST_COPY = "The last complete copy is still shown."


class RequestCounter:
    """A rate limiter that counts the requests sent through it.

    The client asks its limiter for a slot before every request it sends, retries and 429
    re-sends included, so wrapping the limiter measures what Calendly actually received
    without reaching into the client's HTTP plumbing.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self.count = 0

    def acquire(self) -> float:
        self.count += 1
        return self._limiter.acquire()

    def observe(self, *, limit: int | None, remaining: int | None, reset: float | None) -> None:
        self._limiter.observe(limit=limit, remaining=remaining, reset=reset)

    def pause(self, seconds: float) -> None:
        self._limiter.pause(seconds)


class SkipSection(Exception):
    """A listing the organization's plan or grant does not allow; the sync goes on without it."""

    def __init__(self, note: str) -> None:
        self.note = note
        super().__init__(note)


# -- claiming a run -----------------------------------------------------------------------------


def start_sync(
    organization: Organization,
    *,
    trigger: str,
    requested_by: User | None = None,
    status: str = SyncRun.Status.RUNNING,
) -> tuple[SyncRun, bool]:
    """Claim the organization's one active sync: (the new run, True), or (the run already
    queued or running, False). The partial unique index on active runs decides between racers.
    `status` is RUNNING to run it in this process, QUEUED to hand it to a worker."""
    for _ in range(3):
        _give_up_stale_runs(organization)
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    organization=organization,
                    trigger=trigger,
                    requested_by=requested_by,
                    status=status,
                )
            mirror_changed(organization.pk)
            return run, True
        except IntegrityError:
            active = SyncRun.objects.filter(
                organization=organization, status__in=SyncRun.ACTIVE
            ).first()
            if active is not None:
                return active, False
            # It finished between our insert and our look; claiming again will succeed.
    raise RuntimeError(f"Could not claim a sync of {organization}")


def take_over(run: SyncRun) -> bool:
    """Start a claimed run in this process: one still waiting for a worker, or a running one
    whose worker stopped writing its heartbeat. True when this process now owns it; the
    conditional update lets exactly one of several takers win."""
    now = timezone.now()
    waiting = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED)
    lost = SyncRun.objects.filter(
        pk=run.pk, status=SyncRun.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    if not (
        waiting.update(status=SyncRun.Status.RUNNING, heartbeat_at=now)
        or lost.update(heartbeat_at=now)
    ):
        return False
    run.refresh_from_db()
    mirror_changed(run.organization_id)
    return True


def _give_up_stale_runs(organization: Organization) -> None:
    now = timezone.now()
    given_up = SyncRun.objects.filter(
        organization=organization,
        status=SyncRun.Status.RUNNING,
        heartbeat_at__lt=now - STALE_AFTER,
    ).update(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        error=(
            "The sync stopped without finishing (its worker was stopped or restarted); nothing "
            f"was marked removed. {LAST_COPY} Try Refresh again."
        ),
    )
    if given_up:
        mirror_changed(organization.pk)


def queue_sync(
    organization: Organization,
    *,
    trigger: str,
    requested_by: User | None = None,
    request: HttpRequest | None = None,
) -> tuple[SyncRun, bool]:
    """Claim a run for a background worker; handing it over is `tasks.request_sync`'s part.

    Returns the run to show progress for, and whether it is new (False: one was queued or
    running). A person's request is audited when it starts a sync.
    """
    run, started = start_sync(
        organization, trigger=trigger, requested_by=requested_by, status=SyncRun.Status.QUEUED
    )
    if started and requested_by is not None:
        audit.record(
            action=audit.Action.SYNC_REQUESTED,
            organization=organization,
            actor=requested_by,
            target=organization,
            after={"sync_run": run.pk, "trigger": trigger},
            request=request,
        )
    return run, started


def not_handed_over(run: SyncRun, error: Exception) -> None:
    """Fail a queued run the broker would not take: left queued, nobody would ever run it and
    the Refresh button would wait for ever."""
    _fail(run, f"The sync could not be handed to a background worker ({error}). {LAST_COPY}")


def workers_running() -> bool:
    """Whether any background worker has written its heartbeat lately (see portal.jobs)."""
    return WorkerHeartbeat.objects.alive().exists()


# -- running it -----------------------------------------------------------------------------


def sync_organization(
    organization: Organization,
    *,
    trigger: str,
    requested_by: User | None = None,
    client: CalendlyClient | None = None,
    counter: RequestCounter | None = None,
) -> SyncRun:
    """Sync in this process. Returns the finished run, or the one another process is running
    (untouched). A run waiting for a worker is taken over and run here; the worker that gets
    it later finds it taken and does nothing.

    Without `client`, the organization's connection is used. A caller passing its own client
    passes the RequestCounter its limiter is wrapped in as `counter` to have requests counted.
    """
    run, started = start_sync(organization, trigger=trigger, requested_by=requested_by)
    if not started and not take_over(run):
        return run  # running in another process
    return run_sync(run, client=client, counter=counter)


def run_sync(
    run: SyncRun, *, client: CalendlyClient | None = None, counter: RequestCounter | None = None
) -> SyncRun:
    """Fetch everything for a claimed run. Calendly failures and an unusable connection end
    the run as failed (and are not raised); anything else is raised after failing the run."""
    started = time.monotonic()
    own_client = client is None
    try:
        if client is None:
            # Counted around the limiter every process shares: the count is what this run sent.
            counter = RequestCounter(shared_limiter(get_connection(run.organization)))
            client = client_for(run.organization, limiter=counter)
        _Sync(run, client, counter or RequestCounter(_NoLimit())).run()
    except CalendlyError as exc:
        note_failure(run.organization, exc)
        # Before its first stage a run is only getting an access token: what failed says it all.
        _fail(run, f"{explain(exc, doing=STAGES.get(run.stage))} {LAST_COPY}", counter)
    except Exception:
        log.exception("Sync %s of %s failed unexpectedly", run.pk, run.organization)
        _fail(
            run,
            f"The sync stopped on an unexpected error while {stage_words(run.stage)}; it "
            f"was logged for the portal's operators. {LAST_COPY}",
            counter,
        )
        raise
    finally:
        if own_client and client is not None:
            client.close()
    log.info(
        "Sync %s of %s %s in %.1f s with %s Calendly requests",
        run.pk,
        run.organization,
        run.status,
        time.monotonic() - started,
        run.calendly_requests,
    )
    return run


class _NoLimit:
    """Stands in when a caller's client is not counted: the client paces itself anyway."""

    def acquire(self) -> float:
        return 0.0

    def observe(self, *, limit: int | None, remaining: int | None, reset: float | None) -> None:
        return None

    def pause(self, seconds: float) -> None:
        return None


def _fail(run: SyncRun, error: str, counter: RequestCounter | None = None) -> None:
    run.status = SyncRun.Status.FAILED
    run.error = error
    run.finished_at = timezone.now()
    fields = ["status", "error", "finished_at"]
    if counter is not None:
        run.calendly_requests = counter.count
        fields.append("calendly_requests")
    run.save(update_fields=fields)
    mirror_changed(run.organization_id)


# What a run is doing at each stage, in the words the progress display and errors use.
STAGES = {
    "organization": "reading the organization",
    "members": "listing members",
    "invitations": "listing invitations",
    "groups": "listing groups",
    "group_relationships": "listing group memberships",
    "teams": "listing teams",
    "event_types": "listing event types",
    "event_type_hosts": "listing the hosts of team event types",
    "finishing": "saving the results",
}


def stage_words(stage: str) -> str:
    # Before the first stage the run is still getting a fresh access token.
    return STAGES.get(stage, "connecting to Calendly")


def _skipped(error: CalendlyError, stage: str) -> str:
    """The note a run keeps about a listing it went on without."""
    return f"{explain(error, doing=STAGES[stage])} Skipped; the rest of the sync went on."


class _Sync:
    """One run's fetching and writing; `run()` either finishes the run or raises."""

    def __init__(self, run: SyncRun, client: CalendlyClient, counter: RequestCounter) -> None:
        self.sync_run = run
        self.client = client
        self.counter = counter
        self.organization = run.organization
        self.org_uri = run.organization.uri
        self.done_sections: set[str] = set()

    def run(self) -> None:
        run = self.sync_run
        run.counts, run.notes, run.error = {}, [], ""
        self._progress("organization", 0)
        found = self.client.get_organization(organization=self.org_uri)
        name = storable(found.name)
        if name and name != self.organization.name:
            Organization.objects.filter(pk=self.organization.pk).update(name=name)
            self.organization.name = name

        self._section(
            "members",
            self.client.list_organization_memberships(organization=self.org_uri),
            self._save_members,
        )
        self._section(
            "invitations",
            self.client.list_organization_invitations(organization=self.org_uri),
            self._save_invitations,
        )
        run.counts["invitations_by_status"] = dict(
            Invitation.objects.filter(seen_in=run)
            .values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        try:
            self._optional(
                "groups",
                self.client.list_groups(organization=self.org_uri),
                self._save_groups,
            )
            self._optional(
                "group_relationships",
                self.client.list_group_relationships(organization=self.org_uri),
                self._save_group_relationships,
            )
        except SkipSection as skip:
            run.notes.append(skip.note)
        try:
            self._optional(
                "teams",
                self.client.list_teams(),
                self._save_teams,
            )
        except SkipSection as skip:
            run.notes.append(skip.note)
        self._section(
            "event_types",
            self.client.list_event_types(organization=self.org_uri),
            self._save_event_types,
        )
        try:
            self._pooled_hosts()
        except SkipSection as skip:
            run.notes.append(skip.note)
        self._finish()

    # -- plumbing -------------------------------------------------------------------------

    def _progress(self, stage: str, done: int) -> None:
        run = self.sync_run
        run.stage, run.done = stage, done
        run.calendly_requests = self.counter.count
        run.heartbeat_at = timezone.now()
        run.save(
            update_fields=["stage", "done", "counts", "notes", "calendly_requests", "heartbeat_at"]
        )

    def _section[T](self, stage: str, items: Iterable[T], save: Callable[[list[T]], None]) -> None:
        done = 0
        self._progress(stage, 0)
        # The client fetches a page of 100 while we iterate; batches of the same size line up
        # with the pages, so each page is written in one statement and then dropped.
        for page in itertools.batched(items, PAGE_SIZE):
            save(list(page))
            done += len(page)
            self.sync_run.counts[stage] = done
            self._progress(stage, done)
        self.sync_run.counts[stage] = done
        self.done_sections.add(stage)

    def _optional[T](self, stage: str, items: Iterable[T], save: Callable[[list[T]], None]) -> None:
        try:
            self._section(stage, items, save)
        except (PermissionDenied, BadRequest, NotFound) as exc:
            # Optional listings must not cost the members their refresh: the plan or the grant
            # may not include them (groups are Enterprise-only), or Calendly may change or
            # retire an endpoint.
            raise SkipSection(_skipped(exc, stage)) from exc

    def _upsert(self, model: type[Any], rows: list[Any], fields: list[str]) -> None:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["uri"],
            update_fields=[*fields, "seen_in", "calendly_created_at", "calendly_updated_at"],
        )

    def _ids(self, model: type[Any], uris: Iterable[str], key: str = "uri") -> dict[str, int]:
        wanted = {u for u in uris if u}
        if not wanted:
            return {}
        rows = model.objects.filter(
            organization=self.organization, seen_in=self.sync_run, **{f"{key}__in": wanted}
        ).values_list(key, "pk")
        return dict(rows)

    # -- one method per listing ------------------------------------------------------------

    def _common(self, item: Any) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "uri": storable(item.uri),
            "seen_in": self.sync_run,
            # Teams come without timestamps.
            "calendly_created_at": getattr(item, "created_at", None),
            "calendly_updated_at": getattr(item, "updated_at", None),
        }

    def _save_members(self, page: list[schemas.OrganizationMembership]) -> None:
        rows = [
            Member(
                **self._common(m),
                user_uri=storable(m.user.uri),
                name=storable(m.user.name),
                email=storable(m.user.email),
                role=storable(m.role),
                slug=storable(m.user.slug),
                scheduling_url=storable(m.user.scheduling_url),
                timezone=storable(m.user.timezone),
                avatar_url=storable(m.user.avatar_url),
            )
            for m in page
        ]
        fields = ["user_uri", "name", "email", "role", "slug", "scheduling_url", "timezone"]
        self._upsert(Member, rows, [*fields, "avatar_url"])

    def _save_invitations(self, page: list[schemas.OrganizationInvitation]) -> None:
        rows = [
            Invitation(
                **self._common(i),
                email=storable(i.email),
                status=storable(i.status),
                last_sent_at=i.last_sent_at,
                user_uri=storable(i.user),
            )
            for i in page
        ]
        self._upsert(Invitation, rows, ["email", "status", "last_sent_at", "user_uri"])

    def _save_groups(self, page: list[schemas.Group]) -> None:
        rows = [
            Group(**self._common(g), name=storable(g.name), member_count=g.member_count)
            for g in page
        ]
        self._upsert(Group, rows, ["name", "member_count"])

    def _save_group_relationships(self, page: list[schemas.GroupRelationship]) -> None:
        # (relationship, its group's URI, its owner's URI) as stored, to look rows up by.
        found = [(r, storable(r.group), storable(r.owner_uri)) for r in page]
        groups = self._ids(Group, (group for _, group, _ in found))
        members = self._ids(Member, (owner for _, _, owner in found))
        invitations = self._ids(Invitation, (owner for _, _, owner in found))
        rows = [
            GroupRelationship(
                **self._common(r),
                group_id=groups[group],
                role=storable(r.role),
                owner_uri=owner,
                member_id=members.get(owner),
                invitation_id=invitations.get(owner),
            )
            for r, group, owner in found
            # A group created after the groups were listed arrives with the next sync.
            if group in groups
        ]
        self._upsert(
            GroupRelationship, rows, ["group", "role", "owner_uri", "member", "invitation"]
        )

    def _save_teams(self, page: list[schemas.Team]) -> None:
        rows = [
            Team(
                **self._common(t),
                name=storable(t.name),
                scheduling_url=storable(t.scheduling_url),
            )
            for t in page
        ]
        self._upsert(Team, rows, ["name", "scheduling_url"])

    def _save_event_types(self, page: list[schemas.EventType]) -> None:
        rows = [
            EventType(
                **self._common(e),
                name=storable(e.name),
                slug=storable(e.slug),
                active=e.active,
                scheduling_url=storable(e.scheduling_url),
                duration=e.duration,
                duration_options=[int(option) for option in e.duration_options or []],
                kind=storable(e.kind),
                pooling_type=storable(e.pooling_type),
                type=storable(e.type),
                secret=bool(e.secret),
                admin_managed=bool(e.admin_managed),
                profile_type=storable(e.profile.type) if e.profile else "",
                profile_name=storable(e.profile.name) if e.profile else "",
                profile_owner_uri=storable(e.profile.owner) if e.profile else "",
            )
            for e in page
        ]
        self._upsert(
            EventType,
            rows,
            [
                "name",
                "slug",
                "active",
                "scheduling_url",
                "duration",
                "duration_options",
                "kind",
                "pooling_type",
                "type",
                "secret",
                "admin_managed",
                "profile_type",
                "profile_name",
                "profile_owner_uri",
            ],
        )
        # A personal event type's host is its owner, whom the members listing already brought.
        owner_of = {
            storable(e.uri): storable(e.profile.owner)
            for e in page
            if not e.pooling_type and e.profile and e.profile.type == "User" and e.profile.owner
        }
        members = self._ids(Member, owner_of.values(), "user_uri")
        event_types = self._ids(EventType, owner_of)
        self._save_hosts(
            (event_types[uri], members[owner])
            for uri, owner in owner_of.items()
            if owner in members and uri in event_types
        )

    def _save_hosts(self, pairs: Iterable[tuple[int, int]]) -> None:
        rows = [
            EventTypeHost(event_type_id=event_type, member_id=member, seen_in=self.sync_run)
            for event_type, member in pairs
        ]
        EventTypeHost.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["event_type", "member"],
            update_fields=["seen_in"],
        )

    def _pooled_hosts(self) -> None:
        """Team event types list their hosts separately: one listing per pooled event type."""
        pooled = (
            EventType.objects.filter(seen_in=self.sync_run)
            .exclude(pooling_type="")
            .values_list("pk", "uri")
        )
        hosts = 0
        self._progress("event_type_hosts", 0)
        # Team event types are few; reading them up front keeps no cursor open across writes.
        for event_type_id, uri in list(pooled):
            try:
                listed = [
                    storable(m.member.uri)
                    for m in self.client.list_event_type_memberships(event_type=uri)
                    if m.member is not None
                ]
            except PermissionDenied as exc:
                raise SkipSection(_skipped(exc, "event_type_hosts")) from exc
            members = self._ids(Member, listed, "user_uri")
            self._save_hosts((event_type_id, members[u]) for u in listed if u in members)
            hosts += len(listed)
            self.sync_run.counts["event_type_hosts_pooled"] = hosts
            self._progress("event_type_hosts", hosts)
        self.done_sections.add("event_type_hosts")

    # -- the end ---------------------------------------------------------------------------

    def _finish(self) -> None:
        run = self.sync_run
        now = timezone.now()
        self._progress("finishing", run.done)
        with transaction.atomic():
            removed: dict[str, int] = {}
            for section, model in SECTIONS:
                if section not in self.done_sections:
                    continue  # skipped: what the mirror holds stays as it was
                mine = model.objects.filter(organization=self.organization)
                # exclude() on a nullable foreign key keeps the rows where it is NULL too.
                removed[section] = (
                    mine.filter(removed_at__isnull=True).exclude(seen_in=run).update(removed_at=now)
                )
                mine.filter(seen_in=run, removed_at__isnull=False).update(removed_at=None)
            stale_hosts = EventTypeHost.objects.filter(
                event_type__organization=self.organization
            ).exclude(seen_in=run)
            if "event_type_hosts" not in self.done_sections:
                stale_hosts = stale_hosts.filter(event_type__pooling_type="")
            stale_hosts.delete()
            run.counts["event_type_hosts"] = EventTypeHost.objects.filter(
                event_type__organization=self.organization, seen_in=run
            ).count()
            run.counts["removed"] = {k: v for k, v in removed.items() if v}
            update_portal_access(self.organization)
            run.status = SyncRun.Status.SUCCEEDED
            run.finished_at = now
            run.calendly_requests = self.counter.count
            run.stage, run.done = "", 0
            run.save()
            mirror_changed(self.organization.pk)


SECTIONS: list[tuple[str, type[Any]]] = [
    ("members", Member),
    ("invitations", Invitation),
    ("groups", Group),
    ("group_relationships", GroupRelationship),
    ("teams", Team),
    ("event_types", EventType),
]


def update_portal_access(organization: Organization) -> None:
    """Bring portal accounts in line with the mirror: Calendly's role decides who is a portal
    admin, and someone no longer in the organization may not sign in at all (their session
    ends at the next request, since Django drops inactive users). Each change is audited."""
    roles = dict(
        Member.objects.current().filter(organization=organization).values_list("user_uri", "role")
    )
    removed = set(
        Member.objects.filter(organization=organization, removed_at__isnull=False).values_list(
            "user_uri", flat=True
        )
    )
    # Only people who have signed in have accounts: a handful, whatever the organization's size.
    for person in User.objects.filter(organization=organization, calendly_uri__isnull=False):
        before = {"calendly_role": person.calendly_role, "is_active": person.is_active}
        if person.calendly_uri in roles:
            after = {"calendly_role": roles[person.calendly_uri], "is_active": True}
        elif person.calendly_uri in removed:
            after = {**before, "is_active": False}
        else:
            continue
        if after == before:
            continue
        with transaction.atomic():
            User.objects.filter(pk=person.pk).update(**after)
            audit.record(
                action=audit.Action.ACCESS_SYNCED,
                organization=organization,
                actor_label="Calendly sync",
                target=person,
                before=before,
                after=after,
            )


def last_successful_sync(organization: Organization) -> SyncRun | None:
    return (
        SyncRun.objects.filter(organization=organization, status=SyncRun.Status.SUCCEEDED)
        .order_by("-started_at")
        .first()
    )
