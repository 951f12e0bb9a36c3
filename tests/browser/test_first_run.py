"""A newcomer goes from the landing page to a signed webhook received by their own
endpoint, without reading docs: at most 8 clicks and 10 form fills, counted here."""

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_CLICKS = 8
MAX_FILLS = 10


class Counted:
    """The page, counting what a person would do: clicks and form fills."""

    def __init__(self, page):
        self.page = page
        self.clicks = 0
        self.fills = 0

    def click(self, selector):
        self.clicks += 1
        self.page.click(selector)

    def fill(self, selector, value):
        self.fills += 1
        self.page.fill(selector, value)


def test_a_newcomer_reaches_a_signed_webhook_from_the_landing_page(
    page, receiver, webhook_settings, celery_eager, banks
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    you = Counted(page)

    # given the landing page, which says what the sandbox is
    page.goto("/")
    landing = page.inner_text("main")
    assert "bank network" in landing and "Signed webhooks" in landing

    # when they sign up, giving their webhook URL up front
    you.click("[data-testid=landing-signup]")
    you.fill("input[name=organization]", "Hangang Pay")
    you.fill("input[name=email]", "cto@hangang.example")
    you.fill("input[name=password]", "a-long-passphrase-1")
    you.fill("input[name=webhook_url]", receiver.url)
    you.click("button[type=submit]")
    page.wait_for_url(re.compile(r"://[^/]+/$"))  # the overview, not /signup/

    # then the overview has their node, a simulated customer, and the checklist
    checklist = page.locator("[data-testid=first-run]")
    assert "Hangang Pay" in checklist.inner_text()
    assert "Test customer of Hangang Pay" in checklist.inner_text()

    # they copy the signing secret into their receiver
    secret = page.inner_text("[data-testid=webhook-secret]").strip()
    assert secret.startswith("whsec_")
    you.click("[data-copy='#webhook-secret']")
    page.wait_for_selector("[data-copy='#webhook-secret']:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    receiver.secrets.append(secret)

    # a test webhook: the live tick comes when their receiver answers 2xx
    you.click("[data-testid=send-test-webhook]")
    page.wait_for_selector("[data-testid=first-webhook].done", timeout=20_000)
    assert "Done: your first signed webhook arrived" in page.inner_text("#first-run")
    assert "Test webhook" in page.inner_text("[data-testid=first-webhook]")

    # and a test deposit, one click, its result shown in place
    you.click("text=Send a test deposit")
    page.wait_for_selector("#first-run .flash.success:has-text('Test deposit sent')")

    tests = [r for r in receiver.requests if r.json["type"] == "test.webhook"]
    assert len(tests) == 1 and tests[0].verified, [r.verify_error for r in receiver.requests]
    assert all(r.verified for r in receiver.requests)
    assert you.clicks <= MAX_CLICKS, you.clicks
    assert you.fills <= MAX_FILLS, you.fills
