"""The clearing dashboard: jobs, closes, the chain picture, a proof's path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from clearing import closing, settlement
from clearing.models import Job, SettlementWindow
from tests.clearing.conftest import DAY, noon
from tests.factories import MembershipFactory, fund
from wallets.locking import retrying
from wallets.posting import Leg, Posting, post_one

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(ledger) -> Client:
    client = Client()
    client.force_login(MembershipFactory(tenant=ledger.tenant).user)
    return client


@pytest.fixture
def staff(operator_web) -> Client:
    return operator_web


def test_a_tester_sees_the_day_close_and_its_job(ledger, member):
    ledger.post(DAY, 3)
    closing.close_day(day=DAY, triggered_by="schedule")
    page = member.get("/clearing/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<title>Clearing · Fintech Sandbox</title>" in html
    assert html.count("<h2>Settlement windows</h2>") == 1
    assert "2025-03-10" in html and "3 of 3 transactions" in html
    assert "Close now" not in html  # operators only
    jobs = member.get("/clearing/jobs/").content.decode()
    assert "Daily close" in jobs and "done" in jobs and "block #1" in jobs


def test_the_chain_picture_links_the_blocks(ledger, member):
    ledger.post(DAY, 2)
    closing.close_day(day=DAY, triggered_by="test")
    html = member.get("/clearing/chain/").content.decode()
    assert "#0" in html and "#1" in html and "bitcoin regtest genesis" in html
    assert "2025-03-10" in html and "2 transactions" in html


def test_a_tester_sees_the_proof_path_of_a_transaction(ledger, member, outsider):
    txns = ledger.post(DAY, 6)
    closing.close_day(day=DAY, triggered_by="test")
    page = member.get(f"/clearing/proof/{txns[2].uuid}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Audit path" in html and "level 3:" in html and "sibling" in html
    assert "Download proof.json" in html
    lookup = member.get("/clearing/proof/", {"transaction": str(txns[2].uuid)})
    assert lookup.status_code == 302 and lookup["Location"].endswith(f"/{txns[2].uuid}/")
    other = Client()
    other.force_login(outsider.owner)
    refused = other.get(f"/clearing/proof/{txns[2].uuid}/", follow=True).content.decode()
    assert "No transaction with id" in refused and "Audit path" not in refused


def test_operators_close_now_and_retry(
    ledger, staff, celery_eager, django_capture_on_commit_callbacks
):
    ledger.post(DAY, 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post("/clearing/close/", {"date": "2025-03-10"})
    assert response.status_code == 302
    assert Job.objects.get().status == "done"
    failed = Job.objects.create(kind="close", label="2025-03-10", status="failed", error="boom")
    html = staff.get("/clearing/").content.decode()
    assert "Close now" in html and f"/clearing/jobs/{failed.pk}/retry/" in html
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(f"/clearing/jobs/{failed.pk}/retry/")
    assert Job.objects.filter(retry_of=failed, status="done").exists()


def test_only_operators_may_close(ledger, member):
    assert member.post("/clearing/close/", {"date": "2025-03-10"}).status_code == 403
    assert member.post("/clearing/verify/").status_code == 403


def test_the_settlement_report_page(ledger, member):
    ledger.at(noon(DAY))
    fund(ledger.b, 1000)
    retrying(post_one)(
        Posting(
            kind="transfer",
            legs=[Leg(ledger.b.pk, -300, "KRW"), Leg(ledger.a.pk, 300, "KRW")],
            tenant_id=ledger.tenant.pk,
            is_inter_node=True,
        )
    )
    ledger.at(noon(DAY) + timedelta(hours=14))
    closing.close_day(day=DAY, triggered_by="test")
    settlement.settle_due()
    window = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
    assert f"/clearing/settlements/{window.pk}/" in member.get("/clearing/").content.decode()
    html = member.get(f"/clearing/settlements/{window.pk}/").content.decode()
    assert "pays the clearing hub" in html and "is paid by the clearing hub" in html
    assert "Seoul" in html and "Busan" in html
