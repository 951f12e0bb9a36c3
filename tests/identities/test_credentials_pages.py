"""The credentials pages: the courier flow in the dashboard (the merchant node's view issues
a delivery credential, the courier node's view asks and verifies), and per person who
learned what, with what each presentation disclosed."""

from __future__ import annotations

import pytest

from sandbox.identities.credentials.models import Credential, Presentation, PresentationRequest
from tests.factories import MembershipFactory, NodeFactory
from tests.helpers import web_as
from tests.identities.credentials_helpers import (
    DELIVERY_ADDRESS,
    courier_request,
    issue_delivery,
    present,
    verified_person,
)

pytestmark = pytest.mark.django_db


def test_the_courier_flow_runs_through_the_dashboard(alice):
    person = verified_person(alice, customer_reference="cust-42")
    courier = NodeFactory(tenant=alice.tenant, name="Courier")

    issued = alice.web.post(
        "/identities/credentials/",
        {
            "step": "issue",
            "person": str(person.pk),
            "holder_node": str(person.node_id),
            "order_id": "ORD-7",
            **DELIVERY_ADDRESS,
        },
    )
    credential = Credential.objects.get(order_id="ORD-7")
    assert issued.status_code == 302
    assert issued["Location"] == f"/identities/credentials/credentials/{credential.pk}/"
    page = alice.web.get(issued["Location"]).content.decode()
    assert "recipient_matches_delivery_address" in page and "김민수" not in page

    asked = alice.web.post(
        "/identities/credentials/",
        {"step": "ask", "verifier_node": str(courier.pk), "order_id": "ORD-7"},
    )
    request = PresentationRequest.objects.get(order_id="ORD-7")
    assert asked["Location"] == f"/identities/credentials/requests/{request.pk}/"

    presented = alice.web.post(
        asked["Location"], {"step": "present", "credential": str(credential.pk)}
    ).content.decode()
    text = presented.split('name="presentation"')[1].split(">", 1)[1].split("</textarea>")[0]
    assert text.count("~") >= 2 and "Presented:" in presented

    verified = alice.web.post(
        asked["Location"], {"step": "verify", "presentation": text.strip()}
    ).content.decode()
    assert 'id="verification-result">valid<' in verified
    assert "서울특별시 강남구" in verified and "김민수" not in verified
    request.refresh_from_db()
    assert request.status == "verified"

    replayed = alice.web.post(
        asked["Location"], {"step": "verify", "presentation": text.strip()}
    ).content.decode()
    assert 'id="verification-reason">nonce_replayed<' in replayed


def test_issuing_for_an_unverified_person_shows_the_refusal(alice):
    person = verified_person(alice, level="unverified")

    page = alice.web.post(
        "/identities/credentials/",
        {
            "step": "issue",
            "person": str(person.pk),
            "holder_node": str(person.node_id),
            "order_id": "ORD-8",
            **DELIVERY_ADDRESS,
        },
    )

    assert page.status_code == 200
    assert "unverified" in page.content.decode()
    assert not Credential.objects.exists()


def test_a_person_page_shows_who_learned_what_and_a_presentation_what_it_disclosed(alice):
    person = verified_person(alice)
    courier = NodeFactory(tenant=alice.tenant, name="Baemin courier")
    credential = issue_delivery(alice, person)
    present(alice, credential["id"], courier_request(alice, courier))
    presentation = Presentation.objects.get()

    page = alice.web.get(f"/identities/credentials/people/{person.pk}/").content.decode()
    assert "Baemin courier" in page
    assert "recipient_matches_delivery_address" in page

    shown = alice.web.get(f"/identities/credentials/presentations/{presentation.pk}/")
    html = shown.content.decode()
    assert shown.status_code == 200
    assert '<code>name</code></td><td class="withheld">' in html
    assert '<code>address.locality</code></td><td class="disclosed">' in html
    assert '<code>recipient_matches_delivery_address</code></td><td class="disclosed">' in html


def test_a_viewer_cannot_issue(alice):
    viewer = MembershipFactory(tenant=alice.tenant, role="viewer").user
    person = verified_person(alice)

    response = web_as(viewer).post(
        "/identities/credentials/",
        {
            "step": "issue",
            "person": str(person.pk),
            "holder_node": str(person.node_id),
            "order_id": "ORD-9",
            **DELIVERY_ADDRESS,
        },
    )

    assert response.status_code == 403
    assert not Credential.objects.exists()
