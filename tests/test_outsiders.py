"""The outsider walk: every route with a path parameter, under /api/v1/ and in the dashboard,
is tried by another tenant ("outsider") on objects of tenant "alice", with every method its
view answers. The outsider must get 404 (the API's error shape with a *_not_found code) and
change nothing; alice, on the same URL, must not (so the object was really hers).

A route with a path parameter and no entry in CHECKS fails here, naming the route: a new
endpoint with an id cannot ship without its outsider check. Entries are keyed by URL name,
which stays put when modules move."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from clearing import records
from clearing.models import Job, SettlementWindow
from sandbox.events.models import WebhookDelivery
from sandbox.identities.data import Address
from sandbox.identities.rotation import rotation_start
from sandbox.identities.services import node_identity_set
from sandbox.identities.vault import NodeIdentityData
from sandbox.tenants.models import ApiKey
from sandbox.tenants.services import TENANT_STATUS_TRANSITIONS
from tests.factories import AccountFactory, NodeFactory, fund
from tests.helpers import api_as, record
from tests.identities.factories import PersonFactory
from wallets.banknet.models import AccountLink, ScenarioRun
from wallets.fx import services as fx_services

PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
API_METHODS = ("get", "put", "patch", "post", "delete")
WEB_METHODS = ("get", "post")
# Public on purpose: an invitation's secret token is the credential.
PUBLIC = {"api:invitation-accept", "invitation-accept"}
# Not ours to walk: Django's admin has its own permission checks (staff only).
FOREIGN_PREFIXES = ("/admin/",)
CARD_NUMBER = "4242424242424242"
CLOCK_START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


# --- The routes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    view: Callable
    parameters: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("/api/")

    def __str__(self) -> str:
        return self.name


def all_routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns, prefix: str, namespaces: list[str]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespaces + ([pattern.namespace] if pattern.namespace else [])
                walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                name = ":".join([*namespaces, pattern.name or f"<unnamed {route}>"])
                found.append(Route(name, route, pattern.callback, tuple(PARAMETER.findall(route))))

    walk(get_resolver().url_patterns, "/", [])
    return found


def routes_with_parameters() -> list[Route]:
    return [
        route
        for route in all_routes()
        if route.parameters
        and route.name not in PUBLIC
        and not route.pattern.startswith(FOREIGN_PREFIXES)
    ]


# --- Alice's objects, each built the first time a route asks for it -----------------------


class Alice:
    """Tenant alice's objects, built through factories or her own API, never through the
    outsider. ``ids`` holds every id of hers, so a shared page can be searched for them."""

    def __init__(self, party, operator_api, capture) -> None:
        self.party = party
        self.api = party.api
        self.tenant = party.tenant
        self.operator_api = operator_api
        self.capture = capture  # django_capture_on_commit_callbacks
        self.ids: set[str] = {str(party.tenant.pk)}

    def keep(self, *ids) -> None:
        self.ids.update(str(i) for i in ids)

    def post(self, path: str, body: dict | None = None, client=None) -> dict:
        response = (client or self.api).post(
            path, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )
        assert response.status_code < 300, (path, response.status_code, response.content)
        return response.json()

    @cached_property
    def node(self):
        node = NodeFactory(tenant=self.tenant, name="Seoul shop")
        self.keep(node.pk, node.wallet.pk)
        return node

    @cached_property
    def account(self):
        account = self.node.wallet.accounts.get()
        fund(account, 100_000)
        self.keep(account.pk)
        return account

    @cached_property
    def savings(self):
        savings = AccountFactory(node=self.node, name="Savings")
        self.keep(savings.pk)
        return savings

    @cached_property
    def transaction(self):
        body = {
            "source_account_id": str(self.account.pk),
            "destination_account_id": str(self.savings.pk),
            "amount": "100",
            "currency": "KRW",
        }
        txn_id = self.post("/api/v1/transfers", body)["id"]
        self.keep(txn_id)
        return txn_id

    @cached_property
    def hold(self) -> str:
        body = {
            "account_id": str(self.account.pk),
            "counterparty_account_id": str(self.savings.pk),
            "amount": "5",
            "currency": "KRW",
        }
        hold_id = self.post("/api/v1/holds", body)["id"]
        self.keep(hold_id)
        return hold_id

    @cached_property
    def api_key(self) -> str:
        key_id = ApiKey.objects.get(tenant=self.tenant).pk
        self.keep(key_id)
        return str(key_id)

    @cached_property
    def invitation(self) -> str:
        body = {"email": "new@alice.example", "role": "viewer"}
        response = self.party.web.post("/api/v1/invitations", body, content_type="application/json")
        assert response.status_code == 201, response.content
        invitation_id = response.json()["invitation"]["id"]
        self.keep(invitation_id)
        return invitation_id

    @cached_property
    def event(self):
        event = record(self.node, type="deposit.credited")
        self.keep(event.pk)
        return event

    @cached_property
    def delivery(self) -> str:
        delivery = WebhookDelivery.objects.create(
            tenant=self.tenant,
            node=self.node,
            event=self.event,
            url="https://alice.example/hooks",
            expires_at=datetime(2999, 1, 1, tzinfo=UTC),
        )
        self.keep(delivery.pk)
        return str(delivery.pk)

    @cached_property
    def clock(self) -> str:
        body = {"name": "March", "frozen_time": CLOCK_START.isoformat()}
        clock_id = self.post("/api/v1/test_clocks", body)["id"]
        self.keep(clock_id)
        return clock_id

    @cached_property
    def closed_clock_day(self) -> tuple[str, str, str]:
        """(clock id, its first closed day, a transaction in that day's close)."""
        self.post(f"/api/v1/test_clocks/{self.clock}/attach", {"node": str(self.node.pk)})
        txn = fund(self.account, 1_000)
        self.keep(txn.uuid)
        with self.capture(execute=True):
            self.post(f"/api/v1/test_clocks/{self.clock}/end_day")
        closes = self.api.get(f"/api/v1/test_clocks/{self.clock}/closes").json()["results"]
        assert closes, "the clock's day did not close"
        return self.clock, closes[0]["day"], str(txn.uuid)

    @cached_property
    def closed_transaction(self) -> str:
        """A transaction of alice's in a closed platform day: the platform clock moves a day
        on, and an operator closes the day before."""
        txn_id = self.transaction
        self.post(
            "/api/v1/operator/platform_clock/advance",
            {"seconds": 86_400},
            client=self.operator_api,
        )
        with self.capture(execute=True):
            self.post("/api/v1/operator/clearing/close", client=self.operator_api)
        assert self.api.get(f"/api/v1/transactions/{txn_id}/proof").status_code == 200
        return txn_id

    @cached_property
    def anchored_transaction(self) -> str:
        """A large transfer between two of alice's nodes, anchored at once."""
        threshold = self.operator_api.put(
            "/api/v1/operator/clearing/thresholds",
            {"currency": "KRW", "min_amount": "1000"},
            format="json",
        )
        assert threshold.status_code == 200, threshold.content
        busan = NodeFactory(tenant=self.tenant, name="Busan shop").wallet.accounts.get()
        self.keep(busan.pk)
        body = {
            "source_account_id": str(self.account.pk),
            "destination_account_id": str(busan.pk),
            "amount": "5000",
            "currency": "KRW",
        }
        txn_id = self.post("/api/v1/transfers", body)["id"]
        self.keep(txn_id)
        assert records.anchor_large_transactions()
        return txn_id

    @cached_property
    def bank_account(self) -> str:
        body = {
            "bank_code": "004",
            "account_number": "123-456-789012",
            "holder_name": "Kim Minjun",
        }
        bank_account_id = self.post("/api/v1/bank_accounts", body)["id"]
        self.keep(bank_account_id)
        return bank_account_id

    @cached_property
    def link(self) -> str:
        assert self.bank_account  # Kim's account at KB, which the link's 1 KRW goes to
        body = {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"}
        link_id = self.post(f"/api/v1/nodes/{self.node.pk}/account_links", body)["id"]
        self.keep(link_id)
        return link_id

    @cached_property
    def deposit(self) -> str:
        body = {
            "from_bank_account_id": self.bank_account,
            "bank_code": self.account.bank_code,
            "account_number": self.account.account_number,
            "amount": "5000",
            "currency": "KRW",
        }
        deposit_id = self.post("/api/v1/test_helpers/deposits", body)["id"]
        self.keep(deposit_id)
        return deposit_id

    @cached_property
    def withdrawal(self) -> str:
        body = {
            "account_id": str(self.account.pk),
            "bank_code": "004",
            "account_number": "123456789012",
            "holder_name": "Kim Minjun",
            "amount": "1000",
            "currency": "KRW",
        }
        withdrawal_id = self.post("/api/v1/bank_transfers", body)["id"]
        self.keep(withdrawal_id)
        return withdrawal_id

    @cached_property
    def card_payment(self) -> str:
        body = {
            "account_id": str(self.account.pk),
            "amount": "1000",
            "currency": "KRW",
            "card_number": CARD_NUMBER,
            "exp_month": 1,
            "exp_year": 2031,
            "cvc": "123",
        }
        payment_id = self.post("/api/v1/card_payments", body)["id"]
        self.keep(payment_id)
        return payment_id

    @cached_property
    def scenario_run(self) -> str:
        report = {
            "name": "alice's",
            "steps": [],
            "expectations": [],
            "ledger": {"consistent": True, "problems": 0},
            "clock": {"id": None, "time": None},
            "nodes": {},
            "error": None,
        }
        run = ScenarioRun.objects.create(
            tenant=self.tenant, name="alice's", source="{}", report=report, triggered_by="test"
        )
        self.keep(run.pk)
        return str(run.pk)

    @cached_property
    def job(self) -> str:
        job = Job.objects.create(kind=Job.Kind.CLOSE, label="2025-03-10", tenant=self.tenant)
        return str(job.pk)

    @cached_property
    def settlement_window(self) -> str:
        window = SettlementWindow.objects.create(
            cycle=SettlementWindow._meta.get_field("cycle").choices[0][0],
            start_day=date(2025, 3, 10),
            end_day=date(2025, 3, 10),
            settle_on=date(2025, 3, 11),
        )
        return str(window.pk)

    @cached_property
    def lockout(self) -> int:
        """alice's owner locked out of the login from one address (django-axes)."""
        attempt = AccessAttempt.objects.create(
            username=self.party.owner.email,
            ip_address="198.51.100.7",
            user_agent="<unknown>",
            failures_since_start=settings.AXES_FAILURE_LIMIT,
            attempt_time=datetime.now(UTC),
        )
        return attempt.pk


# --- The registry: how to reach each route with alice's objects -----------------------------

OWNED = "owned"  # alice's object: the outsider gets 404 and changes nothing
OPERATOR = "operator"  # operators only: the outsider is refused (403) and changes nothing
SHARED = "shared"  # the platform's, seen by every tenant: nothing of alice's shows or changes


@dataclass(frozen=True)
class Check:
    kind: str
    urls: Callable[[Alice], list[dict]]  # URL keyword arguments, one dict per URL to try
    body: Callable[[Alice], dict] = field(default=lambda a: {})
    # A few dashboard pages answer a foreign id as they answer an unknown one, without a 404
    # (a redirect with a message): then the outsider's answer must equal an unknown id's.
    as_unknown: bool = False
    # Owner-only API routes refuse API keys (they act as developers): use owners' sessions.
    session: bool = False
    why: str = ""


def owned(urls, body=None, **options) -> Check:
    return Check(OWNED, _listed(urls), body or (lambda a: {}), **options)


def operator_only(urls, body=None) -> Check:
    return Check(OPERATOR, _listed(urls), body or (lambda a: {}))


def shared(urls, why: str) -> Check:
    return Check(SHARED, _listed(urls), why=why)


def _listed(urls):
    def build(alice: Alice) -> list[dict]:
        made = urls(alice)
        return made if isinstance(made, list) else [made]

    return build


def node(a):
    return {"node_id": a.node.pk}


def account(a):
    return {"account_id": a.account.pk}


def transaction(a):
    return {"transaction_id": a.transaction}


def hold(a):
    return {"hold_id": a.hold}


def event(a):
    return {"event_id": a.event.pk}


def delivery(a):
    return {"delivery_id": a.delivery}


def clock(a):
    return {"clock_id": a.clock}


def clock_close(a):
    clock_id, day, _ = a.closed_clock_day
    return {"clock_id": clock_id, "day": day}


def clock_close_proof(a):
    clock_id, day, txn = a.closed_clock_day
    return {"clock_id": clock_id, "day": day, "transaction_id": txn}


def closed_transaction(a):
    return {"transaction_id": a.closed_transaction}


def anchored_transaction(a):
    return {"transaction_id": a.anchored_transaction}


def bank_account(a):
    return {"bank_account_id": a.bank_account}


def link(a):
    return {"link_id": a.link}


def link_to_kim(a):
    """A link to Kim's account at KB (which must exist for the link's 1 KRW to arrive)."""
    assert a.bank_account
    return {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"}


def card_actions(a, actions=("capture", "refund", "cancel", "challenge")):
    return [{"payment_id": a.card_payment, "action": action} for action in actions]


def tenant_actions(a):
    return [{"tenant_id": a.tenant.pk, "action": action} for action in TENANT_STATUS_TRANSITIONS]


CHECKS: dict[str, Check] = {
    # tenants
    "api:node": owned(node, lambda a: {"name": "Renamed by an outsider"}),
    "api:node-deactivate": owned(node),
    "api:api-key-revoke": owned(lambda a: {"key_id": a.api_key}),
    "api:invitation-revoke": owned(lambda a: {"invitation_id": a.invitation}, session=True),
    "api:operator-tenant-action": operator_only(tenant_actions, lambda a: {"reason": "outsider"}),
    "dashboard:node": owned(node),
    "dashboard:node-deactivate": owned(node),
    "dashboard:api-key-revoke": owned(lambda a: {"key_id": a.api_key}),
    "dashboard:invitation-revoke": owned(lambda a: {"invitation_id": a.invitation}),
    "operator:tenant-action": operator_only(tenant_actions),
    "api:operator-lockout-lift": operator_only(lambda a: {"lockout_id": a.lockout}),
    "operator:lockout-lift": operator_only(lambda a: {"lockout_id": a.lockout}),
    # wallets
    "api:wallet": owned(node),
    "api:account": owned(account),
    "api:account-balance": owned(account),
    "api:account-close": owned(account),
    "api:hold": owned(hold),
    "api:hold-capture": owned(hold, lambda a: {"amount": "1"}),
    "api:hold-void": owned(hold),
    "api:transaction": owned(transaction),
    "api:transaction-reverse": owned(transaction),
    "wallets:wallet": owned(node),
    "wallets:transfer": owned(
        node,
        lambda a: {
            "source": str(a.account.pk),
            "destination": str(a.savings.pk),
            "amount": "1",
            "memo": "outsider",
        },
    ),
    "wallets:transaction": owned(transaction),
    "wallets:transaction-reverse": owned(transaction),
    # events, webhooks, test clocks
    "api:event": owned(event),
    "api:event-resend": owned(event),
    "api:webhook-delivery": owned(delivery),
    "api:webhook-delivery-resend": owned(delivery),
    "api:webhook-secrets": owned(node),
    "api:webhook-secret-rotate": owned(node),
    "api:webhook-endpoint": owned(node),
    "api:webhook-endpoint-enable": owned(node),
    "api:test-clock": owned(clock),
    "api:test-clock-advance": owned(clock, lambda a: {"frozen_time": "2025-03-11T09:00:00Z"}),
    "api:test-clock-attach": owned(clock, lambda a: {"node": str(a.node.pk)}),
    "api:test-clock-detach": owned(clock, lambda a: {"node": str(a.node.pk)}),
    "api:test-helper-event-refire": owned(event),
    "api:operator-platform-clock-action": operator_only(
        lambda a: [{"action": x} for x in ("advance", "freeze", "resume", "reset")],
        lambda a: {"seconds": 60},
    ),
    "events:event": owned(event),
    "events:event-resend": owned(event),
    "events:delivery": owned(delivery),
    "events:node-webhooks": owned(node),
    "events:node-webhook-enable": owned(node),
    "events:clock": owned(clock),
    "events:clock-action": owned(
        lambda a: [
            {"clock_id": a.clock, "action": x} for x in ("attach", "detach", "advance", "delete")
        ],
        lambda a: {"node": str(a.node.pk), "frozen_time": "2025-03-11T09:00"},
    ),
    "clearing_clocks:end-day": owned(clock),
    # the bank network
    "api:bank-account": owned(bank_account),
    "api:bank-account-close": owned(bank_account),
    "api:node-account-links": owned(
        node,
        link_to_kim,
    ),
    "api:account-link": owned(link),
    "api:account-link-confirm": owned(link, lambda a: {"code": "0000"}),
    "api:deposit": owned(lambda a: {"deposit_id": a.deposit}),
    "api:withdrawal": owned(lambda a: {"withdrawal_id": a.withdrawal}),
    "api:card-payment": owned(lambda a: {"payment_id": a.card_payment}),
    "api:card-payment-action": owned(card_actions, lambda a: {"passed": True}),
    "api:test-helper-node-rule": owned(
        lambda a: [
            {"node_id": a.node.pk, "action": x} for x in ("fail_withdrawals", "delay_withdrawals")
        ],
        lambda a: {"count": 1, "seconds": 60},
    ),
    "api:test-helper-return": owned(lambda a: {"withdrawal_id": a.withdrawal}),
    "api:test-helper-bank": shared(
        lambda a: [{"code": "004", "action": x} for x in ("offline", "online")],
        "a bank is the platform's; offline/online applies to the caller's organization only",
    ),
    "api:operator-bank": operator_only(lambda a: {"code": "004"}),
    "banknet:operator-bank": operator_only(lambda a: {"code": "004"}),
    "banknet:bank-account": owned(bank_account),
    "banknet:bank-toggle": shared(
        lambda a: [{"code": "004", "action": x} for x in ("offline", "online")],
        "a bank is the platform's; offline/online applies to the caller's organization only",
    ),
    "banknet:node": owned(node, lambda a: {"action": "deposit", "amount": "1"}),
    "banknet:node-live": owned(node),
    "banknet:return": owned(lambda a: {"withdrawal_id": a.withdrawal}),
    "banknet:card-action": owned(card_actions),
    "banknet:scenario": owned(lambda a: {"run_id": a.scenario_run}),
    "banknet:scenario-remove": owned(lambda a: {"run_id": a.scenario_run}),
    # clearing
    "api:transaction-proof": owned(closed_transaction),
    "api:transaction-record": owned(anchored_transaction),
    "api:node-record-key": owned(node, session=True),
    "api:test-clock-end-day": owned(clock),
    "api:test-clock-closes": owned(clock),
    "api:test-clock-close": owned(clock_close),
    "api:test-clock-close-proof": owned(clock_close_proof),
    "api:clearing-close": shared(
        lambda a: {"day": "2025-03-10"}, "a platform day's close is public by design"
    ),
    "api:clearing-ots": shared(
        lambda a: {"day": "2025-03-10"}, "a platform day's close is public by design"
    ),
    "api:settlement-window": shared(
        lambda a: {"window_id": a.settlement_window},
        "windows are the platform's; a tenant sees its own nodes' rows in them",
    ),
    "api:settlement-report": shared(
        lambda a: {"window_id": a.settlement_window},
        "windows are the platform's; a tenant sees its own nodes' rows in them",
    ),
    "api:operator-window-abort": operator_only(
        lambda a: {"window_id": a.settlement_window}, lambda a: {"reason": "outsider"}
    ),
    "api:operator-contract": operator_only(node, lambda a: {"cycle": "weekly"}),
    "api:operator-record": operator_only(anchored_transaction),
    "api:operator-job-retry": operator_only(lambda a: {"job_id": a.job}),
    "clearing:job-retry": operator_only(lambda a: {"job_id": a.job}),
    "clearing:contract-set": operator_only(node, lambda a: {"cycle": "weekly"}),
    "clearing:window": shared(
        lambda a: {"window_id": a.settlement_window},
        "windows are the platform's; a tenant sees its own nodes' rows in them",
    ),
    "clearing:proof": owned(
        closed_transaction,
        as_unknown=True,
        why="answers a foreign transaction as an unknown one: a redirect with a message",
    ),
}


# --- Escrows (wallets.escrow) --------------------------------------------------------------


def _alices_escrow(a, name: str) -> str:
    """An escrow of alice's from her main account to her savings, made once per name."""
    if name not in a.__dict__:
        body = {
            "payer_account_id": str(a.account.pk),
            "payee_account_id": str(a.savings.pk),
            "amount": "10",
            "currency": "KRW",
            "release_condition": "manual",
            "timeout_seconds": 3600,
            "dispute_window_seconds": 3600,
        }
        a.__dict__[name] = a.post("/api/v1/escrows", body)["id"]
        a.keep(a.__dict__[name])
    return a.__dict__[name]


def escrow(a):
    return {"escrow_id": _alices_escrow(a, "escrow")}


def escrow_dispute(a):
    if "escrow_dispute" not in a.__dict__:
        disputed = _alices_escrow(a, "disputed_escrow")
        dispute_id = a.post(f"/api/v1/escrows/{disputed}/dispute", {"reason": "alice's"})["id"]
        a.keep(dispute_id)
        a.__dict__["escrow_dispute"] = dispute_id
    return {"dispute_id": a.__dict__["escrow_dispute"]}


def _with_actions(kwargs, actions):
    return lambda a: [{**kwargs(a), "action": action} for action in actions]


ESCROW_BODY = {"amount": "1", "reason": "outsider", "evidence": "outsider"}
CHECKS.update(
    {
        "api:escrow": owned(escrow),
        "api:escrow-release": owned(escrow, lambda a: {"amount": "1"}),
        "api:escrow-refund": owned(escrow),
        "api:escrow-dispute-open": owned(escrow, lambda a: {"reason": "outsider"}),
        "api:escrow-dispute": owned(escrow_dispute),
        "api:escrow-dispute-evidence": owned(escrow_dispute, lambda a: {"evidence": "outsider"}),
        "api:test-helper-escrow-dispute": owned(
            _with_actions(escrow_dispute, ("submit_evidence", "win", "lose", "deadline"))
        ),
        "escrow:escrow": owned(escrow),
        "escrow:escrow-action": owned(
            _with_actions(escrow, ("release", "refund", "dispute")), lambda a: ESCROW_BODY
        ),
        "escrow:dispute-action": owned(
            _with_actions(escrow_dispute, ("evidence", "win", "lose", "deadline")),
            lambda a: ESCROW_BODY,
        ),
    }
)


# --- Push payments (issue 10): node keys, payment requests, authorizations ----------------
# Public on purpose: a node's JWKS, and the URL a payment QR carries (the signed request
# and its images; a random id, nothing the merchant did not mean to show).
PUBLIC |= {
    "node-jwks",
    "payments-public:request-jws",
    "payments-public:request-qr-png",
    "payments-public:request-qr-svg",
}


def _payer(a) -> tuple:
    """Alice's second node, whose funded account pays her shop's requests (made once)."""
    if "_payer" not in a.__dict__:
        payer = NodeFactory(tenant=a.tenant, name="Alice's payer")
        account = payer.wallet.accounts.get()
        fund(account, 100_000)
        a.keep(payer.pk, payer.wallet.pk, account.pk)
        a.__dict__["_payer"] = (payer, account)
    return a.__dict__["_payer"]


def _payment_request(a, order_id: str, *, paid: bool) -> dict:
    key = f"_payment_request_{order_id}"
    if key not in a.__dict__:
        body = {"account_id": str(a.account.pk), "order_id": order_id, "amount": "700"}
        request = a.post("/api/v1/payment_requests", {**body, "currency": "KRW"})
        a.keep(request["id"])
        if paid:
            payer, account = _payer(a)
            token = a.post(
                f"/api/v1/nodes/{payer.pk}/payment_authorizations",
                {"request_jws": request["jws"], "account_id": str(account.pk)},
            )["token"]
            request = a.post(f"/api/v1/payment_requests/{request['id']}/redeem", {"token": token})
            a.keep(request["transaction_id"])
        a.__dict__[key] = request
    return a.__dict__[key]


def paid_request(a):
    return {"request_id": _payment_request(a, "paid-1", paid=True)["id"]}


def open_request(a):
    return {"request_id": _payment_request(a, "open-1", paid=False)["id"]}


def _token_for_open_request(a) -> dict:
    payer, account = _payer(a)
    request = _payment_request(a, "open-1", paid=False)
    token = a.post(
        f"/api/v1/nodes/{payer.pk}/payment_authorizations",
        {"request_jws": request["jws"], "account_id": str(account.pk)},
    )["token"]
    return {"token": token}


def _authorization_body(a) -> dict:
    request = _payment_request(a, "open-2", paid=False)
    return {"request_jws": request["jws"], "account_id": str(_payer(a)[1].pk)}


CHECKS.update(
    {
        "api:node-keys": owned(
            node, lambda a: {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43}}
        ),
        "api:node-key-rotate": owned(node),
        "api:payment-request": owned(paid_request),
        "api:payment-request-cancel": owned(open_request),
        "api:payment-request-redeem": owned(open_request, _token_for_open_request),
        "api:payment-request-refunds": owned(paid_request, lambda a: {"amount": "1"}),
        "api:payment-request-receipt": owned(paid_request),
        "api:node-payment-authorizations": owned(
            lambda a: {"node_id": _payer(a)[0].pk}, _authorization_body
        ),
        "payments:checkout": owned(paid_request),
        "payments:status": owned(paid_request),
        "payments:refund": owned(paid_request, lambda a: {"amount": "1"}),
        "payments:cancel": owned(open_request),
        "payments:node-keys": owned(node),
    }
)


# --- Merchant settlement (issue 10, item 7) ---


def _settlement_batch(a) -> str:
    """Alice's node settled once: its link verified with the code of the 1 KRW, a
    contract, a paid order, and a cycle run now."""
    if "_settlement_batch" not in a.__dict__:
        code = AccountLink.objects.get(pk=a.link).code
        a.post(f"/api/v1/account_links/{a.link}/confirm", {"code": code})
        contract = a.post(
            f"/api/v1/nodes/{a.node.pk}/settlement_contract",
            {
                "account_id": str(a.account.pk),
                "link_id": a.link,
                "cycle": "daily",
                "fee_rate_bps": 250,
            },
        )
        _payment_request(a, "paid-1", paid=True)
        batch = a.post(f"/api/v1/nodes/{a.node.pk}/settlement_contract/run")
        a.keep(contract["id"], batch["id"], batch["withdrawal_id"], batch["fee_transaction_id"])
        a.__dict__["_settlement_batch"] = batch["id"]
    return a.__dict__["_settlement_batch"]


def settled_node(a):
    _settlement_batch(a)
    return {"node_id": a.node.pk}


def settlement_batch(a):
    return {"batch_id": _settlement_batch(a)}


CHECKS.update(
    {
        "api:node-settlement-contract": owned(settled_node, lambda a: {"fee_rate_bps": 1}),
        "api:node-settlement-run": owned(settled_node),
        "api:settlement-batch": owned(settlement_batch),
        "api:settlement-batch-statement": owned(settlement_batch),
        "api:settlement-batch-statement-signature": owned(settlement_batch),
        "settlement:run": owned(settled_node),
        "settlement:batch": owned(settlement_batch),
        "settlement:statement": owned(settlement_batch),
    }
)


# --- FX (issue 11): quotes and conversions; the operators' rate table ---


def _fx_conversion(a) -> dict:
    """Alice's node sold 10,000 won for dollars once (a USD account opened for it)."""
    if "_fx_conversion" not in a.__dict__:
        fx_services.pairs_seed()  # again, if a transactional test flushed the migrated table
        won = a.account  # the node's Main account, made (and funded) before the second one
        dollars = AccountFactory(node=a.node, currency="USD", name="Dollars")
        a.keep(dollars.pk)
        quote = a.post(
            "/api/v1/fx/quotes",
            {
                "node_id": str(a.node.pk),
                "source_currency": "KRW",
                "target_currency": "USD",
                "sell_amount": 10_000,
            },
        )
        conversion = a.post(
            "/api/v1/fx/conversions",
            {
                "quote_id": quote["id"],
                "source_account_id": str(won.pk),
                "target_account_id": str(dollars.pk),
            },
        )
        a.keep(quote["id"], conversion["id"], conversion["transaction_id"])
        a.__dict__["_fx_conversion"] = conversion
    return a.__dict__["_fx_conversion"]


# --- Identities: people and node identities (issue 9) ---


def person(a):
    if "_person" not in a.__dict__:
        made = PersonFactory(tenant=a.tenant, node=a.node)
        a.keep(made.pk)
        a.__dict__["_person"] = made
    return {"person_id": a.__dict__["_person"].pk}


def identified_node(a):
    if "_node_identity" not in a.__dict__:
        a.__dict__["_node_identity"] = node_identity_set(node=a.node, data=ALICE_BUSINESS)
        a.keep(a.__dict__["_node_identity"].pk)
    return {"node_id": a.node.pk}


def rotation_job(a):
    job = rotation_start(requested_by="test")
    a.keep(job.pk)
    return {"job_id": job.pk}


ALICE_BUSINESS = NodeIdentityData(
    legal_name="주식회사 앨리스",
    registration_number="220-81-62517",
    address=Address("테헤란로 1", "서울", "06236", "KR"),
)


def _business_body(a) -> dict:
    return {
        "legal_name": "Outsider Ltd",
        "registration_number": "220-81-62517",
        "address": {"street": "1 Main", "city": "Seoul", "postal_code": "1", "country": "KR"},
    }


# --- Identity credentials: SD-JWT (issue 9, item 7) ---
PUBLIC |= {"issuer-jwks"}  # the issuer's public keys (no parameter: listed for the record)


def _credential_world(a) -> dict:
    """Alice's verified person served by her node, a delivery credential, a courier node's
    request and the presentation made for it (made once)."""
    if "_credential_world" not in a.__dict__:
        from sandbox.identities import services as identity_services  # this section's own

        person = PersonFactory(tenant=a.tenant, node=a.node)
        identity_services.set_verification_level(person, "real_name", reason="outsider walk")
        address = {
            "street": "테헤란로 152",
            "city": "서울",
            "postal_code": "06236",
            "country": "KR",
        }
        credential = a.post(
            f"/api/v1/people/{person.pk}/credentials",
            {"kind": "delivery", "order_id": "ORD-1", "delivery_address": address},
        )
        courier = NodeFactory(tenant=a.tenant, name="Alice's courier")
        request = a.post(
            "/api/v1/presentation_requests",
            {
                "verifier_node": str(courier.pk),
                "credential_type": "delivery",
                "claims": ["recipient_matches_delivery_address"],
                "order_id": "ORD-1",
            },
        )
        made = a.post(
            f"/api/v1/credentials/{credential['id']}/presentations",
            {
                "audience": request["audience"],
                "nonce": request["nonce"],
                "claims": request["claims"],
            },
        )
        a.keep(
            person.pk, courier.pk, courier.wallet.pk, credential["id"], request["id"], made["id"]
        )
        a.__dict__["_credential_world"] = {
            "person": str(person.pk),
            "credential": credential["id"],
            "request": request,
            "presentation": made["id"],
        }
    return a.__dict__["_credential_world"]


def credential_person(a):
    return {"person_id": _credential_world(a)["person"]}


def credential(a):
    return {"credential_id": _credential_world(a)["credential"]}


def presentation_request(a):
    return {"request_id": _credential_world(a)["request"]["id"]}


def presentation(a):
    return {"presentation_id": _credential_world(a)["presentation"]}


def _present_body(a) -> dict:
    request = _credential_world(a)["request"]
    return {"audience": request["audience"], "nonce": "outsider", "claims": request["claims"]}


CHECKS.update(
    {
        "api:fx-quote": owned(lambda a: {"quote_id": _fx_conversion(a)["quote"]["id"]}),
        "api:fx-conversion": owned(lambda a: {"conversion_id": _fx_conversion(a)["id"]}),
        "api:operator-fx-pair": operator_only(
            lambda a: {"pair": "USD-KRW"}, lambda a: {"spread_bps": 1}
        ),
        "api:operator-fx-rate-events": operator_only(
            lambda a: {"pair": "USD-KRW"}, lambda a: {"kind": "jump", "value": "5"}
        ),
        "api:person": owned(person),
        "api:person-reveal": owned(person, lambda a: {"purpose": "outsider"}),
        "api:person-erase": owned(person, lambda a: {"reason": "outsider"}),
        "api:person-access-log": owned(person),
        "api:person-match": owned(person, lambda a: {"name": "김민수"}),
        "api:node-identity": owned(identified_node, _business_body),
        "api:operator-identity-key-rotation": operator_only(rotation_job),
        "api:operator-identity-key-rotation-resume": operator_only(rotation_job),
        "people:detail": owned(person),
        "people:reveal": owned(person, lambda a: {"purpose": "outsider"}),
        "people:erase": owned(person, lambda a: {"reason": "outsider", "confirm": "on"}),
        "people:node-identity": owned(identified_node),
        "api:person-credentials": owned(credential_person, lambda a: {"kind": "identity"}),
        "api:person-presentations": owned(credential_person),
        "api:credential": owned(credential),
        "api:credential-revoke": owned(credential),
        "api:credential-presentations": owned(credential, _present_body),
        "api:presentation-request": owned(presentation_request),
        "api:presentation": owned(presentation),
        "api:holder-keys": owned(
            node, lambda a: {"jwk": {"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}}
        ),
        "api:holder-key-rotate": owned(node),
        "api:node-credentials": owned(node),
        "credentials:credential": owned(credential),
        "credentials:request": owned(presentation_request, lambda a: {"step": "present"}),
        "credentials:person": owned(credential_person),
        "credentials:presentation": owned(presentation),
    }
)


# --- Identity verification (issue 9, items 3 and 4) ---
# Public on purpose: the simulated identity providers' JWKS and discovery documents.
PUBLIC |= {"oidc:jwks", "oidc:discovery"}


def verification_session(a):
    if "_verification_session" not in a.__dict__:
        body = {"person_id": str(person(a)["person_id"]), "type": "phone"}
        session = a.post("/api/v1/verification_sessions", body)
        a.post(f"/api/v1/verification_sessions/{session['id']}/submit", {"phone": "+821012345678"})
        a.keep(session["id"])
        a.__dict__["_verification_session"] = session["id"]
    return {"session_id": a.__dict__["_verification_session"]}


def social_link(a):
    if "_social_link" not in a.__dict__:
        body = {"person_id": str(person(a)["person_id"]), "provider": "sandbox-talk"}
        link = a.post("/api/v1/social_links", body)
        a.keep(link["id"])
        a.__dict__["_social_link"] = link["id"]
    return {"link_id": a.__dict__["_social_link"]}


CHECKS.update(
    {
        "api:verification-session": owned(verification_session),
        "api:verification-session-submit": owned(
            verification_session, lambda a: {"code": "000000"}
        ),
        "api:verification-session-cancel": owned(verification_session),
        "api:verification-session-redact": owned(verification_session),
        "api:test-helper-verification-session-force": owned(
            verification_session, lambda a: {"outcome": "verified"}
        ),
        "api:test-helper-verification-session-phone-code": owned(verification_session),
        "api:operator-verification-session-review": operator_only(
            verification_session, lambda a: {"decision": "approve"}
        ),
        "api:social-link": owned(social_link),
        "api:social-link-complete": owned(social_link, lambda a: {"id_token": "x.y.z"}),
        "identity_verification:session": owned(verification_session),
        "identity_verification:social-link-complete": owned(
            social_link, lambda a: {"id_token": "x.y.z"}
        ),
        "oidc:authorize": shared(
            lambda a: {"provider": "sandbox-talk"},
            why="the simulated login lists the visitor's own people only",
        ),
        "identity_verification:session-action": owned(
            _with_actions(verification_session, ("force", "cancel", "redact")),
            lambda a: {"outcome": "verified"},
        ),
    }
)


# First run (wallets.onboarding): the checklist's actions on a node.
CHECKS.update(
    {
        "onboarding-deposit": owned(node),
        "onboarding-test-webhook": owned(node),
        "onboarding-webhook-url": owned(node, lambda a: {"webhook_url": "https://example.com/x"}),
        "onboarding-sender": owned(node),
        "onboarding-status": owned(node),
    }
)

# --- Credit standing (issue 9, items 4-5: wallets.credit) ---


def _credit_person(a):
    """A person of alice's, served by her node, with a standing computed once."""
    if "_credit_person" not in a.__dict__:
        person = PersonFactory(tenant=a.tenant, node=a.node, customer_reference="credit-1")
        standing = a.post(f"/api/v1/people/{person.pk}/credit_standing/recompute")
        a.keep(person.pk, standing["id"])
        a.__dict__["_credit_person"] = person
    return {"person_id": a.__dict__["_credit_person"].pk}


def _credit_node(a):
    if "_credit_node" not in a.__dict__:
        standing = a.post(f"/api/v1/nodes/{a.node.pk}/credit_standing/recompute")
        a.keep(standing["id"])
        a.__dict__["_credit_node"] = a.node
    return {"node_id": a.node.pk}


CHECKS.update(
    {
        "api:person-credit-standing": owned(_credit_person),
        "api:person-credit-standing-recompute": owned(_credit_person),
        "api:person-attestations": owned(_credit_person),
        "api:node-credit-standing": owned(_credit_node),
        "api:node-credit-standing-recompute": owned(_credit_node),
        "api:node-attestations": owned(_credit_node),
        "credit:person": owned(_credit_person),
        "credit:person-card": owned(_credit_person),
        "credit:person-recompute": owned(_credit_person),
        "credit:node": owned(_credit_node),
        "credit:node-card": owned(_credit_node),
        "credit:node-recompute": owned(_credit_node),
    }
)


# --- Remittance (issue 11): remittances over bitcoin between nodes ---


def remittance(a):
    """Alice's remittance from a Seoul node to a Tokyo node (made once; its legs wait for a
    worker, which these tests do not run)."""
    if "_remittance" not in a.__dict__:
        fx_services.pairs_seed()  # again, if a transactional test flushed the migrated table
        seoul = NodeFactory(tenant=a.tenant, name="Remit Seoul", country="KR", base_currency="KRW")
        tokyo = NodeFactory(tenant=a.tenant, name="Remit Tokyo", country="JP", base_currency="JPY")
        sender, beneficiary = seoul.wallet.accounts.get(), tokyo.wallet.accounts.get()
        fund(sender, 500_000)
        a.keep(seoul.pk, seoul.wallet.pk, tokyo.pk, tokyo.wallet.pk, sender.pk, beneficiary.pk)
        made = a.post(
            "/api/v1/remittances",
            {
                "sender_account_id": str(sender.pk),
                "beneficiary_account_id": str(beneficiary.pk),
                "amount": "200000",
                "originator": {"name": "Kim Minjun"},
                "beneficiary": {"name": "Sato Yui"},
            },
        )
        a.keep(made["id"])
        a.__dict__["_remittance"] = {"remittance_id": made["id"]}
    return a.__dict__["_remittance"]


CHECKS.update(
    {
        "api:remittance": owned(remittance),
        "api:remittance-travel-rule": owned(remittance),
        "api:remittance-receipt": owned(remittance),
        "api:test-helper-remittance-advance": owned(remittance, lambda a: {"status": "processing"}),
        "remittance:detail": owned(remittance),
        "remittance:legs": owned(remittance),
    }
)


# --- What must not change ------------------------------------------------------------------

# Written on every authenticated request, by the outsider's own credentials.
NOISE = {("tenants", "apikey"): {"last_used_at"}}


def project_models():
    for model in apps.get_models():
        if model.__module__.split(".")[0] in ("sandbox", "wallets", "clearing"):
            yield model


def database_state() -> dict:
    """Every row of the project's tables (noise fields left out), by table."""
    state = {}
    for model in project_models():
        skip = NOISE.get((model._meta.app_label, model._meta.model_name), set())
        names = [f.attname for f in model._meta.concrete_fields if f.name not in skip]
        state[model._meta.label] = {
            row[0]: row for row in model.objects.order_by("pk").values_list("pk", *names)
        }
    return state


def changes(before: dict, after: dict) -> dict:
    """The rows added, removed or changed, by table."""
    found = {}
    for table, rows in after.items():
        old = before[table]
        changed = [row for pk, row in rows.items() if old.get(pk) != row]
        removed = [row for pk, row in old.items() if pk not in rows]
        if changed or removed:
            found[table] = changed + removed
    return found


# --- The walk -------------------------------------------------------------------------------


def methods_of(route: Route) -> list[str]:
    view = getattr(route.view, "cls", None) or getattr(route.view, "view_class", None)
    if view is not None:
        return [m for m in API_METHODS if hasattr(view, m)]
    return list(WEB_METHODS)  # a function view: a 405 says it does not answer


def call(client, method: str, path: str, body: dict, *, api: bool):
    if api:
        # A GET has no body: the test client would send it as query parameters, which the
        # API refuses (parameter_unknown) before it looks anything up.
        data = None if method == "get" else body
        return getattr(client, method)(
            path, data, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )
    if method == "get":
        return client.get(path)
    return client.post(path, body)


def unknown(kwargs: dict, alice: Alice) -> dict:
    """The same URL with every id of alice's replaced by one that belongs to nobody."""
    return {
        key: (str(uuid.uuid4()) if str(value) in alice.ids else value)
        for key, value in kwargs.items()
    }


ROUTES = routes_with_parameters()


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_every_route_with_a_parameter_has_an_outsider_check(route):
    assert route.name in CHECKS, (
        f"{route.pattern} ({route.name}) takes a path parameter but has no outsider check: "
        f"add an entry for {route.name!r} to CHECKS in tests/test_outsiders.py"
    )


def test_every_check_names_a_route_that_exists():
    names = {route.name for route in ROUTES}
    assert sorted(set(CHECKS) - names) == []


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in ROUTES if r.name in CHECKS], ids=str)
def test_an_outsider_cannot_reach_alices_objects(
    route, alice, outsider, operator_api, banks, celery_eager, django_capture_on_commit_callbacks
):
    check = CHECKS[route.name]
    world = Alice(alice, operator_api, django_capture_on_commit_callbacks)
    urls = check.urls(world)
    body = check.body(world)
    if route.is_api and check.session:
        theirs, mine = api_as(outsider.owner), api_as(alice.owner)
    elif route.is_api:
        theirs, mine = outsider.api, alice.api
    else:
        theirs, mine = outsider.web, alice.web
    methods = methods_of(route)
    assert methods, f"{route.pattern} answers no method"

    answered = []
    for kwargs in urls:
        path = reverse(route.name, kwargs=kwargs)
        for method in methods:
            before = database_state()
            response = call(theirs, method, path, body, api=route.is_api)
            if response.status_code == 405 and not route.is_api:
                continue
            answered.append((method, path))
            where = (method, path, response.status_code, response.content[:300])
            if check.kind == OWNED and check.as_unknown:
                stranger = reverse(route.name, kwargs=unknown(kwargs, world))
                expected = call(theirs, method, stranger, body, api=route.is_api)
                assert response.status_code == expected.status_code, where
                assert response.get("Location") == expected.get("Location"), where
            elif check.kind == OWNED:
                assert response.status_code == 404, where
                if route.is_api:
                    assert response.json()["error"]["code"].endswith("_not_found"), where
            elif check.kind == OPERATOR:
                assert response.status_code in (302, 403), where
                if route.is_api:
                    assert response.json()["error"]["code"] == "operator_only", where
                else:
                    assert response.status_code == 403 or "/login/" in response["Location"]
            else:
                assert response.status_code < 500, where
                content = b"".join(response) if response.streaming else response.content
                leaked = [i for i in world.ids if i.encode() in content]
                assert not leaked, (where, leaked)
            diff = changes(before, database_state())
            if check.kind == SHARED:
                diff = {
                    table: rows
                    for table, rows in diff.items()
                    if any(str(value) in world.ids for row in rows for value in row)
                }
            assert not diff, (method, path, diff)
    assert answered, f"{route.pattern} answered every method with 405"

    if check.kind != OWNED:
        return
    # Alice reaches each of them: the outsider's 404 was about tenancy, not a wrong id.
    for kwargs in urls:
        path = reverse(route.name, kwargs=kwargs)
        for method in methods:
            response = call(mine, method, path, body, api=route.is_api)
            if response.status_code == 405 and not route.is_api:
                continue
            where = (method, path, response.status_code, response.content[:300])
            if method == "get":
                assert response.status_code == 200, where
            else:
                assert response.status_code != 404, where
