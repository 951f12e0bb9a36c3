"""Verification session and social link routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from sandbox.identities.verification import api

urlpatterns = [
    path(
        "verification_sessions",
        api.VerificationSessionListApi.as_view(),
        name="verification-sessions",
    ),
    path(
        "verification_sessions/<str:session_id>",
        api.VerificationSessionDetailApi.as_view(),
        name="verification-session",
    ),
    path(
        "verification_sessions/<str:session_id>/submit",
        api.VerificationSessionSubmitApi.as_view(),
        name="verification-session-submit",
    ),
    path(
        "verification_sessions/<str:session_id>/cancel",
        api.VerificationSessionCancelApi.as_view(),
        name="verification-session-cancel",
    ),
    path(
        "verification_sessions/<str:session_id>/redact",
        api.VerificationSessionRedactApi.as_view(),
        name="verification-session-redact",
    ),
    path(
        "test_helpers/verification_sessions/<str:session_id>/force",
        api.TestHelperVerificationSessionForceApi.as_view(),
        name="test-helper-verification-session-force",
    ),
    path(
        "test_helpers/verification_sessions/<str:session_id>/phone_code",
        api.TestHelperVerificationSessionPhoneCodeApi.as_view(),
        name="test-helper-verification-session-phone-code",
    ),
    path(
        "operator/verification_sessions/<str:session_id>/review",
        api.OperatorVerificationSessionReviewApi.as_view(),
        name="operator-verification-session-review",
    ),
    path("social_links", api.SocialLinkListApi.as_view(), name="social-links"),
    path("social_links/<str:link_id>", api.SocialLinkDetailApi.as_view(), name="social-link"),
    path(
        "social_links/<str:link_id>/complete",
        api.SocialLinkCompleteApi.as_view(),
        name="social-link-complete",
    ),
    path(
        "test_helpers/social_login",
        api.TestHelperSocialLoginApi.as_view(),
        name="test-helper-social-login",
    ),
]
