"""Abuse limits: throttles answer 429 with Retry-After in the error shape; wrong passwords
lock a login out (django-axes) until the cool-off or an operator lifts it; logins,
failures and lockouts are audited."""

from __future__ import annotations

import ipaddress
import secrets

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from rest_framework.test import APIClient

from sandbox.config import env_rate
from sandbox.tenants.models import AuditLogEntry, Tenant
from sandbox.tenants.services import Actor, invitation_create
from tests.api_schema import assert_matches_schema
from tests.conftest import RELAXED_THROTTLE_RATES
from tests.factories import DEFAULT_PASSWORD, api_key_for
from tests.helpers import error_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def address() -> str:
    """An address of this test alone (random, in IPv6's documentation prefix). The counts
    live in a cache that tests share, and on Redis so do the test processes and earlier
    runs: a test never clears it (that would reset another process's counts mid-test),
    it counts under names nobody else uses."""
    return str(ipaddress.IPv6Address(bytes.fromhex("20010db8") + secrets.token_bytes(12)))


@pytest.fixture
def throttle_rates(settings):
    def tighten(**rates: str) -> None:
        settings.SANDBOX_THROTTLE_RATES = {**RELAXED_THROTTLE_RATES, **rates}

    return tighten


def api_from(address: str, key: str | None = None) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert error_code(response) == "throttled"
    assert int(response["Retry-After"]) >= 1


# --- The window ---------------------------------------------------------------------------------


