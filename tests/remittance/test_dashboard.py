"""The dashboard: the remittance form and list, and the remittance page with its live legs."""

from __future__ import annotations

import re

import pytest

from clearing.remittance import selectors
from clearing.remittance.models import Remittance
from sandbox.keyring import KeyringError

pytestmark = pytest.mark.django_db


def test_a_tenant_sends_a_remittance_from_the_form_and_watches_its_legs(corridor):
    web = corridor.party.web
    page = web.get("/remittances/")
    assert page.status_code == 200
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.content.decode()).group(1)
    form = {
        "idempotency_key": key,
        "sender_account": str(corridor.sender.pk),
        "beneficiary_account": str(corridor.beneficiary.pk),
        "amount": "200000",
        "originator_name": "Kim Minjun",
        "beneficiary_name": "Sato Yui",
        "reference": "",
        "memo": "DELAYED",
    }
    with corridor.capture(execute=True):
        response = web.post("/remittances/", form)
    assert response.status_code == 302, response.content
    remittance = Remittance.objects.get()
    # A double submit of the same form sends once.
    with corridor.capture(execute=True):
        web.post("/remittances/", form)
    assert Remittance.objects.count() == 1

    detail = web.get(response["Location"]).content.decode()
    assert 'data-status="processing"' in detail and "hx-get" in detail
    assert "Kim Minjun" in detail and 'data-leg="debit_sender"' in detail
    corridor.advance(str(remittance.pk), "outgoing_payment_sent")
    legs = web.get(f"/remittances/{remittance.pk}/legs/").content.decode()
    assert 'data-status="outgoing_payment_sent"' in legs
    assert legs.count("data-leg=") == 5
    done = web.get(response["Location"]).content.decode()
    assert "hx-get" not in done  # no more polling once done


def test_a_same_country_beneficiary_is_refused_on_the_form(corridor):
    web = corridor.party.web
    page = web.get("/remittances/").content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    response = web.post(
        "/remittances/",
        {
            "idempotency_key": key,
            "sender_account": str(corridor.sender.pk),
            "beneficiary_account": str(corridor.busan.wallet.accounts.get().pk),
            "amount": "200000",
            "originator_name": "Kim Minjun",
            "beneficiary_name": "Sato Yui",
        },
    )
    assert response.status_code == 200
    assert "crosses a border" in response.content.decode()
    assert Remittance.objects.count() == 0


def test_travel_rule_data_is_sealed_and_opens_for_the_tenant_and_operators_only(
    corridor, outsider, operator_web
):
    sent = corridor.send("200000")
    row = Remittance.objects.get(pk=sent["id"])
    assert b"Kim Minjun" not in bytes(row.travel_rule_sealed)
    assert b"Sato Yui" not in bytes(row.travel_rule_sealed)

    opened = corridor.api.get(f"/api/v1/remittances/{sent['id']}/travel_rule").json()
    assert opened["originator"]["name"] == "Kim Minjun"
    assert opened["beneficiary"]["name"] == "Sato Yui"
    assert "Kim Minjun" not in str(corridor.get(sent["id"]))  # not in the API's remittance
    foreign = outsider.api.get(f"/api/v1/remittances/{sent['id']}/travel_rule")
    assert foreign.status_code == 404
    admin_page = operator_web.get(f"/admin/remittance/remittance/{sent['id']}/change/")
    assert admin_page.status_code == 200 and "Kim Minjun" in admin_page.content.decode()

    # Sealed to this remittance: the blob moved to another row does not open.
    other = corridor.send("150000")
    Remittance.objects.filter(pk=other["id"]).update(
        travel_rule_sealed=row.travel_rule_sealed, travel_rule_key_id=row.travel_rule_key_id
    )
    with pytest.raises(KeyringError):
        selectors.remittance_travel_rule(remittance=Remittance.objects.get(pk=other["id"]))
