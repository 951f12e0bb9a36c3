"""Scenarios: a YAML or JSON file that seeds nodes and simulated bank accounts, scripts what
happens (deposits, transfers, tester controls, card payments, time passing on a test
clock), and states what should be true at the end. ``scenario_run`` plays it
synchronously and reports which steps worked and which expectations held.

    name: A deposit, a failed transfer, a return
    start: "2025-03-04T10:00:00+09:00"      # the test clock's start (default: now)
    banks:                                   # optional: see docs/scenarios/README.md
      - {bank: "088", offline: true}         # for this tenant, like the tester control
    nodes:
      - {ref: shop, name: Seoul shop, currency: KRW, balance: "20000"}  # opening balance
    bank_accounts:
      - {ref: kim, bank: "004", number: "123456789012", holder: Kim Minjun}
    steps:
      - deposit: {from: kim, to: shop, amount: "100000"}
      - advance: 1m
      - transfer: {from: shop, to: kim, amount: "30000", ref: paid}
      - fail_withdrawals: {node: shop, count: 1, reason: account_closed}
      - transfer: {from: shop, to: kim, amount: "10000", ref: refused}
      - transfer: {from: shop, to: kim, amount: "900000"}
        expect_error: insufficient_funds
      - advance: 1m
      - return: {transfer: paid}
    expect:
      - balance: {node: shop, available: "100000"}
      - status: {ref: paid, is: returned}
      - status: {ref: refused, is: failed, reason: account_closed}
      - events: {type: transfer.failed, count: 1}

Steps: ``deposit``, ``transfer``, ``withdraw`` (to a verified ``link``), ``link`` and
``confirm`` (account verification; ``code`` defaults to the one on the statement),
``card`` (``capture: true`` to capture at once), ``capture``, ``refund``,
``fail_withdrawals``, ``delay_withdrawals``, ``return``, ``bank_offline``,
``bank_online``, ``close_bank_account``, ``advance`` (``30s``, ``5m``, ``2h``, ``3d``,
``1h30m``). Any step may carry ``expect_error: <code>``.

``banks`` items set ``offline`` (the tester control, for the tenant) and, when an operator
runs the scenario, what Operator → Banks edits (``processing_delay_seconds``,
``daily_withdrawal_limit``, the maintenance window, hours, ``business_days``,
``is_online``), through the same services. A node's ``balance`` is posted before the steps
as a deposit from its bank (``deposits.opening_balance_post``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import yaml
from django.db.models import Model, Sum
from django.utils.dateparse import parse_datetime, parse_time

from sandbox.currencies import AmountError, to_decimal_string, to_minor_units
from sandbox.errors import ApplicationError
from sandbox.events import clocks, scheduling
from sandbox.events.models import Event, TestClock
from sandbox.events.services import outbox_relay
from sandbox.tenants import services as tenant_services
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor, audit_record
from wallets.banknet import bank_accounts, cards, deposits, links, network_banks, withdrawals
from wallets.banknet.models import (
    AccountLink,
    Bank,
    BankAccount,
    BankOutage,
    CardPayment,
    Deposit,
    ScenarioRun,
    StatementLine,
    Withdrawal,
)
from wallets.models import Account
from wallets.verification import verify_ledger

MAX_STEPS = 500
TOP_LEVEL = {"name", "start", "banks", "nodes", "bank_accounts", "steps", "expect"}
# What a scenario may set on a bank: the tester control (``offline``, for the tenant only)
# and, for operators, what Operator → Banks edits (for everyone, like saving that form).
BANK_KEYS = {"bank", "offline", *network_banks.BANK_EDITABLE_FIELDS}

M = TypeVar("M", bound=Model)


class ScenarioError(ApplicationError):
    default_code = "invalid_scenario"


def scenario_parse(source: str) -> dict[str, Any]:
    """JSON or YAML (YAML's safe loader: no objects, just data)."""
    if len(source) > 200_000:
        raise ScenarioError("A scenario has at most 200,000 characters.")
    try:
        spec = json.loads(source)
    except ValueError:
        try:
            spec = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"Neither JSON nor YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise ScenarioError("A scenario is a mapping with name, nodes, steps and expect.")
    unknown = set(spec) - TOP_LEVEL
    if unknown:
        raise ScenarioError(f"Unknown top-level keys: {', '.join(sorted(unknown))}.")
    for key in ("banks", "nodes", "bank_accounts", "steps", "expect"):
        if not isinstance(spec.get(key, []), list):
            raise ScenarioError(f"'{key}' is a list.")
    if len(spec.get("steps", [])) > MAX_STEPS:
        raise ScenarioError(f"At most {MAX_STEPS} steps.")
    return spec


def _bank_entry(index: int, item: Any) -> tuple[Bank, dict[str, Any], bool | None]:
    """One item of ``banks``: the bank, the operator settings it changes (as
    ``network_banks.bank_update`` takes them) and ``offline`` (None: left as it is)."""
    where = f"banks[{index}]"
    if not isinstance(item, dict):
        raise ScenarioError(f'{where} is a mapping such as {{bank: "004", offline: true}}.')
    unknown = set(item) - BANK_KEYS
    if unknown:
        raise ScenarioError(
            f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}; a bank takes "
            f"{', '.join(sorted(BANK_KEYS))}."
        )
    try:
        bank = network_banks.bank_get(item.get("bank"), "bank")
    except ApplicationError as error:
        raise ScenarioError(f"{where}: {error.message}") from None
    where = f"{where} ({bank.code})"
    changes: dict[str, Any] = {}
    for key in ("offline", "is_online"):
        if key in item and not isinstance(item[key], bool):
            raise ScenarioError(f"{where}.{key} is true or false, not {item[key]!r}.")
    if "is_online" in item:
        changes["is_online"] = item["is_online"]
    for key in ("opens_at", "closes_at", "maintenance_starts_at", "maintenance_ends_at"):
        if key not in item:
            continue
        value = item[key]
        if value is None and key.startswith("maintenance_"):
            changes[key] = None
            continue
        try:
            moment = parse_time(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None:
            raise ScenarioError(
                f'{where}.{key} is a quoted local time such as "02:00", not {value!r}.'
            )
        changes[key] = moment
    if ("maintenance_starts_at" in item) != ("maintenance_ends_at" in item):
        raise ScenarioError(
            f"{where}: set maintenance_starts_at and maintenance_ends_at together "
            "(both null: no maintenance)."
        )
    if "processing_delay_seconds" in item:
        value = item["processing_delay_seconds"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 86400:
            raise ScenarioError(
                f"{where}.processing_delay_seconds is 0 to 86400 (seconds), not {value!r}."
            )
        changes["processing_delay_seconds"] = value
    if "daily_withdrawal_limit" in item:
        value = item["daily_withdrawal_limit"]
        try:
            changes["daily_withdrawal_limit"] = to_minor_units(value, bank.currency)
        except AmountError as error:
            raise ScenarioError(
                f"{where}.daily_withdrawal_limit, in {bank.currency}: {error.message}"
            ) from None
    if "business_days" in item:
        value = item["business_days"]
        if not isinstance(value, str) or not value or set(value) - set("0123456"):
            raise ScenarioError(
                f'{where}.business_days are quoted digits, 0 (Monday) to 6 (Sunday): "01234".'
            )
        changes["business_days"] = value
    offline = item.get("offline")
    if not changes and offline is None:
        raise ScenarioError(f"{where} sets nothing.")
    return bank, changes, offline


def _opening_balance(index: int, item: Any) -> int | None:
    """A node's ``balance``: a decimal string in the node's currency (minor units)."""
    if not isinstance(item, dict) or "balance" not in item:
        return None
    value = item["balance"]
    currency = str(item.get("currency") or "KRW")
    try:
        return to_minor_units(value, currency)
    except AmountError as error:
        raise ScenarioError(
            f"nodes[{index}] ({item.get('ref')}).balance, in {currency}: {error.message}"
        ) from None


def scenario_validate(spec: dict[str, Any], actor: Actor) -> None:
    """What can be checked before anything runs: the banks' settings and who may set them,
    and the nodes' opening balances."""
    for index, item in enumerate(spec.get("banks", [])):
        bank, changes, _ = _bank_entry(index, item)
        if changes and not actor.is_operator:
            raise ScenarioError(
                f"banks[{index}] ({bank.code}): only operators change "
                f"{', '.join(sorted(changes))}, for every organization; a tester sets "
                "offline (for theirs).",
                code="operator_only",
                status_code=403,
            )
    for index, item in enumerate(spec.get("nodes", [])):
        _opening_balance(index, item)


def parse_duration(value: Any) -> timedelta:
    text = str(value).strip()
    parts = re.findall(r"(\d+)\s*([smhd])", text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text.replace(" ", ""):
        raise ScenarioError(f"A duration looks like 30s, 5m, 2h, 3d or 1h30m, not {value!r}.")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return timedelta(seconds=sum(int(n) * seconds[u] for n, u in parts))


@dataclass
class Runner:
    tenant: Tenant
    actor: Actor
    spec: dict[str, Any]
    clock: TestClock | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    bank_accounts: dict[str, BankAccount] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    node_ids: list[Any] = field(default_factory=list)

    # --- setting the stage -------------------------------------------------------------------

    def setup(self) -> None:
        name = str(self.spec.get("name") or "Scenario")[:60]
        start = self.spec.get("start")
        frozen = None
        if start:
            frozen = start if isinstance(start, datetime) else parse_datetime(str(start))
            if frozen is None or frozen.tzinfo is None:
                raise ScenarioError("'start' is an ISO 8601 time with its offset.")
        self.clock = clocks.test_clock_create(
            tenant=self.tenant, actor=self.actor, name=f"Scenario: {name}", frozen_time=frozen
        )
        for index, item in enumerate(self.spec.get("banks", [])):
            self.set_bank(*_bank_entry(index, item))
        for index, item in enumerate(self.spec.get("nodes", [])):
            ref = self._ref(item)
            node = tenant_services.node_create(
                tenant=self.tenant,
                actor=self.actor,
                name=str(item.get("name") or ref)[:120],
                country=str(item.get("country") or "KR"),
                base_currency=str(item.get("currency") or "KRW"),
                webhook_url=str(item.get("webhook_url") or ""),
            )
            clocks.test_clock_attach(clock=self.clock, node=node, actor=self.actor)
            self.nodes[ref] = node
            self.node_ids.append(node.pk)
            opening = _opening_balance(index, item)
            if opening is not None:
                deposits.opening_balance_post(
                    account=self.account(ref), amount=opening, actor=self.actor
                )
        for item in self.spec.get("bank_accounts", []):
            ref = self._ref(item)
            bank = network_banks.bank_get(item.get("bank"), "bank")
            number = network_banks.normalize_account_number(bank, item.get("number"), "number")
            existing = BankAccount.objects.filter(
                tenant=self.tenant, bank=bank, account_number=number
            ).first()
            if existing is not None and existing.holder_name == item.get("holder"):
                self.bank_accounts[ref] = existing
                continue
            self.bank_accounts[ref] = bank_accounts.bank_account_create(
                tenant=self.tenant,
                actor=self.actor,
                bank_code=bank.code,
                account_number=number,
                holder_name=str(item.get("holder") or ""),
                holder_type=str(item.get("holder_type") or "person"),
                currency=item.get("currency"),
            )

    def set_bank(self, bank: Bank, changes: dict[str, Any], offline: bool | None) -> None:
        """Through the services Operator → Banks and the tester controls use."""
        if changes:
            network_banks.bank_update(bank=bank, actor=self.actor, **changes)
        is_offline = BankOutage.objects.filter(
            tenant=self.tenant, bank=bank, ended_at__isnull=True
        ).exists()
        if offline and not is_offline:
            network_banks.tester_bank_offline(tenant=self.tenant, bank=bank, actor=self.actor)
        elif offline is False and is_offline:
            network_banks.tester_bank_online(tenant=self.tenant, bank=bank, actor=self.actor)

    def _ref(self, item: Any) -> str:
        if not isinstance(item, dict) or not item.get("ref"):
            raise ScenarioError("Every node and bank account needs a 'ref'.")
        return str(item["ref"])

    # --- lookups -----------------------------------------------------------------------------

    def node(self, ref: Any) -> Node:
        if str(ref) not in self.nodes:
            raise ScenarioError(f"No node with ref {ref!r}.")
        return self.nodes[str(ref)]

    def account(self, ref: Any, currency: Any = None) -> Account:
        node = self.node(ref)
        currency = str(currency or node.base_currency)
        account = (
            Account.objects.filter(wallet__node=node, currency=currency, status="open")
            .order_by("created_at")
            .first()
        )
        if account is None:
            raise ScenarioError(f"Node {ref!r} has no open {currency} account.")
        return account

    def bank_account(self, ref: Any) -> BankAccount:
        if str(ref) not in self.bank_accounts:
            raise ScenarioError(f"No bank account with ref {ref!r}.")
        account = self.bank_accounts[str(ref)]
        account.refresh_from_db()
        return account

    def obj(self, ref: Any, model: type[M]) -> M:
        found = self.objects.get(str(ref))
        if not isinstance(found, model):
            raise ScenarioError(f"No {model._meta.verbose_name} with ref {ref!r}.")
        found.refresh_from_db()
        return found

    def amount(self, value: Any, currency: str) -> int:
        try:
            return to_minor_units(str(value), currency)
        except AmountError as error:
            raise ScenarioError(f"Amount {value!r}: {error.message}") from None

    # --- time --------------------------------------------------------------------------------

    def settle(self) -> None:
        """Run, here and now, whatever is due: a scenario's report must not race a worker."""
        outbox_relay()
        for action_id in (
            scheduling.due_on_real_time().filter(tenant=self.tenant).values_list("pk", flat=True)
        ):
            scheduling.action_run(action_id=action_id)

    def test_clock(self) -> TestClock:
        """The scenario's clock (``setup`` makes it)."""
        if self.clock is None:
            raise ScenarioError("The scenario has no clock yet.")
        return self.clock

    def advance(self, delta: timedelta) -> None:
        clock = self.test_clock()
        clock.refresh_from_db()
        clocks.test_clock_advance(clock=clock, to=clock.frozen_time + delta, actor=self.actor)
        if not clocks.test_clock_run_advance(clock_id=clock.pk):
            # A worker took the advance first: wait for it.
            deadline = time.monotonic() + 120
            while TestClock.objects.filter(pk=clock.pk, status="advancing").exists():
                if time.monotonic() > deadline:
                    raise ScenarioError("The clock's advance did not finish within two minutes.")
                time.sleep(0.2)
        clock.refresh_from_db()

    # --- steps -------------------------------------------------------------------------------

    def run_step(self, index: int, step: Any) -> None:
        if not isinstance(step, dict):
            raise ScenarioError(f"Step {index + 1} is not a mapping.")
        expected_error = step.get("expect_error")
        actions = [k for k in step if k != "expect_error"]
        if len(actions) != 1:
            raise ScenarioError(f"Step {index + 1} needs exactly one action, not {actions}.")
        action = actions[0]
        args = step[action] if step[action] is not None else {}
        handler = getattr(self, f"step_{action}", None)
        if handler is None:
            raise ScenarioError(f"Step {index + 1}: unknown action {action!r}.")
        entry = {"step": index + 1, "action": action}
        try:
            detail = handler(args)
        except ScenarioError:
            raise
        except ApplicationError as error:
            if expected_error and error.code == expected_error:
                entry |= {"ok": True, "detail": f"refused as expected: {error.code}"}
            else:
                entry |= {"ok": False, "detail": f"{error.code}: {error.message}"}
        else:
            if expected_error:
                entry |= {"ok": False, "detail": f"expected the error {expected_error}, got none"}
            else:
                entry |= {"ok": True, "detail": detail or ""}
        self.settle()
        self.steps.append(entry)

    def _keep(self, args: dict, obj: Any) -> None:
        if args.get("ref"):
            self.objects[str(args["ref"])] = obj

    def step_advance(self, args: Any) -> str:
        delta = parse_duration(args)
        self.advance(delta)
        return f"clock at {self.test_clock().frozen_time.isoformat()}"

    def step_deposit(self, args: dict) -> str:
        sender = self.bank_account(args.get("from"))
        if "to" in args:
            account = self.account(args["to"], args.get("currency") or sender.currency)
            bank_code, number = account.bank_code, account.account_number
        else:
            bank_code, number = str(args.get("bank", "004")), str(args.get("number", ""))
        currency = str(args.get("currency") or sender.currency)
        deposit = deposits.tester_deposit(
            tenant=self.tenant,
            actor=self.actor,
            sender=sender,
            bank_code=bank_code,
            account_number=number,
            amount=self.amount(args.get("amount"), currency),
            currency=currency,
            memo=str(args.get("memo", "")),
            delay_seconds=int(args.get("delay_seconds", 0)),
        )
        self._keep(args, deposit)
        return f"deposit {deposit.pk} due {deposit.due_at.isoformat()}"

    def step_transfer(self, args: dict) -> str:
        account = self.account(args.get("from"), args.get("currency"))
        target = self.bank_account(args.get("to"))
        withdrawal = withdrawals.withdrawal_create(
            actor=self.actor,
            account=account,
            amount=self.amount(args.get("amount"), account.currency),
            currency=account.currency,
            bank_code=target.bank_id,
            account_number=target.account_number,
            holder_name=str(args.get("holder") or target.holder_name),
            memo=str(args.get("memo", "")),
        )
        self._keep(args, withdrawal)
        return f"transfer {withdrawal.pk} due {withdrawal.due_at.isoformat()}"

    def step_withdraw(self, args: dict) -> str:
        account = self.account(args.get("from"), args.get("currency"))
        link = self.obj(args.get("link"), AccountLink)
        withdrawal = withdrawals.withdrawal_create(
            actor=self.actor,
            account=account,
            link=link,
            amount=self.amount(args.get("amount"), account.currency),
            currency=account.currency,
        )
        self._keep(args, withdrawal)
        return f"withdrawal {withdrawal.pk} due {withdrawal.due_at.isoformat()}"

    def step_link(self, args: dict) -> str:
        target = self.bank_account(args.get("account"))
        link = links.account_link_start(
            node=self.node(args.get("node")),
            actor=self.actor,
            bank_code=target.bank_id,
            account_number=target.account_number,
            holder_name=str(args.get("holder") or target.holder_name),
        )
        self._keep(args, link)
        return f"1 {target.currency} sent with a code to {target}"

    def step_confirm(self, args: dict) -> str:
        link = self.obj(args.get("link"), AccountLink)
        code = args.get("code")
        if code is None:
            line = StatementLine.objects.filter(reference=str(link.pk)).latest("id")
            code = line.memo.split()[-1]
        link = links.account_link_confirm(link=link, code=str(code), actor=self.actor)
        return f"link {link.status}"

    def step_card(self, args: dict) -> str:
        account = self.account(args.get("to"), args.get("currency"))
        payment = cards.card_authorize(
            actor=self.actor,
            account=account,
            amount=self.amount(args.get("amount"), account.currency),
            currency=account.currency,
            card_number=str(args.get("card", "4242424242424242")),
            exp_month=int(args.get("exp_month", 12)),
            exp_year=int(args.get("exp_year", 2099)),
            cvc=str(
                args.get("cvc", "1234" if str(args.get("card", "")).startswith("3") else "123")
            ),
        )
        self._keep(args, payment)
        if args.get("capture") and payment.status == CardPayment.Status.AUTHORIZED:
            payment = cards.card_capture(payment=payment, actor=self.actor)
        return f"card payment {payment.status} {payment.decline_code}".strip()

    def step_capture(self, args: dict) -> str:
        payment = self.obj(args.get("payment"), CardPayment)
        amount = self.amount(args["amount"], payment.currency) if "amount" in args else None
        payment = cards.card_capture(payment=payment, actor=self.actor, amount=amount)
        return f"card payment {payment.status}"

    def step_refund(self, args: dict) -> str:
        payment = self.obj(args.get("payment"), CardPayment)
        amount = self.amount(args["amount"], payment.currency) if "amount" in args else None
        refund = cards.card_refund(payment=payment, actor=self.actor, amount=amount)
        return f"refunded {to_decimal_string(refund.amount, payment.currency)}"

    def step_fail_withdrawals(self, args: dict) -> str:
        rule = withdrawals.tester_withdrawal_rule(
            node=self.node(args.get("node")),
            actor=self.actor,
            action="fail",
            count=int(args.get("count", 1)),
            reason=str(args.get("reason", "")),
        )
        return f"next {rule.remaining} fail with {rule.reason}"

    def step_delay_withdrawals(self, args: dict) -> str:
        delay = parse_duration(args.get("by", "1h"))
        rule = withdrawals.tester_withdrawal_rule(
            node=self.node(args.get("node")),
            actor=self.actor,
            action="delay",
            count=int(args.get("count", 1)),
            delay_seconds=int(delay.total_seconds()),
        )
        return f"next {rule.remaining} wait {rule.delay_seconds} s more"

    def step_return(self, args: dict) -> str:
        withdrawal = self.obj(args.get("transfer") or args.get("withdrawal"), Withdrawal)
        withdrawal = withdrawals.withdrawal_return(
            withdrawal=withdrawal,
            actor=self.actor,
            reason=str(args.get("reason", "account_closed")),
        )
        return f"returned ({withdrawal.return_reason})"

    def step_bank_offline(self, args: dict) -> str:
        bank = network_banks.bank_get(args.get("bank"), "bank")
        network_banks.tester_bank_offline(tenant=self.tenant, bank=bank, actor=self.actor)
        return f"{bank.name} offline"

    def step_bank_online(self, args: dict) -> str:
        bank = network_banks.bank_get(args.get("bank"), "bank")
        woken = network_banks.tester_bank_online(tenant=self.tenant, bank=bank, actor=self.actor)
        return f"{bank.name} online; {woken} waiting transfer(s) resumed"

    def step_close_bank_account(self, args: Any) -> str:
        ref = args.get("account") if isinstance(args, dict) else args
        bank_accounts.bank_account_close(bank_account=self.bank_account(ref), actor=self.actor)
        return "closed"

    # --- expectations ------------------------------------------------------------------------

    def check(self, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict) or len(item) != 1:
            return {"expect": item, "ok": False, "detail": "An expectation has exactly one key."}
        kind, args = next(iter(item.items()))
        method = getattr(self, f"expect_{kind}", None)
        if method is None:
            return {"expect": item, "ok": False, "detail": f"Unknown expectation {kind!r}."}
        try:
            ok, detail = method(args or {})
        except (ApplicationError, KeyError, TypeError, ValueError) as error:
            ok, detail = False, str(getattr(error, "message", error))
        return {"expect": item, "ok": ok, "detail": detail}

    def expect_balance(self, args: dict) -> tuple[bool, str]:
        account = self.account(args.get("node"), args.get("currency"))
        account.refresh_from_db()
        actual = {
            "posted": account.posted_balance,
            "pending": account.pending_balance,
            "held": account.held_balance,
            "available": account.available_balance,
        }
        problems, shown = [], []
        for name, value in actual.items():
            shown.append(f"{name} {to_decimal_string(value, account.currency)}")
            if name in args and self.amount_or_zero(args[name], account.currency) != value:
                problems.append(name)
        return not problems, ", ".join(shown) + (
            f" (wrong: {', '.join(problems)})" if problems else ""
        )

    def amount_or_zero(self, value: Any, currency: str) -> int:
        return 0 if str(value).strip() in ("0", "0.0", "0.00") else self.amount(value, currency)

    def expect_status(self, args: dict) -> tuple[bool, str]:
        found = self.objects.get(str(args.get("ref")))
        if found is None:
            return False, f"No object with ref {args.get('ref')!r}."
        found.refresh_from_db()
        reason = (
            getattr(found, "failure_reason", "")
            or getattr(found, "return_reason", "")
            or getattr(found, "decline_code", "")
        )
        ok = found.status == args.get("is") and ("reason" not in args or reason == args["reason"])
        return ok, f"{found.status}{' (' + reason + ')' if reason else ''}"

    def expect_events(self, args: dict) -> tuple[bool, str]:
        events = Event.objects.filter(
            tenant=self.tenant, node__in=self.node_ids, type=args.get("type")
        )
        count = events.count()
        ok = count == int(args["count"]) if "count" in args else count > 0
        return ok, f"{count} {args.get('type')} event(s)"

    def expect_total_deposited(self, args: dict) -> tuple[bool, str]:
        account = self.account(args.get("node"), args.get("currency"))
        total = (
            Deposit.objects.filter(account=account, status="credited").aggregate(t=Sum("amount"))[
                "t"
            ]
            or 0
        )
        want = self.amount(args["amount"], account.currency)
        return total == want, f"{to_decimal_string(total, account.currency)} credited"


def scenario_sandbox_create(*, tenant: Tenant, name: str) -> Tenant:
    """The run's own tenant, where everything the scenario makes lives: ``tenant``'s own
    nodes, accounts, bank accounts, outages and events are never touched or reused, and the
    run's data goes in one action (``scenario_data_remove``). Nobody logs in to it; the
    run's page shows what is in it."""
    return Tenant.objects.create(
        name=f"Scenario of {tenant.name}: {name}"[:120], status=Tenant.Status.ACTIVE
    )


def scenario_run(*, tenant: Tenant, actor: Actor, source: str) -> ScenarioRun:
    """Play a scenario for ``tenant`` on a new test clock, in a tenant of the run's own, and
    store its report. Setup problems (an unknown bank, a bad ref) end the run early and are
    reported too."""
    spec = scenario_parse(source)
    scenario_validate(spec, actor)
    sandbox = scenario_sandbox_create(tenant=tenant, name=str(spec.get("name") or "Scenario"))
    runner = Runner(tenant=sandbox, actor=actor, spec=spec)
    report: dict[str, Any] = {
        "name": spec.get("name") or "Scenario",
        "steps": [],
        "expectations": [],
    }
    fatal = ""
    try:
        runner.setup()
        for index, step in enumerate(spec.get("steps", [])):
            runner.run_step(index, step)
    except ApplicationError as error:
        fatal = f"{error.code}: {error.message}"
    report["steps"] = runner.steps
    if not fatal:
        report["expectations"] = [runner.check(item) for item in spec.get("expect", [])]
    ledger = verify_ledger()
    report["ledger"] = {"consistent": ledger.ok, "problems": len(ledger.problems)}
    report["clock"] = {
        "id": str(runner.clock.pk) if runner.clock else None,
        "time": runner.clock.frozen_time.isoformat() if runner.clock else None,
    }
    report["nodes"] = {ref: str(node.pk) for ref, node in runner.nodes.items()}
    report["error"] = fatal or None
    passed = (
        not fatal
        and all(step["ok"] for step in runner.steps)
        and all(item["ok"] for item in report["expectations"])
        and ledger.ok
    )
    run = ScenarioRun.objects.create(
        tenant=tenant,
        name=str(report["name"])[:200],
        source=source,
        report=report,
        passed=passed,
        triggered_by=actor.label,
        sandbox=sandbox,
    )
    audit_record(
        actor=actor,
        action="test_helper.scenario",
        tenant=tenant,
        target=run,
        data={"passed": passed, "sandbox": str(sandbox.pk)},
    )
    return run


def report_text(run: ScenarioRun) -> str:
    report = run.report
    lines = [f"Scenario: {report['name']}  →  {'PASSED' if run.passed else 'FAILED'}"]
    for step in report["steps"]:
        lines.append(
            f"  {'✓' if step['ok'] else '✗'} step {step['step']} {step['action']}: {step['detail']}"
        )
    for item in report["expectations"]:
        lines.append(
            f"  {'✓' if item['ok'] else '✗'} expect {json.dumps(item['expect'])}: {item['detail']}"
        )
    ledger = report["ledger"]
    lines.append(
        f"  {'✓' if ledger['consistent'] else '✗'} ledger "
        f"{'consistent' if ledger['consistent'] else str(ledger['problems']) + ' problem(s)'}"
    )
    if report.get("error"):
        lines.append(f"  ✗ stopped: {report['error']}")
    return "\n".join(lines)
