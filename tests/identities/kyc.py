"""What the verification tests share: a shop node with people of alice's, and a small
client of the verification API. (Its fixtures reach the tests through conftest.py.)"""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any

import pytest
from stdnum.kr import rrn

from sandbox.events import clocks
from sandbox.identities import services as identity_services
from sandbox.identities.data import Address, PersonalData
from sandbox.identities.models import Person
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory
from tests.helpers import error_code

BIRTH = datetime.date(1990, 5, 17)
START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
PHONE = "+821012345678"


def make_rrn(birth: datetime.date, serial: str = "123456") -> str:
    """A resident registration number of ``birth`` with its check digit."""
    gender = "1" if birth.year < 2000 else "3"
    body = f"{birth:%y%m%d}{gender}{serial[:5]}"
    return f"{body[:6]}-{body[6:]}{rrn.calc_check_digit(body)}"


def personal_data(**overrides: Any) -> PersonalData:
    birth = overrides.pop("birth_date", BIRTH)
    data = PersonalData(
        legal_name="Kim Minjun",
        birth_date=birth,
        national_id=make_rrn(birth),
        national_id_country="KR",
        phone=PHONE,
        email="minjun@example.com",
        address=Address(street="Teheran-ro 152", city="Seoul", postal_code="06236", country="KR"),
    )
    return replace(data, **overrides)


class Kyc:
    """Alice's side of the verification API."""

    def __init__(self, party: Any, node: Any, clock: Any) -> None:
        self.party = party
        self.api = party.api
        self.node = node
        self.clock = clock

    def advance(self, seconds: float) -> None:
        """Move the shop's test clock on and run what fell due (the processing jobs)."""
        self.clock.refresh_from_db()
        to = self.clock.frozen_time + datetime.timedelta(seconds=seconds)
        clocks.test_clock_advance(clock=self.clock, to=to, actor=SYSTEM)
        assert clocks.test_clock_run_advance(clock_id=self.clock.pk)

    def person(self, **overrides: Any) -> Person:
        return identity_services.register_person(
            tenant=self.party.tenant, data=personal_data(**overrides), node=self.node
        )

    def post(self, path: str, body: dict | None = None, status: int = 200) -> dict:
        response = self.api.post(f"/api/v1/{path}", body or {}, format="json")
        assert response.status_code == status, response.content
        return response.json()

    def refused(self, path: str, body: dict | None = None) -> tuple[int, str]:
        response = self.api.post(f"/api/v1/{path}", body or {}, format="json")
        assert 400 <= response.status_code < 500, response.content
        return response.status_code, error_code(response)

    def get(self, path: str) -> dict:
        response = self.api.get(f"/api/v1/{path}")
        assert response.status_code == 200, response.content
        return response.json()

    def create(self, person: Person, type: str) -> dict:
        return self.post(
            "verification_sessions", {"person_id": str(person.pk), "type": type}, status=201
        )

    def submit(self, session: dict, **values: Any) -> dict:
        return self.post(f"verification_sessions/{session['id']}/submit", values)

    def session(self, session: dict) -> dict:
        return self.get(f"verification_sessions/{session['id']}")

    def force(self, session: dict, outcome: str) -> dict:
        return self.post(
            f"test_helpers/verification_sessions/{session['id']}/force", {"outcome": outcome}
        )

    def document(self, person_data: PersonalData | None = None, **overrides: Any) -> dict:
        data = person_data or personal_data()
        values = {
            "document_type": "id_card",
            "document_number": "M12345678",
            "birth_date": data.birth_date.isoformat(),
            "expiry_date": "2035-01-01",
            "national_id": data.national_id,
        }
        values.update(overrides)
        return values


@pytest.fixture
def kyc_shop(alice):
    return NodeFactory(tenant=alice.tenant, name="Onboarding shop")


@pytest.fixture
def kyc_clock(alice, kyc_shop):
    """A test clock the shop node follows, stopped at START."""
    made = clocks.test_clock_create(
        tenant=alice.tenant, actor=SYSTEM, name="KYC", frozen_time=START
    )
    clocks.test_clock_attach(clock=made, node=kyc_shop, actor=SYSTEM)
    return made


@pytest.fixture
def kyc(alice, kyc_shop, kyc_clock) -> Kyc:
    return Kyc(alice, kyc_shop, kyc_clock)
