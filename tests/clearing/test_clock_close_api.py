"""Testers end their clock's day, list its closes and download proofs that verify offline:
through the API and the dashboard, for their own clocks only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pymerkle import InmemoryTree

from clearing import verify_proof
from clearing.encoding import leaf_for
from clearing.models import ClockClose, Job
from sandbox.events.models import TestClock
from sandbox.tenants.models import Membership
from tests.clearing.conftest import DAY, at
from tests.factories import MembershipFactory
from tests.helpers import api_as, error_code, verify_offline
from tests.helpers import web_as as browser

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

DAY2 = DAY + timedelta(days=1)


@pytest.fixture
def closed(clocked):
    """The clock's day with three transactions, closed by advancing past midnight."""
    txns = [clocked.deposit(1_000), clocked.transfer(250), clocked.deposit(7, clocked.b)]
    clocked.advance(at(DAY2, 8))
    return txns


def base(clocked) -> str:
    return f"/api/v1/test_clocks/{clocked.clock.pk}"


def test_end_day_moves_the_clock_to_midnight_and_closes_the_day(
    clocked, django_capture_on_commit_callbacks
):
    # given: a transaction of the day, and a deposit due after midnight
    txn = clocked.deposit(500)
    clocked.fund_at(at(DAY2, 0, 30), clocked.a, 9)

    # when: the tester ends the day (the advance's task runs after commit, here eagerly)
    with django_capture_on_commit_callbacks(execute=True):
        response = clocked.party.api.post(f"{base(clocked)}/end_day")

    # then
    assert response.status_code == 202, response.content
    assert response.json()["advance_to"] == "2025-03-11T00:00:00+09:00"
    clock = TestClock.objects.get(pk=clocked.clock.pk)
    assert (clock.status, clock.frozen_time) == ("ready", at(DAY2, 0))
    listing = clocked.party.api.get(f"{base(clocked)}/closes").json()["results"]
    close = ClockClose.objects.get()
    assert listing == [
        {
            "day": "2025-03-10",
            "sequence": 0,
            "status": "closed",
            "leaf_count": 1,
            "root": close.root,
            "block_height": close.anchor.height,
            "block_hash": close.anchor.block_hash,
            "anchor_label": f"2025-03-10/{close.pk}",
            "created_at": listing[0]["created_at"],
            "closed_at": listing[0]["closed_at"],
        }
    ]
    detail = clocked.party.api.get(f"{base(clocked)}/closes/2025-03-10").json()
    assert detail["transactions"] == [str(txn.uuid)]
    # the deposit due at 00:30 has not come yet; it will be in the next day's close
    assert clocked.a.entries.count() == 1


