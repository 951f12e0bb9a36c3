from django.urls import path

from clearing import views
from clearing.recovery import views as recovery_views

app_name = "clearing"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("jobs/", views.jobs_partial, name="jobs"),
    path("close/", views.close_now, name="close-now"),
    path("verify/", views.verify_now, name="verify-now"),
    path("jobs/<str:job_id>/retry/", views.job_retry, name="job-retry"),
    path("chain/", views.chain, name="chain"),
    path("settle/", views.settle_now, name="settle-now"),
    path("contracts/<str:node_id>/", views.contract_set, name="contract-set"),
    path("settlements/<str:window_id>/", views.settlement_window, name="window"),
    path("proof/", views.proof_lookup, name="proof-lookup"),
    path("proof/<str:transaction_id>/", views.proof, name="proof"),
    path("recovery/", recovery_views.recovery, name="recovery"),
]
