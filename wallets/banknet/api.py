"""Bank network API: banks, simulated bank accounts, account verification, deposits,
withdrawals and transfers, card payments, and the tester controls under
``/api/v1/test_helpers/``. Money-moving POSTs need an ``Idempotency-Key``."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.schema import path_choices
from sandbox.api.views import ApiView, ListApiView, PresenterSerializer
from sandbox.tenants.access import actor_for
from sandbox.tenants.api import AuditLogOutput, TenantScopedListView, TenantScopedView
from sandbox.tenants.models import AuditLogEntry, Node
from sandbox.tenants.permissions import IsOperator
from wallets import inputs
from wallets.api import IDEMPOTENCY_PARAMETER, MoneySerializer
from wallets.banknet import (
    bank_accounts,
    cards,
    deposits,
    links,
    network_banks,
    presenters,
    scenarios,
    withdrawals,
)
from wallets.banknet.models import (
    AccountLink,
    Bank,
    BankAccount,
    BankOutage,
    CardPayment,
    Deposit,
    Withdrawal,
    WithdrawalRule,
)
from wallets.idempotency import idempotent
from wallets.inputs import AmountField
from wallets.selectors import account_get

# --- Documented shapes: exactly what the presenters return -----------------------------------


class BusinessHoursOutput(serializers.Serializer):
    opens_at = serializers.CharField(help_text="HH:MM, the bank's local time.")
    closes_at = serializers.CharField(help_text="HH:MM, the bank's local time.")
    all_day = serializers.BooleanField()
    business_days = serializers.CharField(help_text="ISO weekdays, 1 (Monday) to 7.")


class MaintenanceWindowOutput(serializers.Serializer):
    starts_at = serializers.CharField(help_text="HH:MM, the bank's local time.")
    ends_at = serializers.CharField(help_text="HH:MM, the bank's local time.")


class BankOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Bank) -> dict[str, Any]:
        return presenters.bank_json(instance)

    code = serializers.CharField()
    name = serializers.CharField()
    country = serializers.CharField()
    currency = serializers.CharField()
    timezone = serializers.CharField()
    business_hours = BusinessHoursOutput()
    maintenance_window = MaintenanceWindowOutput(allow_null=True)
    processing_delay_seconds = serializers.IntegerField()
    daily_withdrawal_limit = MoneySerializer()
    account_number_length = serializers.ListField(
        child=serializers.IntegerField(), min_length=2, max_length=2, help_text="[min, max]"
    )
    online = serializers.BooleanField()


class StatementLineOutput(serializers.Serializer):
    amount = serializers.CharField(help_text="Signed: money in positive, money out negative.")
    currency = serializers.CharField()
    memo = serializers.CharField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class BankAccountOutput(PresenterSerializer):
    @staticmethod
    def present(instance: BankAccount) -> dict[str, Any]:
        return presenters.bank_account_json(instance)

    id = serializers.UUIDField()
    bank_code = serializers.CharField()
    account_number = serializers.CharField()
    holder_name = serializers.CharField()
    holder_type = serializers.ChoiceField(choices=BankAccount.HolderType.choices)
    currency = serializers.CharField()
    status = serializers.CharField(help_text="open or closed")
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


def _bank_account_with_statement(account: BankAccount) -> dict[str, Any]:
    return presenters.bank_account_json(account, with_statement=True)


class BankAccountDetailOutput(BankAccountOutput):
    @staticmethod
    def present(instance: BankAccount) -> dict[str, Any]:
        return _bank_account_with_statement(instance)

    statement = StatementLineOutput(many=True, help_text="The last 100 lines, newest first.")


class LinkOutput(PresenterSerializer):
    @staticmethod
    def present(instance: AccountLink) -> dict[str, Any]:
        return presenters.link_json(instance)

    id = serializers.UUIDField()
    node_id = serializers.UUIDField()
    bank_account_id = serializers.UUIDField()
    bank_code = serializers.CharField()
    account_number = serializers.CharField()
    status = serializers.ChoiceField(choices=AccountLink.Status.choices)
    failed_attempts = serializers.IntegerField()
    attempts_left = serializers.IntegerField()
    code_expires_at = serializers.DateTimeField(help_text="Node time.")
    verified_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class DepositOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Deposit) -> dict[str, Any]:
        return presenters.deposit_json(instance)

    id = serializers.UUIDField()
    sender_bank_account_id = serializers.UUIDField()
    bank_code = serializers.CharField()
    account_number = serializers.CharField()
    account_id = serializers.UUIDField(allow_null=True, help_text="Null when returned.")
    node_id = serializers.UUIDField(allow_null=True, help_text="Null when returned.")
    amount = serializers.CharField(help_text='A decimal string, e.g. "12.34".')
    currency = serializers.CharField()
    memo = serializers.CharField()
    status = serializers.ChoiceField(choices=Deposit.Status.choices)
    return_reason = serializers.CharField(allow_null=True)
    transaction_id = serializers.UUIDField(allow_null=True)
    due_at = serializers.DateTimeField(help_text="When the bank credits it (node time).")
    triggered_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class WithdrawalOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Withdrawal) -> dict[str, Any]:
        return presenters.withdrawal_json(instance)

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Withdrawal.Kind.choices)
    node_id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    link_id = serializers.UUIDField(allow_null=True, help_text="Withdrawals only.")
    bank_code = serializers.CharField()
    account_number = serializers.CharField()
    holder_name = serializers.CharField()
    amount = serializers.CharField(help_text='A decimal string, e.g. "12.34".')
    currency = serializers.CharField()
    memo = serializers.CharField()
    status = serializers.ChoiceField(choices=Withdrawal.Status.choices)
    failure_reason = serializers.CharField(allow_null=True)
    return_reason = serializers.CharField(allow_null=True)
    hold_id = serializers.UUIDField()
    transaction_id = serializers.UUIDField(allow_null=True)
    return_transaction_id = serializers.UUIDField(allow_null=True)
    due_at = serializers.DateTimeField(help_text="When the bank answers (node time).")
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class CardOutput(serializers.Serializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()


class CardPaymentOutput(PresenterSerializer):
    @staticmethod
    def present(instance: CardPayment) -> dict[str, Any]:
        return presenters.card_payment_json(instance)

    id = serializers.UUIDField()
    node_id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    amount = serializers.CharField(help_text='A decimal string, e.g. "12.34".')
    currency = serializers.CharField()
    captured_amount = serializers.CharField()
    refunded_amount = serializers.CharField()
    card = CardOutput()
    status = serializers.ChoiceField(choices=CardPayment.Status.choices)
    decline_code = serializers.CharField(allow_null=True)
    description = serializers.CharField()
    hold_id = serializers.UUIDField(allow_null=True)
    capture_transaction_id = serializers.UUIDField(allow_null=True)
    authorization_expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WithdrawalRuleOutput(PresenterSerializer):
    @staticmethod
    def present(instance: WithdrawalRule) -> dict[str, Any]:
        return presenters.withdrawal_rule_json(instance)

    id = serializers.IntegerField()
    node_id = serializers.UUIDField()
    action = serializers.ChoiceField(choices=WithdrawalRule.Action.choices)
    reason = serializers.CharField(help_text="A failure reason; empty for delays.")
    delay_seconds = serializers.IntegerField()
    remaining = serializers.IntegerField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()


class ScenarioRunOutput(serializers.Serializer):
    id = serializers.UUIDField()
    passed = serializers.BooleanField()
    report = serializers.JSONField(help_text="Each step and expectation, with its outcome.")


def _money(values: dict[str, Any]) -> tuple[int, str]:
    currency = inputs.parse_currency(values.get("currency"))
    return inputs.parse_amount(values.get("amount"), currency, "amount"), currency


# --- Banks -----------------------------------------------------------------------------------


class BankListApi(TenantScopedView):
    """The banks of the network, with hours, maintenance windows and whether each answers
    (for you: a bank you took offline shows as offline)."""

    @extend_schema(responses=BankOutput(many=True))
    def get(self, request: Request) -> Response:
        offline = set(
            BankOutage.objects.filter(tenant=self.tenant, ended_at__isnull=True).values_list(
                "bank_id", flat=True
            )
        )
        return Response(
            [
                presenters.bank_json(b, offline_for_tenant=b.pk in offline)
                for b in Bank.objects.all()
            ]
        )


class OperatorBankApi(ApiView):
    """Operators: edit a bank's hours, maintenance window, delay, daily limit, availability."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        opens_at = serializers.TimeField(required=False)
        closes_at = serializers.TimeField(required=False)
        business_days = serializers.CharField(required=False, max_length=7)
        maintenance_starts_at = serializers.TimeField(required=False, allow_null=True)
        maintenance_ends_at = serializers.TimeField(required=False, allow_null=True)
        processing_delay_seconds = serializers.IntegerField(required=False, min_value=0)
        daily_withdrawal_limit = AmountField(
            required=False, help_text="A decimal string in the bank's currency; never a number."
        )
        is_online = serializers.BooleanField(required=False)

    @extend_schema(responses=BankOutput)
    def get(self, request: Request, code: str) -> Response:
        return Response(presenters.bank_json(network_banks.bank_get(code, "code")))

    @extend_schema(responses=BankOutput)
    def patch(self, request: Request, code: str) -> Response:
        bank = network_banks.bank_get(code, "code")
        changes = self.validated_input(partial=True)
        if "daily_withdrawal_limit" in changes:
            changes["daily_withdrawal_limit"] = inputs.parse_amount(
                changes["daily_withdrawal_limit"], bank.currency, "daily_withdrawal_limit"
            )
        bank = network_banks.bank_update(bank=bank, actor=actor_for(request), **changes)
        return Response(presenters.bank_json(bank))


