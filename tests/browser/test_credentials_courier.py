"""The courier case in the browser: the merchant node's view issues a delivery credential
for an order, the courier node's view asks for proof of the delivery address, the merchant
node presents it, and the courier node verifies it: the match and the address, never the
name. The presentation also verifies offline with the reference sd-jwt library."""

from __future__ import annotations

import pytest

from tests.factories import DEFAULT_PASSWORD, NodeFactory
from tests.identities.credentials_helpers import DELIVERY_ADDRESS, verified_person
from tests.identities.sdjwt_reference import reference_verify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def test_the_courier_case_in_the_browser(page, alice, tmp_path):
    person = verified_person(alice, customer_reference="minsu")
    courier = NodeFactory(tenant=alice.tenant, name="Baemin courier")
    log_in(page, alice.owner)

    # The merchant node's view: a delivery credential for order ORD-77.
    page.goto("/identities/credentials/")
    page.select_option("#issue select[name=person]", str(person.pk))
    page.select_option("#issue select[name=holder_node]", str(person.node_id))
    page.fill("#issue input[name=order_id]", "ORD-77")
    page.fill("#issue input[name=street]", DELIVERY_ADDRESS["street"])
    page.fill("#issue input[name=city]", DELIVERY_ADDRESS["city"])
    page.fill("#issue input[name=postal_code]", DELIVERY_ADDRESS["postal_code"])
    with page.expect_navigation():
        page.click("text=Issue the delivery credential")
    assert page.text_content(".predicate[data-name=recipient_matches_delivery_address]") == "true"

    # The courier node's view: a request for the proof, the order and the address.
    page.goto("/identities/credentials/")
    page.select_option("#ask select[name=verifier_node]", str(courier.pk))
    page.fill("#ask input[name=order_id]", "ORD-77")
    with page.expect_navigation():
        page.click("text=Create the presentation request")
    audience = page.text_content("dd code >> nth=0")
    nonce = page.text_content("dd code >> nth=1")
    assert audience == f"urn:fsbx:node:{courier.pk}"

    # The merchant node presents; the courier node verifies what it received.
    with page.expect_navigation():
        page.click("#present button")
    assert "Presented:" in page.inner_text("#presented")
    presentation = page.input_value("textarea[name=presentation]")
    with page.expect_navigation():
        page.click("#verify button")
    assert page.text_content("#verification-result") == "valid"
    claims = page.inner_text("#verified-claims")
    assert "recipient_matches_delivery_address" in claims and "True" in claims
    assert DELIVERY_ADDRESS["city"] in claims and "ORD-77" in claims
    assert "김민수" not in page.content()
    assert page.text_content("#request-status") == "verified"
    page.screenshot(path=str(tmp_path / "courier-verified.png"), full_page=True)

    # Offline: the reference library with the issuer's public JWKS only.
    jwks = page.request.get("/jwks/issuer.json").json()
    offline = reference_verify(presentation, jwks=jwks, aud=audience, nonce=nonce)
    assert offline["recipient_matches_delivery_address"] is True and "name" not in offline

    # Who learned what, from the person's page.
    page.goto(f"/identities/credentials/people/{person.pk}/")
    assert "Baemin courier" in page.inner_text("main")
    with page.expect_navigation():
        page.click("table >> nth=1 >> a")
    assert page.text_content("#disclosure") and "withheld" in page.inner_text("#disclosure")
