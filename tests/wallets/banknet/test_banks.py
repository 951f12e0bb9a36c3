"""One table of banks: ``wallets.banks.NETWORK_BANKS``. The code reads it; the data migration
keeps a frozen copy (a migration must mean the same thing forever), and these tests prove the
copy, and the rows it made, agree with the table."""

from __future__ import annotations

import importlib

import pytest

from wallets import banks
from wallets.banknet.models import Bank

SEED_MIGRATION = importlib.import_module("wallets.banknet.migrations.0002_seed_banks")


def _table() -> dict[str, dict]:
    return {bank.code: bank.row() for bank in banks.NETWORK_BANKS}


def test_the_data_migration_copies_the_static_table():
    frozen = {
        code: {"ledger_code": ledger_code, "name": name, **defaults}
        for code, ledger_code, name, defaults in SEED_MIGRATION.BANKS
    }
    assert frozen == _table()


@pytest.mark.django_db
def test_the_migrated_database_holds_the_static_table():
    fields = [*next(iter(_table().values()))]
    rows = {row.pop("code"): row for row in Bank.objects.values("code", *fields)}
    assert rows == _table()


def test_the_virtual_account_banks_and_settlement_banks_come_from_the_table():
    assert banks.BANKS == {
        "004": "KB Kookmin Bank (sandbox)",
        "088": "Shinhan Bank (sandbox)",
        "020": "Woori Bank (sandbox)",
        "081": "Hana Bank (sandbox)",
        "011": "NH NongHyup Bank (sandbox)",
        "003": "IBK Industrial Bank of Korea (sandbox)",
    }
    assert list(banks.BANKS) == ["004", "088", "020", "081", "011", "003"]
    assert banks.SETTLEMENT_ONLY == {
        "US1": "JPMorgan Chase Bank (sandbox)",
        "US2": "Bank of America (sandbox)",
        "JP1": "MUFG Bank (sandbox)",
        "JP2": "Mizuho Bank (sandbox)",
        "CRD": "Sandbox card network",
        "FXD": "Sandbox FX desk",
    }