def test_processes_that_ask_together_never_let_more_through_than_the_limit(address, throttle_rates):
    """Forty requests at once from one address, a limit of ten: exactly ten pass. On Redis
    the window is one atomic script; a read-then-write of the count would let several
    requests that read it together all through."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from sandbox.throttles import AddressThrottle

    throttle_rates(address="10/minute")
    request = SimpleNamespace(META={"REMOTE_ADDR": address})
    with ThreadPoolExecutor(max_workers=8) as pool:
        passed = list(pool.map(lambda _: AddressThrottle().allow_request(request, None), range(40)))
    assert passed.count(True) == 10
    refused = AddressThrottle()
    assert refused.allow_request(request, None) is False
    assert 50 < refused.wait() <= 60  # the oldest of the ten leaves the window in a minute


# --- The API ----------------------------------------------------------------------------------


def test_it_limits_requests_per_api_key_from_any_address(alice, throttle_rates):
    throttle_rates(api_key="3/minute")

    for n in range(3):
        assert api_from(f"203.0.113.{n}", alice.api_key).get("/api/v1/nodes").status_code == 200
    response = api_from("203.0.113.9", alice.api_key).get("/api/v1/nodes")

    assert_throttled(response)
    assert response["Retry-After"] in {"59", "60"}
    # Another key is not held back by alice's.
    other_key = api_from("203.0.113.9", api_key_for(alice.tenant))
    assert other_key.get("/api/v1/nodes").status_code == 200


def test_it_limits_requests_per_address_whatever_the_key(alice, outsider, address, throttle_rates):
    throttle_rates(address="2/minute")

    assert api_from(address, alice.api_key).get("/api/v1/nodes").status_code == 200
    assert api_from(address, outsider.api_key).get("/api/v1/nodes").status_code == 200

    assert_throttled(api_from(address, outsider.api_key).get("/api/v1/nodes"))


def test_it_stops_an_address_that_guesses_keys_and_audits_it_once(alice, address, throttle_rates):
    throttle_rates(key_failure="3/minute")
    guesser = api_from(address)

    for n in range(3):
        guesser.credentials(HTTP_AUTHORIZATION=f"Bearer sk_test_guess{n}")
        assert guesser.get("/api/v1/nodes").status_code == 401
    guesser.credentials(HTTP_AUTHORIZATION="Bearer sk_test_guess4")
    assert_throttled(guesser.get("/api/v1/nodes"))

    # Even the right key waits out the window from that address; others are not affected.
    assert_throttled(api_from(address, alice.api_key).get("/api/v1/nodes"))
    assert api_from("192.0.2.77", alice.api_key).get("/api/v1/nodes").status_code == 200
    entry = AuditLogEntry.objects.get(action="api_key.authentication_throttled")
    assert entry.ip_address == address and entry.tenant is None


def test_it_limits_signups_per_address_and_creates_nothing_past_it(address, throttle_rates):
    throttle_rates(signup="2/hour")
    client = api_from(address)

    for n in range(2):
        body = {
            "organization": f"Burst {n}",
            "email": f"b{n}@burst.example",
            "password": "a-long-pass-1",
        }
        assert client.post("/api/v1/signup", body, format="json").status_code == 201
    body = {"organization": "Burst 3", "email": "b3@burst.example", "password": "a-long-pass-1"}
    response = client.post("/api/v1/signup", body, format="json")

    assert_throttled(response)
    assert int(response["Retry-After"]) > 3000  # the hour's window
    assert Tenant.objects.count() == 2


def test_the_dashboard_signup_answers_a_plain_429_page(address, throttle_rates):
    throttle_rates(signup="1/hour")
    browser = Client(REMOTE_ADDR=address)
    form = {"organization": "Won Labs", "email": "w@won.example", "password": "a-long-pass-1"}
    assert browser.post("/signup/", form).status_code == 302

    response = Client(REMOTE_ADDR=address).post("/signup/", {**form, "email": "x@won.example"})

    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert b"Too many" in response.content
    assert Client(REMOTE_ADDR=address).get("/signup/").status_code == 200  # the form is free


def test_it_limits_invitation_acceptances_per_address(alice, address, throttle_rates):
    throttle_rates(invitation_accept="1/hour")
    tokens = [
        invitation_create(
            tenant=alice.tenant,
            email=f"m{n}@alice.example",
            role="viewer",
            actor=Actor(user=alice.owner),
        ).token
        for n in range(2)
    ]
    client = api_from(address)
    body = {"password": "viewer-passphrase-9"}
    accepted = client.post(f"/api/v1/invitations/{tokens[0]}/accept", body, format="json")
    assert accepted.status_code == 201

    assert_throttled(client.post(f"/api/v1/invitations/{tokens[1]}/accept", body, format="json"))
    web = Client(REMOTE_ADDR=address).post(f"/invitations/{tokens[1]}/", body)
    assert web.status_code == 429


def test_it_limits_login_attempts_per_address_across_accounts(address, throttle_rates):
    throttle_rates(login="3/minute")
    browser = Client(REMOTE_ADDR=address)

    for n in range(3):
        form = {"username": f"u{n}@spray.example", "password": "wrong"}
        assert browser.post("/login/", form).status_code == 200
    response = browser.post("/login/", {"username": "u9@spray.example", "password": "wrong"})

    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


# --- Login lockout ----------------------------------------------------------------------------


def login(address: str, email: str, password: str):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": email, "password": password})


def test_a_login_is_audited_with_its_tenant_and_address(alice, address):
    response = login(address, alice.owner.email, DEFAULT_PASSWORD)

    assert response.status_code == 302
    entry = AuditLogEntry.objects.get(action="login.succeeded")
    assert (entry.tenant, entry.actor_user, entry.ip_address) == (
        alice.tenant,
        alice.owner,
        address,
    )


def test_wrong_passwords_lock_the_login_out_then_an_operator_lifts_it(
    alice, address, operator_api, settings
):
    settings.AXES_FAILURE_LIMIT = 5
    email = alice.owner.email

    # Case and spaces do not make another account.
    tries = [email, email.upper(), f" {email} ", email, email.title()]
    answers = [login(address, name, "not-the-password").status_code for name in tries]

    assert answers == [200, 200, 200, 200, 429]  # the form again, then locked
    locked = login(address, email, DEFAULT_PASSWORD)
    assert locked.status_code == 429 and int(locked["Retry-After"]) == 15 * 60
    assert login("192.0.2.200", email, DEFAULT_PASSWORD).status_code == 302  # another address
    assert AuditLogEntry.objects.filter(action="login.failed", tenant=alice.tenant).count() == 6
    lockout_entry = AuditLogEntry.objects.get(action="login.locked_out")
    assert lockout_entry.tenant == alice.tenant and lockout_entry.ip_address == address
    assert "not-the-password" not in AccessAttempt.objects.get().post_data

    # The operator sees it and lifts it (API)...
    listed = assert_matches_schema(operator_api.get("/api/v1/operator/lockouts"))
    assert [(row["username"], row["ip_address"], row["failures"]) for row in listed] == [
        (email, address, 6)
    ]
    lift = operator_api.post(f"/api/v1/operator/lockouts/{listed[0]['id']}/lift")
    assert lift.status_code == 204
    assert operator_api.get("/api/v1/operator/lockouts").json() == []
    lifted = AuditLogEntry.objects.get(action="login.lockout_lifted")
    assert lifted.is_operator_action and lifted.tenant == alice.tenant
    # ...and the right password works at once.
    assert login(address, email, DEFAULT_PASSWORD).status_code == 302
    assert operator_api.post(f"/api/v1/operator/lockouts/{listed[0]['id']}/lift").status_code == 404


def test_operators_see_and_lift_lockouts_in_the_console(alice, address, operator_web, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        login(address, alice.owner.email, "wrong")

    page = operator_web.get("/operator/lockouts/")
    assert page.status_code == 200 and alice.owner.email.encode() in page.content
    lockout = AccessAttempt.objects.get()
    assert operator_web.post(f"/operator/lockouts/{lockout.pk}/lift/").status_code == 302

    assert not AccessAttempt.objects.exists()
    assert login(address, alice.owner.email, DEFAULT_PASSWORD).status_code == 302


def test_tenants_cannot_see_or_lift_lockouts(alice):
    assert alice.api.get("/api/v1/operator/lockouts").status_code == 403
    assert alice.api.post("/api/v1/operator/lockouts/1/lift").status_code == 403
    assert alice.web.get("/operator/lockouts/").status_code == 302


def test_a_failed_login_for_an_unknown_account_is_audited_for_the_platform(address):
    assert login(address, "nobody@nowhere.example", "guess").status_code == 200

    entry = AuditLogEntry.objects.get(action="login.failed")
    assert entry.tenant is None and entry.data["username"] == "nobody@nowhere.example"
    assert "guess" not in str(entry.data)


# --- Settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "rate"),
    [("20/minute", "20/minute"), ("5/H", "5/h"), (" 7/second ", "7/second"), ("off", None)],
)
def test_rates_are_read_from_the_environment(monkeypatch, raw, rate):
    monkeypatch.setenv("SANDBOX_THROTTLE_LOGIN", raw)
    assert env_rate("SANDBOX_THROTTLE_LOGIN", "1/day") == rate


@pytest.mark.parametrize("raw", ["20", "0/minute", "20/fortnight", "\u0661\u0660/minute", "-1/s"])
def test_a_malformed_rate_stops_the_start(monkeypatch, raw):
    monkeypatch.setenv("SANDBOX_THROTTLE_LOGIN", raw)
    with pytest.raises(ImproperlyConfigured):
        env_rate("SANDBOX_THROTTLE_LOGIN", "1/day")


def test_the_admin_login_counts_toward_the_same_lockout(operator, address, settings):
    settings.AXES_FAILURE_LIMIT = 2
    admin = Client(REMOTE_ADDR=address)
    form = {"username": operator.email, "password": "wrong", "next": "/admin/"}

    assert admin.post("/admin/login/", form).status_code == 200
    assert admin.post("/admin/login/", form).status_code == 429

    assert login(address, operator.email, DEFAULT_PASSWORD).status_code == 429
    assert AuditLogEntry.objects.filter(action="login.locked_out").count() == 1