# --- Simulated bank accounts -----------------------------------------------------------------


class BankAccountListApi(TenantScopedListView):
    """Your simulated bank accounts."""

    serializer_class = BankAccountOutput
    model = BankAccount

    class InputSerializer(serializers.Serializer):
        bank_code = serializers.CharField()
        account_number = serializers.CharField()
        holder_name = serializers.CharField(max_length=120)
        holder_type = serializers.ChoiceField(
            choices=BankAccount.HolderType.choices, default=BankAccount.HolderType.PERSON
        )
        currency = serializers.CharField(required=False, help_text="Default: the bank's.")

    @extend_schema(responses={201: BankAccountOutput})
    def post(self, request: Request) -> Response:
        """Open an account for a simulated person or company at a bank."""
        values = self.validated_input()
        account = bank_accounts.bank_account_create(tenant=self.tenant, actor=self.actor, **values)
        return Response(presenters.bank_account_json(account), status=status.HTTP_201_CREATED)


class BankAccountDetailApi(TenantScopedView):
    @extend_schema(responses=BankAccountDetailOutput)
    def get(self, request: Request, bank_account_id: str) -> Response:
        """The account and its statement: what its holder sees (verification codes too)."""
        account = BankAccount.objects.get_for_tenant(self.tenant, bank_account_id)
        return Response(presenters.bank_account_json(account, with_statement=True))


