"""Personal data is checked and normalized before anything is sealed."""

from __future__ import annotations

import datetime
from dataclasses import replace

import pytest
from stdnum.kr import rrn

from sandbox.errors import Unprocessable
from sandbox.identities.data import validate_personal_data
from tests.identities.factories import make_rrn, person_data

TODAY = datetime.date(2026, 12, 7)


def check(**overrides):
    return validate_personal_data(person_data(**overrides), today=TODAY)


def refused_code(**overrides) -> str:
    with pytest.raises(Unprocessable) as refused:
        check(**overrides)
    return refused.value.code


def test_values_are_normalized():
    data = check(phone="010-1234-5678", email=" Minsu@Example.COM ", legal_name=" 김  민수 ")
    assert data.phone == "+821012345678"
    assert data.email == "minsu@example.com"
    assert data.legal_name == "김 민수"
    assert data.national_id.isdigit() and len(data.national_id) == 13


def test_an_old_style_rrn_needs_its_check_digit():
    born = datetime.date(1990, 1, 15)
    good = make_rrn(born).replace("-", "")
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert check(birth_date=born, national_id=good).national_id == good
    assert refused_code(birth_date=born, national_id=wrong) == "invalid_national_id"


def test_a_new_style_rrn_has_no_check_digit():
    # Numbers issued from October 2020 end in random digits: a child born in 2021.
    born = datetime.date(2021, 3, 4)
    body = "2103043" + "987650"
    assert body[-1] != rrn.calc_check_digit(body[:-1])  # the old rule would refuse it
    assert check(birth_date=born, national_id=body).national_id == body


def test_an_rrn_with_an_impossible_date_is_refused():
    assert refused_code(birth_date=datetime.date(1990, 1, 15), national_id="9002301234567") == (
        "invalid_national_id"
    )


@pytest.mark.parametrize(
    ("country", "number", "valid"),
    [
        ("US", "536-90-4399", True),
        ("US", "000-12-3456", False),
        ("JP", "483729150640", True),
        ("JP", "483729150641", False),
        ("TH", "AB12345", True),  # no stdnum personal id module here: letters and digits
        ("TH", "!!", False),
    ],
)
def test_foreign_ids_are_checked_by_their_countrys_rules(country, number, valid):
    data = replace(person_data(), national_id=number, national_id_country=country)
    if valid:
        assert validate_personal_data(data, today=TODAY).national_id_country == country
    else:
        with pytest.raises(Unprocessable) as refused:
            validate_personal_data(data, today=TODAY)
        assert refused.value.code == "invalid_national_id"


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(Unprocessable) as refused:
        check(phone="12", email="x", birth_date=datetime.date(2030, 1, 1))
    assert {"phone", "email", "birth_date"} <= set(refused.value.fields)
    assert all("(" in message[0] for message in refused.value.fields.values())
