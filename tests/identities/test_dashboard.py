"""The People section of the dashboard: masked list and lookup, a person's page with a
logged reveal and the access log, erasure behind a confirmation; operators' key rotation."""

from __future__ import annotations

import pytest
from stdnum.kr import rrn

from sandbox.identities.models import AccessLogEntry, KeyRotationJob, Person
from tests.factories import NodeFactory
from tests.helpers import web_as
from tests.identities.factories import PersonFactory, person_data

pytestmark = pytest.mark.django_db


def test_the_list_shows_masked_people_and_finds_one_by_phone(alice):
    PersonFactory(tenant=alice.tenant, data=person_data(legal_name="홍길동", phone="010-1111-2222"))
    PersonFactory(tenant=alice.tenant, data=person_data(legal_name="김영희"))
    page = alice.web.get("/people/").content.decode()
    assert "홍*동" in page and "김*희" in page
    assert "홍길동" not in page and "01011112222" not in page
    found = alice.web.get("/people/?field=phone&value=010-1111-2222").content.decode()
    assert "홍*동" in found and "김*희" not in found


def test_registering_from_the_dashboard_seals_and_shows_the_person(alice):
    form = {
        "legal_name": "박지성",
        "birth_date": "1981-02-25",
        "national_id": "810225-1234560",
        "national_id_country": "KR",
        "phone": "010-3333-4444",
        "email": "js@example.com",
        "street": "월드컵로 240",
        "city": "서울",
        "postal_code": "03932",
        "country": "KR",
    }
    bad = alice.web.post("/people/", {**form, "national_id": "810225-1234561"})
    assert bad.status_code == 200
    assert "invalid_national_id" in bad.content.decode()
    assert Person.objects.count() == 0
    form["national_id"] = "810225-123456" + rrn.calc_check_digit("810225123456")
    response = alice.web.post("/people/", form)
    assert response.status_code == 302
    page = alice.web.get(response["Location"]).content.decode()
    assert "박*성" in page and "+82 10-****-4444" in page


def test_a_reveal_on_the_page_is_recorded_with_its_purpose(alice):
    person = PersonFactory(tenant=alice.tenant, data=person_data(legal_name="홍길동"))
    page = alice.web.post(
        f"/people/{person.pk}/reveal/", {"purpose": "support ticket 42", "which": ["legal_name"]}
    ).content.decode()
    assert "홍길동" in page
    entry = AccessLogEntry.objects.get(person=person)
    assert entry.actor == f"user:{alice.owner.email}"
    assert entry.fields == ["legal_name"] and entry.purpose == "support ticket 42"
    assert "support ticket 42" in alice.web.get(f"/people/{person.pk}/").content.decode()


def test_a_reveal_without_a_purpose_reads_nothing(alice):
    person = PersonFactory(tenant=alice.tenant, data=person_data(legal_name="홍길동"))
    page = alice.web.post(f"/people/{person.pk}/reveal/", {"purpose": ""}).content.decode()
    assert "홍길동" not in page
    assert not AccessLogEntry.objects.exists()


def test_erasure_needs_the_confirmation(alice):
    person = PersonFactory(tenant=alice.tenant)
    refused = alice.web.post(f"/people/{person.pk}/erase/", {"reason": "asked"})
    assert refused.status_code == 400
    assert Person.objects.get(pk=person.pk).status == "active"
    done = alice.web.post(f"/people/{person.pk}/erase/", {"reason": "asked", "confirm": "on"})
    assert done.status_code == 302
    assert Person.objects.get(pk=person.pk).status == "redacted"
    assert "Erased person" in alice.web.get(f"/people/{person.pk}/").content.decode()


def test_the_node_page_links_to_its_identity(alice):
    node = NodeFactory(tenant=alice.tenant)
    assert (
        f"/people/nodes/{node.pk}/identity/" in alice.web.get(f"/nodes/{node.pk}/").content.decode()
    )
    assert alice.web.get(f"/people/nodes/{node.pk}/identity/").status_code == 200


def test_operators_start_a_rotation_from_the_console(
    operator, celery_eager, django_capture_on_commit_callbacks
):
    web = web_as(operator)
    assert web.get("/people/key-rotations/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert web.post("/people/key-rotations/").status_code == 302
    assert KeyRotationJob.objects.get().status == "completed"
    assert "completed" in web.get("/people/key-rotations/").content.decode()


def test_tenants_do_not_reach_the_rotation_page(alice):
    assert alice.web.get("/people/key-rotations/").status_code == 302
