"""With Redis gone, pages that keep things in the shared cache still answer, from the database."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from portal.accounts.models import Role
from portal.directory.mirror import mirror_state
from portal.jobs.models import Job
from tests.conftest import free_port
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_is_gone(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "portal.core.cache.ForgivingRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_a_cache_that_cannot_be_reached_reads_as_empty_and_forgets_writes(
    redis_is_gone: None,
) -> None:
    cache.set("k", "v")
    assert cache.get("k", "missing") == "missing"
    assert cache.add("k", "v") is False
    assert cache.get_many(["k"]) == {}
    assert cache.delete("k") is False


def test_the_members_page_and_a_jobs_page_answer_without_redis(redis_is_gone: None) -> None:
    admin = UserFactory(role=Role.ADMIN)
    MemberFactory(organization=admin.organization, name="Ada Lovelace")
    job = Job.objects.create(
        organization=admin.organization,
        kind="bulk_invite",
        label="Invite people from team.csv",
        state=Job.State.RUNNING,
        total=3,
    )
    client = Client()
    client.force_login(admin)

    members = client.get("/members/")
    assert members.status_code == 200
    assert "Ada Lovelace" in members.content.decode()
    assert client.get(f"/jobs/{job.pk}").status_code == 200
    assert client.get("/").status_code == 200


def test_without_the_cache_each_page_reads_the_mirror_afresh(redis_is_gone: None) -> None:
    admin = UserFactory(role=Role.ADMIN)
    first = mirror_state(admin.organization_id)
    second = mirror_state(admin.organization_id)
    # No shared generation to trust: nothing this process kept may pass for current.
    assert first.version != second.version
