"""The screenshots themselves (run by take.py; see there). One test per width, so a page that
breaks names itself in pytest's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.pages import build_world
from tests.factories import DEFAULT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HERE = Path(__file__).resolve().parent
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# The pages the README shows, by the names tests/browser/pages.py gives them.
TENANT_PAGES = [
    "overview",
    "node",
    "wallets",
    "wallet",
    "webhooks",
    "bank-node",
    "clearing",
    "fx",
    "person",
]
OPERATOR_PAGES = ["operator-tenants", "operator-audit-log", "operator-banks"]


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def shoot(page, pages: dict[str, str], names: list[str], width: str) -> None:
    for name in names:
        page.goto(pages[name])
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(HERE / f"{name}-{width}.png"), full_page=width == "desktop")


@pytest.mark.parametrize("width", list(WIDTHS))
def test_screenshots(page, alice, width):
    world = build_world(alice.tenant)
    page.set_viewport_size(WIDTHS[width])
    shoot(page, {"landing": "/"}, ["landing"], width)  # what a visitor sees first
    log_in(page, world.owner)
    shoot(page, dict(world.tenant_pages), TENANT_PAGES, width)
    page.click("form[action='/logout/'] button")
    log_in(page, world.operator)
    shoot(page, dict(world.operator_pages), OPERATOR_PAGES, width)
