"""The portal's mirror of each organization in Calendly, refreshed in the background.

Pages read only these tables, so they are instant and searchable in ways Calendly's API is not
(it filters members by exact email only). Rows Calendly no longer lists are kept and marked
`removed_at`, never deleted: history and the audit trail keep pointing at them. Each row
remembers the sync run that last saw it (`seen_in`); a run marks removed only what a complete
listing did not contain, so a sync that fails half-way marks nothing removed.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Concat, Lower
from django.utils import timezone

from portal.accounts.models import Organization


class SyncRun(models.Model):
    class Status(models.TextChoices):
        # Handed to the background workers, not yet started by one. It does not block a sync
        # in the foreground (`manage.py sync_org`), which takes it over.
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        CONNECTED = "connected", "After connecting"
        MANUAL = "manual", "Refresh button"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "manage.py sync_org"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="syncs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What is being fetched now, for the progress display ("Members: 3,400 so far").
    stage = models.CharField(max_length=64, blank=True)
    done = models.PositiveIntegerField(default=0)
    # {"members": 10000, "invitations": 42, "groups": 7, "event_types": 1800, ...}
    counts = models.JSONField(default=dict, blank=True)
    calendly_requests = models.PositiveIntegerField(default=0)
    # Features skipped because the organization's plan lacks them ("groups need Enterprise").
    notes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # Written with every page; a running sync that stops writing it has lost its worker, and
    # the next request may take over (see `directory.sync.start_sync`).
    heartbeat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["organization", "-started_at"])]
        constraints = [
            # One sync per organization at a time, decided by the database: two workers (or a
            # worker and the Refresh button) inserting at once cannot both win.
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_sync_per_organization",
            )
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} of {self.organization} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class MirrorQuerySet[M: models.Model](models.QuerySet[M]):
    def current(self) -> MirrorQuerySet[M]:
        return self.filter(removed_at__isnull=True)


class Mirrored(models.Model):
    """Fields every mirrored row has."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # Calendly's strings go into text columns: it sends names, slugs, URLs and emails of any
    # length, and a column too short for one of them would fail every later sync. The sync
    # stores them through `portal.core.text.storable`, which bounds what an index holds.
    uri = models.TextField(unique=True)
    seen_in = models.ForeignKey(SyncRun, null=True, on_delete=models.SET_NULL, related_name="+")
    removed_at = models.DateTimeField(null=True, blank=True)
    calendly_created_at = models.DateTimeField(null=True, blank=True)
    calendly_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Member(Mirrored):
    """An organization membership with the person it belongs to."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        USER = "user", "User"

    user_uri = models.TextField(db_index=True)
    name = models.TextField()
    email = models.TextField()
    role = models.TextField(choices=Role.choices)
    slug = models.TextField(blank=True)
    scheduling_url = models.TextField(blank=True)
    timezone = models.TextField(blank=True)
    avatar_url = models.TextField(blank=True)
    # What the members search matches: lower-case name and email in one column the database
    # keeps current, so a search is one LIKE per row instead of two UPPER()s and two LIKEs.
    search_text = models.GeneratedField(
        expression=Lower(
            Concat("name", models.Value(" "), "email", output_field=models.TextField())
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    objects = MirrorQuerySet["Member"].as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organization", "removed_at", "role"]),
            # The list's default order: a page of 50 is read in order and the scan stops there.
            models.Index(
                fields=["organization", "name", "email"],
                condition=models.Q(removed_at__isnull=True),
                name="current_member_by_name",
            ),
            models.Index(Lower("email"), "organization", name="member_email_lower"),
            models.Index(Lower("name"), "organization", name="member_name_lower"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Invitation(Mirrored):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    email = models.TextField()
    status = models.TextField(choices=Status.choices)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    user_uri = models.TextField(blank=True)

    objects = MirrorQuerySet["Invitation"].as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organization", "status", "removed_at"]),
            models.Index(Lower("email"), "organization", name="invitation_email_lower"),
        ]

    def __str__(self) -> str:
        return f"invitation for {self.email} ({self.status})"


class Group(Mirrored):
    name = models.TextField()
    member_count = models.PositiveIntegerField(null=True, blank=True)

    objects = MirrorQuerySet["Group"].as_manager()

    def __str__(self) -> str:
        return self.name


class GroupRelationship(Mirrored):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Group admin"

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="relationships")
    role = models.TextField(choices=Role.choices)
    # The owner is a membership, or an invitation when the person has not joined yet.
    owner_uri = models.TextField(db_index=True)
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="group_relationships"
    )
    invitation = models.ForeignKey(
        Invitation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="group_relationships",
    )

    objects = MirrorQuerySet["GroupRelationship"].as_manager()

    def __str__(self) -> str:
        return f"{self.role} of {self.group_id} ({self.owner_uri})"


class Team(Mirrored):
    name = models.TextField()
    scheduling_url = models.TextField(blank=True)

    objects = MirrorQuerySet["Team"].as_manager()

    def __str__(self) -> str:
        return self.name


class EventType(Mirrored):
    name = models.TextField(blank=True)
    slug = models.TextField(blank=True)
    active = models.BooleanField()
    scheduling_url = models.TextField()
    duration = models.PositiveIntegerField(null=True, blank=True)
    # The durations an invitee may choose (minutes); empty when Calendly sends none.
    duration_options = models.JSONField(default=list, blank=True)
    kind = models.TextField(blank=True)  # solo | group
    pooling_type = models.TextField(blank=True)  # round_robin | collective | ...
    type = models.TextField(blank=True)  # StandardEventType | AdhocEventType
    secret = models.BooleanField(default=False)
    admin_managed = models.BooleanField(default=False)
    profile_type = models.TextField(blank=True)  # User | Team
    profile_name = models.TextField(blank=True)
    profile_owner_uri = models.TextField(blank=True, db_index=True)
    hosts = models.ManyToManyField(Member, through="EventTypeHost", related_name="event_types")
    # What the link directory's search matches, in lower case: the name and slug, the owner's
    # name (the profile's, and the member's with their email) and, for pools, each host's name
    # and email. It reads the member and host tables, so it cannot be a GeneratedField: the
    # database's triggers (migration 0008) write it on every change of those rows; whatever
    # Django writes here is replaced.
    search_text = models.TextField(default="", editable=False)

    objects = MirrorQuerySet["EventType"].as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organization", "active", "removed_at"]),
            # The link directory's order (rep, then event): a page of 50 active types is read in
            # order and the scan stops there. The event name is left out so that an entry stays
            # within a B-tree's limit whatever Calendly sends (see portal.core.text); the few
            # types of one rep are sorted by name as they are read.
            models.Index(
                fields=["organization", "profile_name", "profile_owner_uri"],
                condition=models.Q(removed_at__isnull=True, active=True),
                name="active_type_by_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.slug or self.uri

    KIND_LABELS = {
        "round_robin": "Round robin",
        "collective": "Collective",
        "multi_pool": "Multi-pool",
        "solo": "One-on-one",
        "group": "Group",
    }

    @property
    def kind_label(self) -> str:
        key = self.pooling_type or self.kind
        return self.KIND_LABELS.get(key, key.replace("_", " ").capitalize())


class EventTypeHost(models.Model):
    """Who hosts an event type (Calendly's event type memberships)."""

    event_type = models.ForeignKey(EventType, on_delete=models.CASCADE)
    member = models.ForeignKey(Member, on_delete=models.CASCADE)
    seen_in = models.ForeignKey(SyncRun, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_type", "member"], name="one_host_row")
        ]

    def __str__(self) -> str:
        return f"member {self.member_id} hosts event type {self.event_type_id}"


class MirrorTotal(models.Model):
    """How many rows of each kind the mirror holds for an organization, kept by the database.

    Triggers on the member and invitation tables (migration 0002) add and subtract as rows are
    written, by a sync, an action or anything else, so the members page can say "42 of 1,317
    members" without counting 1,317 rows on every keystroke. Kinds: "active" and "removed"
    members; "pending", "accepted" and "declined" invitations that are not removed; and, kept
    by migration 0008's triggers on event types, "active_types" and "inactive_types" that are
    not removed (the link directory's totals).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind"], name="one_total_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.n} {self.kind} in organization {self.organization_id}"


# -- seat use ---------------------------------------------------------------------------------


class SeatScan(models.Model):
    """One read of the organization's scheduled events for the seat use page.

    `scanned_until` is how far the scan got: every meeting starting before it is stored. It
    moves forward as pages are stored, so a scan that fails half-way keeps what it completed,
    and the next scan starts there (see `portal.directory.seats`).
    """

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Scan now button"
        COMMAND = "command", "manage.py scan_seat_use"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The `min_start_time` asked of Calendly, and how far the stored meetings reach.
    scanned_from = models.DateTimeField()
    scanned_until = models.DateTimeField(null=True, blank=True)
    meetings_read = models.PositiveIntegerField(default=0)
    meetings_new = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-started_at"])]

    def __str__(self) -> str:
        return f"seat scan {self.pk} of {self.organization_id} ({self.status})"


class ScannedMeeting(models.Model):
    """A scheduled event read by a seat scan: when it starts, whether it still takes place."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELED = "canceled", "Canceled"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # Cut by `portal.core.text.storable` to what its unique index can hold.
    uri = models.TextField()
    start_time = models.DateTimeField()
    status = models.TextField()
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "start_time"])]
        constraints = [
            # What a scan deduplicates on: a meeting read twice (the overlap) is stored once.
            models.UniqueConstraint(fields=["organization", "uri"], name="scanned_meeting_once")
        ]

    def __str__(self) -> str:
        return f"meeting {self.uri} at {self.start_time:%Y-%m-%d %H:%M} ({self.status})"


class MeetingHost(models.Model):
    """A host of a scanned meeting (Calendly's `event_memberships[].user`).

    The meeting's start and whether it is active are copied here so that a member's counts
    are read from one index (organization, host, start) without touching the meetings.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    meeting = models.ForeignKey(ScannedMeeting, on_delete=models.CASCADE, related_name="hosts")
    user_uri = models.TextField()
    start_time = models.DateTimeField()
    active = models.BooleanField()

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "user_uri", "start_time"],
                condition=models.Q(active=True),
                name="active_meeting_by_host",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_uri} hosts meeting {self.meeting_id}"
