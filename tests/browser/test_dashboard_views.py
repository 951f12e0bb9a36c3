"""The dashboard as people look at it: charts drawn with their data, an operator's suspension
that asks first and tells the organization why, and every main page on a 390 px phone."""

from __future__ import annotations

import pytest

from sandbox.tenants.models import AuditLogEntry, Tenant
from tests.browser.pages import build_world
from tests.factories import DEFAULT_PASSWORD, NodeFactory, OperatorFactory, fund
from wallets.banknet.models import ScenarioRun
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

# What sticks out on the right: the innermost elements wider than the window, to name in a
# failure (tag, classes, start of the text).
STICKING_OUT = """() => {
  const out = e => e.getBoundingClientRect().right > window.innerWidth + 0.5;
  const clipped = e => {
    for (let a = e.parentElement; a; a = a.parentElement) {
      if (["auto", "scroll", "hidden"].includes(getComputedStyle(a).overflowX)) return true;
    }
    return false;
  };
  return [...document.querySelectorAll("body *")]
    .filter(e => out(e) && !clipped(e) && ![...e.children].some(out))
    .slice(0, 3)
    .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join(".")} ` +
              `"${(e.textContent || "").trim().slice(0, 30)}"`);
}"""


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def log_out(page) -> None:
    page.click("form[action='/logout/'] button")
    page.wait_for_url(lambda url: "/login/" in url or url.endswith("/"))


def test_the_wallets_page_draws_balances_and_money_moved(page, alice):
    node = NodeFactory(tenant=alice.tenant, name="Seoul")
    fund(node.wallet.accounts.get(), 75_000)

    log_in(page, alice.owner)
    page.goto("/wallets/")

    charts = page.locator("#wallet-charts figure.chart")
    assert charts.count() == 2
    balance = charts.nth(0)
    assert balance.locator("figcaption").inner_text() == "Balance at day end, KRW"
    assert balance.locator("svg polyline.line").count() == 1
    assert balance.locator("svg").bounding_box()["height"] > 100
    volume = charts.nth(1)
    assert volume.locator("svg rect.bar").count() == 30  # one per day of the window
    volume.locator("summary", has_text="Data").click()
    assert "75,000" in volume.locator("table").inner_text()


def test_a_suspension_asks_for_a_reason_that_the_organization_then_reads(page, alice):
    operator = OperatorFactory()
    log_in(page, operator)
    page.goto("/operator/")
    row = page.locator(f"#tenant-{alice.tenant.pk}")

    row.locator("summary", has_text="Suspend").click()
    confirm = row.locator("button[data-action=suspend]")
    assert confirm.inner_text() == "Suspend Alice Pay"
    confirm.click()  # no reason: the browser keeps the form (the field is required)
    assert Tenant.objects.get(pk=alice.tenant.pk).status == Tenant.Status.ACTIVE

    row.locator("textarea[name=reason]").fill("Card testing from your keys")
    confirm.click()
    row = page.locator(f"#tenant-{alice.tenant.pk}")
    row.locator(".badge.suspended").wait_for()
    assert "Alice Pay: suspended." in row.inner_text()  # the result where the click was
    assert row.locator("button[data-action=reactivate]").is_visible()
    entry = AuditLogEntry.objects.get(action="tenant.suspended", tenant=alice.tenant)
    assert entry.data["reason"] == "Card testing from your keys"

    log_out(page)
    log_in(page, alice.owner)
    assert "Card testing from your keys" in page.locator(".suspension-reason").inner_text()


def test_every_main_page_fits_a_phone_without_sideways_scrolling(page, alice):
    world = build_world(alice.tenant)
    page.set_viewport_size(PHONE)

    too_wide = {}
    for who, pages in ((world.owner, world.tenant_pages), (world.operator, world.operator_pages)):
        log_in(page, who)
        for name, url in pages:
            response = page.goto(url)
            assert response is not None and response.ok, (name, url)
            width = page.evaluate("document.documentElement.scrollWidth")
            viewport = page.evaluate("window.innerWidth")
            if width > viewport:
                too_wide[name] = (width, page.evaluate(STICKING_OUT))
        log_out(page)

    assert too_wide == {}, f"wider than {PHONE['width']} px: {too_wide}"


SCENARIO = """name: Browser payday
start: "2025-03-04T10:00:00+09:00"
nodes: [{ref: shop, name: Scenario shop, currency: KRW}]
bank_accounts: [{ref: kim, bank: "004", number: "123456789012", holder: Kim Minjun}]
steps:
  - deposit: {from: kim, to: shop, amount: "5000"}
  - advance: 1m
expect:
  - balance: {node: shop, available: "5000"}
"""


def test_a_tester_runs_a_scenario_and_removes_its_data_in_one_click(page, alice, banks):
    own = NodeFactory(tenant=alice.tenant, name="Real shop")
    fund(own.wallet.accounts.get(), 12_000)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation before removing

    log_in(page, alice.owner)
    page.goto("/bank/scenarios/")
    page.fill("textarea[name=text]", SCENARIO)
    page.click("button:has-text('Run')")
    page.wait_for_url(
        lambda url: "/bank/scenarios/" in url and url.rstrip("/") != "/bank/scenarios"
    )
    data = page.locator("#scenario-data")
    assert "Scenario shop" in data.inner_text() and "5,000" in data.inner_text()
    page.goto("/nodes/")
    assert "Real shop" in page.inner_text("main") and "Scenario shop" not in page.inner_text("main")

    page.go_back()
    page.click('button:has-text("Remove this run\'s data")')

    assert "The run's data is removed" in page.locator(".flash").inner_text()
    assert "removed" in page.locator("#scenario-data .badge").inner_text()
    run = ScenarioRun.objects.get()
    assert run.removed_at is not None
    assert Tenant.objects.get(pk=run.sandbox_id).status == Tenant.Status.SUSPENDED
    assert own.wallet.accounts.get().posted_balance == 12_000  # the real data, untouched
    assert verify_ledger().ok
