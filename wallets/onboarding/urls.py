from django.urls import path

from wallets.onboarding import views

# Not namespaced: "signup" keeps the name the pages already link to.
urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("start/<str:node_id>/deposit/", views.test_deposit, name="onboarding-deposit"),
    path("start/<str:node_id>/test-webhook/", views.test_webhook, name="onboarding-test-webhook"),
    path("start/<str:node_id>/webhook-url/", views.webhook_url, name="onboarding-webhook-url"),
    path("start/<str:node_id>/sender/", views.sender_create, name="onboarding-sender"),
    path("start/<str:node_id>/status/", views.checklist_status, name="onboarding-status"),
]
