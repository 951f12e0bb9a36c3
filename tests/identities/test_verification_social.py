"""Secondary identity from two simulated social identity providers: their id_tokens are
OpenID Connect id_tokens a library none of us wrote (PyJWT) verifies against the published
JWKS, and the platform links an account only after its own verification (joserfc):
forged signature, wrong issuer, audience or nonce, expired or replayed tokens are refused
and change nothing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt as josejwt
from joserfc.jwk import ECKey, OctKey

from sandbox.identities.verification import providers
from sandbox.identities.verification.models import SocialLink
from sandbox.identities.verification.social import LINK_LIFETIME

pytestmark = pytest.mark.django_db


def start(kyc, person, provider="sandbox-talk") -> dict:
    return kyc.post("social_links", {"person_id": str(person.pk), "provider": provider}, status=201)


def login(kyc, person, link: dict, **extra) -> str:
    body = {"provider": link["provider"], "person_id": str(person.pk), "nonce": link["nonce"]}
    return kyc.post("test_helpers/social_login", {**body, **extra})["id_token"]


def complete(kyc, link: dict, id_token: str):
    return kyc.api.post(
        f"/api/v1/social_links/{link['id']}/complete", {"id_token": id_token}, format="json"
    )


def refused(kyc, person, link: dict, id_token: str) -> str:
    answer = complete(kyc, link, id_token)
    assert answer.status_code == 400, answer.content
    assert SocialLink.objects.get(pk=link["id"]).status == "pending"
    person.refresh_from_db()
    assert person.verification_level == "unverified"
    return answer.json()["error"]["code"]


@pytest.mark.parametrize("provider", sorted(providers.PROVIDERS))
def test_the_providers_publish_their_keys_and_discovery_documents(client, provider):
    discovery = client.get(f"/oidc/{provider}/.well-known/openid-configuration").json()
    assert discovery["issuer"].endswith(f"/oidc/{provider}")
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256"]
    keys = client.get(f"/oidc/{provider}/jwks.json")
    assert keys["Content-Type"] == "application/jwk-set+json"
    jwks = keys.json()
    assert all("d" not in key for key in jwks["keys"])  # public halves only
    assert pyjwt.PyJWKSet.from_dict(jwks).keys  # a JWK Set another library reads
    assert client.get("/oidc/sandbox-nobody/jwks.json").status_code == 404


@pytest.mark.parametrize("provider", sorted(providers.PROVIDERS))
def test_a_login_links_the_account_and_makes_the_person_secondary(kyc, client, provider):
    person = kyc.person()
    link = start(kyc, person, provider)
    assert link["status"] == "pending" and link["client_id"] == f"fsbx-{kyc.party.tenant.pk}"
    id_token = login(kyc, person, link)

    # An independent library verifies it against the published JWKS.
    jwks = pyjwt.PyJWKSet.from_dict(client.get(f"/oidc/{provider}/jwks.json").json())
    header = pyjwt.get_unverified_header(id_token)
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims = pyjwt.decode(
        id_token,
        key.key,
        algorithms=["ES256"],
        audience=link["client_id"],
        issuer=link["issuer"],
        options={"verify_exp": False, "verify_iat": False},  # the node's clock is in 2026-03
    )
    assert claims["nonce"] == link["nonce"]
    assert claims["exp"] - claims["iat"] == 600
    assert str(person.pk) not in json.dumps(claims)  # a pairwise subject, not our id

    answer = complete(kyc, link, id_token)
    assert answer.status_code == 200, answer.content
    linked = answer.json()
    assert (linked["status"], linked["subject"]) == ("linked", claims["sub"])
    person.refresh_from_db()
    assert person.verification_level == "secondary"


def test_a_forged_signature_is_refused(kyc):
    person = kyc.person()
    link = start(kyc, person)
    genuine = login(kyc, person, link)
    header, payload, _ = genuine.split(".")
    # Signed by a key of our own under the provider's kid.
    forger = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    forged = josejwt.encode({"alg": "ES256", "kid": kid}, claims, forger, algorithms=["ES256"])
    assert refused(kyc, person, link, forged) == "id_token_bad_signature"
    # The genuine token with a payload of another's: the signature no longer matches.
    claims["sub"] = "someone-else"
    other = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert refused(kyc, person, link, f"{header}.{other}.{genuine.split('.')[2]}") in (
        "id_token_bad_signature",
    )


def test_unsigned_and_hmac_tokens_are_refused(kyc):
    person = kyc.person()
    link = start(kyc, person)
    claims = json.loads(base64.urlsafe_b64decode(login(kyc, person, link).split(".")[1] + "=="))
    none = (
        base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        + "."
        + base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        + "."
    )
    assert refused(kyc, person, link, none).startswith("id_token_")
    hmac = josejwt.encode(
        {"alg": "HS256"}, claims, OctKey.import_key(b"k" * 32), algorithms=["HS256"]
    )
    assert refused(kyc, person, link, hmac).startswith("id_token_")
    assert refused(kyc, person, link, "not-a-token") == "id_token_malformed"


def test_a_token_for_another_audience_is_refused(kyc):
    person = kyc.person()
    link = start(kyc, person)
    id_token = login(kyc, person, link, client_id="fsbx-someone-else")
    assert refused(kyc, person, link, id_token) == "id_token_wrong_audience"


def test_a_token_with_another_nonce_is_refused(kyc):
    person = kyc.person()
    link = start(kyc, person)
    other = start(kyc, person)
    id_token = login(kyc, person, other)  # the other link's nonce
    assert refused(kyc, person, link, id_token) == "id_token_wrong_nonce"


def test_a_token_of_another_issuer_is_refused(kyc):
    person = kyc.person()
    link = start(kyc, person, "sandbox-talk")
    talk = providers.PROVIDERS["sandbox-talk"]
    key = providers._signing_key(talk)
    claims = json.loads(base64.urlsafe_b64decode(login(kyc, person, link).split(".")[1] + "=="))
    claims["iss"] = providers.PROVIDERS["sandbox-green"].issuer
    token = josejwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])
    assert refused(kyc, person, link, token) == "id_token_wrong_issuer"
    # And a genuine token of the other provider does not verify with this one's keys.
    green = start(kyc, person, "sandbox-green")
    green_token = login(kyc, person, green)
    assert refused(kyc, person, link, green_token) == "id_token_unknown_key"


def test_an_expired_token_is_refused_on_the_nodes_clock(kyc):
    person = kyc.person()
    link = start(kyc, person)
    id_token = login(kyc, person, link)
    kyc.advance((providers.ID_TOKEN_LIFETIME + timedelta(minutes=1)).total_seconds())
    assert refused(kyc, person, link, id_token) == "id_token_expired"


def test_a_link_expires_and_completes_once(kyc):
    person = kyc.person()
    link = start(kyc, person)
    id_token = login(kyc, person, link)
    assert complete(kyc, link, id_token).status_code == 200
    replay = complete(kyc, link, id_token)
    assert (replay.status_code, replay.json()["error"]["code"]) == (
        409,
        "social_link_not_pending",
    )

    late = start(kyc, person)
    kyc.advance((LINK_LIFETIME + timedelta(seconds=1)).total_seconds())
    answer = complete(kyc, late, login(kyc, person, late))
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "social_link_expired")


def test_one_provider_account_links_to_one_person(kyc):
    first, second = kyc.person(), kyc.person(phone="+821055556666")
    link = start(kyc, first)
    assert complete(kyc, link, login(kyc, first, link)).status_code == 200
    # The same account (first's login) offered for the second person.
    other = start(kyc, second)
    answer = complete(kyc, other, login(kyc, first, other))
    assert (answer.status_code, answer.json()["error"]["code"]) == (
        409,
        "social_account_already_linked",
    )
    assert SocialLink.objects.get(pk=other["id"]).status == "pending"


def test_an_unknown_provider_is_refused(kyc):
    person = kyc.person()
    body = {"person_id": str(person.pk), "provider": "sandbox-facebook"}
    assert kyc.refused("social_links", body) == (400, "unknown_provider")


def test_the_simulated_login_in_the_browser_links_the_account(kyc, alice, outsider):
    person = kyc.person()
    # Start a link: the dashboard sends the tester to the provider's login page.
    started = alice.web.post(
        "/identities/social-links/", {"person_id": str(person.pk), "provider": "sandbox-green"}
    )
    assert started.status_code == 302
    login_url = started["Location"]
    assert login_url.startswith("/oidc/sandbox-green/authorize?")
    page = alice.web.get(login_url)
    assert page.status_code == 200 and str(person.pk) in page.content.decode()
    link = SocialLink.objects.get(person=person)

    # The tester picks the person; the provider answers its id_token.
    params = dict(page.wsgi_request.GET.items())
    answer = alice.web.post(login_url, {**params, "person_id": str(person.pk)})
    id_token = answer.context["id_token"]
    assert id_token.count(".") == 2

    done = alice.web.post(f"/identities/social-links/{link.pk}/complete/", {"id_token": id_token})
    assert done.status_code == 302
    link.refresh_from_db()
    person.refresh_from_db()
    assert (link.status, person.verification_level) == ("linked", "secondary")

    # Another tenant's member cannot log in as alice's client, nor pick her people.
    foreign = outsider.web.get(login_url)
    assert foreign.status_code == 200
    assert str(person.pk) not in foreign.content.decode()
    assert foreign.context["can_login"] is False
