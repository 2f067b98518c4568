from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkerHeartbeatQuerySet(models.QuerySet["WorkerHeartbeat"]):
    def beat(self, *, hostname: str, pid: int) -> None:
        now = timezone.now()
        self.update_or_create(
            hostname=hostname,
            defaults={"pid": pid, "last_seen": now, "stopped_at": None},
            create_defaults={"pid": pid, "last_seen": now, "started_at": now},
        )

    def stopped(self, *, hostname: str) -> None:
        self.filter(hostname=hostname).update(stopped_at=timezone.now())

    def alive(self) -> WorkerHeartbeatQuerySet:
        cutoff = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
        return self.filter(stopped_at__isnull=True, last_seen__gte=cutoff)


class WorkerHeartbeat(models.Model):
    """One row per Celery worker (by node name), refreshed every few seconds while it runs."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = WorkerHeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return self.hostname


class Probe(models.Model):
    """A trivial task sent through the broker to prove a worker picks up and finishes work."""

    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"probe {self.pk}"


class JobQuerySet(models.QuerySet["Job"]):
    def visible(self) -> JobQuerySet:
        """Jobs a person can see: drafts (a preview not yet started) are their author's only."""
        return self.exclude(state=Job.State.DRAFT)


class Job(models.Model):
    """A piece of bulk work, as rows: this one and one `JobItem` per thing to do.

    The rows are the truth. Celery only carries wake-ups ("look at job 42"), so a lost or
    repeated message, a dead worker or a Redis restart costs time, never an item.
    """

    class State(models.TextChoices):
        DRAFT = "draft", "Preview, not started"
        AWAITING_APPROVAL = "awaiting_approval", "Waiting for a second admin's approval"
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Finished"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    OPEN_STATES = (State.AWAITING_APPROVAL, State.QUEUED, State.RUNNING, State.PAUSED)

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE)
    kind = models.CharField(max_length=64)
    # What the list shows ("Invite 1,000 people from team.csv"); text: file names are any length.
    label = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Who started it, kept as text so the page still says so after the person is gone, and for
    # jobs a command started ("manage.py bulk_invite").
    created_by_label = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=32, choices=State.choices, default=State.DRAFT)
    # Why it is paused, in words, when the portal paused it (no seats left, connection broken).
    state_reason = models.TextField(blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    # Who approved a job that needed a second admin (JOBS_NEED_APPROVAL), in words, and when.
    approved_by_label = models.TextField(blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    # Counts kept in the same transaction as each item's outcome, so a page reads one row.
    total = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last time a worker finished an item or looked for work; the sweeper wakes jobs whose
    # work is due and whose progress stopped (a lost wake-up, a worker killed mid-batch).
    progressed_at = models.DateTimeField(null=True, blank=True)
    # Last time the sweeper woke it: it wakes a job short of runs at most once per
    # JOB_STALL_SECONDS, so wake-ups waiting behind other work do not pile up.
    swept_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "state"], name="jobs_org_state")]

    def __str__(self) -> str:
        return self.label

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.skipped

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.finished)

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.finished / self.total)

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class JobItem(models.Model):
    """One thing a job does (an address to invite, a person to remove).

    pending -> in flight (leased to one worker until `lease_until`) -> done / failed / skipped.
    A lease that runs out goes back to work: its worker died or stalled, and `attempts` counts
    every claim, so an item that kills its worker every time is failed, not retried forever.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        IN_FLIGHT = "in_flight", "In progress"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    FINAL_STATES = (State.DONE, State.FAILED, State.SKIPPED)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    # What the item is about (an address, a member URI): unique in its job, so a job never
    # holds the same work twice.
    key = models.TextField()
    # Where it came from (the file's line) and anything else its kind needs.
    source = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    # A fresh value per claim: only the claim holding it may finish the item.
    lease_token = models.CharField(max_length=64, blank=True)
    # The outcome in one word ("invited", "already_member") and in words for a person.
    outcome = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    # What Calendly answered (the invitation's URI), for the results CSV.
    result = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "key"], name="jobs_item_unique_key"),
        ]
        indexes = [
            # What claiming reads: a job's due items in order.
            models.Index(fields=["job", "state", "position"], name="jobs_item_claim"),
            # The rate over the last minute on the job's page.
            models.Index(fields=["job", "finished_at"], name="jobs_item_finished"),
        ]

    def __str__(self) -> str:
        return self.key


class JobRun(models.Model):
    """A run working on a job now: one per Celery task (or `bulk_invite --wait`) between its
    start and its end, its `beat_at` renewed at every claim.

    What the sweeper counts to keep JOB_PARALLEL_RUNS runs on a job: a run whose beat is older
    than a lease died with its worker (kill -9, a machine lost), since a living run claims
    again within one lease or its item is taken from it anyway. Without this, a job whose
    worker died would go on with fewer runs until the broker's visibility timeout hands the
    dead run's wake-up back (an hour)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    # The Celery task's id (a command's run: a random one). Text: a task id is any length.
    key = models.TextField()
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["job", "beat_at"], name="jobs_run_beat")]

    def __str__(self) -> str:
        return f"run {self.pk} of job {self.job_id}"
