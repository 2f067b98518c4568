"""An admin's bulk invitation in a real browser: from Members to a file, its preview and dry
run, Start, the progress bar polling to the end, and the results."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.jobs import engine
from portal.jobs.models import Job
from tests.browser.conftest import PageProblems
from tests.browser.test_home import REPORT_CSP_VIOLATIONS
from tests.browser.test_sign_in import calendly_is_the_sandbox  # noqa: F401 (fixture)
from tests.directory.test_actions import connect
from tests.sandbox_plugin import RunningSandbox

pytestmark = pytest.mark.browser

PEOPLE = [f"new.hire{n:02d}@example.com" for n in range(29)]
INVALID = "not-an-address"


class Worker(threading.Thread):
    """Runs one job in this process, as a Celery worker would, against the live server's
    database (the Start button's wake-up goes to a broker no worker here reads)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(daemon=True)
        self.job_id = job_id
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                end = engine.run_slice(self.job_id)
                if end.done or not (end.again or end.wake_in is not None):
                    return
                self.stopping.wait(min(end.wake_in or 0.0, 1.0))
        except BaseException as error:  # the test reports it; a thread would swallow it
            self.error = error
        finally:
            # This thread's own connection, or the database flush after the test waits on it.
            connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        if self.error is not None:
            raise self.error


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_an_admin_uploads_a_file_reviews_the_preview_starts_the_job_and_gets_the_results(
    page: Page,
    live_server: LiveServer,
    sandbox: RunningSandbox,
    calendly_is_the_sandbox: None,  # noqa: F811
    problems: PageProblems,
    tmp_path: Path,
) -> None:
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    portal = live_server.url.replace("localhost", "127.0.0.1")
    connected = connect(sandbox)
    session = connected.client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": portal}]
    )
    team = tmp_path / "team.csv"
    team.write_text(
        "email,name\n" + "".join(f"{a},Someone\n" for a in [*PEOPLE[:10], INVALID, *PEOPLE[10:]])
    )

    page.goto(f"{portal}/members/")
    page.get_by_text("Invite people").click()
    page.get_by_role("link", name="Invite from a file").click()
    expect(page.get_by_role("heading", name="Invite from a file")).to_be_visible()
    page.get_by_label("A CSV file").set_input_files(team)
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="Preview: nothing has been sent yet")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="rows will be invited")).to_have_text(
        "29 of 30 rows will be invited."
    )
    expect(page.get_by_text("Not an address: 1")).to_be_visible()
    expect(page.get_by_role("row", name=INVALID)).to_contain_text("This is not an email address.")
    with page.expect_download() as dry_run:
        page.get_by_role("link", name="Download this dry run (CSV)").click()
    rows = read_csv(Path(dry_run.value.path()))
    assert [(r["item"], r["state"]) for r in rows] == [
        *[(a, "Waiting") for a in PEOPLE[:10]],
        ("line 12", "Skipped"),
        *[(a, "Waiting") for a in PEOPLE[10:]],
    ]
    assert sandbox.invitations_sent == {}  # a preview sends nothing

    page.get_by_role("button", name="Invite 29 people").click()
    expect(page.locator("#messages")).to_contain_text("Started.")
    job = Job.objects.get(organization=connected.org)
    worker = Worker(job.pk)
    worker.start()
    try:
        # The page polls every 2 s and stops once it has shown the end.
        expect(page.get_by_role("heading", name="Finished")).to_be_visible(timeout=60_000)
    finally:
        worker.stop()
    expect(page.locator("progress")).to_have_attribute("value", "30")
    expect(page.get_by_role("status").filter(has_text="finished")).to_contain_text(
        "30 of 30 finished (100%): 29 done, 0 failed, 1 skipped"
    )

    with page.expect_download() as results:
        page.get_by_role("link", name="Download results (CSV)").click()
    rows = read_csv(Path(results.value.path()))
    invited = {r["item"]: r["outcome"] for r in rows if r["state"] == "Done"}
    assert invited == dict.fromkeys(PEOPLE, "Invited")
    assert [r["outcome"] for r in rows if r["state"] != "Done"] == ["Not an address"]
    assert sandbox.invitations_sent == dict.fromkeys(PEOPLE, 1)
    assert problems.on_origin(portal) == []
