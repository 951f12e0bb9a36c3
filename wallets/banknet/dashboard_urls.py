from django.urls import path

from wallets.banknet import views

app_name = "banknet"

urlpatterns = [
    path("bank/", views.home, name="home"),
    path("bank/live/", views.home_live, name="home-live"),
    path("bank/accounts/<str:bank_account_id>/", views.bank_account_detail, name="bank-account"),
    path("bank/banks/<str:code>/<str:action>/", views.bank_toggle, name="bank-toggle"),
    path("bank/nodes/<str:node_id>/", views.node_bank, name="node"),
    path("bank/nodes/<str:node_id>/live/", views.node_live, name="node-live"),
    path("bank/withdrawals/<str:withdrawal_id>/return/", views.withdrawal_return, name="return"),
    path("bank/cards/<str:payment_id>/<str:action>/", views.card_action, name="card-action"),
    path("bank/scenarios/", views.scenario_list, name="scenarios"),
    path(
        "bank/scenarios/remove-all/",
        views.scenario_data_remove_all,
        name="scenario-remove-all",
    ),
    path("bank/scenarios/<str:run_id>/", views.scenario_detail, name="scenario"),
    path(
        "bank/scenarios/<str:run_id>/remove/",
        views.scenario_data_remove,
        name="scenario-remove",
    ),
    path("operator/banks/", views.operator_banks, name="operator-banks"),
    path("operator/banks/<str:code>/", views.operator_bank_edit, name="operator-bank"),
]
