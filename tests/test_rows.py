"""Model instances from rows (``sandbox.rows.RowLoader``): the instance ``from_db`` would make,
only from every column, and through ``from_db`` while init signals have listeners."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.signals import post_init

from sandbox.rows import RowLoader
from tests.factories import AccountFactory
from wallets.models import Account

pytestmark = pytest.mark.django_db

COLUMNS = [field.attname for field in Account._meta.concrete_fields]


def account_row(account: Account) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT {} FROM {} WHERE id = %s".format(
                ", ".join(f.column for f in Account._meta.concrete_fields),
                Account._meta.db_table,
            ),
            [account.pk],
        )
        return cursor.fetchone()


def test_a_loaded_instance_is_what_from_db_makes_of_the_row():
    account = AccountFactory(name="Loaded")
    row = account_row(account)

    loaded = RowLoader(Account, COLUMNS)(row)
    expected = Account.from_db("default", COLUMNS, row)

    assert type(loaded) is Account
    assert {k: v for k, v in vars(loaded).items() if k != "_state"} == {
        k: v for k, v in vars(expected).items() if k != "_state"
    }
    assert (loaded._state.adding, loaded._state.db) == (False, "default")
    assert loaded == account and loaded.is_open and loaded.name == "Loaded"
    assert loaded.wallet.pk == account.wallet_id  # relations still load on access


def test_a_loader_refuses_a_partial_or_repeated_column_list():
    with pytest.raises(ValueError, match="all its columns"):
        RowLoader(Account, COLUMNS[:-1])
    with pytest.raises(ValueError, match="all its columns"):
        RowLoader(Account, [*COLUMNS, COLUMNS[0]])


def test_with_an_init_listener_it_goes_through_from_db():
    account = AccountFactory()
    row = account_row(account)
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(listener, sender=Account)
    try:
        loaded = RowLoader(Account, COLUMNS)(row)
    finally:
        post_init.disconnect(listener, sender=Account)

    assert seen == [loaded]
    assert loaded._state.adding is False
