"""Personal data at rest: ciphertext in the columns, a data key per person wrapped by the
configured keyring, fields bound to their row, blind indexes keyed per tenant."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.checks import registry
from django.db import connection

from sandbox.events import clocks
from sandbox.identities import sealing, selectors, services
from sandbox.identities.checks import check_master_key
from sandbox.identities.models import Person
from sandbox.keyring import KeyringError
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory, TenantFactory
from tests.identities.factories import PersonFactory, person_data

pytestmark = pytest.mark.django_db

KEY_A = "a" * 40
KEY_B = "b" * 40
MARCH = datetime.datetime(2025, 3, 10, 9, 0, tzinfo=datetime.UTC)


def raw_row(person: Person) -> str:
    """Every column of the person's row as the database holds it, as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM identities_person WHERE id = %s", [person.pk.hex])
        row = cursor.fetchone()
    return " ".join(bytes(v).hex() if isinstance(v, bytes | memoryview) else str(v) for v in row)


def test_the_columns_hold_no_personal_value_in_clear():
    data = person_data(legal_name="홍길동", phone="010-4321-8765", email="gildong@example.com")
    person = PersonFactory(data=data)
    row = raw_row(person)
    for value in ("홍길동", "01043218765", "+821043218765", "gildong", data.national_id[:6]):
        assert value not in row
        assert value.encode().hex() not in row


def test_each_field_is_aes_gcm_under_the_persons_own_data_key():
    person = PersonFactory(data=person_data(legal_name="홍길동"))
    dek = sealing.unwrap(person.kek_id, person.wrapped_dek, kind="person", owner_id=person.pk)
    assert len(dek) == 32
    # The library's AES-GCM, given the documented layout (nonce || ciphertext || tag) and
    # associated data, opens the column.
    blob = bytes(person.legal_name_sealed)
    aad = f"fsbx-identities:person:{person.pk}:legal_name".encode()
    assert AESGCM(dek).decrypt(blob[:12], blob[12:], aad) == "홍길동".encode()


def test_a_sealed_field_copied_to_another_person_does_not_open():
    victim = PersonFactory(data=person_data(legal_name="홍길동"))
    thief = PersonFactory(tenant=victim.tenant)
    Person.objects.filter(pk=thief.pk).update(legal_name_sealed=victim.legal_name_sealed)
    thief.refresh_from_db()
    with pytest.raises(sealing.SealingError):
        services.reveal(thief, actor="test", purpose="test")


def test_two_people_never_share_a_data_key_or_a_ciphertext():
    same = person_data()
    one, two = PersonFactory(data=same), PersonFactory(data=same)
    assert bytes(one.wrapped_dek) != bytes(two.wrapped_dek)
    assert bytes(one.legal_name_sealed) != bytes(two.legal_name_sealed)


def test_blind_indexes_differ_between_tenants_for_the_same_phone():
    data = person_data(phone="010-7777-8888")
    one = PersonFactory(tenant=TenantFactory(), data=data)
    two = PersonFactory(tenant=TenantFactory(), data=data)
    assert one.phone_index and two.phone_index
    assert one.phone_index != two.phone_index
    assert selectors.find_by_phone(one.tenant, "+821077778888") == one


def test_a_new_primary_key_seals_new_people_and_the_old_one_still_opens(settings):
    settings.IDENTITIES_MASTER_KEY = [KEY_A]
    old = PersonFactory(data=person_data(legal_name="홍길동"))
    settings.IDENTITIES_MASTER_KEY = [KEY_B, KEY_A]
    new = PersonFactory(tenant=old.tenant)
    assert new.kek_id != old.kek_id
    assert services.reveal(old, actor="t", purpose="t").legal_name == "홍길동"
    settings.IDENTITIES_MASTER_KEY = [KEY_B]
    with pytest.raises(KeyringError):
        services.reveal(old, actor="t", purpose="t")


def test_production_without_a_keyring_fails_the_deploy_check(settings):
    settings.DEBUG = False
    settings.IDENTITIES_MASTER_KEY = []
    assert [e.id for e in check_master_key()] == ["identities.E001"]
    settings.IDENTITIES_MASTER_KEY = [KEY_A]
    assert check_master_key() == []


def test_the_deploy_check_is_registered():
    assert check_master_key in registry.registry.get_checks(include_deployment_checks=True)


def test_times_follow_the_nodes_test_clock(alice):
    node = NodeFactory(tenant=alice.tenant)
    clock = clocks.test_clock_create(
        tenant=alice.tenant, actor=SYSTEM, name="March", frozen_time=MARCH
    )
    clocks.test_clock_attach(clock=clock, node=node, actor=SYSTEM)
    person = PersonFactory(tenant=alice.tenant, node=node)
    assert person.created_at == MARCH
    services.reveal(person, actor="t", purpose="t")
    assert person.access_log.get().accessed_at == MARCH
