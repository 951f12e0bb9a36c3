"""The simulated banks that issue virtual account numbers, and how numbers are made.

Korean virtual accounts (가상계좌) are ordinary-looking account numbers that a bank issues
on behalf of a business so that each payer or customer gets an address of their own; a
deposit to one is routed to the business. Ours are a bank code plus a 14-digit number whose
last digit is a Luhn check digit, so a typo in a deposit reference is caught before lookup.
"""

from __future__ import annotations

import secrets

# Bank code → name. Codes follow the Korean Financial Telecommunications & Clearings
# Institute's numbering; the banks are simulated. Each has a settlement account per
# currency on the platform side of the ledger.
BANKS: dict[str, str] = {
    "004": "KB Kookmin Bank (sandbox)",
    "088": "Shinhan Bank (sandbox)",
    "020": "Woori Bank (sandbox)",
    "081": "Hana Bank (sandbox)",
    "011": "NH NongHyup Bank (sandbox)",
    "003": "IBK Industrial Bank of Korea (sandbox)",
}
# Participants of the simulated bank network (``wallets.banknet``) that hold platform
# settlement accounts but issue no virtual accounts: foreign banks and the card network.
# The ledger's bank codes have three characters; their real identifiers live in banknet.
SETTLEMENT_ONLY: dict[str, str] = {
    "US1": "JPMorgan Chase Bank (sandbox)",
    "US2": "Bank of America (sandbox)",
    "JP1": "MUFG Bank (sandbox)",
    "JP2": "Mizuho Bank (sandbox)",
    "CRD": "Sandbox card network",
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
