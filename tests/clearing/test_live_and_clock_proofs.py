"""Live state and test-clock days on the dashboard: the clearing page lists test-clock closes
beside the platform's days, a transaction's proof is found in its clock's close, the jobs
table polls only while a job is pending, and the test clock page while the clock moves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clearing.models import ClockClose, Job
from sandbox.events import clocks
from sandbox.events.models import TestClock
from sandbox.tenants.services import SYSTEM
from tests.clearing.conftest import DAY, at
from tests.helpers import web_as

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


@pytest.fixture
def closed(clocked):
    """The clock's day with two transactions, closed by advancing past midnight."""
    txns = [clocked.deposit(1_000), clocked.transfer(250)]
    clocked.advance(at(DAY + timedelta(days=1), 8))
    return txns


def test_the_clearing_page_lists_test_clock_closes_beside_platform_days(
    clocked, closed, outsider, operator
):
    close = ClockClose.objects.get()

    page = clocked.party.web.get("/clearing/").content.decode()
    strangers = outsider.web.get("/clearing/").content.decode()
    operators = web_as(operator).get("/clearing/").content.decode()

    assert 'id="clock-closes"' in page
    assert f"/test-clocks/{clocked.clock.pk}/" in page and "2025-03-10" in page
    assert f"#{close.anchor.height}" in page
    assert "No test clock day has closed yet." in strangers
    assert clocked.clock.name in operators


def test_a_transaction_of_a_clock_day_has_its_proof_page(clocked, closed):
    txn = closed[1]

    found = clocked.party.web.get(f"/clearing/proof/?transaction={txn.uuid}", follow=True)

    assert found.status_code == 200
    doc = found.context["doc"]
    assert doc["subject"]["test_clock"] == str(clocked.clock.pk)
    assert doc["subject"]["day"] == "2025-03-10"
    html = found.content.decode()
    assert f"/api/v1/test_clocks/{clocked.clock.pk}/closes/2025-03-10/proofs/{txn.uuid}" in html


def test_the_transaction_page_links_to_its_proof(clocked, closed):
    txn = closed[0]

    page = clocked.party.web.get(f"/wallets/transactions/{txn.uuid}/").content.decode()

    assert f'href="/clearing/proof/{txn.uuid}/"' in page


def test_a_proof_of_an_unclosed_day_says_so_and_changes_nothing(clocked):
    txn = clocked.deposit(5)

    response = clocked.party.web.get(f"/clearing/proof/{txn.uuid}/", follow=True)

    assert "is not closed yet" in response.content.decode()


def test_the_jobs_table_polls_only_while_a_job_is_pending(alice):
    idle_page = alice.web.get("/clearing/").content.decode()
    idle = alice.web.get("/clearing/jobs/")
    Job.objects.create(kind="close", label="2025-03-10", triggered_by="test")
    busy_page = alice.web.get("/clearing/").content.decode()
    busy = alice.web.get("/clearing/jobs/")

    assert idle.status_code == 286  # htmx stops polling
    assert 'hx-get="/clearing/jobs/"' not in idle_page
    assert busy.status_code == 200
    assert 'hx-get="/clearing/jobs/"' in busy_page


def test_the_test_clock_page_refreshes_itself_while_the_clock_moves(clocked):
    url = f"/test-clocks/{clocked.clock.pk}/"
    still = clocked.party.web.get(url).content.decode()
    TestClock.objects.filter(pk=clocked.clock.pk).update(
        status=TestClock.Status.ADVANCING, advance_to=at(DAY, 23)
    )
    moving = clocked.party.web.get(url).content.decode()

    assert 'hx-select="#clock-page"' not in still
    assert f'hx-get="{url}" hx-select="#clock-page"' in moving
    assert "this page updates itself" in moving


def test_a_deleted_clock_still_shows_its_closes(clocked, closed):
    clocks.test_clock_delete(clock=clocked.clock, actor=SYSTEM)

    page = clocked.party.web.get("/clearing/").content.decode()

    assert "deleted clock" in page
