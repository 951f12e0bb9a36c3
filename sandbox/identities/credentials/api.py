"""Credentials API: issue SD-JWT credentials to people, present them, request and verify
presentations, and the nodes' holder keys."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.views import PresenterSerializer
from sandbox.identities import selectors as identity_selectors
from sandbox.identities.credentials import keys, presenters, selectors, services
from sandbox.identities.credentials.models import (
    Credential,
    HolderKey,
    Presentation,
    PresentationRequest,
)
from sandbox.identities.services import Address
from sandbox.nodekeys.models import KeyStatus
from sandbox.tenants.api import TenantScopedView
from sandbox.tenants.models import Node

CLAIMS_HELP = (
    "Claim paths: name, birthdate, address (or its parts address.street_address, "
    "address.locality, address.postal_code, address.country), phone_number, email, "
    "nationalities, age_over_19, kyc_level; for a delivery credential also order_id and "
    "recipient_matches_delivery_address."
)


class CredentialOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Credential) -> dict[str, Any]:
        return presenters.credential_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"credential"')
    kind = serializers.ChoiceField(choices=Credential.Kind.choices)
    vct = serializers.CharField(help_text="The SD-JWT VC type.")
    person = serializers.UUIDField(allow_null=True)
    subject_node = serializers.UUIDField(allow_null=True)
    holder_node = serializers.UUIDField(help_text="The node whose holder key (cnf) it is bound to.")
    order_id = serializers.CharField(allow_null=True)
    claims = serializers.ListField(
        child=serializers.CharField(), help_text="The selectively disclosable claim paths."
    )
    predicates = serializers.DictField(help_text="Predicates computed at issuance.")
    issuer_kid = serializers.CharField()
    holder_kid = serializers.CharField()
    status = serializers.ChoiceField(choices=Credential.Status.choices)
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class IssuedCredentialOutput(CredentialOutput):
    sd_jwt = serializers.CharField(
        help_text="The issued SD-JWT with every disclosure: the holder's copy (dc+sd-jwt)."
    )


class PresentationOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Presentation) -> dict[str, Any]:
        return presenters.presentation_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"presentation"')
    credential = serializers.UUIDField()
    person = serializers.UUIDField(allow_null=True)
    audience = serializers.CharField(help_text="Who the presentation was made for.")
    verifier_node = serializers.UUIDField(allow_null=True)
    nonce = serializers.CharField()
    disclosed_claims = serializers.ListField(child=serializers.CharField())
    signed_by = serializers.CharField(
        help_text="Who signed the key binding: platform (for the node) or tenant (its own key)."
    )
    created_at = serializers.DateTimeField()


class MadePresentationOutput(PresentationOutput):
    presentation = serializers.CharField(help_text="<issuer JWT>~<disclosures>~<KB-JWT>")


class PresentationRequestOutput(PresenterSerializer):
    @staticmethod
    def present(instance: PresentationRequest) -> dict[str, Any]:
        return presenters.request_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"presentation_request"')
    verifier_node = serializers.UUIDField()
    vct = serializers.CharField()
    claims = serializers.ListField(child=serializers.CharField())
    order_id = serializers.CharField(allow_null=True)
    audience = serializers.CharField(help_text="The key-binding JWT's aud: the verifier node.")
    nonce = serializers.CharField(help_text="The key-binding JWT's nonce; answered once.")
    status = serializers.ChoiceField(choices=PresentationRequest.Status.choices)
    disclosed = serializers.DictField(
        allow_null=True, help_text="Once verified: the claim paths and predicate values learned."
    )
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    verified_at = serializers.DateTimeField(allow_null=True)


class VerificationOutput(serializers.Serializer):
    result = serializers.ChoiceField(choices=["valid", "invalid"])
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why it is invalid: wrong_nonce, wrong_audience, bad_signature, "
        "bad_key_binding_signature, sd_hash_mismatch, disclosure_not_in_credential, "
        "expired, nonce_replayed, request_expired, claims_missing, wrong_order, "
        "wrong_credential_type, unknown_issuer_key, key_binding_missing, malformed, ...",
    )
    message = serializers.CharField()
    claims = serializers.DictField(help_text="The verified claims (disclosed and in clear).")
    request = PresentationRequestOutput()


class HolderKeyOutput(serializers.Serializer):
    kty = serializers.CharField(help_text='"EC"')
    crv = serializers.CharField(help_text='"P-256"')
    x = serializers.CharField()
    y = serializers.CharField()
    kid = serializers.CharField()
    alg = serializers.CharField(help_text='"ES256"')
    use = serializers.CharField()
    status = serializers.ChoiceField(choices=KeyStatus.choices)
    origin = serializers.ChoiceField(choices=HolderKey.Origin.choices)
    created_at = serializers.DateTimeField()


class HolderJwksOutput(serializers.Serializer):
    keys = HolderKeyOutput(many=True)


class AddressInput(serializers.Serializer):
    street = serializers.CharField(max_length=200)
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20)
    country = serializers.CharField(min_length=2, max_length=2, help_text="ISO 3166-1 alpha-2.")


class PersonCredentialsApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["identity", "delivery"])
        holder_node = serializers.UUIDField(
            required=False, help_text="The node that holds it (default: the person's node)."
        )
        order_id = serializers.CharField(
            required=False, max_length=64, help_text="Delivery: the order it is bound to."
        )
        delivery_address = AddressInput(required=False, help_text="Delivery: where to deliver.")

    @extend_schema(responses=CredentialOutput(many=True))
    def get(self, request: Request, person_id: str) -> Response:
        """The credentials issued to the person, newest first."""
        person = identity_selectors.get_person(self.tenant, person_id)
        return Response([presenters.credential_json(c) for c in selectors.credentials_of(person)])

    @extend_schema(responses={201: IssuedCredentialOutput})
    def post(self, request: Request, person_id: str) -> Response:
        """Issue an SD-JWT VC to a verified person, bound to the holder node's key: an
        identity credential, or a delivery credential for one order and delivery address
        (``recipient_matches_delivery_address``). 409 ``person_unverified``, 410
        ``person_redacted``."""
        person = identity_selectors.get_person(self.tenant, person_id)
        values = self.validated_input()
        holder = None
        if "holder_node" in values:
            holder = Node.objects.get_for_tenant(self.tenant, values["holder_node"])
        if values["kind"] == "identity":
            issued = services.credential_issue_identity(
                person=person, actor=self.actor, holder_node=holder
            )
        else:
            missing = [f for f in ("order_id", "delivery_address") if f not in values]
            if missing:
                raise serializers.ValidationError(
                    {f: ["Required for a delivery."] for f in missing}
                )
            issued = services.credential_issue_delivery(
                person=person,
                actor=self.actor,
                holder_node=holder,
                order_id=values["order_id"],
                delivery_address=Address(**values["delivery_address"]),
            )
        body = {**presenters.credential_json(issued.credential), "sd_jwt": issued.sd_jwt}
        return Response(body, status=status.HTTP_201_CREATED)


class PersonPresentationsApi(TenantScopedView):
    @extend_schema(responses=PresentationOutput(many=True))
    def get(self, request: Request, person_id: str) -> Response:
        """Who learned what: every presentation made of the person's credentials, with
        the claims each disclosed and to whom, newest first."""
        person = identity_selectors.get_person(self.tenant, person_id)
        return Response(
            [presenters.presentation_json(p) for p in selectors.presentations_of(person)]
        )


class CredentialApi(TenantScopedView):
    @extend_schema(responses=CredentialOutput)
    def get(self, request: Request, credential_id: str) -> Response:
        """One credential (without its SD-JWT)."""
        credential = Credential.objects.get_for_tenant(self.tenant, credential_id)
        return Response(presenters.credential_json(credential))


class CredentialRevokeApi(TenantScopedView):
    @extend_schema(responses=CredentialOutput)
    def post(self, request: Request, credential_id: str) -> Response:
        """Revoke the credential: it can no longer be presented, and
        ``/presentations/verify`` answers ``invalid`` with reason ``revoked``."""
        credential = Credential.objects.get_for_tenant(self.tenant, credential_id)
        return Response(
            presenters.credential_json(services.credential_revoke(credential=credential))
        )


class CredentialPresentationsApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        audience = serializers.CharField(
            required=False, max_length=120, help_text="The verifier's audience (its request's)."
        )
        nonce = serializers.CharField(
            required=False, max_length=64, help_text="The verifier's nonce (its request's)."
        )
        claims = serializers.ListField(
            child=serializers.CharField(max_length=64),
            required=False,
            max_length=20,
            help_text=CLAIMS_HELP,
        )
        presentation = serializers.CharField(
            required=False,
            max_length=65_536,
            help_text="A presentation you made with your own holder key: recorded if it verifies.",
        )

    @extend_schema(responses={201: MadePresentationOutput})
    def post(self, request: Request, credential_id: str) -> Response:
        """Present the credential: only ``claims`` are disclosed, and a key-binding JWT over
        ``audience``, ``nonce`` and the disclosures is signed with the holder node's key.
        A node with a registered holder key sends its own ``presentation`` instead. Each
        presentation is recorded: the person can see who learned what."""
        credential = Credential.objects.select_related("person", "holder_node").get_for_tenant(
            self.tenant, credential_id
        )
        values = self.validated_input()
        if "presentation" in values:
            made = services.credential_submit_presentation(
                credential=credential, presentation=values["presentation"]
            )
        else:
            missing = [f for f in ("audience", "nonce", "claims") if f not in values]
            if missing:
                raise serializers.ValidationError({f: ["This field is required."] for f in missing})
            made = services.credential_present(
                credential=credential,
                audience=values["audience"],
                nonce=values["nonce"],
                claims=values["claims"],
            )
        body = {**presenters.presentation_json(made.presentation), "presentation": made.text}
        return Response(body, status=status.HTTP_201_CREATED)


class PresentationApi(TenantScopedView):
    @extend_schema(responses=PresentationOutput)
    def get(self, request: Request, presentation_id: str) -> Response:
        """One recorded presentation: to whom, and which claims it disclosed."""
        presentation = Presentation.objects.get_for_tenant(self.tenant, presentation_id)
        return Response(presenters.presentation_json(presentation))


class PresentationRequestsApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        verifier_node = serializers.UUIDField(help_text="Your node that asks (the audience).")
        credential_type = serializers.ChoiceField(choices=Credential.Kind.choices)
        claims = serializers.ListField(
            child=serializers.CharField(max_length=64), max_length=20, help_text=CLAIMS_HELP
        )
        order_id = serializers.CharField(
            required=False, max_length=64, help_text="Delivery: the order the credential must name."
        )

    @extend_schema(responses={201: PresentationRequestOutput})
    def post(self, request: Request) -> Response:
        """Ask a holder for claims: the answer carries the audience and a fresh nonce the
        presentation's key-binding JWT must name. 400 ``unknown_claim``."""
        values = self.validated_input()
        node = Node.objects.get_for_tenant(self.tenant, values["verifier_node"])
        made = services.presentation_request_create(
            verifier_node=node,
            credential_type=values["credential_type"],
            claims=values["claims"],
            order_id=values.get("order_id", ""),
        )
        return Response(presenters.request_json(made), status=status.HTTP_201_CREATED)


