"""The API's contract, walked over every operation of the generated OpenAPI schema (every
app): what an endpoint accepts is what it documents, every operation documents the body
it answers, and no internal docstring reaches the public description. An endpoint added
later is walked too, without a line here."""

from __future__ import annotations

import inspect
import re

import pytest
from rest_framework.test import APIClient

from sandbox.api.views import ApiView, declared_fields
from tests.api_schema import (
    BODY_METHODS,
    api_views,
    assert_matches_schema,
    operations,
    request_properties,
    resolve_ref,
    schema,
)
from tests.factories import (
    MembershipFactory,
    NodeFactory,
    OperatorFactory,
    TenantFactory,
    fund,
)
from tests.helpers import error_code
from wallets import inputs
from wallets.models import Account

# Answers that are files, documented with their media type instead of a JSON body.
FILE_MEDIA_TYPES = {"text/csv", "application/octet-stream"}
UNKNOWN = "not_a_documented_field"


def body_operations() -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in operations() if method in BODY_METHODS]


def test_the_walk_sees_every_api_route_and_every_view_follows_the_one_way():
    views = api_views()
    documented = {path for _, path, _ in operations()}
    assert documented == set(views)
    assert len(operations()) >= 116
    for path, view in views.items():
        assert issubclass(view, ApiView), f"{path}: {view.__name__} is not an ApiView"


@pytest.mark.parametrize("method,path", body_operations(), ids=lambda value: str(value))
def test_the_documented_request_body_is_exactly_what_the_view_accepts(method, path):
    # given: what the schema documents and what the view declares
    operation = dict(operations_by_key())[(method, path)]
    documented = request_properties(operation) or set()
    view = api_views()[path]
    # then: one declaration for both
    assert documented == set(declared_fields(view.InputSerializer)), (method, path)


@pytest.fixture
def anyone_allowed(db) -> APIClient:
    """An operator who also owns an active tenant: every endpoint lets them through."""
    operator = OperatorFactory()
    tenant = TenantFactory(name="Contract Co")
    MembershipFactory(tenant=tenant, user=operator)
    NodeFactory(tenant=tenant)
    client = APIClient()
    client.force_login(operator)
    return client


@pytest.mark.django_db
def test_every_body_refuses_an_undocumented_key_and_accepts_every_documented_one(
    anyone_allowed,
):
    for method, path in body_operations():
        operation = dict(operations_by_key())[(method, path)]
        documented = request_properties(operation) or set()
        body = {name: None for name in documented} | {UNKNOWN: 1}
        response = getattr(anyone_allowed, method)(concrete(path), body, format="json")
        assert response.status_code == 400, (method, path, response.status_code)
        assert error_code(response) == "unknown_field", (method, path, response.json())
        # Only the undocumented key is unknown: every documented one is accepted.
        assert set(response.json()["error"]["fields"]) == {UNKNOWN}, (method, path)


def test_bulk_items_and_their_conditions_accept_exactly_their_documented_keys():
    components = schema()["components"]["schemas"]
    transfer = components["TransferInputRequest"]
    assert set(transfer["properties"]) == inputs.TRANSFER_FIELDS
    assert (
        set(resolve_ref(transfer["properties"]["conditions"])["properties"])
        == inputs.CONDITION_FIELDS
    )
    bulk = resolve_ref(components["TransferBulkInputRequest"])
    assert resolve_ref(bulk["properties"]["transfers"]["items"]) == transfer


def documents_a_body(status: str, response: dict) -> bool:
    content = response.get("content") or {}
    if status == "204":
        return not content
    if content.keys() & FILE_MEDIA_TYPES:
        return True
    body = content.get("application/json", {}).get("schema")
    if body is None:
        return False
    if body.get("type") == "array":
        body = body["items"]
    # A bare "any object" documents nothing: name the properties.
    return bool(resolve_ref(body).get("properties"))


@pytest.mark.parametrize(
    "method,path", [(m, p) for m, p, _ in operations()], ids=lambda value: str(value)
)
def test_every_operation_documents_the_body_it_answers(method, path):
    responses = dict(operations_by_key())[(method, path)]["responses"]
    successes = {status: r for status, r in responses.items() if status.startswith("2")}
    assert successes, f"{method.upper()} {path} documents no success"
    for status, response in successes.items():
        assert documents_a_body(status, response), f"{method.upper()} {path} {status}"


# Words that describe our code, not the endpoint.
INTERNALS = re.compile(
    r"\bself\.|\b(?:sandbox|wallets|clearing)\.\w|\bserializer|\bqueryset\b|\bpresenter"
    r"|\bselector|\bservices?\.\w|\bbase for\b",
    re.IGNORECASE,
)


