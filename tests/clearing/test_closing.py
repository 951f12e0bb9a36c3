"""The daily close: one anchored tree per day, resumable, in order, never twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from clearing import closelog, closing
from clearing.chain import EmbeddedChain
from clearing.encoding import leaf_for
from clearing.merkle import MerkleTree, leaf_hash, verify_inclusion
from clearing.models import AnchorBlock, DayClose, Job
from clearing.storage import StoredTree, leaf_index
from sandbox.errors import ApplicationError
from tests.clearing.conftest import DAY, noon
from tests.helpers import run_in_threads

pytestmark = pytest.mark.django_db


def expected_tree(txns) -> MerkleTree:
    """The day's tree computed independently: one leaf per transaction, in id order."""
    return MerkleTree.from_leaves(leaf_for(t.id) for t in sorted(txns, key=lambda t: t.id))


def test_it_closes_a_day_into_an_anchored_tree(ledger):
    txns = ledger.post(DAY, 7)
    outcome = closing.close_day(day=DAY, triggered_by="test")
    assert outcome.result == "closed"
    close = DayClose.objects.get(day=DAY)
    tree = expected_tree(txns)
    assert (close.status, close.leaf_count, close.root) == ("closed", 7, tree.root.hex())
    assert close.sequence == 0
    anchor = EmbeddedChain().find(kind="day", label="2025-03-10")
    assert anchor.root == tree.root and anchor.leaf_count == 7
    assert close.anchor.height == anchor.height
    job = Job.objects.get(kind="close")
    assert (job.status, job.count, job.root, job.block_height) == (
        "done",
        7,
        tree.root.hex(),
        anchor.height,
    )
    assert job.progress_done == job.progress_total == 7


def test_its_stored_tree_answers_the_same_proofs(ledger):
    txns = sorted(ledger.post(DAY, 11), key=lambda t: t.id)
    closing.close_day(day=DAY, triggered_by="test")
    close = DayClose.objects.get(day=DAY)
    stored = StoredTree(close)
    tree = expected_tree(txns)
    assert stored.root == tree.root
    for index, txn in enumerate(txns):
        assert leaf_index(close, txn.id) == index
        stored.prefetch_path(index)
        path = stored.inclusion_proof(index)
        assert path == tree.inclusion_proof(index)
        assert verify_inclusion(leaf_hash(leaf_for(txn.id)), index, 11, path, tree.root)
    assert leaf_index(close, txns[-1].id + 1000) is None


def test_closing_twice_makes_one_anchor(ledger):
    ledger.post(DAY, 3)
    first = closing.close_day(day=DAY, triggered_by="test")
    second = closing.close_day(day=DAY, triggered_by="test again")
    call_command("close_day", "--date", "2025-03-10")
    assert (first.result, second.result) == ("closed", "already_closed")
    assert AnchorBlock.objects.filter(kind="day", label="2025-03-10").count() == 1
    assert DayClose.objects.count() == 1
    assert [j.note for j in Job.objects.order_by("id")] == [
        "",
        "Already closed.",
        "Already closed.",
    ]


def test_the_command_closes_yesterday_and_reports_it(ledger, capsys):
    ledger.post(DAY, 2)
    call_command("close_day")
    out = capsys.readouterr().out
    assert out.startswith("Closed 2025-03-10: 2 transactions, root ")
    call_command("close_day")
    assert capsys.readouterr().out.startswith("Already closed: 2025-03-10")


def test_a_day_closes_only_once_it_has_ended(ledger):
    ledger.post(DAY, 1)
    ledger.at(noon(DAY))
    with pytest.raises(ApplicationError, match="has not ended"):
        closing.close_day(day=DAY, triggered_by="test")
    with pytest.raises(CommandError, match="has not ended"):
        call_command("close_day", "--date", "2025-03-10")
    assert not DayClose.objects.exists()


def test_earlier_open_days_close_first_and_none_is_skipped(ledger):
    first = ledger.post(DAY, 2)
    third = ledger.post(DAY + timedelta(days=2), 3)
    outcome = closing.close_day(day=DAY + timedelta(days=2), triggered_by="test")
    assert outcome.result == "closed"
    closes = list(DayClose.objects.order_by("day"))
    assert [(c.day, c.sequence, c.leaf_count) for c in closes] == [
        (DAY, 0, 2),
        (DAY + timedelta(days=1), 1, 0),
        (DAY + timedelta(days=2), 2, 3),
    ]
    assert closes[1].root == MerkleTree.from_leaves([]).root.hex()
    assert closes[0].root == expected_tree(first).root.hex()
    assert closes[2].root == expected_tree(third).root.hex()
    heights = [c.anchor.height for c in closes]
    assert heights == sorted(heights)
    log = closelog.close_log_tree()
    assert log.size == 3 and closes[2].log_root == log.root.hex()
    assert closes[0].log_root == log.root_at(1).hex()
    # A day before the close log began can no longer be closed.
    with pytest.raises(ApplicationError, match="before the first closed day"):
        closing.close_day(day=DAY - timedelta(days=1), triggered_by="test")


# --- A worker killed mid-close ------------------------------------------------------------------


class WorkerKilled(BaseException):
    """Not an Exception: nothing in the close catches it, as nothing runs after SIGKILL."""


