"""Bank network API: banks, simulated bank accounts, account verification, deposits,
withdrawals and transfers, card payments, and the tester controls under
``/api/v1/test_helpers/``. Money-moving POSTs need an ``Idempotency-Key``."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from sandbox.tenants.access import actor_for
from sandbox.tenants.api import AuditLogOutput, TenantScopedListView, TenantScopedView
from sandbox.tenants.models import AuditLogEntry, Node
from sandbox.tenants.permissions import IsOperator
from wallets import inputs
from wallets.api import IDEMPOTENCY_PARAMETER
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
from wallets.selectors import account_get


def shape(name: str, presenter, doc: str = ""):
    """A serializer that renders with ``presenter`` (documented by name in OpenAPI)."""
    return type(
        name,
        (serializers.Serializer,),
        {"to_representation": lambda self, obj: presenter(obj), "__doc__": doc or name},
    )


BankOutput = shape("Bank", presenters.bank_json)
BankAccountOutput = shape("BankAccount", presenters.bank_account_json)
LinkOutput = shape("AccountLink", presenters.link_json)
DepositOutput = shape("Deposit", presenters.deposit_json)
WithdrawalOutput = shape("Withdrawal", presenters.withdrawal_json)
CardPaymentOutput = shape("CardPayment", presenters.card_payment_json)


@extend_schema_field(OpenApiTypes.STR)
class AmountField(serializers.Field):
    """An amount as the client sent it, for ``inputs.parse_amount`` to judge with its
    currency: a ``CharField`` would turn the JSON number ``100`` into ``"100"`` and let
    numbers through that ``/api/v1/transfers`` refuses (``invalid_amount``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            'A decimal string with at most the currency\'s decimals, e.g. "12.34"; never a number.',
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


def _money(data, currency_field="currency", amount_field="amount") -> tuple[int, str]:
    currency = inputs.parse_currency(data.get(currency_field))
    return inputs.parse_amount(data.get(amount_field), currency, amount_field), currency


# --- Banks -----------------------------------------------------------------------------------


class BankListApi(TenantScopedView):
    """The banks of the network, with hours, maintenance windows and whether each answers
    (for you: a bank you took offline shows as offline)."""

    @extend_schema(responses=BankOutput(many=True))
    def get(self, request):
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


class OperatorBankApi(APIView):
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
    def get(self, request, code):
        return Response(presenters.bank_json(network_banks.bank_get(code, "code")))

    @extend_schema(request=InputSerializer, responses=BankOutput)
    def patch(self, request, code):
        bank = network_banks.bank_get(code, "code")
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "daily_withdrawal_limit" in changes:
            changes["daily_withdrawal_limit"] = inputs.parse_amount(
                changes["daily_withdrawal_limit"], bank.currency, "daily_withdrawal_limit"
            )
        bank = network_banks.bank_update(bank=bank, actor=actor_for(request), **changes)
        return Response(presenters.bank_json(bank))


# --- Simulated bank accounts -----------------------------------------------------------------


class BankAccountListApi(TenantScopedListView):
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

    @extend_schema(request=InputSerializer, responses={201: BankAccountOutput})
    def post(self, request):
        """Open an account for a simulated person or company at a bank."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = bank_accounts.bank_account_create(
            tenant=self.tenant, actor=self.actor, **data.validated_data
        )
        return Response(presenters.bank_account_json(account), status=status.HTTP_201_CREATED)


class BankAccountDetailApi(TenantScopedView):
    @extend_schema(responses=BankAccountOutput)
    def get(self, request, bank_account_id):
        """The account and its statement: what its holder sees (verification codes too)."""
        account = BankAccount.objects.get_for_tenant(self.tenant, bank_account_id)
        return Response(presenters.bank_account_json(account, with_statement=True))


class BankAccountCloseApi(TenantScopedView):
    @extend_schema(request=None, responses=BankAccountOutput)
    def post(self, request, bank_account_id):
        account = BankAccount.objects.get_for_tenant(self.tenant, bank_account_id)
        account = bank_accounts.bank_account_close(bank_account=account, actor=self.actor)
        return Response(presenters.bank_account_json(account))


# --- Account verification --------------------------------------------------------------------


class AccountLinkListApi(TenantScopedListView):
    serializer_class = LinkOutput

    def get_queryset(self):
        return AccountLink.objects.for_tenant(self.tenant).select_related("bank_account")


class NodeAccountLinkApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        bank_code = serializers.CharField()
        account_number = serializers.CharField()
        holder_name = serializers.CharField(max_length=120)

    @extend_schema(request=InputSerializer, responses={201: LinkOutput})
    def post(self, request, node_id):
        """Link a bank account to the node: the bank checks the holder's name and sends
        1 KRW with a code in the memo (on the account's statement); confirm the code."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        link = links.account_link_start(node=node, actor=self.actor, **data.validated_data)
        return Response(presenters.link_json(link), status=status.HTTP_201_CREATED)


class AccountLinkDetailApi(TenantScopedView):
    @extend_schema(responses=LinkOutput)
    def get(self, request, link_id):
        return Response(
            presenters.link_json(AccountLink.objects.get_for_tenant(self.tenant, link_id))
        )


class AccountLinkConfirmApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=8)

    @extend_schema(request=InputSerializer, responses=LinkOutput)
    def post(self, request, link_id):
        """Wrong codes count; the fifth locks the link."""
        link = AccountLink.objects.get_for_tenant(self.tenant, link_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        link = links.account_link_confirm(
            link=link, code=data.validated_data["code"], actor=self.actor
        )
        return Response(presenters.link_json(link))


# --- Deposits --------------------------------------------------------------------------------


@extend_schema(parameters=[OpenApiParameter("status", str), OpenApiParameter("node", str)])
class DepositListApi(TenantScopedListView):
    serializer_class = DepositOutput

    def get_queryset(self):
        deposits = Deposit.objects.for_tenant(self.tenant).select_related("transaction")
        if value := self.request.query_params.get("status"):
            deposits = deposits.filter(status=value)
        if value := self.request.query_params.get("node"):
            deposits = deposits.filter(node=Node.objects.get_for_tenant(self.tenant, value))
        return deposits


class DepositDetailApi(TenantScopedView):
    @extend_schema(responses=DepositOutput)
    def get(self, request, deposit_id):
        return Response(
            presenters.deposit_json(Deposit.objects.get_for_tenant(self.tenant, deposit_id))
        )


# --- Withdrawals and transfers ---------------------------------------------------------------


@extend_schema(
    parameters=[
        OpenApiParameter("status", str),
        OpenApiParameter("kind", str, enum=Withdrawal.Kind.values),
        OpenApiParameter("node", str),
    ]
)
class WithdrawalListApi(TenantScopedListView):
    serializer_class = WithdrawalOutput

    class InputSerializer(serializers.Serializer):
        account_id = serializers.CharField()
        link_id = serializers.CharField(help_text="A verified account link of the same node.")
        amount = AmountField()
        currency = serializers.CharField()
        memo = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)

    def get_queryset(self):
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
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WithdrawalOutput},
    )
    @idempotent
    def post(self, request):
        """Withdraw to the node's own verified bank account. Held now, paid or released
        when the bank answers."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
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
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WithdrawalOutput},
    )
    @idempotent
    def post(self, request):
        """Send money to anyone's bank account. The bank checks the holder's name."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
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
    def get(self, request, withdrawal_id):
        return Response(
            presenters.withdrawal_json(
                Withdrawal.objects.get_for_tenant(self.tenant, withdrawal_id)
            )
        )