def base_class_docs() -> set[str]:
    """The docstrings of our views' base classes (not endpoints themselves)."""
    endpoints = set(api_views().values())
    docs = set()
    for view in endpoints:
        for base in view.__mro__[1:]:
            ours = base.__module__.startswith(("sandbox.", "wallets.", "clearing."))
            if ours and base not in endpoints and base.__doc__:
                docs.add(inspect.cleandoc(base.__doc__))
    return docs


@pytest.mark.parametrize(
    "method,path", [(m, p) for m, p, _ in operations()], ids=lambda value: str(value)
)
def test_no_internal_docstring_reaches_the_public_description(method, path):
    operation = dict(operations_by_key())[(method, path)]
    text = " ".join(filter(None, (operation.get("summary"), operation.get("description"))))
    assert not INTERNALS.search(text), (method, path, text)
    for doc in base_class_docs():
        assert doc not in text, (method, path, doc)


def test_no_internal_docstring_reaches_a_component():
    for name, component in schema()["components"]["schemas"].items():
        assert not INTERNALS.search(component.get("description", "")), name


@pytest.mark.django_db
def test_real_wallet_tenant_and_event_answers_match_their_documented_shapes(alice):
    # given: a node (with its KRW account, funded), a second account, a transfer and a hold
    api = alice.api
    node = api.post(
        "/api/v1/nodes", {"name": "Shop", "country": "KR", "base_currency": "KRW"}, format="json"
    )
    node_id = assert_matches_schema(node, "post")["id"]
    main = Account.objects.get(wallet__node_id=node_id)
    fund(main, 100_000)
    savings = api.post(
        "/api/v1/accounts",
        {"node_id": node_id, "currency": "KRW", "name": "Savings"},
        format="json",
    )
    savings_id = assert_matches_schema(savings, "post")["id"]
    money = {"amount": "1000", "currency": "KRW"}
    transfer = api.post(
        "/api/v1/transfers",
        {"source_account_id": str(main.pk), "destination_account_id": savings_id, **money},
        format="json",
        HTTP_IDEMPOTENCY_KEY="t-1",
    )
    txn_id = assert_matches_schema(transfer, "post")["id"]
    hold = api.post(
        "/api/v1/holds",
        {"account_id": str(main.pk), "counterparty_account_id": savings_id, **money},
        format="json",
        HTTP_IDEMPOTENCY_KEY="h-1",
    )
    hold_id = assert_matches_schema(hold, "post")["id"]
    capture = api.post(
        f"/api/v1/holds/{hold_id}/capture",
        {"amount": "400"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="c-1",
    )
    assert_matches_schema(capture, "post")
    bulk = api.post(
        "/api/v1/transfers/bulk",
        {
            "mode": "independent",
            "transfers": [
                {"source_account_id": str(main.pk), "destination_account_id": savings_id, **money},
                {"source_account_id": str(main.pk), "destination_account_id": "nope", **money},
            ],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="b-1",
    )
    assert_matches_schema(bulk, "post")

    # then: what each read answers is what the schema documents, key for key
    for path in (
        f"/api/v1/nodes/{node_id}/wallet",
        f"/api/v1/accounts/{savings_id}",
        f"/api/v1/accounts/{savings_id}/balance",
        "/api/v1/accounts",
        "/api/v1/balances",
        f"/api/v1/transactions/{txn_id}",
        "/api/v1/transactions",
        "/api/v1/holds",
        "/api/v1/tenant",
        "/api/v1/nodes",
        "/api/v1/events",
        "/api/v1/audit_log",
    ):
        response = api.get(path)
        assert response.status_code == 200, (path, response.content)
        assert_matches_schema(response)
    reverse = api.post(
        f"/api/v1/transactions/{txn_id}/reverse", {}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    assert_matches_schema(reverse, "post")


def operations_by_key() -> list[tuple[tuple[str, str], dict]]:
    return [((method, path), operation) for method, path, operation in operations()]


NOBODYS = {"integer": "999999999", "date": "1999-01-01"}


def concrete(path: str) -> str:
    """Fill every {name} of a schema path with an id that belongs to nobody, of the type
    the schema documents (a UUID unless it says integer or date)."""
    types = {
        parameter["name"]: parameter["schema"].get("format") or parameter["schema"].get("type")
        for item in [schema()["paths"].get(path, {})]
        for operation in item.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    }
    return re.sub(
        r"\{(\w+)\}",
        lambda m: NOBODYS.get(types.get(m[1], ""), "00000000-0000-4000-8000-000000000000"),
        path,
    )
