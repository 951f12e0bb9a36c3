"""The demo logins ``seed_demo`` creates, in one place: the command makes them, and in
development (DEBUG) the landing page shows them."""

from __future__ import annotations

DEMO_PASSWORD = "sandbox-demo-2026"
OPERATOR_EMAIL = "operator@sandbox.test"
DEMO_STARTUPS = [
    # organization, owner e-mail, node name, country, base currency
    ("Kimchi Pay", "owner@kimchipay.test", "Kimchi Pay Seoul", "KR", "KRW"),
    ("Sakura Remit", "owner@sakuraremit.test", "Sakura Remit Tokyo", "JP", "JPY"),
]
# (e-mail, who), for people: the landing page's table.
DEMO_LOGINS = [
    (OPERATOR_EMAIL, "operator: console and admin"),
    *(
        (email, f"{organization}, {node} ({currency})")
        for organization, email, node, _, currency in DEMO_STARTUPS
    ),
]
