"""The banks of the simulated network (one static table, read by the code and copied by the
bank network's data migration), which of them issue virtual accounts, and how numbers are made.

Korean virtual accounts (가상계좌) are ordinary-looking account numbers that a bank issues
on behalf of a business so that each payer or customer gets an address of their own; a
deposit to one is routed to the business. Ours are a bank code plus a 14-digit number whose
last digit is a Luhn check digit, so a typo in a deposit reference is caught before lookup.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import time
from typing import Any


@dataclass(frozen=True)
class Rules:
    """How the banks of one country work: their currency, clock, hours and limits (operators
    edit them per bank afterwards, in the ``banknet_bank`` rows)."""

    country: str
    currency: str
    timezone: str
    opens_at: time
    closes_at: time  # equal to opens_at: all day
    business_days: str  # digits, 0 = Monday
    maintenance_starts_at: time | None
    maintenance_ends_at: time | None
    processing_delay_seconds: int
    daily_withdrawal_limit: int  # minor units of the currency
    account_number_min_length: int
    account_number_max_length: int


KOREAN = Rules(
    country="KR", currency="KRW", timezone="Asia/Seoul",
    opens_at=time(0, 0), closes_at=time(0, 0), business_days="0123456",
    maintenance_starts_at=time(23, 30), maintenance_ends_at=time(0, 30),
    processing_delay_seconds=5, daily_withdrawal_limit=50_000_000,
    account_number_min_length=10, account_number_max_length=14,
)  # fmt: skip
US = Rules(
    country="US", currency="USD", timezone="America/New_York",
    opens_at=time(9, 0), closes_at=time(17, 0), business_days="01234",
    maintenance_starts_at=time(2, 0), maintenance_ends_at=time(3, 0),
    processing_delay_seconds=60, daily_withdrawal_limit=2_500_000,
    account_number_min_length=8, account_number_max_length=17,
)  # fmt: skip
JP = Rules(
    country="JP", currency="JPY", timezone="Asia/Tokyo",
    opens_at=time(8, 30), closes_at=time(15, 30), business_days="01234",
    maintenance_starts_at=None, maintenance_ends_at=None,
    processing_delay_seconds=30, daily_withdrawal_limit=10_000_000,
    account_number_min_length=7, account_number_max_length=7,
)  # fmt: skip


@dataclass(frozen=True)
class NetworkBank:
    """A bank of the simulated network. ``code`` is its real identifier: Korean banks under
    their three-digit KFTC codes, US banks under their ABA routing numbers, Japanese banks
    under their Zengin codes. ``ledger_code`` (three characters) names it in the ledger,
    where each bank has a settlement account per currency on the platform side."""

    code: str
    ledger_code: str
    name: str
    rules: Rules
    issues_virtual_accounts: bool

    def row(self) -> dict[str, Any]:
        """The ``banknet.Bank`` row's fields, its primary key (``code``) apart."""
        return {"ledger_code": self.ledger_code, "name": self.name, **asdict(self.rules)}


# The one table of banks. The bank network's data migration (banknet 0002) copied it into
# ``banknet_bank``; a test checks the copy still agrees. A change here needs a data
# migration of its own (and that test updated to the new migration).
NETWORK_BANKS: tuple[NetworkBank, ...] = (
    NetworkBank("004", "004", "KB Kookmin Bank", KOREAN, issues_virtual_accounts=True),
    NetworkBank("088", "088", "Shinhan Bank", KOREAN, issues_virtual_accounts=True),
    NetworkBank("020", "020", "Woori Bank", KOREAN, issues_virtual_accounts=True),
    NetworkBank("081", "081", "Hana Bank", KOREAN, issues_virtual_accounts=True),
    NetworkBank("011", "011", "NH NongHyup Bank", KOREAN, issues_virtual_accounts=True),
    NetworkBank("003", "003", "IBK Industrial Bank of Korea", KOREAN, issues_virtual_accounts=True),
    NetworkBank("021000021", "US1", "JPMorgan Chase Bank", US, issues_virtual_accounts=False),
    NetworkBank("026009593", "US2", "Bank of America", US, issues_virtual_accounts=False),
    NetworkBank("0005", "JP1", "MUFG Bank", JP, issues_virtual_accounts=False),
    NetworkBank("0001", "JP2", "Mizuho Bank", JP, issues_virtual_accounts=False),
)
# The card network settles through the ledger like a bank, but is no bank of the network.
CARD_NETWORK_LEDGER_CODE = "CRD"
CARD_NETWORK_NAME = "Sandbox card network"
# The FX desk (wallets.fx) keeps its liquidity and revenue accounts under its own code.
FX_DESK_LEDGER_CODE = "FXD"
FX_DESK_NAME = "Sandbox FX desk"


def _shown(bank: NetworkBank) -> str:
    return f"{bank.name} (sandbox)"


# Ledger code → name, of the banks that issue virtual accounts (the Korean ones).
BANKS: dict[str, str] = {
    bank.ledger_code: _shown(bank) for bank in NETWORK_BANKS if bank.issues_virtual_accounts
}
# Participants that hold platform settlement accounts but issue no virtual accounts: foreign
# banks and the card network.
SETTLEMENT_ONLY: dict[str, str] = {
    **{
        bank.ledger_code: _shown(bank) for bank in NETWORK_BANKS if not bank.issues_virtual_accounts
    },
    CARD_NETWORK_LEDGER_CODE: CARD_NETWORK_NAME,
    FX_DESK_LEDGER_CODE: FX_DESK_NAME,
}


def settlement_bank_name(code: str) -> str | None:
    """The name of a bank that may hold platform accounts, or None if unknown."""
    return BANKS.get(code) or SETTLEMENT_ONLY.get(code)


DEFAULT_BANK_CODE = "004"
ACCOUNT_NUMBER_LENGTH = 14


def luhn_check_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: the check digit will sit to the right of these
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_account_number(number: str) -> bool:
    return (
        len(number) == ACCOUNT_NUMBER_LENGTH
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def new_account_number() -> str:
    """A random, check-digited number; uniqueness per bank is the database's job."""
    body = "9" + "".join(secrets.choice("0123456789") for _ in range(ACCOUNT_NUMBER_LENGTH - 2))
    return body + luhn_check_digit(body)


def format_account_number(number: str) -> str:
    """Grouped as Korean banks print them: 9123-456789-012-3."""
    return f"{number[:4]}-{number[4:10]}-{number[10:13]}-{number[13:]}"
