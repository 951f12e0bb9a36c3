"""The real-name check asks a bank account's holder name through this registry: the bank
network (``wallets.banknet``, a floor above) registers its matcher in its
``AppConfig.ready()``, so the platform floor never imports it. A matcher answers a score
(0-100, ``sandbox.identities.matching`` bands), never the holder's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HolderMatch:
    """What a bank answers about an account: whether it exists and is open, and how well the
    claimed name matches its holder's (0-100)."""

    found: bool
    open: bool = False
    score: int = 0


# (tenant, bank_code, account_number, claimed_name) -> HolderMatch, or None when the matcher
# does not know the bank code.
AccountHolderMatcher = Callable[[Any, str, str, str], HolderMatch | None]

account_holder_matchers: list[AccountHolderMatcher] = []


def register_account_holder_matcher(matcher: AccountHolderMatcher) -> None:
    if matcher not in account_holder_matchers:
        account_holder_matchers.append(matcher)


def match_account_holder(
    *, tenant: Any, bank_code: str, account_number: str, claimed_name: str
) -> HolderMatch:
    for matcher in account_holder_matchers:
        answer = matcher(tenant, bank_code, account_number, claimed_name)
        if answer is not None:
            return answer
    return HolderMatch(found=False)