# --- Card payments ---------------------------------------------------------------------------


class CardPaymentListApi(TenantScopedListView):
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
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: CardPaymentOutput, 402: CardPaymentOutput},
    )
    @idempotent
    def post(self, request):
        """Authorise a card payment. A decline answers 402 with the stored payment."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
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
    def get(self, request, payment_id):
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
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses=CardPaymentOutput,
        operation_id="v1_card_payments_action",
    )
    @idempotent
    def post(self, request, payment_id, action):
        payment = CardPayment.objects.get_for_tenant(self.tenant, payment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
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

    @extend_schema(
        request=InputSerializer, parameters=[IDEMPOTENCY_PARAMETER], responses={201: DepositOutput}
    )
    @idempotent
    def post(self, request):
        """Simulate an inbound deposit from a simulated person's account."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
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

    @extend_schema(request=InputSerializer, responses={201: None})
    def post(self, request, node_id, action):
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
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
        body = {
            "id": rule.pk,
            "node_id": str(node.pk),
            "action": rule.action,
            "reason": rule.reason,
            "delay_seconds": rule.delay_seconds,
            "remaining": rule.remaining,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class TestHelperReturnApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(
            choices=Withdrawal.FailureReason.choices,
            default=Withdrawal.FailureReason.ACCOUNT_CLOSED,
        )

    @extend_schema(
        request=InputSerializer, parameters=[IDEMPOTENCY_PARAMETER], responses=WithdrawalOutput
    )
    @idempotent
    def post(self, request, withdrawal_id):
        """The receiving bank sends a paid withdrawal or transfer back."""
        withdrawal = Withdrawal.objects.get_for_tenant(self.tenant, withdrawal_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal = withdrawals.withdrawal_return(
            withdrawal=withdrawal, actor=self.actor, reason=data.validated_data["reason"]
        )
        return Response(presenters.withdrawal_json(withdrawal))


class TestHelperBankApi(TenantScopedView):
    """``offline`` or ``online``: for your organization only."""

    @extend_schema(request=None, responses=BankOutput)
    def post(self, request, code, action):
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

    def get_queryset(self):
        return AuditLogEntry.objects.for_tenant(self.tenant).filter(
            Q(action__startswith="test_helper.") | Q(action="event.refired")
        )


class TestHelperRuleListApi(TenantScopedView):
    @extend_schema(responses=None)
    def get(self, request):
        rules = WithdrawalRule.objects.for_tenant(self.tenant).filter(remaining__gt=0)
        return Response(
            [
                {
                    "id": r.pk,
                    "node_id": str(r.node_id),
                    "action": r.action,
                    "reason": r.reason,
                    "delay_seconds": r.delay_seconds,
                    "remaining": r.remaining,
                    "created_by": r.created_by,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rules.order_by("created_at")
            ]
        )


class TestHelperScenarioApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        scenario = serializers.CharField(help_text="The scenario, as YAML or JSON text.")

    @extend_schema(request=InputSerializer, responses=None)
    def post(self, request):
        """Run a scenario in your organization, on a fresh test clock; answers its report
        (200 when every expectation held, 422 otherwise)."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = scenarios.scenario_run(
            tenant=self.tenant, actor=self.actor, source=data.validated_data["scenario"]
        )
        return Response(
            {"id": str(run.pk), "passed": run.passed, "report": run.report},
            status=status.HTTP_200_OK if run.passed else status.HTTP_422_UNPROCESSABLE_ENTITY,
        )


class OperatorBankListApi(ListAPIView):
    permission_classes = [IsOperator]
    serializer_class = BankOutput
    pagination_class = None
    queryset = Bank.objects.all()
