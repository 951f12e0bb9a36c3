"""Account verification (1 KRW with a code): check the holder's name with the bank, send one
minor unit with a four-digit code in the memo, let the holder confirm it. Pending, then verified,
locked (five wrong codes) or expired."""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from sandbox.errors import ApplicationError, Conflict, NotFound, Unprocessable
from sandbox.events.services import action_record, event_record
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor
from wallets import services as ledger
from wallets.banknet import presenters
from wallets.banknet.common import external_account, node_now, posted, same_name, statement_add
from wallets.banknet.models import AccountLink
from wallets.banknet.network_banks import (
    bank_get,
    bank_is_offline,
    bank_settlement_account,
    normalize_account_number,
)
from wallets.locking import retrying
from wallets.models import Account
from wallets.posting import Leg, Posting, post_one

CODE_LIFETIME = timedelta(minutes=10)


@retrying
def account_link_start(
    *, node: Node, actor: Actor, bank_code: str, account_number: str, holder_name: str
) -> AccountLink:
    """Check the holder's name with the bank, then send one minor unit (1 KRW) to the
    account with a four-digit code in the memo; the holder confirms the code."""
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    bank = bank_get(bank_code)
    number = normalize_account_number(bank, account_number)
    external = external_account(node.tenant_id, bank, number)
    if external is None:
        raise NotFound(f"{bank.name} has no account {number}.", code="bank_account_not_found")
    if not external.is_open:
        raise Conflict("The account is closed.", code="account_closed")
    if not same_name(holder_name or "", external.holder_name):
        raise Unprocessable(
            "The holder's name does not match the bank's records.", code="holder_name_mismatch"
        )
    if bank_is_offline(tenant=node.tenant, bank=bank):
        raise Conflict(f"{bank.name} is offline; try again later.", code="bank_unavailable")
    if AccountLink.objects.filter(
        node=node,
        bank_account=external,
        status__in=[AccountLink.Status.PENDING, AccountLink.Status.VERIFIED],
    ).exists():
        raise Conflict("This account is already linked or being verified.", code="link_exists")
    code = f"{secrets.randbelow(10_000):04d}"
    link_id = uuid.uuid4()
    fees = ledger.platform_account(
        purpose=Account.Purpose.FEES, currency=bank.currency, bank_code=bank.ledger_code
    )
    result = post_one(
        Posting(
            kind="account_verification",
            legs=[
                Leg(fees.pk, -1, bank.currency),
                Leg(bank_settlement_account(bank).pk, 1, bank.currency),
            ],
            tenant_id=node.tenant_id,
            memo=f"Account verification for {external}",
            metadata={"account_link": str(link_id)},
        )
    )
    link = AccountLink.objects.create(
        id=link_id,
        tenant_id=node.tenant_id,
        node=node,
        bank_account=external,
        code=code,
        code_expires_at=node_now(node) + CODE_LIFETIME,
        verification_transaction=posted(result),
    )
    statement_add(external, 1, f"SANDBOX {code}", reference=str(link.pk))
    action_record(
        actor=actor,
        action="account_link.started",
        event_type="account_link.code_sent",
        tenant=node.tenant,
        node=node,
        obj=link,
        data=presenters.link_json(link),
    )
    return link


def account_link_confirm(*, link: AccountLink, code: str, actor: Actor) -> AccountLink:
    """Check the code the holder typed. A wrong code counts; the fifth locks the link.
    The count is committed even though the answer is an error."""
    link, problem = _link_confirm(link=link, code=str(code or "").strip())
    if problem is not None:
        raise problem
    return link


@transaction.atomic
def _link_confirm(*, link: AccountLink, code: str) -> tuple[AccountLink, ApplicationError | None]:
    link = (
        AccountLink.objects.select_for_update()
        .select_related("bank_account", "node")
        .get(pk=link.pk)
    )
    if link.status == AccountLink.Status.VERIFIED:
        return link, Conflict("This account is already verified.", code="link_verified")
    if link.status == AccountLink.Status.LOCKED:
        return link, Conflict(
            "Too many wrong codes: this link is locked. Start a new verification.",
            code="link_locked",
        )
    if link.status == AccountLink.Status.EXPIRED:
        return link, Conflict("The code expired. Start a new verification.", code="code_expired")
    if node_now(link.node) > link.code_expires_at:
        link.status = AccountLink.Status.EXPIRED
        link.save(update_fields=["status"])
        event_record(
            tenant=link.node.tenant,
            node=link.node,
            type="account_link.expired",
            obj=link,
            data=presenters.link_json(link),
        )
        return link, Conflict("The code expired. Start a new verification.", code="code_expired")
    if hmac.compare_digest(code.encode(), link.code.encode()):
        link.status = AccountLink.Status.VERIFIED
        link.verified_at = timezone.now()
        link.save(update_fields=["status", "verified_at"])
        event_record(
            tenant=link.node.tenant,
            node=link.node,
            type="account_link.verified",
            obj=link,
            data=presenters.link_json(link),
        )
        return link, None
    link.failed_attempts += 1
    locked = link.failed_attempts >= AccountLink.MAX_ATTEMPTS
    if locked:
        link.status = AccountLink.Status.LOCKED
    link.save(update_fields=["failed_attempts", "status"])
    event_record(
        tenant=link.node.tenant,
        node=link.node,
        type="account_link.locked" if locked else "account_link.code_rejected",
        obj=link,
        data=presenters.link_json(link),
    )
    if locked:
        return link, Conflict(
            "Wrong code, five times: this link is locked. Start a new verification.",
            code="link_locked",
        )
    left = AccountLink.MAX_ATTEMPTS - link.failed_attempts
    return link, Unprocessable(
        f"Wrong code; {left} attempt{'s' if left != 1 else ''} left.",
        code="wrong_code",
        fields={"code": [f"Wrong code; {left} left."], "attempts_left": left},
    )
