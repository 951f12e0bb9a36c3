"""A tester ends their test clock's day in the browser, sees it close, downloads the proof of
one of their transactions and checks it offline with the standalone verifier."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clearing.models import ClockClose
from sandbox.events import clocks
from sandbox.tenants.services import SYSTEM
from tests.factories import DEFAULT_PASSWORD, NodeFactory, fund
from tests.helpers import verify_offline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VERIFIER = Path(__file__).resolve().parents[2] / "clearing" / "verify_proof.py"


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def test_a_tester_ends_the_day_and_verifies_a_proof_offline(page, alice, tmp_path, celery_eager):
    node = NodeFactory(tenant=alice.tenant, name="Seoul")
    clock = clocks.test_clock_create(
        tenant=alice.tenant,
        actor=SYSTEM,
        name="March",
        frozen_time=datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Asia/Seoul")),
    )
    clocks.test_clock_attach(clock=clock, node=node, actor=SYSTEM)
    deposit = fund(node.wallet.accounts.get(), 50_000)

    log_in(page, alice.owner)
    page.goto(f"/test-clocks/{clock.pk}/")
    assert "No day of this clock has closed yet." in page.inner_text("main")
    page.click("text=End the day and close it")

    page.goto(f"/test-clocks/{clock.pk}/")  # the advance ran in the request (eager Celery)
    closed = page.locator("h3", has_text="2026-03-02")
    assert "closed" in closed.inner_text()
    close = ClockClose.objects.get(clock=clock)
    assert (close.day.isoformat(), close.leaf_count) == ("2026-03-02", 1)
    assert f"block #{close.anchor.height}" in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "clock-closed.png"), full_page=True)

    with page.expect_download() as download:
        page.click(f"a[download='proof-{deposit.uuid}.json']")
    proof = tmp_path / "proof.json"
    download.value.save_as(proof)

    result = verify_offline(proof, tmp_path)  # a copy of the verifier alone, isolated
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID: the leaf is anchored in this block." in result.stdout
    assert str(deposit.uuid) in result.stdout
