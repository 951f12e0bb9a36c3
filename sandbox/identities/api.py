"""Identities API: people (masked), reveal (logged, with a purpose), erasure, the access
log, matching without disclosure, node identities, and key rotation jobs (operators)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.pagination import CreatedCursorPagination
from sandbox.api.views import ApiView, ListApiView, PresenterSerializer
from sandbox.errors import NotFound
from sandbox.identities import presenters, rotation, selectors, services
from sandbox.identities.data import Address, PersonalData
from sandbox.identities.models import AccessLogEntry, KeyRotationJob, Person, VerificationLevel
from sandbox.identities.vault import NodeIdentityData
from sandbox.tenants.access import actor_for
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from sandbox.tenants.models import Node
from sandbox.tenants.permissions import IsOperator

# --- Documented shapes: exactly what the presenters return ------------------------------------


class AddressSerializer(serializers.Serializer):
    street = serializers.CharField(max_length=200)
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20, allow_blank=True, default="")
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. KR.")


class MaskedPersonSerializer(serializers.Serializer):
    legal_name = serializers.CharField(help_text='Masked: "김*수".')
    birth_date = serializers.CharField(help_text='The year only: "1990-**-**".')
    national_id = serializers.CharField(help_text='Masked: "900101-1******".')
    national_id_country = serializers.CharField()
    phone = serializers.CharField(help_text='Masked: "+82 10-****-5678".')
    email = serializers.CharField(help_text='Masked: "m*****@example.com".')
    address = AddressSerializer(help_text="The street and postal code masked.")


class PersonOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Person) -> dict[str, Any]:
        return presenters.person_as_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"person"')
    node = serializers.UUIDField(allow_null=True)
    customer_reference = serializers.CharField(
        help_text="Links the person to your accounts with the same customer_reference."
    )
    verification_level = serializers.ChoiceField(choices=VerificationLevel.choices)
    status = serializers.ChoiceField(choices=Person.Status.choices)
    masked = MaskedPersonSerializer(allow_null=True, help_text="null once erased.")
    created_at = serializers.DateTimeField()
    redacted_at = serializers.DateTimeField(allow_null=True)


class RevealedOutput(serializers.Serializer):
    person = serializers.UUIDField()
    # Declared fields leave the class body (SerializerMetaclass pops them): these names do
    # not shadow Serializer.fields / .data at run time.
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    data = serializers.DictField(help_text="The fields asked for, in clear.")  # type: ignore[assignment]


class AccessLogOutput(PresenterSerializer):
    @staticmethod
    def present(instance: AccessLogEntry) -> dict[str, Any]:
        return presenters.access_log_entry_as_json(instance)

    id = serializers.IntegerField()
    person = serializers.UUIDField()
    actor = serializers.CharField(help_text='Who read: "api_key:sk_test_ab12", "user:…".')
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    purpose = serializers.CharField()
    accessed_at = serializers.DateTimeField()


class ScoreSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=100)
    band = serializers.ChoiceField(choices=["match", "likely", "unlikely", "no_match"])


class MatchOutput(serializers.Serializer):
    person = serializers.UUIDField()
    name = ScoreSerializer(required=False)
    phone = ScoreSerializer(required=False)
    address = ScoreSerializer(required=False)


class MaskedNodeIdentitySerializer(serializers.Serializer):
    legal_name = serializers.CharField()
    registration_number = serializers.CharField()
    address = AddressSerializer()


class NodeIdentityOutput(serializers.Serializer):
    object = serializers.CharField(help_text='"node_identity"')
    node = serializers.UUIDField()
    verification_level = serializers.ChoiceField(choices=VerificationLevel.choices)
    masked = MaskedNodeIdentitySerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RotationJobOutput(PresenterSerializer):
    @staticmethod
    def present(instance: KeyRotationJob) -> dict[str, Any]:
        return presenters.rotation_job_as_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"key_rotation_job"')
    status = serializers.ChoiceField(choices=KeyRotationJob.Status.choices)
    target_kek_id = serializers.CharField(help_text="The key id the data keys move to.")
    phase = serializers.ChoiceField(choices=KeyRotationJob.Phase.choices)
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    percent = serializers.IntegerField()
    last_error = serializers.CharField()
    requested_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


def _address(values: dict[str, Any]) -> Address:
    return Address(
        street=values["street"],
        city=values["city"],
        postal_code=values.get("postal_code", ""),
        country=values["country"],
    )


# --- People ------------------------------------------------------------------------------------


class PersonListApi(TenantScopedListView):
    """Your people, newest first, masked. Exact lookups by phone, national id or e-mail go
    through blind indexes: the stored values are never compared in clear."""

    serializer_class = PersonOutput

    class FilterSerializer(serializers.Serializer):
        phone = serializers.CharField(required=False, help_text="Exact, any usual format.")
        email = serializers.CharField(required=False, help_text="Exact, case ignored.")
        national_id = serializers.CharField(
            required=False, help_text="Exact, a Korean RRN unless national_id_country says."
        )
        national_id_country = serializers.CharField(
            required=False, help_text="The national id's country (default KR)."
        )
        customer_reference = serializers.CharField(required=False)

    class InputSerializer(serializers.Serializer):
        legal_name = serializers.CharField(max_length=200)
        birth_date = serializers.CharField(help_text="YYYY-MM-DD.")
        national_id = serializers.CharField(
            max_length=40, help_text="A resident registration number (KR) or a foreign id."
        )
        national_id_country = serializers.CharField(
            max_length=2, required=False, default="KR", help_text="ISO alpha-2 (default KR)."
        )
        phone = serializers.CharField(max_length=40, help_text="E.164, or a Korean number.")
        email = serializers.CharField(max_length=254)
        address = AddressSerializer()
        node_id = serializers.UUIDField(required=False, help_text="The node that serves them.")
        customer_reference = serializers.CharField(
            max_length=64, required=False, default="", allow_blank=True
        )

    def get_queryset(self):
        params = self.request.query_params
        people = selectors.people_for(self.tenant)
        for field in ("phone", "email", "national_id"):
            if field in params:
                found = selectors.find_person(
                    self.tenant,
                    field=field,
                    value=params[field],
                    country=params.get("national_id_country", "KR"),
                )
                people = people.filter(pk=found.pk) if found else people.none()
        if "customer_reference" in params:
            people = people.filter(customer_reference=params["customer_reference"])
        return people

    @extend_schema(responses={201: PersonOutput})
    def post(self, request: Request) -> Response:
        """Register a person. Each personal field is sealed (AES-256-GCM under the person's
        own data key) before it is stored; invalid data (a national id's check digit, an
        impossible birth date, a phone number) answers 422 with a code per field, and
        nothing is stored."""
        values = self.validated_input()
        node = None
        if values.get("node_id"):
            node = Node.objects.get_for_tenant(self.tenant, values["node_id"])
        person = services.register_person(
            tenant=self.tenant,
            node=node,
            customer_reference=values["customer_reference"],
            data=PersonalData(
                legal_name=values["legal_name"],
                birth_date=values["birth_date"],
                national_id=values["national_id"],
                national_id_country=values["national_id_country"],
                phone=values["phone"],
                email=values["email"],
                address=_address(values["address"]),
            ),
        )
        return Response(presenters.person_as_json(person), status=status.HTTP_201_CREATED)


class PersonDetailApi(TenantScopedView):
    @extend_schema(responses=PersonOutput)
    def get(self, request: Request, person_id: str) -> Response:
        """One person, masked (reading it is not logged: the masks disclose nothing)."""
        return Response(presenters.person_as_json(selectors.get_person(self.tenant, person_id)))


class PersonRevealApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        purpose = serializers.CharField(
            max_length=500, help_text="Why you read the data: kept in the access log."
        )
        fields = serializers.ListField(  # type: ignore[assignment]
            child=serializers.CharField(),
            required=False,
            help_text=f"Only these (default all): {', '.join(Person.SEALED_FIELDS)}.",
        )

    @extend_schema(responses=RevealedOutput)
    def post(self, request: Request, person_id: str) -> Response:
        """The person's data in clear. Every call is recorded in the person's access log
        (who, which fields, when, why). 410 ``person_redacted`` once erased."""
        person = selectors.get_person(self.tenant, person_id)
        values = self.validated_input()
        fields = services.reveal_fields(values.get("fields"))
        data = services.reveal(
            person,
            actor=services.actor_label(self.actor),
            purpose=values["purpose"],
            fields=fields,
        )
        return Response(
            {
                "person": str(person.pk),
                "fields": list(fields),
                "data": presenters.revealed_as_json(data, fields),
            }
        )


class PersonEraseApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500, help_text="Why (kept in the event).")

    @extend_schema(responses=PersonOutput)
    def post(self, request: Request, person_id: str) -> Response:
        """Erase the person (right to be forgotten): their data key is destroyed, so their
        sealed data can never be read again; the ledger is untouched and still verifies.
        Cannot be undone. Erasing again changes nothing."""
        person = selectors.get_person(self.tenant, person_id)
        values = self.validated_input()
        services.erase(person, actor=services.actor_label(self.actor), reason=values["reason"])
        return Response(presenters.person_as_json(person))


class AccessedCursorPagination(CreatedCursorPagination):
    ordering = ("-accessed_at", "-pk")


class PersonAccessLogApi(TenantScopedListView):
    """Who learned what about the person: every read of their decrypted data, newest
    first (reveals, matches, and the platform's own reads for verification or credentials)."""

    serializer_class = AccessLogOutput
    pagination_class = AccessedCursorPagination

    def get_queryset(self):
        person = selectors.get_person(self.tenant, self.kwargs["person_id"])
        return selectors.access_log_for(person)


class PersonMatchApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        phone = serializers.CharField(max_length=40, required=False)
        address = AddressSerializer(required=False)
        purpose = serializers.CharField(
            max_length=500, required=False, default="match", help_text="Kept in the access log."
        )

    @extend_schema(responses=MatchOutput)
    def post(self, request: Request, person_id: str) -> Response:
        """Score claimed values against the person's, 0-100 with a band (90+ ``match``,
        70-89 ``likely``, 40-69 ``unlikely``, below 40 ``no_match``): never the stored
        values. Logged in the access log like a reveal."""
        person = selectors.get_person(self.tenant, person_id)
        values = self.validated_input()
        result = services.match_person(
            person,
            actor=services.actor_label(self.actor),
            name=values.get("name"),
            phone=values.get("phone"),
            address=_address(values["address"]) if "address" in values else None,
            purpose=values["purpose"],
        )
        return Response({"person": str(person.pk), **result.as_json()})


# --- Node identities ---------------------------------------------------------------------------


class NodeIdentityApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        legal_name = serializers.CharField(max_length=200, help_text="The legal business name.")
        registration_number = serializers.CharField(
            max_length=40, help_text="For a Korean node: its business registration number."
        )
        address = AddressSerializer()

    @extend_schema(responses=NodeIdentityOutput)
    def get(self, request: Request, node_id: str) -> Response:
        """The node's business identity (masked), 404 ``node_identity_not_found`` if none."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        identity = selectors.node_identity_for(node)
        if identity is None:
            raise NotFound("This node has no identity yet.", code="node_identity_not_found")
        return Response(presenters.node_identity_as_json(identity))

    @extend_schema(responses=NodeIdentityOutput)
    def put(self, request: Request, node_id: str) -> Response:
        """Set the node's business identity (sealed like personal data). Its verification
        level stays as it was."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        values = self.validated_input()
        identity = services.node_identity_set(
            node=node,
            data=NodeIdentityData(
                legal_name=values["legal_name"],
                registration_number=values["registration_number"],
                address=_address(values["address"]),
            ),
        )
        return Response(presenters.node_identity_as_json(identity))


# --- Key rotation (operators) ------------------------------------------------------------------


class RotationJobListApi(ListApiView):
    """Key rotation jobs, newest first (operators)."""

    permission_classes = [IsOperator]
    serializer_class = RotationJobOutput

    class InputSerializer(serializers.Serializer):
        batch_size = serializers.IntegerField(required=False, default=200, min_value=1)

    def get_queryset(self):
        return selectors.rotation_jobs()

    @extend_schema(responses={202: RotationJobOutput})
    def post(self, request: Request) -> Response:
        """Re-wrap every data key under the first key of ``IDENTITIES_MASTER_KEY``: a job,
        run in batches by a worker (409 ``rotation_in_progress`` while one is open)."""
        values = self.validated_input()
        job = rotation.rotation_request(
            requested_by=actor_for(request).label, batch_size=values["batch_size"]
        )
        return Response(presenters.rotation_job_as_json(job), status=status.HTTP_202_ACCEPTED)


class RotationJobDetailApi(ApiView):
    permission_classes = [IsOperator]

    @extend_schema(responses=RotationJobOutput)
    def get(self, request: Request, job_id: str) -> Response:
        """One key rotation job and its progress."""
        return Response(presenters.rotation_job_as_json(selectors.get_rotation_job(job_id)))


class RotationJobResumeApi(ApiView):
    permission_classes = [IsOperator]

    @extend_schema(responses={202: RotationJobOutput})
    def post(self, request: Request, job_id: str) -> Response:
        """Queue an open job again (after its worker was killed): the run resumes after its
        last committed batch."""
        job = rotation.rotation_resume(selectors.get_rotation_job(job_id))
        return Response(presenters.rotation_job_as_json(job), status=status.HTTP_202_ACCEPTED)
