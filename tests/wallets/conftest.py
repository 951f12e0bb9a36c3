"""Fixtures of the wallet tests."""

from __future__ import annotations

import pytest

from tests.factories import AccountFactory, NodeFactory, fund


@pytest.fixture
def accounts(alice):
    """Alice's node: its main KRW account with 1,000,000 on it, and an empty savings one."""
    node = NodeFactory(tenant=alice.tenant)
    main = node.wallet.accounts.get()
    savings = AccountFactory(node=node, name="Savings")
    fund(main, 1_000_000)
    return main, savings
