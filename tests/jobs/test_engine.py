"""The engine's promises that need no Calendly: wake-ups stay short, the time left reads
right, and the page says when a job is delayed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from celery import current_app
from django.utils import timezone

from portal.core.templatetags.portal import duration_words
from portal.jobs import engine
from portal.jobs.models import Job, JobItem
from portal.jobs.wake import RUN_TASK, wake
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_a_wake_up_never_waits_longer_than_the_longest_countdown(settings: Any) -> None:
    settings.JOB_LONGEST_WAKE_DELAY = 30
    with mock.patch.object(current_app, "send_task") as send:
        assert wake(7, countdown=3600)
        assert wake(7, countdown=5, count=2)
    calls = [(c.args, c.kwargs) for c in send.call_args_list]
    assert calls == [
        ((RUN_TASK,), {"args": [7], "countdown": 30.0}),
        ((RUN_TASK,), {"args": [7], "countdown": 5.0}),
        ((RUN_TASK,), {"args": [7], "countdown": 5.0}),
    ]


def test_a_broker_that_cannot_take_a_wake_up_is_reported_not_raised() -> None:
    with mock.patch.object(current_app, "send_task", side_effect=ConnectionError("refused")):
        assert wake(7) is False


def running_job(total: int, finished: int, *, started_minutes_ago: int = 5) -> Job:
    now = timezone.now()
    job = Job.objects.create(
        organization=OrganizationFactory(),
        kind="bulk_invite",
        label="Invite people from team.csv",
        state=Job.State.RUNNING,
        total=total,
        succeeded=finished,
        started_at=now - timedelta(minutes=started_minutes_ago),
        progressed_at=now,
    )
    JobItem.objects.bulk_create(
        JobItem(
            job=job,
            position=n,
            key=f"p{n}@example.com",
            state=JobItem.State.DONE if n < finished else JobItem.State.PENDING,
            finished_at=now - timedelta(seconds=30) if n < finished else None,
        )
        for n in range(total)
    )
    return job


def test_the_time_left_comes_from_calendlys_budget_for_the_user() -> None:
    # 600 in the last minute (a burst the budget had left): the budget is what holds from now.
    job = running_job(total=7600, finished=600)

    progress = engine.progress(job, budget=(500, 60.0))

    assert progress.budget == "Calendly allows 500 requests a minute for this user"
    assert progress.seconds_left == pytest.approx(7000 / (500 / 60))
    assert duration_words(progress.seconds_left) == "14 minutes"
    assert progress.per_minute == 600


def test_the_time_left_follows_the_rate_seen_when_it_is_slower_than_the_budget() -> None:
    # Another integration spends the same budget, or Calendly answers slowly: 60 a minute.
    job = running_job(total=660, finished=60)

    progress = engine.progress(job, budget=(100, 10.0))

    assert progress.budget == "Calendly allows 100 requests every 10 seconds for this user"
    assert progress.seconds_left == pytest.approx(600 / 1.0)


def test_without_a_known_budget_the_time_left_is_the_rate_seen_or_unknown() -> None:
    assert engine.progress(running_job(total=10, finished=0), budget=None).seconds_left is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (20, "under a minute"),
        (60, "1 minute"),
        (840, "14 minutes"),
        (3600, "1 hour"),
        (7500, "2 hours 5 minutes"),
        (3660, "1 hour 1 minute"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float, words: str) -> None:
    assert duration_words(seconds) == words