def expire_lease(day) -> None:
    DayClose.objects.filter(day=day).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_a_close_killed_after_anchoring_resumes_with_the_identical_root(ledger, monkeypatch):
    txns = ledger.post(DAY, 6)
    real_get_chain = closing.get_chain

    class DiesAfterAnchoring:
        def append(self, **kwargs):
            real_get_chain().append(**kwargs)
            raise WorkerKilled

    monkeypatch.setattr(closing, "get_chain", DiesAfterAnchoring)
    with pytest.raises(WorkerKilled):
        closing.close_day(day=DAY, triggered_by="first worker")
    monkeypatch.setattr(closing, "get_chain", real_get_chain)
    stuck = DayClose.objects.get(day=DAY)
    assert stuck.status == "running"
    anchored_root = EmbeddedChain().find(kind="day", label="2025-03-10").root

    # While the lease runs, another trigger leaves it alone.
    assert closing.close_day(day=DAY, triggered_by="too early").result == "busy"
    expire_lease(DAY)
    outcome = closing.close_day(day=DAY, triggered_by="rerun")
    assert outcome.result == "closed"
    assert outcome.close.root == anchored_root.hex() == expected_tree(txns).root.hex()
    assert AnchorBlock.objects.filter(kind="day").count() == 1
    assert outcome.close.attempts == 2
    first_job = Job.objects.get(triggered_by="first worker")
    assert first_job.status == "failed" and "worker stopped" in first_job.error


def test_a_close_killed_while_hashing_resumes_with_the_identical_root(ledger, monkeypatch):
    txns = ledger.post(DAY, 5)
    monkeypatch.setattr(closing, "PROGRESS_EVERY", 2)
    real_renew = closing._renew

    def dies_on_second_report(close, token):
        if DayClose.objects.get(pk=close.pk).attempts == 1 and dies_on_second_report.calls:
            raise WorkerKilled
        dies_on_second_report.calls += 1
        real_renew(close, token)

    dies_on_second_report.calls = 0
    monkeypatch.setattr(closing, "_renew", dies_on_second_report)
    with pytest.raises(WorkerKilled):
        closing.close_day(day=DAY, triggered_by="first worker")
    assert not AnchorBlock.objects.filter(kind="day").exists()
    expire_lease(DAY)
    assert closing.close_day(day=DAY, triggered_by="rerun").result == "closed"
    assert DayClose.objects.get(day=DAY).root == expected_tree(txns).root.hex()


def test_a_failed_close_is_retried_by_the_next_trigger(ledger, monkeypatch):
    ledger.post(DAY, 2)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(closing, "store_tree", broken)
    outcome = closing.close_day(day=DAY, triggered_by="first")
    assert outcome.result == "failed" and "disk full" in outcome.note
    assert Job.objects.get(triggered_by="first").status == "failed"
    assert DayClose.objects.get(day=DAY).status == "failed"
    monkeypatch.undo()
    ledger.at(noon(DAY + timedelta(days=1)))
    assert closing.close_day(day=DAY, triggered_by="retry").result == "closed"


def test_a_changed_ledger_cannot_be_anchored_again_with_another_root(ledger, monkeypatch):
    ledger.post(DAY, 2)
    EmbeddedChain().append(kind="day", label="2025-03-10", root=bytes(32), leaf_count=2)
    outcome = closing.close_day(day=DAY, triggered_by="test")
    assert outcome.result == "failed"
    assert "already anchored with another root" in outcome.note


# --- Concurrency --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_triggers_close_a_day_exactly_once(ledger):
    ledger.post(DAY, 20)
    results = run_in_threads(
        lambda i: closing.close_day(day=DAY, triggered_by=f"trigger {i}").result, 4
    )
    assert results.count("closed") == 1, results
    assert set(results) <= {"closed", "busy", "already_closed"}, results
    assert AnchorBlock.objects.filter(kind="day").count() == 1
    close = DayClose.objects.get(day=DAY)
    assert close.status == "closed" and close.attempts == 1


KILLED_WORKER = """
import sys, time
import django
django.setup()
from datetime import date
from clearing import closelog, closing

real_get_chain = closing.get_chain

class SlowAfterAnchoring:
    def append(self, **kwargs):
        anchor = real_get_chain().append(**kwargs)
        print("ANCHORED", anchor.root.hex(), flush=True)
        time.sleep(120)  # killed here
        return anchor

closing.get_chain = SlowAfterAnchoring
closing.close_day(day=date.fromisoformat(sys.argv[1]), triggered_by="doomed worker")
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_with_sigkill_mid_close_leaves_it_resumable(ledger):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    txns = ledger.post(DAY, 25)
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, DAY.isoformat()],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "sandbox.settings"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = worker.stdout.readline()
        assert line.startswith("ANCHORED"), line
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait(timeout=30)
    anchored_root = line.split()[1]
    assert DayClose.objects.get(day=DAY).status == "running"  # nothing ran after the kill
    expire_lease(DAY)
    outcome = closing.close_day(day=DAY, triggered_by="rerun")
    assert outcome.result == "closed"
    assert outcome.close.root == anchored_root == expected_tree(txns).root.hex()
    assert AnchorBlock.objects.filter(kind="day").count() == 1
