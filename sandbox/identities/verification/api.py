"""Verification sessions (KYC) and social identity links, under /api/v1/. Error codes and
magic values: docs/identities.md."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.views import ApiView, PresenterSerializer
from sandbox.errors import NotFound
from sandbox.identities.selectors import get_person
from sandbox.identities.verification import magic, presenters, providers, services, social
from sandbox.identities.verification.models import (
    SessionStatus,
    SessionType,
    SocialLink,
    VerificationSession,
)
from sandbox.tenants.access import actor_for
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from sandbox.tenants.permissions import IsOperator


class LastErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    reason = serializers.CharField()


class VerificationSessionOutput(PresenterSerializer):
    @staticmethod
    def present(instance: VerificationSession) -> dict[str, Any]:
        return presenters.session_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"identity.verification_session"')
    person_id = serializers.UUIDField()
    node_id = serializers.UUIDField(
        allow_null=True, help_text="The person's node: its test clock times the session."
    )
    type = serializers.ChoiceField(choices=SessionType.choices)
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    last_error = LastErrorOutput(allow_null=True, help_text="Why the session needs input again.")
    review_reason = serializers.CharField(allow_null=True, help_text="sanctions_hit, in review.")
    phone_code_sent = serializers.BooleanField(
        help_text="A phone session sent its code (shown in the dashboard and by the test "
        "helper, never here)."
    )
    name_match_score = serializers.IntegerField(
        allow_null=True, help_text="bank_account: the bank's 0-100 match of the holder's name."
    )
    verified_level = serializers.CharField(
        allow_null=True, help_text="secondary or real_name, once verified."
    )
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    verified_at = serializers.DateTimeField(allow_null=True)
    canceled_at = serializers.DateTimeField(allow_null=True)
    redacted_at = serializers.DateTimeField(allow_null=True)


class SocialLinkOutput(PresenterSerializer):
    @staticmethod
    def present(instance: SocialLink) -> dict[str, Any]:
        return presenters.social_link_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"identity.social_link"')
    person_id = serializers.UUIDField()
    provider = serializers.ChoiceField(choices=sorted(providers.PROVIDERS))
    issuer = serializers.URLField()
    jwks_uri = serializers.URLField()
    client_id = serializers.CharField(help_text="Your client id: the id_token's aud.")
    nonce = serializers.CharField(help_text="The id_token must carry it.")
    status = serializers.ChoiceField(choices=SocialLink.Status.choices)
    subject = serializers.CharField(allow_null=True, help_text="The provider's pairwise sub.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    linked_at = serializers.DateTimeField(allow_null=True)


def _session(view: TenantScopedView, session_id: str) -> VerificationSession:
    return VerificationSession.objects.get_for_tenant(view.tenant, session_id)


# --- Verification sessions -------------------------------------------------------------------


class VerificationSessionListApi(TenantScopedListView):
    """Your verification sessions, newest first."""

    serializer_class = VerificationSessionOutput
    model = VerificationSession

    class FilterSerializer(serializers.Serializer):
        person_id = serializers.UUIDField(required=False, help_text="One person's sessions.")
        status = serializers.ChoiceField(choices=SessionStatus.choices, required=False)

    class InputSerializer(serializers.Serializer):
        person_id = serializers.CharField(help_text="The person to verify.")
        type = serializers.CharField(
            help_text="id_number, phone, document or bank_account (docs/identities.md)."
        )

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        rows = VerificationSession.objects.for_tenant(self.tenant)
        if "person_id" in filters.validated_data:
            rows = rows.filter(person_id=filters.validated_data["person_id"])
        if "status" in filters.validated_data:
            rows = rows.filter(status=filters.validated_data["status"])
        return rows.order_by("-created_at", "-id")

    @extend_schema(responses={201: VerificationSessionOutput})
    def post(self, request: Request) -> Response:
        """Start a verification session for one of your people; it requires input."""
        values = self.validated_input()
        person = get_person(self.tenant, values["person_id"])
        session = services.session_create(
            tenant=self.tenant, person=person, type=values["type"], actor=self.actor
        )
        return Response(presenters.session_json(session), status=status.HTTP_201_CREATED)


class VerificationSessionDetailApi(TenantScopedView):
    @extend_schema(responses=VerificationSessionOutput)
    def get(self, request: Request, session_id: str) -> Response:
        """One verification session (never the phone code it sent)."""
        return Response(presenters.session_json(_session(self, session_id)))


class VerificationSessionSubmitApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        national_id = serializers.CharField(required=False, help_text="id_number, document.")
        national_id_country = serializers.CharField(
            required=False, help_text="ISO alpha-2, KR by default (resident registration no.)."
        )
        phone = serializers.CharField(required=False, help_text="phone (step 1), E.164.")
        code = serializers.CharField(required=False, help_text="phone (step 2): the code sent.")
        document_type = serializers.CharField(
            required=False, help_text="document: id_card, driver_license or passport."
        )
        document_number = serializers.CharField(
            required=False, help_text="document: magic numbers force outcomes."
        )
        birth_date = serializers.CharField(required=False, help_text="document: YYYY-MM-DD.")
        expiry_date = serializers.CharField(required=False, help_text="document: YYYY-MM-DD.")
        bank_code = serializers.CharField(required=False, help_text="bank_account.")
        account_number = serializers.CharField(required=False, help_text="bank_account.")

    @extend_schema(responses=VerificationSessionOutput)
    def post(self, request: Request, session_id: str) -> Response:
        """Submit the input a session requires (by type, docs/identities.md). All of it is
        checked first (a malformed national id, date or phone changes nothing); then the
        session is ``processing`` until its checks run on the node's clock. A phone session
        takes the phone first (a code is sent), then the code."""
        session = _session(self, session_id)
        values = self.validated_input()
        session = services.session_submit(session=session, values=values, actor=self.actor)
        return Response(presenters.session_json(session))


class VerificationSessionCancelApi(TenantScopedView):
    @extend_schema(responses=VerificationSessionOutput)
    def post(self, request: Request, session_id: str) -> Response:
        """Cancel a session that requires input or awaits review."""
        session = services.session_cancel(session=_session(self, session_id), actor=self.actor)
        return Response(presenters.session_json(session))


class VerificationSessionRedactApi(TenantScopedView):
    @extend_schema(responses=VerificationSessionOutput)
    def post(self, request: Request, session_id: str) -> Response:
        """Forget what the session collected; its outcome and history stay."""
        session = services.session_redact(session=_session(self, session_id), actor=self.actor)
        return Response(presenters.session_json(session))


class TestHelperVerificationSessionForceApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        outcome = serializers.ChoiceField(choices=sorted(magic.FORCEABLE))

    @extend_schema(responses=VerificationSessionOutput)
    def post(self, request: Request, session_id: str) -> Response:
        """Test helper: end a session (awaiting input, processing or in review) with any
        outcome now: ``verified``, an error (back to ``requires_input``), or
        ``sanctions_hit`` (into manual review)."""
        session = _session(self, session_id)
        values = self.validated_input()
        session = services.session_force(
            session=session, outcome=values["outcome"], actor=self.actor
        )
        return Response(presenters.session_json(session))


class TestHelperVerificationSessionPhoneCodeApi(TenantScopedView):
    @extend_schema(
        responses=inline_serializer(
            "VerificationPhoneCode",
            {"code": serializers.CharField(allow_null=True, help_text="null: none sent.")},
        )
    )
    def get(self, request: Request, session_id: str) -> Response:
        """Test helper: the code a phone session "sent" by SMS."""
        session = _session(self, session_id)
        return Response({"code": session.phone_code or None})


class OperatorVerificationSessionReviewApi(ApiView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["approve", "reject"])

    @extend_schema(responses=VerificationSessionOutput)
    def post(self, request: Request, session_id: str) -> Response:
        """Operators: decide a session in manual review (approve: verified; reject: back to
        requires_input with ``review_rejected``)."""
        values = self.validated_input()
        session = services.session_review(
            session=_any_session(session_id),
            approve=values["decision"] == "approve",
            actor=actor_for(request),
        )
        return Response(presenters.session_json(session))


def _any_session(session_id: str) -> VerificationSession:
    """Any tenant's session (operators only)."""
    try:
        return VerificationSession.objects.get(pk=uuid.UUID(session_id))
    except (ValueError, VerificationSession.DoesNotExist):
        raise NotFound(
            f"No verification session with id {session_id}.",
            code="verificationsession_not_found",
        ) from None


