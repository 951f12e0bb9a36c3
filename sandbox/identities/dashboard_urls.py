from django.urls import path

from sandbox.identities import views

app_name = "people"

urlpatterns = [
    path("", views.person_list, name="list"),
    path("key-rotations/", views.rotation_jobs, name="rotations"),
    path("nodes/<str:node_id>/identity/", views.node_identity, name="node-identity"),
    path("<str:person_id>/", views.person_detail, name="detail"),
    path("<str:person_id>/reveal/", views.person_reveal, name="reveal"),
    path("<str:person_id>/erase/", views.person_erase, name="erase"),
]
