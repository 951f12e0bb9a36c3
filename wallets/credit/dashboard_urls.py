from django.urls import path

from wallets.credit import views

app_name = "credit"

urlpatterns = [
    path("people/<str:person_id>/", views.person_page, name="person"),
    path("people/<str:person_id>/card/", views.person_card, name="person-card"),
    path("people/<str:person_id>/recompute/", views.person_recompute, name="person-recompute"),
    path("nodes/<str:node_id>/", views.node_page, name="node"),
    path("nodes/<str:node_id>/card/", views.node_card, name="node-card"),
    path("nodes/<str:node_id>/recompute/", views.node_recompute, name="node-recompute"),
]
