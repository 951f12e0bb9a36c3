"""Credential routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from sandbox.identities.credentials import api

urlpatterns = [
    path(
        "people/<str:person_id>/credentials",
        api.PersonCredentialsApi.as_view(),
        name="person-credentials",
    ),
    path(
        "people/<str:person_id>/presentations",
        api.PersonPresentationsApi.as_view(),
        name="person-presentations",
    ),
    path("credentials/<str:credential_id>", api.CredentialApi.as_view(), name="credential"),
    path(
        "credentials/<str:credential_id>/revoke",
        api.CredentialRevokeApi.as_view(),
        name="credential-revoke",
    ),
    path(
        "credentials/<str:credential_id>/presentations",
        api.CredentialPresentationsApi.as_view(),
        name="credential-presentations",
    ),
    path(
        "presentation_requests",
        api.PresentationRequestsApi.as_view(),
        name="presentation-requests",
    ),
    path(
        "presentation_requests/<str:request_id>",
        api.PresentationRequestApi.as_view(),
        name="presentation-request",
    ),
    path("presentations/verify", api.PresentationVerifyApi.as_view(), name="presentation-verify"),
    path("presentations/<str:presentation_id>", api.PresentationApi.as_view(), name="presentation"),
    path(
        "nodes/<str:node_id>/credentials", api.NodeCredentialsApi.as_view(), name="node-credentials"
    ),
    path("nodes/<str:node_id>/holder_keys", api.NodeHolderKeysApi.as_view(), name="holder-keys"),
    path(
        "nodes/<str:node_id>/holder_keys/rotate",
        api.NodeHolderKeyRotateApi.as_view(),
        name="holder-key-rotate",
    ),
]
