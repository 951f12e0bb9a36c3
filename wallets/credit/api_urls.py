"""Credit standing routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from wallets.credit import api

urlpatterns = [
    path(
        "people/<str:person_id>/credit_standing",
        api.PersonCreditStandingApi.as_view(),
        name="person-credit-standing",
    ),
    path(
        "people/<str:person_id>/credit_standing/recompute",
        api.PersonCreditStandingRecomputeApi.as_view(),
        name="person-credit-standing-recompute",
    ),
    path(
        "people/<str:person_id>/attestations",
        api.PersonAttestationsApi.as_view(),
        name="person-attestations",
    ),
    path(
        "nodes/<str:node_id>/credit_standing",
        api.NodeCreditStandingApi.as_view(),
        name="node-credit-standing",
    ),
    path(
        "nodes/<str:node_id>/credit_standing/recompute",
        api.NodeCreditStandingRecomputeApi.as_view(),
        name="node-credit-standing-recompute",
    ),
    path(
        "nodes/<str:node_id>/attestations",
        api.NodeAttestationsApi.as_view(),
        name="node-attestations",
    ),
]