class BankAccountCloseApi(TenantScopedView):
    @extend_schema(responses=BankAccountOutput)
    def post(self, request: Request, bank_account_id: str) -> Response:
        """Close a simulated bank account."""
        account = BankAccount.objects.get_for_tenant(self.tenant, bank_account_id)
        account = bank_accounts.bank_account_close(bank_account=account, actor=self.actor)
        return Response(presenters.bank_account_json(account))


# --- Account verification --------------------------------------------------------------------


class AccountLinkListApi(TenantScopedListView):
    """Your nodes' bank account links."""

    serializer_class = LinkOutput

    def get_queryset(self) -> QuerySet[AccountLink]:
        return AccountLink.objects.for_tenant(self.tenant).select_related("bank_account")


class NodeAccountLinkApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        bank_code = serializers.CharField()
        account_number = serializers.CharField()
        holder_name = serializers.CharField(max_length=120)

    @extend_schema(responses={201: LinkOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """Link a bank account to the node: the bank checks the holder's name and sends
        1 KRW with a code in the memo (on the account's statement); confirm the code."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        values = self.validated_input()
        link = links.account_link_start(node=node, actor=self.actor, **values)
        return Response(presenters.link_json(link), status=status.HTTP_201_CREATED)


class AccountLinkDetailApi(TenantScopedView):
    @extend_schema(responses=LinkOutput)
    def get(self, request: Request, link_id: str) -> Response:
        """One bank account link."""
        return Response(
            presenters.link_json(AccountLink.objects.get_for_tenant(self.tenant, link_id))
        )


class AccountLinkConfirmApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=8)

    @extend_schema(responses=LinkOutput)
    def post(self, request: Request, link_id: str) -> Response:
        """Wrong codes count; the fifth locks the link."""
        link = AccountLink.objects.get_for_tenant(self.tenant, link_id)
        values = self.validated_input()
        link = links.account_link_confirm(link=link, code=values["code"], actor=self.actor)
        return Response(presenters.link_json(link))


# --- Deposits --------------------------------------------------------------------------------


class DepositListApi(TenantScopedListView):
    """Deposits into your virtual accounts, newest first."""

    serializer_class = DepositOutput

    class FilterSerializer(serializers.Serializer):
        status = serializers.CharField(required=False)
        node = serializers.CharField(required=False, help_text="A node id.")

    def get_queryset(self) -> QuerySet[Deposit]:
        deposits = Deposit.objects.for_tenant(self.tenant).select_related("transaction")
        if value := self.request.query_params.get("status"):
            deposits = deposits.filter(status=value)
        if value := self.request.query_params.get("node"):
            deposits = deposits.filter(node=Node.objects.get_for_tenant(self.tenant, value))
        return deposits


class DepositDetailApi(TenantScopedView):
    @extend_schema(responses=DepositOutput)
    def get(self, request: Request, deposit_id: str) -> Response:
        """One deposit."""
        return Response(
            presenters.deposit_json(Deposit.objects.get_for_tenant(self.tenant, deposit_id))
        )


# --- Withdrawals and transfers ---------------------------------------------------------------


class WithdrawalListApi(TenantScopedListView):
    """Withdrawals and bank transfers, newest first."""

    serializer_class = WithdrawalOutput

    class FilterSerializer(serializers.Serializer):
        status = serializers.CharField(required=False)
        kind = serializers.ChoiceField(choices=Withdrawal.Kind.values, required=False)
        node = serializers.CharField(required=False, help_text="A node id.")

    class InputSerializer(serializers.Serializer):
        account_id = serializers.CharField()
        link_id = serializers.CharField(help_text="A verified account link of the same node.")
        amount = AmountField()
        currency = serializers.CharField()
        memo = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)

    def get_queryset(self) -> QuerySet[Withdrawal]:
        rows = Withdrawal.objects.for_tenant(self.tenant).select_related(
            "transaction", "return_transaction"
        )
        params = self.request.query_params
        if value := params.get("status"):
            rows = rows.filter(status=value)
        if value := params.get("kind"):
            rows = rows.filter(kind=value)
        if value := params.get("node"):
            rows = rows.filter(node=Node.objects.get_for_tenant(self.tenant, value))
        return rows

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WithdrawalOutput},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        """Withdraw to the node's own verified bank account. Held now, paid or released
        when the bank answers."""
        values = self.validated_input()
        account = account_get(tenant=self.tenant, account_id=values["account_id"])
        link = AccountLink.objects.select_related("bank_account__bank").get(
            pk=AccountLink.objects.get_for_tenant(self.tenant, values["link_id"]).pk
        )
        amount, currency = _money(values)
        withdrawal = withdrawals.withdrawal_create(
            actor=self.actor,
            account=account,
            amount=amount,
            currency=currency,
            memo=values["memo"],
            link=link,
        )
        return Response(presenters.withdrawal_json(withdrawal), status=status.HTTP_201_CREATED)


class BankTransferApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        account_id = serializers.CharField()
        bank_code = serializers.CharField()
        account_number = serializers.CharField()
        holder_name = serializers.CharField(max_length=120)
        amount = AmountField()
        currency = serializers.CharField()
        memo = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WithdrawalOutput},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        """Send money to anyone's bank account. The bank checks the holder's name."""
        values = self.validated_input()
        account = account_get(tenant=self.tenant, account_id=values["account_id"])
        amount, currency = _money(values)
        withdrawal = withdrawals.withdrawal_create(
            actor=self.actor,
            account=account,
            amount=amount,
            currency=currency,
            memo=values["memo"],
            bank_code=values["bank_code"],
            account_number=values["account_number"],
            holder_name=values["holder_name"],
        )
        return Response(presenters.withdrawal_json(withdrawal), status=status.HTTP_201_CREATED)


class WithdrawalDetailApi(TenantScopedView):
    @extend_schema(responses=WithdrawalOutput)
    def get(self, request: Request, withdrawal_id: str) -> Response:
        """One withdrawal or bank transfer."""
        return Response(
            presenters.withdrawal_json(
                Withdrawal.objects.get_for_tenant(self.tenant, withdrawal_id)
            )
        )


# --- Card payments ---------------------------------------------------------------------------


class CardPaymentListApi(TenantScopedListView):
    """Card payments to your nodes, newest first."""

    serializer_class = CardPaymentOutput
    model = CardPayment

    class InputSerializer(serializers.Serializer):
        account_id = serializers.CharField(help_text="The merchant node's account.")
        amount = AmountField()
        currency = serializers.CharField()
        card_number = serializers.CharField(help_text="A test card from docs/cards.md.")
        exp_month = serializers.IntegerField()
        exp_year = serializers.IntegerField()
        cvc = serializers.CharField(max_length=4)
        description = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=200
        )

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: CardPaymentOutput, 402: CardPaymentOutput},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        """Authorise a card payment. A decline answers 402 with the stored payment."""
        values = self.validated_input()
        account = account_get(tenant=self.tenant, account_id=values.pop("account_id"))
        amount, currency = _money(values)
        values.pop("amount"), values.pop("currency")
        payment = cards.card_authorize(
            actor=self.actor, account=account, amount=amount, currency=currency, **values
        )
        code = (
            status.HTTP_402_PAYMENT_REQUIRED
            if payment.status == CardPayment.Status.DECLINED
            else status.HTTP_201_CREATED
        )
        return Response(presenters.card_payment_json(payment), status=code)


class CardPaymentDetailApi(TenantScopedView):
    @extend_schema(responses=CardPaymentOutput)
    def get(self, request: Request, payment_id: str) -> Response:
        """One card payment."""
        return Response(
            presenters.card_payment_json(
                CardPayment.objects.get_for_tenant(self.tenant, payment_id)
            )
        )


class CardPaymentActionApi(TenantScopedView):
    """``capture`` and ``refund`` (optional ``amount``), ``cancel``, and ``challenge``
    (``{"passed": true|false}``, the cardholder's answer). All take an Idempotency-Key."""

    class InputSerializer(serializers.Serializer):
        amount = AmountField(required=False)
        passed = serializers.BooleanField(required=False)

    @extend_schema(
        parameters=[
            IDEMPOTENCY_PARAMETER,
            path_choices("action", ["capture", "refund", "cancel", "challenge"]),
        ],
        responses=CardPaymentOutput,
        operation_id="v1_card_payments_action",
    )
    @idempotent
    def post(self, request: Request, payment_id: str, action: str) -> Response:
        payment = CardPayment.objects.get_for_tenant(self.tenant, payment_id)
        values = self.validated_input()
        amount = None
        if values.get("amount") is not None:
            amount = inputs.parse_amount(values["amount"], payment.currency)
        if action == "capture":
            payment = cards.card_capture(payment=payment, actor=self.actor, amount=amount)
        elif action == "refund":
            payment = cards.card_refund(payment=payment, actor=self.actor, amount=amount).payment
        elif action == "cancel":
            payment = cards.card_cancel(payment=payment, actor=self.actor)
        elif action == "challenge":
            if "passed" not in values:
                raise inputs.invalid("passed", "Say whether the cardholder passed the challenge.")
            payment = cards.card_challenge(
                payment=payment, passed=values["passed"], actor=self.actor
            )
        else:
            raise inputs.invalid("action", f"Unknown action {action!r}.", code="unknown_action")
        payment.refresh_from_db()
        return Response(presenters.card_payment_json(payment))


# --- Tester controls -------------------------------------------------------------------------


class TestHelperDepositApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        from_bank_account_id = serializers.CharField(help_text="A simulated bank account of yours.")
        bank_code = serializers.CharField(help_text="The virtual account's bank.")
        account_number = serializers.CharField(help_text="The virtual account number.")
        amount = AmountField()
        currency = serializers.CharField()
        memo = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
        delay_seconds = serializers.IntegerField(required=False, default=0, min_value=0)

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: DepositOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        """Simulate an inbound deposit from a simulated person's account."""
        values = self.validated_input()
        sender = BankAccount.objects.get_for_tenant(self.tenant, values["from_bank_account_id"])
        amount, currency = _money(values)
        deposit = deposits.tester_deposit(
            tenant=self.tenant,
            actor=self.actor,
            sender=sender,
            bank_code=values["bank_code"],
            account_number=values["account_number"],
            amount=amount,
            currency=currency,
            memo=values["memo"],
            delay_seconds=values["delay_seconds"],
        )
        return Response(presenters.deposit_json(deposit), status=status.HTTP_201_CREATED)


class TestHelperWithdrawalRuleApi(TenantScopedView):
    """``fail_withdrawals`` (``count``, ``reason``) or ``delay_withdrawals`` (``count``,
    ``seconds``): the node's next withdrawals and transfers."""

    class InputSerializer(serializers.Serializer):
        count = serializers.IntegerField(min_value=1, max_value=1000)
        reason = serializers.ChoiceField(choices=Withdrawal.FailureReason.choices, required=False)
        seconds = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        parameters=[path_choices("action", ["fail_withdrawals", "delay_withdrawals"])],
        responses={201: WithdrawalRuleOutput},
    )
    def post(self, request: Request, node_id: str, action: str) -> Response:
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        values = self.validated_input()
        rule_action = {"fail_withdrawals": "fail", "delay_withdrawals": "delay"}.get(action)
        if rule_action is None:
            raise inputs.invalid("action", f"Unknown action {action!r}.", code="unknown_action")
        rule = withdrawals.tester_withdrawal_rule(
            node=node,
            actor=self.actor,
            action=rule_action,
            count=values["count"],
            reason=values.get("reason", ""),
            delay_seconds=values.get("seconds", 0),
        )
        return Response(presenters.withdrawal_rule_json(rule), status=status.HTTP_201_CREATED)


class TestHelperReturnApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(
            choices=Withdrawal.FailureReason.choices,
            default=Withdrawal.FailureReason.ACCOUNT_CLOSED,
        )

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses=WithdrawalOutput)
    @idempotent
    def post(self, request: Request, withdrawal_id: str) -> Response:
        """The receiving bank sends a paid withdrawal or transfer back."""
        withdrawal = Withdrawal.objects.get_for_tenant(self.tenant, withdrawal_id)
        values = self.validated_input()
        withdrawal = withdrawals.withdrawal_return(
            withdrawal=withdrawal, actor=self.actor, reason=values["reason"]
        )
        return Response(presenters.withdrawal_json(withdrawal))


class TestHelperBankApi(TenantScopedView):
    """``offline`` or ``online``: for your organization only."""

    @extend_schema(parameters=[path_choices("action", ["offline", "online"])], responses=BankOutput)
    def post(self, request: Request, code: str, action: str) -> Response:
        bank = network_banks.bank_get(code, "code")
        if action == "offline":
            network_banks.tester_bank_offline(tenant=self.tenant, bank=bank, actor=self.actor)
        elif action == "online":
            network_banks.tester_bank_online(tenant=self.tenant, bank=bank, actor=self.actor)
        else:
            raise inputs.invalid("action", f"Unknown action {action!r}.", code="unknown_action")
        return Response(
            presenters.bank_json(
                bank,
                offline_for_tenant=network_banks.bank_is_offline(tenant=self.tenant, bank=bank),
            )
        )


class TestHelperLogApi(TenantScopedListView):
    """Every tester control used in your organization, with who used it."""

    serializer_class = AuditLogOutput

    def get_queryset(self) -> QuerySet[AuditLogEntry]:
        return AuditLogEntry.objects.for_tenant(self.tenant).filter(
            Q(action__startswith="test_helper.") | Q(action="event.refired")
        )


class TestHelperRuleListApi(TenantScopedView):
    @extend_schema(responses=WithdrawalRuleOutput(many=True))
    def get(self, request: Request) -> Response:
        """The tester rules still waiting for withdrawals, oldest first."""
        rules = WithdrawalRule.objects.for_tenant(self.tenant).filter(remaining__gt=0)
        return Response([presenters.withdrawal_rule_json(r) for r in rules.order_by("created_at")])


class TestHelperScenarioApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        scenario = serializers.CharField(help_text="The scenario, as YAML or JSON text.")

    @extend_schema(responses={200: ScenarioRunOutput, 422: ScenarioRunOutput})
    def post(self, request: Request) -> Response:
        """Run a scenario in your organization, on a fresh test clock; answers its report
        (200 when every expectation held, 422 otherwise)."""
        values = self.validated_input()
        run = scenarios.scenario_run(
            tenant=self.tenant, actor=self.actor, source=values["scenario"]
        )
        return Response(
            {"id": str(run.pk), "passed": run.passed, "report": run.report},
            status=status.HTTP_200_OK if run.passed else status.HTTP_422_UNPROCESSABLE_ENTITY,
        )


class OperatorBankListApi(ListApiView):
    """Every bank of the network, as operators edit them."""

    permission_classes = [IsOperator]
    serializer_class = BankOutput
    pagination_class = None
    queryset = Bank.objects.all()
