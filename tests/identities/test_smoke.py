import pytest

from sandbox.identities import selectors, services
from sandbox.identities.presenters import person_as_json
from tests.identities.factories import PersonFactory, person_data

pytestmark = pytest.mark.django_db


def test_it_registers_reveals_and_erases():
    person = PersonFactory(data=person_data(phone="010-1234-5678", email="Minsu@Example.com"))
    assert person_as_json(person)["masked"]["phone"] == "+82 10-****-5678"
    assert selectors.find_by_phone(person.tenant, "+821012345678") == person
    assert selectors.find_by_email(person.tenant, "minsu@example.com") == person
    data = services.reveal(person, actor="user:x", purpose="test")
    assert data.legal_name == "김민수"
    services.erase(person, actor="user:x", reason="asked")
    with pytest.raises(services.PersonRedacted):
        services.reveal(person, actor="user:x", purpose="test")
