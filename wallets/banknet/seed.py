"""The banks of the network, as the data migration creates them; ``seed_banks`` restores
missing ones (after a test database flush, say) without touching edited ones."""

from __future__ import annotations

import importlib

_migration = importlib.import_module("wallets.banknet.migrations.0002_seed_banks")
BANKS = _migration.BANKS


def seed_banks(bank_model=None) -> int:
    """Create the banks that do not exist; returns how many were created."""
    if bank_model is None:
        from wallets.banknet.models import Bank as bank_model
    created = 0
    for code, ledger_code, name, defaults in BANKS:
        _, made = bank_model.objects.get_or_create(
            code=code, defaults={"ledger_code": ledger_code, "name": name, **defaults}
        )
        created += made
    return created
