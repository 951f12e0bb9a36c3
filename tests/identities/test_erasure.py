"""Erasure: destroying a person's data key makes their data unreadable for good, while
the ledger (which holds no personal data) stays intact, balanced and provable."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from clearing import closing, verify_proof
from sandbox.events.models import Event
from sandbox.identities import selectors, services
from sandbox.identities.models import Person
from sandbox.identities.vault import open_person
from tests.clearing.conftest import DAY, Ledger
from tests.factories import api_key_for
from tests.helpers import verify_offline
from tests.identities.factories import PersonFactory, person_data
from wallets.models import Account
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(db, monkeypatch, webhook_settings) -> Ledger:
    return Ledger(monkeypatch)


def test_erasure_destroys_the_data_key_and_the_indexes():
    person = PersonFactory(data=person_data(phone="010-1212-3434", email="gone@example.com"))
    services.erase(person, actor="user:dpo@example.com", reason="right to be forgotten")
    person.refresh_from_db()
    assert person.status == Person.Status.REDACTED
    assert person.wrapped_dek is None
    assert (person.phone_index, person.national_id_index, person.email_index) == ("", "", "")
    assert bytes(person.legal_name_sealed)  # the ciphertext stays, and nothing opens it
    with pytest.raises(services.PersonRedacted):
        open_person(person, Person.SEALED_FIELDS)
    assert selectors.find_by_phone(person.tenant, "010-1212-3434") is None
    assert selectors.find_by_email(person.tenant, "gone@example.com") is None
    event = Event.objects.get(type="person.erased")
    assert event.data["status"] == "redacted" and event.data["masked"] is None


def test_erasing_twice_changes_nothing():
    person = PersonFactory()
    services.erase(person, actor="a", reason="r")
    first = Person.objects.get(pk=person.pk).redacted_at
    services.erase(person, actor="b", reason="again")
    assert Person.objects.get(pk=person.pk).redacted_at == first
    assert Event.objects.filter(type="person.erased").count() == 1


def test_an_erased_persons_level_cannot_change():
    person = PersonFactory()
    services.erase(person, actor="a", reason="r")
    with pytest.raises(services.PersonRedacted):
        services.set_verification_level(person, "real_name", reason="kyc")


def test_the_ledger_still_verifies_and_proves_after_erasure(ledger, tmp_path):
    # given: a customer whose account carries their customer_reference, with money moved
    person = PersonFactory(tenant=ledger.tenant, node=ledger.seoul, customer_reference="c-42")
    Account.objects.filter(pk=ledger.a.pk).update(customer_reference="c-42")
    txns = ledger.post(DAY, 4)
    closing.close_day(day=DAY, triggered_by="test")
    # when
    services.erase(person, actor="user:dpo@example.com", reason="right to be forgotten")
    # then: the books balance, the account and its reference are there, proofs verify
    report = verify_ledger()
    assert report.ok, report.problems
    assert Account.objects.get(pk=ledger.a.pk).customer_reference == "c-42"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(ledger.tenant)}")
    proof = api.get(f"/api/v1/transactions/{txns[1].uuid}/proof")
    assert proof.status_code == 200, proof.content
    verify_proof.verify(proof.json())
    result = verify_offline(proof.json(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_copy_read_before_the_erasure_reveals_nothing_after_it():
    person = PersonFactory()
    stale = Person.objects.get(pk=person.pk)
    services.erase(person, actor="a", reason="r")
    with pytest.raises(services.PersonRedacted):
        services.reveal(stale, actor="b", purpose="late")
