"""Signing up in the browser, inviting a team, and what each role may do."""

import re

import pytest
from django.core import mail
from django.utils import timezone

from sandbox.tenants.models import (
    ApiKey,
    AuditLogEntry,
    Invitation,
    Membership,
    PlatformSettings,
    Tenant,
    User,
)
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, TenantFactory
from tests.helpers import api_as

pytestmark = pytest.mark.django_db

SIGNUP = {
    "organization": "Won Labs",
    "email": "Founder@WonLabs.example",
    "password": "a-long-passphrase-1",
}


def test_it_signs_up_in_the_browser_and_lands_on_the_dashboard(client):
    response = client.post("/signup/", SIGNUP, follow=True)

    assert response.redirect_chain[-1][0] == "/"
    membership = Membership.objects.get(user__email="founder@wonlabs.example")
    assert membership.role == Membership.Role.OWNER
    assert membership.tenant.name == "Won Labs"
    assert membership.tenant.status == Tenant.Status.ACTIVE
    assert b"Won Labs" in response.content
    assert AuditLogEntry.objects.filter(
        tenant=membership.tenant, action="tenant.signed_up"
    ).exists()


def test_it_starts_tenants_pending_when_operators_say_so(client):
    PlatformSettings.objects.update_or_create(
        id=1, defaults={"new_tenant_status": Tenant.Status.PENDING}
    )

    response = client.post("/signup/", SIGNUP, follow=True)

    assert Tenant.objects.get().status == Tenant.Status.PENDING
    assert b"awaits an operator" in response.content
    assert client.post("/api-keys/", {"name": "k"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_it_refuses_a_duplicate_email_whatever_its_case(client):
    MembershipFactory(user__email="founder@wonlabs.example")

    response = client.post("/signup/", SIGNUP)

    assert response.status_code == 200
    assert b"already exists" in response.content
    assert Tenant.objects.count() == 1


def test_api_signup_answers_bad_input_with_the_error_format(anonymous):
    response = anonymous.post(
        "/api/v1/signup", {"organization": "", "email": "nope"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"organization", "email", "password"}

    weak = anonymous.post(
        "/api/v1/signup", {**SIGNUP, "password": "12345678"}, format="json"
    ).json()["error"]
    assert weak["code"] == "weak_password"
    assert not User.objects.exists()


def long_email(length: int) -> str:
    """A valid address of exactly ``length`` characters (64-character local part)."""
    rest, labels = length - len("a" * 64 + "@"), []
    while rest > 63:
        labels.append("d" * 60)
        rest -= 61
    return "a" * 64 + "@" + ".".join([*labels, "e" * rest])


def test_an_email_longer_than_accounts_allow_is_a_clear_error_on_both_paths(anonymous, client):
    too_long = long_email(User._meta.get_field("email").max_length + 6)

    api = anonymous.post("/api/v1/signup", {**SIGNUP, "email": too_long}, format="json")
    page = client.post("/signup/", {**SIGNUP, "email": too_long})

    assert api.status_code == 400
    assert api.json()["error"]["code"] == "validation_error"
    assert set(api.json()["error"]["fields"]) == {"email"}
    assert page.status_code == 200 and "email" in page.context["form"].errors
    assert not User.objects.exists() and not AuditLogEntry.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/signup", "/signup/"])
def test_the_longest_valid_email_signs_up_and_is_audited_in_full(anonymous, client, path):
    email = long_email(User._meta.get_field("email").max_length)

    if path == "/signup/":
        assert client.post(path, {**SIGNUP, "email": email}).status_code == 302
    else:
        assert anonymous.post(path, {**SIGNUP, "email": email}, format="json").status_code == 201

    entry = AuditLogEntry.objects.get(action="tenant.signed_up")
    assert entry.actor_label == email  # PostgreSQL refused it when labels held 200 characters


def test_the_audit_label_holds_any_email_an_account_may_have():
    label = AuditLogEntry._meta.get_field("actor_label").max_length
    assert label >= User._meta.get_field("email").max_length


def test_an_invitation_to_an_impossible_address_is_a_clear_error(alice, client):
    too_long = long_email(User._meta.get_field("email").max_length + 6)

    api = api_as(alice.owner).post(
        "/api/v1/invitations", {"email": too_long, "role": "viewer"}, format="json"
    )
    client.force_login(alice.owner)
    page = client.post("/team/", {"email": too_long, "role": "viewer"})

    assert api.status_code == 400 and set(api.json()["error"]["fields"]) == {"email"}
    assert page.status_code == 200 and "email" in page.context["form"].errors
    assert not Invitation.objects.exists()


def test_an_owner_invites_a_viewer_who_joins_and_can_only_read(
    alice, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = api_as(alice.owner).post(
            "/api/v1/invitations",
            {"email": "viewer@alice.example", "role": "viewer"},
            format="json",
        )
    assert created.status_code == 201, created.content
    link = created.json()["link"]
    assert [m.to for m in mail.outbox] == [["viewer@alice.example"]]
    assert re.sub(r"^https?://[^/]+", "", link) in mail.outbox[0].body

    path = re.sub(r"^https?://[^/]+", "", link)
    joined = client.post(path, {"password": "viewer-passphrase-9"}, follow=True)
    assert joined.status_code == 200
    viewer = Membership.objects.get(user__email="viewer@alice.example")
    assert viewer.role == Membership.Role.VIEWER and viewer.tenant == alice.tenant

    assert client.get("/nodes/").status_code == 200
    assert (
        client.post("/nodes/", {"name": "x", "country": "KR", "base_currency": "KRW"}).status_code
        == 403
    )
    api = api_as(viewer.user)
    assert api.get("/api/v1/nodes").status_code == 200
    refused = api.post(
        "/api/v1/nodes", {"name": "x", "country": "KR", "base_currency": "KRW"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "read_only_role"

    assert client.get(path).status_code == 404  # an invitation works once


def invite(alice, *, email: str = "dev@alice.example", role: str = "developer") -> str:
    """An invitation's token, as its link carries it."""
    created = api_as(alice.owner).post(
        "/api/v1/invitations", {"email": email, "role": role}, format="json"
    )
    assert created.status_code == 201, created.content
    return created.json()["link"].rstrip("/").rsplit("/", 1)[-1]


def test_an_invited_person_joins_through_the_api_as_in_the_browser(alice, anonymous, client):
    token = invite(alice, email="viewer@alice.example", role="viewer")

    response = anonymous.post(
        f"/api/v1/invitations/{token}/accept",
        {"password": "viewer-passphrase-9", "full_name": "Vee Ewer"},
        format="json",
        REMOTE_ADDR="192.0.2.9",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tenant"]["id"] == str(alice.tenant.pk)
    assert (body["member"]["email"], body["member"]["role"]) == ("viewer@alice.example", "viewer")
    viewer = Membership.objects.select_related("user").get(user__email="viewer@alice.example")
    assert (viewer.tenant, viewer.role, viewer.user.full_name) == (
        alice.tenant,
        "viewer",
        "Vee Ewer",
    )
    entry = AuditLogEntry.objects.get(action="invitation.accepted")
    assert (entry.actor_user, entry.ip_address) == (viewer.user, "192.0.2.9")
    login = {"username": "viewer@alice.example", "password": "viewer-passphrase-9"}
    assert client.post("/login/", login).status_code == 302

    again = anonymous.post(
        f"/api/v1/invitations/{token}/accept", {"password": "viewer-passphrase-9"}, format="json"
    )
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "invitation_invalid"


def test_accepting_through_the_api_keeps_the_browser_rules(alice, anonymous):
    def accept(token, password="a-long-passphrase-7"):
        body = {} if password is None else {"password": password}
        return anonymous.post(f"/api/v1/invitations/{token}/accept", body, format="json")

    token = invite(alice, email="new@alice.example")
    missing = accept(token, password=None)
    assert missing.status_code == 400 and set(missing.json()["error"]["fields"]) == {"password"}
    weak = accept(token, password="12345678")
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
    assert not User.objects.filter(email="new@alice.example").exists()

    revoked = Invitation.objects.get(email="new@alice.example")
    api_as(alice.owner).post(f"/api/v1/invitations/{revoked.pk}/revoke")
    expired_token = invite(alice, email="late@alice.example")
    Invitation.objects.filter(email="late@alice.example").update(expires_at=timezone.now())
    for closed in (token, expired_token, "no-such-token"):
        refused = accept(closed)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "invitation_invalid"

    taken_token = invite(alice, email="taken@alice.example")
    MembershipFactory(user__email="taken@alice.example")
    taken = accept(taken_token)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "email_taken"
    assert not User.objects.filter(email__in=["new@alice.example", "late@alice.example"]).exists()


def test_only_owners_invite(alice):
    developer = MembershipFactory(tenant=alice.tenant, role=Membership.Role.DEVELOPER).user
    response = api_as(developer).post(
        "/api/v1/invitations", {"email": "x@alice.example", "role": "owner"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "owner_only"


def test_a_revoked_invitation_cannot_be_used(alice, client):
    api = api_as(alice.owner)
    created = api.post(
        "/api/v1/invitations", {"email": "late@alice.example", "role": "developer"}, format="json"
    )
    invitation_id = created.json()["invitation"]["id"]
    assert api.post(f"/api/v1/invitations/{invitation_id}/revoke").status_code == 200

    path = re.sub(r"^https?://[^/]+", "", created.json()["link"])
    assert client.post(path, {"password": "late-passphrase-9"}).status_code == 404
    assert not User.objects.filter(email="late@alice.example").exists()


def test_the_dashboard_shows_a_new_api_key_secret_exactly_once(alice, client):
    client.force_login(alice.owner)

    created = client.post("/api-keys/", {"name": "CI key"}, follow=True)
    secret = re.search(rb"sk_test_[A-Za-z0-9_\-]+", created.content).group().decode()

    key = ApiKey.objects.get(name="CI key")
    assert secret not in str(key.__dict__)  # only the hash is stored
    assert key.prefix == secret[: len(key.prefix)]
    assert secret.encode() not in client.get("/api-keys/").content
    assert created["Cache-Control"] == "no-store"
    assert ApiKey.objects.filter(tenant=alice.tenant).count() == 2  # alice's test key + this one


def test_people_log_in_with_their_email_and_password(client):
    user = MembershipFactory(tenant=TenantFactory()).user
    response = client.post("/login/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
