"""Single-use links for a list of customers: the page, the preview, the job that makes one link
per line and writes each to the ledger, and an item tried again that makes no second link."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from portal.accounts.models import Role
from portal.audit import Action
from portal.audit.models import AuditEntry
from portal.calendly.client import CalendlyClient
from portal.calendly.ratelimit import LocalRateLimiter
from portal.jobs import engine
from portal.jobs.models import Job, JobItem
from portal.links import bulk
from portal.links.models import IssuedLink
from tests.factories import UserFactory
from tests.jobs.inline import run_to_the_end
from tests.links.test_single_use import SCHEDULING_LINKS, Linked, linked  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

LIST = """ana@example.com #4512
Bo@Example.com
not an address at all
ana@example.com again

cy@example.com, T-9
"""


def test_a_list_becomes_a_preview_then_one_link_per_customer_in_the_ledger(
    linked: Linked,  # noqa: F811
) -> None:
    rep, event_type = linked.rep_with_types()
    form = linked.client.get("/links/bulk", {"event_type": event_type.pk}).content.decode()
    assert "Customers, one per line" in form

    answer = linked.client.post(f"/links/bulk?event_type={event_type.pk}", {"lines": LIST})

    job = Job.objects.get()
    assert answer["Location"] == f"/jobs/{job.pk}"
    assert (job.kind, job.total, job.remaining) == (bulk.KIND, 5, 3)
    page = linked.client.get(f"/jobs/{job.pk}").content.decode()
    assert "3</strong> of 5\n    lines will get a link." in page
    assert ">Make links for 3 people</button>" in page
    assert "Each line starts with the customer" in page
    assert "This customer is on an earlier line already." in page
    assert linked.calendly_calls() == {}  # a preview makes nothing

    linked.client.post(f"/jobs/{job.pk}/start")
    job = run_to_the_end(job)

    assert (job.state, job.succeeded, job.skipped, job.failed) == (Job.State.DONE, 3, 2, 0)
    assert linked.calendly_calls() == {SCHEDULING_LINKS: 3}
    rows = {row.customer: row for row in IssuedLink.objects.all()}
    assert set(rows) == {"ana@example.com", "bo@example.com", "cy@example.com"}
    assert (rows["ana@example.com"].ticket, rows["cy@example.com"].ticket) == ("#4512", "T-9")
    for row in rows.values():
        assert (row.event_type, row.rep, row.created_by) == (event_type, rep, linked.support)
        assert row.job_item is not None
    assert AuditEntry.objects.filter(action=Action.LINK_CREATED).count() == 3

    exported = b"".join(linked.client.get(f"/jobs/{job.pk}/results.csv").streaming_content)
    made = {
        r["item"]: r["Calendly"]
        for r in csv.DictReader(io.StringIO(exported.decode("utf-8-sig")))
        if r["outcome"] == "Link made"
    }
    assert made == {customer: row.booking_url for customer, row in rows.items()}


def test_an_item_tried_again_after_its_link_was_recorded_makes_no_other(
    linked: Linked,  # noqa: F811
) -> None:
    _, event_type = linked.rep_with_types()
    preview = bulk.prepare(
        organization=linked.org, event_type=event_type, text="ana@example.com", actor=linked.support
    )
    engine.start(preview.job, actor=linked.support, hand_over=False)
    job = run_to_the_end(preview.job)
    item = JobItem.objects.get(job=job)

    # A worker killed after the ledger row was written, before the outcome was: the item again.
    with CalendlyClient(
        token=linked.sandbox.owner_token, base_url=linked.sandbox.url, limiter=LocalRateLimiter()
    ) as client:
        again = bulk.make_one(client, job, event_type, None, item)

    assert again.outcome == bulk.MADE
    assert linked.calendly_calls() == {SCHEDULING_LINKS: 1}
    assert IssuedLink.objects.count() == 1


def test_an_event_type_no_link_can_be_made_for_is_refused_before_anything(
    linked: Linked,  # noqa: F811
) -> None:
    _, event_type = linked.rep_with_types()
    event_type.active = False
    event_type.save()

    answer = linked.client.post(
        f"/links/bulk?event_type={event_type.pk}", {"lines": "ana@example.com"}
    )

    assert answer.status_code == 409
    assert "turned off in Calendly" in answer.content.decode()
    assert not Job.objects.exists()


def test_support_sees_its_own_kind_of_job_and_not_an_admins(linked: Linked) -> None:  # noqa: F811
    _, event_type = linked.rep_with_types()
    linked.client.post(f"/links/bulk?event_type={event_type.pk}", {"lines": "ana@example.com"})
    mine = Job.objects.get()
    linked.client.post(f"/jobs/{mine.pk}/start")
    admin = UserFactory(organization=linked.org, role=Role.ADMIN)
    theirs = Job.objects.create(
        organization=linked.org,
        kind="offboard",
        label="Offboard people",
        state=Job.State.QUEUED,
        created_by=admin,
    )

    assert linked.client.get(f"/jobs/{mine.pk}").status_code == 200
    assert linked.client.get(f"/jobs/{theirs.pk}").status_code == 404
    assert linked.client.post(f"/jobs/{theirs.pk}/cancel").status_code == 404
    listing = linked.client.get("/jobs/").content.decode()
    assert "Single-use links for" in listing
    assert "Offboard people" not in listing
    theirs.refresh_from_db()
    assert theirs.state == Job.State.QUEUED


def test_the_command_makes_the_same_job_and_prints_the_links_for_a_mail_merge(
    linked: Linked,  # noqa: F811
    tmp_path: Path,
) -> None:
    _, event_type = linked.rep_with_types()
    customers = tmp_path / "customers.txt"
    customers.write_text("ana@example.com =cmd|' /C calc'!A0\nnonsense\nbo@example.com\n")
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "single_use_links",
        str(customers),
        "--event-type",
        event_type.scheduling_url,
        "--wait",
        stdout=out,
        stderr=err,
    )

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["customer"] for r in rows] == ["ana@example.com", "bo@example.com"]
    assert rows[0]["ticket"].startswith("'=")  # a spreadsheet will not run it
    ledger = {row.customer: row for row in IssuedLink.objects.all()}
    assert [r["link"] for r in rows] == [ledger[r["customer"]].booking_url for r in rows]
    assert {row.created_by_label for row in ledger.values()} == {bulk.COMMAND_ACTOR}
    assert "line 2: Each line starts with the customer" in err.getvalue()
    assert (
        AuditEntry.objects.filter(
            action=Action.LINK_CREATED, actor_label=bulk.COMMAND_ACTOR
        ).count()
        == 2
    )

    call_command(
        "single_use_links",
        str(customers),
        "--event-type",
        event_type.uri,
        "--dry-run",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert IssuedLink.objects.count() == 2
