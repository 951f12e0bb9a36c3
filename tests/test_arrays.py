"""Array literals built as text (``sandbox.db.arrays``): PostgreSQL reads back exactly the
values they were built from, whatever the text holds."""

import uuid

import pytest
from django.db import connection

from sandbox.db.arrays import array_literal, text_array

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TEXTS = [
    ["plain", "ledger_transfer.posted", "2026-12-07T15:22:50+00:00", "42"],
    ['a "quoted" word', "back\\slash", "{braces}, commas", "NULL", "", "é ✓ \u2028"],
    ["kept", None, "nodeless events have no node"],
    [],
]


def read_back(literal: str, kind: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{kind}[]", [literal])
        return cursor.fetchone()[0]


@pytest.mark.parametrize("values", TEXTS)
def test_a_text_array_reads_back_as_the_strings_it_was_built_from(values):
    assert read_back(text_array(values), "text") == values


def test_uuids_integers_and_nulls_read_back_alike():
    ids = [uuid.uuid4(), None, uuid.uuid4()]
    assert read_back(array_literal(ids), "uuid") == ids
    assert read_back(array_literal([-1, 0, 10**15]), "bigint") == [-1, 0, 10**15]
