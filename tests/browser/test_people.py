"""A tester registers a person in the browser, sees them masked, reveals a field with a
purpose (and finds the read in the access log), then erases them behind the confirmation."""

from __future__ import annotations

import re

import pytest
from stdnum.kr import rrn

from sandbox.identities.models import AccessLogEntry, Person
from tests.browser.test_clock_close import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_tester_registers_reveals_and_erases_a_person(page, alice):
    log_in(page, alice.owner)
    page.goto("/people/")
    page.fill("input[name=legal_name]", "홍길동")
    page.fill("input[name=birth_date]", "1990-01-15")
    page.fill("input[name=national_id]", "900115-123456" + rrn.calc_check_digit("900115123456"))
    page.fill("input[name=phone]", "010-1234-5678")
    page.fill("input[name=email]", "gildong@example.com")
    page.fill("input[name=street]", "테헤란로 152")
    page.fill("input[name=city]", "서울")
    with page.expect_navigation():
        page.click("button:text-is('Register')")
    page.wait_for_url(re.compile(r"/people/[0-9a-f-]{36}/$"))
    assert "홍*동" in page.inner_text("h1")
    assert page.inner_text("#masked-phone") == "+82 10-****-5678"
    assert "홍길동" not in page.content()

    page.fill("input[name=purpose]", "support ticket 7")
    page.check("input[name=which][value=legal_name]")
    with page.expect_navigation():
        page.click("button:text-is('Reveal and record')")
    assert "홍길동" in page.inner_text("#revealed")
    assert "support ticket 7" in page.content()
    assert AccessLogEntry.objects.get().fields == ["legal_name"]

    page.fill("input[name=reason]", "the customer asked")
    page.check("input[name=confirm]")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("button:text-is('Erase')")
    assert "Erased person" in page.inner_text("h1")
    assert Person.objects.get().status == "redacted"