class PresentationRequestApi(TenantScopedView):
    @extend_schema(responses=PresentationRequestOutput)
    def get(self, request: Request, request_id: str) -> Response:
        """One presentation request, and once verified what it learned."""
        made = PresentationRequest.objects.get_for_tenant(self.tenant, request_id)
        return Response(presenters.request_json(made))


class PresentationVerifyApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        request = serializers.UUIDField(help_text="Your presentation request it answers.")
        presentation = serializers.CharField(
            max_length=65_536, help_text="<issuer JWT>~<disclosures>~<KB-JWT>"
        )

    @extend_schema(responses=VerificationOutput)
    def post(self, request: Request) -> Response:
        """Verify a presentation against your request: ``valid`` with the disclosed claims
        (the request's nonce is then spent), or ``invalid`` with the reason (nothing
        changes). The same checks run offline with any RFC 9901 library and the issuer's
        JWKS at ``/jwks/issuer.json``."""
        values = self.validated_input()
        made = PresentationRequest.objects.get_for_tenant(self.tenant, values["request"])
        result = services.presentation_verify(request=made, presentation=values["presentation"])
        return Response(
            {
                "result": result.result,
                "reason": result.reason,
                "message": result.message,
                "claims": result.claims,
                "request": presenters.request_json(result.request),
            }
        )


class NodeHolderKeysApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        jwk = serializers.JSONField(
            help_text='Your P-256 public key: {"kty": "EC", "crv": "P-256", "x": …, "y": …}.'
        )

    @extend_schema(responses=HolderJwksOutput)
    def get(self, request: Request, node_id: str) -> Response:
        """The node's holder keys (credentials are bound to the active one)."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        return Response(selectors.holder_jwks(node))

    @extend_schema(responses={201: HolderKeyOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """Register your own P-256 public key as the node's holder key: credentials issued
        from now on are bound to it and you make their presentations yourself."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        key = keys.holder_key_register(
            node=node, actor=self.actor, jwk=self.validated_input()["jwk"]
        )
        return Response(keys.holder_key_json(key), status=status.HTTP_201_CREATED)


class NodeHolderKeyRotateApi(TenantScopedView):
    @extend_schema(responses={201: HolderKeyOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """A new holder key held by the sandbox (credentials bound to the old one can no
        longer be presented by the sandbox)."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        key = keys.holder_key_rotate(node=node, actor=self.actor)
        return Response(keys.holder_key_json(key), status=status.HTTP_201_CREATED)


class NodeCredentialsApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        holder_node = serializers.UUIDField(
            required=False, help_text="The node that holds it (default: the node itself)."
        )

    @extend_schema(responses=CredentialOutput(many=True))
    def get(self, request: Request, node_id: str) -> Response:
        """The business identity credentials issued for the node, newest first."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        return Response(
            [presenters.credential_json(c) for c in selectors.credentials_of_node(node)]
        )

    @extend_schema(responses={201: IssuedCredentialOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """Issue a business identity credential (SD-JWT VC) for the node's verified
        business identity. 409 ``node_identity_missing``, ``node_unverified``."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        values = self.validated_input()
        holder = None
        if "holder_node" in values:
            holder = Node.objects.get_for_tenant(self.tenant, values["holder_node"])
        issued = services.credential_issue_business(node=node, holder_node=holder)
        body = {**presenters.credential_json(issued.credential), "sd_jwt": issued.sd_jwt}
        return Response(body, status=status.HTTP_201_CREATED)