# --- Social identity links --------------------------------------------------------------------


class SocialLinkListApi(TenantScopedListView):
    """Your people's links to the simulated social identity providers, newest first."""

    serializer_class = SocialLinkOutput
    model = SocialLink

    class InputSerializer(serializers.Serializer):
        person_id = serializers.CharField()
        provider = serializers.CharField(help_text="sandbox-talk or sandbox-green.")

    def get_queryset(self):
        return SocialLink.objects.for_tenant(self.tenant).order_by("-created_at", "-id")

    @extend_schema(responses={201: SocialLinkOutput})
    def post(self, request: Request) -> Response:
        """Start linking a person's account at a provider: the answer carries the nonce and
        client id the provider's id_token must carry."""
        values = self.validated_input()
        person = get_person(self.tenant, values["person_id"])
        link = social.social_link_start(
            tenant=self.tenant, person=person, provider=values["provider"], actor=self.actor
        )
        return Response(presenters.social_link_json(link), status=status.HTTP_201_CREATED)


class SocialLinkDetailApi(TenantScopedView):
    @extend_schema(responses=SocialLinkOutput)
    def get(self, request: Request, link_id: str) -> Response:
        """One social link."""
        return Response(
            presenters.social_link_json(SocialLink.objects.get_for_tenant(self.tenant, link_id))
        )


class SocialLinkCompleteApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        id_token = serializers.CharField(max_length=8000)

    @extend_schema(responses=SocialLinkOutput)
    def post(self, request: Request, link_id: str) -> Response:
        """Complete a link with the provider's id_token: verified (signature by the
        provider's JWKS, iss, aud, exp, nonce) or refused with an ``id_token_*`` code. A
        linked account raises its person to ``secondary``."""
        link = SocialLink.objects.get_for_tenant(self.tenant, link_id)
        values = self.validated_input()
        link = social.social_link_complete(link=link, id_token=values["id_token"], actor=self.actor)
        return Response(presenters.social_link_json(link))


class TestHelperSocialLoginApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        provider = serializers.CharField(help_text="sandbox-talk or sandbox-green.")
        person_id = serializers.CharField(help_text="Who logs in at the provider.")
        nonce = serializers.CharField(help_text="The social link's nonce.")
        client_id = serializers.CharField(
            required=False, help_text="Your client id by default (the id_token's aud)."
        )

    @extend_schema(
        responses=inline_serializer("SocialLogin", {"id_token": serializers.CharField()})
    )
    def post(self, request: Request) -> Response:
        """Test helper: a simulated login at a provider. The person you pick signs in; the
        provider answers its signed id_token (ES256; keys at its jwks_uri)."""
        values = self.validated_input()
        person = get_person(self.tenant, values["person_id"])
        id_token = social.social_login_simulate(
            tenant=self.tenant,
            person=person,
            provider=values["provider"],
            nonce=values["nonce"],
            client_id=values.get("client_id"),
        )
        return Response({"id_token": id_token})
