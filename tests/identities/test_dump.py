"""A plain dump of the database shows no personal data of the demo people: not their
names, national ids, phones or e-mails, in any form the dump could carry them (the text,
the hex of their UTF-8 bytes as bytea prints it, JSON's \\u escapes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from django.core.management import call_command
from django.db import connection

from sandbox.identities.data import normalize_national_id
from sandbox.identities.models import Person
from wallets.banknet.management.commands.seed_demo import DEMO_PEOPLE

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def pg_dump() -> str:
    """``pg_dump`` of the test database, as an operator would take a backup."""
    db = connection.settings_dict
    command = shutil.which("pg_dump")
    if command is None:
        pytest.skip("pg_dump is not installed")
    args = [command, "--no-owner", "--dbname", db["NAME"]]
    if db.get("HOST"):
        args += ["--host", db["HOST"]]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    done = subprocess.run(args, capture_output=True, env=env, check=True, timeout=300)
    return done.stdout.decode("utf-8")


def forms_of(value: str) -> set[str]:
    """The ways a dump could spell ``value``."""
    return {
        value,
        value.lower(),
        value.encode("utf-8").hex(),
        json.dumps(value).strip('"'),  # \uXXXX escapes of non-ASCII text
    }


def secrets_of_demo_people() -> set[str]:
    found: set[str] = set()
    for people in DEMO_PEOPLE.values():
        for data in people:
            digits = normalize_national_id(data.national_id, data.national_id_country)
            national = data.phone.removeprefix("+82")
            for value in (
                data.legal_name,
                *data.legal_name.split(),
                data.national_id,
                digits,
                data.phone,
                "0" + national if data.phone.startswith("+82") else data.phone[3:],
                data.email,
                data.email.split("@")[0],
                data.address.street,
            ):
                found |= forms_of(value)
    return found


def test_a_database_dump_holds_none_of_the_demo_peoples_data(banks):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump needs PostgreSQL")
    call_command("seed_demo")
    assert Person.objects.count() == sum(len(p) for p in DEMO_PEOPLE.values())
    dump = pg_dump()
    assert "identities_person" in dump  # the table is in the dump, with its rows
    assert dump.count("\\x") > 0
    leaked = sorted(value for value in secrets_of_demo_people() if value in dump)
    assert leaked == []


def test_the_check_would_see_a_name_in_clear(banks):
    """The search is not blind: a name written in clear is found, in every form."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump needs PostgreSQL")
    call_command("seed_demo")
    name = DEMO_PEOPLE["Kimchi Pay"][0].legal_name
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE leak_probe (name text, raw bytea)")
        cursor.execute("INSERT INTO leak_probe VALUES (%s, %s)", [name, name.encode()])
    try:
        dump = pg_dump()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE leak_probe")
    assert name in dump
    assert name.encode().hex() in dump
