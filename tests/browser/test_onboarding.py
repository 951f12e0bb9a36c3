"""A startup goes from nothing to a node and an API key in the browser."""

import re

import pytest

from sandbox.tenants.models import ApiKey, Node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_startup_signs_up_creates_a_node_and_sees_its_key_once(page, tmp_path):
    page.goto("/signup/")
    page.fill("input[name=organization]", "Hangang Pay")
    page.fill("input[name=email]", "cto@hangang.example")
    page.fill("input[name=password]", "a-long-passphrase-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"://[^/]+/$"))  # the overview, not /signup/
    assert "Hangang Pay" in page.inner_text("main")

    page.click("nav >> text=Nodes")
    page.fill("#node-form input[name=name]", "Hangang Seoul")
    page.select_option("#node-form select[name=country]", "KR")
    page.select_option("#node-form select[name=base_currency]", "KRW")
    page.click("#node-form button[type=submit]")
    assert page.locator("table >> text=Hangang Seoul").is_visible()
    assert Node.objects.filter(name="Hangang Seoul", tenant__name="Hangang Pay").exists()

    page.click("nav >> text=API keys")
    page.fill("input[name=name]", "Backend")
    page.click("text=Create key")
    secret = page.inner_text("[data-testid=api-key-secret]").strip()
    assert re.fullmatch(r"sk_test_[A-Za-z0-9_\-]{40,}", secret)
    page.screenshot(path=str(tmp_path / "api-key-once.png"), full_page=True)
    key = ApiKey.objects.get(name="Backend")
    assert secret.startswith(key.prefix)

    page.reload()
    assert page.locator("[data-testid=api-key-secret]").count() == 0
    assert secret not in page.content()
    assert f"{key.prefix}…" in page.inner_text("table")
