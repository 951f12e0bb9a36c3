"""The Content-Security-Policy in a real browser: the pages work under it, and chromium
reports no violation (the ``page`` fixture fails a test on any)."""

import re

import pytest

from sandbox.tenants.models import ApiKey
from tests.factories import DEFAULT_PASSWORD, api_key_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_confirmed_form_asks_first_and_htmx_runs(page, alice):
    api_key_for(alice.tenant)
    page.goto("/login/")
    page.fill("input[name=username]", alice.owner.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert page.evaluate("typeof window.htmx") == "object"  # htmx loaded from our origin

    page.goto("/api-keys/")
    questions: list[str] = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.click("button:has-text('Revoke') >> nth=0")
    assert questions == ["Revoke this key? Requests using it will fail at once."]
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()

    page.once("dialog", lambda dialog: answer(dialog, True))
    with page.expect_navigation():
        page.click("button:has-text('Revoke') >> nth=0")
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 1


def test_the_api_docs_render_under_the_policy(page):
    page.goto("/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock")
    assert "Fintech Sandbox API" in page.inner_text(".swagger-ui .info")

    page.goto("/api/redoc/")
    # Redoc renders the whole schema (~120 operations) before its title: give it time.
    page.wait_for_selector("h1:has-text('Fintech Sandbox API')", timeout=60_000)
    # Redoc's "powered by" logo comes from its CDN: refused, as any CDN is, and nothing else.
    cdn_logo = [v for v in page.csp_violations if "https://cdn.redoc.ly/" in v]
    assert len(cdn_logo) == 1 and "img-src" in cdn_logo[0]
    page.csp_violations.remove(cdn_logo[0])