def test_a_proof_verifies_offline_and_agrees_with_pymerkle(clocked, closed, tmp_path):
    close = ClockClose.objects.get()
    txn = closed[1]
    response = clocked.party.api.get(f"{base(clocked)}/closes/2025-03-10/proofs/{txn.uuid}")
    assert response.status_code == 200, response.content
    doc = response.json()

    assert doc["format"] == "fsbx-inclusion-proof/1" and "close_log" not in doc
    assert doc["anchor"]["kind"] == "clock"
    assert doc["anchor"]["label"] == close.anchor_label
    assert doc["subject"]["transaction"] == str(txn.uuid)
    assert doc["subject"]["test_clock"] == str(clocked.clock.pk)
    checks = verify_proof.verify(doc)
    assert any(f"the leaf is transaction {txn.uuid}" in line for line in checks)
    assert any(f"(clock {close.anchor_label})" in line for line in checks)

    # an independent RFC 9162 implementation gives the same root and audit path
    leaves = [leaf_for(t.id) for t in sorted(closed, key=lambda t: t.id)]
    theirs = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        theirs.append_entry(leaf)
    index = doc["leaf_index"]
    assert leaves[index] == bytes.fromhex(doc["leaf"])
    assert theirs.get_root().hex() == doc["root"] == close.root
    assert [h.hex() for h in theirs.prove_inclusion(index + 1, len(leaves)).path[1:]] == doc[
        "audit_path"
    ]

    # and the standalone script, with nothing but the standard library, says VALID
    assert verify_proof.verify(doc)  # raises ProofInvalid if not
    result = verify_offline(doc, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID" in result.stdout


def test_the_verifier_holds_a_clock_proof_to_its_own_kind_and_day(clocked, closed):
    txn = closed[0]
    doc = clocked.party.api.get(f"{base(clocked)}/closes/2025-03-10/proofs/{txn.uuid}").json()

    as_day = {**doc, "anchor": {**doc["anchor"], "kind": "day"}}
    with pytest.raises(verify_proof.ProofInvalid, match="day anchor"):
        verify_proof.verify(as_day)
    other_day = {**doc, "subject": {**doc["subject"], "day": "2025-03-11"}}
    with pytest.raises(verify_proof.ProofInvalid, match="not the subject's day"):
        verify_proof.verify(other_day)
    with_log = {**doc, "close_log": {"leaf": "00", "audit_path": [], "root": "00" * 32}}
    with pytest.raises(verify_proof.ProofInvalid, match="only a platform day"):
        verify_proof.verify(with_log)


def test_proofs_answer_only_for_transactions_of_a_finished_close(clocked, closed):
    api = clocked.party.api
    outside = clocked.deposit(3)  # not in the closed day
    response = api.get(f"{base(clocked)}/closes/2025-03-10/proofs/{outside.uuid}")
    assert (response.status_code, error_code(response)) == (404, "transaction_not_in_close")
    response = api.get(f"{base(clocked)}/closes/2025-03-11/proofs/{outside.uuid}")
    assert (response.status_code, error_code(response)) == (404, "clock_close_not_found")
    response = api.get(f"{base(clocked)}/closes/yesterday")
    assert (response.status_code, error_code(response)) == (400, "invalid_day")
    ClockClose.objects.update(status="pending", anchor=None)
    response = api.get(f"{base(clocked)}/closes/2025-03-10/proofs/{closed[0].uuid}")
    assert (response.status_code, error_code(response)) == (409, "clock_close_pending")


def endpoints(clocked, txn) -> list[tuple[str, str]]:
    return [
        ("post", f"{base(clocked)}/end_day"),
        ("get", f"{base(clocked)}/closes"),
        ("get", f"{base(clocked)}/closes/2025-03-10"),
        ("get", f"{base(clocked)}/closes/2025-03-10/proofs/{txn.uuid}"),
    ]


def test_another_tenant_gets_404_everywhere_and_changes_nothing(clocked, closed, outsider):
    frozen = TestClock.objects.get(pk=clocked.clock.pk).frozen_time
    for method, path in endpoints(clocked, closed[0]):
        response = getattr(outsider.api, method)(path, {}, format="json")
        assert response.status_code == 404, (method, path, response.content)
        assert error_code(response) == "testclock_not_found"
    clock = TestClock.objects.get(pk=clocked.clock.pk)
    assert (clock.status, clock.frozen_time) == ("ready", frozen)


def test_viewers_read_closes_but_cannot_end_the_day(clocked, closed):
    viewer = api_as(MembershipFactory(tenant=clocked.tenant, role=Membership.Role.VIEWER).user)
    response = viewer.post(f"{base(clocked)}/end_day")
    assert (response.status_code, error_code(response)) == (403, "read_only_role")
    assert TestClock.objects.get(pk=clocked.clock.pk).status == "ready"
    for _method, path in endpoints(clocked, closed[0])[1:]:
        assert viewer.get(path).status_code == 200, path


def test_end_day_refuses_a_clock_that_is_advancing(clocked):
    api = clocked.party.api
    assert api.post(f"{base(clocked)}/end_day").status_code == 202
    response = api.post(f"{base(clocked)}/end_day")
    assert (response.status_code, error_code(response)) == (409, "clock_advancing")


# --- The dashboard ------------------------------------------------------------------------------


def test_the_clock_page_lists_closes_with_their_proofs(clocked, closed):
    page = browser(clocked.party.owner).get(f"/test-clocks/{clocked.clock.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    close = ClockClose.objects.get()
    assert "End the day and close it" in html
    assert "2025-03-10" in html and f"block #{close.anchor.height}" in html
    for txn in closed:
        link = f"{base(clocked)}/closes/2025-03-10/proofs/{txn.uuid}"
        assert f'href="{link}"' in html
        assert browser(clocked.party.owner).get(link).json()["leaf_index"] in range(3)


def test_the_end_day_button_advances_the_clock_to_midnight(clocked):
    owner = browser(clocked.party.owner)
    response = owner.post(f"/test-clocks/{clocked.clock.pk}/end_day/")
    assert response.status_code == 302
    clock = TestClock.objects.get(pk=clocked.clock.pk)
    assert (clock.status, clock.advance_to) == ("advancing", at(DAY2, 0))


def test_viewers_see_closes_without_the_button_and_outsiders_nothing(clocked, closed, outsider):
    viewer = browser(MembershipFactory(tenant=clocked.tenant, role=Membership.Role.VIEWER).user)
    html = viewer.get(f"/test-clocks/{clocked.clock.pk}/").content.decode()
    assert "2025-03-10" in html and "End the day and close it" not in html
    assert viewer.post(f"/test-clocks/{clocked.clock.pk}/end_day/").status_code == 403
    stranger = browser(outsider.owner)
    assert stranger.get(f"/test-clocks/{clocked.clock.pk}/").status_code == 404
    assert stranger.post(f"/test-clocks/{clocked.clock.pk}/end_day/").status_code == 404
    assert TestClock.objects.get(pk=clocked.clock.pk).status == "ready"


def test_the_clock_close_job_shows_to_its_tenant_only(clocked, closed, outsider, operator):
    job = Job.objects.get(kind="clock_close")
    assert (job.status, job.count, job.tenant_id) == ("done", 3, clocked.tenant.pk)
    label = job.label
    assert label in browser(clocked.party.owner).get("/clearing/jobs/").content.decode()
    assert label not in browser(outsider.owner).get("/clearing/jobs/").content.decode()
    assert label in browser(operator).get("/clearing/jobs/").content.decode()


def test_operators_retry_a_failed_clock_close(
    clocked, operator_api, monkeypatch, django_capture_on_commit_callbacks
):
    from clearing import clock_closing

    clocked.deposit(40)
    monkeypatch.setattr(clock_closing, "get_chain", lambda: None)  # anchoring fails
    clocked.advance(at(DAY2, 1))
    monkeypatch.undo()
    failed = Job.objects.get(kind="clock_close")
    assert failed.status == "failed" and ClockClose.objects.get().status == "pending"

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(f"/api/v1/operator/clearing/jobs/{failed.pk}/retry")

    assert response.status_code == 202, response.content
    retry = Job.objects.get(pk=response.json()["id"])
    assert (retry.status, retry.retry_of_id, retry.count) == ("done", failed.pk, 1)
    assert ClockClose.objects.get().status == "closed"
    assert (
        clocked.party.api.post(f"/api/v1/operator/clearing/jobs/{failed.pk}/retry").status_code
        == 403
    )
