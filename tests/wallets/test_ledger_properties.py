"""Hypothesis drives random sequences of transfers, holds, captures, voids and reversals
against a tiny model of the books; after every step the stored balances must equal the
model and the history of every account must sum to its balance."""

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from sandbox.errors import ApplicationError
from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from wallets import services
from wallets.models import Account, Entry, Hold
from wallets.services import TransferRequest
from wallets.verification import verify_ledger

ACCOUNTS = 3
amounts = st.integers(min_value=1, max_value=400)


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")
    transactions = Bundle("transactions")

    @initialize(opening=st.lists(st.integers(0, 1_000), min_size=ACCOUNTS, max_size=ACCOUNTS))
    def open_books(self, opening):
        self.tenant = TenantFactory()
        # Two nodes, so some transfers are inter-node.
        nodes = [NodeFactory(tenant=self.tenant), NodeFactory(tenant=self.tenant)]
        self.accounts = [AccountFactory(node=nodes[i % 2]) for i in range(ACCOUNTS)]
        self.posted = {}
        self.held = {}
        for account, amount in zip(self.accounts, opening, strict=True):
            if amount:
                fund(account, amount)
            self.posted[account.pk] = amount
            self.held[account.pk] = 0
        self.reversed = set()

    def available(self, account) -> int:
        return self.posted[account.pk] - self.held[account.pk]

    def fresh(self, index: int) -> Account:
        return Account.objects.get(pk=self.accounts[index].pk)

    @rule(
        target=transactions,
        source=st.integers(0, ACCOUNTS - 1),
        to=st.integers(0, ACCOUNTS - 1),
        amount=amounts,
    )
    def transfer(self, source, to, amount):
        src, dst = self.fresh(source), self.fresh(to)
        request = TransferRequest(source=src, destination=dst, amount=amount, currency="KRW")
        expected_ok = source != to and self.available(src) >= amount
        try:
            txn = services.transfer_create(tenant=self.tenant, request=request).transaction
        except ApplicationError as error:
            assert not expected_ok, error.code
            assert error.code in ("same_account", "insufficient_funds")
            return None
        assert expected_ok
        self.posted[src.pk] -= amount
        self.posted[dst.pk] += amount
        return (txn, src.pk, dst.pk, amount)

    @rule(
        target=holds,
        on=st.integers(0, ACCOUNTS - 1),
        to=st.integers(0, ACCOUNTS - 1),
        amount=amounts,
    )
    def place_hold(self, on, to, amount):
        if on == to:
            return None
        account, counterparty = self.fresh(on), self.fresh(to)
        expected_ok = self.available(account) >= amount
        try:
            hold = services.hold_place(
                tenant=self.tenant,
                account=account,
                counterparty=counterparty,
                amount=amount,
                currency="KRW",
            )
        except ApplicationError as error:
            assert not expected_ok and error.code == "insufficient_funds"
            return None
        assert expected_ok
        self.held[account.pk] += amount
        return hold

    @rule(target=transactions, hold=consumes(holds), share=st.integers(1, 100))
    def capture(self, hold, share):
        if hold is None:
            return None
        amount = max(1, hold.amount * share // 100)
        hold = services.hold_capture(hold=Hold.objects.get(pk=hold.pk), amount=amount)
        self.held[hold.account_id] -= hold.amount
        self.posted[hold.account_id] -= amount
        self.posted[hold.counterparty_id] += amount
        return (hold.capture_transaction, hold.account_id, hold.counterparty_id, amount)

    @rule(hold=consumes(holds))
    def void(self, hold):
        if hold is None:
            return
        services.hold_void(hold=Hold.objects.get(pk=hold.pk))
        self.held[hold.account_id] -= hold.amount

    @rule(posted=consumes(transactions))
    def reverse(self, posted):
        if posted is None:
            return
        txn, source_id, destination_id, amount = posted
        expected_ok = self.posted[destination_id] - self.held[destination_id] >= amount
        try:
            services.transaction_reverse(transaction_=txn, tenant=self.tenant)
        except ApplicationError as error:
            assert not expected_ok and error.code == "insufficient_funds", error.code
            return
        assert expected_ok
        self.posted[source_id] += amount
        self.posted[destination_id] -= amount

    @invariant()
    def balances_match_the_model_and_the_history(self):
        if not hasattr(self, "accounts"):
            return
        for account in Account.objects.filter(pk__in=self.posted):
            assert account.posted_balance == self.posted[account.pk]
            assert account.held_balance == self.held[account.pk]
            assert account.available_balance >= 0
            history = Entry.objects.filter(account=account).aggregate(t=Sum("amount"))["t"] or 0
            assert history == account.posted_balance

    def teardown(self):
        if hasattr(self, "accounts"):
            report = verify_ledger()
            assert report.ok, report.problems


@pytest.mark.django_db
def test_random_sequences_conserve_money_and_history_sums_to_balance():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
