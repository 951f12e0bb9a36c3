"""Identity routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from sandbox.identities import api

urlpatterns = [
    path("people", api.PersonListApi.as_view(), name="people"),
    path("people/<str:person_id>", api.PersonDetailApi.as_view(), name="person"),
    path("people/<str:person_id>/reveal", api.PersonRevealApi.as_view(), name="person-reveal"),
    path("people/<str:person_id>/erase", api.PersonEraseApi.as_view(), name="person-erase"),
    path(
        "people/<str:person_id>/access_log",
        api.PersonAccessLogApi.as_view(),
        name="person-access-log",
    ),
    path("people/<str:person_id>/match", api.PersonMatchApi.as_view(), name="person-match"),
    path("nodes/<str:node_id>/identity", api.NodeIdentityApi.as_view(), name="node-identity"),
    path(
        "operator/identity_key_rotations",
        api.RotationJobListApi.as_view(),
        name="operator-identity-key-rotations",
    ),
    path(
        "operator/identity_key_rotations/<str:job_id>",
        api.RotationJobDetailApi.as_view(),
        name="operator-identity-key-rotation",
    ),
    path(
        "operator/identity_key_rotations/<str:job_id>/resume",
        api.RotationJobResumeApi.as_view(),
        name="operator-identity-key-rotation-resume",
    ),
]
